"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from syncd.sampleapp import SampleApp


@pytest.fixture
def sample_app() -> Iterator[Callable[..., SampleApp]]:
    """Start fake contacts apps: ``app = sample_app(n=50, auth=AuthMode.BEARER)``.

    Takes ``SampleApp``'s arguments; every app started is stopped (its
    threads joined, its sockets closed) when the test ends, and the test fails
    if the app itself raised (it answers 500 then, which a client may retry).
    """
    started: list[SampleApp] = []

    def start(**kwargs: Any) -> SampleApp:
        app = SampleApp(**kwargs).start()
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()
    for app in started:  # an exception inside the fake app is a bug, even if answered 500
        assert not app.server_errors, app.server_errors
