"""Regenerate the DCTpS benchmark table (``bench-dctps`` block).

    python analysis/bench_dctps.py            # runs `refnet bench dctps`, writes analysis/out/
    python analysis/bench_dctps.py --readme   # ... and puts the table into its block

Writes ``analysis/out/bench_dctps.json`` (the report) and ``.md`` (the table); a run during
which other processes used more than ``--max-busy`` of the CPU goes to ``*.busy.*`` instead
and exits 1 (:func:`readme_blocks.save_bench`).
"""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refnet.cli.bench import dctps_table, run_dctps  # noqa: E402
from readme_blocks import run_bench_script  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_bench_script(__doc__, run_dctps, dctps_table, ROOT / "analysis" / "out",
                              "bench_dctps", "bench-dctps"))
