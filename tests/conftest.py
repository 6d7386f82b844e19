"""Test configuration: hypothesis profiles.

``ci`` (the default) is derandomized, so the README's test command and CI see
the same examples every run; ``dev`` explores new ones:
``REFNET_HYPOTHESIS_PROFILE=dev pytest``.
"""
import os
import sys

from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))   # so tests can import one another's helpers

settings.register_profile("ci", derandomize=True, max_examples=6, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("REFNET_HYPOTHESIS_PROFILE", "ci"))
