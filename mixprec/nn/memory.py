"""The book's memory and compute model of an MLP, extended to every format and policy.

*Deep Learning Systems* (A. Rodriguez), chapter 1, counts for the 784-128-32-10 MLP:

* ``N_w`` = weights and biases = 104,928 values: 419,712 B in fp32 (the book's "420 KB");
* ``N_a`` = N x (sum of the units of every layer, input included) = 128 x 954 activations
  to train at batch N = 128;
* ``N_g`` = N x (units of the hidden layers) = 128 x (128 + 32) activation gradients;
* training memory = ``N_w + N_a + N_g`` values = 247,520 x 4 B = 990,080 B (the book's "1.0 MB");
* serving at N = 1 keeps the weights and the two largest consecutive activation layers,
  784 + 128 (a layer's input and output are all that is live at once): 105,840 x 4 B =
  423,360 B. The book prints "424 KB": 423,360 B is 423.4 kB, and the book's figures are
  rounded *up* to the next kB (419,712 B -> 420 KB; 990,080 B -> 991 kB, "1.0 MB" to two digits),
  which gives 424. (It is also exactly 106,000 values, i.e. 160 values more than the count
  here, as if the 160 hidden biases were counted twice; the count here is the exact one.)

Every other format stores ``bits / 8`` bytes per value (fp8: 1, int4: 0.5, bf16: 2). A policy
uses its weight, activation and gradient formats, plus a float32 master copy of the weights when
it keeps one (the book's count has no master copy and no optimizer state: neither is in
``train_bytes`` of a format row, and only the master copy is added for a policy).

Compute: a sample costs ``sum(in x out)`` MACs forward (104,768 for the book's MLP); training
adds the weight-gradient matmul (as many MACs) and the input-gradient matmul of every layer but
the first. Operational intensity is operations (2 per MAC) per byte of the working set above,
each value moved once: it grows with the batch, which is why training (N = 128) is compute-bound
and serving one sample is memory-bound.

``measured`` figures are the ``nbytes`` of real arrays: the model's parameters and the
activations and gradients of one batch, converted with :func:`mixprec.to_storage` to the
format's numpy/ml_dtypes dtype (``None`` where the format has none). They show what numpy really
saves: fp8 and int8 arrays take 1 byte a value, but ml_dtypes stores fp6, fp4 and int4 in a
byte each too (no packing).

>>> report = memory(batch=128)
>>> r = report.row("fp32")
>>> r.weights_bytes, r.train_bytes, r.serve_bytes
(419712, 990080, 423360)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise

import numpy as np

from mixprec.formats import FP32, BlockFormat, Format, IntFormat
from mixprec.formats.anyformat import get_format as get_any_format
from mixprec.formats.anyformat import list_formats, to_storage
from mixprec.nn.model import BOOK_SIZES, MLP
from mixprec.nn.policy import MasterWeights, Policy

__all__ = ["Counts", "MemoryReport", "MemoryRow", "counts", "memory"]


@dataclass(frozen=True)
class Counts:
    """Value and MAC counts of an MLP at a batch size (see the module docstring).

    Attributes:
        sizes: units per layer, input first.
        batch: the training batch N.
        serve_batch: the serving batch (1 in the book).
        weights: ``N_w``, weights plus biases.
        activations: ``N_a`` = batch x sum(sizes).
        gradients: ``N_g`` = batch x sum(hidden sizes).
        serve_activations: serve_batch x the largest sum of two consecutive layers.
        forward_macs: MACs of one sample's forward pass.
        train_macs: MACs of one sample's training step (forward and backward).
    """

    sizes: tuple[int, ...]
    batch: int
    serve_batch: int
    weights: int
    activations: int
    gradients: int
    serve_activations: int
    forward_macs: int
    train_macs: int


def counts(
    model: MLP | Sequence[int] = BOOK_SIZES,
    batch: int = 128,
    serve_batch: int = 1,
    output_bias: bool = False,
) -> Counts:
    """The book's counts for ``model`` (an ``MLP`` or its sizes) at a batch size.

    Args:
        model: an ``MLP`` or layer sizes (input first); default the book's 784-128-32-10.
        batch: training batch N.
        serve_batch: serving batch.
        output_bias: with sizes only: whether the output layer has a bias.

    Raises:
        ValueError: a batch below 1.
    """
    if batch < 1 or serve_batch < 1:
        raise ValueError(f"batch sizes must be >= 1, got batch={batch}, serve_batch={serve_batch}")
    if isinstance(model, MLP):
        sizes, output_bias = model.sizes, model.output_bias
        n_weights = model.n_parameters
    else:
        sizes = tuple(int(s) for s in model)
        n_weights = sum(a * b for a, b in pairwise(sizes))
        n_weights += sum(sizes[1:-1]) + (sizes[-1] if output_bias else 0)
    pairs = [a * b for a, b in pairwise(sizes)]
    forward = sum(pairs)
    return Counts(
        sizes=sizes,
        batch=batch,
        serve_batch=serve_batch,
        weights=n_weights,
        activations=batch * sum(sizes),
        gradients=batch * sum(sizes[1:-1]),
        serve_activations=serve_batch * max(a + b for a, b in pairwise(sizes)),
        forward_macs=forward,
        train_macs=2 * forward + sum(pairs[1:]),
    )


@dataclass(frozen=True)
class MemoryRow:
    """Memory of one format (or one policy) in bytes, and operational intensities.

    Attributes:
        name: the format's name, or the policy's ``str``.
        bits: bits per value (of the weights, for a policy; a block format's include its scales:
            MXFP4 4.25).
        weights_bytes: ``N_w`` values (plus the master copy, for a policy that keeps one).
        train_bytes: weights, activations and gradients at the training batch.
        serve_bytes: weights and the serving activations at the serving batch.
        train_intensity: operations per byte of ``train_bytes`` for one training step.
        serve_intensity: operations per byte of ``serve_bytes`` for one serving batch.
        measured_weights_bytes: ``nbytes`` of the parameters in the format's dtype, or None.
        measured_train_bytes: the same for parameters, activations and gradients of a batch.
        master_bytes: the float32 master copy included above (policies only; 0 otherwise).
    """

    name: str
    bits: float
    weights_bytes: int
    train_bytes: int
    serve_bytes: int
    train_intensity: float
    serve_intensity: float
    measured_weights_bytes: int | None
    measured_train_bytes: int | None
    master_bytes: int = 0


def _bytes(n_values: int, fmt: Format | BlockFormat) -> int:
    """Bytes of ``n_values`` values packed at ``fmt.bits`` bits each (rounded up to a byte).

    A block format: its element codes packed, one scale per ``block_size`` values (the counts
    are totals, so blocks are counted as if every tensor's length were a multiple of the block
    size; ``mixprec.nn.cost`` counts them per column), and NVFP4's fp32 tensor scale.
    """
    if isinstance(fmt, BlockFormat):
        scales = -(-n_values // fmt.block_size) * fmt.scale.bits
        return -(-(n_values * fmt.element.bits + scales + fmt.tensor_bits) // 8)
    return -(-n_values * fmt.bits // 8)


@dataclass(frozen=True)
class MemoryReport:
    """The memory table: one row per format, and one per policy given."""

    counts: Counts
    rows: tuple[MemoryRow, ...]
    policies: tuple[MemoryRow, ...] = ()

    @property
    def policy(self) -> MemoryRow | None:
        """The row of the (first) policy, or None."""
        return self.policies[0] if self.policies else None

    def row(self, name: str) -> MemoryRow:
        """The row of a format name (or alias)."""
        key = str(get_any_format(name))
        for r in self.rows:
            if r.name == key:
                return r
        raise ValueError(f"no row for {name!r}; rows: {', '.join(r.name for r in self.rows)}")

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: counts, format rows and policy rows."""
        return {
            "counts": asdict(self.counts),
            "rows": [asdict(r) for r in self.rows],
            "policies": [asdict(r) for r in self.policies],
        }

    def table(self) -> str:
        """A Markdown table (sizes in bytes, kB = 1000 B) with the counts above it."""
        c = self.counts
        head = (
            f"MLP {'-'.join(map(str, c.sizes))}: N_w = {c.weights:,} weights; "
            f"N_a = {c.activations:,} and N_g = {c.gradients:,} at training batch {c.batch}; "
            f"{c.serve_activations:,} live activations serving batch {c.serve_batch}; "
            f"{c.forward_macs:,} MACs/sample forward, {c.train_macs:,} training."
        )
        columns = (
            "format | bits | weights B | train B | serve B | train ops/B | serve ops/B | "
            "measured weights B | measured train B"
        )
        lines = [head, "", f"| {columns} |", "|" + "---|" * (columns.count("|") + 1)]

        def fmt_int(v: int | None) -> str:
            return "-" if v is None else f"{v:,}"

        labelled = [(r.name, r) for r in self.rows] + [
            (f"policy {r.name}", r) for r in self.policies
        ]
        for label, r in labelled:
            lines.append(
                f"| {label} | {r.bits} | {r.weights_bytes:,} | {r.train_bytes:,} | "
                f"{r.serve_bytes:,} | {r.train_intensity:.1f} | {r.serve_intensity:.2f} | "
                f"{fmt_int(r.measured_weights_bytes)} | {fmt_int(r.measured_train_bytes)} |"
            )
        return "\n".join(lines)


def _store(x: np.ndarray, fmt: Format | BlockFormat) -> int | None:
    """``nbytes`` of ``x`` in ``fmt``'s dtype (integers with a symmetric per-tensor scale)."""
    try:
        if isinstance(fmt, IntFormat) and x.size:
            amax = float(np.abs(x).max())
            x = x * np.float32(fmt.max / amax) if amax > 0 else x
        with np.errstate(invalid="ignore"):  # unsigned formats and E8M0 cannot hold x < 0
            return int(to_storage(x, fmt).nbytes)
    except ValueError:  # no dtype, or a value the format cannot hold (NaN, negative unsigned)
        return None


def _measure(
    model: MLP, batch: int, formats: tuple[Format | BlockFormat, ...]
) -> tuple[int | None, int | None]:
    """Real ``nbytes`` of parameters, and of parameters + activations + gradients of a batch."""
    weights_fmt, act_fmt, grad_fmt = formats
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, model.sizes[0]), dtype=np.float32)
    layers = [x]
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        h = layers[-1] @ w + (0 if b is None else b)
        layers.append(np.maximum(h, 0) if i < model.n_layers - 1 else h)
    gradients = [rng.standard_normal(h.shape, dtype=np.float32) for h in layers[1:-1]]
    sizes = [_store(p, weights_fmt) for p in model.parameters()]
    if any(s is None for s in sizes):
        return None, None
    weights = sum(s for s in sizes if s is not None)
    rest = [_store(a, act_fmt) for a in layers] + [_store(g, grad_fmt) for g in gradients]
    if any(s is None for s in rest):
        return weights, None
    return weights, weights + sum(s for s in rest if s is not None)


def _row(
    name: str,
    c: Counts,
    formats: tuple[Format | BlockFormat, ...],
    master: bool,
    model: MLP | None,
) -> MemoryRow:
    w_fmt, a_fmt, g_fmt = formats
    master_bytes = _bytes(c.weights, FP32) if master else 0
    weights = _bytes(c.weights, w_fmt) + master_bytes
    train = weights + _bytes(c.activations, a_fmt) + _bytes(c.gradients, g_fmt)
    serve = _bytes(c.weights, w_fmt) + _bytes(c.serve_activations, a_fmt)
    measured = _measure(model, c.batch, formats) if model is not None else (None, None)
    if master:
        measured = tuple(None if m is None else m + master_bytes for m in measured)  # type: ignore[assignment]
    return MemoryRow(
        name=name,
        bits=w_fmt.bits_per_element if isinstance(w_fmt, BlockFormat) else w_fmt.bits,
        weights_bytes=weights,
        train_bytes=train,
        serve_bytes=serve,
        train_intensity=2 * c.train_macs * c.batch / train,
        serve_intensity=2 * c.forward_macs * c.serve_batch / serve,
        measured_weights_bytes=measured[0],
        measured_train_bytes=measured[1],
        master_bytes=master_bytes,
    )


def memory(
    model: MLP | Sequence[int] | None = None,
    batch: int = 128,
    policy: Policy | str | Sequence[Policy | str] | None = None,
    formats: Sequence[Format | str] | None = None,
    serve_batch: int = 1,
    measure: bool = True,
) -> MemoryReport:
    """The book's memory table for ``model``, one row per format, and the row of a policy.

    Args:
        model: an ``MLP`` (measured with its own parameters) or layer sizes; default the book's
            MLP (a freshly initialized ``MLP.book()`` is measured).
        batch: the training batch N.
        policy: a ``Policy`` or preset name, or several: adds a row for each, with its weight,
            activation and gradient formats and its master copy.
        formats: the formats of the rows (default: every registered format, then the block
            formats).
        serve_batch: the serving batch (the book: 1).
        measure: also convert real arrays with ``to_storage`` and report their ``nbytes``.

    Returns:
        A :class:`MemoryReport` (``.table()`` for Markdown, ``.as_dict()`` for JSON).

    Raises:
        ValueError: a batch below 1, an unknown format or policy.
    """
    if model is None:
        model = MLP.book()
    c = counts(model, batch, serve_batch)
    instance = None
    if measure:
        instance = model if isinstance(model, MLP) else MLP(c.sizes)
    chosen = (
        [get_any_format(f) for f in formats] if formats is not None else list_formats(blocks=True)
    )
    rows = tuple(_row(str(f), c, (f, f, f), False, instance) for f in chosen)
    if policy is None:
        chosen_policies = []
    elif isinstance(policy, (str, Policy)):
        chosen_policies = [Policy.preset(policy)]
    else:
        chosen_policies = [Policy.preset(p) for p in policy]
    policy_rows = []
    for p in chosen_policies:
        specs = p.specs()
        master = p.master_weights is MasterWeights.FP32 and specs["weights"].format != FP32
        trio = (specs["weights"].format, specs["activations"].format, specs["gradients"].format)
        policy_rows.append(_row(str(p), c, trio, master, instance))
    return MemoryReport(counts=c, rows=rows, policies=tuple(policy_rows))
