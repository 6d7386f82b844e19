"""Losses: exact values at extreme logits, gradients against finite differences, errors."""
import numpy as np
import pytest

from refnet.losses import accuracy, log_softmax, mean_squared_error, softmax_cross_entropy
from refnet.testing import check_value_and_grad


def test_cross_entropy_is_exact_at_logits_of_magnitude_1e4():
    logits = np.array([[1e4, 0.0, -1e4],
                       [0.0, 1e4, 0.0]])
    # row 0, label 2: logsumexp = 1e4 exactly (e^-1e4 underflows), loss 1e4 - (-1e4)
    # row 1, label 1: loss log(1 + 2 e^-1e4) = 0
    value, grad = softmax_cross_entropy(logits, np.array([2, 1]))
    assert value == 1e4
    np.testing.assert_array_equal(grad, np.array([[1.0, 0.0, -1.0], [0.0, 0.0, 0.0]]) / 2)
    value, grad = softmax_cross_entropy(logits, np.array([0, 0]))
    assert value == 0.5 * (0.0 + 1e4)
    assert np.all(np.isfinite(grad))


def test_cross_entropy_equals_the_textbook_formula():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    value, grad = softmax_cross_entropy(logits, labels)
    assert value == pytest.approx(-np.mean(np.log(p[np.arange(5), labels])), rel=1e-14)
    np.testing.assert_allclose(grad, (p - np.eye(4)[labels]) / 5, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(log_softmax(logits), np.log(p), rtol=1e-13)
    # shifting every logit of a row changes nothing
    assert softmax_cross_entropy(logits + 1e3, labels)[0] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_cross_entropy_gradient(scale):
    rng = np.random.default_rng(1)
    labels = np.array([2, 0, 1])
    report = check_value_and_grad(
        lambda p: (lambda v, g: (v, {"logits": g}))(*softmax_cross_entropy(p["logits"], labels)),
        {"logits": scale * rng.standard_normal((3, 4))}, seed=2)
    assert report.passed, str(report)


def test_cross_entropy_label_errors():
    logits = np.zeros((2, 3))
    with pytest.raises(TypeError, match="labels must be integers, got dtype float64"):
        softmax_cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels has shape \(3,\), expected \(2,\)"):
        softmax_cross_entropy(logits, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got values in \[0, 3\]"):
        softmax_cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got values in \[-1, 1\]"):
        softmax_cross_entropy(logits, np.array([-1, 1]))
    with pytest.raises(ValueError, match=r"logits has shape \(3,\), expected \(B, K\)"):
        softmax_cross_entropy(np.zeros(3), np.array([0]))


def test_losses_do_not_mutate_their_arguments():
    logits, target = np.ones((2, 3)), np.zeros((2, 3))
    softmax_cross_entropy(logits, np.array([0, 1]))
    mean_squared_error(logits, target)
    np.testing.assert_array_equal(logits, np.ones((2, 3)))
    np.testing.assert_array_equal(target, np.zeros((2, 3)))


def test_mean_squared_error():
    prediction = np.array([[1.0, 2.0], [3.0, 5.0]])
    target = np.array([[0.0, 2.0], [1.0, 1.0]])
    value, grad = mean_squared_error(prediction, target)
    assert value == (1 + 0 + 4 + 16) / 4
    np.testing.assert_array_equal(grad, np.array([[2.0, 0.0], [4.0, 8.0]]) / 4)
    rng = np.random.default_rng(3)
    t = rng.standard_normal((3, 2))
    report = check_value_and_grad(
        lambda p: (lambda v, g: (v, {"y": g}))(*mean_squared_error(p["y"], t)),
        {"y": rng.standard_normal((3, 2))})
    assert report.passed, str(report)
    with pytest.raises(ValueError, match=r"prediction has shape \(2, 2\) but target has shape "
                                         r"\(2,\)"):
        mean_squared_error(prediction, np.zeros(2))


def test_accuracy_breaks_ties_at_the_first_index():
    logits = np.array([[1.0, 1.0], [0.0, 2.0], [3.0, 1.0]])
    assert accuracy(logits, np.array([0, 1, 1])) == pytest.approx(2 / 3)
