"""PostgreSQL: mark_seen (and the other lookups of a list of records on a
hot path) read only the rows they change, however large the tables grew
since their statistics were last taken: `= ANY(array)` was planned from
those statistics and, while they lagged behind a growing table (an initial
sync grows it faster than autovacuum analyses it), read every snapshot of
the side (see test_bulkstate_pg_plans.py for the bulk writes)."""

from __future__ import annotations

from syncd.state import Intent, RecordErrorRow, Snapshot, open_state

from tests.state.test_bulkstate_pg_plans import rows_read

N = 3000


def _grown(store: object, n: int = N) -> None:
    with store.transaction("crm") as t:  # type: ignore[attr-defined]
        t.put_snapshots([Snapshot("left", f"L{i:05}", {"e": i}, None, f"{i}@x", f"h{i}", generation=1)
                         for i in range(n)])


def test_mark_seen_reads_only_its_rows_of_a_large_table(pg_url: str) -> None:
    with open_state(pg_url) as store:
        _grown(store)
        for batch in range(3):  # several batches: a prepared statement's generic plan too
            ids = [f"L{i:05}" for i in range(batch * 100, batch * 100 + 100)]
            with store.transaction("crm") as t:
                before = rows_read(t, "snapshots")
                t.mark_seen("left", ids, 2)
                assert rows_read(t, "snapshots") - before < 1000, "mark_seen read every snapshot"
        unseen = [s.record_id for s in store.unseen("crm", "left", 2)]
        assert len(unseen) == N - 300 and unseen[0] == "L00300"
        with store.transaction("crm") as t:  # ids given twice, and an id with no snapshot: no error
            t.mark_seen("left", ["L00300", "L00300", "nobody"], 2)
        assert [s.record_id for s in store.unseen("crm", "left", 2)][:1] == ["L00301"]


def test_resolve_intents_and_retry_due_read_only_their_rows(pg_url: str) -> None:
    with open_state(pg_url) as store:
        with store.transaction("crm") as t:
            ids = t.add_intents([Intent("right", "create", f"L{i:05}", {"e": i}, f"{i}@x") for i in range(N)])
            for i in range(N):
                t.add_error(RecordErrorRow("right", f"L{i:05}", "create", "boom", next_retry_at=None))
        for batch in range(3):
            part = ids[batch * 100: batch * 100 + 100]
            with store.transaction("crm") as t:
                intents_before, errors_before = rows_read(t, "intents"), rows_read(t, "errors")
                t.resolve_intents(part)
                t.retry_due("right", [f"L{i:05}" for i in range(batch * 100, batch * 100 + 100)])
                assert rows_read(t, "intents") - intents_before < 1000, "resolve_intents read every intent"
                assert rows_read(t, "errors") - errors_before < 1000, "retry_due read every error"
        assert len(store.open_intents("crm")) == N - 300
        due = {e.record_id for e in store.errors("crm", limit=N) if e.next_retry_at is not None}
        assert due == {f"L{i:05}" for i in range(300)}


def test_the_reads_by_record_read_only_their_rows(pg_url: str) -> None:
    """by_match_keys is not here: match keys are not unique (see PostgresStore.by_match_keys)."""
    with open_state(pg_url) as store:
        _grown(store)
        with store.transaction("crm") as t:
            t.link_many([(f"L{i:05}", f"R{i:05}") for i in range(N)])
        ids = [f"L{i:05}" for i in range(100, 200)]
        with store.transaction("crm") as t:
            reads = {}
            for name, call in (
                ("snapshots", lambda: store.snapshots("crm", "left", ids)),
                ("digests", lambda: store.digests("crm", "left", ids)),
            ):
                before = rows_read(t, "snapshots")
                found = call()
                assert len(found) == 100, name
                reads[name] = rows_read(t, "snapshots") - before
            for side, some in (("left", ids), ("right", [f"R{i:05}" for i in range(100)])):
                before = rows_read(t, "links")
                assert len(store.linked("crm", side, some)) == 100
                reads[f"linked {side}"] = rows_read(t, "links") - before
        assert all(n < 1000 for n in reads.values()), reads


def test_the_reads_by_record_of_a_new_integration_in_an_analysed_table_read_only_their_rows(pg_url: str) -> None:
    """A shared database: the tables' statistics know the integrations that were there when they
    were last analysed, and a new one's rows look like none at all; `= ANY` then read all of them
    for every batch (its initial sync quadratic until autovacuum analysed the table again)."""
    with open_state(pg_url) as store:
        _grown(store)
        with store.transaction("crm") as t:
            t.conn.execute("ANALYZE snapshots")
            t.conn.execute("ANALYZE links")
        with store.transaction("new") as t:
            t.put_snapshots([Snapshot("left", f"L{i:05}", {"e": i}, None, f"{i}@x", f"h{i}", generation=1)
                             for i in range(N)])
            t.link_many([(f"L{i:05}", f"R{i:05}") for i in range(N)])
        reads = {}
        for batch in range(3):  # several batches: a prepared statement's generic plan too
            ids = [f"L{i:05}" for i in range(batch * 500, batch * 500 + 500)]
            with store.transaction("new") as t:
                for name, table, call in (
                    ("snapshots", "snapshots", lambda: store.snapshots("new", "left", ids)),
                    ("digests", "snapshots", lambda: store.digests("new", "left", ids)),
                    ("linked", "links", lambda: store.linked("new", "left", ids)),
                ):
                    before = rows_read(t, table)
                    assert len(call()) == 500, name
                    reads[name] = max(reads.get(name, 0), rows_read(t, table) - before)
        assert all(n <= 500 for n in reads.values()), reads


def test_by_match_keys_reads_only_its_rows_of_a_side_a_sync_has_grown(pg_url: str) -> None:
    """Match keys are not unique, so by_match_keys is one `= ANY`, planned from the statistics: a
    table grown from nothing and never analysed looked empty, and each batch read the whole side
    (60,000 rows for 100 keys). The store analyses a table its own commits have grown (at 1,000
    rows, then each time they doubled), not waiting for autovacuum."""
    with open_state(pg_url) as store:
        for page in range(12):
            with store.transaction("crm") as t:
                t.put_snapshots([Snapshot("left", f"L{i:06}", {"e": i}, None, f"{i}@x", f"h{i}", generation=1)
                                 for i in range(page * 5000, page * 5000 + 5000)])
        reads = []
        for batch in range(3):
            keys = [f"{i}@x" for i in range(batch * 100, batch * 100 + 100)]
            with store.transaction("crm") as t:
                before = rows_read(t, "snapshots")
                assert len(store.by_match_keys("crm", "left", keys)) == 100
                reads.append(rows_read(t, "snapshots") - before)
        assert max(reads) < 1000, reads


def test_the_analyse_a_growth_asks_for_waits_for_no_one_and_never_fails_a_commit(pg_url: str) -> None:
    import psycopg

    def analysed(store: object) -> bool:
        with store.transaction("crm") as t:  # type: ignore[attr-defined]
            row = t.conn.execute("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'snapshots'"
                                 ).fetchone()
        return row is not None and row[0] is not None

    with open_state(pg_url) as store, psycopg.connect(pg_url, autocommit=True) as other:
        other.execute("BEGIN")
        other.execute("LOCK TABLE snapshots IN SHARE UPDATE EXCLUSIVE MODE")  # as a VACUUM would
        _grown(store, 1500)  # committed, though the table cannot be analysed now
        assert len(store.snapshots("crm", "left", ["L00000", "L01499"])) == 2
        other.execute("ROLLBACK")
        assert not analysed(store)
        with store.transaction("crm") as t:  # the next growth tries again
            t.put_snapshots([Snapshot("left", "L09999", {"e": 1}, None, "x@x", "h", generation=1)])
        assert analysed(store)


def test_a_full_reads_marks_are_hot_updates_no_index_written(pg_url: str) -> None:
    """mark_seen changes only the generation, which no index holds, and the pages keep
    room for the new versions (_pg_migrations' step 5): PostgreSQL updates the rows in
    their page (HOT) and writes none of the four indexes. Before, every mark wrote them."""
    with open_state(pg_url) as store:
        _grown(store)
        with store.transaction("crm") as t:  # a fresh table's pages have the room
            t.mark_seen("left", [f"L{i:05}" for i in range(0, N, 3)], 2)
            updated, hot = t.conn.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables"
                                          " WHERE relname = 'snapshots'").fetchone()
        assert updated == N // 3 and hot >= 0.9 * updated, (updated, hot)
        assert [s.record_id for s in store.unseen("crm", "left", 2)][:2] == ["L00001", "L00002"]
