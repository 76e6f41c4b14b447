"""PostgreSQL: the bulk forms read only the rows they change, however large
the tables grew since their statistics were last taken (an initial sync
grows them from nothing faster than autovacuum analyses them). A join with
the ids as arrays, or `= ANY(array)`, or a prepared `left_id = … OR
right_id = …`, was planned from those statistics and read every snapshot or
link of the integration: an initial sync quadratic in its size."""

from __future__ import annotations

from typing import Any

from syncd.state import Snapshot, open_state


def rows_read(t: Any, table: str) -> int:
    """Rows this transaction has read from *table* so far (its own statistics)."""
    row = t.conn.execute("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
                         " FROM pg_stat_xact_user_tables WHERE relname = %s", (table,)).fetchone()
    return int(row[0]) if row else 0


def test_link_many_and_mark_synced_read_only_their_rows_of_a_large_table(pg_url: str) -> None:
    n = 3000
    with open_state(pg_url) as store:
        with store.transaction("crm") as t:
            t.put_snapshots([Snapshot("left", f"L{i:05}", {"e": i}, None, f"{i}@x", f"h{i}", dirty=True)
                             for i in range(n)])
            t.link_many([(f"L{i:05}", f"R{i:05}") for i in range(n)])
        for batch in range(3):  # several batches: a prepared statement's generic plan too
            ids = range(batch * 100, batch * 100 + 100)
            with store.transaction("crm") as t:
                links_before, snaps_before = rows_read(t, "links"), rows_read(t, "snapshots")
                t.link_many([(f"L{i:05}", f"N{i:05}") for i in ids])
                t.mark_synced("left", [(f"L{i:05}", f"h{i}") for i in ids])
                assert rows_read(t, "links") - links_before < 1000, "link_many read every link"
                assert rows_read(t, "snapshots") - snaps_before < 1000, "mark_synced read every snapshot"
        assert store.linked("crm", "left", ["L00000", "L00299", "L00300"]) == {
            "L00000": "N00000", "L00299": "N00299", "L00300": "R00300"}
        assert [s.record_id for b in store.dirty("crm", "left") for s in b][:1] == ["L00300"]
