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
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refnet.bench import offsets_table, run_offsets  # noqa: E402

BEGIN, END = "<!-- bench-offsets:begin -->", "<!-- bench-offsets:end -->"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="update README.md")
    parser.add_argument("--max-busy", type=float, default=0.05,
                        help="largest CPU share of other processes accepted (default 0.05)")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)

    report = run_offsets(repeats=args.repeats, progress=lambda s: print(s, file=sys.stderr))
    table = offsets_table(report)
    busy = report["other_processes_cpu_share"]
    clean = busy is None or busy <= args.max_busy
    out = ROOT / "analysis" / "out" / "offsets"
    out.mkdir(parents=True, exist_ok=True)
    stem = "bench" if clean else "bench.busy"
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
