"""Losses: each returns its value and its gradient with respect to the prediction.

Both are means over the batch, so a loss's gradient scales as 1 / B (PyTorch's
``reduction="mean"``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["softmax_cross_entropy", "mean_squared_error", "log_softmax", "accuracy", "LOSSES",
           "check_labels"]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """``log(softmax(logits))`` along the last axis; subtracting the row maximum first keeps
    every exponent <= 0, so logits of magnitude 1e4 neither overflow nor lose the answer."""
    z = logits - np.max(logits, axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def check_labels(labels, batch: int, classes: int) -> np.ndarray:
    """Return ``labels`` as an int array of shape (batch,) with values in [0, classes)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.shape != (batch,):
        raise ValueError(f"labels has shape {labels.shape}, expected ({batch},)")
    if batch and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in [0, {classes}), got values in "
                         f"[{labels.min()}, {labels.max()}]")
    return labels


def softmax_cross_entropy(logits: np.ndarray, labels) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy of ``logits`` (B, K) at int ``labels`` (B,), and its gradient.

    With ``p = softmax(z)`` one example's loss is ``-log p[y]`` and ``d(-log p[y]) / dz =
    p - onehot(y)``, so::

        value      = mean_b(logsumexp(logits[b]) - logits[b, labels[b]])
        logits_bar = (softmax(logits) - onehot(labels)) / B                 # (B, K)

    Examples
    --------
    >>> import numpy as np
    >>> value, grad = softmax_cross_entropy(np.array([[1e4, 0.0]]), np.array([1]))
    >>> value
    10000.0
    """
    logits = np.asarray(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits has shape {logits.shape}, expected (B, K)")
    batch, classes = logits.shape
    labels = check_labels(labels, batch, classes)
    logp = log_softmax(logits)
    rows = np.arange(batch)
    value = float(-np.mean(logp[rows, labels]))
    grad = np.exp(logp)
    grad[rows, labels] -= 1.0
    return value, grad / batch


def mean_squared_error(prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """``mean((prediction - target)**2)`` (PyTorch's ``MSELoss``) and its gradient
    ``2 * (prediction - target) / prediction.size``."""
    prediction, target = np.asarray(prediction), np.asarray(target)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction has shape {prediction.shape} but target has shape "
                         f"{target.shape}; they must match")
    diff = prediction - target
    return float(np.mean(diff * diff)), 2.0 * diff / diff.size


def accuracy(logits: np.ndarray, labels) -> float:
    """Fraction of rows whose largest logit is at the label (ties: the first index)."""
    logits = np.asarray(logits)
    labels = check_labels(labels, logits.shape[0], logits.shape[-1])
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


LOSSES = {"cross-entropy": softmax_cross_entropy, "mse": mean_squared_error}
