"""Where datasets are looked for: an explicit directory, ``$MIXPREC_DATA``, the cache, Debian.

The search order (first complete directory wins):

1. ``data_dir``, when given, and nothing else: an explicit directory is never silently
   replaced by data found elsewhere;
2. ``$MIXPREC_DATA``;
3. the user cache, ``$XDG_CACHE_HOME/mixprec/<name>`` or ``~/.cache/mixprec/<name>``, where
   ``download`` puts the files;
4. the directory of a Debian package (``/usr/share/datasets/fashion-mnist`` from
   ``dataset-fashion-mnist``).

In ``data_dir`` and ``$MIXPREC_DATA``, the subdirectory named after the dataset (``mnist``,
``fashion-mnist`` or ``fashion_mnist``) is looked in first, then the directory itself. A
directory is complete when it holds the four standard files, each gzip-compressed (``.gz``) or
raw.
"""

from __future__ import annotations

import os
from pathlib import Path

from mixprec.data.catalog import SPLIT_FILES, dataset_info

__all__ = [
    "DATA_ENV",
    "DEBIAN_DIRS",
    "DataNotFoundError",
    "cache_dir",
    "candidate_dirs",
    "dataset_files",
    "find",
    "how_to_get",
]

#: environment variable naming a directory of datasets.
DATA_ENV = "MIXPREC_DATA"

#: dataset name -> directory a Debian package installs it in.
DEBIAN_DIRS: dict[str, Path] = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}


class DataNotFoundError(FileNotFoundError):
    """A dataset is not on this machine and could not be downloaded."""


STEMS = tuple(stem for pair in SPLIT_FILES.values() for stem in pair)


def cache_dir(name: str | None = None) -> Path:
    """The user cache directory of mixprec datasets, or of one dataset.

    Args:
        name: a dataset name; ``None`` for the parent directory of all datasets.

    Returns:
        ``$XDG_CACHE_HOME/mixprec[/<name>]`` when ``XDG_CACHE_HOME`` is an absolute path
        (the XDG Base Directory Specification ignores relative ones), else
        ``~/.cache/mixprec[/<name>]``. The directory is not created.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    root = root / "mixprec"
    return root if name is None else root / dataset_info(name).name


def candidate_dirs(
    name: str, data_dir: str | os.PathLike[str] | None = None
) -> list[tuple[str, Path]]:
    """The directories searched for a dataset, in order, each with where it came from.

    Args:
        name: the dataset (``"mnist"``, ``"fashion-mnist"``, ...).
        data_dir: an explicit directory; when given it is the only place searched.

    Returns:
        ``(origin, directory)`` pairs; origin is ``"data_dir"``, ``"$MIXPREC_DATA"``,
        ``"cache"`` or ``"Debian package <name>"``. Directories need not exist.

    Raises:
        ValueError: unknown dataset name.
    """
    info = dataset_info(name)

    def with_subdirs(origin: str, directory: Path) -> list[tuple[str, Path]]:
        return [(origin, directory / alias) for alias in info.aliases] + [(origin, directory)]

    if data_dir is not None:
        return with_subdirs("data_dir", Path(data_dir).expanduser())
    found: list[tuple[str, Path]] = []
    env = os.environ.get(DATA_ENV)
    if env:
        found += with_subdirs(f"${DATA_ENV}", Path(env).expanduser())
    found.append(("cache", cache_dir(info.name)))
    if info.name in DEBIAN_DIRS:
        found.append((f"Debian package {info.debian_package}", DEBIAN_DIRS[info.name]))
    return found


def dataset_files(directory: str | os.PathLike[str]) -> dict[str, Path] | None:
    """The four standard IDX files in a directory, or ``None`` when any is missing.

    Args:
        directory: where to look.

    Returns:
        File stem (``"train-images-idx3-ubyte"``) -> path, the raw file preferred over the
        ``.gz`` one when both are there; ``None`` if a file is missing in either form.
    """
    directory = Path(directory)
    files: dict[str, Path] = {}
    for stem in STEMS:
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.is_file():
                files[stem] = candidate
                break
        else:
            return None
    return files


def find(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The directory holding a dataset's four IDX files, searched in the module's order.

    Args:
        name: the dataset (``"mnist"``, ``"fashion-mnist"``, ``"fashion_mnist"``).
        data_dir: an explicit directory; when given, only it (and its subdirectory named after
            the dataset) is searched.

    Returns:
        The first complete directory, or ``None`` when the dataset is nowhere.

    Raises:
        ValueError: unknown dataset name.
    """
    for _, directory in candidate_dirs(name, data_dir):
        if dataset_files(directory) is not None:
            return directory
    return None


def how_to_get(name: str, data_dir: str | os.PathLike[str] | None = None) -> str:
    """A message saying where a dataset was looked for and how to get it."""
    info = dataset_info(name)
    looked = ", ".join(str(directory) for _, directory in candidate_dirs(name, data_dir))
    files = ", ".join(f"{stem}[.gz]" for stem in STEMS)
    if data_dir is not None:
        ways = [
            f"put the files ({files}) in {data_dir} or {Path(data_dir) / info.name}",
            f"download them there with `mixprec data --download {info.name} --data-dir {data_dir}`",
            f"or leave out --data-dir (data_dir=) to search ${DATA_ENV}, the cache"
            + (
                f" and the Debian package (`apt-get install -y {info.debian_package}`)"
                if info.debian_package
                else ""
            ),
        ]
    else:
        ways = [f"install it with `apt-get install -y {info.debian_package}`"]
        ways = ways if info.debian_package else []
        ways += [
            f"download it into the cache with `mixprec data --download {info.name}`",
            f"put the files ({files}) in a directory and pass it as --data-dir (data_dir=)",
            f"or set ${DATA_ENV} to a directory holding them or a subdirectory {info.name}/",
        ]
    return f"{info.name} not found (looked in {looked}). To get it: " + "; ".join(ways) + "."
