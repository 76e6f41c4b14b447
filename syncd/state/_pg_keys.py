"""PostgreSQL lookups of many records, each by its unique key, pipelined.

An initial sync grows the tables from nothing faster than autovacuum
analyses them, and a statement that takes its records as an array
(``record_id = ANY(%s)``, a join with ``unnest``) is planned from those
lagging statistics: it read every row of the side (an initial sync
quadratic in its size; tests/state/test_statewrite3_pg_plans.py and
test_bulkstate_pg_plans.py count the rows read). A statement per key is
always an index lookup; psycopg sends them pipelined, in one round trip.
Imports no store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg


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
