"""The training flags of ``mixprec train`` and ``mixprec sweep``, derived from ``TrainConfig``.

Each field of :class:`~mixprec.train.TrainConfig` is one flag (``batch_size`` is
``--batch-size``) with the help of :data:`~mixprec.train.config.HELP`; a flag left out leaves the
setting to the config it changes (``TrainConfig()``, or the experiment's).
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
from collections.abc import Collection
from typing import Any

from mixprec.train import TrainConfig
from mixprec.train.config import HELP

__all__ = ["add_training_arguments", "training_settings"]


def add_training_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    defaults: str,
    skip: Collection[str] = (),
) -> None:
    """Add one flag per ``TrainConfig`` field (but those in ``skip``) to ``parser``.

    Args:
        parser: the parser or argument group.
        defaults: appended to each help, saying where an unset flag's value comes from.
        skip: fields without a flag.
    """
    for field in dataclasses.fields(TrainConfig):
        if field.name in skip:
            continue
        default = field.default
        options: dict[str, Any] = {"help": f"{HELP[field.name]} (default: {defaults})"}
        if isinstance(default, enum.Enum):
            options["choices"] = [member.value for member in type(default)]
        else:
            options["type"] = float if default is None else type(default)
        parser.add_argument("--" + field.name.replace("_", "-"), **options)


def training_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings given on the command line (the flags that were set)."""
    names = (field.name for field in dataclasses.fields(TrainConfig))
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
