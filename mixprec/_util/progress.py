"""The optional progress bar (tqdm, the ``progress`` extra): a bar, or none without tqdm."""

from __future__ import annotations

import importlib
from typing import Any, Protocol


class Bar(Protocol):
    """What callers use of a tqdm bar."""

    n: float

    def update(self, n: float = 1) -> object: ...

    def set_postfix(self, refresh: bool = True, **values: object) -> object: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> object: ...

    def close(self) -> object: ...


def progress_bar(total: float, enabled: bool = True, **options: Any) -> Bar | None:
    """A tqdm bar over ``total`` steps, or ``None`` when disabled or tqdm is not installed.

    The bar is optional everywhere it is used, so a missing tqdm (``pip install
    'mixprec[progress]'``) silently means no bar.

    Args:
        total: the number of steps.
        enabled: ``False`` gives ``None`` without importing tqdm.
        options: passed to ``tqdm`` (``desc``, ``unit``, ``initial``, ...).
    """
    if not enabled:
        return None
    try:
        importlib.import_module("tqdm")  # the package first: a blocked tqdm blocks tqdm.auto too
        from tqdm.auto import tqdm
    except ImportError:
        return None
    made: Bar = tqdm(total=total, **options)
    return made
