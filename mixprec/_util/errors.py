"""One line for an environment error (disk, permissions, network): the file, the cause, the fix.

``mixprec`` prints these instead of a traceback: an ``OSError`` from a full disk, a read-only
directory or an unreachable host is the machine's state, not a bug of the program.
"""

from __future__ import annotations

import errno
from typing import Any

import numpy as np

__all__ = ["describe_os_error", "reject_masked"]

_FIXES = {
    errno.ENOSPC: "free some space, or choose another directory",
    errno.EDQUOT: "free some space (disk quota exceeded), or choose another directory",
    errno.EACCES: "choose a path you may use, or change its permissions",
    errno.EPERM: "choose a path you may use, or change its permissions",
    errno.EROFS: "the file system is read-only: choose another directory",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a directory: check the path",
    errno.EISDIR: "the path is a directory: name a file",
    errno.ECONNREFUSED: "check the address, and that the server runs there",
    errno.EHOSTUNREACH: "check the address and the network",
    errno.ENETUNREACH: "check the address and the network",
    errno.ETIMEDOUT: "check the address and the network",
}


def describe_os_error(error: OSError) -> str:
    """``"FILE: CAUSE; FIX"`` for an ``OSError`` (just its text when it carries no errno).

    >>> describe_os_error(PermissionError(13, "Permission denied", "/ro/model.npz"))
    '/ro/model.npz: Permission denied; choose a path you may use, or change its permissions'
    >>> describe_os_error(OSError("could not reach tcp://h:1"))
    'could not reach tcp://h:1'
    """
    if error.errno is None or error.strerror is None:
        return str(error)
    where = f"{error.filename}: " if error.filename is not None else ""
    fix = _FIXES.get(error.errno)
    return f"{where}{error.strerror}" + (f"; {fix}" if fix else "")


def reject_masked(value: Any, name: str) -> None:
    """Refuse a ``numpy.ma.MaskedArray``: numpy's ``asarray`` would drop its mask silently.

    mixprec computes on every element (a rounding, a matmul, a forward pass), so a mask cannot
    be honoured; the caller fills it with the value it means.

    >>> reject_masked(np.ma.masked_array([1.0, 2.0], mask=[0, 1]), "x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: x is a masked array: mixprec reads every element, so the mask would be dropped...

    Raises:
        TypeError: ``value`` is a masked array.
    """
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a masked array: mixprec reads every element, so the mask would be "
            f"dropped silently. Fill the masked values first, e.g. {name}.filled(0), or pass "
            f"{name}.data to ignore the mask."
        )
