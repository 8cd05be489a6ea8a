"""Checks the commands share: counts on the command line, output paths, saving what was made.

A command that will write a file checks first that it can (``ensure_writable``), so a long
training run is not started only to fail at the end; and a file that still cannot be written
once the work is done is written elsewhere (``save_or_keep``), never thrown away.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mixprec._util.errors import describe_os_error

__all__ = ["count", "ensure_writable", "positive", "save_or_keep"]


def count(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer of at least ``minimum``, else a one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}; give {minimum} or more")
        return value

    parse.__name__ = "count"  # argparse names the type in its messages
    return parse


positive = count(1)


def ensure_writable(path: str | os.PathLike[str], before: str) -> Path:
    """Make sure a file can be written at ``path`` (its directory is created if missing).

    A temporary file is created beside it and removed again.

    Args:
        path: the output file.
        before: what has not been done yet, for the message (``"training"``).

    Raises:
        OSError: the directory cannot be created or written; the message names the path and
            says that nothing was done.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a directory", str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise OSError(
            f"cannot write {_about(error, path)}. Checked before {before}: nothing was done."
        ) from None
    return path


def _about(error: OSError, path: Path) -> str:
    """The one-line description of ``error``, naming ``path`` (not a temporary file beside it)."""
    if error.errno is None or error.strerror is None:
        return f"{path}: {error}"
    return describe_os_error(OSError(error.errno, error.strerror, str(path)))


def save_or_keep(save: Callable[[Path], object], path: str | os.PathLike[str], what: str) -> Path:
    """``save(path)``; when that fails, save to a fallback file instead and say where.

    The fallback is ``~/.cache/mixprec/unsaved/<name>-<UTC time><suffix>`` (``$XDG_CACHE_HOME``
    honoured), else the system's temporary directory.

    Args:
        save: writes the file at the path it is given.
        path: where the file should go.
        what: what the file holds, for the message (``"the trained model"``).

    Returns:
        ``path`` when the save worked.

    Raises:
        OSError: the save failed; the message names the fallback file that holds the work (or
            says that no place could hold it).
    """
    from mixprec.data.locate import cache_dir

    path = Path(path)
    try:
        save(path)
        return path
    except OSError as error:
        cause = _about(error, path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"{path.stem}-{stamp}{path.suffix}"
    for directory in (cache_dir() / "unsaved", Path(tempfile.gettempdir()) / "mixprec-unsaved"):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            save(directory / name)
        except OSError:
            continue
        raise OSError(
            f"could not save {cause}; {what} is kept in {directory / name} instead: "
            f"move it with `mv {directory / name} {path}` once that is fixed."
        )
    raise OSError(f"could not save {cause}; nor could {what} be kept anywhere else.")
