"""NVIDIA tensor cores as data: one :class:`BlockFMA` parameter set per (GPU, input, output).

Every row is the parameter set of Khattak & Mikaitis's model of that GPU ("Accurate Models of
NVIDIA Tensor Cores", arXiv 2512.07004, 2025; north-numerical-computing/
MATLAB-tensor-core, ``models/<GPU>TC.m`` on top of ``models/tools/Generic_BFMA_TC.m``),
refined there against MMA results measured on each GPU until every bit matched. The models share
these settings: global alignment of all products and C to the largest exponent, truncation of
the aligned bits (no sticky bit), C added in the first group (no late partial sum), products not
normalised, subnormal inputs and outputs kept, one normalisation per group, recursive summation
across groups. What differs per GPU:

=======  ======================  =====  =====  ============  =============  =================
GPU      input -> output         group  extra  final round   min exponent   model file
=======  ======================  =====  =====  ============  =============  =================
v100     fp16 -> fp32            4      0      toward zero   none           V100TC.m
v100     fp16 -> fp16            4      0      nearest even  -19            V100TC.m
a100     fp16, bf16 -> fp32      8      1      toward zero   -132           A100TC.m
a100     fp16 -> fp16            8      1      nearest even  -20            A100TC.m
a100     tf32 -> fp32            4      1      toward zero   -132           A100TC.m
h100     fp16, bf16 -> fp32      16     2      toward zero   -133           H100TC.m
h100     fp16 -> fp16            16     2      nearest even  -21            H100TC.m
h100     tf32 -> fp32            8      2      toward zero   -133           H100TC.m
h100     fp8 e4m3/e5m2 -> fp32   32     -10    toward zero   -133           H100TC.m
b200     fp16, bf16 -> fp32      16     2      toward zero   -133           B200TC.m
b200     fp16 -> fp16            16     2      nearest even  -21            B200TC.m
b200     tf32 -> fp32            8      2      toward zero   -133           B200TC.m
b200     fp8 e4m3/e5m2 -> fp32   32     2      toward zero   -133           B200TC.m, late C
ada      fp16, bf16 -> fp32      8      1      toward zero   -132           AdaTC.m
ada      fp16 -> fp16            8      1      nearest even  -20            AdaTC.m
ada      tf32 -> fp32            4      1      toward zero   -132           AdaTC.m
ada      fp8 e4m3/e5m2 -> fp32   16     -10    toward zero   -132           AdaTC.m
=======  ======================  =====  =====  ============  =============  =================

``a2`` and ``a30`` are the A100's model (``A2TC.m``, ``A30TC.m`` call ``A100TC``), ``h200`` the
H100's (``H200TC.m``), ``l40s`` the Ada RTX 1000's (``L40STC.m`` has the same parameters). FP8
groups of 32 on Hopper and Blackwell are two interleaved 16-product vectors joined in one
alignment (``B200TC.m``'s note); an extra of -10 keeps 13 fraction bits, so each group's result
has 14 significant bits (DeepSeek-V3, arXiv 2412.19437, §3.3.2, measured about 14 on H800).
B200 FP8 adds C *after* the group, by one fp32 addition rounded to nearest even (``late_c``): with
C aligned in the group, as ``B200TC.m`` has it, the model gives the GPU's bits in 64% of the
published B200 FP8 samples (``model_validation/B200/E4M3``, ``E5M2``); with the late C, in all
10,000 (``tools/validate_tensor_cores.py``). FP8 inputs with fp16 output are not listed: the
models are validated with fp32 output only for FP8 (``model_validation/Validate_TC_models.m``).
"""

from __future__ import annotations

from mixprec.formats.spec import Rounding
from mixprec.mac.block_fma import BlockFMA

__all__ = ["ALIASES", "TENSOR_CORES", "tensor_core_adder"]

_RZ, _RNE = Rounding.TOWARD_ZERO, Rounding.NEAREST_EVEN


def _family(group: int, extra: int, low: int | None, fp16_low: int, tf32: int | None,
            fp8: tuple[int, int] | None, late_c: bool = False,
            ) -> dict[tuple[str, str], BlockFMA]:  # fmt: skip
    """The presets of one GPU from its model file's parameters."""
    base = BlockFMA(group=group, extra_bits=extra, final_rounding=_RZ, min_exponent=low)
    table = {
        ("fp16", "fp32"): base,
        ("fp16", "fp16"): base.replace(final_rounding=_RNE, min_exponent=fp16_low),
    }
    if group != 4:  # V100 has fp16 only
        table[("bf16", "fp32")] = base
    if tf32 is not None:
        table[("tf32", "fp32")] = base.replace(group=tf32)
    if fp8 is not None:
        for name in ("fp8_e4m3", "fp8_e5m2"):
            table[(name, "fp32")] = base.replace(group=fp8[0], extra_bits=fp8[1], late_c=late_c)
    return table


TENSOR_CORES: dict[str, dict[tuple[str, str], BlockFMA]] = {
    "v100": _family(4, 0, None, -19, None, None),
    "a100": _family(8, 1, -132, -20, 4, None),
    "h100": _family(16, 2, -133, -21, 8, (32, -10)),
    "b200": _family(16, 2, -133, -21, 8, (32, 2), late_c=True),
    "ada": _family(8, 1, -132, -20, 4, (16, -10)),
}
"""GPU -> {(input, output): adder}: the parameter sets of the table above."""

ALIASES = {"a2": "a100", "a30": "a100", "h200": "h100", "l40s": "ada"}
"""GPUs whose model is another GPU's (same parameters, per the model files)."""


def tensor_core_adder(gpu: str, input: str, output: str) -> BlockFMA:
    """The adder of ``gpu``'s tensor core for ``input -> output``.

    Raises:
        ValueError: an unknown GPU or a combination it does not have; the message lists them.
    """
    key = gpu.strip().lower()
    table = TENSOR_CORES.get(ALIASES.get(key, key))
    if table is None:
        known = ", ".join(sorted([*TENSOR_CORES, *ALIASES]))
        raise ValueError(f"unknown tensor-core GPU {gpu!r}; known: {known}")
    adder = table.get((input, output))
    if adder is None:
        have = ", ".join(f"{i}->{o}" for i, o in table)
        raise ValueError(f"{gpu} has no tensor core for {input}->{output}; it has: {have}")
    return adder


def all_tensor_cores() -> list[tuple[str, str, str]]:
    """Every ``(gpu, input, output)`` modelled, aliases included, in the table's order."""
    names = [*TENSOR_CORES, *ALIASES]
    return [(gpu, i, o) for gpu in names for (i, o) in TENSOR_CORES[ALIASES.get(gpu, gpu)]]
