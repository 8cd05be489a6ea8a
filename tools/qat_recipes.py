"""How the W4A4 QAT recipe of ``mixprec sweep quantization`` was chosen: on held-out validation
images of tuning seeds, never on the test set.

For each tuning seed S (default 10 and 11, seeds the sweep does not use), the book MLP is trained
in fp32 as ``mixprec train --epochs 10 --seed S --validation 5000 --validation-seed S`` does
(5,000 training images held out, never trained on). Each candidate recipe then fine-tunes a copy
through ``int4-per-channel`` fake quantization from the MSE-calibrated activation ranges (1,000
calibration images: the first of the training split, as the sweep) and is exported and served
integer-only on the held-out images; PTQ with the MSE observer is the reference. The table gives
Δ in points against the fp32 model on those images, and the share of PTQ's loss each recipe
recovers (``1 - Δ_QAT / Δ_PTQ``).

Run::

    python tools/qat_recipes.py DIR [--seeds 10,11] [--epochs 2,5,10]

``DIR`` keeps the tuning models (``tune-sS.npz``; reused when present) and ``recipes.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mixprec.data import Dataset, load
from mixprec.nn.model import MLP
from mixprec.quant import load as load_model
from mixprec.quant import quantize, save
from mixprec.quant.qat_train import export, fake_quantized, qat_train
from mixprec.train import train

#: name -> (learn_scales, lr)
RECIPES = {
    "lr 0.001": (False, 0.001),
    "lr 0.003": (False, 0.003),
    "lr 0.01": (False, 0.01),
    "LSQ, lr 0.003": (True, 0.003),
    "LSQ, lr 0.01": (True, 0.01),
}
SCHEME = "int4-per-channel"
HELD_OUT = 5000


def tuning_model(directory: Path, seed: int, data: Dataset) -> MLP:
    """The fp32 tuning model of ``seed`` (trained once, then loaded)."""
    path = directory / f"tune-s{seed}.npz"
    if path.exists():
        model = load_model(path)
        assert isinstance(model, MLP)
        return model
    model = MLP((784, 128, 32, 10), seed=seed)
    train(model, data, epochs=10, seed=seed, progress=False, eval_split=None)
    save(model, path, metadata={"validation": HELD_OUT, "validation_seed": seed})
    return model


def seed_rows(directory: Path, seed: int, epochs: tuple[int, ...]) -> dict[str, float]:
    """Δ (points, against fp32 on the held-out images) of PTQ and of every recipe."""
    data = load("fashion-mnist", validation=HELD_OUT, seed=seed)
    assert data.validation is not None
    held_out = data.validation
    model = tuning_model(directory, seed, data)
    calibration = data.train[:1000].images

    def accuracy(predict: object) -> float:
        logits = predict(held_out.images)  # type: ignore[operator]
        return 100 * float(np.mean(logits.argmax(axis=1) == held_out.labels))

    fp32 = accuracy(model.forward)
    rows = {"PTQ, MSE": accuracy(quantize(model, calibration, SCHEME, observer="mse").predict)}
    for name, (lsq, lr) in RECIPES.items():
        for n in epochs:
            fq = fake_quantized(model.copy(), SCHEME, learn_scales=lsq)
            fq.calibrate(calibration, "mse")
            qat_train(fq, data, epochs=n, lr=lr, seed=seed)
            rows[f"QAT {name}, {n} epochs"] = accuracy(export(fq, SCHEME).predict)
        print(f"  seed {seed}: {name} done ({time.strftime('%X')})", flush=True)
    return {label: round(value - fp32, 2) for label, value in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--seeds", default="10,11")
    parser.add_argument("--epochs", default="2,5,10")
    args = parser.parse_args()
    args.directory.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    epochs = tuple(int(e) for e in args.epochs.split(","))
    per_seed = {seed: seed_rows(args.directory, seed, epochs) for seed in seeds}
    (args.directory / "recipes.json").write_text(json.dumps(per_seed, indent=1))
    ptq = np.mean([rows["PTQ, MSE"] for rows in per_seed.values()])
    print("| W4A4, held-out images | " + " | ".join(f"seed {s}" for s in seeds)
          + " | mean Δ | PTQ loss recovered |")  # fmt: skip
    print("|---" * (len(seeds) + 3) + "|")
    for label in per_seed[seeds[0]]:
        deltas = [per_seed[s][label] for s in seeds]
        mean = float(np.mean(deltas))
        share = "" if label.startswith("PTQ") else f"{100 * (1 - mean / ptq):.0f} %"
        cells = " | ".join(f"{d:+.2f}" for d in deltas)
        print(f"| {label} | {cells} | {mean:+.2f} | {share} |")


if __name__ == "__main__":
    main()
