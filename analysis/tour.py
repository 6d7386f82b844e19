# %% [markdown]
# # A guided tour of the DCTpS layer
#
# DCT plus Sparse (Price & Tanner, "Dense for the Price of Sparse", ICML 2021) replaces every
# weight matrix by `W = alpha * D + S`: `D` a fixed DCT block, applied in `O(q log q)` and never
# stored, `S` sparse on a fixed random support, `alpha` a trained scalar. This tour builds the
# layer from the DCT matrix up. It derives nothing: each derivation is written once, in the
# docstring of the code that computes it (linked below), and here every claim is an `assert`.
#
#     python analysis/tour.py                        # figures into analysis/tour/
#     REFNET_TOUR_OUT=/tmp/t python analysis/tour.py # figures elsewhere
#
# It opens as a notebook too (Jupyter or VS Code read the `# %%` cells; jupytext converts).

# %%
import os
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")                       # files, never a screen
import matplotlib.pyplot as plt
import numpy as np
import scipy.fft
import scipy.fftpack
import scipy.signal
import scipy.sparse as sp

HERE = Path(globals().get("__file__", "tour.py")).resolve().parent   # analysis/
sys.path.insert(0, str(HERE.parent))        # this clone's refnet, installed or not
from refnet import Sequential  # noqa: E402
from refnet.layers import DCTpSConv2d, DCTpSLinear, ReLU, SparseLinear  # noqa: E402
from refnet.ops import TruncatedDCT, dct_matrix, im2col  # noqa: E402
from refnet.spectra import jacobian, singular_values, structural_rank  # noqa: E402
from refnet.testing import check_layer  # noqa: E402

OUT = Path(os.environ.get("REFNET_TOUR_OUT", HERE / "tour"))
OUT.mkdir(parents=True, exist_ok=True)
TOL = 1e-12                                 # two float64 computations of the same numbers


def err(a, b):
    """Largest absolute difference (shapes must agree)."""
    assert np.shape(a) == np.shape(b), (np.shape(a), np.shape(b))
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)), initial=0.0))


def save(fig, name):
    fig.tight_layout()
    fig.savefig(OUT / name, dpi=100)
    plt.close(fig)
    print("wrote", OUT / name)


def show(ax, M, title):
    limit = float(np.max(np.abs(M))) or 1.0
    ax.imshow(M, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_title(title, fontsize=9)


# %% [markdown]
# ## 1. The DCT-II matrix
#
# `C = dct_matrix(q)` is the orthonormal DCT-II, `C[k, j] = s[k] * cos(pi * (2j + 1) * k / 2q)`
# with `s[0] = sqrt(1/q)`, `s[k > 0] = sqrt(2/q)`: row `k` is a cosine of `k` half periods.
# It is orthogonal, so its inverse (scipy's `idct`) is its transpose and every singular value
# is 1 (`refnet/ops/dct.py`).

# %%
q = 8
C = dct_matrix(q)
k, j = np.meshgrid(np.arange(q), np.arange(q), indexing="ij")
s = np.where(k == 0, np.sqrt(1 / q), np.sqrt(2 / q))
assert err(C, s * np.cos(np.pi * (2 * j + 1) * k / (2 * q))) < TOL
v = np.random.default_rng(0).standard_normal(q)
assert err(C @ v, scipy.fft.dct(v, norm="ortho")) < TOL
assert err(C @ C.T, np.eye(q)) < TOL and err(C.T @ C, np.eye(q)) < TOL
assert err(scipy.fft.idct(C @ v, norm="ortho"), v) < TOL

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), width_ratios=[1, 1.35])
show(left, C, f"C = dct_matrix({q}): row k (frequency), column j")
t = np.linspace(-0.5, q - 0.5, 400)
for row, colour in enumerate(["0.3", "tab:blue", "tab:orange", "tab:green"]):
    right.plot(t, s[row, 0] * np.cos(np.pi * (2 * t + 1) * row / (2 * q)), color=colour, lw=0.8)
    right.plot(range(q), C[row], "o", color=colour, label=f"row k = {row}")
right.set_title("rows of C are sampled cosines", fontsize=9)
right.legend(fontsize=8)
save(fig, "dct_matrix.png")

# %% [markdown]
# ## 2. Padding and truncation: a rectangular layer
#
# `n` inputs, `m` outputs, `q = max(m, n)`: `D = C[:m, :n]`. `TruncatedDCT(n, m)` applies it
# as `dct(pad(x, q))[:m]` and its adjoint `D.T @ y` as `idct(pad(y, q))[:n]`: truncation and
# padding trade places (derived in the docstring of `refnet/ops/dct.py`). The original code's
# frozen `(in, out)` weight `fftpack.dct(eye(q), norm="ortho")[:n, :m]` is `D.T`. Both shapes:

# %%
rng = np.random.default_rng(1)
fig, axes = plt.subplots(1, 2, figsize=(9.2, 4.2))
for ax, (n, m) in zip(axes, [(5, 3), (3, 5)]):
    q = max(m, n)
    op = TruncatedDCT(n, m)
    D = dct_matrix(q)[:m, :n]
    assert err(op.apply(np.eye(n)).T, D) < TOL                  # column j is D @ e_j
    assert err(scipy.fftpack.dct(np.eye(q), norm="ortho")[:n, :m], D.T) < TOL
    assert err(np.linalg.svd(D, compute_uv=False), np.ones(min(m, n))) < TOL
    x, y_bar = rng.standard_normal(n), rng.standard_normal(m)
    assert err(op.adjoint(y_bar), D.T @ y_bar) < TOL
    assert abs(op.apply(x) @ y_bar - x @ op.adjoint(y_bar)) < TOL   # <D x, y> = <x, D.T y>
    show(ax, dct_matrix(q), f"n = {n}, m = {m}: D = C[:{m}, :{n}] (boxed)")
    ax.add_patch(plt.Rectangle((-0.5, -0.5), n, m, fill=False, edgecolor="k", lw=2.5))
save(fig, "truncation.png")

# %% [markdown]
# ## 3. `DCTpSLinear`: forward, VJP and JVP against the dense matrix
#
# The layer computes `y = alpha * D @ x + S @ x + b` on a batch of rows without any `m x n`
# array; its VJP and JVP formulas are derived in the `Notes` of `DCTpSLinear`
# (`refnet/layers/dctps.py`). Here the same numbers come from the dense `W = alpha * D + S`.
# The support is given explicitly, in CSR (row-major) order, so `S`'s values sit at
# `(rows[k], cols[k])`. At `layer.init()` a DCTpS layer has `S = 0`, `alpha = 1`, `b = 0`,
# where wrong factors of `alpha` or a stray bias cancel: every value here is random.

# %%
n, m, B = 5, 4, 3
rows, cols = np.divmod(np.sort(rng.choice(m * n, size=6, replace=False)), n)
layer = DCTpSLinear(n, m, support=(rows, cols))
params = {"S": rng.standard_normal(6), "alpha": np.array(0.7), "b": rng.standard_normal(m)}
x, y_bar, x_dot = (rng.standard_normal(shape) for shape in [(B, n), (B, m), (B, n)])

D = dct_matrix(max(m, n))[:m, :n]
S = sp.csr_matrix((params["S"], (rows, cols)), shape=(m, n)).toarray()
W = params["alpha"] * D + S

y, cache = layer.forward(params, x)
x_bar, grads = layer.vjp(params, cache, y_bar)
assert err(y, x @ W.T + params["b"]) < TOL
assert err(x_bar, y_bar @ W) < TOL
assert err(grads["alpha"], np.sum(y_bar * (x @ D.T))) < TOL      # <y_bar, D @ x>
assert err(grads["S"], (y_bar.T @ x)[rows, cols]) < TOL         # y_bar.T @ x on the support
assert err(grads["b"], y_bar.sum(axis=0)) < TOL
assert err(layer.jvp(params, cache, x_dot), x_dot @ W.T) < TOL   # no bias in a tangent

# %% [markdown]
# The same VJP with a leading axis of `m` identity cotangents gives every example's Jacobian
# in one call (`refnet.spectra.jacobian`); for this affine layer it is `W` itself. And
# `refnet.testing.check_layer` checks VJP and JVP against central finite differences,
# against each other, the adjoint identity and batching (it is what `refnet gradcheck` runs).

# %%
assert err(jacobian(layer, params, x), np.broadcast_to(W, (B, m, n))) < TOL
report = check_layer(layer, x, params)
assert report.passed, report
print(report)

# %% [markdown]
# ## 4. `DCTpSConv2d`: a DCT of every patch
#
# `im2col` lays each patch out as a row of `P = kh * kw * cin` numbers, channel fastest
# (`refnet/ops/im2col.py`); the layer applies `alpha * D + S` with `D = C[:cout, :P]` to every
# row (`refnet/layers/dctps.py`). So its DCT part is the DCT of each zero-padded patch cut to
# `cout`, and the whole layer is a direct convolution with the original code's kernel,
# `fftpack.dct(eye(q))[:P, :cout]` reshaped to `(kh, kw, cin, cout)`. First with `P = 18 >
# cout = 4` (truncation), then with `P = 4 < cout = 6` (padding):


# %%
def original_kernel(cin, cout, kh, kw):
    f = scipy.fftpack.dct(np.eye(max(kh * kw * cin, cout)), norm="ortho")[:kh * kw * cin, :cout]
    return f.reshape(kh, kw, cin, cout).transpose(3, 2, 0, 1)      # (cout, cin, kh, kw)


def direct_conv(x, K, stride, pad):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return np.array([[sum(scipy.signal.correlate2d(xp[b, c], K[o, c], mode="valid")
                          for c in range(K.shape[1]))[::stride, ::stride]
                      for o in range(K.shape[0])] for b in range(x.shape[0])])


for cin, cout, kh, stride, pad in [(2, 4, 3, 1, 1), (1, 6, 2, 2, 0)]:
    P = kh * kh * cin
    rows, cols = np.divmod(np.sort(rng.choice(cout * P, size=5, replace=False)), P)
    conv = DCTpSConv2d(cin, cout, kh, stride, pad, support=(rows, cols))
    params = {"S": rng.standard_normal(5), "alpha": np.array(-1.3), "b": rng.standard_normal(cout)}
    x = rng.standard_normal((2, cin, 7, 6))
    y, cache = conv.forward(params, x)

    patches = im2col(x, kh, stride, pad)                           # (B, Ho, Wo, P)
    S = sp.csr_matrix((params["S"], (rows, cols)), shape=(cout, P)).toarray()
    by_rows = (params["alpha"] * scipy.fft.dct(patches, n=max(P, cout), norm="ortho")[..., :cout]
               + patches @ S.T + params["b"])
    assert err(y, by_rows.transpose(0, 3, 1, 2)) < TOL

    K_dct = original_kernel(cin, cout, kh, kh)
    K = params["alpha"] * K_dct + S.reshape(cout, kh, kh, cin).transpose(0, 3, 1, 2)
    assert err(y, direct_conv(x, K, stride, pad) + params["b"][:, None, None]) < TOL

    y_bar, x_dir = rng.standard_normal(y.shape), rng.standard_normal(x.shape)
    x_bar, grads = conv.vjp(params, cache, y_bar)
    assert abs(np.sum(y_bar * direct_conv(x_dir, K, stride, pad)) - np.sum(x_bar * x_dir)) < TOL
    assert err(grads["alpha"], np.sum(y_bar * direct_conv(x, K_dct, stride, pad))) < TOL
    report = check_layer(conv, x, params)
    assert report.passed, report

K_dct = original_kernel(2, 4, 3, 3)                                # the first layer's
fig, axes = plt.subplots(4, 2, figsize=(3.8, 5.8))
for (o, c), ax in np.ndenumerate(axes):
    show(ax, K_dct[o, c], f"out {o}, in {c}")
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("DCT kernel: output o is row o of C over (kh, kw, cin)", fontsize=9)
save(fig, "conv_kernel.png")

# %% [markdown]
# ## 5. Jacobian spectra: DCTpS against plain sparse on the same supports
#
# A ReLU network 784-256x6-10 at density 0.1% (each layer keeps that share of its weights,
# on a seeded random support), built twice: DCTpS at the paper's initialisation (`S = 0`,
# `alpha = 1`) and plain sparse (`W = S`, Kaiming values). Inputs are seeded Gaussians: the
# claims below hold at every input. First, `jacobian` is the product of the layers' matrices
# with the ReLU derivatives `diag(z > 0)` in between.

# %%
sizes, density, examples = [784] + [256] * 6 + [10], 1e-3, 32
supports = []                               # (rows, cols) of each layer, CSR order
for n, m in zip(sizes[:-1], sizes[1:]):
    flat = np.sort(rng.choice(m * n, size=max(1, round(density * m * n)), replace=False))
    supports.append(np.divmod(flat, n))


def network(kind):
    layers = []
    for i, (n, m, support) in enumerate(zip(sizes[:-1], sizes[1:], supports)):
        fc = (DCTpSLinear(n, m, support=support) if kind == "dctps"
              else SparseLinear(n, m, support=support, init="kaiming-sparse"))
        layers += [(f"fc{i}", fc)] + ([(f"relu{i}", ReLU())] if i < len(sizes) - 2 else [])
    return Sequential(layers)


nets = {kind: network(kind) for kind in ["dctps", "sparse"]}
params = {kind: net.init(np.random.default_rng(2)) for kind, net in nets.items()}
inputs = rng.standard_normal((examples, sizes[0]))


def jacobian_by_hand(kind, x0):
    J, z = np.eye(x0.size), x0
    for i, (n, m, (r, c)) in enumerate(zip(sizes[:-1], sizes[1:], supports)):
        p = params[kind][f"fc{i}"]
        W = sp.csr_matrix((p["S"], (r, c)), shape=(m, n)).toarray()
        W = W + p["alpha"] * dct_matrix(max(m, n))[:m, :n] if kind == "dctps" else W
        z = W @ z + p["b"]
        last = i == len(sizes) - 2                                 # no ReLU after it
        J = W @ J if last else (z > 0)[:, None] * (W @ J)
        z = np.maximum(z, 0)
    return J


J = {kind: jacobian(net, params[kind], inputs) for kind, net in nets.items()}
for kind in nets:
    assert err(J[kind][0], jacobian_by_hand(kind, inputs[0])) < TOL
sigma = {kind: singular_values(J[kind]) for kind in nets}          # (examples, 10)

# %% [markdown]
# Every factor of the DCTpS Jacobian is a DCT block with orthonormal rows or columns or a ReLU's
# diagonal of zeros and ones, so no singular value exceeds 1; and its weights are dense through
# `D`, so its Jacobian has full rank 10 at every input. The sparse network's supports alone bound
# the rank of its Jacobian for every value of the weights: by at most the number of
# vertex-disjoint input-output paths (`structural_rank`, derived in
# `refnet/spectra/structural.py`). Here that bound is 0: no input reaches any output, so the
# Jacobian is exactly zero and, whatever values training gives `S`, every input gets the
# same output.

# %%
assert np.max(sigma["dctps"]) <= 1 + TOL
assert np.min(sigma["dctps"]) > 1e-8                              # full rank at every input


def patterns(kind):
    """The (out, in) 0/1 support of every weight matrix: alpha * D makes DCTpS's dense."""
    for (r, c), n, m in zip(supports, sizes[:-1], sizes[1:]):
        A = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(m, n))
        D = sp.csr_matrix(np.abs(dct_matrix(max(m, n))[:m, :n]) > TOL)
        yield A + D if kind == "dctps" else A


reached = {}                                                      # units some input reaches
for kind in nets:
    reached[kind] = [np.ones(sizes[0], dtype=bool)]
    for A in patterns(kind):
        reached[kind].append(A @ reached[kind][-1] > 0)
    reached[kind] = [int(r.sum()) for r in reached[kind]]
assert reached["dctps"] == sizes and reached["sparse"][-1] == 0
assert structural_rank(list(patterns("dctps"))).rank_bound == 10
assert structural_rank(list(patterns("sparse"))).rank_bound == 0
assert np.count_nonzero(J["sparse"]) == 0

any_params = {name: {key: rng.standard_normal(np.shape(value)) for key, value in p.items()}
              for name, p in params["sparse"].items()}
outputs = nets["sparse"](any_params, inputs)
assert np.count_nonzero(outputs != outputs[0]) == 0

fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
for ax, kind, colour in zip(axes, nets, ["tab:blue", "tab:red"]):
    ax.plot(np.arange(1, 11), sigma[kind].T, color=colour, alpha=0.3, lw=1)
    ax.set_title(f"{kind}: singular values of J at {examples} inputs", fontsize=9)
    ax.set_xlabel("index (largest first)")
    ax.set_ylim(-0.03, 1.1)
    axes[2].plot(reached[kind], "o-", color=colour, label=kind)
axes[2].set_yscale("symlog", linthresh=1)
axes[2].set_title("units reached from some input, after each layer", fontsize=9)
axes[2].legend(fontsize=8)
save(fig, "spectrum.png")
print("every assert of the tour holds")
