"""``refnet study``: the README's main job."""
from __future__ import annotations

import argparse
import json
import sys

from refnet.ops.offsets import OFFSETS
from refnet.cli.study.methods import ALPHA_METHODS, METHODS, OFFSET_METHODS, applicable
from refnet.cli.study.report import markdown_table, strict_json, summarize, write_outputs
from refnet.cli.study.runner import FULL, QUICK, run_study, tasks_of, with_overrides

__all__ = ["configure_parser", "run_command"]


def _floats(text):
    return tuple(float(v) for v in text.split(","))


def _ints(text):
    return tuple(int(v) for v in text.split(","))


def _names(text):
    return tuple(v.strip() for v in text.split(",") if v.strip())


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


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``refnet study`` to ``parser``."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help=f"2 seeds, 2 learning rates, {QUICK.epochs} epochs (under 5 minutes "
                           "on 2 cores with --workers 2)")
    mode.add_argument("--full", action="store_true",
                      help=f"the default: 3 seeds, 3 learning rates, {FULL.epochs} epochs "
                           "(about 11 minutes on 2 cores with --workers 2)")
    parser.add_argument("--out", default="refnet-study", help="output folder (default %(default)s)")
    parser.add_argument("--workers", type=int, default=1,
                        help="trainings run in parallel in this many processes (default 1; "
                             "the results are bitwise the same for any number)")
    parser.add_argument("--methods", type=_names,
                        help="comma-separated method keys: " + ", ".join(METHODS))
    parser.add_argument("--alpha", type=_names, default=("trainable",),
                        help="DCTpS rows with alpha 'trainable' (default), 'fixed' at 1, or "
                             "both: fixed,trainable")
    parser.add_argument("--offsets", type=_names, default=("dct",),
                        help="the DCTpS rows (and their floors) with each of these fixed offsets "
                             f"in place of the DCT: {','.join(OFFSETS)} (default dct)")
    parser.add_argument("--densities", type=_floats, help="comma-separated, e.g. 1e-2,1e-3")
    parser.add_argument("--seeds", type=_ints, help="comma-separated seeds")
    parser.add_argument("--lrs", type=_floats, help="comma-separated learning-rate grid")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--model", help="reference model (default lenet300)")
    parser.add_argument("--data", help="dataset (default mnist5k)")
    parser.add_argument("--no-spectra", action="store_true",
                        help="skip the Jacobian-spectra figure (refnet spectrum's defaults)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run_command(args) -> int:
    """Run the study; print its table (or JSON with ``--json``) and write its files."""
    base = QUICK if args.quick else FULL
    methods = args.methods
    if methods is None and args.model is not None:
        # the default methods that cannot build this model (Doping and a CNN) are left out
        methods, skipped = applicable(base.methods, args.model, {})
        for key, reason in skipped.items():
            print(f"refnet study: leaving out {key}: {reason}", file=sys.stderr)
    methods = _with_offset_rows(_with_alpha_rows(tuple(methods or base.methods), args.alpha),
                                args.offsets)
    config = with_overrides(base, methods=methods, densities=args.densities,
                            seeds=args.seeds, lrs=args.lrs, epochs=args.epochs,
                            model=args.model, data=args.data)
    if not args.quiet:
        print(f"refnet study: {len(tasks_of(config))} trainings on {args.workers} worker(s); "
              f"writing to {args.out}/", file=sys.stderr, flush=True)
    result = run_study(config, workers=args.workers, progress=not args.quiet)
    summary = summarize(result)
    paths = write_outputs(summary, result.records, args.out)
    if not args.no_spectra:     # the "when is training possible" figure and table
        from refnet.cli.spectrum import write_files
        from refnet.cli.spectrum.study import spectrum_study
        paths.update({f"spectra {what}": path
                      for what, path in write_files(spectrum_study(), args.out).items()})
    if args.json:
        keep = ("method", "key", "density", "acc_mean", "acc_std", "delta", "lr", "note")
        print(json.dumps(strict_json({"dense_acc": summary["dense_acc"],
                                      "rows": [{k: row[k] for k in keep}
                                               for row in summary["rows"]]}),
                         indent=1, allow_nan=False))
    else:
        print(markdown_table(summary))
        print("wrote " + ", ".join(paths.values()), file=sys.stderr)
    return 0
