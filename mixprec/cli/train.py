"""``mixprec train``: train the book's MLP under a precision policy and save it."""

from __future__ import annotations

import argparse
import json

from mixprec.cli._checks import ensure_writable, save_or_keep
from mixprec.cli.qat import add_qat_arguments, run_qat
from mixprec.cli.training import add_training_arguments, training_settings
from mixprec.data import DATASETS, load
from mixprec.nn import MLP, Policy, save
from mixprec.nn.layered import parse_policy
from mixprec.train import TrainConfig, TrainingInterrupted, train

HELP = "train the book's MLP (784-128-32-10) under a precision policy and save it (.npz)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mixprec train`` to its parser."""
    parser.add_argument("--dataset", default="fashion-mnist", help=f"one of {', '.join(DATASETS)}")
    parser.add_argument("--data-dir", metavar="DIR", help="read the IDX files from DIR only")
    parser.add_argument(
        "--policy", default="fp32",
        help=f"a preset ({', '.join(Policy.presets())}; default fp32) or a policy per layer, "
        "BASE@LAYER=PRESET such as fp8@1=bf16@3=bf16",
    )  # fmt: skip
    add_training_arguments(parser, "TrainConfig(): 10 epochs, batch 128, sgd, lr 0.05 for sgd "
                           "and 0.001 for adam, cosine, momentum 0.9, seed 0")  # fmt: skip
    parser.add_argument(
        "--validation", type=int, default=0, metavar="N",
        help="hold N training examples out (never trained on; kept for 'mixprec search')",
    )  # fmt: skip
    parser.add_argument(
        "--validation-seed", type=int, default=0, metavar="S",
        help="seed of the permutation that picks the held-out examples (default 0)",
    )  # fmt: skip
    parser.add_argument(
        "--sizes", default="784,128,32,10", help="layer sizes, input first (default the book's)"
    )
    parser.add_argument("--output-bias", action="store_true", help="give the softmax layer a bias")
    parser.add_argument("--out", default="model.npz", help="the model file (default model.npz)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the history as JSON")
    add_qat_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Train, print one line per epoch (or JSON), save; on Ctrl-C save what was learned."""
    if args.qat is not None or args.init is not None:
        return run_qat(args)
    if args.observer is not None or args.accumulator is not None or args.lsq:
        raise ValueError(
            "--observer, --accumulator and --lsq are options of quantization-aware training: "
            "add --init MODEL --qat SCHEME"
        )
    policy = parse_policy(args.policy)
    config = TrainConfig(**training_settings(args))  # checked before anything runs
    if config.epochs < 1:
        raise ValueError(
            f"--epochs {config.epochs} would save an untrained model; give --epochs 1 or more"
        )
    ensure_writable(args.out, before="training")
    data = load(
        args.dataset, data_dir=args.data_dir, download=args.data_dir is None,
        validation=args.validation, seed=args.validation_seed,
    )  # fmt: skip
    sizes = [int(s) for s in args.sizes.split(",")]
    model = MLP(sizes, output_bias=args.output_bias, seed=config.seed)
    status = 0
    try:
        history = train(model, data, policy=policy, config=config, progress=not args.no_progress)
    except TrainingInterrupted as interrupted:
        history, status = interrupted.history, 130
    meta = {"dataset": data.name, "normalize": data.normalize.value}
    if args.validation:
        meta.update(validation=args.validation, validation_seed=args.validation_seed)
    save_or_keep(
        lambda path: save(model, path, policy=policy, history=history, metadata=meta),
        args.out,
        "the trained model",
    )
    if args.json:
        print(json.dumps(history.as_dict()))
    else:
        for epoch in range(history.epochs):
            print(
                f"epoch {epoch + 1}: loss {history.loss[epoch]:.4f}, test accuracy "
                f"{history.accuracy[epoch]:.2%}, {history.seconds[epoch]:.2f} s, "
                f"skipped steps {history.skipped_steps[epoch]}"
            )
        note = " (interrupted)" if history.interrupted else ""
        print(f"saved {args.out}: {model!r}, policy {policy}{note}")
    return status
