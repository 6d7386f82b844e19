"""Regenerate the offsets benchmark table of the README ("Offsets beyond the DCT").

    python analysis/bench_offsets.py            # runs `refnet bench offsets`, writes the files
    python analysis/bench_offsets.py --readme   # ... and puts the table into README.md

Writes ``analysis/out/offsets/bench.json`` (the full report) and
``analysis/out/offsets/bench.md`` (the table).  With ``--readme`` the table
replaces the lines between the ``bench-offsets`` markers of README.md.  A run
during which other processes used more than ``--max-busy`` of the CPU is
written to ``bench.busy.*`` instead and the script exits 1.
"""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refnet.cli.bench import offsets_table, run_offsets  # noqa: E402
from readme_blocks import run_bench_script  # noqa: E402


def main(argv=None) -> int:
    return run_bench_script(__doc__, run_offsets, offsets_table,
                            ROOT / "analysis" / "out" / "offsets", "bench", "bench-offsets", argv)


if __name__ == "__main__":
    sys.exit(main())
