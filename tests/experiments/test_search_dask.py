"""The precision search on a Dask LocalCluster finds what the local run finds."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixprec.experiments import DASK_WORKER_ENVIRON, DaskExecutor, LocalExecutor
from mixprec.experiments.search import SearchConfig, run_search
from tests.experiments.test_search import known_problem

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")


def test_search_on_dask_matches_the_local_run(tmp_path: Path) -> None:
    model, split = known_problem()
    config = SearchConfig(("fp32", "int8", "int4"))
    local = run_search(model, split[:100], split[100:], config, tmp_path / "local",
                       LocalExecutor(in_process=True), progress=False)  # fmt: skip
    with dask.config.set({"distributed.nanny.pre-spawn-environ": DASK_WORKER_ENVIRON}):
        cluster = distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
    with cluster:
        executor = DaskExecutor(cluster.scheduler_address)
        try:
            remote = run_search(model, split[:100], split[100:], config, tmp_path / "dask",
                                executor, progress=False)  # fmt: skip
        finally:
            executor.close()
    assert remote.ran == local.ran == 9 + 4
    ignore = {"seconds": 0}
    assert remote.as_dict() | ignore == local.as_dict() | ignore
