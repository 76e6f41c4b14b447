"""Versioned schema migrations of the SQLite state store.

``PRAGMA user_version`` is the number of steps applied. Each step is a list
of SQL statements applied in one ``BEGIN IMMEDIATE`` transaction together
with the new ``user_version``, so a crash leaves either the old schema or
the new one. Steps are only ever appended: a released step never changes.
``PRAGMA application_id`` marks the file as a syncd state store, so syncd
refuses to add its tables to some other application's database.

The schema (version 1). Every table is keyed by integration name; the
``integrations`` row is the parent of every other row of that integration
(foreign keys, ``ON DELETE CASCADE``). Times are ISO-8601 UTC text of fixed
width (``2024-05-01T12:00:00.000000+00:00``), so text order is time order.
JSON columns are text written by orjson. Queries that need a secondary
index name it (``INDEXED BY``): with no ``ANALYZE`` statistics SQLite would
otherwise pick the primary key and scan a whole side.

    integrations  name → disabled_since (version 3)      integrations with state
    side_states   (integration, side) → cursor, last_full_read, generation,
                  fields JSON (version 2), sync_token (version 8)
    snapshots     (integration, side, record_id) → seen JSON, synced JSON,
                  match_key, hash, updated_at, deleted, dirty, generation
                  indexes: match key (partial: match_key IS NOT NULL),
                  dirty (partial: dirty = 1; keyset order by record_id),
                  unseen (integration, side, generation, record_id;
                  partial: deleted = 0; dropped in version 10: no index
                  holds the generation)
    links         (integration, left_id) → right_id; unique index links_right
                  (integration, right_id): a record has at most one partner
    intents       id (never reused) → side, kind, source_id, target_id,
                  match_key, fields JSON, created_at, source_seen JSON
                  (version 9)
    errors        id → side, record_id, operation, message, status,
                  attempts, origin, at, resolved_at, next_retry_at
                  (version 7); UNIQUE (integration, side, record_id,
                  operation) among unresolved ones
    conflicts     id → left_id, right_id, field, left_value JSON,
                  right_value JSON, winner, rule, at
    cycles        id → origin, started_at, ended_at, outcome, counts JSON,
                  error (version 4); the newest 100 per integration
    bulk_runs     integration → state, done, total, failed, started_at,
                  updated_at, ended_at, message (version 5; the current or last bulk sync)
    api_usage     account → connector, window_start, window_end (Unix
                  seconds, REAL), used, api_used, api_limit (version 6):
                  keyed by connector account, not by integration (the
                  accounts' budgets are shared), and not cascaded
"""

from __future__ import annotations

import sqlite3

from syncd.state._errors import StateVersionError

APPLICATION_ID = 0x73796E63  # "sync"

_SIDE = "side TEXT NOT NULL CHECK (side IN ('left', 'right'))"
_PARENT = "integration TEXT NOT NULL REFERENCES integrations (name) ON DELETE CASCADE"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the initial schema.
    (
        "CREATE TABLE integrations (name TEXT NOT NULL PRIMARY KEY) WITHOUT ROWID",
        f"""CREATE TABLE side_states (
            {_PARENT},
            {_SIDE},
            cursor TEXT,
            last_full_read TEXT,
            generation INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (integration, side)
        ) WITHOUT ROWID""",
        f"""CREATE TABLE snapshots (
            {_PARENT},
            {_SIDE},
            record_id TEXT NOT NULL,
            seen TEXT NOT NULL,
            synced TEXT,
            match_key TEXT,
            hash TEXT NOT NULL DEFAULT '',
            updated_at TEXT,
            deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
            dirty INTEGER NOT NULL DEFAULT 0 CHECK (dirty IN (0, 1)),
            generation INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (integration, side, record_id)
        )""",
        "CREATE INDEX snapshots_match_key ON snapshots (integration, side, match_key)"
        " WHERE match_key IS NOT NULL",
        "CREATE INDEX snapshots_dirty ON snapshots (integration, side, record_id) WHERE dirty = 1",
        "CREATE INDEX snapshots_unseen ON snapshots (integration, side, generation, record_id)"
        " WHERE deleted = 0",
        f"""CREATE TABLE links (
            {_PARENT},
            left_id TEXT NOT NULL,
            right_id TEXT NOT NULL,
            PRIMARY KEY (integration, left_id)
        ) WITHOUT ROWID""",
        "CREATE UNIQUE INDEX links_right ON links (integration, right_id)",
        f"""CREATE TABLE intents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            {_PARENT},
            {_SIDE},
            kind TEXT NOT NULL CHECK (kind IN ('create', 'update', 'delete')),
            source_id TEXT NOT NULL,
            target_id TEXT,
            match_key TEXT,
            fields TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX intents_integration ON intents (integration, id)",
        f"""CREATE TABLE errors (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            {_PARENT},
            {_SIDE},
            record_id TEXT NOT NULL,
            operation TEXT NOT NULL,
            message TEXT NOT NULL,
            status INTEGER,
            attempts INTEGER NOT NULL DEFAULT 1,
            origin TEXT NOT NULL,
            at TEXT NOT NULL,
            resolved_at TEXT
        )""",
        "CREATE UNIQUE INDEX errors_unresolved ON errors (integration, side, record_id, operation)"
        " WHERE resolved_at IS NULL",
        "CREATE INDEX errors_at ON errors (integration, at)",
        f"""CREATE TABLE conflicts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            {_PARENT},
            left_id TEXT NOT NULL,
            right_id TEXT NOT NULL,
            field TEXT NOT NULL,
            left_value TEXT NOT NULL,
            right_value TEXT NOT NULL,
            winner TEXT NOT NULL CHECK (winner IN ('left', 'right')),
            rule TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        "CREATE INDEX conflicts_at ON conflicts (integration, at)",
    ),
    # 2: the compared fields each side's snapshots were read with (a JSON
    # list), so that a mapping added or removed is noticed even after a
    # crash left some snapshots read with the new fields and some with the old.
    (
        "ALTER TABLE side_states ADD COLUMN fields TEXT",
    ),
    # 3: when the integration was disabled (enabled: false), so that the
    # daemon knows, even after a restart, that its next cycle is a catch-up.
    (
        "ALTER TABLE integrations ADD COLUMN disabled_since TEXT",
    ),
    # 4: the outcome of each cycle, so that `syncd status` shows the last
    # one without a daemon, and a daemon's status after a restart.
    (
        f"""CREATE TABLE cycles (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            {_PARENT},
            origin TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'errors', 'aborted', 'stopped', 'failed')),
            counts TEXT NOT NULL,
            error TEXT
        )""",
        "CREATE INDEX cycles_integration ON cycles (integration, id)",
    ),
    # 5: the current or last bulk sync of each integration and its
    # progress, so that `syncd bulk NAME status` works without a daemon and
    # a daemon that died mid-bulk says so at its next start.
    (
        f"""CREATE TABLE bulk_runs (
            {_PARENT} PRIMARY KEY,
            state TEXT NOT NULL CHECK (state IN ('running', 'done', 'stopped', 'failed')),
            done INTEGER NOT NULL,
            total INTEGER NOT NULL,
            failed INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            ended_at TEXT,
            message TEXT
        ) WITHOUT ROWID""",
    ),
    # 6: each connector account's use of its API quota window (the API
    # budget), so that a restart does not forget the day's count, and
    # `syncd status` without a daemon can show it. The account key holds a
    # digest of the credentials, never the credentials.
    (
        """CREATE TABLE api_usage (
            account TEXT PRIMARY KEY,
            connector TEXT NOT NULL,
            window_start REAL NOT NULL,
            window_end REAL NOT NULL,
            used INTEGER NOT NULL,
            api_used INTEGER,
            api_limit INTEGER
        )""",
    ),
    # 7: when a failed record is due for its next automatic retry (NULL:
    # its retries are used up, it waits for an operator). Errors already
    # open were retried by every cycle: they are due at once.
    (
        "ALTER TABLE errors ADD COLUMN next_retry_at TEXT",
        "UPDATE errors SET next_retry_at = at WHERE resolved_at IS NULL",
    ),
    # 8: the API's sync token of each side (an opaque cursor for changes
    # reads, see SideState.sync_token); NULL: none yet, the next read is full.
    (
        "ALTER TABLE side_states ADD COLUMN sync_token TEXT",
    ),
    # 9: what a create's source held when the create was planned (JSON; see
    # Intent.source_seen). An intent recorded before has none: NULL.
    (
        "ALTER TABLE intents ADD COLUMN source_seen TEXT",
    ),
    # 10: a full read marks each record it saw (mark_seen: the generation). The index on the
    # generation moved an entry for each mark, and took one for each snapshot put: random
    # pages when the ids come out of order, a page written to the WAL for nearly each. With
    # no index holding the generation a mark rewrites the row alone, and `unseen` reads
    # the side by the primary key (as PostgreSQL's step 5). Its pages go to the free list.
    (
        "DROP INDEX snapshots_unseen",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def too_new(path: str, version: int) -> StateVersionError:
    return StateVersionError(
        f"state store {path} was written by a newer syncd (schema {version}, this syncd knows "
        f"{SCHEMA_VERSION}): upgrade syncd, or move the file aside and run `syncd reset INTEGRATION`",
        path=path,
    )


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: str, migrations: tuple[tuple[str, ...], ...] = MIGRATIONS) -> int:
    """Apply the steps not yet applied, each in its own transaction; returns the version.

    Takes the write lock only when a step is due, so opening an up-to-date
    store never waits for another process. Another syncd may migrate the
    same file meanwhile: the version is read again under the lock.
    """
    version = _version(conn)
    while version < len(migrations):
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = _version(conn)
            if version < len(migrations):
                for statement in migrations[version]:
                    conn.execute(statement)
                if version == 0:
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    if version > len(migrations):
        raise too_new(path, version)
    return version
