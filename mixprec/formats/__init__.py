"""Number formats: specifications, the registry, rounding (``quantize``) and codes.

>>> import mixprec as mp
>>> mp.get_format("fp8_e4m3").max
448.0
"""

from mixprec.formats.block import (
    BLOCK_FORMATS,
    MXFP4,
    MXFP6_E2M3,
    MXFP6_E3M2,
    MXFP8_E4M3,
    MXFP8_E5M2,
    MXINT8,
    NVFP4,
    BlockFormat,
    ScaleRule,
    get_block_format,
)
from mixprec.formats.blockpack import BlockStorage
from mixprec.formats.blockquant import (
    decode_blocks,
    encode_blocks,
    quantize_blocks,
    tensor_scale_of,
)
from mixprec.formats.codec import decode, encode
from mixprec.formats.quantize import quantize, to_storage
from mixprec.formats.registry import (
    BF16,
    E8M0,
    FORMATS,
    FP4_E2M1,
    FP6_E2M3,
    FP6_E3M2,
    FP8_E3M4,
    FP8_E4M3,
    FP8_E4M3FNUZ,
    FP8_E5M2,
    FP8_E5M2FNUZ,
    FP16,
    FP32,
    FP64,
    INT4,
    INT8,
    INT16,
    INT32,
    TF32,
    UINT4,
    UINT8,
    get_format,
    list_formats,
    storage_dtype,
)  # fmt: skip
from mixprec.formats.spec import FloatFormat, Format, IntFormat, Overflow, Rounding, Special
from mixprec.formats.table import format_table

__all__ = [
    "BF16", "E8M0", "FORMATS", "FP4_E2M1", "FP6_E2M3", "FP6_E3M2", "FP8_E3M4", "FP8_E4M3",
    "FP8_E4M3FNUZ", "FP8_E5M2", "FP8_E5M2FNUZ", "FP16", "FP32", "FP64", "INT4", "INT8", "INT16",
    "INT32", "TF32", "UINT4", "UINT8",
    "FloatFormat", "Format", "IntFormat", "Overflow", "Rounding", "Special",
    "decode", "encode", "format_table", "get_format", "list_formats", "quantize",
    "storage_dtype", "to_storage",
    # block-scaled formats (OCP MX v1.0, NVFP4)
    "BLOCK_FORMATS", "MXFP4", "MXFP6_E2M3", "MXFP6_E3M2", "MXFP8_E4M3", "MXFP8_E5M2", "MXINT8",
    "NVFP4", "BlockFormat", "BlockStorage", "ScaleRule", "decode_blocks", "encode_blocks",
    "get_block_format", "quantize_blocks", "tensor_scale_of",
]  # fmt: skip
