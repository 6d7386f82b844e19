"""``refnet study``: the README's main job.

Finished runs are kept in ``OUT/runs/`` (:mod:`refnet.cli.study.store`) as they finish, so the
same command run again, after Ctrl-C, SIGTERM or a crash, trains only what is missing.  Ctrl-C
or SIGTERM stops the workers, says how many runs are saved and exits with 128 + the signal.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from dataclasses import replace

from refnet.cli import NATURAL, POSITIVE, Stopped, checked
from refnet._files import check_output_dir, remove_stale
from refnet.offsets import OFFSETS
from refnet.cli.study import store
from refnet.cli.study.methods import ALPHA_METHODS, METHODS, OFFSET_METHODS, applicable
from refnet.cli.study.report import (OUTPUT_NAMES, markdown_table, strict_json, summarize,
                                     write_outputs)
from refnet.cli.study.runner import (FULL, QUICK, dask_executor, extensions, run_study,
                                     tasks_of)

__all__ = ["configure_parser", "run_command"]


def _listed(parse, what):
    """An argparse type: comma-separated values, each read by ``parse``, none given twice (a
    repeat would train the same runs twice)."""
    return checked(lambda text: tuple(parse(v.strip()) for v in text.split(",") if v.strip()),
                   lambda values: values and len(set(values)) == len(values),
                   f"comma-separated {what}, each once")


_scheduler = checked(str, lambda t: t and (not t.startswith("local:") or t[6:].isdecimal()
                                           and int(t[6:]) >= 1),
                     "a scheduler's address or local:N with N a positive integer")
_floats = _listed(float, "numbers")
_seeds = _listed(NATURAL, "non-negative integers")
_names = _listed(str, "names")


def _expand(methods: tuple, rows: dict) -> tuple:
    """``methods`` with each key of ``rows`` replaced by its list of keys, duplicates dropped."""
    return tuple(dict.fromkeys(k for key in methods for k in rows.get(key, [key])))


def _with_alpha_rows(methods: tuple, alpha: tuple) -> tuple:
    """Put each requested alpha setting's DCTpS rows where the trainable ones stand."""
    if not alpha or any(a not in ALPHA_METHODS for a in alpha):
        raise ValueError(f"--alpha takes 'trainable', 'fixed' or both, got {','.join(alpha)!r}")
    return _expand(methods, {key: [ALPHA_METHODS[s][i] for s in ALPHA_METHODS if s in alpha]
                             for i, key in enumerate(ALPHA_METHODS["trainable"])})


def _with_offset_rows(methods: tuple, offsets: tuple) -> tuple:
    """Put each requested offset's DCTpS rows (and floors) where the DCT's stand."""
    if not offsets or any(o not in OFFSETS for o in offsets):
        raise ValueError(f"--offsets takes some of {','.join(OFFSETS)}, got {','.join(offsets)!r}")
    return _expand(methods, {key: [OFFSET_METHODS[o][s][i] for o in offsets]
                             for s, keys in OFFSET_METHODS["dct"].items()
                             for i, key in enumerate(keys)})


def _saved(config, tasks, out) -> tuple[int, int]:
    """``(saved, known)``: the runs in the store of the grid and of every round of extended
    rates that the saved runs already call for, and how many runs those are."""
    saved, wave = [], tasks
    while wave:
        records = [store.load(out, task) for task in wave]
        saved += [r for r in records if r is not None]
        wave = extensions(config, saved) if None not in records else []
        tasks = tasks + wave
    return len(saved), len(tasks)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``refnet study`` to ``parser``."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help=f"{len(QUICK.seeds)} seeds, {len(QUICK.lrs)} learning rates, "
                           f"{QUICK.epochs} epochs, IMP rounds of {QUICK.prune_epochs} epoch, "
                           "one RigL setting (its time is the table's last line)")
    mode.add_argument("--full", action="store_true",
                      help=f"the default: {len(FULL.seeds)} seeds, {len(FULL.lrs)} learning "
                           f"rates, {FULL.epochs} epochs, IMP rounds of {FULL.prune_epochs} "
                           f"epochs, {len(FULL.rigl)} RigL settings (see analysis/README.md "
                           "for its time on 2 cores)")
    parser.add_argument("--out", default="refnet-study",
                        help="output folder (default %(default)s); finished runs are kept in "
                             "its runs/ folder, and the same command run again reads them "
                             "instead of training them (delete runs/ to start afresh)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=POSITIVE,
                       help="trainings run in parallel in this many processes (default 1; "
                            "the results are bitwise the same for any number)")
    where.add_argument("--scheduler", type=_scheduler,
                       help="run the trainings on a dask.distributed cluster: a running "
                            "scheduler's ADDRESS, or local:N to start N single-threaded "
                            "workers here (the 'cluster' extra; bitwise the same results)")
    parser.add_argument("--methods", type=_names,
                        help="comma-separated method keys: " + ", ".join(METHODS))
    parser.add_argument("--alpha", type=_names, default=("trainable",),
                        help="DCTpS rows with alpha 'trainable' (default), 'fixed' at 1, or "
                             "both: fixed,trainable")
    parser.add_argument("--offsets", type=_names, default=("dct",),
                        help="the DCTpS rows (and their floors) with each of these fixed offsets "
                             f"in place of the DCT: {','.join(OFFSETS)} (default dct)")
    parser.add_argument("--densities", type=_floats, help="comma-separated, e.g. 1e-2,1e-3")
    parser.add_argument("--seeds", type=_seeds, help="comma-separated seeds")
    parser.add_argument("--lrs", type=_floats, help="comma-separated learning-rate grid")
    parser.add_argument("--epochs", type=POSITIVE)
    parser.add_argument("--model", help="reference model (default lenet300)")
    parser.add_argument("--data", help="dataset (default mnist5k)")
    parser.add_argument("--no-spectra", action="store_true",
                        help="skip the Jacobian-spectra figure (refnet spectrum's defaults)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _refuse_no_op(option: str, value: tuple, default: tuple, before: tuple, after: tuple):
    if value != default and after == before:
        raise ValueError(f"{option} {','.join(value)} changes nothing: none of the methods "
                         f"({','.join(before)}) has a row it applies to")


def run_command(args) -> int:
    """Run the study; print its table (or JSON with ``--json``) and write its files.  Ctrl-C
    and SIGTERM stop it: one line saying how many runs are saved, exit status 128 + signal."""
    base = QUICK if args.quick else FULL
    methods = args.methods
    if methods is None and args.model is not None:
        # the default methods that cannot build this model (Doping and a CNN) are left out
        methods, skipped = applicable(base.methods, args.model, {})
        for key, reason in skipped.items():     # said even with --quiet: the table changes
            print(f"refnet study: leaving out {key}: {reason}", file=sys.stderr)
    methods = tuple(methods or base.methods)
    with_alpha = _with_alpha_rows(methods, args.alpha)
    _refuse_no_op("--alpha", args.alpha, ("trainable",), methods, with_alpha)
    with_offsets = _with_offset_rows(with_alpha, args.offsets)
    _refuse_no_op("--offsets", args.offsets, ("dct",), with_alpha, with_offsets)
    given = dict(densities=args.densities, seeds=args.seeds, lrs=args.lrs, epochs=args.epochs,
                 model=args.model, data=args.data)
    config = replace(base, methods=with_offsets,
                     **{k: v for k, v in given.items() if v is not None})
    from refnet.cli.spectrum import FIGURE_NAME, TABLE_NAME
    spectra = () if args.no_spectra else (FIGURE_NAME, TABLE_NAME)
    check_output_dir("--out", args.out, OUTPUT_NAMES + spectra, (store.FOLDER,))
    tasks = tasks_of(config)
    try:
        with contextlib.ExitStack() as stack:
            executor = (stack.enter_context(dask_executor(args.scheduler)) if args.scheduler
                        else None)
            for folder in (args.out, os.path.join(args.out, store.FOLDER)):
                remove_stale(folder)
            if not args.quiet:
                where = (f"dask scheduler {args.scheduler}" if args.scheduler
                         else f"{args.workers or 1} worker(s)")
                print(f"refnet study: {len(tasks)} trainings on {where}; writing to "
                      f"{args.out}/", file=sys.stderr, flush=True)
            result = run_study(config, workers=args.workers or 1, executor=executor,
                               progress=not args.quiet, store=args.out)
            summary = summarize(result)
            paths = write_outputs(summary, result.records, args.out)
            if not args.no_spectra:     # the "when is training possible" figure and table
                from refnet.cli.spectrum import write_files
                from refnet.cli.spectrum.study import spectrum_study
                paths.update({f"spectra {what}": path for what, path
                              in write_files(spectrum_study(), args.out).items()})
    except (KeyboardInterrupt, Stopped) as err:     # main's handlers raise Stopped
        signum = err.args[0] if isinstance(err, Stopped) else signal.SIGINT
        saved, known = _saved(config, tasks, args.out)
        print(f"refnet study: stopped by {signal.Signals(signum).name}; {saved} of "
              f"{known} runs are saved in {os.path.join(args.out, store.FOLDER)}/: run "
              "the same command again to train the rest", file=sys.stderr)
        return 128 + signum
    if args.json:
        keep = ("method", "key", "density", "acc_mean", "acc_std", "acc_ci", "delta", "lr",
                "edge", "options", "cost", "needs", "note")
        print(json.dumps(strict_json({"dense_acc": summary["dense_acc"],
                                      "rows": [{k: row[k] for k in keep}
                                               for row in summary["rows"]]}),
                         indent=1, allow_nan=False))
    else:
        print(markdown_table(summary))
        if not args.quiet:
            print("wrote " + ", ".join(paths.values()), file=sys.stderr)
    return 0
