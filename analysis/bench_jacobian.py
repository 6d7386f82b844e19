"""Exact Jacobian of a 784-256x6-10 ReLU MLP at 100 inputs: refnet's batched call against
loops of backward passes and, when torch is installed, torch.func's vmap(jacrev).

    python analysis/bench_jacobian.py [--repeats 10] [--json] [--out analysis/out/bench_jacobian.md]

refnet's own modules never import torch; this script plugs it in as an extra method of
:func:`refnet.cli.bench_jacobian.benchmark_jacobian`, which checks that every method agrees with the
batched Jacobian (relative 1e-12) before timing anything.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)   # this clone's refnet, whether or not it is installed

from refnet.cli.bench_jacobian import benchmark_jacobian  # noqa: E402


def torch_jacrev(widths, params, x):
    """Build ``run()`` computing the same Jacobian with torch.func in float64."""
    import torch
    from torch.func import jacrev, vmap
    layers = [(torch.from_numpy(params[f"fc{i}"]["W"]), torch.from_numpy(params[f"fc{i}"]["b"]))
              for i in range(1, len(widths))]

    def f(v):
        for i, (W, b) in enumerate(layers):
            v = v @ W.T + b
            if i < len(layers) - 1:
                v = torch.relu(v)
        return v

    jac, xt = vmap(jacrev(f)), torch.from_numpy(x)

    def run():
        with torch.no_grad():
            return jac(xt).numpy()
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", help="also write the markdown table to this file")
    args = parser.parse_args()
    extra, extra_version = {}, None
    try:
        import torch
        extra["torch_jacrev"], extra_version = torch_jacrev, torch.__version__
    except ImportError:
        pass
    result = benchmark_jacobian(repeats=args.repeats, extra_methods=extra)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    lines = ["| method | median time (ms) | time / batched |", "| --- | ---: | ---: |"]
    for name, seconds in result["seconds"].items():
        ratio = 1.0 if name == "batched" else result["speedup"][name]
        lines.append(f"| {name} | {1e3 * seconds:.1f} | {ratio:.2f} |")
    lines += ["", f"medians of {result['repeats']} runs, numpy {result['numpy_version']}"
              + (f", torch {extra_version}" if extra else ", torch not installed")
              + f", {result['cpu_count']} cores, load average {result['load_average'][0]:.2f}"]
    table = "\n".join(lines)
    print(table)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as handle:
            handle.write(table + "\n")
    if not extra:
        print("\n(torch is not installed: pip install '.[crosscheck]' adds the torch.func row)")


if __name__ == "__main__":
    main()
