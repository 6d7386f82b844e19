"""Regenerate the offsets benchmark table of the README ("Offsets beyond the DCT").

    python analysis/bench_offsets.py            # runs `refnet bench offsets`, writes the files
    python analysis/bench_offsets.py --readme   # ... and puts the table into README.md

Writes ``analysis/out/offsets/bench.json`` (the full report) and
``analysis/out/offsets/bench.md`` (the table).  With ``--readme`` the table
replaces the lines between the ``bench-offsets`` markers of README.md.  A run
during which other processes used more than ``--max-busy`` of the CPU is
written to ``bench.busy.*`` instead and the script exits 1.
"""
import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refnet.bench import offsets_table, run_offsets  # noqa: E402
from readme_blocks import save_bench  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="update README.md")
    parser.add_argument("--max-busy", type=float, default=0.05,
                        help="largest CPU share of other processes accepted (default 0.05)")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)

    report = run_offsets(repeats=args.repeats, progress=lambda s: print(s, file=sys.stderr))
    return save_bench(report, offsets_table(report), ROOT / "analysis" / "out" / "offsets", "bench",
                      marker="bench-offsets", readme=args.readme, max_busy=args.max_busy)


if __name__ == "__main__":
    sys.exit(main())
