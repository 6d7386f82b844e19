"""The quick study's wall time three ways, and a resumed study's (``study-wall-time`` block).

    python analysis/study_wall_time.py            # writes analysis/out/study_wall_time.*
    python analysis/study_wall_time.py --readme   # ... and puts the table into its block

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

WAYS = (["--workers", "1"], ["--workers", "2"], ["--scheduler", "local:2"], ["--workers", "1"])


def _cpu_ticks():
    """(all CPU ticks, idle ticks, ticks used by this process and its finished children)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:8]]
    t = os.times()
    own = (t.user + t.system + t.children_user + t.children_system) * os.sysconf("SC_CLK_TCK")
    return sum(ticks), ticks[3] + ticks[4], own


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="update the README's block")
    parser.add_argument("--max-busy", type=float, default=0.05,
                        help="largest CPU share of other processes accepted (default 0.05)")
    args = parser.parse_args(argv)
    rows, csv = [], set()
    start = _cpu_ticks()
    with tempfile.TemporaryDirectory() as tmp:
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
    end = _cpu_ticks()
    assert len(csv) == 1, "the ways gave different tables"
    busy = end[0] - start[0] - (end[1] - start[1])
    share = max(0.0, (busy - (end[2] - start[2])) / (end[0] - start[0]))
    table = "\n".join(["| `refnet study --quick` | wall time | against `--workers 1` |",
                       "| --- | ---: | ---: |"]
                      + [f"| {way} | {seconds:.1f} s | {rows[0][1] / seconds:.2f}x |"
                         for way, seconds in rows]
                      + ["", f"{os.cpu_count()} cores, the same run; the tables of the three "
                             "ways are bitwise the same."])
    report = {"rows": [{"way": w, "seconds": s} for w, s in rows], "cpu_count": os.cpu_count(),
              "other_processes_cpu_share": share}
    return save_bench(report, table, ROOT / "analysis" / "out", "study_wall_time",
                      marker="study-wall-time", readme=args.readme, max_busy=args.max_busy)


if __name__ == "__main__":
    sys.exit(main())
