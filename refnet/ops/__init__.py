"""Pure array operators with exact adjoints; nothing here imports the rest of refnet."""
from . import fast
from .im2col import col2im, conv_output_size, im2col
from .operator import FixedOperator
from .dct import TruncatedDCT, dct_matrix
from .csr import CSRSupport, nnz_from_density
from .offsets import (OFFSETS, RANDOM_OFFSETS, ImageDCT, RandomizedDCT, RandomOrthogonal,
                      RandomPermutation, RandomSigns, TruncatedIdentity, make_offset)

__all__ = ["fast", "col2im", "conv_output_size", "im2col", "FixedOperator", "TruncatedDCT",
           "dct_matrix", "CSRSupport", "nnz_from_density", "OFFSETS", "RANDOM_OFFSETS",
           "RandomizedDCT", "RandomOrthogonal", "TruncatedIdentity", "RandomPermutation",
           "RandomSigns", "ImageDCT", "make_offset"]
