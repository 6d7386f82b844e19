"""Jacobian spectra: statistics (``stats``), structural rank (``structural``), theory and
the ReLU active fractions it needs (``theory``), the tangent kernel (``ntk``).

The Jacobians themselves are :mod:`refnet.jacobian`'s, re-exported here.

Examples
--------
>>> import numpy as np
>>> from refnet import Sequential
>>> from refnet.layers import Linear, ReLU
>>> from refnet.spectra import jacobian, singular_values, spectrum_stats
>>> net = Sequential([("fc1", Linear(8, 8)), ("act", ReLU()), ("fc2", Linear(8, 8))])
>>> params = net.init(np.random.default_rng(0))
>>> J = jacobian(net, params, np.random.default_rng(1).standard_normal((4, 8)))
>>> stats = spectrum_stats(singular_values(J), shape=(8, 8))
>>> stats.frac_zero.shape
(4,)
"""
from ..jacobian import (ParameterJacobian, dense_matrix, jacobian,
                        jacobian_operator, linearize, parameter_jacobian)
from .stats import (SVDS_MIN_RELATIVE, ExtremeSingularValues, SpectrumStats,
                    extreme_singular_values, pooled_nonzero, pooled_spectrum_stats,
                    singular_values, spectrum_stats, zero_tolerance)
from .ntk import (AFFINE_LAYERS, KernelSpectrum, TangentKernel, kernel_spectrum, parameter_jvp,
                  tangent_kernel)
from .structural import (StructuralRank, dense_support, identity_support, structural_rank,
                         structural_supports, support_pattern)
from .theory import (fuss_catalan_curve, fuss_catalan_edges, fuss_catalan_moments,
                     fuss_catalan_pdf, gaussian_product_moments, marchenko_pastur_cdf,
                     marchenko_pastur_edges, marchenko_pastur_finite_second_moment,
                     marchenko_pastur_moments, marchenko_pastur_pdf, orthogonal_relu_atoms,
                     orthogonal_relu_curve, orthogonal_relu_moments, relu_active_fractions,
                     sq_sv_density_to_log10)

__all__ = [
    "jacobian", "parameter_jacobian", "ParameterJacobian", "linearize",
    "jacobian_operator", "dense_matrix", "ExtremeSingularValues",
    "extreme_singular_values", "SVDS_MIN_RELATIVE",
    "singular_values", "zero_tolerance", "SpectrumStats", "spectrum_stats",
    "pooled_spectrum_stats", "pooled_nonzero",
    "StructuralRank", "structural_rank", "support_pattern", "dense_support", "identity_support",
    "structural_supports",
    "marchenko_pastur_edges", "marchenko_pastur_pdf", "marchenko_pastur_cdf",
    "marchenko_pastur_moments", "marchenko_pastur_finite_second_moment",
    "fuss_catalan_moments", "fuss_catalan_edges", "fuss_catalan_pdf", "fuss_catalan_curve",
    "gaussian_product_moments", "sq_sv_density_to_log10",
    "orthogonal_relu_moments", "orthogonal_relu_atoms", "orthogonal_relu_curve",
    "relu_active_fractions",
    "AFFINE_LAYERS", "parameter_jvp", "tangent_kernel", "TangentKernel", "KernelSpectrum",
    "kernel_spectrum",
]
