"""``mixprec data``: where each dataset is, and downloading or verifying one."""

from __future__ import annotations

import argparse
from pathlib import Path

from mixprec.data import DATASETS, candidate_dirs, download, find, resolve_name, verify
from mixprec.data.checksums import check_files
from mixprec.data.locate import dataset_files, how_to_get

HELP = "Show where MNIST and Fashion-MNIST are found; download or verify them."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mixprec data`` to its parser."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="look only in DIR/<dataset> and DIR; with --download, download into DIR/<dataset>",
    )
    parser.add_argument(
        "--download",
        metavar="NAME",
        action="append",
        default=[],
        help=f"download a dataset ({', '.join(DATASETS)}); may be repeated",
    )
    parser.add_argument(
        "--url", help="base URL to download from (default $MIXPREC_DATA_URL, then the publisher)"
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="check the SHA-256 of every file found against the published files (files of "
        "your own are reported as not a known release, and still load)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Download what was asked, then report each dataset; returns 1 if a check failed."""
    for requested in args.download:
        name = resolve_name(requested)
        target = Path(args.data_dir, name) if args.data_dir else None
        fetched = download(name, target, url=args.url, progress=not args.no_progress)
        print(f"downloaded {name} into {fetched}")
    status = 0
    width = max(len(name) for name in DATASETS)
    for name in DATASETS:
        directory = find(name, args.data_dir)
        if directory is None:
            print(f"{name:<{width}}  {how_to_get(name, args.data_dir)}")
            continue
        origin = next(
            label for label, place in candidate_dirs(name, args.data_dir) if place == directory
        )
        files = dataset_files(directory) or {}
        kinds = sorted({"gzip" if path.suffix == ".gz" else "raw" for path in files.values()})
        line = f"{name:<{width}}  {directory}  (from {origin}, {'+'.join(kinds)})"
        try:
            check_files(name, files)
            if args.verify:
                line += f"  verified: {verify(name, directory)}"
        except ValueError as error:  # another dataset's files, or not a known release
            line += f"  {error}"
            status = 1
        print(line)
    return status
