"""Fixtures for the contract tests: a fake vendor with the vendor's description attached.

The stateful fakes live in tests/connector_specs/ (the vendor spec tests use
them too); this directory adds the judge, tests/contracts/vendor_contract.py.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The shared fakes (fakes.py, fake_hubspot.py, …) are imported by module name, as there.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "connector_specs"))

from fakes import FakeApi  # noqa: E402
from vendor_contract import VendorContract  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def vendor_fake() -> Iterator[Callable[..., Any]]:
    """``vendor_fake(FakeHubSpot, "hubspot-crm-contacts-v3.yaml", contacts=3)``: a running fake
    whose every exchange is judged by that description; stopped after the test, which then
    fails on any violation or error inside the fake."""
    started: list[FakeApi] = []

    def start(cls: type[FakeApi], description: Any, **kwargs: Any) -> Any:
        fake = cls(**kwargs)
        if isinstance(description, str):
            fake.contract = VendorContract(description)
        elif description is not None:  # a judge of another kind (DiscoveryContract)
            fake.contract = description
        started.append(fake.start())
        return fake

    yield start
    for fake in started:
        fake.stop()
    for fake in started:
        assert not fake.server_errors, fake.server_errors[0]
        violations = getattr(fake.contract, "violations", None)
        if violations is not None:
            assert violations == [], "\n".join(violations)
