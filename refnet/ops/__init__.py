"""Pure array operators with exact adjoints; nothing here imports the rest of refnet."""
from . import fast
from .im2col import col2im, conv_output_shape, im2col
from .operator import FixedOperator
from .dct import TruncatedDCT, dct_matrix
from .csr import CSRSupport, nnz_from_density

__all__ = ["fast", "col2im", "conv_output_shape", "im2col", "FixedOperator", "TruncatedDCT",
           "dct_matrix", "CSRSupport", "nnz_from_density"]
