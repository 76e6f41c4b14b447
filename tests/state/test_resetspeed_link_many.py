"""Transaction.link_many, run against both stores: it must leave the links
that calling link() pair by pair leaves (the writer links a read-only
reset's batch with it; on PostgreSQL the batch is two statements, and the
pairs a later pair replaces are worked out before them)."""

from __future__ import annotations

import random

import pytest

from syncd.state import StateStore


@pytest.fixture
def store(store_of_each_kind: StateStore) -> StateStore:
    return store_of_each_kind


def links(store: StateStore, integration: str) -> set[tuple[str, str]]:
    return {pair for batch in store.links(integration) for pair in batch}


def test_it_links_as_link_pair_by_pair_does(store: StateStore) -> None:
    with store.transaction("crm") as t:
        t.link("a", "9")
        t.link_many([("a", "1"), ("b", "2"), ("a", "3"), ("c", "2"), ("d", "4"), ("d", "4")])
    assert links(store, "crm") == {("a", "3"), ("c", "2"), ("d", "4")}  # later pairs replace earlier ones
    rng = random.Random(15)
    for round_ in range(20):
        # Ids from small pools: pairs of a batch often share a record with
        # each other and with the links already there.
        existing = [(f"l{rng.randrange(12)}", f"r{rng.randrange(12)}") for _ in range(8)]
        batch = [(f"l{rng.randrange(12)}", f"r{rng.randrange(12)}") for _ in range(rng.randrange(0, 15))]
        for name in ("one-by-one", "many"):
            with store.transaction(name) as t:
                t.reset()
            with store.transaction(name) as t:
                for left, right in existing:
                    t.link(left, right)
        with store.transaction("one-by-one") as t:
            for left, right in batch:
                t.link(left, right)
        with store.transaction("many") as t:
            t.link_many(batch)
        assert links(store, "many") == links(store, "one-by-one"), (round_, existing, batch)


def test_it_touches_only_its_integration(store: StateStore) -> None:
    with store.transaction("other") as t:
        t.link("a", "1")
    with store.transaction("crm") as t:
        t.link_many([("a", "1"), ("b", "2")])
    assert links(store, "other") == {("a", "1")}
    assert links(store, "crm") == {("a", "1"), ("b", "2")}
