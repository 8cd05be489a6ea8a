"""MAC units: configurable input, product and accumulator formats, and a bit-exact matmul.

>>> import numpy as np
>>> from mixprec.mac import MAC
>>> mac = MAC.parse("int8->int32")
>>> mac.matmul(np.array([[1, 2]], dtype=np.int8), np.array([[3], [4]], dtype=np.int8)).tolist()
[[11.0]]
"""

from mixprec.mac.matmul import dot, matmul
from mixprec.mac.order import Order, OrderKind
from mixprec.mac.stats import MacStats
from mixprec.mac.unit import MAC, PRESETS

__all__ = ["MAC", "PRESETS", "MacStats", "Order", "OrderKind", "dot", "matmul"]
