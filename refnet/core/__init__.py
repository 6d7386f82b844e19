"""The engine: the layer contract, parameter trees and the containers."""
from .graph import Graph, GraphCache, Node, Sequential
from .layer import Layer, MergeLayer, as_rng, fold_lead, lead_shape
from .tree import (TreeSpec, tree_check_like, tree_equal, tree_flatten, tree_get, tree_leaves,
                   tree_map, tree_replace, tree_size, tree_unflatten, tree_zeros_like)

__all__ = ["Graph", "GraphCache", "Node", "Sequential", "Layer", "MergeLayer", "as_rng",
           "fold_lead", "lead_shape", "TreeSpec", "tree_check_like", "tree_equal",
           "tree_flatten", "tree_get", "tree_leaves", "tree_map", "tree_replace", "tree_size",
           "tree_unflatten", "tree_zeros_like"]
