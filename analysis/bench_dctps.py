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
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refnet.cli.bench import dctps_table, run_dctps  # noqa: E402
from readme_blocks import run_bench_script  # noqa: E402


def main(argv=None) -> int:
    return run_bench_script(__doc__, run_dctps, dctps_table, ROOT / "analysis" / "out",
                            "bench_dctps", "bench-dctps", argv)


if __name__ == "__main__":
    sys.exit(main())
