"""refnet.jacobian: exact Jacobians from one batched VJP/JVP call, against finite differences
and loops; the Jacobian as a LinearOperator (matvec = JVP, rmatvec = VJP)."""
import numpy as np
import pytest
import scipy.linalg

from refnet import Graph, Sequential
from refnet.layers import Add, Concat, Flatten, Linear, ReLU, Tanh
from refnet.jacobian import (CHUNKED_BYTES, dense_matrix, jacobian, jacobian_operator,
                             parameter_jacobian)
from refnet.testing import away_from_zero, full_jacobians, inner_product_error, relative_error

# Central differences in float64 (h = 1e-6) on these smooth or piecewise-linear
# networks are accurate to about 1e-9 relative; 1e-7 leaves room for rounding.
FD_TOL = 1e-7
# Two exact computations of the same sums in a different order (different
# matmul shapes) differ by rounding only.
EXACT_TOL = 1e-13


def relu_mlp():
    return Sequential([("fc1", Linear(5, 7)), ("act1", ReLU()), ("fc2", Linear(7, 7)),
                       ("act2", ReLU()), ("fc3", Linear(7, 3))], input_shape=(5,))


def tanh_wide_output():
    # n < m, so mode "auto" takes the JVP path
    return Sequential([("fc1", Linear(3, 6)), ("act1", Tanh()), ("fc2", Linear(6, 8))],
                      input_shape=(3,))


def residual_graph():
    """Fan-out twice: the input feeds fc1 and the sum; act feeds fc2 and the output."""
    return Graph([("fc1", Linear(4, 5), "input"), ("act", Tanh(), "fc1"),
                  ("fc2", Linear(5, 4), "act"), ("sum", Add(), ("input", "fc2")),
                  ("out", Concat(), ("sum", "act"))], input_shape=(4,))


def image_input_net():
    # multi-axis per-example input: the Jacobian flattens it in C order
    return Sequential([("flat", Flatten()), ("fc1", Linear(6, 4)), ("act", Tanh()),
                       ("fc2", Linear(4, 2))], input_shape=(2, 3))


NETS = {
    "relu-mlp": (relu_mlp, (5,)),
    "tanh-wide-output": (tanh_wide_output, (3,)),
    "residual-graph": (residual_graph, (4,)),
    "image-input": (image_input_net, (2, 3)),
}


def setup(name, batch=3, seed=0):
    build, in_shape = NETS[name]
    net = build()
    rng = np.random.default_rng(seed)
    params = net.init(rng)
    # noise on every parameter so zero-initialised biases take part
    params = {k: {p: v + 0.3 * rng.standard_normal(v.shape) for p, v in d.items()}
              for k, d in params.items()}
    x = away_from_zero(rng, (batch,) + in_shape)
    return net, params, x


def loop_of_vjps(net, params, x, **kw):
    """Row i of every example's Jacobian from its own backward pass."""
    y, cache = net.forward(params, x)
    lin_target = cache.shapes[kw.get("target", net.output)]
    lin_source = cache.shapes[kw.get("source", net.input_name)]
    batch, m = lin_target[0], int(np.prod(lin_target[1:]))
    rows = []
    for i in range(m):
        y_bar = np.zeros((batch, m))
        y_bar[:, i] = 1.0
        x_bar, _ = net.vjp(params, cache, y_bar.reshape(lin_target), need_params=False, **kw)
        rows.append(np.asarray(x_bar).reshape(batch, -1))
    J = np.stack(rows, axis=1)
    assert J.shape[2] == int(np.prod(lin_source[1:]))
    return J


@pytest.mark.parametrize("name", NETS)
def test_jacobian_equals_finite_differences(name):
    net, params, x = setup(name)
    J = jacobian(net, params, x)
    exact, fd = full_jacobians(net, params, x)
    # the batch Jacobian is block diagonal: examples do not interact
    block = scipy.linalg.block_diag(*J)
    assert relative_error(block, fd) <= FD_TOL
    assert relative_error(block, exact) <= EXACT_TOL


@pytest.mark.parametrize("name", NETS)
def test_jacobian_equals_loop_of_vjps(name):
    net, params, x = setup(name)
    assert relative_error(jacobian(net, params, x, mode="vjp"),
                          loop_of_vjps(net, params, x)) <= EXACT_TOL


@pytest.mark.parametrize("name", NETS)
def test_jvp_and_vjp_modes_agree(name):
    net, params, x = setup(name)
    J_rev = jacobian(net, params, x, mode="vjp")
    J_fwd = jacobian(net, params, x, mode="jvp")
    assert J_rev.shape == J_fwd.shape
    assert relative_error(J_rev, J_fwd) <= EXACT_TOL
    assert J_rev.flags.c_contiguous and J_fwd.flags.c_contiguous


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("mode", ["vjp", "jvp"])
def test_chunk_size_does_not_change_the_result(name, mode):
    net, params, x = setup(name)
    whole = jacobian(net, params, x, mode=mode)
    for chunk in (1, 2, 3, 1000):
        chunked = jacobian(net, params, x, mode=mode, chunk_size=chunk)
        assert relative_error(chunked, whole) <= 1e-14, chunk


@pytest.mark.parametrize("mode", ["vjp", "jvp"])
def test_a_large_jacobian_is_built_in_four_calls_by_default(monkeypatch, mode):
    # J of 128 * 10 * 103 * 8 bytes >= CHUNKED_BYTES: four chunks (10 = 3 + 3 + 3 + 1), same J
    net = Sequential([("fc1", Linear(103, 32)), ("act", Tanh()), ("fc2", Linear(32, 10))])
    params = net.init(np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((128, 103))
    whole = jacobian(net, params, x, mode=mode, chunk_size=103)
    assert whole.nbytes >= CHUNKED_BYTES
    seen = []
    for name in ("vjp", "jvp"):
        original = getattr(Sequential, name)
        monkeypatch.setattr(Sequential, name, lambda self, p, c, t, *a, _f=original, **k: (
            seen.append(len(t)), _f(self, p, c, t, *a, **k))[1])
    J = jacobian(net, params, x, mode=mode)
    assert relative_error(J, whole) <= 1e-14
    assert seen == ([3, 3, 3, 1] if mode == "vjp" else [26, 26, 26, 25])


def test_auto_mode_takes_the_shorter_identity(monkeypatch):
    net, params, x = setup("tanh-wide-output")
    calls = []
    original = Sequential.jvp

    def spy(self, *args, **kwargs):
        calls.append(args[2].shape)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Sequential, "jvp", spy)
    jacobian(net, params, x)
    assert calls == [(3,) + x.shape]       # one call, leading axis n = 3 < m = 8


def test_one_call_computes_the_whole_jacobian(monkeypatch):
    net, params, x = setup("relu-mlp")
    calls = []
    original = Sequential.vjp

    def spy(self, *args, **kwargs):
        calls.append((args[2].shape, kwargs.get("need_params")))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Sequential, "vjp", spy)
    jacobian(net, params, x)
    assert calls == [((3, 3, 3), False)]


def test_single_input_is_a_batch_of_one():
    net, params, x = setup("relu-mlp")
    J_all = jacobian(net, params, x)
    J_one = jacobian(net, params, x[1][None])
    assert J_one.shape == (1, 3, 5)
    assert relative_error(J_one[0], J_all[1]) <= EXACT_TOL


def test_linear_layer_jacobian_is_its_weight():
    layer = Linear(4, 3)
    params = layer.init(0)
    J = jacobian(layer, params, np.ones((2, 4)))
    np.testing.assert_array_equal(J[0], params["W"])
    np.testing.assert_array_equal(J[1], params["W"])


# -- partial Jacobians between named nodes --------------------------------------------
def test_partial_hidden_to_hidden_equals_cut_subnetwork():
    net, params, x = setup("relu-mlp")
    J = jacobian(net, params, x, source="act1", target="act2")
    assert J.shape == (3, 7, 7)          # the square hidden-to-hidden map
    values, _ = net.forward_all(params, x, keep=("act1",))
    cut = Sequential([("fc2", net["fc2"]), ("act2", net["act2"])])
    cut_params = {"fc2": params["fc2"], "act2": params["act2"]}
    exact, fd = full_jacobians(cut, cut_params, values["act1"])
    assert relative_error(scipy.linalg.block_diag(*J), fd) <= FD_TOL
    for mode in ("vjp", "jvp"):
        Jm = jacobian(net, params, x, source="act1", target="act2", mode=mode)
        assert relative_error(Jm, J) <= EXACT_TOL
    assert relative_error(loop_of_vjps(net, params, x, source="act1", target="act2"),
                          J) <= EXACT_TOL


def forward_from(graph, params, x, source, source_value):
    """``value[target]`` for every target when ``value[source]`` is replaced,
    recomputing only the nodes that depend on ``source`` (others held fixed)."""
    values, _ = graph.forward_all(params, x)
    values = dict(values)
    values[source] = source_value
    depends = {source}
    for node in graph.nodes:
        if any(i in depends for i in node.inputs):
            depends.add(node.name)
            ins = [values[i] for i in node.inputs]
            values[node.name] = node.layer(params[node.name],
                                           ins[0] if node.layer.n_inputs == 1 else tuple(ins))
    return values


def fd_partial(graph, params, x, source, target, h=1e-6):
    values, _ = graph.forward_all(params, x)
    s = values[source]
    batch, n = s.shape[0], s[0].size
    m = values[target][0].size
    J = np.empty((batch, m, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        e = np.broadcast_to(e.reshape(s.shape[1:]), s.shape)
        plus = forward_from(graph, params, x, source, s + e)[target]
        minus = forward_from(graph, params, x, source, s - e)[target]
        J[:, :, j] = (plus - minus).reshape(batch, m) / (2 * h)
    return J


@pytest.mark.parametrize("source,target", [("act", "sum"), ("fc1", "out"), ("input", "sum"),
                                           ("act", "out"), ("input", "act")])
def test_partial_jacobians_of_a_residual_graph(source, target):
    net, params, x = setup("residual-graph")
    J = jacobian(net, params, x, source=source, target=target)
    assert relative_error(J, fd_partial(net, params, x, source, target)) <= FD_TOL
    J_fwd = jacobian(net, params, x, source=source, target=target, mode="jvp")
    assert relative_error(J_fwd, J) <= EXACT_TOL


def test_partial_through_the_skip_is_identity_plus_branch():
    # d sum / d input = I + W2 @ diag(tanh'(fc1)) @ W1: the identity is the skip path
    net, params, x = setup("residual-graph")
    J = jacobian(net, params, x, source="input", target="sum")
    values, _ = net.forward_all(params, x)
    slope = 1 - np.tanh(values["fc1"]) ** 2
    for b in range(x.shape[0]):
        expected = np.eye(4) + params["fc2"]["W"] @ (slope[b][:, None] * params["fc1"]["W"])
        assert relative_error(J[b], expected) <= EXACT_TOL


# -- the parameter Jacobian -----------------------------------------------------------
def fd_parameter_jacobian(net, params, x, paths, h=1e-6):
    from refnet.core.tree import tree_leaves
    leaves = dict(tree_leaves(params))
    columns = []
    for path in paths:
        node, key = path.split("/")
        w = leaves[path]
        for idx in np.ndindex(w.shape):
            def run(t):
                w2 = w.copy()
                w2[idx] += t
                p2 = dict(params)
                p2[node] = dict(params[node], **{key: w2})
                return net(p2, x)
            columns.append(((run(h) - run(-h)) / (2 * h)).reshape(x.shape[0], -1))
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("name", ["relu-mlp", "residual-graph"])
def test_parameter_jacobian_equals_finite_differences(name):
    net, params, x = setup(name, batch=2)
    pj = parameter_jacobian(net, params, x)
    fd = fd_parameter_jacobian(net, params, x, pj.paths)
    assert pj.matrix.shape == fd.shape
    assert relative_error(pj.matrix, fd) <= FD_TOL


def test_parameter_jacobian_rows_sum_to_the_batch_vjp():
    # sum over examples of row i = params_bar of the cotangent e_i at every example
    net, params, x = setup("relu-mlp", batch=3)
    pj = parameter_jacobian(net, params, x)
    y, cache = net.forward(params, x)
    from refnet.core.tree import tree_flatten
    for i in range(y.shape[1]):
        y_bar = np.zeros_like(y)
        y_bar[:, i] = 1.0
        flat, _ = tree_flatten(net.vjp(params, cache, y_bar)[1])
        assert relative_error(pj.matrix[:, i, :].sum(axis=0), flat) <= EXACT_TOL


def test_parameter_jacobian_restricted_to_paths():
    net, params, x = setup("relu-mlp", batch=2)
    full = parameter_jacobian(net, params, x)
    part = parameter_jacobian(net, params, x, paths=["*/b", "fc1/W"])
    assert part.paths == ("fc1/W", "fc1/b", "fc2/b", "fc3/b")    # tree order
    for path in part.paths:
        np.testing.assert_array_equal(part.matrix[..., part.columns(path)],
                                      full.matrix[..., full.columns(path)])
    for chunk in (1, 4):
        chunked = parameter_jacobian(net, params, x, paths=["*/b", "fc1/W"], chunk_size=chunk)
        assert relative_error(chunked.matrix, part.matrix) <= 1e-14
    with pytest.raises(ValueError, match="matches no parameter"):
        parameter_jacobian(net, params, x, paths=["*/S"])
    with pytest.raises(KeyError):
        part.columns("fc2/W")


# -- errors and purity ------------------------------------------------------------------
def test_bad_arguments_raise_clear_errors():
    net, params, x = setup("relu-mlp")
    with pytest.raises(ValueError, match="mode"):
        jacobian(net, params, x, mode="reverse")
    with pytest.raises(ValueError, match="chunk_size"):
        jacobian(net, params, x, chunk_size=0)
    with pytest.raises(TypeError, match="not a Graph|is not one"):
        jacobian(Linear(2, 2), Linear(2, 2).init(0), np.ones((1, 2)), source="input")
    with pytest.raises(ValueError, match="not a node"):
        jacobian(net, params, x, source="nope")
    with pytest.raises(ValueError, match="does not depend"):
        jacobian(net, params, x, source="act2", target="fc1")
    with pytest.raises(TypeError, match="one input"):
        jacobian(Add(), {}, (np.ones((1, 2)), np.ones((1, 2))))
    with pytest.raises(ValueError, match="batch"):
        jacobian(net, params, np.float64(1.0))


def test_jacobian_does_not_mutate_its_arguments():
    net, params, x = setup("residual-graph")
    x_copy = x.copy()
    p_copy = {k: {p: v.copy() for p, v in d.items()} for k, d in params.items()}
    jacobian(net, params, x, chunk_size=2)
    jacobian(net, params, x, mode="jvp", source="act", target="out")
    parameter_jacobian(net, params, x)
    np.testing.assert_array_equal(x, x_copy)
    for k, d in params.items():
        for p, v in d.items():
            np.testing.assert_array_equal(v, p_copy[k][p])


# Matvec and rmatvec are two hand-written derivatives of one map; the adjoint
# identity then holds to rounding (the checker's "consistency" tolerance is 1e-11).
ADJOINT_TOL = 1e-12


CASES = [(name, {}) for name in NETS] + [
    ("relu-mlp", {"source": "act1", "target": "act2"}),
    ("residual-graph", {"source": "act", "target": "out"}),
]


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{'-'.join(k.values()) or 'io'}"
                                                for n, k in CASES])
def test_adjoint_identity(name, kw):
    net, params, x = setup(name, batch=1)
    op = jacobian_operator(net, params, x, **kw)
    rng = np.random.default_rng(1)
    m, n = op.shape
    for _ in range(3):
        u, v = rng.standard_normal(n), rng.standard_normal(m)
        assert inner_product_error(op.matvec(u) * v, u * op.rmatvec(v)) <= ADJOINT_TOL


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{'-'.join(k.values()) or 'io'}"
                                                for n, k in CASES])
def test_operator_products_equal_the_dense_jacobian(name, kw):
    net, params, x = setup(name, batch=1)
    op = jacobian_operator(net, params, x, **kw)
    J = jacobian(net, params, x, **kw)[0]
    assert op.shape == J.shape
    rng = np.random.default_rng(2)
    U = rng.standard_normal((op.shape[1], 4))
    V = rng.standard_normal((op.shape[0], 4))
    assert relative_error(op.matmat(U), J @ U) <= 1e-13
    assert relative_error(op.rmatmat(V), J.T @ V) <= 1e-13
    assert relative_error(op.T.matmat(V), J.T @ V) <= 1e-13
    assert relative_error(op.H.rmatmat(U), J @ U) <= 1e-13
    assert relative_error(np.column_stack([op.matvec(c) for c in U.T]), op.matmat(U)) <= 1e-13
    assert relative_error(dense_matrix(op), J) <= 1e-13
    assert relative_error(dense_matrix(op.T), J.T) <= 1e-13


def test_block_products_are_one_call_each(monkeypatch):
    net, params, x = setup("relu-mlp", batch=1)
    op = jacobian_operator(net, params, x)
    calls = []
    original_jvp, original_vjp = Sequential.jvp, Sequential.vjp
    monkeypatch.setattr(Sequential, "jvp",
                        lambda self, *a, **k: calls.append("jvp") or original_jvp(self, *a, **k))
    monkeypatch.setattr(Sequential, "vjp",
                        lambda self, *a, **k: calls.append("vjp") or original_vjp(self, *a, **k))
    op.matmat(np.ones((5, 6)))
    op.rmatmat(np.ones((3, 6)))
    assert calls == ["jvp", "vjp"]


def test_operator_needs_exactly_one_example():
    net, params, x = setup("relu-mlp", batch=2)
    with pytest.raises(ValueError, match="one example"):
        jacobian_operator(net, params, x)
