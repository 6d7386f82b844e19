"""Graph construction errors, fan-out, and partial derivatives between named nodes."""
import numpy as np
import pytest

from refnet import Graph, Node, Sequential
from refnet.layers import Add, Concat, Identity, Linear, ReLU, Tanh
from refnet.testing import check_layer


# -- validation: every error names the culprit ---------------------------------------
@pytest.mark.parametrize("nodes, kwargs, match", [
    ([("a", Tanh(), "b"), ("b", Tanh(), "a")], {},
     r"Graph: the nodes form a cycle through \['a', 'b'\]"),
    ([("a", Tanh(), "a")], {}, r"Graph: the nodes form a cycle through \['a'\]"),
    ([("fc1", Linear(2, 2), "input"), ("fc2", Linear(2, 2), "fc9")], {},
     r"Graph: node 'fc2' reads unknown name\(s\) \['fc9'\]"),
    ([("fc1", Linear(2, 2), "input"), ("fc1", Linear(2, 2), "fc1")], {},
     "Graph: duplicate name 'fc1'"),
    ([("input", Tanh(), "input")], {}, "Graph: duplicate name 'input'"),
    ([("fc1", Linear(2, 2), "input"), ("sum", Add(), ("fc1",))], {},
     r"Graph: node 'sum' \(Add\) merges two or more inputs, got \['fc1'\]"),
    ([("fc1", Linear(2, 2), "input"), ("fc2", Linear(2, 2), ("input", "fc1"))], {},
     r"Graph: node 'fc2' \(Linear\) takes 1 input\(s\), got \['input', 'fc1'\]"),
    ([("fc1", Linear(3, 5), "input"), ("fc2", Linear(4, 2), "fc1")], {"input_shape": (3,)},
     r"Graph: node 'fc2' \(Linear\) cannot take input shape \(5,\): Linear: input shape "
     r"\(5,\), expected \(4,\)"),
    ([("fc1", Linear(2, 2), "input"), ("side", Tanh(), "input"), ("fc2", Linear(2, 2), "fc1")],
     {}, r"Graph: node\(s\) \['side'\] do not contribute to the output 'fc2'"),
    ([("fc1", Linear(2, 2), "input")], {"output": "fc9"},
     r"Graph: output 'fc9' is not a node; nodes are \['fc1'\]"),
    ([("a/b", Tanh(), "input")], {}, r"Graph: node 0 has name 'a/b'"),
    ([("fc1", "not a layer", "input")], {}, "Graph: node 'fc1' has layer 'not a layer'"),
    ([], {}, "Graph: needs at least one node"),
])
def test_construction_errors_name_the_culprit(nodes, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Graph(nodes, **kwargs)


def test_input_of_a_complex_or_object_dtype_or_the_wrong_shape_is_refused():
    net = Sequential([Linear(4, 3), ReLU()], input_shape=(4,))
    params = net.init(0)
    for x in (np.ones((2, 4), dtype=complex), np.ones((2, 4), dtype=object)):
        with pytest.raises(TypeError, match=f"x must be a real array, got dtype {x.dtype}"):
            net.forward(params, x)
    with pytest.raises(ValueError, match=r"x has shape \(2, 1, 4\), expected \(B, 4\)"):
        net.forward(params, np.ones((2, 1, 4)))
    assert net.forward(params, np.ones((2, 4), dtype=int))[0].shape == (2, 3)


def test_sum_shapes_checked_at_construction():
    with pytest.raises(ValueError, match=r"node 'sum' \(Add\) cannot take input shape"):
        Graph([("fc1", Linear(3, 4), "input"), ("sum", Add(), ("input", "fc1"))],
              input_shape=(3,))


def test_nodes_in_any_order_are_sorted():
    g = Graph([("fc2", Linear(4, 2), "act"), ("act", Tanh(), "fc1"),
               ("fc1", Linear(3, 4), "input")], output="fc2", input_shape=(3,))
    assert [n.name for n in g.nodes] == ["fc1", "act", "fc2"]
    assert isinstance(g.nodes[0], Node) and g.output_shape((3,)) == (2,)


# -- fan-out ---------------------------------------------------------------------------
def test_a_value_used_twice_gets_the_sum_of_its_cotangents():
    g = Graph([("sum", Add(), ("input", "input"))])
    x = np.random.default_rng(0).standard_normal((2, 3))
    y, cache = g.forward({"sum": {}}, x)
    np.testing.assert_array_equal(y, 2 * x)
    y_bar = np.random.default_rng(1).standard_normal((2, 3))
    x_bar, _ = g.vjp({"sum": {}}, cache, y_bar)
    np.testing.assert_array_equal(x_bar, 2 * y_bar)
    np.testing.assert_array_equal(g.jvp({"sum": {}}, cache, y_bar), 2 * y_bar)


def _residual():
    """input -> fc1 -> act -> fc2 -> sum(input, fc2) -> out; input and act fan out."""
    return Graph([("fc1", Linear(3, 4), "input"), ("act", Tanh(), "fc1"),
                  ("fc2", Linear(4, 3), "act"), ("sum", Add(), ("input", "fc2")),
                  ("out", Concat(), ("sum", "act"))], input_shape=(3,))


def _noisy_params(layer, seed):
    rng = np.random.default_rng(seed)
    return {k: {p: v + 0.3 * rng.standard_normal(v.shape) for p, v in d.items()}
            for k, d in layer.init(rng).items()}


def test_residual_graph_passes_the_checker():
    g = _residual()
    x = np.random.default_rng(2).standard_normal((3, 3))
    report = check_layer(g, x, _noisy_params(g, 3), seed=4)
    assert report.passed, str(report)
    assert {r.param for r in report.results} >= {"fc1/W", "fc1/b", "fc2/W", "fc2/b"}


# -- partial derivatives -------------------------------------------------------------------
def _fd_check(fun, h, v, u, x_bar, y_dot, step=1e-6):
    """x_bar and y_dot of ``fun`` at ``h`` against central differences along ``u``."""
    fd = (fun(h + step * u) - fun(h - step * u)) / (2 * step)
    assert abs(np.sum(v * fd) - np.sum(x_bar * u)) <= 1e-8 * np.sum(np.abs(v * fd))
    np.testing.assert_allclose(y_dot, fd, rtol=1e-7, atol=1e-9)
    # JVP/VJP consistency, no finite differences
    assert abs(np.sum(v * y_dot) - np.sum(x_bar * u)) <= 1e-13 * np.sum(np.abs(v * y_dot))


def test_partial_derivative_of_the_hidden_to_hidden_map():
    mlp = Graph([("fc1", Linear(3, 4), "input"), ("act1", Tanh(), "fc1"),
                 ("fc2", Linear(4, 4), "act1"), ("act2", Tanh(), "fc2"),
                 ("fc3", Linear(4, 2), "act2")], input_shape=(3,))
    params = _noisy_params(mlp, 5)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3))
    values, cache = mlp.forward_all(params, x)
    h = values["act1"]
    v = rng.standard_normal(values["act2"].shape)
    u = rng.standard_normal(h.shape)
    x_bar, none = mlp.vjp(params, cache, v, need_params=False, source="act1", target="act2")
    y_dot = mlp.jvp(params, cache, u, source="act1", target="act2")
    assert none is None
    # the same map cut out by hand: act2(fc2(h))
    cut = Sequential([("fc2", Linear(4, 4)), ("act2", Tanh())])
    cut_params = {"fc2": params["fc2"], "act2": {}}
    _fd_check(lambda z: cut(cut_params, z), h, v, u, x_bar, y_dot)
    _, cut_cache = cut.forward(cut_params, h)
    np.testing.assert_allclose(x_bar, cut.vjp(cut_params, cut_cache, v)[0], rtol=1e-14)
    # leading axes work for partial derivatives too
    stacked = mlp.vjp(params, cache, np.stack([v, 2 * v]), need_params=False, source="act1",
                      target="act2")[0]
    np.testing.assert_allclose(stacked[1], 2 * x_bar, rtol=1e-14)


def test_partial_derivative_holds_the_other_branch_fixed():
    """d sum / d fc1 in sum = input + fc2(tanh(fc1)): the input is held fixed."""
    g = _residual()
    params = _noisy_params(g, 7)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3))
    values, cache = g.forward_all(params, x)
    h = values["fc1"]
    v = rng.standard_normal(values["sum"].shape)
    u = rng.standard_normal(h.shape)
    x_bar, _ = g.vjp(params, cache, v, need_params=False, source="fc1", target="sum")
    y_dot = g.jvp(params, cache, u, source="fc1", target="sum")
    fc2, w = Linear(4, 3), params["fc2"]
    _fd_check(lambda z: x + fc2(w, np.tanh(z)), h, v, u, x_bar, y_dot)


def test_params_bar_of_an_intermediate_target():
    g = _residual()
    params = _noisy_params(g, 9)
    x = np.random.default_rng(10).standard_normal((2, 3))
    values, cache = g.forward_all(params, x)
    v = np.random.default_rng(11).standard_normal(values["act"].shape)
    _, p_bar = g.vjp(params, cache, v, target="act")
    # fc2 does not feed act: zero cotangents, shaped like its params
    assert not np.any(p_bar["fc2"]["W"]) and p_bar["fc2"]["W"].shape == (3, 4)
    sub = Sequential([("fc1", Linear(3, 4)), ("act", Tanh())])
    sub_params = {"fc1": params["fc1"], "act": {}}
    _, sub_cache = sub.forward(sub_params, x)
    np.testing.assert_allclose(p_bar["fc1"]["W"], sub.vjp(sub_params, sub_cache, v)[1]["fc1"]["W"],
                               rtol=1e-14)


def test_partial_derivative_errors():
    g = _residual()
    params = _noisy_params(g, 12)
    values, cache = g.forward_all(params, np.ones((1, 3)))
    with pytest.raises(ValueError, match="need_params=True needs source to be the graph input"):
        g.vjp(params, cache, np.ones((1, 4)), source="fc1", target="act")
    with pytest.raises(ValueError, match="Graph: 'act' does not depend on 'fc2'"):
        g.jvp(params, cache, np.ones((1, 3)), source="fc2", target="act")
    with pytest.raises(ValueError, match="Graph: source 'fc9' is not a node"):
        g.vjp(params, cache, np.ones((1, 7)), need_params=False, source="fc9")
    with pytest.raises(ValueError, match="Graph: target 'nope' is not a node"):
        g.jvp(params, cache, np.ones((1, 3)), target="nope")
    with pytest.raises(ValueError,
                       match=r"Graph: x_dot has shape \(1, 4\), expected \(\*lead, 1, 3\)"):
        g.jvp(params, cache, np.ones((1, 4)))
    with pytest.raises(ValueError,
                       match=r"Graph: y_bar has shape \(1, 5\), expected \(\*lead, 1, 4\)"):
        g.vjp(params, cache, np.ones((1, 5)), need_params=False, source="fc1", target="fc1")
    with pytest.raises(ValueError, match=r"Graph: y_bar has shape \(4,\), expected"):
        g.vjp(params, cache, np.ones(4))


def test_params_must_be_keyed_by_node():
    g = _residual()
    with pytest.raises(ValueError, match="Graph: params has keys .* expected the node names"):
        g.forward({"fc1": {}}, np.ones((1, 3)))


def test_sequential_names_and_summary():
    net = Sequential([Linear(3, 4), ("act", ReLU()), Identity()], input_shape=(3,))
    assert [n.name for n in net.nodes] == ["0", "act", "2"]
    assert [type(layer) for layer in net.layers] == [Linear, ReLU, Identity]
    assert "act" in net.summary() and "(4,)" in net.summary()
    with pytest.raises(TypeError, match="Sequential: item 0 must be a Layer"):
        Sequential(["relu"])


def test_forward_all_keeps_the_named_values_and_refuses_unknown_names():
    g = _residual()
    params = _noisy_params(g, 3)
    x = np.ones((2, 3))
    values, _ = g.forward_all(params, x, keep="act")           # one name, not its letters
    assert set(values) == {"act"}
    np.testing.assert_array_equal(values["act"], g.forward_all(params, x)[0]["act"])
    assert set(g.forward_all(params, x, keep=("input", "fc2"))[0]) == {"input", "fc2"}
    with pytest.raises(ValueError, match="Graph: keep 'fc3' is not a node"):
        g.forward_all(params, x, keep=("act", "fc3"))
