"""What the analysis scripts share: markdown blocks between markers, benchmark files, and
benchmark runs each in a fresh process.

A block is the text between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` in one of
:data:`DOCS`; tests keep each block equal to the file a command wrote, so the documentation
never shows a number that no run produced.
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The markdown files that hold blocks: the front door and the results.
DOCS = (ROOT / "README.md", ROOT / "analysis" / "README.md")


def _pattern(marker: str):
    return re.compile(rf"(<!-- {marker}:begin -->\n)(.*?)(\n<!-- {marker}:end -->)", re.S)


def find_doc(marker: str, docs=DOCS) -> Path:
    """The first of ``docs`` that holds the block ``marker``."""
    for path in docs:
        if path.exists() and _pattern(marker).search(path.read_text()):
            return path
    raise SystemExit(f"no {marker} markers in " + ", ".join(str(p) for p in docs))


def read_block(marker: str, docs=DOCS) -> str:
    """The text of the block ``marker``, from the first of ``docs`` that holds it."""
    return _pattern(marker).search(find_doc(marker, docs).read_text()).group(2)


def replace_block(text: str, marker: str, content: str, name: str = "the text") -> str:
    """``text`` with the block ``marker`` (which must exist already) holding ``content``."""
    pattern = _pattern(marker)
    if not pattern.search(text):
        raise SystemExit(f"{name} has no {marker} markers")
    return pattern.sub(lambda m: m.group(1) + content.rstrip("\n") + m.group(3), text)


def update_readme(blocks: dict, docs=DOCS) -> None:
    """Replace the blocks ``{marker: content}``, each in the first of ``docs`` that holds it."""
    for marker, content in blocks.items():
        path = find_doc(marker, docs)
        path.write_text(replace_block(path.read_text(), marker, content, str(path)))


def run_bench_script(doc: str, run, table, out: Path, stem: str, marker: str, argv=None) -> int:
    """The whole of a benchmark script: parse ``--readme --max-busy --repeats``, run
    ``run(repeats=..., progress=...)``, and :func:`save_bench` its ``table(report)``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--readme", action="store_true",
                        help="update the block in README.md or analysis/README.md")
    parser.add_argument("--max-busy", type=float, default=0.05,
                        help="largest CPU share of other processes accepted (default 0.05)")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    report = run(repeats=args.repeats, progress=lambda s: print(s, file=sys.stderr))
    return save_bench(report, table(report), out, stem, marker=marker, readme=args.readme,
                      max_busy=args.max_busy)


def save_bench(report: dict, table: str, out: Path, stem: str, *, marker: str,
               readme: bool, max_busy: float) -> int:
    """Write a benchmark's ``STEM.json`` and ``STEM.md`` into ``out``, and with ``readme`` its
    block.

    A run during which other processes used more than ``max_busy`` of the CPU goes to
    ``STEM.busy.*`` instead, leaves the block alone and returns 1: a busy neighbour slows the
    multi-threaded BLAS baselines most, which would flatter the speedups.
    """
    busy = report["other_processes_cpu_share"]
    clean = busy is None or busy <= max_busy
    out.mkdir(parents=True, exist_ok=True)
    stem = stem if clean else f"{stem}.busy"
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / f"{stem}.md").write_text(table + "\n")
    print(table)
    if not clean:
        print(f"\nother processes used {100 * busy:.0f}% of the CPU (> {100 * max_busy:.0f}%):"
              f" wrote {stem}.*, left the README alone; rerun on a quiet machine",
              file=sys.stderr)
        return 1
    if readme:
        update_readme({marker: table})
    return 0


def minor_faults() -> int:
    """Minor page faults of this process so far (``getrusage``): a fresh array costs one per
    4 KiB page it writes, which the allocator's state decides."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def allocator_state() -> dict:
    """The ``MALLOC_*`` environment variables (glibc's tunables), empty for its defaults."""
    return {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}


def fresh_process_rounds(command, methods, rounds: int, *,
                         threads: int = 2, progress=None) -> tuple[dict, float | None]:
    """Run every method ``rounds`` times, each run in a FRESH process; ``(runs, share)``.

    ``command(method)`` is the argv of one run, which prints one JSON object as its last
    line of output; ``runs[method]`` lists those objects.  Round ``r`` starts at method
    ``r % len(methods)``, so no method always follows the same one; every child gets
    ``threads`` BLAS threads.  ``share`` is the part of the CPU time that processes other
    than this one and its children used meanwhile (None without ``/proc/stat``): a busy
    neighbour slows the multi-threaded baselines most.
    """
    from refnet.cli.bench import cpu_share
    methods = list(methods)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    runs = {m: [] for m in methods}
    with cpu_share() as share:
        for r in range(rounds):
            for method in methods[r % len(methods):] + methods[:r % len(methods)]:
                done = subprocess.run(command(method), env=env, capture_output=True,
                                      text=True)
                lines = done.stdout.strip().splitlines()
                if done.returncode != 0 or not lines:
                    raise RuntimeError(f"{method} failed (exit {done.returncode}, "
                                       f"{len(lines)} lines of output):\n{done.stderr[-2000:]}")
                runs[method].append(json.loads(lines[-1]))
                if progress:
                    progress(f"round {r + 1}/{rounds} {method}: {runs[method][-1]}")
    return runs, share["value"]
