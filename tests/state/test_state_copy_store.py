"""``copy_state`` (``syncd/state/_copy.py``) against a real PostgreSQL
database: a failure part-way through leaves the target empty (one
transaction), and the id counters come along, so an id the source handed
out (even one whose row is gone) is never handed out again."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from syncd.state import AccountUsage, Intent, StateError, copy_state, open_state, open_store


def _source(path: Path) -> None:
    with open_store(path) as store:
        with store.transaction("a") as tx:
            tx.link("l1", "r1")
            tx.add_intent(Intent(side="right", kind="create", source_id="l2", fields={}))  # id 1, open
            done = tx.add_intent(Intent(side="right", kind="create", source_id="l1", fields={"email": "x@y"}))
            tx.resolve_intent(done)  # id 2 is gone: the largest id is 1, the counter at 2
        store.put_api_usage(AccountUsage("acct", "sampleapp", 0.0, 60.0, 3))


def test_a_failure_on_the_last_table_leaves_the_target_empty_then_a_copy_keeps_ids_and_counters(
        pg_cluster, tmp_path: Path) -> None:
    _source(tmp_path / "s.db")
    url = pg_cluster.new_database()
    with psycopg.connect(url, autocommit=True) as conn:  # api_usage, copied last, refuses every row
        conn.execute("CREATE FUNCTION no_rows() RETURNS trigger LANGUAGE plpgsql AS"
                     " $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$")
        conn.execute("CREATE TRIGGER no_rows BEFORE INSERT ON api_usage FOR EACH ROW EXECUTE FUNCTION no_rows()")
    with open_state(tmp_path / "s.db") as source, open_state(url) as target:
        with pytest.raises(StateError, match="copying the state store .nothing was written.*refused by the test"):
            copy_state(source, target, batch=1)
        assert target.integrations() == [] and target.link_count("a") == 0 and target.open_intents("a") == []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER no_rows ON api_usage")
    with open_state(tmp_path / "s.db") as source, open_state(url) as target:
        assert copy_state(source, target, batch=1)["intents"] == 1
        assert [(i.id, i.source_id) for i in target.open_intents("a")] == [(1, "l2")]
        assert target.api_usage() == source.api_usage()
        with target.transaction("a") as tx:
            assert tx.add_intent(Intent(side="left", kind="create", source_id="r9", fields={})) == 3

    # back into a new SQLite file: the counter comes along too
    with open_state(url) as source, open_state(tmp_path / "back.db") as target:
        copy_state(source, target)
        with target.transaction("a") as tx:
            assert tx.add_intent(Intent(side="left", kind="create", source_id="r10", fields={})) == 4
