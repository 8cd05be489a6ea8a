"""Download a dataset into the cache, checking the SHA-256 of every file before keeping it.

Files are streamed to temporary files beside their destination and renamed into place only
after all four have arrived whole and match their published SHA-256, so an interrupted or
corrupt download never leaves a file that looks like data.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from mixprec._util.files import default_mode
from mixprec._util.progress import progress_bar
from mixprec.data.catalog import FileInfo, dataset_info
from mixprec.data.checksums import file_sha256, matches, verify
from mixprec.data.locate import DataNotFoundError, cache_dir, how_to_get

__all__ = ["URL_ENV", "DataNotFoundError", "base_url", "download", "file_sha256", "verify"]

#: environment variable overriding the base URL of downloads.
URL_ENV = "MIXPREC_DATA_URL"

_CHUNK = 1 << 20


def base_url(name: str, url: str | None = None) -> str:
    """The URL of the directory holding a dataset's gzip files.

    Args:
        name: the dataset.
        url: overrides ``$MIXPREC_DATA_URL``, which overrides the dataset's published location.
            ``{name}`` in it is replaced by the dataset's canonical name, so that one value
            serves every dataset (``http://127.0.0.1:8000/{name}/``).

    Returns:
        The base URL, ending in ``/``.
    """
    info = dataset_info(name)
    chosen = url or os.environ.get(URL_ENV) or info.url
    chosen = chosen.replace("{name}", info.name)
    return chosen if chosen.endswith("/") else chosen + "/"


def _fetch(url: str, spec: FileInfo, destination: Path, progress: bool, timeout: float) -> None:
    """Stream ``url`` into ``destination`` and check its length and SHA-256."""
    digest = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        bar = progress_bar(
            expected or spec.size,
            progress,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=spec.gz_name,
        )
        try:
            with destination.open("wb") as out:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        except http.client.IncompleteRead as error:
            received += len(error.partial)
        finally:
            if bar is not None:
                bar.close()
    if expected is not None and received != expected:
        raise ConnectionError(f"interrupted after {received} of {expected} bytes")
    if digest.hexdigest() != spec.sha256:
        raise ValueError(
            f"checksum mismatch for {url}: SHA-256 {digest.hexdigest()}, expected "
            f"{spec.sha256} ({received} bytes received, {spec.size} published). The file is "
            "corrupt or not the published one and was not kept. Try again, or check "
            f"${URL_ENV} / the url argument if you point at a mirror."
        )


def _make_dirs(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; return those created, deepest first."""
    created = []
    for parent in (directory, *directory.parents):
        if parent.exists():
            break
        created.append(parent)
    directory.mkdir(parents=True, exist_ok=True)
    return created


def download(
    name: str,
    directory: str | os.PathLike[str] | None = None,
    url: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download a dataset's four gzip files, each checked against its published SHA-256.

    Files already in the directory with the right checksum are kept and not fetched again.
    The others are streamed to temporary files and renamed into place only when all of them
    have arrived whole with the right checksum; on any failure the temporary files, and the
    directories this call created, are removed.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"`` (``"fashion_mnist"``).
        directory: where to put the files; default the cache, ``cache_dir(name)``.
        url: base URL of the files; default ``$MIXPREC_DATA_URL``, then the published location
            (see ``base_url``).
        progress: show a tqdm progress bar per file (none when tqdm is not installed).
        timeout: seconds to wait for the server on each connection or read.

    Returns:
        The directory holding the files.

    Raises:
        ValueError: unknown dataset, or a file is truncated or fails its checksum.
        DataNotFoundError: the server could not be reached or refused a file; the message says
            how else to get the data.
    """
    info = dataset_info(name)
    target = Path(directory).expanduser() if directory is not None else cache_dir(info.name)
    source = base_url(info.name, url)
    needed = [
        spec
        for spec in info.files
        if not (
            (target / spec.gz_name).is_file() and matches(target / spec.gz_name, info.name, spec)
        )
    ]
    if not needed:
        return target
    created = _make_dirs(target)
    partial: dict[Path, Path] = {}
    try:
        for spec in needed:
            handle, name_of_part = tempfile.mkstemp(
                prefix=f".{spec.gz_name}.", suffix=".part", dir=target
            )
            os.close(handle)
            os.chmod(name_of_part, default_mode())  # mkstemp makes it 0600; the umask decides
            part = Path(name_of_part)
            partial[part] = target / spec.gz_name
            try:
                _fetch(source + spec.gz_name, spec, part, progress, timeout)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
                if isinstance(error, urllib.error.HTTPError):
                    error.close()  # it holds the open response
                raise DataNotFoundError(
                    f"could not download {source + spec.gz_name}: {error}. " + how_to_get(info.name)
                ) from error
        for part, final in partial.items():
            os.replace(part, final)
    finally:
        for part in partial:
            part.unlink(missing_ok=True)
        for made in created:
            if made.exists() and not any(made.iterdir()):
                made.rmdir()
    return target
