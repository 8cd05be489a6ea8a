"""The result store: one JSON line per finished (configuration, seed), appended atomically.

File format (``results.jsonl``): UTF-8, one JSON object per line, each ending in ``\\n``. Every
record has a ``key`` (see ``record_key``) that names its inputs; a sweep skips the keys already
in the store, so rerunning a sweep stopped by Ctrl-C, ``kill -9`` or a power cut resumes it.

Crash safety. Each record is appended with a single ``os.write`` of the whole line on a file
descriptor opened with ``O_APPEND``, then ``fsync``: on a local POSIX file system the line is
either entirely in the file or not at all, except when the machine stops in the middle of the
write, which can leave an incomplete last line. Reading ignores such a line and reports it;
opening the store for appending cuts it off (the record it held is simply computed again).
Only one process appends to a store at a time: a sweep holds an exclusive ``flock`` on
``results.jsonl.lock`` while it runs.

Per-image correctness (for McNemar's test) travels inside the line as a bitset: one bit per test
image, in test-set order, packed with ``numpy.packbits(..., bitorder="little")`` and encoded in
base64 (``encode_bits``/``decode_bits``). 10,000 images take 1,668 characters, so a line stays a
few kilobytes and one write keeps it whole; no side file has to be kept in step with the lines.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["STORE_FILE", "ResultStore", "StoreProblem", "decode_bits", "encode_bits", "record_key"]

STORE_FILE = "results.jsonl"


def record_key(inputs: dict[str, Any]) -> str:
    """A short stable name for a record's inputs: SHA-256 of their canonical JSON, 16 hex digits.

    >>> key = record_key({"train": "fp32", "serve": "bf16", "seed": 0})
    >>> len(key), key == record_key({"seed": 0, "serve": "bf16", "train": "fp32"})
    (16, True)
    """
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_bits(flags: np.ndarray) -> str:
    """Booleans -> base64 text of their bits, packed little-endian within each byte.

    >>> encode_bits(np.array([True, False, True, True]))
    'DQ=='
    """
    packed = np.packbits(np.asarray(flags, dtype=bool).ravel(), bitorder="little")
    return base64.b64encode(packed.tobytes()).decode("ascii")


def decode_bits(text: str, count: int) -> np.ndarray:
    """The inverse of ``encode_bits``: ``count`` booleans.

    >>> decode_bits('DQ==', 4)
    array([ True, False,  True,  True])
    """
    packed = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    if packed.size * 8 < count or packed.size > (count + 7) // 8:
        raise ValueError(f"a bitset of {packed.size} bytes cannot hold exactly {count} flags.")
    return np.unpackbits(packed, count=count, bitorder="little").astype(bool)


@dataclass(frozen=True)
class StoreProblem:
    """A line of the store that was ignored: its 1-based number, byte offset and the reason."""

    line: int
    offset: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line} (byte {self.offset}): {self.reason}"


@dataclass
class ResultStore:
    """Append-only JSON-lines results of one sweep directory.

    Args:
        directory: the sweep's output directory (created on the first append).

    Attributes:
        path: ``directory / "results.jsonl"``.
        problems: lines ignored by the last ``read`` (truncated or not a JSON object).
    """

    directory: Path
    path: Path = field(init=False)
    problems: list[StoreProblem] = field(init=False, default_factory=list)
    _fd: int | None = field(init=False, default=None, repr=False)
    _lock_fd: int | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self.path = self.directory / STORE_FILE

    # -- reading -------------------------------------------------------------------------------

    def read(self) -> list[dict[str, Any]]:
        """Every complete record, in file order; ignored lines are listed in ``problems``.

        A last line without its newline is an interrupted append and is ignored; so is any line
        that is not a JSON object with a ``key``.
        """
        self.problems = []
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        records = []
        offset = 0
        for number, raw in enumerate(data.splitlines(keepends=True), start=1):
            problem = None
            if not raw.endswith(b"\n"):
                problem = f"truncated last line ({len(raw)} bytes without a newline)"
            else:
                try:
                    record = json.loads(raw)
                except ValueError as error:
                    problem = f"not JSON ({error})"
                else:
                    if not isinstance(record, dict) or "key" not in record:
                        problem = "not a record (a JSON object with a 'key')"
                    else:
                        records.append(record)
            if problem is not None and raw.strip():
                self.problems.append(StoreProblem(number, offset, problem))
            offset += len(raw)
        return records

    def done_keys(self) -> set[str]:
        """The keys of the records in the store."""
        return {record["key"] for record in self.read()}

    # -- writing -------------------------------------------------------------------------------

    def open(self) -> list[StoreProblem]:
        """Lock the store for appending and cut off an incomplete last line.

        Returns:
            The problem removed (an incomplete last line), if any, so the caller can report it.

        Raises:
            RuntimeError: another process holds the store (another sweep writing to the same
                directory).
        """
        if self._fd is not None:
            return []
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock(self.directory / (STORE_FILE + ".lock"))
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if created:
            _fsync_directory(self.directory)
        removed = []
        size = os.fstat(self._fd).st_size
        if size:
            with open(self.path, "rb") as file:
                file.seek(max(0, size - 65536))
                tail = file.read()
            if not tail.endswith(b"\n"):
                if b"\n" in tail:
                    keep = size - len(tail) + tail.rindex(b"\n") + 1
                elif size <= len(tail):
                    keep = 0
                else:  # a line over 64 KiB long without an end: read the file to be sure
                    keep = self.path.read_bytes().rfind(b"\n") + 1
                os.ftruncate(self._fd, keep)
                os.fsync(self._fd)
                removed.append(
                    StoreProblem(
                        line=self.path.read_bytes().count(b"\n") + 1,
                        offset=keep,
                        reason=f"removed an incomplete last line of {size - keep} bytes "
                        "left by an interrupted write; its record will be computed again",
                    )
                )
        return removed

    def append(self, record: dict[str, Any]) -> None:
        """Append one record as one line: a single ``os.write`` on the ``O_APPEND`` fd, fsynced.

        Raises:
            ValueError: the record has no ``key``.
        """
        if "key" not in record:
            raise ValueError(f"a record needs a 'key'; got the fields {sorted(record)}.")
        self.open()
        line = json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=True) + "\n"
        data = line.encode("utf-8")
        if self._fd is None:  # pragma: no cover - open() always sets it
            raise RuntimeError(f"{self.path} is not open for appending.")
        written = os.write(self._fd, data)
        if written != len(data):  # only on a full disk or a signal: never leave half a line
            os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
            raise OSError(
                f"could not append a record to {self.path}: wrote {written} of {len(data)} "
                "bytes (is the disk full?)"
            )
        os.fsync(self._fd)

    def close(self) -> None:
        """Release the file and the lock."""
        for name in ("_fd", "_lock_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)

    def __enter__(self) -> ResultStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.read())


def _lock(path: Path) -> int:
    """An exclusive, non-blocking ``flock`` on ``path``; returns its fd (held while open)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locking
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(
            f"another sweep is writing to {path.parent} (it holds {path.name}). Wait for it to "
            "finish, stop it, or choose another output directory with --out."
        ) from None
    return fd


def _fsync_directory(directory: Path) -> None:
    """Make a new directory entry durable (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
