"""Fixtures for the vendor spec tests: the fake HubSpot, started and stopped (the fake Mailchimp is in
tests/contracts, with Mailchimp's description judging it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_hubspot import FakeHubSpot
from fakes import FakeApi


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _starter(cls: type[FakeApi]) -> Iterator[Callable[..., Any]]:
    started: list[FakeApi] = []

    def start(**kwargs: Any) -> Any:
        fake = cls(**kwargs).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()
    for fake in started:  # an exception inside a fake is a bug in the test, even if answered 500
        assert not fake.server_errors, fake.server_errors[0]


@pytest.fixture
def hubspot_app() -> Iterator[Callable[..., FakeHubSpot]]:
    """``hubspot_app(contacts=250)``: a running fake HubSpot, stopped after the test."""
    yield from _starter(FakeHubSpot)
