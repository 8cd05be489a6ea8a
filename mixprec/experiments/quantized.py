"""Quantized serve entries of a sweep: ``ptq:SCHEME[,option...]`` and ``qat:SCHEME[,option...]``.

``ptq:SCHEME`` quantizes the cell's trained model after training (``mixprec.quant.quantize``,
calibrated on the first ``PTQ_CALIBRATION`` training images); ``qat:SCHEME`` fine-tunes a copy
of it through fake quantization first (``mixprec.quant.qat``, seeded by the cell's seed) and
exports the same kind of quantized model. Either is then served with its own serving path:
integer-only for integer schemes. ``SCHEME`` is any name of the scheme vocabulary, with a group
size where it has one (``ptq:int4-weight-only:group=32``), or for ``ptq`` a scheme per layer
(``ptq:int4-weight-only@1=int8-per-channel@3=int8-per-channel``, :mod:`mixprec.quant.layered`).
Options, comma-separated:

==================  ===============================================================================
``observer=NAME``   activation ranges: ``minmax`` (default), ``percentile``, ``mse`` (for ``qat``:
                    the calibrated ranges QAT starts from, frozen; default: moving min/max)
``method=gptq``     weight rounding (``rtn`` default; ``ptq`` only): ``mixprec.quant.refine``
``accumulator=intP``  weights within the A2Q bound of a P-bit accumulator (``bound=a2q`` or
                    ``a2q+``, default)
``mac=IN->ACC...``  the integer path's MAC, e.g. ``mac=int8->int16:wrap`` (last: it may hold ``:``)
``epochs=N``        ``qat`` only: fine-tuning epochs (default 2); ``lr=X`` (default 0.001);
                    ``lsq``: learned scales
==================  ===============================================================================

Examples: ``ptq:int8-per-channel,accumulator=int16,mac=int8->int16:wrap``,
``qat:int4-per-channel,observer=mse,epochs=5``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PTQ_CALIBRATION", "QuantizedEntry"]

PTQ_CALIBRATION = 1000  # training images used to calibrate post-training quantization
_KEYS = ("observer", "method", "accumulator", "bound", "mac", "epochs", "lr", "lsq")


@dataclass(frozen=True)
class QuantizedEntry:
    """A parsed ``ptq:`` or ``qat:`` serve entry (see the module docstring)."""

    kind: str
    scheme: str
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> QuantizedEntry:
        """Parse and check an entry (the scheme, every option, the MAC).

        Raises:
            ValueError: an unknown scheme, option or value; the message says what is allowed.
        """
        from mixprec.mac import MAC
        from mixprec.quant.a2q import BOUNDS
        from mixprec.quant.layered import parse_scheme
        from mixprec.quant.observers import OBSERVERS
        from mixprec.quant.qat_train import check_trainable
        from mixprec.quant.weights import METHODS

        kind, _, rest = text.strip().partition(":")
        kind = kind.lower()
        head, _, mac = rest.partition(",mac=")
        scheme, *parts = [p.strip() for p in head.split(",")]
        if kind != "qat":  # one scheme, or one per layer (mixprec.quant.layered), canonical
            scheme = str(parse_scheme(scheme))  # raises for an unknown scheme
        options = [(k.strip().lower(), v.strip()) for k, _, v in (p.partition("=") for p in parts)]
        if mac:
            options.append(("mac", mac.strip()))
        for key, value in options:
            if (
                key not in _KEYS
                or (kind == "ptq" and key in ("epochs", "lr", "lsq"))
                or (kind == "qat" and key == "method")
            ):
                raise ValueError(f"{kind}: entry {text!r}: unknown option {key!r}; see "
                                 "mixprec.experiments.quantized for the options")  # fmt: skip
            allowed = {"observer": OBSERVERS, "method": METHODS, "bound": BOUNDS}.get(key)
            if allowed is not None and value not in allowed:
                raise ValueError(
                    f"entry {text!r}: {key}={value!r}; use one of {', '.join(allowed)}"
                )
        entry = cls(kind, scheme, tuple(options))
        if kind == "qat":  # an unknown or untrainable scheme, or options that clash, raise
            check_trainable(
                scheme, accumulator=entry.accumulator, learn_scales=entry.get("lsq") is not None
            )  # the caller names the entry in the message
        entry.accumulator  # noqa: B018 (checks intP)
        if mac:
            MAC.parse(mac.strip())
        entry.number("epochs", 2, int)
        entry.number("lr", 0.001, float)
        return entry

    def get(self, key: str, default: str | None = None) -> str | None:
        """An option's value (``lsq`` gives ``""`` when present)."""
        return dict(self.options).get(key, default)

    def number(self, key: str, default: float, kind: type) -> Any:
        value = self.get(key)
        try:
            number = default if value is None else kind(value)
        except ValueError:
            raise ValueError(
                f"{self.kind}:{self.scheme}: {key}={value!r} is not a number"
            ) from None
        if number <= 0:
            raise ValueError(f"{self.kind}:{self.scheme}: {key} must be > 0, got {value!r}")
        return number

    @property
    def accumulator(self) -> int | None:
        """P of ``accumulator=intP`` (``None`` without it)."""
        text = self.get("accumulator")
        if text is None:
            return None
        if not (text.startswith("int") and text[3:].isdigit() and 8 <= int(text[3:]) <= 32):
            raise ValueError(f"accumulator={text!r}: write intP with P in 8..32, e.g. int16")
        return int(text[3:])

    def build(self, model: Any, train: Any, seed: int) -> Any:
        """The quantized model of this entry: PTQ (and GPTQ / A2Q), or QAT then its export."""
        from mixprec.quant import QuantizedMLP, Scheme, quantize
        from mixprec.quant.qat_train import export, fake_quantized, qat_train
        from mixprec.quant.refine import refine

        calibration = train[:PTQ_CALIBRATION]
        if self.kind == "ptq":
            q = quantize(model, calibration, self.scheme, observer=self.get("observer") or "minmax")
            method = self.get("method", "rtn") or "rtn"
            if method != "rtn" or self.accumulator is not None:
                if not isinstance(q, QuantizedMLP):
                    raise ValueError(
                        f"ptq:{self.scheme}: method={method} / accumulator= take one scheme for "
                        "every layer, not one per layer"
                    )
                refine(q, model, calibration, method, self.accumulator,
                       self.get("bound") or "a2q+")  # fmt: skip
            return q
        scheme = Scheme.parse(self.scheme)
        fq = fake_quantized(
            model.copy(), scheme, accumulator=self.accumulator,
            bound=self.get("bound") or "a2q+", learn_scales=self.get("lsq") is not None,
        )  # fmt: skip
        observer = self.get("observer")
        if observer is not None:
            fq.calibrate(calibration.images, observer)
        qat_train(fq, train, epochs=self.number("epochs", 2, int),
                  lr=self.number("lr", 0.001, float), seed=seed)  # fmt: skip
        return export(fq, scheme)

    def serving(self, q: Any) -> Any:
        """How the built model is served (its default path; the entry's MAC if it has one)."""
        return q.serving(mac=self.get("mac"))
