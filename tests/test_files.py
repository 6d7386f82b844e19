"""refnet._files: output paths checked before the work; files whole or not at all."""
import os
import subprocess
import sys

import pytest

from refnet._files import (TMP_PREFIX, atomic_output, check_output_dir, check_output_file,
                           remove_stale)


def test_atomic_output_replaces_only_when_complete(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target, "w") as handle:
            handle.write("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
    with atomic_output(target, "w") as handle:
        handle.write("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]


def test_atomic_output_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "f", "w") as handle:
            handle.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def test_remove_stale_keeps_live_processes_and_other_files(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / f"{TMP_PREFIX}{dead}-abc").write_text("x")
    (tmp_path / f"{TMP_PREFIX}{os.getpid()}-abc").write_text("x")
    (tmp_path / ".tmp-other").write_text("x")
    assert remove_stale(tmp_path) == [f"{TMP_PREFIX}{dead}-abc"]
    assert sorted(os.listdir(tmp_path)) == sorted([f"{TMP_PREFIX}{os.getpid()}-abc",
                                                   ".tmp-other"])


def test_output_checks_name_the_option(tmp_path):
    (tmp_path / "file").write_text("x")
    os.symlink(tmp_path / "file", tmp_path / "link")
    assert check_output_file("--save", tmp_path / "file") == str(tmp_path / "file")
    assert check_output_dir("--out", tmp_path / "new") == str(tmp_path / "new")
    for check, path, words in [
            (check_output_file, "", "empty"), (check_output_file, tmp_path, "not a regular"),
            (check_output_file, tmp_path / "link", "not a regular"),
            (check_output_file, tmp_path / "file" / "x", "not a folder"),
            (check_output_file, tmp_path / "no" / "x", "does not exist"),
            (check_output_dir, "", "empty"), (check_output_dir, tmp_path / "file", "not a folder"),
            (check_output_dir, tmp_path / "no" / "x", "does not exist")]:
        with pytest.raises(ValueError, match=f"--(save|out).*{words}"):
            check(check.__name__.endswith("dir") and "--out" or "--save", path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_output_checks_refuse_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    with pytest.raises(ValueError, match="--out.*not writable"):
        check_output_dir("--out", folder)
    with pytest.raises(ValueError, match="--save.*not writable"):
        check_output_file("--save", folder / "ckpt.npz")
