"""Hostile command lines: every refusal is one line naming the option, before any work.

One row per case: the argv (``{name}`` fields are files made by :func:`places`), the
expected exit status and the text the error line must contain (the option it names).
A refused command writes nothing: the scratch folder is the same after it.  ``refnet
study`` has its rows in ``tests/cli/study/`` in this style (:func:`check_refusal`).
"""
import json
import os
import zipfile

import numpy as np
import pytest

from refnet.cli import main

TRAIN = ["train", "--data", "digits", "--model", "mlp", "--sizes", "64,16,10", "--quiet"]
SPECTRUM = ["spectrum", "--sizes", "784", "10", "--densities", "0.1", "--examples", "2"]
SPARSITY = ["sparsity", "--model", "lenet300", "--density", "0.1"]
SPARSE = ["--kind", "sparse", "--density", "0.2"]

ROWS = [
    # no or an unknown subcommand
    ([], 2, "command"),
    (["nosuch"], 2, "command"),
    # train: output and input paths
    (TRAIN + ["--save", ""], 2, "--save"),
    (TRAIN + ["--resume", ""], 2, "--resume"),
    (TRAIN + ["--save", "{dir}"], 2, "--save"),
    (TRAIN + ["--save", "{file}/run.npz"], 2, "--save"),
    (TRAIN + ["--save", "{missing}/run.npz"], 2, "--save"),
    (TRAIN + ["--save", "{fifo}"], 2, "--save"),
    (TRAIN + ["--save", "{link}"], 2, "--save"),
    (TRAIN + ["--save", "{dir}/new/"], 2, "--save"),
    (TRAIN + ["--save", "{dir}/" + "x" * 300 + ".npz"], 2, "--save"),
    (["train", "--resume", "{missing}/run.npz"], 2, "does not exist"),
    (["train", "--resume", "{dir}"], 2, "not a regular file"),
    (["train", "--resume", "{fifo}"], 2, "not a regular file"),
    (["train", "--resume", "{npy}"], 2, "corrupt or truncated"),
    (["train", "--resume", "{truncated}"], 2, "corrupt or truncated"),
    (["train", "--resume", "{bomb}"], 2, "more than the bound"),
    (["train", "--resume", "{big_meta}"], 2, "metadata"),
    (["train", "--resume", "{huge_model}"], 2, "larger than refnet builds"),
    (["train", "--resume", "{wrong_shape}"], 2, "does not match the model"),
    (["train", "--resume", "{object_member}"], 2, "dtype object"),
    (["train", "--resume", "{nested_header}"], 2, "corrupt header"),
    (["train", "--resume", "{no_split_seed}"], 2, "'data'"),
    (["train", "--resume", "{negative_epoch}"], 2, "epoch"),
    (["train", "--resume", "{bad_config}"], 2, "train_config"),
    (["train", "--resume", "{nan_params}"], 2, "NaN"),
    (["train", "--resume", "{int_params}"], 2, "float64"),
    (["train", "--resume", "{no_meta}"], 2, "missing entry 'meta'"),
    (["spectrum", "--checkpoint", "{no_density}"], 2, "density"),
    (["spectrum", "--checkpoint", "{huge_input}"], 2, "larger than refnet builds"),
    (["train", "--resume", "{dir}/" + "x" * 300], 2, "name too long"),
    (["train", "--resume", "{run}", "--epochs", "1"], 2, "--epochs"),
    (["train", "--resume", "{run}", "--epochs", "3", "--lr", "0.1"], 2, "--lr"),
    (["train", "--resume", "{run}", "--epochs", "3", "--kind", "dctps"], 2, "--kind"),
    # train: numbers
    (TRAIN + ["--seed", "-1"], 2, "--seed"),
    (TRAIN + ["--seed", "abc"], 2, "--seed"),
    (TRAIN + ["--seed", "1.5"], 2, "--seed"),
    (TRAIN + ["--split-seed", "-1"], 2, "--split-seed"),
    (TRAIN + ["--lr", "nan"], 2, "--lr"),
    (TRAIN + ["--lr", "inf"], 2, "--lr"),
    (TRAIN + ["--lr", "-1"], 2, "--lr"),
    (TRAIN + ["--lr", "0"], 2, "--lr"),
    (TRAIN + ["--optimizer", "sgd", "--momentum", "nan"], 2, "--momentum"),
    (TRAIN + ["--optimizer", "sgd", "--momentum", "2"], 2, "--momentum"),
    (TRAIN + ["--weight-decay", "-1"], 2, "--weight-decay"),
    (TRAIN + ["--weight-decay", "inf"], 2, "--weight-decay"),
    (TRAIN + ["--epochs", "0"], 2, "--epochs"),
    (TRAIN + ["--epochs", "-3"], 2, "--epochs"),
    (TRAIN + ["--batch-size", "0"], 2, "--batch-size"),
    (TRAIN + ["--val-size", "-1"], 2, "--val-size"),
    (TRAIN + ["--val-size", "100000"], 2, "val_size"),
    (TRAIN + ["--kind", "sparse", "--density", "0"], 2, "--density"),
    (TRAIN + ["--kind", "sparse", "--density", "nan"], 2, "--density"),
    (TRAIN + ["--kind", "sparse", "--density", "1.5"], 2, "--density"),
    (TRAIN + ["--kind", "sparse", "--density", "-0.1"], 2, "--density"),
    (TRAIN + SPARSE + ["--method", "rigl", "--rigl-interval", "0"], 2, "--rigl-interval"),
    (TRAIN + SPARSE + ["--method", "imp", "--density", "1"], 2, "--density"),
    # train: names and sizes
    (TRAIN + ["--data", "nosuch"], 2, "dataset"),
    (TRAIN + ["--data", ""], 2, "dataset"),
    (TRAIN + ["--model", "nosuch"], 2, "--model"),
    (TRAIN + ["--kind", "nosuch"], 2, "--kind"),
    (TRAIN + ["--optimizer", "nosuch"], 2, "--optimizer"),
    (TRAIN + ["--schedule", "nosuch"], 2, "--schedule"),
    (TRAIN + ["--method", "nosuch"], 2, "--method"),
    (TRAIN + ["--distribution", "nosuch"], 2, "--distribution"),
    (TRAIN + ["--offset", "nosuch"], 2, "--offset"),
    (TRAIN + ["--sizes", "a,b"], 2, "--sizes"),
    (TRAIN + ["--sizes", ""], 2, "--sizes"),
    (TRAIN + ["--sizes", "64,,10"], 2, "--sizes"),
    (TRAIN + ["--sizes", "64,-1,10"], 2, "--sizes"),
    (TRAIN + ["--sizes", "64,0,10"], 2, "sizes"),
    (TRAIN + ["--sizes", "64"], 2, "sizes"),
    (TRAIN + ["--sizes", "100,10"], 2, "--sizes"),
    (TRAIN + ["--model", "lenet300"], 2, "sizes"),
    # train: settings that do nothing or contradict each other
    (TRAIN + ["--freeze-alpha"], 2, "--freeze-alpha"),
    (TRAIN + SPARSE + ["--freeze-alpha"], 2, "--freeze-alpha"),
    (TRAIN + ["--sparse-init", "zeros"], 2, "--sparse-init"),
    (TRAIN + ["--distribution", "erk"], 2, "--distribution"),
    (TRAIN + ["--momentum", "0.5"], 2, "--momentum"),
    (TRAIN + SPARSE + ["--method", "imp", "--rigl-interval", "5"], 2, "--rigl-interval"),
    (TRAIN + SPARSE + ["--method", "rigl", "--offset", "identity"], 2, "--offset"),
    (TRAIN + SPARSE + ["--method", "snip", "--sparse-init", "zeros"], 2, "--sparse-init"),
    (TRAIN + SPARSE + ["--offset", "identity"], 2, "--offset"),
    (TRAIN + ["--kind", "dctps"], 2, "--density"),
    (TRAIN + ["--density", "0.1"], 2, "--density"),
    (TRAIN + ["--kind", "dctps", "--density", "0.1", "--method", "snip"], 2, "--method"),
    (TRAIN + SPARSE + ["--method", "subspace"], 2, "--method"),
    (TRAIN + ["--density", "0.1", "--method", "subspace", "--save", "{dir}/s.npz"], 2,
     "--save"),
    # spectrum
    (SPECTRUM + ["--out", ""], 2, "--out"),
    (SPECTRUM + ["--out", "{file}"], 2, "--out"),
    (SPECTRUM + ["--out", "{file}/out"], 2, "--out"),
    (SPECTRUM + ["--out", "{missing}/out"], 2, "--out"),
    (SPECTRUM + ["--out", "{link_dir}"], 2, "--out"),
    (SPECTRUM + ["--out", "{blocked}"], 2, "--out"),
    (SPECTRUM + ["--out", "{dir}/" + "x" * 300], 2, "--out"),
    (SPECTRUM + ["--examples", "0"], 2, "--examples"),
    (SPECTRUM + ["--examples", "-1"], 2, "--examples"),
    (SPECTRUM + ["--examples", "100000"], 2, "examples"),
    (SPECTRUM + ["--seed", "-1"], 2, "--seed"),
    (SPECTRUM + ["--chunk-size", "0"], 2, "--chunk-size"),
    (SPECTRUM + ["--densities", "0"], 2, "--densities"),
    (SPECTRUM + ["--densities", "nan"], 2, "--densities"),
    (SPECTRUM + ["--densities", "inf"], 2, "--densities"),
    (SPECTRUM + ["--densities", "2"], 2, "--densities"),
    (SPECTRUM + ["--densities", "0.01", "0.01"], 2, "--densities"),
    (SPECTRUM + ["--sizes", "784"], 2, "sizes"),
    (SPECTRUM + ["--sizes", "784", "0", "10"], 2, "--sizes"),
    (SPECTRUM + ["--sizes", "100", "10"], 2, "(100,)"),
    (SPECTRUM + ["--in-shape", "0"], 2, "--in-shape"),
    (SPECTRUM + ["--model", "lenet5"], 2, "sizes"),
    (["spectrum", "--model", "lenet5", "--activation", "tanh"], 2, "activation"),
    (["spectrum", "--offset", "none"], 2, "--offset"),
    (["spectrum", "--checkpoint", ""], 2, "--checkpoint"),
    (["spectrum", "--checkpoint", "{run}", "--checkpoint", "{run}"], 2, "--checkpoint"),
    (["spectrum", "--checkpoint", "{run}", "--sizes", "784", "10"], 2, "--sizes"),
    (["spectrum", "--checkpoint", "{run}", "--densities", "0.1"], 2, "--densities"),
    (["spectrum", "--checkpoint", "{missing}/run.npz"], 2, "does not exist"),
    (["spectrum", "--checkpoint", "{dir}"], 2, "not a regular file"),
    (["spectrum", "--checkpoint", "{npy}"], 2, "corrupt or truncated"),
    (["spectrum", "--checkpoint", "{bomb}"], 2, "more than the bound"),
    (["spectrum", "--checkpoint", "{big_meta}"], 2, "metadata"),
    (["spectrum", "--checkpoint", "{huge_model}"], 2, "model specification"),
    (["spectrum", "--checkpoint", "{wrong_shape}"], 2, "does not match the model"),
    (["spectrum", "--checkpoint", "{nan_params}"], 2, "NaN"),
    (["spectrum", "--dataset", "digits", "--checkpoint", "{run}", "--checkpoint", "{npy}"], 2,
     "corrupt"),
    # sparsity
    (["sparsity", "--model", "lenet300"], 2, "--density"),
    (["sparsity", "--model", "nosuch", "--density", "0.1"], 2, "--model"),
    (["sparsity", "--model", "lenet300", "--density", "0"], 2, "density"),
    (["sparsity", "--model", "lenet300", "--density", "nan"], 2, "density"),
    (["sparsity", "--model", "lenet300", "--density", "1.5"], 2, "density"),
    (SPARSITY + ["--min-per-layer", "-1"], 2, "--min-per-layer"),
    (SPARSITY + ["--min-per-layer", "10000000"], 2, "min_per_layer"),
    (SPARSITY + ["--distribution", "nosuch"], 2, "--distribution"),
    (SPARSITY + ["--sizes", "784", "10"], 2, "sizes"),
    (["sparsity", "--model", "mlp", "--density", "0.1"], 2, "sizes"),
    (["sparsity", "--model", "mlp", "--density", "0.1", "--sizes", "784", "0"], 2, "--sizes"),
    (["sparsity", "--model", "lenet5", "--density", "0.1", "--in-shape", "1", "2", "2"], 2,
     "in_shape"),
    (["sparsity", "--model", "lenet5", "--density", "0.1", "--in-shape", "0"], 2,
     "--in-shape"),
    (["sparsity", "--model", "lenet5", "--density", "0.1", "--classes", "0"], 2, "--classes"),
    # gradcheck and bench
    (["gradcheck", "--seed", "-1"], 2, "--seed"),
    (["gradcheck", "--seed", "x"], 2, "--seed"),
    (["bench", "--repeats", "0"], 2, "--repeats"),
    (["bench", "--repeats", "-1"], 2, "--repeats"),
    (["bench", "--seed", "-1"], 2, "--seed"),
    (["bench", "--threads", "3"], 2, "--threads"),
    (["bench", "nosuch"], 2, "which"),
]


def _rewrite(source, target, edit) -> str:
    """Copy the checkpoint ``source`` to ``target`` with ``edit(header, arrays)`` applied."""
    with np.load(source) as data:
        arrays = {name: data[name] for name in data.files}
    header = json.loads(str(arrays["__header__"]))
    edit(header, arrays)
    arrays["__header__"] = np.array(json.dumps(header))
    np.savez(target, **arrays)
    return str(target)


def _bomb(path, header) -> str:
    """A checkpoint of ~5 MB whose one deflated member expands to more than 1 GiB."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("__header__.npy", "w") as member:
            np.lib.format.write_array(member, header)
        with archive.open("params/fc1/S.npy", "w") as member:
            count = (1 << 27) + 1024                        # float64: just over 1 GiB
            np.lib.format.write_array_header_1_0(
                member, {"descr": "<f8", "fortran_order": False, "shape": (count,)})
            zeros = bytes(1 << 24)
            for start in range(0, 8 * count, len(zeros)):
                member.write(zeros[:min(len(zeros), 8 * count - start)])
    return str(path)


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """``{name: path}`` of the files the rows name, in one scratch folder."""
    root = tmp_path_factory.mktemp("hostile")
    run = str(root / "run.npz")
    assert main(TRAIN + SPARSE + ["--epochs", "2", "--save", run]) == 0
    with np.load(run) as data:
        header = data["__header__"]
    (root / "file").write_text("x")
    (root / "dir").mkdir()
    (root / "blocked").mkdir()
    (root / "blocked" / "spectrum.png").mkdir()    # a folder where the figure would go
    os.mkfifo(root / "fifo")
    os.symlink(root / "file", root / "link")
    os.symlink(root / "dir", root / "link_dir")
    np.save(root / "run.npy", np.zeros(3))
    (root / "truncated.npz").write_bytes((root / "run.npz").read_bytes()[:2000])

    def huge(header, arrays):           # the 47.7 GiB network, consistent throughout
        spec = header["meta"]["model"]
        spec["args"]["sizes"] = [64, 10 ** 8, 10]
        spec["layers"][0]["shape"], spec["layers"][1]["shape"] = [10 ** 8, 64], [10, 10 ** 8]

    def wrong_shape(header, arrays):
        arrays["params/fc1/S"] = np.zeros(5)

    def object_member(header, arrays):
        arrays["params/fc1/S"] = np.array([1.0, "x"], dtype=object)

    def nan_params(header, arrays):
        arrays["params/fc1/S"] = np.full_like(arrays["params/fc1/S"], np.nan)

    def nested(header, arrays):
        header["meta"]["x"] = "PLACEHOLDER"

    files = {
        "dir": root / "dir", "file": root / "file", "missing": root / "missing",
        "fifo": root / "fifo", "link": root / "link", "link_dir": root / "link_dir",
        "blocked": root / "blocked", "npy": root / "run.npy",
        "truncated": root / "truncated.npz", "run": run,
        "bomb": _bomb(root / "bomb.npz", header),
        "big_meta": _rewrite(run, root / "big_meta.npz",
                             lambda h, a: h["meta"].update(junk="x" * (2 << 20))),
        "huge_model": _rewrite(run, root / "huge_model.npz", huge),
        "wrong_shape": _rewrite(run, root / "wrong_shape.npz", wrong_shape),
        "object_member": _rewrite(run, root / "object_member.npz", object_member),
        "no_split_seed": _rewrite(run, root / "no_split_seed.npz",
                                  lambda h, a: h["meta"]["data"].pop("split_seed")),
        "negative_epoch": _rewrite(run, root / "negative_epoch.npz",
                                   lambda h, a: h.update(epoch=-5)),
        "bad_config": _rewrite(run, root / "bad_config.npz",
                               lambda h, a: h["meta"]["train_config"].update(batch_size=0)),
        "nan_params": _rewrite(run, root / "nan_params.npz", nan_params),
        "no_meta": _rewrite(run, root / "no_meta.npz", lambda h, a: h.pop("meta")),
        "huge_input": _rewrite(run, root / "huge_input.npz", lambda h, a: h["meta"]["model"]
                               .update(name="lenet5", args={"in_shape": [1, 10 ** 5, 10 ** 5]})),
        "no_density": _rewrite(run, root / "no_density.npz",
                               lambda h, a: h["meta"]["model"].pop("density")),
        "int_params": _rewrite(run, root / "int_params.npz", lambda h, a: a.update(
            {"params/fc1/S": a["params/fc1/S"].astype(np.int64)})),
    }
    nested_path = _rewrite(run, root / "nested_header.npz", nested)
    with np.load(nested_path) as data:      # a header nested deeper than json can parse
        arrays = {name: data[name] for name in data.files}
    arrays["__header__"] = np.array(str(arrays["__header__"]).replace(
        '"PLACEHOLDER"', "[" * 100_000 + "]" * 100_000))
    np.savez(nested_path, **arrays)
    files["nested_header"] = nested_path
    return root, {name: str(path) for name, path in files.items()}


def check_refusal(argv, status, name, capsys):
    """``refnet *argv`` exits with ``status`` and one line on stderr, ``refnet CMD:
    error: ...``, that contains ``name``; nothing on stdout."""
    capsys.readouterr()
    got = main(argv)
    out, err = capsys.readouterr()
    assert got == status, err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    command = " ".join(["refnet"] + argv[:1]) if argv and argv[0] != "nosuch" else "refnet"
    assert err.startswith(f"{command}: error: "), err
    assert name in err, err


@pytest.mark.parametrize("argv, status, name", ROWS,
                         ids=[" ".join(argv[:1] + argv[-2:]) for argv, _, _ in ROWS])
def test_hostile_command_line(argv, status, name, places, capsys):
    root, files = places
    before = sorted(os.listdir(root))
    check_refusal([arg.format(**files) for arg in argv], status, name, capsys)
    assert sorted(os.listdir(root)) == before       # refused before writing anything


def test_every_subcommand_has_rows():
    from refnet.cli import SUBCOMMANDS
    covered = {argv[0] for argv, _, _ in ROWS if argv}
    assert set(SUBCOMMANDS) - {"study"} <= covered     # study: tests/cli/study/


# -- faults: signals, a full disk, memory bounds -----------------------------------------
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: patched into a subprocess: the second checkpoint write is cut by a signal half-way
_SIGNAL_IN_WRITE = """
import os, signal, sys
import numpy as np
from refnet.cli import main
savez, calls = np.savez, []
def cut(handle, **arrays):
    calls.append(1)
    if len(calls) == 2:
        handle.write(b"half a checkpoint")
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    savez(handle, **arrays)
np.savez = cut
sys.exit(main(sys.argv[2:]))
"""


def _python(code, *args, limit=None, **kwargs):
    import resource
    import subprocess
    import sys

    def bound():
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=bound, **kwargs)


def _leftovers(folder):
    return [name for name in os.listdir(folder) if name.startswith(".tmp-")]


@pytest.mark.parametrize("signame, status", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_during_a_checkpoint_write_keeps_the_old_one(tmp_path, signame, status):
    from refnet.train import load_checkpoint
    path = str(tmp_path / "run.npz")
    proc = _python(_SIGNAL_IN_WRITE, signame, *TRAIN, *SPARSE, "--epochs", "3", "--save", path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == status, err
    assert err == f"refnet train: error: stopped by {signame}\n" and out == ""
    assert _leftovers(tmp_path) == [] and load_checkpoint(path).state.epoch == 1


def test_sigterm_from_outside_leaves_a_loadable_checkpoint(tmp_path):
    import signal
    import time
    from refnet.train import load_checkpoint
    path = tmp_path / "run.npz"
    proc = _python("import sys; from refnet.cli import main; sys.exit(main(sys.argv[1:]))",
                   *TRAIN, *SPARSE, "--epochs", "100000", "--save", str(path))
    while not path.exists() and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.2)                      # somewhere in the following epochs and writes
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 143 and err == "refnet train: error: stopped by SIGTERM\n"
    assert _leftovers(tmp_path) == [] and load_checkpoint(path).state.epoch >= 1


def test_hostile_checkpoints_are_refused_within_a_small_memory_bound(places):
    """Under a 768 MiB address-space limit: decompressing the bomb (1 GiB) or building the
    network of 10**8 units would fail with MemoryError, not refuse with one line."""
    _, files = places
    code = ("import sys; from refnet.cli import main\n"
            "for argv in (['train', '--resume', sys.argv[1]], ['spectrum', '--checkpoint', "
            "sys.argv[1]], ['train', '--resume', sys.argv[2]], ['spectrum', '--checkpoint', "
            "sys.argv[2]], ['train', '--resume', sys.argv[3]]):\n"
            "    assert main(argv) == 2\n")
    proc = _python(code, files["bomb"], files["huge_model"], files["big_meta"],
                   limit=768 << 20)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    lines = err.splitlines()
    assert len(lines) == 5 and all(": error: checkpoint " in line for line in lines), err
    assert "MemoryError" not in err and "Traceback" not in err


def test_an_os_error_during_the_run_is_one_line(tmp_path, monkeypatch, capsys):
    import errno
    import refnet.cli.train as command

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run.npz"))
    monkeypatch.setattr(command, "save_checkpoint", full_disk)
    assert main(TRAIN + ["--epochs", "1", "--save", str(tmp_path / "run.npz")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("refnet train: error: [Errno 28] No space")


def test_sizes_too_large_for_the_machine_are_one_line(capsys):
    """Under a 768 MiB address-space limit a 47.7 GiB network is a MemoryError: one line."""
    proc = _python("import sys; from refnet.cli import main; sys.exit(main(sys.argv[1:]))",
                   *TRAIN, "--sizes", "64,100000000,10", limit=768 << 20)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and err.startswith("refnet train: error: Unable to allocate")
    assert err.count("\n") == 1, err


def test_stale_temporaries_go_and_the_mode_follows_the_umask(tmp_path):
    import subprocess
    import sys
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".tmp-refnet-{dead.pid}-x"
    alive = tmp_path / f".tmp-refnet-{os.getpid()}-y"
    stale.write_bytes(b"left by a killed run")
    alive.write_bytes(b"being written by a running one")
    old = os.umask(0o027)
    try:
        assert main(TRAIN + ["--epochs", "1", "--save", str(tmp_path / "run.npz")]) == 0
    finally:
        os.umask(old)
    assert sorted(os.listdir(tmp_path)) == [alive.name, "run.npz"]
    assert os.stat(tmp_path / "run.npz").st_mode & 0o777 == 0o640


@pytest.mark.filterwarnings("ignore::RuntimeWarning")    # overflow, then NaN
def test_a_diverging_run_is_one_line_with_exit_status_1(capsys):
    assert main(TRAIN + ["--epochs", "2", "--optimizer", "sgd", "--lr", "1e200"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("refnet train: error: loss is ")
