"""Tour section: the DCTpS convolution as a DCT of every patch, against a direct convolution."""
from __future__ import annotations

from refnet.cli.tour.figures import conv_kernel_figure
from refnet.cli.tour.notebook import Notebook

__all__ = ["TITLE", "run"]

TITLE = "The convolutional layer: a DCT of every patch"


def run(nb: Notebook, settings) -> None:
    """Write the section into ``nb`` (``settings`` is unused)."""
    nb.section(TITLE)
    nb.prose("""
        A 2-D convolution with `cin` input channels, `cout` output channels and a `kh x kw`
        kernel computes, at every output position, `cout` dot products of the kernel with the
        `kh x kw x cin` patch of the input under it. `im2col` (`refnet.ops.im2col`) lays every
        patch out as a row of `P = kh * kw * cin` numbers, in (kernel row, kernel column,
        channel) order with the channel fastest, the kernel layout of the DCTpS paper's code.
        The convolution is then one matrix product, `patches @ W.T` with `W` of shape
        `(cout, P)`, and a DCTpS convolution uses `W = alpha * D + S` with `D = C[:cout, :P]`:
    """)
    nb.formulas("""
        patches = im2col(x)                   # (B, Ho, Wo, P): one row per output position
        y[b, :, i, j] = alpha * dct(pad(patches[b, i, j], q))[:cout] + S @ patches[b, i, j] + bias
                                                              # q = max(cout, P)
    """)
    nb.prose("""
        So the DCT part is the DCT of every (zero-padded) patch, truncated to `cout`
        coefficients. The layer below has `P = 3 * 3 * 2 = 18 > cout = 4`: each patch's 18
        coefficients are truncated to the first 4. First, one patch by hand:
    """)
    nb.cell("""
        from refnet.layers import DCTpSConv2d
        from refnet.ops import im2col

        cin, cout, kh, kw, stride, padding = 2, 4, 3, 3, 1, 1
        conv = DCTpSConv2d(cin, cout, (kh, kw), stride, padding, nnz=5, rng=0)
        rng = np.random.default_rng(3)
        params = {"S": rng.standard_normal(conv.nnz), "alpha": np.array(0.7),
                  "b": rng.standard_normal(cout)}
        x = rng.standard_normal((2, cin, 5, 6))               # (B, C, H, W)
        y, cache = conv.forward(params, x)                    # (B, cout, Ho, Wo) = (2, 4, 5, 6)

        patches = im2col(x, (kh, kw), stride, padding)        # (B, Ho, Wo, P) = (2, 5, 6, 18)
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        i, j = 2, 3                                           # one output position
        window = xp[0, :, i * stride:i * stride + kh, j * stride:j * stride + kw]   # (C, kh, kw)
        patch_by_hand = window.transpose(1, 2, 0).reshape(-1)   # (kernel row, column, channel)
    """)
    nb.check_close("im2col's row is the patch, channel fastest", "patches[0, i, j]",
                   "patch_by_hand")
    nb.prose("Then the whole layer as a DCT of every patch, with scipy's transform:")
    nb.cell("""
        P = kh * kw * cin
        q = max(cout, P)
        dct_part = scipy.fft.dct(patches, n=q, norm="ortho", axis=-1)[..., :cout]  # pad, DCT, cut
        S_part = patches @ conv.support.to_dense(params["S"]).T
        y_patches = params["alpha"] * dct_part + S_part + params["b"]     # (B, Ho, Wo, cout)
    """)
    nb.check_close("the layer is alpha * DCT(patch)[:cout] + S @ patch + b", "y",
                   "y_patches.transpose(0, 3, 1, 2)")
    nb.prose("""
        The original code instead builds a dense kernel: its `(in, out)` weight
        `f = fftpack.dct(eye(q), norm='ortho')[:P, :cout]` (section 2: `f = D.T`), reshaped
        to `(kh, kw, cin, cout)` and transposed to the usual `(cout, cin, kh, kw)`. A direct
        convolution with that kernel (here `scipy.signal.correlate2d`, summed over the input
        channels: a "convolution" in deep learning does not flip the kernel) must give the
        same output, and the layer's VJP must be its transpose:
        `<y_bar, conv(x_dir)> = <x_bar, x_dir>` for any `x_dir`.
    """)
    nb.cell("""
        import scipy.signal

        def original_kernel(cin, cout, kh, kw):
            q = max(kh * kw * cin, cout)
            f = scipy.fftpack.dct(np.eye(q), norm="ortho")[:kh * kw * cin, :cout]
            return f.reshape(kh, kw, cin, cout).transpose(3, 2, 0, 1)     # (cout, cin, kh, kw)

        def direct_conv(x, K, stride, padding):
            xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
            out = [[sum(scipy.signal.correlate2d(xp[b, c], K[o, c], mode="valid")
                        for c in range(K.shape[1]))[::stride, ::stride]
                    for o in range(K.shape[0])] for b in range(x.shape[0])]
            return np.array(out)                                # (B, cout, Ho, Wo)

        K_dct = original_kernel(cin, cout, kh, kw)
        K_S = conv.support.to_dense(params["S"]).reshape(cout, kh, kw, cin).transpose(0, 3, 1, 2)
        K = params["alpha"] * K_dct + K_S                       # the dense kernel alpha * D + S
        y_direct = direct_conv(x, K, stride, padding) + params["b"][:, None, None]

        y_bar = rng.standard_normal(y.shape)
        x_bar, grads = conv.vjp(params, cache, y_bar)
        x_dir = rng.standard_normal(x.shape)
    """)
    nb.check_close("the layer is a direct convolution with the original's kernel", "y",
                   "y_direct")
    nb.check_small("the VJP is the transpose of the direct convolution",
                   "np.sum(y_bar * direct_conv(x_dir, K, stride, padding)) "
                   "- np.sum(x_bar * x_dir)")
    nb.check_close("alpha_bar is <y_bar, the DCT convolution of x>", "grads['alpha']",
                   "np.sum(y_bar * direct_conv(x, K_dct, stride, padding))")
    nb.figure(conv_kernel_figure(nb.value("K_dct")), "conv_kernel.png",
              "the DCT part of the kernel (cout = 4 by cin = 2 filters of 3 x 3): output "
              "channel o is row o of C reshaped to (kh, kw, cin)")
    nb.prose("""
        Row `o` of `D` is a cosine with `o` half periods over the 18 patch entries, taken in
        (kernel row, kernel column, channel) order: output channel 0 is a constant filter (a
        scaled sum of the patch), channel 1 a slow ramp from the top left of the patch to the
        bottom right, and higher channels oscillate faster. The two input channels are
        neighbours in this order, so at low frequencies they get almost the same filter.
        When `P < cout` the
        patch is padded instead: the same cells with 1 input channel, a 2 x 2 kernel
        (`P = 4`), 6 output channels and stride 2:
    """)
    nb.cell("""
        conv2 = DCTpSConv2d(1, 6, (2, 2), 2, 0, nnz=3, rng=1)
        params2 = {"S": rng.standard_normal(3), "alpha": np.array(-1.3), "b": np.zeros(6)}
        x2 = rng.standard_normal((2, 1, 7, 7))
        K2 = params2["alpha"] * original_kernel(1, 6, 2, 2) \\
            + conv2.support.to_dense(params2["S"]).reshape(6, 2, 2, 1).transpose(0, 3, 1, 2)
    """)
    nb.check_close("a padded patch: again a direct convolution", "conv2(params2, x2)",
                   "direct_conv(x2, K2, 2, 0)")
