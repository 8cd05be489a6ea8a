"""The dataset of a sweep: named (``"auto"`` resolved) and present before the sweep starts."""

from __future__ import annotations

from collections.abc import Callable

from mixprec.data.install import Runner
from mixprec.experiments.sweep import Sweep

__all__ = ["resolve_dataset"]


def resolve_dataset(
    sweep: Sweep,
    download: bool = True,
    echo: Callable[[str], None] | None = None,
    progress: bool = False,
    runner: Runner | None = None,
    require: bool = True,
) -> Sweep:
    """Name the sweep's dataset and make sure it is here, before anything is written.

    ``dataset="auto"`` is Fashion-MNIST when it is found, else MNIST when it is found. When the
    data is nowhere (and no ``data_dir`` is set), Fashion-MNIST is installed from Debian's
    ``dataset-fashion-mnist`` where that can work (``mixprec.data.install``: as root, with
    apt-get, unless ``$MIXPREC_NO_INSTALL`` is set; ``echo`` says what runs), else MNIST is
    downloaded into the cache. An explicit dataset is looked for, installed or downloaded the
    same way.

    Args:
        sweep: the sweep.
        download: allow installing and downloading; without it an explicit dataset is taken
            as given (``--report`` and ``--dry-run`` need no data).
        echo: where notices go (what apt-get runs; that MNIST is being downloaded).
        progress: a progress bar while downloading.
        runner: runs apt-get (tests inject one); see ``mixprec.data.install``.
        require: an explicit dataset must be here (``False`` for a cell function that loads
            no data).

    Raises:
        DataNotFoundError: the data is not here and could not be got; a short paragraph says
            what was tried and how to get it.
    """
    from mixprec.data import DataNotFoundError, find
    from mixprec.data import download as fetch
    from mixprec.data.install import install_package
    from mixprec.data.locate import how_to_get

    names = ("fashion-mnist", "mnist") if sweep.dataset == "auto" else (sweep.dataset,)
    for name in names:
        if find(name, sweep.data_dir) is not None:
            return sweep.replace(dataset=name)
    if sweep.dataset != "auto" and not (download and require):
        return sweep
    if not download or sweep.data_dir is not None:
        raise DataNotFoundError(
            "this sweep needs " + " or ".join(names) + ", and it was not found.\n  "
            + "\n  ".join(how_to_get(name, sweep.data_dir) for name in names)
        )  # fmt: skip
    tried = []
    for name in names:
        if name == "fashion-mnist":
            installed = install_package(name, run=runner, echo=echo)
            if installed.directory is not None:
                return sweep.replace(dataset=name)
            tried.append(f"Fashion-MNIST is not installed ({installed.detail})")
            continue
        if echo is not None:
            echo(f"mixprec: {name} not found; downloading it into the cache")
        try:
            fetch(name, progress=progress, timeout=10.0)
        except (OSError, ValueError) as error:
            tried.append(f"{name} could not be downloaded ({error.__cause__ or error})")
        else:
            return sweep.replace(dataset=name)
    fixes = [
        "`apt-get install -y dataset-fashion-mnist` (as root)" if "fashion-mnist" in names else "",
        "`mixprec data --download mnist` where the web is reachable" if "mnist" in names else "",
        "or --data-dir DIR with the four IDX files (`mixprec data` shows where it looked)",
    ]
    raise DataNotFoundError(
        f"no data for this sweep: {'; '.join(tried)}. To fix: "
        + ", ".join(fix for fix in fixes if fix)
        + "."
    )
