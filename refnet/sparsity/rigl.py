"""RigL: dynamic sparse training by dropping small weights and growing large gradients.

RigL (Evci, Gale, Menick, Castro & Elsen, ICML 2020, "Rigging the Lottery")
moves a fraction of every sparse layer's entries every ``delta_t`` optimizer
steps until ``end_step``; here on the ``S`` of sparse and DCTpS layers
("DCTpS + RigL": ``alpha``, the offset and the biases are never touched).
One update after step ``t`` (``t % delta_t == 0``, ``0 < t < end_step``), per
layer with ``nnz`` stored entries::

    f(t)   = (a / 2) * (1 + cos(pi * t / end_step))      drop fraction, a = 0.3
    k      = int(f(t) * nnz)                             entries to move (floor)
    drop   = the k stored entries of smallest |S|
    kept   = the other nnz - k stored entries
    G      = dL/dW on one mini-batch, dense (m, n)       (dense_weight_gradients)
    grow   = the k positions NOT IN kept of largest |G|  (just-dropped ones included)
    support <- kept + grow                               exactly nnz entries again

Values and optimizer state (momentum, Adam's ``m`` and ``v``) follow the
POSITION: a position already stored keeps both, a new one starts at 0, as in
the DCTpS repository's ``rigl_torch/RigL.py`` (so an update changes the
function only by the dropped weights; Adam's step counter stays global, as in
PyTorch).  As there, ``end_step = int(t_end * total_steps)``, ``t_end = 0.75``,
and ``k`` is truncated.  Differences: the drop ranks only STORED entries, so
nnz is preserved exactly (the original ranks the masked tensor, where a
stored zero ties with absent ones); ties are broken at random, never towards
early rows; the dense gradient is taken on a batch drawn for the update at
the parameters AFTER step ``t``; and the batch and tie-breaks come from
``default_rng([seed, t])``, so the hook holds no random state and a resumed
run makes the same updates.  Cost: one dense forward and backward on one
batch and an ``O(m n log(m n))`` ranking per update, the talk's
``O(mn / delta_t)`` amortised.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .._checks import as_rng, check_positive_int
from ..core.layer import Layer
from ..core.tree import tree_check_like, tree_get, tree_replace
from ..layers import Conv2d, Linear, SparseConv2d
from ..losses import LOSSES
from ..networks import Model, replace_layers, sparse_layers
from ..ops.csr import CSRSupport
from ..train import TrainConfig, value_and_grad
from .pruning import top_k

__all__ = ["drop_fraction", "LayerUpdate", "rigl_layer_update", "remap_values", "RigL",
           "dense_weight_gradients"]


def drop_fraction(step: int, end_step: int, alpha: float = 0.3) -> float:
    """RigL's cosine schedule ``(alpha / 2) * (1 + cos(pi * step / end_step))``."""
    end_step = check_positive_int("end_step", end_step, "drop_fraction")
    return alpha / 2.0 * (1.0 + math.cos(math.pi * step / end_step))


def dense_weight_gradients(net: Layer, params: dict, x, labels, *,
                           loss: str = "cross-entropy", paths=None):
    """``(loss, {path: dL/dW})`` on one batch, ``dL/dW`` at EVERY position of the matrix.

    A sparse or DCTpS layer's VJP gives the gradient on its support only; RigL
    needs it off the support too.  ``S`` enters ``W = alpha * D + S``
    additively (``W = S`` for a sparse layer), so ``dL/dS = dL/dW`` at every
    position, ``dL/dW = y2_bar.T @ x2`` (``x2`` the layer's input rows,
    examples or im2col patches; ``y2_bar`` their cotangents): a dense layer's
    weight cotangent.  So each sparse layer at ``paths`` (default all) is
    replaced by a Linear / Conv2d holding ``W = alpha * D + S`` and the same
    bias, and one forward and one VJP through that *dense twin* give ``dL/dW``
    with no new derivative, at the dense cost ``O(B m n)``.  The loss is the
    twin's (the network's, up to rounding).

    Examples
    --------
    >>> import numpy as np
    >>> from refnet.models import build_model
    >>> net = build_model("mlp", sizes=[4, 3, 2], kind="sparse", density=0.5, rng=0)
    >>> value, grads = dense_weight_gradients(net, net.init(0), np.ones((5, 4)),
    ...                                       np.zeros(5, dtype=int))
    >>> grads["fc1"].shape, grads["fc2"].shape
    ((3, 4), (2, 3))
    """
    if loss not in LOSSES:
        raise ValueError(f"dense_weight_gradients: loss must be one of {sorted(LOSSES)}, got "
                         f"{loss!r}")
    layers = dict(sparse_layers(net))
    paths = list(layers) if paths is None else list(paths)
    bad = [p for p in paths if p not in layers]
    if bad:
        raise ValueError(f"dense_weight_gradients: {bad} are not sparse or DCTpS layers of the "
                         f"network; those are {sorted(layers)}")
    replacements, twin_params = {}, params
    for path in paths:
        layer, layer_params = layers[path], tree_get(params, path)
        matrix = layer.dense_matrix(layer_params)                   # alpha * D + S, (m, n)
        if isinstance(layer, SparseConv2d):
            dense = Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                           layer.stride, layer.padding, bias=layer.bias)
            dense_params = {"W": layer.matrix_to_kernel(matrix)}
        else:
            dense = Linear(layer.n_in, layer.n_out, bias=layer.bias)
            dense_params = {"W": matrix}
        if layer.bias:
            dense_params["b"] = layer_params["b"]
        replacements[path] = dense
        twin_params = tree_replace(twin_params, path, dense_params)
    twin = replace_layers(net, replacements, as_graph=True)
    value, grads, _ = value_and_grad(twin, twin_params, x, labels, loss)
    out = {}
    for path in paths:
        w_bar = tree_get(grads, path)["W"]
        out[path] = replacements[path].weight_matrix({"W": w_bar}) \
            if isinstance(replacements[path], Conv2d) else np.asarray(w_bar)
    return float(value), out


class LayerUpdate(NamedTuple):
    """One layer's RigL update.

    ``support`` is the new support (same shape and nnz); ``source[i]`` the
    index in the OLD support of its entry ``i``, or -1 if new; ``dropped``
    and ``grown`` the flat positions (``row * n + col``) of the two choices (a
    position in both stays, with its value).
    """

    support: CSRSupport
    source: np.ndarray
    dropped: np.ndarray
    grown: np.ndarray

    @property
    def new_positions(self) -> int:
        """Positions of the new support that were not in the old one."""
        return int(np.count_nonzero(self.source < 0))


def rigl_layer_update(support: CSRSupport, values, dense_grad, n_move: int, rng
                      ) -> LayerUpdate:
    """Drop the ``n_move`` smallest of ``S``'s ``values`` (CSR order), grow the ``n_move``
    largest ``|dense_grad|`` (``dL/dW``, shape ``support.shape``); ``rng`` breaks ties.

    Raises ValueError for shapes that do not fit the support, ``n_move`` outside
    ``[0, nnz]``, or a NaN in the values or the gradient.
    """
    owner = "rigl_layer_update"
    rng = as_rng(rng)
    values = np.asarray(values, dtype=np.float64)
    dense_grad = np.asarray(dense_grad, dtype=np.float64)
    if values.shape != (support.nnz,):
        raise ValueError(f"{owner}: values has shape {values.shape}, expected ({support.nnz},)")
    if dense_grad.shape != support.shape:
        raise ValueError(f"{owner}: dense_grad has shape {dense_grad.shape}, expected "
                         f"{support.shape}")
    n_move = check_positive_int("n_move", n_move, owner, minimum=0)
    if n_move > support.nnz:
        raise ValueError(f"{owner}: n_move must be at most nnz = {support.nnz}, got {n_move}")
    if np.isnan(values).any() or np.isnan(dense_grad).any():
        raise ValueError(f"{owner}: NaN in the values or the dense gradient; cannot rank them")

    def top(score):           # the n_move largest, ties in random order (a set, ascending)
        return top_k(score, n_move, tiebreak=rng.random(score.size))

    flat = support.flat_index()
    drop = np.zeros(support.nnz, dtype=bool)
    drop[top(-np.abs(values))] = True                       # the smallest |S|
    dropped, kept = flat[drop], flat[~drop]
    score = np.abs(dense_grad).ravel()
    score[kept] = -np.inf                                   # only positions not kept may grow
    grown = top(score).astype(np.int64)
    n = support.shape[1]
    new_flat = np.union1d(kept, grown)                      # disjoint, so nnz exactly
    new_support = CSRSupport(support.shape, new_flat // n, new_flat % n)
    source = support.locate(new_support.rows, new_support.cols)
    return LayerUpdate(new_support, source, dropped, grown)


def remap_values(old, source) -> np.ndarray:
    """Values on a new support: ``old[..., source]`` where ``source >= 0``, else 0."""
    old = np.asarray(old)
    source = np.asarray(source)
    out = np.zeros(old.shape[:-1] + source.shape, dtype=old.dtype)
    found = source >= 0
    out[..., found] = old[..., source[found]]
    return out


def _remap_tree(tree: dict, sources: dict) -> dict:
    """``tree`` (parameters, or SGD's ``velocity``, Adam's ``m``...) with ``S`` remapped."""
    for path, source in sources.items():
        leaf = tree_get(tree, path)
        tree = tree_replace(tree, path, dict(leaf, S=remap_values(leaf["S"], source)))
    return tree


class RigL:
    """A ``step_hook`` for :func:`refnet.train.train` that runs RigL (module docstring).

    ``net`` is the sparse or DCTpS network to train; its sparse layers (all,
    or ``paths``) are rewired, dense layers stay.  The update batches come from
    ``train_data``.  ``config`` is the run's: its ``loss``, ``batch_size``,
    ``epochs`` and ``seed`` are the defaults here.  Update ``t`` uses
    ``default_rng([seed, t])`` (from a Generator, one integer is drawn here).
    ``alpha`` is the initial drop fraction, in [0, 1]; after the fraction
    ``t_end`` of ``total_steps`` (default ``config.epochs * ceil(len(x) /
    config.batch_size)``) the support is frozen; ``batch_size`` is that of the
    dense gradient (default ``config.batch_size``, at most ``len(x)``).
    ``debug`` raises ``AssertionError`` at every step unless every rewired
    layer has its initial nnz and parameters and optimizer state fit the network.

    Attributes: ``net``, the network after the latest step (``train`` returns
    only the state); ``nnz`` ``{path: nnz}``, preserved by every update;
    ``end_step``; ``updates``, one ``{"step", "fraction", "moved": {path: k},
    "new_positions": {path: int}, "loss"}`` per update.

    Examples
    --------
    >>> import numpy as np
    >>> from refnet.models import build_model
    >>> from refnet.train import TrainConfig, train
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((64, 6)), rng.integers(0, 3, 64)
    >>> net = build_model("mlp", sizes=[6, 8, 3], kind="sparse", density=0.3, rng=0)
    >>> config = TrainConfig(lr=1e-2, epochs=4, batch_size=16)
    >>> hook = RigL(net, (x, y), config, delta_t=4, debug=True)
    >>> result = train(net, net.init(0), (x, y), config, step_hook=hook, quiet=True)
    >>> [u["step"] for u in hook.updates]
    [4, 8]
    >>> hook.net is not net and hook.nnz == {p: l.nnz for p, l in sparse_layers(hook.net)}
    True
    """

    def __init__(self, net: Layer, train_data, config: TrainConfig, *, seed=None,
                 delta_t: int = 100, alpha: float = 0.3, t_end: float = 0.75,
                 total_steps: int | None = None, batch_size: int | None = None,
                 paths=None, debug: bool = False):
        owner = "RigL"
        if not isinstance(config, TrainConfig):
            raise TypeError(f"{owner}: config must be a refnet.train.TrainConfig, got "
                            f"{type(config).__name__}")
        x, labels = train_data
        if len(x) != len(labels) or len(x) == 0:
            raise ValueError(f"{owner}: train_data must be two arrays of one non-zero length, "
                             f"got {len(x)} inputs and {len(labels)} labels")
        layers = dict(sparse_layers(net))
        if not layers:
            raise ValueError(f"{owner}: {type(net).__name__} has no sparse or DCTpS layer to "
                             "rewire")
        self.paths = list(layers) if paths is None else list(paths)
        bad = [p for p in self.paths if p not in layers]
        if bad:
            raise ValueError(f"{owner}: {bad} are not sparse or DCTpS layers; those are "
                             f"{sorted(layers)}")
        if seed is None:
            seed = config.seed
        elif isinstance(seed, np.random.Generator):
            seed = int(seed.integers(2**63 - 1))
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise TypeError(f"{owner}: seed must be a non-negative int or a Generator, got "
                            f"{seed!r}")
        for name, value, ok, interval in (("alpha", alpha, lambda v: 0.0 <= v <= 1.0, "[0, 1]"),
                                          ("t_end", t_end, lambda v: 0.0 < v <= 1.0, "(0, 1]")):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(value):
                raise ValueError(f"{owner}: {name} must be a number in {interval}, got "
                                 f"{value!r}")
        total = config.epochs * math.ceil(len(x) / config.batch_size) if total_steps is None \
            else total_steps
        self.total_steps = check_positive_int("total_steps", total, owner)
        self.delta_t = check_positive_int("delta_t", delta_t, owner)
        self.batch_size = min(len(x), check_positive_int(
            "batch_size", config.batch_size if batch_size is None else batch_size, owner))
        self.seed, self.alpha, self.t_end = int(seed), float(alpha), float(t_end)
        self.end_step = int(self.t_end * self.total_steps)
        self.train_data, self.loss, self.debug = (x, labels), config.loss, bool(debug)
        self.nnz = {p: layers[p].nnz for p in self.paths}
        self.net = net
        self.updates: list[dict] = []

    def is_update_step(self, step: int) -> bool:
        """Whether the support changes after optimizer step ``step`` (1-based)."""
        return step > 0 and step % self.delta_t == 0 and step < self.end_step

    def __call__(self, net: Layer, state):
        """``step_hook(net, state) -> (net, state)``: update at the scheduled steps."""
        if self.is_update_step(state.step):
            net, params, opt_state, record = self.update(net, state.params, state.opt_state,
                                                         state.step)
            state = state._replace(params=params, opt_state=opt_state)
            self.updates.append(record)
        if self.debug:
            self.check(net, state)
        self.net = net
        return net, state

    def update(self, net: Layer, params: dict, opt_state: dict, step: int):
        """One RigL update at ``step``; returns ``(net, params, opt_state, record)``."""
        rng = np.random.default_rng([self.seed, int(step)])
        x, labels = self.train_data
        rows = np.sort(rng.choice(len(x), size=self.batch_size, replace=False))
        loss, grads = dense_weight_gradients(net, params, x[rows], labels[rows], loss=self.loss,
                                             paths=self.paths)
        fraction = drop_fraction(step, self.end_step, self.alpha)
        layers = dict(sparse_layers(net))
        replacements, sources, record = {}, {}, {"step": int(step), "fraction": fraction,
                                                  "moved": {}, "new_positions": {},
                                                  "loss": loss}
        for path in self.paths:
            layer = layers[path]
            n_move = int(fraction * layer.nnz)
            change = rigl_layer_update(layer.support, tree_get(params, path)["S"], grads[path],
                                       n_move, rng)
            replacements[path] = layer.with_support(change.support)
            sources[path] = change.source
            record["moved"][path] = n_move
            record["new_positions"][path] = change.new_positions
        new_net = replace_layers(net, replacements, spec=dict(net.spec, support="rigl")
                                 if isinstance(net, Model) else None)
        if not isinstance(opt_state, dict):
            raise TypeError(f"RigL: the optimizer state must be a dict, got "
                            f"{type(opt_state).__name__}")
        new_opt_state = {}
        for name, entry in opt_state.items():          # params-shaped trees; scalars (step) stay
            if isinstance(entry, dict):
                try:
                    tree_check_like(entry, params, f"opt_state[{name!r}]", "params")
                except ValueError as err:
                    raise TypeError(f"RigL: cannot remap optimizer state entry {name!r}: it is "
                                    f"not a tree shaped like the parameters ({err})") from None
                entry = _remap_tree(entry, sources)
            new_opt_state[name] = entry
        return new_net, _remap_tree(params, sources), new_opt_state, record

    def check(self, net: Layer, state) -> None:
        """Raise ``AssertionError`` unless nnz, parameters and optimizer state all fit."""
        layers = dict(sparse_layers(net))
        for path, nnz in self.nnz.items():
            got = layers[path].nnz if path in layers else None
            if got != nnz:
                raise AssertionError(f"RigL: layer {path!r} has nnz {got} at step {state.step}, "
                                     f"expected exactly {nnz}")
        try:
            net.check_params(state.params)
            for path, layer in layers.items():
                layer.check_params(tree_get(state.params, path))
            for name, entry in state.opt_state.items():
                if isinstance(entry, dict):
                    tree_check_like(entry, state.params, f"opt_state[{name!r}]", "params")
        except (ValueError, TypeError) as err:
            raise AssertionError(f"RigL: at step {state.step} the parameters or the optimizer "
                                 f"state do not fit the network: {err}") from None
