"""The ``soak`` fixture and marker that every suite in tests/soak uses."""

from __future__ import annotations

import pytest


def test_small_by_default_full_under_flag(soak, request: pytest.FixtureRequest) -> None:
    flag = bool(request.config.getoption("--soak"))
    assert soak.size(small=5, full=50) == (50 if flag else 5)


def test_every_test_here_is_marked_soak(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("soak") is not None
