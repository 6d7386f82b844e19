"""The base class's parameter validation."""
import numpy as np
import pytest

from refnet.layers import DCTpSLinear, Linear


def test_zero_d_parameters_may_be_numpy_scalars_but_not_python_floats():
    layer = DCTpSLinear(4, 3, density=0.5, rng=0)
    params = layer.init(0)
    x = np.ones((2, 4))
    y = layer(params, x)
    # what numpy returns from arithmetic on a 0-d array
    scalar = dict(params, alpha=params["alpha"] * 1.0)
    assert isinstance(scalar["alpha"], np.generic)
    np.testing.assert_array_equal(layer(scalar, x), y)
    with pytest.raises(TypeError, match=r"params\['alpha'\] must be a numpy array, got float"):
        layer(dict(params, alpha=1.0), x)
    with pytest.raises(TypeError, match="must be a numpy array"):
        Linear(2, 2)(dict(Linear(2, 2).init(0), b=np.float64(0.0)), np.ones((1, 2)))
