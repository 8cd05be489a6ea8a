"""Datasets recognised by content: SHA-256 of files, which known file they are, ``verify``.

Every file of every known dataset has known sums (``catalog.FileInfo``): its published gzip
file, the decompressed IDX file, and known re-compressed copies (Debian's). A local file whose
sum is one of them *is* that file, whatever its name or directory says:

- a known file under another dataset's name (Fashion-MNIST's files loaded as ``"mnist"``) or in
  another file's place (test images named as training images) is refused, with one line saying
  what it is (``check_files``, called by ``load``);
- a file that matches no known sum (a subset or variant of the user's own) is accepted under
  the name given; ``verify`` calls it "not a known release" and leaves it alone.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from mixprec.data.catalog import DATASETS, FileInfo, dataset_info
from mixprec.data.idx import GZIP_MAGIC
from mixprec.data.locate import DataNotFoundError, dataset_files, how_to_get

__all__ = ["KnownFile", "check_files", "file_sha256", "identify", "matches", "verify"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class KnownFile:
    """What a local file was recognised as: a dataset, a file stem, and which copy it is."""

    dataset: str
    stem: str
    copy: str  # "published gzip", "raw IDX", "Debian's gzip" or "re-compressed gzip"

    def __str__(self) -> str:
        return f"the {self.dataset} file {self.stem} ({self.copy})"


def _known_sums() -> dict[str, KnownFile]:
    """SHA-256 (hex) -> the known file it is, over every file of every dataset."""
    known: dict[str, KnownFile] = {}
    for info in DATASETS.values():
        for spec in info.files:
            known[spec.sha256] = KnownFile(info.name, spec.stem, "published gzip")
            known[spec.raw_sha256] = KnownFile(info.name, spec.stem, "raw IDX")
            for other in spec.repack_sha256:
                known[other] = KnownFile(info.name, spec.stem, "Debian's gzip")
    return known


def file_sha256(path: str | os.PathLike[str], decompress: bool = False) -> str:
    """The SHA-256 of a file as hex; of its decompressed content when ``decompress`` is true."""
    digest = hashlib.sha256()
    with (gzip.open if decompress else open)(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _sum(path: str, decompress: bool, stamp: tuple[int, ...]) -> str | None:
    """``file_sha256`` cached per (path, inode, size, modification time); ``None`` when a
    gzip file does not decompress."""
    if not decompress:
        return file_sha256(path)
    try:
        return file_sha256(path, decompress=True)
    except (EOFError, OSError, zlib.error):
        return None


def identify(path: str | os.PathLike[str]) -> KnownFile | None:
    """The known file that ``path`` is, by its SHA-256 (or its decompressed content's).

    Results are cached per (path, size, modification time), so loading the same files again
    does not hash them again.

    Returns:
        A ``KnownFile``, or ``None`` when the content is no file of a known dataset.

    Raises:
        OSError: the file cannot be read (``PermissionError``, ...).
    """
    status = os.stat(path)
    name = str(Path(path).resolve())
    stamp = (status.st_ino, status.st_size, status.st_mtime_ns)
    known = _known_sums()
    found = known.get(_sum(name, False, stamp) or "")
    if found is not None:
        return found
    with open(name, "rb") as stream:
        if stream.read(2) != GZIP_MAGIC:
            return None
    found = known.get(_sum(name, True, stamp) or "")  # compressed again: the content may be known
    return None if found is None else KnownFile(found.dataset, found.stem, "re-compressed gzip")


def check_files(name: str, files: dict[str, Path]) -> None:
    """Refuse files that are known files of another dataset, or of another place in this one.

    Args:
        name: the dataset they are loaded as.
        files: stem -> path, as ``locate.dataset_files`` gives.

    Raises:
        ValueError: a file is a known file of another dataset (or another stem); one line
            saying what it is and what to do.
    """
    info = dataset_info(name)
    for stem, path in files.items():
        found = identify(path)
        if found is None:
            continue
        if found.dataset != info.name:
            raise ValueError(
                f"{path} is {found}, not {info.name}: its SHA-256 is that of the published "
                f"{found.dataset} data. Load it as {found.dataset!r} (--dataset "
                f"{found.dataset}), or point --data-dir / $MIXPREC_DATA at the {info.name} files."
            )
        if found.stem != stem:
            raise ValueError(
                f"{path} is {found}, not {stem}: the files are in each other's places. Rename "
                f"it to {found.stem}[.gz]."
            )


def matches(path: Path, name: str, spec: FileInfo) -> bool:
    """Whether a local file is ``spec`` of dataset ``name`` (compressed as published, again,
    or not); ``False`` also when it cannot be read."""
    try:
        found = identify(path)
    except OSError:
        return False
    return found is not None and (found.dataset, found.stem) == (dataset_info(name).name, spec.stem)


def verify(name: str, directory: str | os.PathLike[str]) -> str:
    """Check that a directory holds the published files of a dataset, by content.

    A file passes when it is the published gzip file, its raw content, or a known
    re-compressed copy (Debian's); see the module docstring.

    Args:
        name: the dataset.
        directory: the directory holding its four files.

    Returns:
        What the files are, e.g. ``"the published files (gzip)"``.

    Raises:
        DataNotFoundError: a file is missing.
        ValueError: the files are another dataset's ("these are the fashion-mnist files"), or
            are not a known release (a variant or subset): the message says which, and that
            such files still load under the name given.
    """
    info = dataset_info(name)
    files = dataset_files(directory)
    if files is None:
        raise DataNotFoundError(
            f"{directory} does not hold the four {info.name} files. " + how_to_get(info.name)
        )
    check_files(info.name, files)
    found = {stem: identify(path) for stem, path in files.items()}
    unknown = [str(files[stem]) for stem, known in found.items() if known is None]
    if unknown:
        raise ValueError(
            f"not a known release of {info.name}: the SHA-256 of {len(unknown)} file(s) "
            f"({', '.join(unknown)}) matches no published file. They are used as {info.name} "
            "all the same (a subset or variant of your own is fine); for the published data, "
            f"run `mixprec data --download {info.name} --data-dir ANOTHER_DIR`."
        )
    copies = sorted({known.copy for known in found.values() if known is not None})
    return f"the published {info.name} data ({', '.join(copies)})"
