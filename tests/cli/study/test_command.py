"""``refnet study`` on the command line: bad settings refused before any work, naming the
option; progress a person can follow (or none); the same study on a dask cluster."""
import re
import sys

import pytest

from refnet.cli import main

SMALL = ["study", "--methods", "dense,dctps-epl,snip", "--densities", "0.01", "--seeds", "0,1",
         "--lrs", "0.01", "--epochs", "1", "--no-spectra"]


def _refused(argv, capsys):
    """Exit status and stderr of a command line, argparse's refusals included."""
    return main(argv), capsys.readouterr().err


@pytest.mark.parametrize("options, named", [
    (["--methods", ""], "--methods"),
    (["--methods", " , "], "--methods"),
    (["--methods", "dense,dense"], "--methods"),
    (["--seeds", "0,0"], "--seeds"),
    (["--seeds=-1"], "--seeds"),
    (["--seeds", "a,b"], "--seeds"),
    (["--densities", "1e-2,0.01"], "--densities"),
    (["--densities", "0"], "densities"),
    (["--densities", "nan"], "densities"),
    (["--lrs", "0.01,0.01"], "--lrs"),
    (["--lrs=-1"], "lr"),
    (["--epochs", "0"], "--epochs"),
    (["--workers", "0"], "--workers"),
    (["--workers", "2", "--scheduler", "local:2"], "--scheduler"),
    (["--scheduler", "local:0"], "--scheduler"),
    (["--scheduler", "local:x"], "--scheduler"),
    (["--scheduler", ""], "--scheduler"),
    (["--alpha", "fixed", "--methods", "dense,snip"], "--alpha"),
    (["--alpha", ""], "--alpha"),
    (["--offsets", "orthogonal", "--methods", "dense,snip"], "--offsets"),
    (["--offsets", "dct,dct"], "--offsets"),
    (["--data", "nope"], "dataset"),
    (["--model", "nope"], "model"),
    (["--out", ""], "--out"),
])
def test_degenerate_settings_are_refused_before_any_work(options, named, tmp_path, capsys,
                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, err = _refused(SMALL + options, capsys)
    assert status == 2 and named in err.splitlines()[-1], err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_output_paths_are_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    (tmp_path / "out" / "study.md").mkdir(parents=True)       # a folder where a file goes
    (tmp_path / "runs-file").mkdir()
    (tmp_path / "runs-file" / "runs").write_text("")
    for out in ("file", "missing/out", "out", "runs-file"):
        status, err = _refused(SMALL + ["--out", str(tmp_path / out)], capsys)
        assert status == 2 and err.startswith("refnet study: error: --out: "), (out, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "out", "runs-file"]


def test_progress_counts_and_estimates_and_quiet_prints_nothing(tmp_path, capsys):
    assert main(SMALL + ["--out", str(tmp_path), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "| Dense |" in out
    assert main(SMALL + ["--out", str(tmp_path), "--seeds", "0,1,2", "--workers", "2"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[1] == "6 of 9 runs read from " + str(tmp_path / "runs") + "/"
    progress = [line for line in lines if line.startswith("[")]
    assert [line.split()[0] for line in progress] == ["[7/9", "[8/9", "[9/9"]
    assert all(re.match(r"\[\d/9 \d+s, ~\d+s left\] \S+ d=\S+ lr=0.01 seed=2: val", line)
               for line in progress), progress


def test_a_missing_dask_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)       # import fails
    status, err = _refused(SMALL + ["--out", str(tmp_path / "out"), "--scheduler", "local:2"],
                           capsys)
    assert status == 2 and err == ("refnet study: error: --scheduler needs dask.distributed, "
                                   "the 'cluster' extra: pip install -e '.[cluster]'\n")
    assert not (tmp_path / "out").exists()


def test_a_dask_cluster_gives_the_tables_of_one_worker_bitwise(tmp_path, capsys):
    """local:2, and a running scheduler's address (dask's default workers pin BLAS)."""
    distributed = pytest.importorskip("distributed",
                                      reason="dask.distributed is the optional 'cluster' extra")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0",
                                  silence_logs=40) as cluster:
        ways = {"one": ["--workers", "1"], "local": ["--scheduler", "local:2"],
                "address": ["--scheduler", cluster.scheduler_address]}
        for name, way in ways.items():
            assert main(SMALL + ["--out", str(tmp_path / name), "--quiet"] + way) == 0
            assert capsys.readouterr().err == "", name
    for name in ("local", "address"):
        assert (tmp_path / "one" / "study.csv").read_bytes() == (
            tmp_path / name / "study.csv").read_bytes()
        assert ((tmp_path / "one" / "study.md").read_text().splitlines()[:-1]
                == (tmp_path / name / "study.md").read_text().splitlines()[:-1])


def test_a_dask_worker_is_accepted_only_with_blas_on_one_thread(monkeypatch):
    from refnet.cli.study.runner import _BLAS_THREAD_VARS, _blas_pinned
    for var in _BLAS_THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    assert not _blas_pinned()                   # nothing set: BLAS takes every core
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _blas_pinned()                       # what `dask worker` sets by default
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    assert not _blas_pinned()


def test_local_workers_keep_freed_memory_as_the_process_pool_does(monkeypatch):
    """dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers (page faults on every
    step; a default LocalCluster also leaves it in the parent's environment); local:N leaves it
    out, and its workers still pin BLAS."""
    pytest.importorskip("distributed", reason="dask.distributed is the optional 'cluster' extra")
    import os

    from refnet.cli.study.runner import _blas_pinned, dask_executor
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with dask_executor("local:1") as executor:
        assert executor.submit(os.getenv, "MALLOC_TRIM_THRESHOLD_").result() is None
        assert executor.submit(_blas_pinned).result()
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ
