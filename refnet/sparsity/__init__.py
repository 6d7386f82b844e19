"""Choosing and moving sparse supports: pruning at initialisation, IMP, RigL, subspaces.

Re-exports the density arithmetic of :mod:`refnet.supports` and two tree helpers.
"""
from ..networks import replace_layers, sparse_layers
from ..supports import (DISTRIBUTIONS, Allocation, LayerAllocation, allocate,
                        distribution_weights, matrix_shape, row_counts, sample_support,
                        sample_support_per_row, sample_supports, target_nnz)
from .imp import (IMPResult, iterative_magnitude_pruning, magnitude_prune,
                  rounds_for)
from .pruning import (PruneResult, draw_batches, exponential_schedule, force, iterative_snip,
                      keep_top, mask_gradient, snip, synflow, synflow_scores)
from .rigl import (RigL, LayerUpdate, dense_weight_gradients, drop_fraction, remap_values,
                   rigl_layer_update)
from .subspace import (PROJECTIONS, SubspaceCache, SubspaceNetwork, matched_dim,
                       random_projection, weights_projection)

__all__ = ["DISTRIBUTIONS", "Allocation", "LayerAllocation", "allocate",
           "distribution_weights", "target_nnz", "matrix_shape", "row_counts",
           "sample_support", "sample_support_per_row", "sample_supports",
           "PruneResult", "exponential_schedule", "keep_top", "mask_gradient", "draw_batches",
           "snip", "iterative_snip", "force", "synflow", "synflow_scores",
           "dense_weight_gradients", "replace_layers", "sparse_layers", "RigL",
           "LayerUpdate", "drop_fraction", "remap_values", "rigl_layer_update",
           "IMPResult", "iterative_magnitude_pruning", "magnitude_prune",
           "rounds_for",
           "PROJECTIONS", "SubspaceCache", "SubspaceNetwork", "matched_dim",
           "random_projection", "weights_projection"]
