"""Datasets in IDX format (MNIST, Fashion-MNIST): find, download, verify, load.

>>> import tempfile
>>> import mixprec.data as md
>>> data = md.load("fashion-mnist", data_dir=md.make_synthetic(tempfile.mkdtemp()))
>>> data.train[:100].images.shape, data.classes[0]
((100, 784), 'T-shirt/top')

This package is the bottom layer for data: it imports no other mixprec package.
"""

from mixprec.data.catalog import DATASETS, DatasetInfo, FileInfo, resolve_name
from mixprec.data.checksums import KnownFile, identify, verify
from mixprec.data.dataset import Dataset, Normalization, Split, load
from mixprec.data.download import URL_ENV, base_url, download
from mixprec.data.idx import read_idx, write_idx
from mixprec.data.locate import (
    DATA_ENV,
    DEBIAN_DIRS,
    DataNotFoundError,
    cache_dir,
    candidate_dirs,
    find,
)
from mixprec.data.synthetic import make_synthetic

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "DEBIAN_DIRS",
    "URL_ENV",
    "DataNotFoundError",
    "Dataset",
    "DatasetInfo",
    "FileInfo",
    "KnownFile",
    "Normalization",
    "Split",
    "base_url",
    "cache_dir",
    "candidate_dirs",
    "download",
    "find",
    "identify",
    "load",
    "make_synthetic",
    "read_idx",
    "resolve_name",
    "verify",
    "write_idx",
]
