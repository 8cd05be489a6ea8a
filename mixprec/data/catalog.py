"""The known datasets: their files, class names, download location and SHA-256 checksums.

Checksums are of the original files as published. The gzip sums (``sha256``) are the ones
tensorflow_datasets records (``url_checksums/mnist.txt`` and ``fashion_mnist.txt``) and that
other public loaders repeat. The sums of the decompressed files (``raw_sha256``) let a copy that
was compressed again (as Debian's ``dataset-fashion-mnist`` is: the same payload with the gzip
header's file name and time stamp rewritten) be recognized as the original data; the
Fashion-MNIST ones were computed here from the Debian files and agree with those published.
The sums of Debian's gzip files themselves (``repack_sha256``: ``sha256sum`` of
``/usr/share/datasets/fashion-mnist/*.gz`` from ``dataset-fashion-mnist``
0.0~git20200523.55506a9-1) let those be recognized without decompressing them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from mixprec._util.names import canonical

__all__ = ["DATASETS", "DatasetInfo", "FileInfo", "SPLIT_FILES", "dataset_info", "resolve_name"]

#: split -> (images file stem, labels file stem); each file may also carry a ``.gz`` suffix.
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True, kw_only=True)
class FileInfo:
    """One published file of a dataset.

    Attributes:
        stem: the file name without ``.gz`` (``train-images-idx3-ubyte``).
        size: size in bytes of the published gzip file.
        sha256: SHA-256 of the published gzip file, as hex.
        raw_sha256: SHA-256 of the decompressed IDX file, as hex.
        repack_sha256: SHA-256 of known re-compressed copies (the same IDX payload in another
            gzip file, such as Debian's), so that they are recognized without decompressing.
    """

    stem: str
    size: int
    sha256: str
    raw_sha256: str
    repack_sha256: tuple[str, ...] = ()

    @property
    def gz_name(self) -> str:
        """The published (gzip) file name."""
        return self.stem + ".gz"


@dataclass(frozen=True, kw_only=True)
class DatasetInfo:
    """What mixprec knows of a dataset.

    Attributes:
        name: canonical name (``"fashion-mnist"``).
        classes: class names, indexed by label.
        url: base URL of the directory that holds the four gzip files.
        files: the four files (train images, train labels, test images, test labels).
        debian_package: the Debian package that installs the files, if there is one.
    """

    name: str
    classes: tuple[str, ...]
    url: str
    files: tuple[FileInfo, ...]
    debian_package: str | None = None

    @property
    def aliases(self) -> tuple[str, ...]:
        """Spellings accepted for the name (and looked for as subdirectory names)."""
        return tuple(dict.fromkeys((self.name, self.name.replace("-", "_"))))


MNIST = DatasetInfo(
    name="mnist",
    classes=tuple(str(digit) for digit in range(10)),
    url="https://storage.googleapis.com/cvdf-datasets/mnist/",
    files=(
        FileInfo(
            stem="train-images-idx3-ubyte",
            size=9912422,
            sha256="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            raw_sha256="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        FileInfo(
            stem="train-labels-idx1-ubyte",
            size=28881,
            sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            raw_sha256="65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        FileInfo(
            stem="t10k-images-idx3-ubyte",
            size=1648877,
            sha256="8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            raw_sha256="0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        FileInfo(
            stem="t10k-labels-idx1-ubyte",
            size=4542,
            sha256="f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            raw_sha256="ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ),
)

FASHION_MNIST = DatasetInfo(
    name="fashion-mnist",
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    files=(
        FileInfo(
            stem="train-images-idx3-ubyte",
            size=26421880,
            sha256="3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            raw_sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            repack_sha256=("b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",),
        ),
        FileInfo(
            stem="train-labels-idx1-ubyte",
            size=29515,
            sha256="a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            raw_sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            repack_sha256=("0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",),
        ),
        FileInfo(
            stem="t10k-images-idx3-ubyte",
            size=4422102,
            sha256="346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            raw_sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            repack_sha256=("cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",),
        ),
        FileInfo(
            stem="t10k-labels-idx1-ubyte",
            size=5148,
            sha256="67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            raw_sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            repack_sha256=("8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",),
        ),
    ),
    debian_package="dataset-fashion-mnist",
)

#: canonical name -> dataset; the registry that ``resolve_name`` looks names up in.
DATASETS: dict[str, DatasetInfo] = {info.name: info for info in (MNIST, FASHION_MNIST)}


def resolve_name(name: str) -> str:
    """The canonical name of a dataset, accepting ``_`` for ``-`` and any letter case.

    Args:
        name: ``"mnist"``, ``"fashion-mnist"``, ``"fashion_mnist"``, ...

    Returns:
        The key of the dataset in ``DATASETS``.

    Raises:
        ValueError: the name is unknown; the message lists the known names and the closest one.
    """
    key = canonical(name)
    if key in DATASETS:
        return key
    known = ", ".join(repr(key) for key in DATASETS)
    close = difflib.get_close_matches(key, list(DATASETS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown dataset {name!r}; known datasets: {known}.{hint}")


def dataset_info(name: str) -> DatasetInfo:
    """The ``DatasetInfo`` of a dataset named as ``resolve_name`` accepts."""
    return DATASETS[resolve_name(name)]
