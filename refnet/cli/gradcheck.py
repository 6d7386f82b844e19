"""``refnet gradcheck``: the checker over every example of every specimen.

The examples are the ``examples`` of :data:`refnet.specimens.SPECIMENS` (the registry the
tests draw from), each at a point drawn from ``--seed``; a table (or ``--json``) gives the
worst relative error of each input and parameter, and the exit status is 1 on a failure.
"""
from __future__ import annotations

import argparse
import json
import re
import sys

from refnet.cli import NATURAL, text_table
from refnet.specimens import SPECIMENS, case, fixed
from refnet.testing import GradCheckReport, check_layer

__all__ = ["run_gradcheck", "summarize"]


def run_gradcheck(seed: int = 0, specimens=None) -> list[GradCheckReport]:
    """One report per example of every specimen (default :data:`~refnet.specimens.SPECIMENS`),
    at batch 3 unless the example says otherwise, with points and directions from ``seed``."""
    reports = []
    for specimen in SPECIMENS if specimens is None else specimens:
        for name, values in specimen.examples.items():
            layer, x, params, rng = case(specimen, fixed({"batch": 3, **values, "seed": seed}))
            reports.append(check_layer(layer, x, params, seed=rng, tol=specimen.tol, name=name))
    return reports


def summarize(reports) -> list[dict]:
    """One row per (layer, parameter): the worst relative error over its checks.

    ``passed`` is true when every check of that quantity passed its own tolerance;
    ``checks`` maps each check to its worst error and ``notes`` lists the checker's notes
    (such as ``refnet.testing.BELOW_RESOLUTION``).
    """
    rows: dict[tuple[str, str], dict] = {}
    for report in reports:
        for r in report.results:
            # the checker's names for the input and the batched checks, not parameter paths
            x = re.fullmatch(r"x(\d+|\*)?|y_dot|x_bar\+params_bar", r.param)
            key = (r.layer, "x" if x else r.param)
            row = rows.setdefault(key, {"layer": key[0], "param": key[1], "rel_error": 0.0,
                                        "passed": True, "checks": {}, "notes": []})
            row["rel_error"] = max(row["rel_error"], r.rel_error)
            row["passed"] = row["passed"] and r.passed
            row["checks"][r.check] = max(row["checks"].get(r.check, 0.0), r.rel_error)
            if r.note and r.note not in row["notes"]:
                row["notes"].append(r.note)
    return list(rows.values())


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=NATURAL, default=0, help="seed of points and directions")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_command(args) -> int:
    rows = summarize(run_gradcheck(args.seed))
    passed = all(row["passed"] for row in rows)
    if args.json:
        print(json.dumps({"passed": passed, "seed": args.seed, "results": rows}, indent=1))
    else:
        print(text_table([("layer", "param", "max rel. error", "passed")] + [
            (r["layer"], r["param"], f"{r['rel_error']:.2e}", "yes" if r["passed"] else "NO")
            for r in rows], left=4))
        layers = len({r["layer"] for r in rows})
        worst = max(r["checks"].get("vjp_fd", 0.0) for r in rows)
        print(f"\n{layers} layers/networks, {len(rows)} quantities; worst finite-difference "
              f"error {worst:.1e}; {'all passed' if passed else 'FAILURES'}", file=sys.stderr)
    return 0 if passed else 1
