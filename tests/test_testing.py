"""The gradient checker itself: its errors, its verdicts on planted bugs, its report."""
import numpy as np
import pytest

from refnet import Sequential
from refnet.layers import Add, Conv2d, Linear, MaxPool2d, ReLU, Tanh
from refnet.testing import (BELOW_RESOLUTION, CHECKS, GradientCheckError, check_adjoint,
                            check_consistency, check_layer, check_value_and_grad,
                            distinct_values, full_jacobians, inner_product_error,
                            perturbed_params, relative_error)


def _point(seed=0, n=3, m=2, batch=4):
    rng = np.random.default_rng(seed)
    layer = Linear(n, m)
    params = {"W": rng.standard_normal((m, n)), "b": rng.standard_normal(m)}
    return layer, params, rng.standard_normal((batch, n))


class ScaledWGrad(Linear):
    """A Linear whose W cotangent is 1% too large."""

    def vjp(self, params, cache, y_bar, *, need_params=True):
        x_bar, grads = super().vjp(params, cache, y_bar, need_params=need_params)
        if grads is not None:
            grads = dict(grads, W=1.01 * grads["W"])
        return x_bar, grads


class WrongJvp(Linear):
    """A Linear whose JVP forgets to transpose W (so it is only right for square, symmetric W)."""

    def jvp(self, params, cache, x_dot):
        return super().jvp({"W": params["W"].T.copy(), "b": params["b"]}, cache, x_dot)


class Float32Grads(Linear):
    def vjp(self, params, cache, y_bar, *, need_params=True):
        x_bar, grads = super().vjp(params, cache, y_bar, need_params=need_params)
        return x_bar, None if grads is None else {k: v.astype(np.float32) for k, v in grads.items()}


class IgnoresNeedParams(Linear):
    def vjp(self, params, cache, y_bar, *, need_params=True):
        return super().vjp(params, cache, y_bar, need_params=True)


class NanEntry(Linear):
    """A Linear with one NaN in its input cotangent, its W cotangent or its tangent."""

    def __init__(self, n_in, n_out, where):
        super().__init__(n_in, n_out)
        self.where = where

    @staticmethod
    def _poison(a):
        a = np.array(a, copy=True)
        a.reshape(-1)[a.size // 2] = np.nan
        return a

    def vjp(self, params, cache, y_bar, *, need_params=True):
        x_bar, grads = super().vjp(params, cache, y_bar, need_params=need_params)
        if self.where == "x_bar":
            x_bar = self._poison(x_bar)
        if self.where == "W" and grads is not None:
            grads = dict(grads, W=self._poison(grads["W"]))
        return x_bar, grads

    def jvp(self, params, cache, x_dot):
        y_dot = super().jvp(params, cache, x_dot)
        return self._poison(y_dot) if self.where == "y_dot" else y_dot


class DropsABatchOfOne(Linear):
    """A Linear whose x_bar and y_dot lose the batch axis when the batch is one example:
    every product with them broadcasts to the right number."""

    def vjp(self, params, cache, y_bar, *, need_params=True):
        x_bar, grads = super().vjp(params, cache, y_bar, need_params=need_params)
        return (x_bar[..., 0, :] if cache.x.shape[0] == 1 else x_bar), grads

    def jvp(self, params, cache, x_dot):
        y_dot = super().jvp(params, cache, x_dot)
        return y_dot[..., 0, :] if cache.x.shape[0] == 1 else y_dot


class NoLeadingAxisOnB(Linear):
    """A Linear whose b cotangent sums the stacked cotangents instead of keeping them apart."""

    def vjp(self, params, cache, y_bar, *, need_params=True):
        x_bar, grads = super().vjp(params, cache, y_bar, need_params=need_params)
        if grads is not None and y_bar.ndim > 2:
            grads = dict(grads, b=grads["b"].reshape(-1, self.n_out).sum(axis=0))
        return x_bar, grads


# -- arguments -----------------------------------------------------------------------------
def test_float32_input_is_a_type_error_naming_x():
    layer, params, x = _point()
    with pytest.raises(TypeError, match="float64, but x has dtype float32; pass x.astype"):
        check_layer(layer, x.astype(np.float32), params)


def test_float32_params_are_a_type_error_naming_the_parameter():
    layer, params, x = _point()
    with pytest.raises(TypeError, match=r"but params\['W'\] has dtype float32"):
        check_layer(layer, x, dict(params, W=params["W"].astype(np.float32)))


def test_float32_merge_input_names_its_position():
    x = np.zeros((2, 3))
    with pytest.raises(TypeError, match=r"but x\[1\] has dtype float32"):
        check_layer(Add(), (x, x.astype(np.float32)))


def test_unknown_tolerance_and_check_names():
    layer, params, x = _point()
    with pytest.raises(ValueError, match=r"tol has unknown check names \['vjp'\]"):
        check_layer(layer, x, params, tol={"vjp": 1e-3})
    with pytest.raises(ValueError, match=r"checks has unknown check names \['bogus'\]"):
        check_layer(layer, x, params, checks=["vjp_fd", "bogus"])


def test_a_layer_that_is_not_a_layer_is_a_type_error():
    with pytest.raises(TypeError, match="layer must be a refnet Layer, got 42"):
        check_layer(42, np.zeros((2, 3)))


def test_an_empty_batch_is_a_value_error_not_a_pass():
    layer, params, x = _point()
    with pytest.raises(ValueError, match=r"x has shape \(0, 3\), an empty batch"):
        check_layer(layer, x[:0], params)
    with pytest.raises(ValueError, match=r"x\[0\] has shape \(0, 2\)"):
        check_layer(Add(), (np.zeros((0, 2)), np.zeros((0, 2))))
    with pytest.raises(ValueError, match="n_directions must be an integer >= 1, got 0"):
        check_layer(layer, x, params, n_directions=0)


def test_check_adjoint_refuses_a_nonlinear_layer():
    with pytest.raises(ValueError, match="Tanh is not affine in its input"):
        check_adjoint(Tanh(), np.ones((1, 2)), {})


# -- verdicts ------------------------------------------------------------------------------
def test_a_correct_layer_passes_every_check():
    layer, params, x = _point()
    report = check_layer(layer, x, params, seed=1)
    assert report.passed
    assert {r.check for r in report.results} == {"structure", "vjp_fd", "jvp_fd", "consistency",
                                                  "adjoint", "batched"}
    assert {r.param for r in report.results if r.check == "vjp_fd"} == {"x", "W", "b"}
    assert report.worst("vjp_fd") < 1e-8


def test_each_check_is_a_function_with_its_own_report():
    layer, params, x = _point()
    for name, check in CHECKS.items():
        report = check(layer, x, params, 1, name="lin")
        assert report.passed and {(r.layer, r.check) for r in report.results} == {("lin", name)}
    assert not check_consistency(WrongJvp(3, 3), _point(n=3, m=3)[2], _point(n=3, m=3)[1]).passed


def test_the_default_point_is_the_perturbed_init():
    """params=None checks at perturbed_params(layer, seed), not at layer.init: there a
    Linear's b = 0 hides a JVP that adds b."""
    class AddsBias(Linear):
        def jvp(self, params, cache, x_dot):
            return super().jvp(params, cache, x_dot) + params["b"]

    layer, _, x = _point()
    init = layer.init(0)
    assert not np.any(init["b"]) and check_layer(AddsBias(3, 2), x, init, seed=0).passed
    assert not check_layer(AddsBias(3, 2), x, seed=0).passed
    default = perturbed_params(layer, np.random.default_rng(0))
    assert np.all(default["b"] != 0)


def test_a_one_percent_parameter_error_is_caught_and_located():
    layer, params, x = _point()
    report = check_layer(ScaledWGrad(3, 2), x, params, seed=1)
    assert not report.passed
    assert [(r.check, r.param) for r in report.failures] == [("vjp_fd", "W")]


def test_a_wrong_jvp_fails_jvp_and_consistency_but_not_vjp():
    layer, params, x = _point(n=3, m=3)
    report = check_layer(WrongJvp(3, 3), x, params, seed=1)
    failed = {r.check for r in report.failures}
    assert failed == {"jvp_fd", "consistency"}


@pytest.mark.parametrize("where, failed", [
    ("x_bar", {("vjp_fd", "x"), ("consistency", "x"), ("adjoint", "x"),
               ("batched", "x_bar+params_bar")}),
    ("W", {("vjp_fd", "W"), ("batched", "x_bar+params_bar")}),
    ("y_dot", {("jvp_fd", "x"), ("consistency", "x"), ("batched", "y_dot")}),
])
def test_a_nan_in_a_derivative_fails_with_an_infinite_error(where, failed):
    """NaN compares false with everything, so max(0.0, nan) is 0.0: before the error
    measures turned NaN into inf, a layer whose derivatives were NaN passed every check."""
    _, params, x = _point()
    report = check_layer(NanEntry(3, 2, where), x, params, seed=1)
    assert {(r.check, r.param) for r in report.failures} == failed
    assert all(r.rel_error == np.inf and not r.note for r in report.failures)


def test_derivatives_of_the_wrong_shape_fail_even_where_they_broadcast():
    _, params, x = _point(batch=1)
    report = check_layer(DropsABatchOfOne(3, 2), x, params, seed=1)
    assert {(r.check, r.param) for r in report.failures} == {
        ("vjp_fd", "x"), ("jvp_fd", "x"), ("consistency", "x"), ("adjoint", "x")}
    assert all(r.rel_error == np.inf for r in report.failures)
    _, params2, x2 = _point(batch=2)
    assert check_layer(DropsABatchOfOne(3, 2), x2, params2, seed=1).passed
    # the b cotangent (2,) of a stack of two cotangents could be indexed [k] like (2, 2)
    report = check_layer(NoLeadingAxisOnB(3, 2), x, params, seed=1)
    assert [(r.check, r.param, r.rel_error) for r in report.failures] == [
        ("batched", "x_bar+params_bar", np.inf)]


def test_wrong_params_bar_dtype_fails_the_structure_check_first():
    _, params, x = _point()
    report = check_layer(Float32Grads(3, 2), x, params)
    assert not report.passed and [r.check for r in report.results] == ["structure"]
    assert "W: dtype float32 != float64" in report.results[0].note


def test_need_params_false_must_return_none():
    _, params, x = _point()
    report = check_layer(IgnoresNeedParams(3, 2), x, params)
    assert [(r.check, r.param) for r in report.failures] == [("batched", "x_bar+params_bar")]


def test_raise_on_failure():
    _, params, x = _point()
    with pytest.raises(GradientCheckError, match="gradient check failed:\n.*vjp_fd.*W"):
        check_layer(ScaledWGrad(3, 2), x, params, raise_on_failure=True)
    assert issubclass(GradientCheckError, AssertionError)
    layer, params, x = _point()
    assert check_layer(layer, x, params, raise_on_failure=True).passed


def test_checks_subset_and_determinism():
    layer, params, x = _point()
    report = check_layer(layer, x, params, checks=["vjp_fd"], seed=3)
    assert {r.check for r in report.results} == {"vjp_fd"}
    again = check_layer(layer, x, params, checks=["vjp_fd"], seed=3)
    assert [r.rel_error for r in report.results] == [r.rel_error for r in again.results]


def test_a_zero_derivative_passes():
    # every input negative: output and derivative exactly zero
    report = check_layer(ReLU(), np.array([[-0.5]]), seed=1)
    assert report.passed, str(report)


def test_a_saturated_derivative_is_checked_to_the_noise_not_failed():
    """tanh(4 * 2) has slope 4.5e-7: the W derivative is below what a float64
    finite difference resolves next to outputs of size 1."""
    net = Sequential([("fc", Linear(1, 1)), ("act", Tanh())])
    params = {"fc": {"W": np.array([[4.0]]), "b": np.array([0.0])}, "act": {}}
    report = check_layer(net, np.array([[2.0]]), params, seed=0)
    assert report.passed, str(report)
    notes = {r.param: r.note for r in report.results if r.check == "vjp_fd"}
    assert notes["fc/W"] == BELOW_RESOLUTION


def test_report_has_a_header_and_a_row_per_result():
    layer, params, x = _point()
    report = check_layer(layer, x, params, name="my-linear")
    lines = str(report).splitlines()
    assert lines[0].split() == ["layer", "check", "param", "rel_error", "tol", "passed"]
    assert len(lines) == 1 + len(report.results)
    assert all(line.startswith("my-linear") and line.endswith("yes") for line in lines[1:])
    failing = str(check_layer(ScaledWGrad(3, 2), x, params))
    assert any(line.split()[1:3] == ["vjp_fd", "W"] and line.endswith("NO")
               for line in failing.splitlines())


# -- full Jacobians ------------------------------------------------------------------------
@pytest.mark.parametrize("layer, x", [
    (Tanh(), np.random.default_rng(0).standard_normal((2, 3))),
    (Linear(3, 4), np.random.default_rng(1).standard_normal((2, 3))),
    (Conv2d(2, 2, 2, padding=1), np.random.default_rng(2).standard_normal((1, 2, 3, 3))),
    (MaxPool2d(2, stride=1), distinct_values(3, (1, 2, 3, 3))),
])
def test_full_jacobians_agree(layer, x):
    params = layer.init(0)
    exact, fd = full_jacobians(layer, params, x)
    y = layer(params, x)
    assert exact.shape == fd.shape == (y.size, x.size)
    np.testing.assert_allclose(exact, fd, rtol=0, atol=1e-7)


def test_full_jacobians_errors():
    with pytest.raises(ValueError, match="layer must take one input"):
        full_jacobians(Add(), {}, np.zeros((1, 2)))
    with pytest.raises(TypeError, match="but x has dtype float32"):
        full_jacobians(Tanh(), {}, np.zeros((1, 2), dtype=np.float32))


# -- scalar functions --------------------------------------------------------------------------
def _quadratic(p):
    return float(np.sum(p["w"] ** 2) + np.sum(p["v"])), {"w": 2 * p["w"], "v": np.ones(2)}


def test_check_value_and_grad():
    point = {"w": np.array([1.0, -2.0, 0.5]), "v": np.zeros(2)}
    report = check_value_and_grad(_quadratic, point)
    assert report.passed and [r.param for r in report.results] == ["w", "v"]
    wrong = check_value_and_grad(lambda p: (_quadratic(p)[0], {"w": 2.02 * p["w"],
                                                             "v": np.ones(2)}), point)
    assert [r.param for r in wrong.failures] == ["w"]
    with pytest.raises(GradientCheckError):
        check_value_and_grad(lambda p: (0.0, {"w": p["w"]}), point, raise_on_failure=True)
    nan = check_value_and_grad(lambda p: (_quadratic(p)[0], {"w": np.full(3, np.nan),
                                                           "v": np.ones(2)}), point)
    assert [(r.param, r.rel_error) for r in nan.failures] == [("w", np.inf)]
    structure = check_value_and_grad(lambda p: (0.0, {"w": p["w"]}), point)
    assert [r.check for r in structure.results] == ["structure"] and not structure.passed
    with pytest.raises(TypeError, match=r"but point\['w'\] has dtype float32"):
        check_value_and_grad(_quadratic, {"w": np.ones(3, np.float32), "v": np.zeros(2)})


def test_error_measures():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error([1.0, 2.0], [1.0, 2.2]) == pytest.approx(0.2 / 2.2)
    assert inner_product_error(np.zeros(2), np.zeros(2), 0.0) == 0.0
    assert inner_product_error(np.array([1.0, -1.0]), np.array([1.0, -0.5])) == \
        pytest.approx(0.5 / 2.0)
    for bad in (np.nan, np.inf):
        assert relative_error([1.0, bad], [1.0, 2.0]) == np.inf
        assert relative_error([1.0, 2.0], [bad, 2.0]) == np.inf
        assert inner_product_error(np.array([1.0, bad]), np.ones(2)) == np.inf
        assert inner_product_error(np.ones(2), np.array([bad, 1.0])) == np.inf


def test_a_non_layer_is_a_type_error_naming_the_argument():
    with pytest.raises(TypeError, match="check_layer: layer must be a refnet Layer, got 42"):
        check_layer(42, np.ones((2, 3)))
