"""Tour section: padding and truncation for a rectangular layer, and the adjoint as an idct."""
from __future__ import annotations

from refnet.cli.tour.figures import truncation_figure
from refnet.cli.tour.notebook import Notebook

__all__ = ["TITLE", "CASES", "run"]

TITLE = "Padding and truncation: a rectangular layer"

#: ``(n, m)`` of the two layers shown: more inputs than outputs, then fewer.
CASES = ((5, 3), (3, 5))


def run(nb: Notebook, settings) -> None:
    """Write the section into ``nb`` (``settings`` is unused)."""
    nb.section(TITLE)
    nb.prose("""
        A layer with `n` inputs and `m` outputs needs an `m x n` matrix. DCTpS takes
        `q = max(m, n)` and the top-left block of the `q x q` DCT matrix: `D = C[:m, :n]`.
        It is applied without ever being stored:
    """)
    nb.formulas("""
        D @ x = C[:m, :n] @ x
              = C[:m, :] @ pad(x, q)       # the q - n appended zeros meet columns n..q-1 of C
              = (C @ pad(x, q))[:m]        # keep the first m rows
              = dct(pad(x, q))[:m]         # O(q log q); scipy.fft.dct(x, n=q) pads for us
    """)
    nb.prose("""
        `refnet.ops.TruncatedDCT(n, m)` is this operator (`DCTpSLinear(n, m)` holds one):
        `apply(x)` computes `D @ x` on the last axis of `x`, `adjoint(y)` computes `D.T @ y`.
        Its matrix is recovered column by column by applying it to the identity. The original
        DCTpS code instead materialises a frozen weight `f = scipy.fftpack.dct(np.eye(q),
        norm='ortho')[:n, :m]` of shape `(in, out)` and computes `y = x @ f` on a batch of rows
        `x`. `fftpack.dct` transforms along the LAST axis, so row `i` of its result is the DCT
        of `e_i`, which is column `i` of `C`: the matrix is `C.T`, and `f = C.T[:n, :m] =
        (C[:m, :n]).T = D.T`. So `x @ f = x @ D.T` is `D @ x` applied to every row.
    """)
    cases = []
    for n, m in CASES:
        _case(nb, n, m)
        cases.append((n, m, nb.value("dct_matrix(q)")))
    nb.figure(truncation_figure(cases), "truncation.png",
              "D = C[:m, :n] inside the 5 x 5 DCT matrix: 5 inputs to 3 outputs (left) and "
              "3 inputs to 5 outputs (right)")
    nb.prose("""
        In both cases every singular value of `D` is 1 (checks above): `D` is a block of whole
        rows of `C` (`m < n`) or of whole columns (`m > n`), which stay orthonormal. The DCT
        part of a DCTpS layer is a rectangular matrix as well conditioned as a rectangular
        matrix can be.
    """)


def _case(nb: Notebook, n: int, m: int) -> None:
    if n > m:
        nb.prose(f"""
            **{n} inputs, {m} outputs.** `q = {n}`: the input needs no padding and the output
            keeps the first {m} of the {n} coefficients (truncation).
        """)
    else:
        nb.prose(f"""
            **{n} inputs, {m} outputs.** `q = {m}`: the input is padded with {m - n} zeros
            and all {m} coefficients are kept.
        """)
    nb.cell(f"""
        import scipy.fftpack
        from refnet.ops import TruncatedDCT

        n, m = {n}, {m}
        q = max(m, n)
        op = TruncatedDCT(n, m)
        D_fast = op.apply(np.eye(n)).T                          # column j: D @ e_j, by scipy.fft
        D_explicit = dct_matrix(q)[:m, :n]                      # the block of C
        f = scipy.fftpack.dct(np.eye(q), norm="ortho")[:n, :m]  # the original's (in, out) weight
        print(np.array2string(D_fast, precision=3, suppress_small=True))
    """)
    nb.check_close("the fast path gives the block C[:m, :n]", "D_fast", "D_explicit")
    nb.check_close("the original's weight f is D.T", "D_fast", "f.T")
    nb.check_close("every singular value of D is 1", "np.linalg.svd(D_fast, compute_uv=False)",
                   "np.ones(min(m, n))")
    if n == CASES[0][0] and m == CASES[0][1]:
        nb.prose("""
            **The backward pass.** Backpropagation through `y = D @ x` needs `D.T @ y_bar` for a
            cotangent `y_bar` of length `m`. The transpose of a block is the block of the
            transpose, and `C.T = C^-1` because `C` is orthogonal:
        """)
        nb.formulas("""
            D.T = (C[:m, :n]).T = C.T[:n, :m] = C^-1[:n, :m]

            D.T @ y_bar = C^-1[:n, :m] @ y_bar
                        = (C^-1[:, :m] @ y_bar)[:n]      # keep the first n rows
                        = (C^-1 @ pad(y_bar, q))[:n]     # appended zeros meet columns m..q-1
                        = idct(pad(y_bar, q))[:n]        # C^-1 is scipy's idct, norm="ortho"
        """)
        nb.prose("""
            Pad the cotangent to `q`, invert the transform, keep the first `n` entries: the
            truncation of the forward pass (`[:m]`) becomes padding, and the padding of the
            forward pass becomes truncation (`[:n]`). This is what `TruncatedDCT.adjoint`
            computes, in `O(q log q)`.
        """)
    nb.cell("""
        rng = np.random.default_rng(1)
        x, y_bar = rng.standard_normal(n), rng.standard_normal(m)
        adjoint_fast = op.adjoint(y_bar)                                    # refnet
        adjoint_steps = scipy.fft.idct(np.pad(y_bar, (0, q - m)), norm="ortho")[:n]
        adjoint_matrix = D_explicit.T @ y_bar                               # the definition
    """)
    nb.check_close("pad, idct, truncate is D.T @ y_bar", "adjoint_steps", "adjoint_matrix")
    nb.check_close("refnet's adjoint is D.T @ y_bar", "adjoint_fast", "adjoint_matrix")
    nb.check_small("<D @ x, y_bar> = <x, D.T @ y_bar>",
                   "np.dot(op.apply(x), y_bar) - np.dot(x, op.adjoint(y_bar))")
