"""im2col against a direct loop, col2im as its exact adjoint, and their errors."""
import numpy as np
import pytest

from refnet.ops import col2im, conv_output_shape, im2col

# (C, H, W, kernel, stride, padding): square and non-square, overlapping
# (stride < kernel), gapped (stride > kernel), sizes of 1, padding per axis
CASES = [
    (1, 1, 1, (1, 1), 1, 0),
    (2, 4, 5, (2, 2), 1, 0),
    (3, 5, 4, (3, 2), (2, 1), (1, 0)),
    (2, 6, 6, (2, 3), 3, 1),
    (1, 3, 7, (3, 3), (1, 2), (1, 2)),
    (2, 2, 3, 1, 2, 0),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def im2col_loop(x, kernel, stride, padding):
    """The definition, one entry at a time."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    *lead, c, h, w = x.shape
    xp = np.zeros(tuple(lead) + (c, h + 2 * ph, w + 2 * pw))
    xp[..., ph:ph + h, pw:pw + w] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    cols = np.zeros(tuple(lead) + (ho, wo, kh * kw * c))
    for idx in np.ndindex(*lead):
        for i in range(ho):
            for j in range(wo):
                for a in range(kh):
                    for b in range(kw):
                        for ch in range(c):
                            cols[idx + (i, j, (a * kw + b) * c + ch)] = \
                                xp[idx + (ch, i * sh + a, j * sw + b)]
    return cols


def col2im_loop(cols, x_shape, kernel, stride, padding):
    """Every patch entry added back to the pixel it came from; padding dropped."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    c, h, w = x_shape
    lead = cols.shape[:-3]
    ho, wo = cols.shape[-3:-1]
    xp = np.zeros(lead + (c, h + 2 * ph, w + 2 * pw))
    for idx in np.ndindex(*lead):
        for i in range(ho):
            for j in range(wo):
                for a in range(kh):
                    for b in range(kw):
                        for ch in range(c):
                            xp[idx + (ch, i * sh + a, j * sw + b)] += \
                                cols[idx + (i, j, (a * kw + b) * c + ch)]
    return xp[..., ph:ph + h, pw:pw + w]


@pytest.mark.parametrize("case", CASES)
def test_im2col_matches_the_loop(case):
    c, h, w, kernel, stride, padding = case
    x = np.random.default_rng(0).standard_normal((2, c, h, w))
    cols = im2col(x, kernel, stride, padding)
    np.testing.assert_array_equal(cols, im2col_loop(x, kernel, stride, padding))
    assert cols.flags.c_contiguous


@pytest.mark.parametrize("case", CASES)
def test_col2im_matches_the_loop(case):
    c, h, w, kernel, stride, padding = case
    ho, wo = im2col(np.zeros((1, c, h, w)), kernel, stride, padding).shape[1:3]
    kh, kw = _pair(kernel)
    cols = np.random.default_rng(1).standard_normal((2, ho, wo, kh * kw * c))
    np.testing.assert_allclose(col2im(cols, (c, h, w), kernel, stride, padding),
                               col2im_loop(cols, (c, h, w), kernel, stride, padding),
                               rtol=0, atol=1e-14)


@pytest.mark.parametrize("case", CASES)
def test_col2im_is_the_exact_adjoint(case):
    """<im2col(x), cols> == <x, col2im(cols)>; integer values make both sums exact."""
    c, h, w, kernel, stride, padding = case
    rng = np.random.default_rng(2)
    x = rng.integers(-9, 10, (3, c, h, w)).astype(float)
    cols_shape = im2col(x, kernel, stride, padding).shape
    cols = rng.integers(-9, 10, cols_shape).astype(float)
    lhs = np.sum(im2col(x, kernel, stride, padding) * cols)
    rhs = np.sum(x * col2im(cols, (c, h, w), kernel, stride, padding))
    assert lhs == rhs


def test_leading_axes_are_kept():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 2, 4, 5))
    cols = im2col(x, (2, 3), (1, 2), 1)
    for k in range(2):
        np.testing.assert_array_equal(cols[k], im2col(x[k], (2, 3), (1, 2), 1))
    back = col2im(cols, (2, 4, 5), (2, 3), (1, 2), 1)
    for k in range(2):
        np.testing.assert_array_equal(back[k], col2im(cols[k], (2, 4, 5), (2, 3), (1, 2), 1))


def test_an_int_means_both_axes():
    x = np.random.default_rng(4).standard_normal((1, 2, 5, 5))
    np.testing.assert_array_equal(im2col(x, 3, 2, 1), im2col(x, (3, 3), (2, 2), (1, 1)))


def test_inputs_are_not_modified():
    x = np.random.default_rng(5).standard_normal((1, 1, 4, 4))
    copy = x.copy()
    cols = im2col(x, 2, 1, 1)
    cols_copy = cols.copy()
    col2im(cols, (1, 4, 4), 2, 1, 1)
    np.testing.assert_array_equal(x, copy)
    np.testing.assert_array_equal(cols, cols_copy)


def test_conv_output_shape():
    assert conv_output_shape((2, 5, 5), 3) == (2, 3, 3)
    assert conv_output_shape((2, 5, 1), (3, 1), (2, 1), (1, 0)) == (2, 3, 1)
    assert conv_output_shape((1, 1, 1), 3, 1, 1, channels=1) == (1, 1, 1)
    with pytest.raises(ValueError, match=r"f: input shape \(1, 1, 1\): kernel 4 is larger "
                                         r"than the padded input 1"):
        conv_output_shape((1, 1, 1), 4, 1, 1, owner="f")
    with pytest.raises(ValueError, match=r"f: input shape \(2, 5, 5\), expected \(3, H, W\)"):
        conv_output_shape((2, 5, 5), 3, channels=3, owner="f")


@pytest.mark.parametrize("kwargs, match", [
    (dict(kernel=(0, 2)), "im2col: kernel must be .* got \\(0, 2\\)"),
    (dict(kernel=2, stride=0), "im2col: stride must be .* got 0"),
    (dict(kernel=2, padding=-1), "im2col: padding must be .*>= 0, got -1"),
    (dict(kernel=(1, 2, 3)), "im2col: kernel must be an integer or a pair"),
    (dict(kernel=6), r"im2col: input shape \(1, 4, 5\): kernel 6 is larger"),
])
def test_im2col_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        im2col(np.zeros((1, 1, 4, 5)), **kwargs)


def test_im2col_rejects_arrays_without_channel_and_spatial_axes():
    with pytest.raises(ValueError,
                       match=r"im2col: x has shape \(4, 5\), expected \(..., C, H, W\)"):
        im2col(np.zeros((4, 5)), 2)


def test_col2im_rejects_a_wrong_cols_shape():
    with pytest.raises(ValueError, match=r"col2im: cols has shape \(1, 3, 3, 4\), expected "
                                         r"\(..., 3, 3, 8\)"):
        col2im(np.zeros((1, 3, 3, 4)), (2, 4, 4), 2)
