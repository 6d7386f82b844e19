"""Writing files safely (private): paths checked before the work, files whole or not at all.

Every file refnet writes goes through :func:`atomic_output`: it is written under a
temporary name in the same folder, ``.tmp-refnet-<pid>-*``, and renamed over the
final name only once complete, so a crash, a signal or a full disk never leaves a
half-written file under the final name.  :func:`remove_stale` deletes the temporary
files of refnet processes that no longer run.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import stat

__all__ = ["TMP_PREFIX", "atomic_output", "check_output_file", "check_output_dir",
           "remove_stale"]

TMP_PREFIX = ".tmp-refnet-"


@contextlib.contextmanager
def atomic_output(path, mode: str = "wb"):
    """Yield a file object open on a temporary file beside ``path``; when the block
    ends without an exception, the file (mode ``0o666`` less the umask) replaces
    ``path``; otherwise (an exception, Ctrl-C, SIGTERM, ``SystemExit``) it is deleted."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    # named before it exists, so that the except below deletes it even when a signal is
    # handled right after os.open (mkstemp's own name came too late, 1 SIGTERM in 100)
    tmp = os.path.join(folder, f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}")
    new_file = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        with os.fdopen(os.open(tmp, new_file, 0o666), mode) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def remove_stale(folder) -> list[str]:
    """Delete ``folder``'s temporary files left by refnet processes that no longer run;
    return their names."""
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(folder):
            pid = entry.name[len(TMP_PREFIX):].split("-", 1)[0]
            if entry.name.startswith(TMP_PREFIX) and pid.isdigit() and not _alive(int(pid)) \
                    and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def _check_writable_folder(option: str, folder: str) -> None:
    if not os.path.isdir(folder):
        raise ValueError(f"{option}: folder {folder!r} does not exist or is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{option}: folder {folder!r} is not writable")


def _mode(option: str, path: str):
    """``path``'s own mode (a symlink's, not its target's); None if nothing is there."""
    try:
        return os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:          # a name too long, a loop of symlinks, ...
        raise ValueError(f"{option}: {path!r}: {err.strerror}") from None


def check_output_file(option: str, path) -> str:
    """``path`` as a str if a file can be written there: not empty, its folder exists and
    is writable, and nothing but a regular file (not a symlink) is at ``path``; else a
    ValueError naming ``option``."""
    path = os.fspath(path)
    if not path:
        raise ValueError(f"{option}: expected a file path, got an empty string")
    if path.endswith(os.sep):
        raise ValueError(f"{option}: expected a file path, got the folder name {path!r}")
    mode = _mode(option, path)
    if mode is not None and not stat.S_ISREG(mode):
        raise ValueError(f"{option}: {path!r} exists and is not a regular file "
                         "(a folder, a symlink or a device); give a file path")
    _check_writable_folder(option, os.path.dirname(os.path.abspath(path)))
    return path


def check_output_dir(option: str, path, files=(), folders=()) -> str:
    """``path`` as a str if it is a writable folder or can be made one (its parent exists
    and is writable), and each of ``files`` and ``folders`` in it can be written; else a
    ValueError naming ``option``.  Nothing is created."""
    path = os.fspath(path)
    if not path:
        raise ValueError(f"{option}: expected a folder, got an empty string")
    mode = _mode(option, path)
    if mode is None:
        _check_writable_folder(option, os.path.dirname(os.path.abspath(path)))
        return path
    if not stat.S_ISDIR(mode):          # a symlink too
        raise ValueError(f"{option}: {path!r} exists and is not a folder")
    _check_writable_folder(option, path)
    for name in files:
        check_output_file(option, os.path.join(path, name))
    for name in folders:
        check_output_dir(option, os.path.join(path, name))
    return path
