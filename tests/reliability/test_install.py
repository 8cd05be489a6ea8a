"""Item 9: with no dataset, the sweep installs Debian's package where it can, else says how.

apt-get is never run: every test injects the runner (tests/conftest.py disarms the real one).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mixprec.data import install, locate, make_synthetic
from mixprec.data.install import install_package
from mixprec.experiments import Sweep
from mixprec.experiments.dataset import resolve_dataset


class FakeApt:
    """A runner that records commands; ``install`` puts synthetic files in the Debian dir."""

    def __init__(self, outcomes: list[tuple[int, str]], creates: bool = True) -> None:
        self.outcomes, self.creates, self.commands = outcomes, creates, []

    def __call__(self, command: list[str], timeout: float) -> tuple[int, str]:
        self.commands.append(command)
        assert timeout > 0 and "-y" in command or command[1] == "update"
        status, output = self.outcomes.pop(0)
        if status == 0 and command[1] == "install" and self.creates:
            make_synthetic(locate.DEBIAN_DIRS["fashion-mnist"], n_train=20, n_test=5)
        return status, output


@pytest.fixture
def apt_possible(monkeypatch: pytest.MonkeyPatch) -> None:
    """As root on a machine with apt-get, installs allowed."""
    monkeypatch.delenv(install.NO_INSTALL_ENV, raising=False)
    monkeypatch.setattr(install.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(install.os, "geteuid", lambda: 0)


def test_the_sweep_installs_fashion_mnist(apt_possible: None) -> None:
    apt = FakeApt([(100, "E: Unable to locate package dataset-fashion-mnist"), (0, ""), (0, "")])
    notices: list[str] = []
    sweep = resolve_dataset(Sweep(dataset="auto"), echo=notices.append, runner=apt)
    assert sweep.dataset == "fashion-mnist"
    assert [command[1] for command in apt.commands] == ["install", "update", "install"]
    assert "dataset-fashion-mnist" in apt.commands[0] and "--reinstall" in apt.commands[0]
    assert len(notices) == 1 and "running `apt-get install -y" in notices[0]
    assert "MIXPREC_NO_INSTALL=1 to skip" in notices[0]


@pytest.mark.parametrize(
    ("setting", "reason"),
    [("opt-out", "$MIXPREC_NO_INSTALL is set"), ("not-root", "not root"),
     ("no-apt", "apt-get is not available")],
)  # fmt: skip
def test_when_apt_get_cannot_run_it_is_not_tried(
    apt_possible: None, monkeypatch: pytest.MonkeyPatch, setting: str, reason: str
) -> None:
    if setting == "opt-out":
        monkeypatch.setenv(install.NO_INSTALL_ENV, "1")
    elif setting == "not-root":
        monkeypatch.setattr(install.os, "geteuid", lambda: 1000)
    else:
        monkeypatch.setattr(install.shutil, "which", lambda name: None)
    apt = FakeApt([])
    result = install_package("fashion-mnist", run=apt)
    assert result.directory is None and reason in result.detail and apt.commands == []


def test_a_hanging_or_failing_apt_get_is_reported(apt_possible: None) -> None:
    def hang(command: list[str], timeout: float) -> tuple[int, str]:
        raise subprocess.TimeoutExpired(command, timeout)

    assert "took over 300 s" in install_package("fashion-mnist", run=hang).detail
    failed = install_package("fashion-mnist", run=FakeApt([(100, "E: Could not get lock")]))
    assert failed.directory is None and "exit 100: E: Could not get lock" in failed.detail
    empty = install_package("fashion-mnist", run=FakeApt([(0, "")], creates=False))
    assert empty.directory is None and "lacks the files" in empty.detail


def test_no_data_anywhere_is_one_short_paragraph(apt_possible: None) -> None:
    from mixprec.data import DataNotFoundError

    with pytest.raises(DataNotFoundError) as error:
        resolve_dataset(Sweep(dataset="auto"), runner=FakeApt([(100, "E: no network")]))
    message = str(error.value)
    assert "\n" not in message and "exit 100: E: no network" in message
    assert "mnist could not be downloaded" in message
    assert "apt-get install -y dataset-fashion-mnist" in message and "--data-dir" in message


def test_readme_says_what_the_first_command_does() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "MIXPREC_NO_INSTALL" in readme and "dataset-fashion-mnist" in readme
