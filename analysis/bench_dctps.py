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
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refnet.bench import dctps_table, run_dctps  # noqa: E402
from readme_blocks import save_bench  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="update README.md")
    parser.add_argument("--max-busy", type=float, default=0.05,
                        help="largest CPU share of other processes accepted (default 0.05)")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)

    report = run_dctps(repeats=args.repeats, progress=lambda s: print(s, file=sys.stderr))
    return save_bench(report, dctps_table(report), ROOT / "analysis" / "out", "bench_dctps",
                      marker="bench-dctps", readme=args.readme, max_busy=args.max_busy)


if __name__ == "__main__":
    sys.exit(main())
