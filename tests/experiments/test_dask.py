"""A tiny real sweep on a Dask LocalCluster gives the same records as the local run."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixprec.cli import main
from mixprec.experiments import DASK_WORKER_ENVIRON, DaskExecutor, LocalExecutor, Sweep, run_sweep
from mixprec.train import TrainConfig

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

VARYING = {"host", "finished", "train_time_s", "serve_time_s", "training"}


def comparable(records: list[dict]) -> list[dict]:
    return sorted(
        ({k: v for k, v in r.items() if k not in VARYING} for r in records),
        key=lambda r: r["key"],
    )


def test_dask_local_cluster_matches_local_run(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = Sweep(
        name="dask", dataset="fashion-mnist", data_dir=str(tiny_data), train=["fp32", "bf16"],
        serve=["fp32", "int8", "int8->int16:wrap"], seeds=2, training=TrainConfig(epochs=1),
    )  # fmt: skip
    local = run_sweep(sweep, tmp_path / "local", LocalExecutor(2), progress=False)
    # worker processes with one BLAS thread each, as LocalExecutor's: the same sums
    with dask.config.set({"distributed.nanny.pre-spawn-environ": DASK_WORKER_ENVIRON}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
    with cluster:
        executor = DaskExecutor(cluster.scheduler_address)
        try:
            assert executor.workers == 2
            remote = run_sweep(sweep, tmp_path / "dask", executor, progress=False)
        finally:
            executor.close()
        # the command line on the same cluster: one more serve entry, 4 more runs
        args = ["sweep", "--data-dir", str(tiny_data), "--dataset", "fashion-mnist",
                "--train", "fp32,bf16", "--serve", "fp32,int8,int8->int16:wrap,bf16",
                "--seeds", "2", "--epochs", "1", "--out", str(tmp_path / "dask"),
                "--scheduler", cluster.scheduler_address, "--no-progress"]  # fmt: skip
        assert main(args) == 0
        assert "4 runs done, 12 already stored" in capsys.readouterr().out
    assert repr(executor) == f"DaskExecutor({cluster.scheduler_address!r}, workers=2)"
    assert remote.complete and remote.ran == 12 and not remote.failures
    assert {r["blas_threads"] for r in remote.records} == {"1"}
    assert comparable(remote.records) == comparable(local.records)
    assert [r.accuracy for r in remote.rows] == [r.accuracy for r in local.rows]


def test_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_distributed(name: str, *args: object, **kwargs: object) -> object:
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("no distributed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(ImportError, match=r"mixprec\[dask\]"):
        DaskExecutor("tcp://127.0.0.1:1")
