"""The quick study's wall time three ways, and a resumed study's (``study-wall-time`` block).

    python analysis/study_wall_time.py            # writes analysis/out/study_wall_time.*
    python analysis/study_wall_time.py --readme   # ... and puts the table into its block
    python analysis/study_wall_time.py --full-one-seed --readme   # study_wall_time_full.*

With ``--full-one-seed`` it times one seed of the full study instead (``refnet study --full
--seeds 0 --workers 2 --no-spectra``, block ``study-wall-time-full``): the five-seed study
trains five times its base grid, so five times its time is an estimate of the full study's.

Runs ``refnet study --quick --no-spectra`` with ``--workers 1``, ``--workers 2`` and
``--scheduler local:2`` (the 'cluster' extra), each in a fresh process with a fresh ``--out``,
checks that their ``study.csv`` are bitwise the same, then runs the first again, every run
already in its store.  A run during which other processes used more than ``--max-busy`` of the
CPU goes to ``study_wall_time.busy.*`` and exits 1 (:func:`readme_blocks.save_bench`).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from readme_blocks import ROOT, save_bench

from refnet.cli.bench import cpu_share

WAYS = (["--workers", "1"], ["--workers", "2"], ["--scheduler", "local:2"], ["--workers", "1"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="update the README's block")
    parser.add_argument("--max-busy", type=float, default=0.05,
                        help="largest CPU share of other processes accepted (default 0.05)")
    parser.add_argument("--full-one-seed", action="store_true",
                        help="time seed 0 of the full study instead of the quick study")
    args = parser.parse_args(argv)
    if args.full_one_seed:
        return full_one_seed(args)
    rows, csv = [], set()
    with cpu_share() as share, tempfile.TemporaryDirectory() as tmp:
        for i, way in enumerate(WAYS):
            out = os.path.join(tmp, str(i % 3))
            begin = time.perf_counter()
            subprocess.run([sys.executable, "-m", "refnet", "study", "--quick", "--no-spectra",
                            "--quiet", "--out", out, *way], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
            rows.append((f"`{' '.join(way)}`" + (", every run in its store" if i == 3 else ""),
                         time.perf_counter() - begin))
            with open(os.path.join(out, "study.csv"), "rb") as handle:
                csv.add(handle.read())
            print(f"{rows[-1][0]}: {rows[-1][1]:.1f} s", file=sys.stderr)
    assert len(csv) == 1, "the ways gave different tables"
    table = "\n".join(["| `refnet study --quick` | wall time | against `--workers 1` |",
                       "| --- | ---: | ---: |"]
                      + [f"| {way} | {seconds:.1f} s | {rows[0][1] / seconds:.2f}x |"
                         for way, seconds in rows]
                      + ["", f"{os.cpu_count()} cores, the same run; the tables of the three "
                             "ways are bitwise the same."])
    report = {"rows": [{"way": w, "seconds": s} for w, s in rows], "cpu_count": os.cpu_count(),
              "other_processes_cpu_share": share["value"]}
    return save_bench(report, table, ROOT / "analysis" / "out", "study_wall_time",
                      marker="study-wall-time", readme=args.readme, max_busy=args.max_busy)


def full_one_seed(args) -> int:
    """Time ``refnet study --full --seeds 0 --workers 2`` on its own (module docstring)."""
    with cpu_share() as share, tempfile.TemporaryDirectory() as tmp:
        begin = time.perf_counter()
        subprocess.run([sys.executable, "-m", "refnet", "study", "--full", "--seeds", "0",
                        "--workers", "2", "--no-spectra", "--quiet", "--out", tmp], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - begin
        with open(os.path.join(tmp, "runs.csv")) as handle:
            runs = sum(1 for _ in handle) - 1
    table = "\n".join([
        "| `refnet study --full --workers 2` | trainings | wall time |", "| --- | ---: | ---: |",
        f"| `--seeds 0` (measured) | {runs:,} | {seconds / 60:.1f} min |",
        f"| `--seeds 0,1,2,3,4` (five times that) | about {5 * runs:,} | about "
        f"{5 * seconds / 60:.0f} min |", "",
        f"{os.cpu_count()} cores; other processes used {100 * share['value']:.0f}% of the CPU."])
    report = {"seconds": seconds, "runs": runs, "cpu_count": os.cpu_count(),
              "other_processes_cpu_share": share["value"]}
    return save_bench(report, table, ROOT / "analysis" / "out", "study_wall_time_full",
                      marker="study-wall-time-full", readme=args.readme,
                      max_busy=args.max_busy)


if __name__ == "__main__":
    sys.exit(main())
