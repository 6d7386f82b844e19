"""Jacobian spectra of any refnet network: exact Jacobians (more modules to come)."""
from .jacobian import ParameterJacobian, jacobian, linearize, parameter_jacobian

__all__ = ["jacobian", "parameter_jacobian", "ParameterJacobian", "linearize"]
