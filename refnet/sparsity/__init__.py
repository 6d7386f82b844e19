"""Sparse supports at a global density.

:mod:`refnet.sparsity.distributions` turns a global density into exact integer
nnz per layer (uniform, EPL, EPF, ERK, the original's clipped ERK);
:mod:`refnet.sparsity.support` draws the positions of those nonzeros.
"""
from .distributions import (DISTRIBUTIONS, Allocation, LayerAllocation, allocate,
                            distribution_weights, target_nnz)
from .support import (matrix_shape, row_counts, sample_support, sample_support_per_row,
                      sample_supports)

__all__ = ["DISTRIBUTIONS", "Allocation", "LayerAllocation", "allocate",
           "distribution_weights", "target_nnz", "matrix_shape", "row_counts",
           "sample_support", "sample_support_per_row", "sample_supports"]

# pruning at initialisation (SNIP, Iterative SNIP, FORCE, SynFlow)
from .pruning import PruneResult, exponential_schedule, keep_top, mask_gradient  # noqa: E402
from .snip import draw_batches, force, iterative_snip, snip  # noqa: E402
from .synflow import synflow, synflow_scores  # noqa: E402

__all__ += ["PruneResult", "exponential_schedule", "keep_top", "mask_gradient", "draw_batches",
            "snip", "iterative_snip", "force", "synflow", "synflow_scores"]

# dynamic sparse training (RigL) and the dense gradient it grows from
from .dense_gradient import (dense_twin, dense_weight_gradients, replace_layers,  # noqa: E402
                             sparse_layers)
from .rigl import (RigL, LayerUpdate, drop_fraction, remap_tree, remap_values,  # noqa: E402
                   rigl_hook, rigl_layer_update, train_rigl)

__all__ += ["dense_twin", "dense_weight_gradients", "replace_layers", "sparse_layers", "RigL",
            "LayerUpdate", "drop_fraction", "remap_tree", "remap_values", "rigl_hook",
            "rigl_layer_update", "train_rigl"]

# iterative magnitude pruning with rewinding
from .imp import (IMPResult, iterative_magnitude_pruning, magnitude_prune,  # noqa: E402
                  magnitude_scores)

__all__ += ["IMPResult", "iterative_magnitude_pruning", "magnitude_prune", "magnitude_scores"]

# random-subspace training, w = d + U theta
from .subspace import (PROJECTIONS, SubspaceCache, SubspaceNetwork, matched_dim,  # noqa: E402
                       random_projection)

__all__ += ["PROJECTIONS", "SubspaceCache", "SubspaceNetwork", "matched_dim",
            "random_projection"]

# one call per study method (RigL (ERK), DCTpS + RigL, IMP, random subspace)
from .methods import METHOD_LABELS, MethodRun, method_start, run_method  # noqa: E402

__all__ += ["METHOD_LABELS", "MethodRun", "method_start", "run_method"]
