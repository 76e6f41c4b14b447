"""A read-only reset (``syncd reset --read-only``) pairs exactly as before it
was made fast, with a batch's writes in one call each.

It takes both sides as they are: a pair is linked and both its snapshots
marked in step in one ``link_many`` and one ``put_snapshots`` a batch (one
round trip each on PostgreSQL; a call per pair made the reset of 1,000,000
contacts take hours), and a pair found by its link or match key is no
longer planned (its plan decided nothing in a read-only cycle). A record
without a partner is still planned: its plan's create decides whether a
second record of the same key waits (stays dirty). Real stores (SQLite and
PostgreSQL), real sample apps over HTTP; the store is wrapped only to count
the writer's calls."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

import pytest
from sync_support import write_pair

from syncd.config import load_config
from syncd.sampleapp import AuthMode, SampleApp
from syncd.state import Snapshot, StateStore
from syncd.sync import Cycles

LEFT_TOKEN, RIGHT_TOKEN = "left-token-0123", "right-token-4567"
ENV = {"LEFT_TOKEN": LEFT_TOKEN, "RIGHT_TOKEN": RIGHT_TOKEN}
PAIRS = 40  # people on both sides, each their own last name


class CountingTransactions:
    """A real store whose transactions count the calls the writer makes:
    links, and puts of snapshots in step (a read puts them dirty)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def transaction(self, integration: str) -> Any:
        return _Counted(self.store.transaction(integration), self.calls)


class _Counted:
    def __init__(self, inner: Any, calls: Counter[str]) -> None:
        self.inner, self.calls, self.t = inner, calls, None

    def __enter__(self) -> Any:
        t = self.inner.__enter__()
        calls = self.calls

        class Proxy:
            def __getattr__(self, name: str) -> Any:
                return getattr(t, name)

            def link(self, left_id: str, right_id: str) -> None:
                calls["link"] += 1
                t.link(left_id, right_id)

            def link_many(self, pairs: list[tuple[str, str]]) -> None:
                calls["link_many"] += 1
                t.link_many(pairs)

            def put_snapshots(self, snapshots: Iterable[Snapshot], *, new: bool = False) -> None:
                snapshots = list(snapshots)
                if snapshots and not any(s.dirty for s in snapshots):
                    calls["put_in_step"] += 1
                t.put_snapshots(snapshots, new=new)

        return Proxy()

    def __exit__(self, *exc: Any) -> Any:
        return self.inner.__exit__(*exc)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(store_of_each_kind: StateStore) -> StateStore:
    return store_of_each_kind


def person(app: SampleApp, first: str, last: str | None, email: str) -> str:
    return str(app.store.create({"first_name": first, "last_name": last, "email": email})["id"])


@pytest.mark.anyio
async def test_a_read_only_reset_pairs_as_it_did_in_one_write_call_a_batch(
        sample_app: Callable[..., SampleApp], store: StateStore, tmp_path: Path) -> None:
    left = sample_app(n=0, auth=AuthMode.BEARER, token=LEFT_TOKEN)
    right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN)
    # Matched by last name, so that one side can hold several records of a key.
    pairs = [(person(left, f"L{i}", f"Person{i:03d}", f"l{i}@example.com"),
              person(right, f"R{i}", f"Person{i:03d}", f"r{i}@example.com")) for i in range(PAIRS)]
    smith_left = [person(left, "Ann", "Smith", f"smith.l{i}@example.com") for i in range(3)]
    smith_right = [person(right, "Ann", "Smith", f"smith.r{i}@example.com") for i in range(2)]
    jones_left = [person(left, "Bo", "Jones", f"jones.l{i}@example.com") for i in range(2)]
    brown_right = [person(right, "Cy", "Brown", f"brown.r{i}@example.com") for i in range(2)]
    nameless = person(left, "Di", None, "nameless@example.com")
    write_pair(tmp_path / "config", left.url, right.url, """\
match: {left: last_name, right: last_name}
create: both
fields:
  - {left: email, right: email}
  - {left: first_name, right: first_name}
  - {left: last_name, right: last_name}
""")
    before = {side: app.store.all() for side, app in (("left", left), ("right", right))}
    counting = CountingTransactions(store)
    cycles = Cycles(load_config(tmp_path / "config", environ=ENV), cast(StateStore, counting))
    try:
        cycles.forget("pair")
        summary = await cycles.run("pair", origin="reset", write=False, full=True)
    finally:
        cycles.close()

    assert {side: app.store.all() for side, app in (("left", left), ("right", right))} == before  # wrote nothing
    # The pairs by key in record id order: the first Smiths of each side
    # together; the third left Smith, a Jones, a Brown: unpaired.
    expected = dict(pairs) | dict(zip(smith_left, smith_right))
    assert dict(item for batch in store.links("pair") for item in batch) == expected
    # A second record of a key planned for a create on the same side waits,
    # dirty, as it did; everything else is in step.
    dirty = {(s.side, s.record_id) for side in ("left", "right")
             for batch in store.dirty("pair", side) for s in batch}
    assert dirty == {("left", jones_left[1]), ("right", brown_right[1])}
    assert summary.no_match_key == 1 and nameless not in expected
    assert summary.unchanged == PAIRS + 2 + 1 + 1 + 1, summary  # pairs, 2 Smiths, left Smith, Jones, Brown
    assert not summary.errors and summary.created == {"left": 0, "right": 0}
    # One call a batch for the links and one for the snapshots in step (and
    # one for the records without a match key), not one per pair.
    assert counting.calls["link"] == 0, counting.calls
    assert counting.calls["link_many"] == 2, counting.calls  # a batch a side
    assert counting.calls["put_in_step"] == 2, counting.calls
