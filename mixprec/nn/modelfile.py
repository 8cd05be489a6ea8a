"""Model files: ``save`` and ``load`` in ``.npz`` (no pickle), atomic, checked on load.

A file holds plain arrays only (``numpy.load(path, allow_pickle=False)`` reads it):

==================  =============================================================================
``format_version``  int64 scalar, :data:`FORMAT_VERSION`
``kind``            str scalar: ``"mlp"`` (other kinds, e.g. ``"quantized-mlp"``, are read and
                    written by the package that defines them: ``mixprec.quant.load``)
``metadata``        str array of one element: a JSON object (``policy``, ``history``, anything
                    the caller adds, and ``mixprec_version``)
``sizes``           int64 ``(layers + 1,)`` (kind ``mlp``)
``output_bias``     bool scalar (kind ``mlp``)
``weight_<i>``      float32 ``(sizes[i], sizes[i + 1])``, i = 0, 1, ... (kind ``mlp``)
``bias_<i>``        float32 ``(sizes[i + 1],)`` for the layers that have one (kind ``mlp``)
==================  =============================================================================

``save`` writes a temporary file in the target's directory, flushes and fsyncs it, then renames
it over the target (``os.replace``): a reader never sees a half-written file, and a crash leaves
the previous file intact.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from mixprec._util.files import atomic_write
from mixprec._util.version import __version__
from mixprec.nn.layered import LayerPolicy, parse_policy
from mixprec.nn.model import MLP
from mixprec.nn.policy import Policy

__all__ = ["FORMAT_VERSION", "KINDS", "FileKind", "load", "load_any", "read_metadata", "save"]

FORMAT_VERSION = 1


class FileKind(NamedTuple):
    """How one kind of model is written and read.

    Attributes:
        cls: the class ``save`` recognizes (exact type match first, then ``isinstance``).
        writer: ``writer(model) -> {name: array}`` (no ``format_version``/``kind``/``metadata``).
        reader: ``reader(arrays, path) -> model``; raises ``ValueError`` on a bad file.
    """

    cls: type
    writer: Callable[[Any], dict[str, np.ndarray]]
    reader: Callable[[dict[str, np.ndarray], str], Any]


def _mlp_arrays(model: MLP) -> dict[str, np.ndarray]:
    model.check()
    arrays = {
        "sizes": np.array(model.sizes, np.int64),
        "output_bias": np.array(model.output_bias),
    }
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        arrays[f"weight_{i}"] = np.asarray(w, np.float32)
        if b is not None:
            arrays[f"bias_{i}"] = np.asarray(b, np.float32)
    return arrays


def _mlp_from_arrays(arrays: dict[str, np.ndarray], path: str) -> MLP:
    sizes = _field(arrays, "sizes", path)
    if sizes.ndim != 1 or sizes.dtype.kind not in "iu" or len(sizes) < 2 or sizes.min() < 1:
        raise ValueError(f"{path}: 'sizes' must be >= 2 positive integers, got {sizes!r}")
    output_bias = bool(_field(arrays, "output_bias", path))
    n_layers = len(sizes) - 1
    weights, biases = [], []
    for i in range(n_layers):
        expected = (int(sizes[i]), int(sizes[i + 1]))
        weights.append(_array(arrays, f"weight_{i}", expected, path))
        has_bias = i < n_layers - 1 or output_bias
        biases.append(_array(arrays, f"bias_{i}", expected[1:], path) if has_bias else None)
        if not has_bias and f"bias_{i}" in arrays:
            raise ValueError(f"{path}: unexpected 'bias_{i}' (output_bias is false)")
    return MLP.from_arrays(weights, biases)


#: The kinds this module reads and writes (plain data; ``mixprec.quant.modelfile.KINDS`` adds
#: the quantized one).
KINDS: Mapping[str, FileKind] = {"mlp": FileKind(MLP, _mlp_arrays, _mlp_from_arrays)}


def _field(arrays: dict[str, np.ndarray], name: str, path: str) -> np.ndarray:
    if name not in arrays:
        raise ValueError(f"{path}: not a mixprec model file: the field {name!r} is missing")
    return arrays[name]


def _array(
    arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...], path: str
) -> np.ndarray:
    value = _field(arrays, name, path)
    if value.shape != shape or value.dtype != np.float32:
        raise ValueError(
            f"{path}: {name!r} is {value.dtype} {value.shape}, expected float32 {shape}; the file "
            "does not match its 'sizes' (damaged or written by other software)"
        )
    return value


class _Recorded(Protocol):
    """What ``save`` takes as a history: a ``mixprec.train.History`` or alike."""

    def as_dict(self) -> dict[str, Any]: ...


def save(
    model: object,
    path: str | os.PathLike[str],
    policy: Policy | LayerPolicy | str | None = None,
    history: _Recorded | dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    kinds: Mapping[str, FileKind] = KINDS,
) -> Path:
    """Write ``model`` to ``path`` (an ``.npz``), atomically.

    Args:
        model: an ``MLP`` (or a model of another of ``kinds``).
        path: the file to write (replaced if it exists; its directory must exist).
        policy: the policy the model was trained under, a ``Policy``, a preset or a policy per
            layer (stored as its fields and ``str``).
        history: a ``History`` (or anything with ``as_dict()``, or a JSON-ready dict).
        metadata: more JSON-ready entries.
        kinds: the kinds of model known (``mixprec.quant.save`` passes the quantized one too).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        TypeError: a model of no known kind, or metadata that JSON cannot encode.
        FileNotFoundError: the directory does not exist.
    """
    path = Path(path)
    exact = [k for k, entry in kinds.items() if type(model) is entry.cls]
    matches = exact or [k for k, entry in kinds.items() if isinstance(model, entry.cls)]
    if not matches:
        raise TypeError(
            f"cannot save a {type(model).__name__}; known kinds: {', '.join(kinds)} (quantized "
            "models save with mixprec.quant.save)"
        )
    kind = matches[0]
    writer = kinds[kind].writer
    meta: dict[str, Any] = {**getattr(model, "metadata", {}), **(metadata or {})}
    meta["mixprec_version"] = __version__
    if policy is not None:
        p = parse_policy(policy)
        meta["policy"] = str(p)
        if isinstance(p, LayerPolicy):  # its string is its whole definition
            meta["policy_fields"] = {"base": p.base, "overrides": p.overrides}
        else:
            meta["policy_fields"] = p.as_dict()
    if history is not None:
        meta["history"] = history if isinstance(history, dict) else history.as_dict()
    arrays = writer(model)
    arrays["format_version"] = np.array(FORMAT_VERSION, np.int64)
    arrays["kind"] = np.array(kind)
    arrays["metadata"] = np.array([json.dumps(meta, allow_nan=True)])
    return atomic_write(path, lambda stream: np.savez(stream, **arrays))  # type: ignore[arg-type]


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, or ``ValueError`` saying why it is not readable."""
    try:
        with open(path, "rb") as stream:  # ours to close, even when numpy fails mid-way
            head = stream.read(6)
            stream.seek(0)
            if not head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
                raise ValueError(
                    f"{path}: not a readable mixprec model file (truncated or damaged?): not "
                    f"an .npz (zip) archive, it starts with {head!r}. Give a file written by "
                    "`mixprec train` or `mixprec quantize`."
                )
            npz = np.load(stream, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError(f"{path}: a single array (.npy), not a mixprec model file (.npz)")
            with npz:
                return {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        KeyError,
        ValueError,
        UnicodeDecodeError,
    ) as error:
        if isinstance(error, ValueError) and str(error).startswith(str(path)):
            raise
        raise ValueError(
            f"{path}: not a readable mixprec model file (truncated or damaged?): {error}"
        ) from error


def _header(arrays: dict[str, np.ndarray], path: str) -> tuple[str, dict[str, Any]]:
    version = _field(arrays, "format_version", path)
    if version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(f"{path}: 'format_version' must be an integer, got {version!r}")
    if int(version) > FORMAT_VERSION or int(version) < 1:
        raise ValueError(
            f"{path}: file format version {int(version)}; this mixprec reads versions 1 to "
            f"{FORMAT_VERSION}. Upgrade mixprec to read it."
        )
    kind = str(_field(arrays, "kind", path))
    raw = _field(arrays, "metadata", path)
    try:
        metadata = json.loads(str(raw.reshape(-1)[0]))
    except (ValueError, IndexError) as error:
        raise ValueError(f"{path}: 'metadata' is not a JSON string: {error}") from error
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: 'metadata' must be a JSON object")
    return kind, metadata


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of a model file (policy, history, ...), without building the model.

    Raises:
        ValueError: not a readable model file.
    """
    path = Path(path)
    return _header(_read_arrays(path), str(path))[1]


def load(path: str | os.PathLike[str]) -> MLP:
    """Read a float model written by :func:`save`; its metadata is in ``model.metadata``.

    Args:
        path: the ``.npz`` file.

    Returns:
        The ``MLP``, bit for bit as saved, with a ``metadata`` dict attribute (``policy``,
        ``history``, ``mixprec_version``, ...).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a truncated or damaged file, a newer format version, another kind of model
            (``mixprec.quant.load`` reads quantized ones), or arrays whose shapes do not match
            the stored sizes.
    """
    model = load_any(path, KINDS)
    if not isinstance(model, MLP):  # pragma: no cover - KINDS holds the MLP only
        raise TypeError(f"{path}: not an MLP but a {type(model).__name__}")
    return model


def load_any(path: str | os.PathLike[str], kinds: Mapping[str, FileKind]) -> object:
    """Read a model of any of ``kinds`` (see :func:`load`); ``mixprec.quant.load`` uses it.

    Raises:
        As :func:`load`.
    """
    path = Path(path)
    arrays = _read_arrays(path)
    kind, metadata = _header(arrays, str(path))
    if kind not in kinds:
        raise ValueError(
            f"{path}: unknown model kind {kind!r}; known: {', '.join(kinds)}. Quantized models "
            "('quantized-mlp') load with mixprec.quant.load"
        )
    model = kinds[kind].reader(arrays, str(path))
    model.metadata = metadata
    return model
