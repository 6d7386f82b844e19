"""The examples in refnet.spectra's docstrings run and print what they say."""
import doctest
import importlib

import pytest

MODULES = ["refnet.spectra", "refnet.jacobian",
           "refnet.spectra.stats", "refnet.spectra.structural", "refnet.spectra.theory",
           "refnet.cli.spectrum.study"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
