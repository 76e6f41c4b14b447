"""A cycle matches a batch's unlinked records with one read of their match
keys, not one per record: on PostgreSQL each read is a round trip, and a
read per record made the initial sync of 10,000 contacts 12x slower than on
SQLite (docs/performance.md, issue 14). Real stores (SQLite and PostgreSQL)
and real sample apps over HTTP; the store is wrapped only to count calls."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from sync_support import write_pair

from syncd.config import load_config
from syncd.sampleapp import AuthMode, SampleApp
from syncd.state import StateStore, open_state
from syncd.sync import Cycles

LEFT_TOKEN, RIGHT_TOKEN = "left-token-0123", "right-token-4567"
ENV = {"LEFT_TOKEN": LEFT_TOKEN, "RIGHT_TOKEN": RIGHT_TOKEN}
N = 150  # one writer batch a side


class CountingStore:
    """A real store whose read calls are counted by method name."""

    READS = {"by_match_key", "by_match_keys", "linked", "snapshots"}

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if name not in self.READS:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return counted


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """A real store of each kind: a SQLite file, a PostgreSQL database of the test's own."""
    target = request.getfixturevalue("pg_url") if request.param == "postgres" else tmp_path / "state.db"
    with open_state(target) as opened:
        yield opened


@pytest.mark.anyio
async def test_an_initial_sync_matches_each_batch_with_one_read(
        sample_app: Callable[..., SampleApp], store: StateStore, tmp_path: Path) -> None:
    # The same N people on both sides (same seed), plus a few on one side only.
    left = sample_app(n=N, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1)
    right = sample_app(n=N, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=1)
    for i in range(3):
        left.store.create({"first_name": "Only", "last_name": f"Left{i}", "email": f"only.left.{i}@example.com"})
        right.store.create({"first_name": "Only", "last_name": f"Right{i}", "email": f"only.right.{i}@example.com"})
    write_pair(tmp_path / "config", left.url, right.url, """\
match: {left: email, right: email}
fields:
  - {left: email, right: email}
  - {left: first_name, right: first_name}
""")
    counting = CountingStore(store)
    cycles = Cycles(load_config(tmp_path / "config", environ=ENV), cast(StateStore, counting))
    try:
        summary = await cycles.run("pair", origin="once")
    finally:
        cycles.close()

    assert summary.created == {"left": 3, "right": 3}, summary
    assert store.link_count("pair") == N + 6
    left_by_email = {c["email"]: c["id"] for c in left.store.all()}
    for contact in right.store.all()[:N]:  # each person paired with their own self, not created twice
        linked = store.linked("pair", "right", [contact["id"]])
        assert linked == {contact["id"]: left_by_email[contact["email"]]}
    # One lookup of match keys per side's batch (the right side's batch holds
    # only its 3 unpaired records: the rest were paired from the left).
    assert counting.calls["by_match_key"] == 0, counting.calls
    assert counting.calls["by_match_keys"] == 2, counting.calls
