"""Regenerate the DCTpS benchmark table of the README.

    python analysis/bench_dctps.py            # runs `refnet bench dctps`, writes analysis/out/
    python analysis/bench_dctps.py --readme   # ... and puts the table into README.md

Writes ``analysis/out/bench_dctps.json`` (the full report) and
``analysis/out/bench_dctps.md`` (the table).  With ``--readme`` the table
replaces the lines between the ``bench-dctps`` markers of README.md.  A run
during which other processes used more than ``--max-busy`` of the CPU is
written to ``*.busy.*`` files instead and the script exits 1: a busy
neighbour slows the multi-threaded BLAS baseline most, which would flatter
the speedups.
"""
import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refnet.bench import dctps_table, run_dctps  # noqa: E402

BEGIN, END = "<!-- bench-dctps:begin -->", "<!-- bench-dctps:end -->"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="update README.md")
    parser.add_argument("--max-busy", type=float, default=0.05,
                        help="largest CPU share of other processes accepted (default 0.05)")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)

    report = run_dctps(repeats=args.repeats, progress=lambda s: print(s, file=sys.stderr))
    table = dctps_table(report)
    busy = report["other_processes_cpu_share"]
    clean = busy is None or busy <= args.max_busy
    out = ROOT / "analysis" / "out"
    out.mkdir(parents=True, exist_ok=True)
    stem = "bench_dctps" if clean else "bench_dctps.busy"
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / f"{stem}.md").write_text(table + "\n")
    print(table)
    if not clean:
        print(f"\nother processes used {100 * busy:.0f}% of the CPU (> {100 * args.max_busy:.0f}%):"
              f" wrote {stem}.*, left the README alone; rerun on a quiet machine",
              file=sys.stderr)
        return 1
    if args.readme:
        readme = ROOT / "README.md"
        text = readme.read_text()
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        if not rest:
            raise SystemExit(f"README.md has no {BEGIN} marker")
        readme.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
