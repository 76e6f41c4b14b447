"""Fixtures for the vendor spec tests: the fake HubSpot and Mailchimp, started and stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_hubspot import FakeHubSpot
from fake_mailchimp import FakeMailchimp
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


@pytest.fixture
def mailchimp_app() -> Iterator[Callable[..., FakeMailchimp]]:
    """``mailchimp_app(members=1234)``: a running fake Mailchimp, stopped after the test."""
    yield from _starter(FakeMailchimp)
