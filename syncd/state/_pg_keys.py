"""PostgreSQL lookups of many records, each by its unique key.

An initial sync grows the tables from nothing faster than autovacuum
analyses them (and a new integration's rows are missing from a shared
table's statistics until the next analyse), and a statement that takes
its records as an array (``record_id = ANY(%s)``, a join with ``unnest``)
is planned from those lagging statistics: it read every row of the side
(an initial sync quadratic in its size; tests/state/
test_statewrite3_pg_plans.py and test_bulkstate_pg_plans.py count the
rows read). Two forms are always index lookups, whatever the statistics:

- a read: :func:`lateral`, the keys unnested and each looked up by a
  ``LATERAL`` subquery with ``LIMIT 1``, which PostgreSQL cannot flatten
  into a join, so it runs once per key (one statement; 3-4x faster than a
  statement per key). Each run is by the unique index whatever the
  statistics: an index path with ``=`` on every column of a unique index
  is costed at one row, never more than a scan of a prefix (this needs a
  unique key; for match keys, which are not, the same form read the whole
  side once per key where the statistics lagged);
- a write: a statement per key, pipelined by psycopg in one round trip
  (:func:`for_each_key`).

Imports no store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg


def lateral(columns: str, table: str, where: str, key: str) -> str:
    """A read of *columns* of *table*'s row for each key of an array: the
    array is the first parameter, *where*'s parameters follow; *key* is the
    unique key's last column (``record_id``), matched by each array item."""
    return (f"SELECT r.* FROM unnest(%s::text[]) AS k(id) CROSS JOIN LATERAL"
            f" (SELECT {columns} FROM {table} WHERE {where} AND {key} = k.id LIMIT 1) AS r")


def each_key(conn: psycopg.Connection[Any], sql: str, params: Sequence[Sequence[Any]]) -> list[Any]:
    """*sql* (a statement by unique key) once for each of *params*, pipelined;
    the rows they return, in the order of *params*."""
    rows: list[Any] = []
    if not params:
        return rows
    with conn.cursor() as cur:
        cur.executemany(sql, params, returning=True)
        while True:
            rows.extend(cur.fetchall())
            if not cur.nextset():
                break
    return rows


def for_each_key(conn: psycopg.Connection[Any], sql: str, params: Sequence[Sequence[Any]]) -> None:
    """*sql* (a write by unique key) once for each of *params*, pipelined."""
    if params:
        with conn.cursor() as cur:
            cur.executemany(sql, params)
