"""mixprec: mixed-precision numerics and quantization.

Bit-exact emulation of number formats (fp64 ... fp4, int, fixed point) and multiply-accumulate
units, plugged into the multilayer perceptron of *Deep Learning Systems* (A. Rodriguez), ch. 1.

>>> import mixprec as mp
>>> mp.quantize(3.14159, "bf16").item()
3.140625
"""

from mixprec import data, formats, mac, nn, quant, train
from mixprec._util.version import __version__
from mixprec.formats import BlockFormat, FloatFormat, IntFormat, Overflow, Rounding, Special
from mixprec.formats.anyformat import (
    decode,
    encode,
    get_format,
    list_formats,
    quantize,
    to_storage,
)
from mixprec.mac import MAC

__all__ = [
    "MAC",
    "BlockFormat",
    "FloatFormat",
    "IntFormat",
    "Overflow",
    "Rounding",
    "Special",
    "__version__",
    "data",
    "decode",
    "encode",
    "formats",
    "get_format",
    "list_formats",
    "mac",
    "nn",
    "quant",
    "quantize",
    "to_storage",
    "train",
]
