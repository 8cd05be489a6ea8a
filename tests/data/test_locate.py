"""Where datasets are found: explicit directory, $MIXPREC_DATA, the cache, Debian's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixprec.data import (
    DataNotFoundError,
    cache_dir,
    candidate_dirs,
    find,
    load,
    make_synthetic,
    resolve_name,
)
from mixprec.data.locate import dataset_files


@pytest.mark.parametrize(
    "spelling", ["fashion-mnist", "fashion_mnist", "Fashion-MNIST", " FASHION_MNIST "]
)
def test_fashion_mnist_spellings(spelling: str) -> None:
    assert resolve_name(spelling) == "fashion-mnist"


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="known datasets: 'mnist', 'fashion-mnist'") as error:
        find("fashoin-mnist")
    assert "Did you mean 'fashion-mnist'?" in str(error.value)
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        load("cifar10")


def test_cache_dir_follows_xdg_then_home(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_dir("fashion_mnist") == isolated / "cache" / "mixprec" / "fashion-mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir("mnist") == isolated / "home" / ".cache" / "mixprec" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as the XDG spec says
    assert cache_dir() == isolated / "home" / ".cache" / "mixprec"


@pytest.fixture
def everywhere(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Fashion-MNIST-like data in an explicit dir, $MIXPREC_DATA, the cache and Debian's dir."""
    places = {
        "explicit": isolated / "explicit",
        "env": isolated / "env" / "fashion-mnist",
        "cache": cache_dir("fashion-mnist"),
        "debian": isolated / "debian" / "fashion-mnist",
    }
    for n_train, place in enumerate(places.values(), start=10):
        make_synthetic(place, n_train=n_train, n_test=5)
    monkeypatch.setenv("MIXPREC_DATA", str(isolated / "env"))
    return places


def test_search_order(everywhere: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    assert find("fashion-mnist", data_dir=everywhere["explicit"]) == everywhere["explicit"]
    assert find("fashion-mnist") == everywhere["env"]
    monkeypatch.delenv("MIXPREC_DATA")
    assert find("fashion-mnist") == everywhere["cache"]
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (everywhere["cache"] / name).unlink()  # an incomplete directory does not count
    assert find("fashion-mnist") == everywhere["debian"]
    for stem_file in everywhere["debian"].iterdir():
        stem_file.unlink()
    assert find("fashion-mnist") is None


def test_load_reports_where_data_came_from(everywhere: dict[str, Path]) -> None:
    data = load("fashion-mnist", data_dir=everywhere["explicit"])
    assert (data.source, len(data.train)) == (everywhere["explicit"], 10)
    data = load("fashion-mnist")
    assert (data.source, len(data.train)) == (everywhere["env"], 11)


def test_explicit_dir_is_the_only_place_searched(
    everywhere: dict[str, Path], isolated: Path
) -> None:
    empty = isolated / "empty"
    empty.mkdir()
    assert find("fashion-mnist", data_dir=empty) is None
    with pytest.raises(DataNotFoundError, match="fashion-mnist not found") as error:
        load("fashion-mnist", data_dir=empty)  # and no download is tried
    message = str(error.value)
    assert f"looked in {empty / 'fashion-mnist'}, {empty / 'fashion_mnist'}, {empty})" in message
    assert f"mixprec data --download fashion-mnist --data-dir {empty}" in message
    assert "apt-get install -y dataset-fashion-mnist" in message


def test_debian_dir_only_for_fashion_mnist(everywhere: dict[str, Path]) -> None:
    assert [origin for origin, _ in candidate_dirs("mnist")] == ["$MIXPREC_DATA"] * 2 + ["cache"]
    assert candidate_dirs("fashion-mnist")[-1] == (
        "Debian package dataset-fashion-mnist",
        everywhere["debian"],
    )
    assert find("mnist") is None


@pytest.mark.parametrize("subdir", ["fashion-mnist", "fashion_mnist", ""])
def test_env_dir_directly_or_in_subdir(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, subdir: str
) -> None:
    make_synthetic(isolated / "env" / subdir, n_train=10, n_test=5)
    monkeypatch.setenv("MIXPREC_DATA", str(isolated / "env"))
    assert find("fashion-mnist") == isolated / "env" / subdir


def test_subdir_named_after_dataset_wins_over_files_beside_it(isolated: Path) -> None:
    make_synthetic(isolated / "data", n_train=10, n_test=5)
    make_synthetic(isolated / "data" / "mnist", n_train=20, n_test=5)
    assert find("mnist", data_dir=isolated / "data") == isolated / "data" / "mnist"
    assert find("fashion-mnist", data_dir=isolated / "data") == isolated / "data"


def test_raw_and_gzip_files_mix_and_raw_is_preferred(isolated: Path) -> None:
    make_synthetic(isolated / "gz", n_train=10, n_test=5, compress=True)
    make_synthetic(isolated / "gz", n_train=10, n_test=5, compress=False)
    (isolated / "gz" / "t10k-images-idx3-ubyte").unlink()
    files = dataset_files(isolated / "gz")
    assert files is not None
    assert files["train-images-idx3-ubyte"].name == "train-images-idx3-ubyte"
    assert files["t10k-images-idx3-ubyte"].name == "t10k-images-idx3-ubyte.gz"
    assert len(load(data_dir=isolated / "gz").test) == 5


def test_not_found_says_how_to_get_the_data(isolated: Path) -> None:
    with pytest.raises(DataNotFoundError) as error:
        load("fashion-mnist", download=False)
    message = str(error.value)
    for hint in ("apt-get install -y dataset-fashion-mnist", "--data-dir", "$MIXPREC_DATA"):
        assert hint in message
    assert str(cache_dir("fashion-mnist")) in message
