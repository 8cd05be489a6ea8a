"""Install a dataset from its Debian package (``dataset-fashion-mnist``), where that can work.

``install_package`` runs ``apt-get install -y --reinstall PACKAGE`` (and ``apt-get update``
first when the package lists do not know it) only when all of these hold: the dataset has a
Debian package, ``$MIXPREC_NO_INSTALL`` is unset (or ``0``), this process runs as root, and
``apt-get`` is on the ``PATH``. Each command is bounded in time and reads no input, so it never
hangs on a prompt or a held lock; ``--reinstall`` brings the files back when the package is
registered as installed but its directory was removed. Nothing else is ever installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mixprec.data.catalog import dataset_info
from mixprec.data.locate import DEBIAN_DIRS, dataset_files

__all__ = ["NO_INSTALL_ENV", "Installed", "Runner", "install_package"]

#: set to 1 to never run apt-get for a missing dataset.
NO_INSTALL_ENV = "MIXPREC_NO_INSTALL"

#: seconds allowed to ``apt-get update`` and to ``apt-get install`` (each).
UPDATE_TIMEOUT = 120.0
INSTALL_TIMEOUT = 300.0

#: runs a command with a time limit; returns (exit status, combined output). Raises
#: ``subprocess.TimeoutExpired`` or ``OSError`` when the command cannot finish or start.
Runner = Callable[[list[str], float], tuple[int, str]]

_NOT_KNOWN = ("Unable to locate package", "has no installation candidate")


@dataclass(frozen=True)
class Installed:
    """The outcome of ``install_package``: the directory now holding the data, or why not."""

    directory: Path | None
    detail: str


def _run(command: list[str], timeout: float) -> tuple[int, str]:
    """Run ``command`` without input, with ``timeout`` seconds; (status, stdout + stderr)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    return done.returncode, done.stdout or ""


def why_not(name: str) -> str | None:
    """Why ``install_package`` would not try (one phrase), or ``None`` when it would."""
    info = dataset_info(name)
    if info.debian_package is None or info.name not in DEBIAN_DIRS:
        return f"{info.name} has no Debian package"
    if os.environ.get(NO_INSTALL_ENV, "0") not in ("", "0"):
        return f"${NO_INSTALL_ENV} is set"
    if shutil.which("apt-get") is None:
        return "apt-get is not available here"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return f"not root (run `sudo apt-get install -y {info.debian_package}`)"
    return None


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def install_package(
    name: str, run: Runner | None = None, echo: Callable[[str], None] | None = None
) -> Installed:
    """Install a dataset's Debian package when that can work (see the module docstring).

    Args:
        name: the dataset (``"fashion-mnist"``).
        run: the command runner (tests inject one; default ``subprocess.run`` with a timeout).
        echo: where the one-line notice of what runs goes (default: nowhere).

    Returns:
        ``Installed(directory, detail)``: ``directory`` holds the four files after a successful
        install; otherwise it is ``None`` and ``detail`` says why in a phrase.
    """
    info = dataset_info(name)
    reason = why_not(info.name)
    if reason is not None:
        return Installed(None, reason)
    package = str(info.debian_package)
    runner = run or _run
    install = ["apt-get", "install", "-y", "-q", "--reinstall", "--no-install-recommends", package]
    if echo is not None:
        echo(
            f"mixprec: {info.name} is not installed; running `{' '.join(install)}` "
            f"(at most {INSTALL_TIMEOUT + UPDATE_TIMEOUT:.0f} s; set {NO_INSTALL_ENV}=1 to skip)"
        )
    try:
        status, output = runner(install, INSTALL_TIMEOUT)
        if status != 0 and any(text in output for text in _NOT_KNOWN):
            status, output = runner(["apt-get", "update", "-q"], UPDATE_TIMEOUT)
            if status == 0:
                status, output = runner(install, INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        return Installed(None, f"`{' '.join(map(str, error.cmd))}` took over {error.timeout:.0f} s")
    except OSError as error:
        return Installed(None, f"apt-get could not run ({error})")
    if status != 0:
        return Installed(None, f"apt-get failed (exit {status}: {_last_line(output)})")
    directory = DEBIAN_DIRS[info.name]
    if dataset_files(directory) is None:
        return Installed(None, f"apt-get installed {package} but {directory} lacks the files")
    return Installed(directory, f"installed {package} into {directory}")
