"""The daemon's status of a bulk sync when the state store cannot be read (a database outage)."""

from __future__ import annotations

import anyio

from syncd.daemon._bulk import Bulks
from syncd.state import open_state


def test_a_store_that_fails_leaves_the_bulk_part_of_status_empty_rather_than_failing_status(pg_url: str) -> None:
    store = open_state(pg_url)
    bulks = Bulks(store, lambda name: anyio.Lock())
    assert bulks.status("pair") is None  # none ran
    store.close()  # every read fails now with a StateError, as in an outage
    assert bulks.status("pair") is None
