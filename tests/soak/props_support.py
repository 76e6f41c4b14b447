"""Hypothesis settings for the property suites (``test_soak_prop_*``).

Each property names its example count for the default run; ``--soak``
multiplies it by :data:`FULL_FACTOR`.  Seeds stay random in both runs: a
failure prints the shrunk example and the ``@reproduce_failure`` line that
replays it, which is Hypothesis's own record of the seed.  No deadline:
several properties touch the file system, and a shared machine makes any
per-example deadline flaky.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

__all__ = ["FULL_FACTOR", "examples", "set_full"]

FULL_FACTOR = 20
_full = False  # set by tests/soak/conftest.py's pytest_configure from --soak


def set_full(full: bool) -> None:
    global _full
    _full = full


def examples(small: int) -> settings:
    """``small`` examples by default, ``FULL_FACTOR`` times as many under ``--soak``."""
    return settings(
        max_examples=small * FULL_FACTOR if _full else small,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture],
        print_blob=True,
    )
