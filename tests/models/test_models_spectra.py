"""Every reference model, in every kind: the batched Jacobian against finite differences, and
the Jacobian as a LinearOperator against the adjoint identity.

Points come from ``refnet.models.check_point`` (every ReLU input at least 1e-4 from
its kink, parameters perturbed so that zero-initialised S, biases and Fixup's
zeroed layers take part); the sizes are the small ones of ``test_models_build``.
"""
import numpy as np
import pytest

from refnet.models import KINDS, MODELS, build_model, check_point
from refnet.spectra import jacobian, jacobian_operator
from refnet.testing import inner_product_error, relative_error

from models.test_models_build import SMALL

# Central differences in float64 with h = 1e-6 on a network that is piecewise
# linear (ReLU, pooling) or smooth, at points 1e-4 from every kink: truncation is
# zero or about h**2, rounding about eps * |y| / h ~ 1e-10 relative.
FD_TOL = 1e-7
FD_STEP = 1e-6
# matvec (JVP) and rmatvec (VJP) are two hand-written derivatives of one map:
# the adjoint identity <J u, v> = <u, J^T v> holds to rounding.
ADJOINT_TOL = 1e-12
# Forward passes per call when differencing: bounds memory for lenet5-cifar.
FD_CHUNK = 512
# Inputs differenced one by one: every one when there are at most FD_ALL of
# them, else FD_SAMPLE chosen at random (lenet5-cifar has 3,072 inputs:
# differencing all of them took 30 s, 256 of them 7 s), plus FD_DIRECTIONS random
# directions, which see every column at once.
FD_ALL = 256
FD_SAMPLE = 64
FD_DIRECTIONS = 4


def _model(name, kind):
    options = {} if kind == "dense" else dict(density=0.3, distribution="erk", rng=1)
    return build_model(name, kind=kind, **options, **SMALL[name])


def fd_directional(net, params, x, directions, step=FD_STEP):
    """``(B, m, k)``: central differences of every example along each of the k directions.

    ``directions`` has shape ``(k, n)``; example ``b`` moves along ``directions[j]``
    reshaped to its own shape, all examples and directions in batched forward passes.
    """
    batch, shape = x.shape[0], x.shape[1:]
    k = len(directions)
    moves = step * directions.reshape((k,) + shape)
    points = np.concatenate([(x[None] + moves[:, None]), (x[None] - moves[:, None])])
    points = points.reshape((2 * k * batch,) + shape)                  # (2k*B, *shape)
    y = np.concatenate([net(params, points[s:s + FD_CHUNK])
                        for s in range(0, len(points), FD_CHUNK)]).reshape(2, k, batch, -1)
    return ((y[0] - y[1]) / (2 * step)).transpose(1, 2, 0)             # (B, m, k)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("kind", KINDS)
def test_batched_jacobian_equals_finite_differences(name, kind):
    model = _model(name, kind)
    rng = np.random.default_rng(0)
    x, params = check_point(model, rng, batch=2)
    J = jacobian(model, params, x)
    n = x[0].size
    assert J.shape == (2,) + model.output_shape(model.input_shape) + (n,)
    assert np.any(J != 0)
    columns = np.arange(n) if n <= FD_ALL else np.sort(rng.choice(n, FD_SAMPLE, replace=False))
    entrywise = fd_directional(model, params, x, np.eye(n)[columns])
    assert relative_error(J[:, :, columns], entrywise) <= FD_TOL
    directions = rng.standard_normal((FD_DIRECTIONS, n))
    along = fd_directional(model, params, x, directions)
    assert relative_error(J @ directions.T, along) <= FD_TOL


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("kind", KINDS)
def test_jacobian_operator_passes_the_adjoint_test(name, kind):
    model = _model(name, kind)
    rng = np.random.default_rng(1)
    x, params = check_point(model, rng, batch=1)
    op = jacobian_operator(model, params, x)
    m, n = op.shape
    for _ in range(3):
        u, v = rng.standard_normal(n), rng.standard_normal(m)
        assert inner_product_error(op.matvec(u) * v, u * op.rmatvec(v)) <= ADJOINT_TOL
    # and rmatvec's rows are those of the batched Jacobian (one VJP on the identity)
    rows = np.stack([op.rmatvec(e) for e in np.eye(m)])
    assert relative_error(rows, jacobian(model, params, x)[0]) <= 1e-13
