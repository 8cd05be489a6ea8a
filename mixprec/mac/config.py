"""What the MAC engine reads from a MAC unit: a typed protocol, so the engine never imports unit.

:class:`mixprec.mac.MAC` satisfies :class:`MacConfig`; the engine modules (``matmul``,
``floating``, ``integer``) take any object with these attributes, which keeps the imports one
way: ``unit -> matmul -> floating/integer -> config``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from mixprec.formats import Format
from mixprec.formats.spec import Overflow, Rounding
from mixprec.mac.block_fma import BlockFMA
from mixprec.mac.order import Order


class MacConfig(Protocol):
    """The attributes of a MAC unit that the engine uses (see :class:`mixprec.mac.MAC`)."""

    @property
    def input(self) -> Format: ...

    @property
    def accumulator(self) -> Format: ...

    @property
    def product(self) -> Format | None: ...

    @property
    def rounding(self) -> Rounding: ...

    @property
    def overflow(self) -> Overflow: ...

    @property
    def order(self) -> Order: ...

    @property
    def output_dtype(self) -> np.dtype: ...

    @property
    def adder(self) -> BlockFMA | None: ...

    @property
    def promote(self) -> int | None: ...

    @property
    def random_bits(self) -> int | None: ...

    @property
    def rng(self) -> np.random.Generator | None: ...
