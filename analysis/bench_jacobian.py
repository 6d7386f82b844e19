"""Exact Jacobian of a 784-256x6-10 ReLU MLP at 100 inputs: refnet against torch.func, each
method in a fresh process.

    python analysis/bench_jacobian.py [--rounds 3] [--repeats 10] [--threads 2] [--json]
                                      [--out analysis/out/bench_jacobian.md]

Methods: ``refnet`` (:func:`refnet.jacobian.jacobian`, float64), ``refnet-loop`` (one backward
pass per output), ``torch-f64`` and ``torch-f32`` (``vmap(jacrev(f))``).  Each run happens in
its own process, so no method inherits the allocator state another left behind (torch's
large allocations raise glibc's mmap threshold for whatever runs after it in the same
process); the rounds interleave the methods.  A run times ``--repeats`` calls after one
untimed call, counts the minor page faults of each, and only then checks its Jacobian against
refnet's (relative 1e-12 in float64, 1e-4 in float32).  refnet never imports torch: without
it, only the refnet rows are measured.
"""
import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)   # this clone's refnet, whether or not it is installed

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from readme_blocks import allocator_state, fresh_process_rounds, minor_faults  # noqa: E402
from refnet.cli.bench import _loop_per_output, mlp  # noqa: E402
from refnet.jacobian import jacobian  # noqa: E402
from refnet.testing import relative_error  # noqa: E402

WIDTHS, N_INPUTS = (784,) + (256,) * 6 + (10,), 100
METHODS = ("refnet", "refnet-loop", "torch-f64", "torch-f32")
TOLERANCE = {"torch-f32": 1e-4}


def torch_jacrev(params, x, dtype: str):
    """``run()`` computing the same Jacobian with torch.func's ``vmap(jacrev)``."""
    import torch
    from torch.func import jacrev, vmap
    dt = getattr(torch, dtype)
    layers = [(torch.tensor(params[f"fc{i}"]["W"], dtype=dt),
               torch.tensor(params[f"fc{i}"]["b"], dtype=dt)) for i in range(1, len(WIDTHS))]

    def f(v):
        for i, (W, b) in enumerate(layers):
            v = v @ W.T + b
            if i < len(layers) - 1:
                v = torch.relu(v)
        return v

    jac, xt = vmap(jacrev(f)), torch.tensor(x, dtype=dt)

    def run():
        with torch.no_grad():
            return jac(xt).numpy()
    return run


def worker(method: str, repeats: int, seed: int, threads: int) -> dict:
    net = mlp(WIDTHS)
    rng = np.random.default_rng(seed)
    params = net.init(rng)
    x = rng.standard_normal((N_INPUTS, WIDTHS[0]))
    if method.startswith("torch"):
        import torch
        torch.set_num_threads(threads)
        run = torch_jacrev(params, x, "float" + method[-2:])
    else:
        run = {"refnet": lambda: jacobian(net, params, x),
               "refnet-loop": lambda: _loop_per_output(net, params, x)}[method]
    result = run()
    times, faults = [], []
    for _ in range(repeats):
        del result          # as a caller that drops J before the next call
        start, faults0 = time.perf_counter(), minor_faults()
        result = run()
        times.append(time.perf_counter() - start)
        faults.append(minor_faults() - faults0)
    diff = relative_error(np.asarray(result, dtype=np.float64), jacobian(net, params, x))
    if not diff <= TOLERANCE.get(method, 1e-12):
        raise RuntimeError(f"{method}: relative difference {diff:.2e} to refnet's Jacobian")
    return {"seconds": statistics.median(times), "faults_per_call": statistics.median(faults),
            "max_rel_diff": diff}


def table(rep: dict) -> str:
    rows = rep["methods"]
    lines = [f"Exact Jacobian of a {'-'.join(map(str, WIDTHS))} ReLU MLP at {N_INPUTS} inputs, "
             "each method in a fresh process:", "",
             "| method | time | time / refnet | minor page faults per call | max rel. diff. |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for method, r in rows.items():
        lines.append(f"| {method} | {r['seconds'] * 1e3:.1f} ms "
                     f"| {r['seconds'] / rows['refnet']['seconds']:.2f}x "
                     f"| {r['faults_per_call']:.0f} | {r['max_rel_diff']:.1e} |")
    share = rep["other_processes_cpu_share"]
    lines += ["", f"medians of {rep['repeats']} calls per run and of {rep['rounds']} "
                  f"interleaved rounds, {rep['threads']} thread(s) everywhere, allocator: "
                  f"{rep['allocator']}, numpy {np.__version__}"
                  + (f", torch {rep['torch']}" if rep["torch"] else ", torch not installed")
                  + (f", other processes used {100 * share:.0f}% of the CPU" if share is not None
                     else "") + "."]
    if share is not None and share > 0.05:
        lines += ["", f"**Warning: other processes used {100 * share:.0f}% of the CPU during "
                      "this run: provisional numbers, rerun on a quiet machine.**"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", help="also write the markdown table to this file")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("rounds", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats, args.seed, args.threads)))
        return 0
    try:
        import torch
        version, methods = torch.__version__, list(METHODS)
    except ImportError:
        version, methods = None, [m for m in METHODS if not m.startswith("torch")]
    runs, share = fresh_process_rounds(
        lambda m: [sys.executable, os.path.abspath(__file__), "--worker", m, "--repeats",
                   str(args.repeats), "--seed", str(args.seed), "--threads", str(args.threads)],
        methods, args.rounds, threads=args.threads,
        progress=lambda s: print(s, file=sys.stderr, flush=True))
    rep = {"benchmark": "jacobian", "widths": list(WIDTHS), "n_inputs": N_INPUTS,
           "rounds": args.rounds, "repeats": args.repeats, "threads": args.threads,
           "other_processes_cpu_share": share, "allocator": allocator_state() or "glibc defaults",
           "torch": version,
           "methods": {m: {"seconds": statistics.median(r["seconds"] for r in runs[m]),
                           "faults_per_call": statistics.median(r["faults_per_call"]
                                                                for r in runs[m]),
                           "max_rel_diff": max(r["max_rel_diff"] for r in runs[m]),
                           "seconds_each_round": [r["seconds"] for r in runs[m]]}
                       for m in methods}}
    text = json.dumps(rep, indent=1) if args.json else table(rep)
    print(text)
    if args.out:
        from refnet._files import atomic_output
        with atomic_output(args.out, "w") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
