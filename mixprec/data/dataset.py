"""Load a dataset as normalized float32 splits: ``load`` returns a ``Dataset`` of ``Split``s."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mixprec._util.choice import as_choice
from mixprec._util.errors import reject_masked
from mixprec.data.catalog import SPLIT_FILES, DatasetInfo, dataset_info
from mixprec.data.checksums import check_files
from mixprec.data.download import download as download_files
from mixprec.data.idx import read_idx
from mixprec.data.locate import DataNotFoundError, dataset_files, find, how_to_get

__all__ = ["Dataset", "Normalization", "Split", "load"]

_BLOCK = 4096  # rows normalized at a time by the "book" method (bounds the float64 scratch)


class Normalization(str, enum.Enum):
    """How pixels (uint8, 0..255) become model inputs, with ``x`` = pixel / 255 in [0, 1].

    - ``"standard"`` (default): ``(x - mean) / std`` with ``mean`` and ``std`` one number each,
      the mean and standard deviation of every pixel of every training image (validation
      examples excluded). The training images then have mean 0 and standard deviation 1 as a
      whole. ``std`` is taken as 1 if all training pixels are equal.
    - ``"unit"``: ``x`` alone.
    - ``"book"``: each image on its own, ``(x - x.mean()) / norm(x - x.mean())``: mean 0 and
      L2 norm 1, the book's "zero mean and unit norm". A constant image becomes all zeros.

    Each value is computed in float64 and rounded once to float32.
    """

    STANDARD = "standard"
    UNIT = "unit"
    BOOK = "book"


@dataclass(frozen=True, eq=False)
class Split:
    """Examples of one split: ``images`` float32 (n, features), C-contiguous; ``labels`` int64.

    ``len(split)`` is n; ``split[i]``, ``split[a:b]``, ``split[index_array]`` and
    ``split[boolean_mask]`` return a ``Split`` (an int gives a ``Split`` of one example).
    """

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        reject_masked(self.images, "images")
        reject_masked(self.labels, "labels")
        images = np.ascontiguousarray(self.images, dtype=np.float32)
        labels = np.ascontiguousarray(self.labels, dtype=np.int64)
        if images.ndim != 2 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"a Split needs images of shape (n, features) and labels of shape (n,); got "
                f"{images.shape} and {labels.shape}. Flatten the images with "
                "images.reshape(len(images), -1)."
            )
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: Any) -> Split:
        if isinstance(index, (int, np.integer)):
            index = np.array([index])
        return Split(self.images[index], self.labels[index])

    def __repr__(self) -> str:
        return f"Split(n={len(self)}, features={self.images.shape[1]})"


@dataclass(frozen=True, eq=False, kw_only=True)
class Dataset:
    """A loaded dataset.

    Attributes:
        name: canonical dataset name (``"fashion-mnist"``).
        train: the training split (without the validation examples).
        test: the test split.
        validation: examples held out of the training file, or ``None``.
        classes: class names, indexed by label.
        source: the directory the files were read from.
        mean: the constant subtracted from pixel/255 (the training mean for ``"standard"``,
            0.0 otherwise).
        std: the constant then divided by (the training standard deviation for
            ``"standard"``, 1.0 otherwise).
        normalize: the normalization applied.
        image_shape: (rows, columns) of an image; ``images`` hold them flattened row by row.
    """

    name: str
    train: Split
    test: Split
    validation: Split | None
    classes: tuple[str, ...]
    source: Path
    mean: float
    std: float
    normalize: Normalization
    image_shape: tuple[int, int]


def _read_split(files: dict[str, Path], split: str, info: DatasetInfo) -> tuple[np.ndarray, ...]:
    """The uint8 images (n, rows, cols) and labels (n,) of one split, checked against each other."""
    images_path, labels_path = (files[stem] for stem in SPLIT_FILES[split])
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (n, rows, cols), got {images.dtype} "
            f"of shape {images.shape}. Check that the file is an images file (idx3-ubyte)."
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{labels_path}: expected uint8 labels of shape (n,), got {labels.dtype} of shape "
            f"{labels.shape}. Check that the file is a labels file (idx1-ubyte)."
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{split} split: {len(images)} images in {images_path} but {len(labels)} labels in "
            f"{labels_path}; the counts must match. One of the files belongs to another "
            "dataset or is damaged."
        )
    if len(labels) and labels.max() >= len(info.classes):
        raise ValueError(
            f"{labels_path}: label {int(labels.max())} out of range for {info.name}, whose "
            f"{len(info.classes)} classes have labels 0..{len(info.classes) - 1}."
        )
    return images, labels


def _validation_count(validation: int | float, n_train: int) -> int:
    """The number of held-out examples: an int count or a fraction in (0, 1)."""
    if isinstance(validation, bool) or not isinstance(validation, (int, float, np.number)):
        raise TypeError(f"validation must be an int count or a float fraction, got {validation!r}.")
    count = round(validation * n_train) if 0 < validation < 1 else validation
    if count != int(count) or not 0 <= count < n_train:
        raise ValueError(
            f"validation={validation!r} is not a count in 0..{n_train - 1} or a fraction in "
            f"(0, 1) of the {n_train} training examples."
        )
    return int(count)


def _normalize(pixels: np.ndarray, method: Normalization, mean: float, std: float) -> np.ndarray:
    """Pixels (n, features) uint8 -> float32 inputs; see ``load`` for the formulas."""
    if method is not Normalization.BOOK:
        table = ((np.arange(256) / 255.0 - mean) / std).astype(np.float32)
        return table[pixels]
    out = np.empty(pixels.shape, dtype=np.float32)
    for start in range(0, len(pixels), _BLOCK):
        block = pixels[start : start + _BLOCK].astype(np.float64)
        block -= block.mean(axis=1, keepdims=True)
        norms = np.sqrt(np.einsum("ij,ij->i", block, block))
        block /= np.where(norms > 0, norms, 1.0)[:, None]
        out[start : start + _BLOCK] = block
    return out


def _pixel_moments(pixels: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of pixel/255 over all pixels, exactly, via a histogram."""
    counts = np.bincount(pixels.ravel(), minlength=256).astype(np.float64)
    values = np.arange(256) / 255.0
    total = counts.sum()
    if total == 0:
        return 0.0, 1.0
    mean = float(counts @ values / total)
    std = float(np.sqrt(counts @ (values - mean) ** 2 / total))
    return mean, std if std > 0 else 1.0


def _read_files(
    info: DatasetInfo, data_dir: str | os.PathLike[str] | None, download: bool
) -> tuple[Path, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The directory of the dataset's files (downloaded if allowed) and its two splits."""
    directory = find(info.name, data_dir)
    if directory is None:
        if data_dir is not None or not download:
            raise DataNotFoundError(how_to_get(info.name, data_dir))
        directory = download_files(info.name)
    files = dataset_files(directory)
    if files is None:  # removed between finding and reading
        raise DataNotFoundError(how_to_get(info.name, data_dir))
    check_files(info.name, files)
    train = _read_split(files, "train", info)
    test = _read_split(files, "test", info)
    if train[0].shape[1:] != test[0].shape[1:]:
        raise ValueError(
            f"{directory}: train images are {train[0].shape[1:]} but test images are "
            f"{test[0].shape[1:]}; both splits must have one image shape."
        )
    return Path(directory), train, test


def _holdout(
    n_train: int, n_validation: int, seed: int | np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and validation examples, each in the file's order."""
    if seed is None:
        return np.arange(n_train - n_validation), np.arange(n_train - n_validation, n_train)
    order = np.random.default_rng(seed).permutation(n_train)
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def load(
    name: str = "fashion-mnist",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    validation: int | float = 0,
    normalize: str | Normalization = "standard",
    seed: int | np.random.Generator | None = 0,
) -> Dataset:
    """Load MNIST or Fashion-MNIST as normalized float32 splits.

    The files are found as ``find`` does (``data_dir`` alone when given; else
    ``$MIXPREC_DATA``, the cache, Debian's package). When they are nowhere, ``data_dir`` is not
    given and ``download`` is true, they are downloaded into the cache first.

    Normalization: see :class:`Normalization`.

    Args:
        name: ``"fashion-mnist"`` (or ``"fashion_mnist"``) or ``"mnist"``.
        data_dir: a directory holding the four IDX files (or a subdirectory named after the
            dataset that does); when given, nothing else is searched and nothing is downloaded.
        download: download into the cache when the data is not found.
        validation: training examples to hold out, as a count or a fraction in (0, 1).
        normalize: ``"standard"``, ``"unit"`` or ``"book"`` (or a ``Normalization``).
        seed: with ``None`` the validation examples are the last ones of the training file;
            otherwise a permutation seeded by it (an int or a ``numpy.random.Generator``)
            picks them. Both splits keep the file's order.

    Returns:
        A ``Dataset``; its ``images`` are float32 (n, rows * cols), its labels int64.

    Raises:
        ValueError: unknown name or normalization, bad validation count, an invalid file
            (the message names the file), or files that are another dataset's: files are
            recognised by their SHA-256 (``mixprec.data.checksums``), so Fashion-MNIST's files
            are refused as ``"mnist"``; files matching no known sum load under the name given.
        PermissionError: a file cannot be read (the message names it).
        DataNotFoundError: (a ``FileNotFoundError``) the data is not found and cannot be
            downloaded; the message says how to get it.

    Example:
        >>> import tempfile
        >>> from mixprec.data import make_synthetic
        >>> data = load(data_dir=make_synthetic(tempfile.mkdtemp()), validation=100)
        >>> len(data.train), len(data.validation), len(data.test), data.train.images.shape[1]
        (500, 100, 200, 784)
    """
    info = dataset_info(name)
    method = as_choice(Normalization, normalize, "normalization")
    directory, (train_images, train_labels), (test_images, test_labels) = _read_files(
        info, data_dir, download
    )
    n_train = len(train_labels)
    n_validation = _validation_count(validation, n_train)
    train_index, validation_index = _holdout(n_train, n_validation, seed)
    train_pixels = train_images.reshape(n_train, -1)
    if n_validation:
        validation_pixels = train_pixels[validation_index]
        train_pixels = train_pixels[train_index]
    mean, std = _pixel_moments(train_pixels) if method is Normalization.STANDARD else (0.0, 1.0)

    def split(pixels: np.ndarray, labels: np.ndarray) -> Split:
        return Split(_normalize(pixels, method, mean, std), labels.astype(np.int64))

    return Dataset(
        name=info.name,
        train=split(train_pixels, train_labels[train_index]),
        test=split(test_images.reshape(len(test_images), -1), test_labels),
        validation=(
            split(validation_pixels, train_labels[validation_index]) if n_validation else None
        ),
        classes=info.classes,
        source=Path(directory),
        mean=mean,
        std=std,
        normalize=method,
        image_shape=(int(train_images.shape[1]), int(train_images.shape[2])),
    )
