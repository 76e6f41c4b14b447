"""The soak suites: syncd broken on purpose, many times, invariants checked after.

Every test here is marked ``soak`` (``-m soak`` runs only them) and runs by
default at a small size, so the README's test command keeps them; ``--soak``
runs them at the sizes issue 15 names (10,000 contacts, 50 kills, ...).
A test asks for its size through the ``soak`` fixture::

    def test_faults(soak):
        contacts = soak.size(small=500, full=10_000)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.soak)


@dataclass(frozen=True, slots=True)
class Soak:
    full: bool  # --soak was given

    def size(self, small: int, full: int) -> int:
        """``full`` under ``--soak``, else ``small``."""
        return full if self.full else small


@pytest.fixture
def soak(request: pytest.FixtureRequest) -> Soak:
    return Soak(full=bool(request.config.getoption("--soak")))


def pytest_configure(config: pytest.Config) -> None:
    # The property suites read the flag when their modules are imported (a
    # Hypothesis example count is fixed by the decorator), after this runs.
    from soak.props_support import set_full

    set_full(bool(config.getoption("--soak")))
