"""A fixed example of every public layer and a few whole networks, for ``refnet gradcheck``.

The test suite draws layer sizes with hypothesis (``tests/layer_specs.py``);
this gallery is the installed package's own, deterministic counterpart: one
small instance of each layer at a seeded point, checked by
:func:`refnet.testing.check_layer` and printed as a table.

Each entry is ``Example(name, build)`` with ``build(rng) -> (layer, x, params)``.
New layers add an entry here (the tests fail for a public layer without one).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Callable, NamedTuple

import numpy as np

from refnet.core import Graph, Sequential
from refnet.core.tree import tree_map
from refnet.layers import (Add, AvgPool2d, Concat, Conv2d, DCTpSConv2d, DCTpSLinear, DopingLinear,
                     Flatten, Identity, LeakyReLU, Linear, MaxPool2d, ReLU, SparseConv2d,
                     SparseLinear, Tanh)
from refnet.testing import GradCheckReport, away_from_zero, check_layer, distinct_values

__all__ = ["Example", "EXAMPLES", "perturbed_params", "run_gradcheck", "summarize", "small_cnn"]


class Example(NamedTuple):
    """A named recipe ``build(rng) -> (layer, x, params)``."""

    name: str
    build: Callable


def perturbed_params(layer, rng, scale: float = 0.3):
    """``layer.init(rng)`` plus N(0, scale^2) noise, so zero-initialised parameters
    (biases, S) take part in every derivative."""
    return tree_map(lambda w: w + scale * rng.standard_normal(np.shape(w)), layer.init(rng))


def _simple(layer, in_shape, sampler=None, batch=3):
    def build(rng):
        sample = sampler or (lambda r, s: r.standard_normal(s))
        if layer.n_inputs is None:
            x = tuple(sample(rng, (batch,) + s) for s in in_shape)
        else:
            x = sample(rng, (batch,) + in_shape)
        return layer, x, perturbed_params(layer, rng)
    return build


def _residual_block():
    return Graph([("fc1", Linear(6, 6), "input"), ("act", ReLU(), "fc1"),
                  ("fc2", Linear(6, 6), "act"), ("sum", Add(), ("input", "fc2"))],
                 input_shape=(6,))


EXAMPLES: list[Example] = [
    Example("Linear", _simple(Linear(5, 4), (5,))),
    Example("Linear(bias=False)", _simple(Linear(4, 6, bias=False), (4,))),
    Example("ReLU", _simple(ReLU(), (7,), away_from_zero)),
    Example("LeakyReLU", _simple(LeakyReLU(0.1), (7,), away_from_zero)),
    Example("Tanh", _simple(Tanh(), (7,))),
    Example("Identity", _simple(Identity(), (3, 2))),
    Example("Flatten", _simple(Flatten(), (2, 3, 2))),
    Example("Add", _simple(Add(), ((4,), (4,)))),
    Example("Concat", _simple(Concat(), ((3,), (2,)))),
    Example("Sequential MLP", _simple(Sequential(
        [("fc1", Linear(6, 8)), ("act", Tanh()), ("fc2", Linear(8, 3))]), (6,))),
    Example("Graph residual block", _simple(_residual_block(), (6,), away_from_zero)),
    Example("SparseLinear", _simple(SparseLinear(6, 5, density=0.3, rng=0), (6,))),
    Example("SparseLinear(kaiming-sparse, bias=False)", _simple(
        SparseLinear(5, 7, nnz=9, rng=1, bias=False, init="kaiming-sparse"), (5,))),
    Example("DCTpSLinear", _simple(DCTpSLinear(6, 8, density=0.2, rng=0), (6,))),
    Example("DCTpSLinear(alpha=0.5 frozen)", _simple(
        DCTpSLinear(8, 5, density=0.2, rng=1, alpha=0.5, train_alpha=False), (8,))),
    Example("SparseConv2d", _simple(SparseConv2d(2, 3, 3, padding=1, density=0.3, rng=0),
                                    (2, 5, 5))),
    Example("DCTpSConv2d", _simple(DCTpSConv2d(2, 4, 3, stride=2, padding=1, density=0.2,
                                               rng=0), (2, 5, 5))),
]


def small_cnn() -> Sequential:
    """Conv2d-ReLU-MaxPool2d-Conv2d-AvgPool2d-Flatten-Linear on 2 x 8 x 8 images."""
    return Sequential([("conv1", Conv2d(2, 3, 3, padding=1)), ("relu", ReLU()),
                       ("maxpool", MaxPool2d(2)), ("conv2", Conv2d(3, 4, (2, 3), padding=(0, 1))),
                       ("avgpool", AvgPool2d(3, stride=1, padding=1)), ("flatten", Flatten()),
                       ("fc", Linear(4 * 3 * 4, 5))], input_shape=(2, 8, 8))


EXAMPLES += [
    Example("Conv2d", _simple(Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1), (2, 6, 5))),
    Example("Conv2d(bias=False)", _simple(Conv2d(3, 2, 1, bias=False), (3, 3, 4))),
    Example("AvgPool2d", _simple(AvgPool2d(3, stride=2, padding=1), (2, 5, 6))),
    # well-separated values: a finite difference never swaps a window's winner
    Example("MaxPool2d", _simple(MaxPool2d(3, stride=2, padding=1), (2, 5, 6), distinct_values)),
    Example("Sequential CNN", _simple(small_cnn(), (2, 8, 8), batch=2)),
]


def _reference_model(name, kind, density, **kwargs):
    """A reference model at a point where every ReLU input is at least 1e-4 from 0
    (``refnet.models.check_point``), with nonzero S, alpha away from 1, biases."""
    def build(rng):
        from refnet.models import build_model, check_point
        net = build_model(name, kind=kind, density=density, distribution="uniform", rng=rng,
                          **kwargs)
        x, params = check_point(net, rng, batch=2)
        return net, x, params
    return build


EXAMPLES += [
    Example("lenet5-cifar sparse (density 0.1)", _reference_model("lenet5-cifar", "sparse", 0.1)),
    Example("lenet5-cifar dctps (density 0.1)", _reference_model("lenet5-cifar", "dctps", 0.1)),
]

# Doping: non-square factors (A 4x2, B 2x3), so a swapped Kronecker order would show
EXAMPLES += [
    Example("DopingLinear", _simple(DopingLinear(6, 8, factors=((2, 3), (4, 2)), density=0.2,
                                                 rng=0), (6,))),
    Example("DopingLinear(pure Kronecker, bias=False)", _simple(
        DopingLinear(12, 6, factors=((4, 3), (3, 2)), nnz=0, rng=1, bias=False), (12,))),
]


def _subspace_mlp(projection):
    """A tanh MLP (67 parameters) on a 12-dimensional random subspace ``w = d + U theta``."""
    def build(rng):
        from refnet.sparsity import SubspaceNetwork
        net = Sequential([("fc1", Linear(4, 8)), ("act", Tanh()), ("fc2", Linear(8, 3))],
                         input_shape=(4,))
        layer = SubspaceNetwork(net, perturbed_params(net, rng), 12, projection=projection,
                                rng=rng)
        return layer, rng.standard_normal((3, 4)), perturbed_params(layer, rng)
    return build


EXAMPLES += [
    Example("SubspaceNetwork (dense U)", _subspace_mlp("dense")),
    Example("SubspaceNetwork (sparse U)", _subspace_mlp("sparse")),
]


# the other offsets of a DCTpS layer (refnet.ops.offsets), rectangular so truncation and
# padding both show; the conv with the randomised DCT acting on every patch
EXAMPLES += [
    Example("DCTpSLinear(offset=randomized-dct)", _simple(
        DCTpSLinear(9, 6, density=0.2, rng=0, offset="randomized-dct", offset_seed=1), (9,))),
    Example("DCTpSLinear(offset=orthogonal)", _simple(
        DCTpSLinear(6, 9, density=0.2, rng=0, offset="orthogonal", offset_seed=2), (6,))),
    Example("DCTpSLinear(offset=identity)", _simple(
        DCTpSLinear(7, 5, density=0.2, rng=0, offset="identity"), (7,))),
    Example("DCTpSLinear(offset=none)", _simple(
        DCTpSLinear(5, 7, density=0.3, rng=0, offset="none"), (5,))),
    Example("DCTpSConv2d(offset=randomized-dct)", _simple(
        DCTpSConv2d(2, 5, 3, padding=1, density=0.2, rng=0, offset="randomized-dct",
                    offset_seed=3), (2, 5, 5))),
]


def run_gradcheck(seed: int = 0, examples=None) -> list[GradCheckReport]:
    """Check every example at ``seed``; one report per example."""
    reports = []
    for example in EXAMPLES if examples is None else examples:
        rng = np.random.default_rng(seed)
        layer, x, params = example.build(rng)
        reports.append(check_layer(layer, x, params, seed=rng, name=example.name))
    return reports


def _is_input_row(param: str) -> bool:
    """The checker's names for the input and the batched checks: ``x``, ``x0``, ``x*``,
    ``y_dot``, ``x_bar+params_bar``.  Parameter paths (``"xform/W"``) are not."""
    return re.fullmatch(r"x(\d+|\*)?|y_dot|x_bar\+params_bar", param) is not None


def summarize(reports) -> list[dict]:
    """One row per (layer, parameter): the worst relative error over its checks.

    ``passed`` is true when every check of that quantity passed its own
    tolerance (the exact checks are held to about 1e-11, finite differences
    to 1e-6).  ``checks`` maps each check to its worst error and ``notes``
    lists the checker's notes (such as ``refnet.testing.BELOW_RESOLUTION``).
    """
    rows: dict[tuple[str, str], dict] = {}
    for report in reports:
        for r in report.results:
            key = (r.layer, "x" if _is_input_row(r.param) else r.param)
            row = rows.setdefault(key, {"layer": key[0], "param": key[1], "rel_error": 0.0,
                                        "passed": True, "checks": {}, "notes": []})
            row["rel_error"] = max(row["rel_error"], r.rel_error)
            row["passed"] = row["passed"] and r.passed
            row["checks"][r.check] = max(row["checks"].get(r.check, 0.0), r.rel_error)
            if r.note and r.note not in row["notes"]:
                row["notes"].append(r.note)
    return list(rows.values())


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of points and directions")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_command(args) -> int:
    rows = summarize(run_gradcheck(args.seed))
    passed = all(row["passed"] for row in rows)
    if args.json:
        print(json.dumps({"passed": passed, "seed": args.seed, "results": rows}, indent=1))
    else:
        table = [("layer", "param", "max rel. error", "passed")] + [
            (r["layer"], r["param"], f"{r['rel_error']:.2e}", "yes" if r["passed"] else "NO")
            for r in rows]
        widths = [max(len(t[c]) for t in table) for c in range(4)]
        for t in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(t, widths)).rstrip())
        layers = len({r["layer"] for r in rows})
        worst = max(r["checks"].get("vjp_fd", 0.0) for r in rows)
        print(f"\n{layers} layers/networks, {len(rows)} quantities; worst finite-difference "
              f"error {worst:.1e}; {'all passed' if passed else 'FAILURES'}", file=sys.stderr)
    return 0 if passed else 1
