"""A guided tour of the DCTpS layer, written as a markdown document whose every step is checked.

``refnet tour`` (or :func:`write_tour`) writes ``TOUR.md`` and its PNG
figures: the DCT-II matrix, padding and truncation for a rectangular layer and
why the backward pass is an inverse DCT, every cotangent of ``DCTpSLinear``
derived and compared entry by entry with central differences, the convolution
as a DCT of every patch, and the Jacobian spectra of a DCTpS and a sparse
network at 0.1% density with the structural explanation.

Each section is a module (:mod:`~refnet.cli.tour.dct_basis`,
:mod:`~refnet.cli.tour.truncation`, :mod:`~refnet.cli.tour.cotangents`,
:mod:`~refnet.cli.tour.convolution`, :mod:`~refnet.cli.tour.spectrum`) that writes
prose, code cells and checks into a :class:`~refnet.cli.tour.notebook.Notebook`:
the cells run as they are shown, and every check records the numbers it
compared and PASS or FAIL.  :func:`write_tour` returns the list of checks, so
a test (or a script) can require that all of them passed.
"""
from refnet.cli.tour.build import SECTIONS, TOUR_NAME, TourResult, TourSettings, write_tour
from refnet.cli.tour.notebook import EXACT_TOL, FD_TOL, Check, Notebook

__all__ = ["write_tour", "TourSettings", "TourResult", "SECTIONS", "TOUR_NAME", "Check",
           "Notebook", "EXACT_TOL", "FD_TOL"]
