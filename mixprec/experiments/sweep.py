"""A sweep: a dataset, a model, train policies x serve configurations x seeds, training settings.

A sweep is a frozen ``Sweep``. It comes from a TOML file (``Sweep.from_toml``), from a named
experiment shipped with the package (``load_experiment("book")``; ``list_experiments()``), or is
built directly; ``sweep.replace(...)`` overrides fields (the ``mixprec sweep`` flags do that).

TOML keys are the field names of ``Sweep``, all at the top level::

    description = "The book's MLP trained and served across formats"
    dataset = "auto"                       # "fashion-mnist", "mnist", or "auto"
    train = ["fp32", "bf16", "fp16-amp", "fp8"]
    serve = ["fp32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "int8", "int8->int16:wrap"]
    seeds = 3                              # seeds 0, 1, 2; or a list: [0, 7]
    epochs = 5

The grid is ``train x seeds`` trained models (``Cell``s), each served under every entry of
``serve``: one record per (train, serve, seed).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixprec.experiments.store import record_key
from mixprec.train import Schedule, TrainConfig

__all__ = [
    "Cell",
    "CellOutput",
    "Sweep",
    "TrainedModel",
    "list_experiments",
    "load_experiment",
    "read_toml",
]

DATASETS = ("auto", "fashion-mnist", "mnist")
OPTIMIZERS = ("sgd",)
#: The training recipe of a sweep unless it says otherwise (5 epochs, else ``TrainConfig()``).
DEFAULT_TRAINING = TrainConfig(epochs=5)


@dataclass(frozen=True, kw_only=True)
class Sweep:
    """The definition of a precision sweep.

    Attributes:
        name: the experiment's name (the default output directory is ``runs/<name>``).
        description: one line shown in reports.
        dataset: ``"fashion-mnist"``, ``"mnist"``, or ``"auto"``: Fashion-MNIST when it is
            present, else MNIST (see ``mixprec.experiments.runner.resolve_dataset``).
        data_dir: a directory holding the IDX files, or ``None`` to search the usual places.
        model: ``"book"`` (784-128-32-10, no output bias) or layer sizes ``"784-256-10"``.
        train: policy presets to train with (``mixprec.nn.Policy.presets()``).
        serve: serve configurations, each a policy preset (``"bf16"``), a format name
            (``"fp8_e4m3"``), a MAC override (``"int8->int16:wrap"``) or a post-training
            quantization scheme (``"ptq:int8-per-channel"``); see ``mixprec.experiments.serve``.
        seeds: the seeds; each seeds the initialization and the shuffling of one model.
        training: the training settings (a ``mixprec.train.TrainConfig``; its ``seed`` is
            replaced by each cell's seed). In TOML and ``from_dict``/``replace`` its fields are
            top-level keys (``epochs = 10``); ``lr=None`` is the optimizer's default (0.05 for
            SGD), ``schedule`` is ``"cosine"`` (decay per epoch) or ``"constant"``.
        normalize: input normalization (``mixprec.data.load``).
        train_limit: train on the first ``train_limit`` training images only (``None``: all).
        test_limit: evaluate on the first ``test_limit`` test images only (``None``: all).
    """

    name: str = "sweep"
    description: str = ""
    dataset: str = "auto"
    data_dir: str | None = None
    model: str = "book"
    train: tuple[str, ...] = ("fp32",)
    serve: tuple[str, ...] = ("fp32",)
    seeds: tuple[int, ...] = (0,)
    training: TrainConfig = DEFAULT_TRAINING
    normalize: str = "standard"
    train_limit: int | None = None
    test_limit: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "train", _names("train", self.train))
        set_(self, "serve", _names("serve", self.serve))
        set_(self, "seeds", _seeds(self.seeds))
        if self.data_dir is not None:
            set_(self, "data_dir", str(self.data_dir))
        if self.dataset not in DATASETS:
            raise ValueError(
                f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}."
            )
        if not isinstance(self.training, TrainConfig):
            raise TypeError(
                f"training must be a TrainConfig, got {type(self.training).__name__}; or give "
                "its settings as keys of Sweep.from_dict"
            )
        if self.training.optimizer_name not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.training.optimizer_name!r}; choose one of "
                f"{', '.join(OPTIMIZERS)}."
            )
        _positive_int("epochs", self.training.epochs)
        for name in ("train_limit", "test_limit"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        if self.model != "book":
            _model_sizes(self.model)

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, values: dict[str, Any], name: str | None = None) -> Sweep:
        """A sweep from a mapping of field names (a parsed TOML file); the fields of
        ``TrainConfig`` but ``seed`` are keys of their own (``epochs``, ``lr``, ...).

        Raises:
            ValueError: an unknown key (the message lists the allowed ones) or a bad value.
        """
        allowed = _settings()
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown sweep setting(s) {', '.join(map(repr, unknown))}; the settings are "
                f"{', '.join(allowed)}."
            )
        values = dict(values)
        if name is not None:
            values.setdefault("name", name)
        training = {k: values.pop(k) for k in TRAINING_KEYS if k in values}
        return cls(**values, training=DEFAULT_TRAINING.replace(**training))

    @classmethod
    def from_toml(cls, path: str | Path) -> Sweep:
        """A sweep from a TOML file; its name defaults to the file's stem."""
        path = Path(path)
        try:
            return cls.from_dict(read_toml(path.read_text(encoding="utf-8")), name=path.stem)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    def replace(self, **changes: Any) -> Sweep:
        """A copy with some fields changed (``None`` values are ignored); training settings
        (``epochs=``, ``lr=``, ...) change ``training``.

        Raises:
            ValueError: an unknown setting (the message lists them) or a bad value.
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        unknown = sorted(set(changes) - set(_settings()) - {"training"})
        if unknown:
            raise ValueError(
                f"unknown sweep setting(s) {', '.join(map(repr, unknown))}; the settings are "
                f"{', '.join(_settings())}."
            )
        training = {k: changes.pop(k) for k in TRAINING_KEYS if k in changes}
        if training:
            changes["training"] = changes.get("training", self.training).replace(**training)
        return dataclasses.replace(self, **changes)

    # -- the grid ------------------------------------------------------------------------------

    def inputs(self) -> dict[str, Any]:
        """The settings that determine a result, besides (train, serve, seed).

        ``lr`` is resolved, so ``lr=None`` and the default it stands for give the same keys. The
        schedule is left out when it is ``"constant"``, the only schedule before there was a
        choice: results stored then keep their keys.
        """
        training = self.training
        inputs = {
            "dataset": self.dataset,
            "model": self.model,
            "epochs": training.epochs,
            "batch_size": training.batch_size,
            "optimizer": training.optimizer_name,
            "lr": training.resolved_lr,
            "momentum": training.momentum,
            "normalize": self.normalize,
            "train_limit": self.train_limit,
            "test_limit": self.test_limit,
        }
        if training.schedule is not Schedule.CONSTANT:
            inputs["schedule"] = training.schedule.value
        return inputs

    def key(self, train: str, serve: str, seed: int) -> str:
        """The store key of one record: a hash of ``inputs()`` and (train, serve, seed)."""
        return record_key({**self.inputs(), "train": train, "serve": serve, "seed": seed})

    def model_key(self, train: str, seed: int) -> str:
        """The key of a trained model: a hash of ``inputs()``, ``train`` and ``seed``."""
        return record_key({**self.inputs(), "train": train, "seed": seed})

    def grid(self) -> list[tuple[str, str, int]]:
        """Every (train, serve, seed), seed by seed, in the order of the definition."""
        return [(t, s, seed) for seed in self.seeds for t in self.train for s in self.serve]

    def cells(self, done: Iterable[str] = ()) -> list[Cell]:
        """The models to train, each with the serve configurations whose key is not in ``done``.

        Cells with nothing left to serve are left out, so a finished sweep has no cells.
        """
        done = set(done)
        cells = []
        for seed in self.seeds:
            for train in self.train:
                todo = tuple(s for s in self.serve if self.key(train, s, seed) not in done)
                if todo:
                    cells.append(Cell(sweep=self, train=train, seed=seed, serve=todo))
        return cells

    @property
    def sizes(self) -> tuple[int, ...]:
        """The model's layer sizes."""
        return (784, 128, 32, 10) if self.model == "book" else _model_sizes(self.model)

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-able values (tuples become lists), the training settings
        as keys of their own: ``Sweep.from_dict(sweep.as_dict()) == sweep``."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "training":
                training = self.training.as_dict()
                values.update({k: training[k] for k in TRAINING_KEYS})
            else:
                value = getattr(self, f.name)
                values[f.name] = list(value) if isinstance(value, tuple) else value
        return values


@dataclass(frozen=True)
class Cell:
    """One model to train (``train`` policy, ``seed``) and the ``serve`` configurations to run.

    ``trained`` carries the model when an earlier run already trained it: the cell then only
    serves it.
    """

    sweep: Sweep
    train: str
    seed: int
    serve: tuple[str, ...] = field(default=())
    trained: TrainedModel | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"{self.train} seed {self.seed}"


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A cell's trained parameters and how its training went (plain arrays: picklable).

    Attributes:
        weights, biases: the model's float32 arrays (``None`` for a layer without bias).
        training: the training summary put in every record (final loss, steps, ...).
        train_time: seconds the training took.
    """

    weights: tuple[Any, ...]
    biases: tuple[Any, ...]
    training: dict[str, Any]
    train_time: float


@dataclass(eq=False)
class CellOutput:
    """What a cell function returns: one record per serve entry, and the trained model."""

    records: list[dict[str, Any]]
    trained: TrainedModel | None = None


# -- named experiments and TOML ----------------------------------------------------------------


def list_experiments() -> list[str]:
    """The names of the experiments shipped with the package (``mixprec/experiments/*.toml``)."""
    files = importlib.resources.files("mixprec.experiments")
    return sorted(p.name[: -len(".toml")] for p in files.iterdir() if p.name.endswith(".toml"))


def load_experiment(name: str | Path) -> Sweep:
    """A shipped experiment by name (``"book"``), or a sweep from a TOML file path.

    Raises:
        ValueError: neither a shipped experiment nor an existing ``.toml`` file; the message
            lists the shipped experiments.
    """
    text = str(name)
    if text in list_experiments():
        resource = importlib.resources.files("mixprec.experiments") / f"{text}.toml"
        try:
            return Sweep.from_dict(read_toml(resource.read_text(encoding="utf-8")), name=text)
        except ValueError as error:
            raise ValueError(f"experiment {text!r}: {error}") from None
    path = Path(text)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ValueError(f"no sweep file {path}; give an existing .toml file.")
        return Sweep.from_toml(path)
    raise ValueError(
        f"unknown experiment {text!r}; the shipped experiments are "
        f"{', '.join(list_experiments())}, or give the path of a .toml file."
    )


def read_toml(text: str) -> dict[str, Any]:
    """Parse TOML with ``tomllib`` (Python 3.11+) or the ``tomli`` package.

    Raises:
        ImportError: Python 3.10 without ``tomli`` (``pip install tomli``).
        ValueError: invalid TOML.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        try:
            import tomli as tomllib
        except ImportError:
            raise ImportError(
                "reading sweep files on Python 3.10 needs the tomli package: pip install tomli"
            ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"invalid TOML: {error}") from None


#: The training settings a sweep file sets (each cell's seed replaces ``TrainConfig.seed``).
TRAINING_KEYS = tuple(name for name in TrainConfig.fields() if name != "seed")


def _settings() -> list[str]:
    """The keys of a sweep file: the fields of ``Sweep`` with ``training`` spelled out."""
    names = [f.name for f in dataclasses.fields(Sweep) if f.name != "training"]
    return names + list(TRAINING_KEYS)


# -- checks ------------------------------------------------------------------------------------


def _names(role: str, values: str | Sequence[str]) -> tuple[str, ...]:
    """Entries of ``train``/``serve``: a comma-separated string or a list, stripped, distinct."""
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, Sequence) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{role} must be a list of names, got {values!r}.")
    names = tuple(v.strip() for v in values if v.strip())
    if not names:
        raise ValueError(f"{role} is empty; give at least one name.")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{role} lists {', '.join(map(repr, repeated))} more than once.")
    return names


def _seeds(value: int | Sequence[int]) -> tuple[int, ...]:
    """``seeds``: a count n (seeds 0..n-1) or a list of distinct non-negative ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        _positive_int("seeds", value)
        return tuple(range(value))
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"seeds must be a count or a list of ints, got {value!r}.")
    seeds = tuple(value)
    if not seeds or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds
    ):
        raise ValueError(f"seeds must be a non-empty list of non-negative ints, got {value!r}.")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds lists a seed more than once: {list(seeds)}.")
    return seeds


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _model_sizes(model: str) -> tuple[int, ...]:
    """``"784-128-32-10"`` -> (784, 128, 32, 10)."""
    try:
        sizes = tuple(int(part) for part in str(model).split("-"))
    except ValueError:
        sizes = ()
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(
            f"unknown model {model!r}; use 'book' (784-128-32-10) or layer sizes such as "
            "'784-256-10'."
        )
    return sizes
