"""Loading: splits, normalization, validation hold-out, synthetic data, the real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mixprec.data import (
    DEBIAN_DIRS,
    Dataset,
    Normalization,
    Split,
    find,
    load,
    make_synthetic,
    read_idx,
    write_idx,
)

#: where Debian's dataset-fashion-mnist puts the files (read before any fixture hides it).
REAL_FASHION_DIR = DEBIAN_DIRS["fashion-mnist"]


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    return make_synthetic(tmp_path / "synthetic", n_train=300, n_test=100, seed=3)


def train_pixels(directory: Path) -> np.ndarray:
    """The raw training pixels, (n, features) uint8."""
    images = read_idx(directory / "train-images-idx3-ubyte.gz")
    return images.reshape(len(images), -1)


def test_shapes_and_types(synthetic: Path) -> None:
    data = load("fashion-mnist", data_dir=synthetic)
    assert isinstance(data, Dataset)
    assert data.name == "fashion-mnist" and data.classes[9] == "Ankle boot"
    assert (len(data.train), len(data.test), data.validation) == (300, 100, None)
    for split in (data.train, data.test):
        assert split.images.dtype == np.float32 and split.images.shape[1] == 784
        assert split.images.flags.c_contiguous
        assert split.labels.dtype == np.int64 and split.labels.shape == (len(split),)
    assert data.image_shape == (28, 28)
    assert load("mnist", data_dir=synthetic).classes == tuple("0123456789")


def test_labels_match_the_file(synthetic: Path) -> None:
    data = load(data_dir=synthetic)
    expected = read_idx(synthetic / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(data.test.labels, expected)


def test_standard_normalization(synthetic: Path) -> None:
    data = load(data_dir=synthetic, normalize="standard")
    x = data.train.images.astype(np.float64)
    assert abs(x.mean()) < 1e-6 and abs(x.std() - 1) < 1e-6
    pixels = train_pixels(synthetic) / 255.0
    assert data.mean == pytest.approx(pixels.mean(), rel=1e-12)
    assert data.std == pytest.approx(pixels.std(), rel=1e-12)
    assert data.normalize is Normalization.STANDARD and data.normalize == "standard"
    test_pixels = read_idx(synthetic / "t10k-images-idx3-ubyte.gz").reshape(100, -1) / 255.0
    np.testing.assert_allclose(
        data.test.images, (test_pixels - data.mean) / data.std, rtol=1e-6, atol=1e-6
    )


def test_unit_normalization(synthetic: Path) -> None:
    data = load(data_dir=synthetic, normalize=Normalization.UNIT)
    np.testing.assert_array_equal(
        data.train.images, (train_pixels(synthetic) / np.float32(255)).astype(np.float32)
    )
    assert (data.mean, data.std) == (0.0, 1.0)


def test_book_normalization(synthetic: Path) -> None:
    data = load(data_dir=synthetic, normalize="book")
    for split in (data.train, data.test):
        x = split.images.astype(np.float64)
        np.testing.assert_allclose(x.mean(axis=1), 0, atol=1e-7)
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, rtol=1e-6)


def test_book_normalization_of_a_constant_image_is_zero(tmp_path: Path) -> None:
    make_synthetic(tmp_path, n_train=4, n_test=2)
    images = read_idx(tmp_path / "t10k-images-idx3-ubyte.gz")
    images[0] = 7
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    data = load(data_dir=tmp_path, normalize="book")
    np.testing.assert_array_equal(data.test.images[0], 0)
    assert np.linalg.norm(data.test.images[1]) == pytest.approx(1, rel=1e-6)


def test_unknown_normalization_lists_choices(synthetic: Path) -> None:
    with pytest.raises(ValueError, match="allowed: 'standard', 'unit', 'book'"):
        load(data_dir=synthetic, normalize="minmax")


def test_split_indexing(synthetic: Path) -> None:
    train = load(data_dir=synthetic).train
    head = train[:100]
    assert isinstance(head, Split) and len(head) == 100
    np.testing.assert_array_equal(head.images, train.images[:100])
    picked = train[np.array([5, 0, 5])]
    np.testing.assert_array_equal(picked.labels, train.labels[[5, 0, 5]])
    mask = train.labels == 3
    assert len(train[mask]) == mask.sum() == 30
    one = train[-1]
    assert isinstance(one, Split) and one.images.shape == (1, 784)
    np.testing.assert_array_equal(one.images[0], train.images[-1])
    strided = train[::7]
    assert strided.images.flags.c_contiguous and len(strided) == 43
    with pytest.raises(IndexError):
        train[300]
    assert repr(train) == "Split(n=300, features=784)"


def test_split_checks_its_arrays() -> None:
    split = Split(np.zeros((3, 4), dtype=np.float64), np.array([0, 1, 2], dtype=np.uint8))
    assert split.images.dtype == np.float32 and split.labels.dtype == np.int64
    with pytest.raises(ValueError, match=r"got \(3, 2, 2\) and \(3,\).*reshape"):
        Split(np.zeros((3, 2, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="labels of shape"):
        Split(np.zeros((3, 4)), np.zeros(2))


def row_ids(directory: Path) -> dict[bytes, int]:
    """Training row (as bytes of its pixels) -> its index in the file; rows are unique."""
    ids = {row.tobytes(): i for i, row in enumerate(train_pixels(directory))}
    assert len(ids) == 300
    return ids


def indices_of(split: Split, ids: dict[bytes, int]) -> list[int]:
    pixels = np.rint(split.images * 255).astype(np.uint8)
    return [ids[row.tobytes()] for row in pixels]


@pytest.mark.parametrize("validation", [60, 0.2])
def test_validation_is_disjoint_from_train(synthetic: Path, validation: float) -> None:
    data = load(data_dir=synthetic, validation=validation, normalize="unit", seed=1)
    assert data.validation is not None and len(data.validation) == 60
    ids = row_ids(synthetic)
    train, held = indices_of(data.train, ids), indices_of(data.validation, ids)
    assert set(train).isdisjoint(held) and sorted(train + held) == list(range(300))
    assert train == sorted(train) and held == sorted(held)  # the file's order is kept
    assert held != list(range(240, 300))  # a permutation, not the tail
    labels = read_idx(synthetic / "train-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(data.validation.labels, labels[held])


def test_validation_from_the_end_without_seed(synthetic: Path) -> None:
    data = load(data_dir=synthetic, validation=50, normalize="unit", seed=None)
    assert data.validation is not None
    assert indices_of(data.validation, row_ids(synthetic)) == list(range(250, 300))


def test_validation_split_is_seeded(synthetic: Path) -> None:
    a, b, c = (load(data_dir=synthetic, validation=30, seed=s) for s in (4, 4, 5))
    assert a.validation is not None and b.validation is not None and c.validation is not None
    np.testing.assert_array_equal(a.validation.images, b.validation.images)
    assert not np.array_equal(a.validation.images, c.validation.images)
    rng = np.random.default_rng(4)
    d = load(data_dir=synthetic, validation=30, seed=rng)
    assert d.validation is not None
    np.testing.assert_array_equal(a.validation.images, d.validation.images)


def test_normalization_constants_come_from_train_only(synthetic: Path) -> None:
    data = load(data_dir=synthetic, validation=100, normalize="unit", seed=None)
    standard = load(data_dir=synthetic, validation=100, seed=None)
    assert standard.mean == pytest.approx(data.train.images.astype(np.float64).mean())
    assert standard.mean != pytest.approx(train_pixels(synthetic).mean() / 255, rel=1e-9)


@pytest.mark.parametrize(
    ("validation", "error"),
    [(-1, ValueError), (300, ValueError), (1.5, ValueError), (True, TypeError), ("5", TypeError)],
)
def test_bad_validation(synthetic: Path, validation: object, error: type) -> None:
    with pytest.raises(error, match="validation"):
        load(data_dir=synthetic, validation=validation)  # type: ignore[arg-type]


def test_label_count_mismatch(synthetic: Path) -> None:
    labels = read_idx(synthetic / "train-labels-idx1-ubyte.gz")
    write_idx(synthetic / "train-labels-idx1-ubyte.gz", labels[:-1])
    with pytest.raises(ValueError, match="train split: 300 images in .* but 299 labels in"):
        load(data_dir=synthetic)


def test_label_out_of_range(synthetic: Path) -> None:
    labels = read_idx(synthetic / "t10k-labels-idx1-ubyte.gz")
    labels[3] = 10
    write_idx(synthetic / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: label 10 out of range"):
        load(data_dir=synthetic)


def test_images_and_labels_files_swapped(synthetic: Path) -> None:
    images = synthetic / "train-images-idx3-ubyte.gz"
    labels = synthetic / "train-labels-idx1-ubyte.gz"
    data, other = images.read_bytes(), labels.read_bytes()
    images.write_bytes(other)
    labels.write_bytes(data)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz: expected uint8 images"):
        load(data_dir=synthetic)


def test_synthetic_is_reproducible(tmp_path: Path) -> None:
    make_synthetic(tmp_path / "a", seed=7)
    make_synthetic(tmp_path / "b", seed=7)
    make_synthetic(tmp_path / "c", seed=8)
    for path in (tmp_path / "a").iterdir():
        assert (tmp_path / "b" / path.name).read_bytes() == path.read_bytes()
    name = "train-images-idx3-ubyte.gz"
    assert (tmp_path / "c" / name).read_bytes() != (tmp_path / "a" / name).read_bytes()


def test_synthetic_options(tmp_path: Path) -> None:
    directory = make_synthetic(
        tmp_path, n_train=40, n_test=8, image_shape=(8, 6), classes=4, compress=False
    )
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ]
    )
    data = load("mnist", data_dir=directory)
    assert data.train.images.shape == (40, 48) and data.image_shape == (8, 6)
    assert np.bincount(data.train.labels).tolist() == [10, 10, 10, 10]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"classes": 1}, "classes=1 is out of range"), ({"classes": 11}, "classes=11 is out"),
     ({"n_train": 0}, "n_train=0 and n_test"), ({"image_shape": (0, 5)}, r"image_shape=\(0, 5\)")],
)  # fmt: skip
def test_synthetic_rejects_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_synthetic(tmp_path, **kwargs)


def test_synthetic_is_learnable(tmp_path: Path) -> None:
    """Softmax regression, 30 full-batch steps, reaches over 90 % on the synthetic test set."""
    data = load(data_dir=make_synthetic(tmp_path), normalize="standard")
    x, y = data.train.images.astype(np.float64), data.train.labels
    weights = np.zeros((x.shape[1], 10))
    for _ in range(30):
        logits = x @ weights
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(y)), y] -= 1
        weights -= 0.01 * x.T @ p / len(y)
    accuracy = np.mean((data.test.images @ weights).argmax(axis=1) == data.test.labels)
    assert accuracy > 0.9


def test_real_fashion_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Debian package's Fashion-MNIST loads whole (skipped when it is not installed)."""
    monkeypatch.setitem(DEBIAN_DIRS, "fashion-mnist", REAL_FASHION_DIR)
    if find("fashion-mnist") is None:
        pytest.skip("Fashion-MNIST absent: apt-get install -y dataset-fashion-mnist")
    data = load("fashion-mnist", download=False)
    assert (len(data.train), len(data.test)) == (60000, 10000)
    assert data.train.images.shape == (60000, 784) and data.image_shape == (28, 28)
    assert np.bincount(data.train.labels).tolist() == [6000] * 10
    assert np.bincount(data.test.labels).tolist() == [1000] * 10
    assert data.mean == pytest.approx(0.2860, abs=1e-4)
    assert data.std == pytest.approx(0.3530, abs=1e-4)
