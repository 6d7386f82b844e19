"""The Examples in refnet's docstrings run and print what they show."""
import doctest
import importlib
import pkgutil

import pytest

import refnet

MODULES = sorted(info.name for info in pkgutil.walk_packages(refnet.__path__, prefix="refnet.")
                 if not info.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_examples_are_found():
    # guards the test above against silently running nothing
    attempted = sum(doctest.testmod(importlib.import_module(name)).attempted
                    for name in ["refnet.core.tree", "refnet.testing", "refnet.layers.pooling"])
    assert attempted >= 10
