"""Pure array operators with exact adjoints."""
from .im2col import col2im, conv_output_size, im2col

__all__ = ["col2im", "conv_output_size", "im2col"]
