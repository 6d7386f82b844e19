"""The study's store of finished runs: one small JSON file per training in ``OUT/runs/``,
written whole as soon as the training finishes, so that the study run again (after Ctrl-C, a
signal or a crash) reads it instead of training it.

A run's file is named by a hash of everything its result depends on (:func:`run_settings`:
refnet's version, :data:`SCHEMA`, the study settings but its grids, the run's own method,
density, rate, seed and method options), and the file's copy of them is compared too: a run
of other settings or another version is never mixed in.  Floats are written with ``repr``,
which reads back bitwise.  A change to refnet's code that keeps its version keeps the names:
then delete ``OUT/runs/``.
"""
from __future__ import annotations

import hashlib
import json
import os

from refnet._files import atomic_output

__all__ = ["FOLDER", "run_settings", "run_path", "load", "save"]

FOLDER = "runs"
#: Raised whenever what a method trains changes for the same settings (2: IMP's 20% rounds,
#: the weights-only subspace), so that no older run is read as a newer one.
SCHEMA = 2
#: settings that only say which tasks exist; each task carries its own values
_GRIDS = ("methods", "densities", "seeds", "lrs", "prune_epochs", "rigl")


def run_settings(task) -> dict:
    """What one training's result depends on, as a JSON-able dict."""
    from refnet import __version__
    settings = {k: v for k, v in task.config.to_dict().items() if k not in _GRIDS}
    return json.loads(json.dumps(dict(settings, refnet=__version__, schema=SCHEMA,
                                      method=task.method, density=task.density, lr=task.lr,
                                      seed=task.seed, options=dict(task.options))))


def run_path(out, task) -> str:
    """The file of ``task``'s result in the store under ``out``."""
    text = json.dumps(run_settings(task), sort_keys=True)
    return os.path.join(out, FOLDER, hashlib.sha256(text.encode()).hexdigest()[:32] + ".json")


def load(out, task) -> dict | None:
    """``task``'s stored record, or None when the store has none (or an unreadable one)."""
    try:
        with open(run_path(out, task)) as handle:
            stored = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("settings") != run_settings(task) \
            or not isinstance(stored.get("record"), dict):
        return None
    return stored["record"]


def save(out, task, record: dict) -> None:
    """Write ``task``'s record into the store under ``out`` (whole or not at all)."""
    with atomic_output(run_path(out, task), "w") as handle:
        json.dump({"settings": run_settings(task), "record": record}, handle)
