"""Regenerate the offsets benchmark table (``bench-offsets`` block).

    python analysis/bench_offsets.py            # runs `refnet bench offsets`, writes the files
    python analysis/bench_offsets.py --readme   # ... and puts the table into its block

Writes ``analysis/out/offsets/bench.json`` (the report) and ``.md`` (the table); a run during
which other processes used more than ``--max-busy`` of the CPU goes to ``bench.busy.*``
instead and exits 1 (:func:`readme_blocks.save_bench`).
"""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refnet.cli.bench import offsets_table, run_offsets  # noqa: E402
from readme_blocks import run_bench_script  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_bench_script(__doc__, run_offsets, offsets_table,
                              ROOT / "analysis" / "out" / "offsets", "bench", "bench-offsets"))
