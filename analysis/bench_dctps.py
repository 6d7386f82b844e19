"""Regenerate the DCTpS benchmark table (``bench-dctps`` block).

    python analysis/bench_dctps.py            # runs `refnet bench dctps`, writes analysis/out/
    python analysis/bench_dctps.py --readme   # ... and puts the table into its block

Writes ``analysis/out/bench_dctps.json`` (the report) and ``.md`` (the table); a run during
which other processes used more than ``--max-busy`` of the CPU goes to ``*.busy.*`` instead
and exits 1 (:func:`readme_blocks.save_bench`).  With torch installed, the original's method
also runs in torch autograd, float32 and float64, on the layer's threads: the comparison a
user would make (refnet never imports torch).
"""
import functools
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refnet.cli.bench import OriginalDCTplusLinear, dctps_table, run_dctps  # noqa: E402
from refnet.ops import fast  # noqa: E402
from readme_blocks import run_bench_script  # noqa: E402


def torch_original(dtype: str):
    """``prepare(layer, params, x, y_bar) -> step``: one forward + backward of the original's
    ``DCTplusLinear`` (dense D, masked dense S) in torch autograd, returning ``(y, x_bar)``."""
    def prepare(layer, params, x, y_bar):
        import torch
        torch.set_num_threads(fast.get_num_threads())
        dt = getattr(torch, dtype)
        o = OriginalDCTplusLinear(layer, params)
        f, mask = torch.tensor(o.f, dtype=dt), torch.tensor(o.mask, dtype=dt)
        W = torch.tensor(o.W, dtype=dt, requires_grad=True)
        W.register_hook(lambda g: g * mask)
        alpha = torch.tensor(o.alpha, dtype=dt, requires_grad=True)
        b = torch.tensor(o.b, dtype=dt, requires_grad=True)
        xt = torch.tensor(x, dtype=dt, requires_grad=True)
        yt_bar = torch.tensor(y_bar, dtype=dt)

        def step():
            for t in (W, alpha, b, xt):
                t.grad = None
            y = alpha * (xt @ f) + xt @ W.T + b
            y.backward(yt_bar)
            return y.detach().numpy(), xt.grad.numpy()
        return step
    return prepare


if __name__ == "__main__":
    try:
        import torch  # noqa: F401
        extra = {"torch f32": torch_original("float32"), "torch f64": torch_original("float64")}
    except ImportError:
        extra = None
    sys.exit(run_bench_script(__doc__, functools.partial(run_dctps, extra_methods=extra),
                              dctps_table, ROOT / "analysis" / "out", "bench_dctps",
                              "bench-dctps"))
