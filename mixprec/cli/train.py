"""``mixprec train``: train the book's MLP under a precision policy and save it."""

from __future__ import annotations

import argparse
import json

from mixprec.data import DATASETS, load
from mixprec.nn import MLP, Policy, TrainingInterrupted, save, train
from mixprec.nn.schedule import Schedule

HELP = "train the book's MLP (784-128-32-10) under a precision policy and save it (.npz)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mixprec train`` to its parser."""
    parser.add_argument("--dataset", default="fashion-mnist", help=f"one of {', '.join(DATASETS)}")
    parser.add_argument("--data-dir", metavar="DIR", help="read the IDX files from DIR only")
    parser.add_argument(
        "--policy", default="fp32", help=f"a preset: {', '.join(Policy.presets())} (default fp32)"
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"))
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="base learning rate (default: the optimizer's, 0.05 for sgd, 0.001 for adam)",
    )
    parser.add_argument(
        "--schedule",
        default="cosine",
        choices=[schedule.value for schedule in Schedule],
        help="learning rate per epoch: cosine decay from --lr (default), or constant",
    )
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0, help="initialization and shuffling seed")
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


def run(args: argparse.Namespace) -> int:
    """Train, print one line per epoch (or JSON), save; on Ctrl-C save what was learned."""
    policy = Policy.preset(args.policy)
    data = load(
        args.dataset, data_dir=args.data_dir, download=args.data_dir is None,
        validation=args.validation, seed=args.validation_seed,
    )  # fmt: skip
    sizes = [int(s) for s in args.sizes.split(",")]
    model = MLP(sizes, output_bias=args.output_bias, seed=args.seed)
    status = 0
    try:
        history = train(
            model, data, policy=policy, epochs=args.epochs, batch_size=args.batch_size,
            optimizer=args.optimizer, lr=args.lr, schedule=args.schedule,
            momentum=args.momentum, seed=args.seed, progress=not args.no_progress,
        )  # fmt: skip
    except TrainingInterrupted as interrupted:
        history, status = interrupted.history, 130
    meta = {"dataset": data.name, "normalize": data.normalize.value}
    if args.validation:
        meta.update(validation=args.validation, validation_seed=args.validation_seed)
    save(model, args.out, policy=policy, history=history, metadata=meta)
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
