"""The store of finished runs: keyed by settings and version, read back bitwise, and a study
killed mid-way leaves no process behind and resumes to the uninterrupted tables."""
import glob
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from refnet.cli.study import StudyConfig, run_study, store, tasks_of

ROOT = Path(__file__).resolve().parents[3]
TINY = StudyConfig(data="digits", model="mlp", model_args=(("sizes", (64, 16, 10)),),
                   methods=("dense", "dctps-epl"), densities=(0.1,), seeds=(0, 1),
                   lrs=(1e-2,), epochs=1, val_size=100)


def test_a_run_is_read_back_bitwise_and_only_under_its_own_settings(tmp_path, monkeypatch):
    task = tasks_of(TINY)[1]
    record = {"method": task.method, "val_acc": 0.1 + 0.2, "test_acc": math.nan, "seed": 0,
              "diverged": True}
    assert store.load(tmp_path, task) is None
    os.makedirs(tmp_path / store.FOLDER)
    store.save(tmp_path, task, record)
    back = store.load(tmp_path, task)
    assert back["val_acc"] == 0.1 + 0.2 and math.isnan(back["test_acc"]) and back["diverged"]
    # the grids are not part of a run's settings: another study sharing the run reads it
    assert store.load(tmp_path, replace(task, config=replace(TINY, seeds=(0, 1, 2)))) == back
    # a method's settings are part of the run: another RigL pair or IMP round length, another run
    for other in (replace(task, seed=5), replace(task, config=replace(TINY, epochs=2)),
                  replace(task, options=(("alpha", 0.1), ("delta_t", 25)))):
        assert store.run_path(tmp_path, other) != store.run_path(tmp_path, task)
        assert store.load(tmp_path, other) is None
    monkeypatch.setattr("refnet.__version__", "9.9.9")
    assert store.load(tmp_path, task) is None                    # another version: not mixed
    monkeypatch.undo()
    monkeypatch.setattr(store, "SCHEMA", store.SCHEMA + 1)
    assert store.load(tmp_path, task) is None                    # another schema: not mixed
    monkeypatch.undo()
    # a file whose content does not match its name is not read
    Path(store.run_path(tmp_path, task)).write_text('{"settings": {}, "record": {}}')
    assert store.load(tmp_path, task) is None


def test_a_rerun_reads_every_finished_run_and_counts_them(tmp_path):
    first = run_study(TINY, progress=False, store=str(tmp_path))
    assert first.reused == 0 and len(os.listdir(tmp_path / store.FOLDER)) == 4
    again = run_study(TINY, progress=False, store=str(tmp_path))
    assert again.reused == 4 and again.records == first.records     # seconds too: read back
    more = run_study(replace(TINY, seeds=(0, 1, 2)), progress=False, store=str(tmp_path))
    assert more.reused == 4 and len(more.records) == 6


def _session_processes(sid: int) -> list[str]:
    """The live (not zombie) processes of session ``sid``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[3] == str(sid) and fields[0] != "Z":
            found.append(pid)
    return found


STUDY = ["study", "--methods", "dense,random-epl,dctps-epl,dct-only", "--densities", "0.01",
         "--seeds", "0,1,2", "--lrs", "0.01", "--epochs", "1", "--no-spectra"]


def _study(out, *options, **popen):
    return subprocess.Popen([sys.executable, "-m", "refnet", *STUDY, "--out", str(out),
                             *options], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _tables(out):
    md = (out / "study.md").read_text().splitlines()
    return (out / "study.csv").read_bytes(), md[:-1], md[-1]


def test_a_stop_counts_the_runs_of_extended_rates_too(tmp_path):
    from refnet.cli.study.command import _saved
    config = replace(TINY, methods=("dense",), lrs=(1e-3, 1e-2))
    os.makedirs(tmp_path / store.FOLDER)

    def save(task):
        store.save(tmp_path, task, {"method": task.method, "density": task.density,
                                    "lr": task.lr, "seed": task.seed, "diverged": False,
                                    "val_acc": 50.0 + 100 * task.lr, "test_acc": 50.0})

    tasks = tasks_of(config)                      # 2 rates x 2 seeds; 1e-2 wins at the top
    for task in tasks[:3]:
        save(task)
    assert _saved(config, tasks, tmp_path) == (3, 4)     # a run missing: no extension yet
    save(tasks[3])
    assert _saved(config, tasks, tmp_path) == (4, 6)     # the grid calls for 0.1, 2 seeds
    save(replace(tasks[2], lr=0.1))
    assert _saved(config, tasks, tmp_path) == (5, 6)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process table in /proc")
@pytest.mark.parametrize("where, stop", [
    (["--workers", "2"], "SIGTERM to the parent"),        # kill, Slurm, docker stop
    (["--scheduler", "local:2"], "SIGINT to the group")])  # Ctrl-C in a terminal
def test_a_stopped_study_leaves_no_process_keeps_its_runs_and_resumes_bitwise(where, stop,
                                                                             tmp_path):
    if where[0] == "--scheduler":
        pytest.importorskip("distributed", reason="dask.distributed is the 'cluster' extra")
    signum = signal.SIGTERM if "SIGTERM" in stop else signal.SIGINT
    whole = _study(tmp_path / "whole")          # the uninterrupted run, beside it
    study = _study(tmp_path / "killed", *where, start_new_session=True)
    runs = tmp_path / "killed" / store.FOLDER
    while len(glob.glob(str(runs / "*.json"))) < 3:
        assert study.poll() is None, study.communicate()
        time.sleep(0.02)
    if "group" in stop:
        os.killpg(study.pid, signum)
    else:
        study.send_signal(signum)
    _, err = study.communicate(timeout=60)
    assert study.returncode == 128 + signum, err
    saved = len(os.listdir(runs))
    assert 3 <= saved < 12 and not (tmp_path / "killed" / "study.md").exists()
    assert "Traceback" not in err and err.splitlines()[-1] == (
        f"refnet study: stopped by {signal.Signals(signum).name}; {saved} of 12 runs are saved "
        f"in {runs}/: run the same command again to train the rest")
    deadline = time.monotonic() + 10     # the resource tracker ends once the parent has
    while _session_processes(study.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session_processes(study.pid) == []
    resumed = _study(tmp_path / "killed", *where)
    for run in (resumed, whole):
        assert run.wait(timeout=300) == 0, run.communicate()
    csv, table, time_line = _tables(tmp_path / "killed")
    assert (csv, table) == _tables(tmp_path / "whole")[:2]
    assert time_line.endswith(f", {saved} runs read from the store.")
    assert not glob.glob(str(tmp_path / "killed" / "**" / ".tmp-refnet-*"), recursive=True)
