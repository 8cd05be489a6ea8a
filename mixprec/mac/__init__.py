"""MAC units: configurable input, product and accumulator formats, and a bit-exact matmul.

A :class:`MAC` is a frozen configuration (``MAC.parse("int8->int32")``, ``MAC(input="fp16",
accumulator="fp32")``, ``MAC.preset("tensor-core-bf16")``) that :meth:`MAC.matmul`,
:meth:`MAC.dot` and :meth:`MAC.affine` interpret exactly: every addition rounds once to the
accumulator format, in the MAC's order, with wrap/saturation/inf as hardware does, and
``stats=True`` counts the numeric events (:class:`MacStats`).

Modules: ``unit`` (the configuration and its notation), ``order`` (orders of additions),
``config`` (the protocol the engine reads a MAC through), ``matmul`` (shapes, operands,
dispatch), ``integer`` and ``floating`` (the exact paths), ``accumulate`` (one rounded addition;
the order engine), ``magic_adder`` (the fast exact float64 adder for low-precision floats),
``terms`` (products, one k at a time), ``operands``, ``convert`` (fast exact operand
conversions), ``stats`` (event counts). Imports run one way: ``unit -> matmul ->
floating/integer -> accumulate/magic_adder -> ...``; nothing imports ``unit`` back.

>>> import numpy as np
>>> from mixprec.mac import MAC
>>> mac = MAC.parse("int8->int32")
>>> mac.matmul(np.array([[1, 2]], dtype=np.int8), np.array([[3], [4]], dtype=np.int8)).tolist()
[[11.0]]
>>> MAC.parse("fp16->fp16").dot(np.ones(4096), np.ones(4096)).item()  # swamping at 2048
2048.0
"""

from mixprec.mac.block_fma import BlockFMA
from mixprec.mac.blockscaled import BlockMAC
from mixprec.mac.matmul import dot, matmul
from mixprec.mac.order import Order, OrderKind
from mixprec.mac.stats import MacStats
from mixprec.mac.unit import MAC, PRESETS

__all__ = [
    "MAC",
    "PRESETS",
    "BlockFMA",
    "BlockMAC",
    "MacStats",
    "Order",
    "OrderKind",
    "dot",
    "matmul",
]
