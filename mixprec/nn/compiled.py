"""A precision policy compiled for running: tensor rounding per role, matmuls per MAC, events.

``Numerics(policy)`` holds one :class:`Rounder` per tensor role (``weights``, ``activations``,
``gradients``, ``updates``) and the MAC of each matmul role (``forward``, ``input_grad``,
``weight_grad``), and sums the numeric events of both per layer and role in :class:`Events`.

The tensors travel as :class:`~mixprec.nn.rounder.Scaled` pairs (values on the format's grid and
their scale, :mod:`mixprec.nn.rounder`). The MAC works on the values, and its float32 result is
divided by the two scales. An operand of a block-scaled role is quantized here, along its K axis
(rows of ``a``, columns of ``b``), and handed to the MAC as float32: MX values (an element value
times a power of two) are float32 values exactly for float32 input; NVFP4 values (E2M1 times an
E4M3 block scale times an fp32 tensor scale: up to 30 significant bits) are rounded to float32,
the input format of an ``fp32`` MAC. A ``BlockMAC`` (``"nvfp4->fp32"``) takes the unquantized
operands and quantizes them itself, the same way, keeping every value exact.

**The BLAS path.** A MAC with an fp32 accumulator, order ``fast``, exact products (no product
format), round-to-nearest-even and IEEE overflow means "add every exact product into an fp32
accumulator, rounding once per addition, in any order": float32 BLAS sgemm on the input values.
When both operands already hold values of the MAC's input format (their role's format is
contained in it: the policy rounded them), ``Numerics`` calls ``np.matmul`` directly and skips
the MAC's re-quantization and checks of its inputs. For inputs of at most 12 significant bits
(fp16, fp8) every product is exact in float32 and :meth:`mixprec.mac.MAC.matmul` runs the same
BLAS product: the bits are the MAC's (tested). For bf16 and fp32 inputs the products are exact
inside the kernel's fused multiply-adds (OpenBLAS and MKL sgemm on x86-64 with FMA), in BLAS's
order; ``MAC.matmul`` cannot assume FMA and emulates them in sequential order instead, which is
also a ``fast`` result but much slower (seconds for one 128x784x128 fp32 product) and not the
same bits. Block-quantized operands take the BLAS path too when the MAC is ``fp32->fp32``
``fast`` (the products of two MX values are exact in float32: at most 2 x 4 significant bits;
NVFP4's float32-rounded values multiply like any fp32 operands, fused in the kernel): quantized
inputs, fp32 accumulation, as microxcaling's and torchao's MX emulation. Event counts come from
the result: when it holds inf or NaN, ``inf_results`` and ``nan_results`` count them and
``overflows`` counts the non-finite outputs of finite operands (one overflowing addition each:
after it the accumulator stays non-finite). Every other MAC runs through ``mac.matmul``.
"""

from __future__ import annotations

import math

import numpy as np

from mixprec.formats import FP32, BlockFormat, FloatFormat, Format, IntFormat, storage_dtype
from mixprec.formats.anyformat import quantize as quantize_any
from mixprec.formats.spec import Overflow, Rounding
from mixprec.mac import MAC, MacStats
from mixprec.mac.blockscaled import BlockMAC
from mixprec.mac.unit import OrderKind
from mixprec.nn.events import Events
from mixprec.nn.policy import Policy
from mixprec.nn.rounder import Rounder, Scaled, tensor_scale
from mixprec.nn.spec import Granularity

__all__ = ["Numerics", "Rounder", "Scaled", "runs_as_blas", "tensor_scale"]


_NO_MAC_EVENT = MacStats()


def _contains(outer: Format, inner: Format) -> bool:
    """Whether every finite value of float format ``inner`` is a value of ``outer``.

    Both grids are dyadic: ``inner``'s values fit when its significands are no longer, its range
    no wider, and its smallest quantum a multiple of ``outer``'s (or, without subnormals in
    ``outer``, no value of ``inner`` below ``outer``'s smallest normal).
    """
    if outer == inner:
        return True
    if not (isinstance(outer, FloatFormat) and isinstance(inner, FloatFormat)):
        return False
    return (
        (outer.is_signed or not inner.is_signed)
        and inner.mantissa_bits <= outer.mantissa_bits
        and inner.max <= outer.max
        and inner.smallest_subnormal >= outer.smallest_subnormal
        and (outer.has_subnormals or inner.smallest_subnormal >= outer.smallest_normal)
    )


def runs_as_blas(mac: MAC) -> bool:
    """Whether ``mac`` is float32 BLAS on its input values (see the module docstring)."""
    return (
        mac.accumulator == FP32
        and mac.product is None
        and mac.rounding is Rounding.NEAREST_EVEN
        and mac.overflow is Overflow.INF
        and mac.order.kind is OrderKind.FAST
        and isinstance(mac.input, FloatFormat)
        and _contains(FP32, mac.input)
    )


class Numerics:
    """A policy ready to run: rounding per tensor role, a MAC per matmul role, event counts.

    Args:
        policy: the precision policy.
        count_events: count the MACs' and the roundings' numeric events (``events``).

    Attributes:
        policy: the policy.
        weights, activations, gradients, updates: the :class:`Rounder` of each tensor role.
        macs: ``{"forward": MAC, "input_grad": MAC, "weight_grad": MAC}``.
        events: :class:`Events` since construction or the last :meth:`take_events`.
    """

    def __init__(self, policy: Policy, count_events: bool = True) -> None:
        self.policy = policy
        self.count_events = count_events
        self.events = Events()
        sink = self.events if count_events else None
        specs = policy.specs()

        def rounder(role: str) -> Rounder:
            spec = specs[role]
            if spec.scaling not in (Granularity.NONE, Granularity.PER_TENSOR):
                raise ValueError(
                    f"{role}: {spec.scaling.value} scaling is not served by the float path; "
                    "use 'none' or 'per_tensor' (per-channel schemes: mixprec.quant)"
                )
            if isinstance(spec.format, BlockFormat):
                return Rounder(FP32, role, spec.overflow.value, False, sink, block=spec.format)
            return Rounder(spec.format, role, spec.overflow.value, spec.is_scaled, sink)

        self.weights = rounder("weights")
        self.activations = rounder("activations")
        self.gradients = rounder("gradients")
        self.updates = rounder("updates")
        self.updates.events = None  # updates are rounded in the optimizer step, uncounted
        self.macs: dict[str, MAC] = {
            "forward": policy.forward_mac,  # type: ignore[dict-item]
            "input_grad": policy.input_grad_mac,  # type: ignore[dict-item]
            "weight_grad": policy.weight_grad_mac,  # type: ignore[dict-item]
        }
        operands = {
            "forward": (self.activations.fmt, self.weights.fmt),
            "input_grad": (self.gradients.fmt, self.weights.fmt),
            "weight_grad": (self.activations.fmt, self.gradients.fmt),
        }
        self._blas = {
            role: runs_as_blas(mac) and all(_contains(mac.input, f) for f in operands[role])
            for role, mac in self.macs.items()
        }
        self._integer_operands = {
            role: isinstance(mac.input, IntFormat)
            and storage_dtype(mac.input) is not None
            and all(f == mac.input for f in operands[role])
            for role, mac in self.macs.items()
        }
        self._block_mac = {role: isinstance(mac, BlockMAC) for role, mac in self.macs.items()}
        _check_block_macs(self.macs, {
            "forward": (self.activations, self.weights),
            "input_grad": (self.gradients, self.weights),
            "weight_grad": (self.activations, self.gradients),
        })  # fmt: skip

    def take_events(self) -> Events:
        """The events so far; counting starts again from zero."""
        events = self.events
        self.events = Events()
        for r in (self.weights, self.activations, self.gradients):
            if r.events is not None:
                r.events = self.events
        return events

    def matmul(self, role: str, layer: int, a: Scaled, b: Scaled) -> np.ndarray:
        """``(a / scale_a) @ (b / scale_b)`` by the MAC of ``role``, as float32."""
        mac = self.macs[role]
        if (a.block is not None or b.block is not None) and not self._block_mac[role]:
            a, b = _blocked(a, b)  # a block MAC quantizes its float operands itself
        if self._blas[role]:
            with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN are counted
                y = a.values @ b.values
            if self.count_events:
                flat = y.reshape(-1)
                # y.y is finite when y is (NaN and inf propagate); a finite y whose squares
                # overflow is counted below, to no event
                if math.isfinite(float(flat @ flat)):
                    self.events.by_layer.setdefault((layer, role), _NO_MAC_EVENT)
                else:
                    self._count_blas(layer, role, y, a.values, b.values)
        else:
            av, bv = a.values, b.values
            if self._integer_operands[role]:  # integer values in their storage dtype: faster
                dtype = storage_dtype(mac.input)
                av, bv = av.astype(dtype), bv.astype(dtype)
            if self.count_events:
                y, stats = mac.matmul(av, bv, stats=True)
                self.events.add(layer, role, stats)
            else:
                y = mac.matmul(av, bv)
            y = np.asarray(y).astype(np.float32, copy=False)
        scale = a.scale * b.scale
        if scale != 1.0:
            y *= np.float32(1.0 / scale)
        return y

    def _count_blas(
        self, layer: int, role: str, y: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            inf, nan = np.isinf(y), np.isnan(y)
            clean = np.isfinite(a).all(axis=1)[:, None] & np.isfinite(b).all(axis=0)[None, :]
            stats = MacStats(
                overflows=int(np.count_nonzero((inf | nan) & clean)),
                inf_results=int(np.count_nonzero(inf)),
                nan_results=int(np.count_nonzero(nan)),
            )
        self.events.add(layer, role, stats)

    def weight_copies(self, weights: list[np.ndarray], on_grid: bool = False) -> list[Scaled]:
        """The weights as the matmuls see them; ``on_grid`` skips rounding weights already in
        the format (no master copy, no per-tensor scale)."""
        if on_grid and not self.weights.per_tensor:
            return [Scaled(w, 1.0) for w in weights]
        return self.weights.scaled_many(list(weights), list(range(1, len(weights) + 1)))


def _blocked(a: Scaled, b: Scaled) -> tuple[Scaled, Scaled]:
    """The operands of ``a @ b`` quantized to their block formats along K, as float32 (exact for
    MX; NVFP4's up to 30-bit values rounded to float32: see the module docstring)."""
    if a.block is not None:
        a = Scaled(quantize_any(a.values, a.block, axis=-1).astype(np.float32), a.scale)
    if b.block is not None:
        b = Scaled(quantize_any(b.values, b.block, axis=0).astype(np.float32), b.scale)
    return a, b


def _check_block_macs(macs: dict[str, MAC], operands: dict[str, tuple[Rounder, Rounder]]) -> None:
    """A block MAC quantizes its operands to its own block format: a role of another refused."""
    for role, mac in macs.items():
        if not isinstance(mac, BlockMAC):
            continue
        for rounder in operands[role]:
            if rounder.block is not None and rounder.block != mac.input:
                raise ValueError(
                    f"{role} MAC {mac} quantizes its operands to {mac.input}, but the "
                    f"{rounder.role} role is {rounder.block}; give the role the MAC's block "
                    "format (or fp32), or use an 'fp32->fp32' MAC"
                )
