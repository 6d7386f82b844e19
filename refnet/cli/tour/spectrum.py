"""Tour section: Jacobian spectra of a DCTpS and a sparse network, and the structural rank."""
from __future__ import annotations

from refnet.cli.spectrum.figure import density_label
from refnet.cli.tour.figures import spectrum_figure
from refnet.cli.tour.notebook import Notebook

__all__ = ["TITLE", "run"]

TITLE = "Jacobian spectra: a DCTpS and a plain sparse network"


def run(nb: Notebook, settings) -> None:
    """Write the section into ``nb`` for the network and images ``settings`` describe."""
    sizes, density = list(settings.sizes), settings.density
    nb.section(TITLE)
    nb.prose("""
        A network's input-output Jacobian `J = dy/dx` (at one input, `m x n` for `n` inputs
        and `m` outputs) is the product of its layers' Jacobians, and backpropagation
        multiplies the error by `J.T`. Where `J` has a zero singular value, some direction of
        the output cannot be moved by any change of the input, and an error in that direction
        never reaches the input: no signal passes that way, forward or back. A network whose
        Jacobian is zero computes an output that does not depend on its input at all.

        Below, one fully connected ReLU network is built twice at the same density and on the
        same random supports: as DCTpS (`W = alpha * D + S` with `S = 0` and `alpha = 1`, the
        paper's initialisation) and as plain sparse (`W = S`, values drawn from
        N(0, 2 / fan-in of their row), which keeps the scale of the signal). The density is
        uniform over the layers: every layer has that share of its weights.
    """)
    seed = int(settings.seed)
    nb.cell(f"""
        import numpy as np
        from refnet.models import build_model, structural_supports, supports_of
        from refnet.spectra import jacobian, structural_rank
        from refnet.cli.spectrum.study import network_spectrum, real_inputs

        sizes = {sizes!r}
        density = {density!r}
        nets = {{
            "dctps": build_model("mlp", sizes=sizes, kind="dctps", density=density, rng={seed}),
            "sparse": build_model("mlp", sizes=sizes, kind="sparse", density=density, rng={seed},
                                  sparse_init="kaiming-sparse"),
        }}
        params = {{kind: net.init({seed + 1}) for kind, net in nets.items()}}
        images = real_inputs((sizes[0],), {int(settings.examples)}, seed={seed}).x   # MNIST
        for layer in nets["sparse"].spec["layers"]:
            print(layer["name"], "shape", tuple(layer["shape"]), "trainable weights", layer["nnz"])
    """)
    nb.check_equal("both networks have the same supports",
                   "np.concatenate([np.ravel(p) for p in supports_of(nets['dctps']).values()])",
                   "np.concatenate([np.ravel(p) for p in supports_of(nets['sparse']).values()])")
    nb.prose("""
        `refnet.spectra.jacobian` computes every image's exact Jacobian with ONE batched
        backward pass whose cotangent is the identity (carried as a leading axis), and
        `network_spectrum` (`refnet/spectra/study.py`, the library behind `refnet spectrum`)
        takes its singular values and their statistics. First, the Jacobian itself, against
        the product of the layers' matrices (`alpha * D + S`, or `S`) with the ReLU
        derivatives (1 where the unit's input is positive, else 0) in between, for one image:
    """)
    nb.cell("""
        def jacobian_by_hand(net, params, x0):
            values, _ = net.forward_all(params, x0[None])
            J = np.eye(x0.size)
            for node in net.nodes:
                if hasattr(node.layer, "dense_matrix"):              # a weight layer: W
                    J = node.layer.dense_matrix(params[node.name]) @ J
                else:                                                # ReLU(z): diag(z > 0)
                    J = (values[node.inputs[0]][0] > 0)[:, None] * J
            return J

        J0 = {kind: jacobian(net, params[kind], images[:1])[0] for kind, net in nets.items()}
        J0_by_hand = {kind: jacobian_by_hand(net, params[kind], images[0])
                      for kind, net in nets.items()}
    """)
    nb.check_close("DCTpS: the batched Jacobian is the product of the layers' matrices",
                   "J0['dctps']", "J0_by_hand['dctps']")
    nb.check_close("sparse: the batched Jacobian is the product of the layers' matrices",
                   "J0['sparse']", "J0_by_hand['sparse']")
    nb.prose("Now the spectra at every image:")
    nb.cell("""
        stats, sigma = {}, {}
        for kind, net in nets.items():
            # sigma: (images, min(m, n)) singular values; stats: their statistics
            stats[kind], sigma[kind] = network_spectrum(net, params[kind], images)
            print(f"{kind:6}  zero singular values: {stats[kind]['frac_zero']:.0%}, "
                  f"rank per image {stats[kind]['rank_min']}..{stats[kind]['rank_max']}, "
                  f"largest {stats[kind]['sv_max']:.3g}, "
                  f"structural rank {stats[kind]['structural_rank']}")
    """)
    stats = nb.value("stats")
    m_out = min(sizes[0], sizes[-1])
    nb.check_equal("DCTpS: every image's Jacobian has full rank min(m, n)",
                   "stats['dctps']['rank_min']", "min(sizes[0], sizes[-1])")
    nb.check_equal("DCTpS: the supports allow full rank", "stats['dctps']['structural_rank']",
                   "min(sizes[0], sizes[-1])")
    nb.check_at_most("DCTpS with S = 0: no singular value exceeds 1",
                     "stats['dctps']['sv_max']", "1")
    nb.check_at_most("sparse: no image's rank exceeds what the supports allow",
                     "stats['sparse']['rank_max']", "stats['sparse']['structural_rank']")
    _structure(nb, sizes, density, stats, m_out)


def _structure(nb: Notebook, sizes, density, stats, m_out) -> None:
    bound = stats["sparse"]["structural_rank"]
    nb.prose(f"""
        **Why: the structural rank.** The supports alone (which entries MAY be nonzero) bound
        the rank of `J` for every input and every value of the weights. Draw the network as a
        graph with one vertex per unit and an edge for every support entry; an entry of a
        product of matrices is a sum over paths of the products of the weights along them.
        By the Lindstrom-Gessel-Viennot lemma an `r x r` minor of `J` is a signed sum over
        systems of `r` paths that share no unit, so if no such system exists every such minor
        is zero: rank `J` is at most the largest number of vertex-disjoint input-output
        paths, at every input, and equals it for generic weights with every ReLU on
        (`refnet.spectra.structural_rank`, a maximum flow;
        `refnet.models.structural_supports` gives the supports of a network's layers).

        A unit is reached when some input has a path to it. In a layer with `e` support
        entries from `n_in` units of which `r` are reached, about `e * r / n_in` entries
        start at a reached unit ("live" entries), and only their end units are reached
        (fewer than the live entries when two of them end at the same unit). The sparse
        network at {density_label(density)}:
    """)
    nb.cell("""
        supports = {kind: structural_supports(net) for kind, net in nets.items()}   # (out, in) 0/1

        def reached_units(supports):
            reached = np.ones(supports[0].shape[1], dtype=bool)               # every input
            counts, live = [int(reached.sum())], []
            for A in supports:
                live.append(int(A[:, np.flatnonzero(reached)].nnz))   # entries from reached units
                reached = (A @ reached.astype(np.int64)) > 0          # reached if one input is
                counts.append(int(reached.sum()))
            return counts, live

        reached = {kind: reached_units(s) for kind, s in supports.items()}
        bounds = {kind: structural_rank(s) for kind, s in supports.items()}
        print({kind: b.rank_bound for kind, b in bounds.items()})
    """)
    counts, live = nb.value("reached['sparse']")
    shapes = [tuple(A.shape) for A in nb.value("supports['sparse']")]
    nnz = [int(A.nnz) for A in nb.value("supports['sparse']")]
    dct_counts = nb.value("reached['dctps'][0]")
    rows = []
    for layer, ((out, n_in), e) in enumerate(zip(shapes, nnz)):
        r = counts[layer]
        rows.append((f"fc{layer + 1}", f"{out} x {n_in}", e, r, f"{e * r / n_in:.1f}", live[layer],
                     counts[layer + 1], dct_counts[layer + 1]))
    nb.table(["layer", "out x in", "entries e", "reached before (r)", "e * r / n_in",
              "live entries", "reached after (sparse)", "reached after (DCTpS)"], rows,
             align="llrrrrrr")
    nb.check_equal("the count of reached outputs is structural_rank's",
                   "reached['sparse'][0][-1]", "int(bounds['sparse'].reachable_outputs.sum())")
    nb.check_equal("the study's structural rank is the one computed here",
                   "bounds['sparse'].rank_bound", "stats['sparse']['structural_rank']")
    nb.figure(spectrum_figure(nb.value("sigma['dctps']"), nb.value("sigma['sparse']"),
                              {"DCTpS": dct_counts, "sparse": counts},
                              f"{density_label(density)} density"),
              "spectrum.png",
              f"singular values of the Jacobian at every image: DCTpS (left) and sparse "
              f"(middle) at {density_label(density)} density on the same supports; units "
              f"reached from the inputs after each layer (right)")
    if bound == 0:
        nb.prose(f"""
            No input reaches any output of the sparse network: its structural rank is 0. So
            for ANY values on these supports its Jacobian is exactly zero at every input and
            its output is the same for every image: whatever values training gives the
            weights, this network cannot tell one image from another. The checks:
        """)
        nb.check_equal("sparse: the Jacobian is exactly zero at every image",
                       "np.count_nonzero(sigma['sparse'])", "0")
        nb.prose("""
            "Any values" can be tried too: draw every value of `S` and every bias at random
            (N(0, 1), far from any initialisation) and feed all the images.
        """)
        nb.cell("""
            from refnet.core.tree import tree_random_like

            any_params = tree_random_like(params["sparse"], 5)   # every S value and bias random
            outputs = nets["sparse"](any_params, images)           # (images, m)
        """)
        nb.check_equal("sparse, random weights: two images give bitwise the same output",
                       "outputs[1]", "outputs[0]")
        nb.check_equal("sparse, random weights: so do all the images",
                       "np.count_nonzero(outputs != outputs[0])", "0")
    elif bound == m_out:
        nb.prose(f"""
            At this density the supports of the sparse network still allow the full rank
            {m_out}: any zero singular values it has come from its ReLUs and values, not from
            its supports.
        """)
    else:
        nb.prose(f"""
            The supports of the sparse network allow rank at most {bound} of {m_out}: at
            least {m_out - bound} output directions cannot be moved by any input, whatever
            the weights.
        """)
    contrast = ("while the plain sparse network on the same supports is cut in two: no "
                "input reaches any output" if bound == 0 else
                "while the plain sparse network on the same supports depends on its few "
                "entries for every path")
    nb.prose(f"""
        The DCTpS network has the same supports for `S`, but its weight `alpha * D + S` is
        dense through `D`: every unit is reached, the structural rank is the full
        {m_out}, and at initialisation (`S = 0`) the network is its DCT part alone, the same
        network at every density. Its Jacobian has full rank at every image, and no
        singular value exceeds 1 (checks above): every factor of `J`, a DCT block with
        orthonormal rows or columns or a ReLU's diagonal of zeros and ones, has norm at
        most 1, and the ReLUs that are off make the values smaller. Training grows `S`
        inside a network in which the signal already flows both ways, {contrast}. The
        README section "When is training possible? Jacobian spectra" (`refnet spectrum`)
        sweeps the density from 1% to 0.01%.
    """)
