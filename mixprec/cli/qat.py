"""``mixprec train --init model.npz --qat SCHEME``: quantization-aware fine-tuning of a model.

The result is a quantized model file of the kind ``mixprec quantize`` writes (served by
``mixprec evaluate``, integer-only for the int8 schemes). Ctrl-C saves the quantized model of the
last completed step and its history, marked interrupted, as ``mixprec train`` does.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from mixprec.cli._checks import ensure_writable, save_or_keep
from mixprec.cli.training import training_settings
from mixprec.data import load
from mixprec.nn.model import MLP
from mixprec.quant import load as load_model
from mixprec.quant import save
from mixprec.quant.a2q import BOUNDS
from mixprec.quant.observers import OBSERVERS
from mixprec.quant.qat_train import check_trainable, export, fake_quantized, qat_train
from mixprec.train import TrainConfig, TrainingInterrupted

__all__ = ["add_qat_arguments", "parse_accumulator", "run_qat"]


def parse_accumulator(text: str | None) -> int | None:
    """``"int16"`` -> 16 (``None`` stays ``None``).

    Raises:
        ValueError: not ``intP`` with P in 8..32.
    """
    if text is None:
        return None
    name = text.strip().lower()
    if not (name.startswith("int") and name[3:].isdigit() and 8 <= int(name[3:]) <= 32):
        raise ValueError(f"--accumulator must be intP with P in 8..32 (e.g. int16), got {text!r}")
    return int(name[3:])


def add_qat_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of quantization-aware training (on ``mixprec train``)."""
    group = parser.add_argument_group("quantization-aware training")
    group.add_argument("--init", metavar="MODEL", help="fine-tune this float model file")
    group.add_argument(
        "--qat", metavar="SCHEME", help="train through the fake quantization of a scheme: "
        "int8-per-channel, int8-per-tensor, int4-per-channel (W4A4), int4-per-channel-a8 "
        "(W4A8), int4-weight-only:group=32, fp8_e4m3, ... (not block-scaled ones)",
    )  # fmt: skip
    group.add_argument(
        "--accumulator", metavar="intP", help="keep every layer's weights inside the A2Q bound "
        "of a P-bit accumulator (int8 schemes; e.g. int16)",
    )  # fmt: skip
    group.add_argument("--bound", default="a2q+", choices=BOUNDS, help="A2Q bound (a2q+)")
    group.add_argument("--lsq", action="store_true", help="learn the scales (LSQ)")
    group.add_argument(
        "--warmup", type=int, default=100, metavar="STEPS",
        help="steps of moving min/max before the activation ranges freeze (100)",
    )  # fmt: skip
    group.add_argument(
        "--observer", choices=list(OBSERVERS), help="start from the activation ranges post-"
        "training quantization calibrates with this observer on --calibration images (frozen; "
        "no warm-up)",
    )  # fmt: skip
    group.add_argument(
        "--calibration", type=int, default=1000, metavar="N",
        help="calibration images for --observer, drawn from the training split (1000)",
    )  # fmt: skip


def run_qat(args: argparse.Namespace) -> int:
    """Fine-tune ``--init`` through ``--qat``'s fake quantization, save the quantized model."""
    if args.init is None or args.qat is None:
        raise ValueError("quantization-aware training needs both --init MODEL and --qat SCHEME")
    scheme = check_trainable(
        args.qat, accumulator=parse_accumulator(args.accumulator), learn_scales=args.lsq
    )
    config = TrainConfig(**{"epochs": 2, **training_settings(args)})  # checked before data
    if config.epochs < 1:
        raise ValueError(f"--epochs {config.epochs}: quantization-aware training needs 1 or more")
    ensure_writable(args.out, before="quantization-aware training")
    model = load_model(args.init)
    if not isinstance(model, MLP):
        raise ValueError(f"{args.init} holds a {type(model).__name__}; --init takes a float model")
    normalize = model.metadata.get("normalize", "standard")
    data = load(
        args.dataset, data_dir=args.data_dir, download=args.data_dir is None, normalize=normalize
    )
    fq = fake_quantized(
        model, scheme, accumulator=parse_accumulator(args.accumulator), bound=args.bound,
        learn_scales=args.lsq, warmup_steps=args.warmup,
    )  # fmt: skip
    if args.observer is not None:
        if args.calibration < 1:
            raise ValueError(f"--calibration must be >= 1, got {args.calibration}")
        n_train = len(data.train.labels)
        count = min(args.calibration, n_train)
        rows = np.sort(np.random.default_rng(0).choice(n_train, size=count, replace=False))
        fq.calibrate(data.train.images[rows], args.observer)
    status = 0
    try:
        history = qat_train(
            fq, data, config=config, progress=not args.no_progress, eval_split=data.test
        )
    except TrainingInterrupted as interrupted:
        history, status = interrupted.history, 130
    q = export(fq, scheme)
    q.metadata.update(dataset=data.name, source=str(args.init), normalize=normalize)
    if fq.accumulator is not None:
        q.metadata.update(accumulator=f"int{fq.accumulator}", bound=fq.bound)
    save_or_keep(
        lambda path: save(q, path, history=history, metadata=q.metadata),
        args.out,
        "the quantization-aware trained model",
    )
    if args.json:
        print(json.dumps(history.as_dict()))
        return status
    for epoch in range(history.epochs):
        print(
            f"epoch {epoch + 1}: loss {history.loss[epoch]:.4f}, test accuracy (fake quant) "
            f"{history.accuracy[epoch]:.2%}, {history.seconds[epoch]:.2f} s"
        )
    note = " (interrupted)" if history.interrupted else ""
    print(f"saved {args.out}: {q!r}{note}")
    return status
