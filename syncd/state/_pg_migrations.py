"""Versioned schema migrations of the PostgreSQL state store.

The same tables as the SQLite store (drawn in :mod:`syncd.state._migrations`),
in PostgreSQL's own types: times are ``timestamptz`` (microseconds, as the
SQLite text keeps), flags ``boolean``, ids ``bigint`` identities (never
reused), the API usage window ``double precision``. JSON values stay text
written by orjson, as in SQLite: no query looks inside them, and text keeps
them byte for byte. Text keys are ``COLLATE "C"`` so that ``ORDER BY
record_id`` (and the keyset iteration built on it) is byte order, as in
SQLite, whatever the database's locale.

``syncd_schema_version`` (one row) is the number of steps applied. Each step
runs in one transaction under ``pg_advisory_xact_lock``: daemons started at
the same moment on an empty database queue there, and each reads the
version again under the lock, so the schema is created once. Steps are only
ever appended. The PostgreSQL steps are numbered on their own: step 1 is the
whole schema of SQLite's version 8; step 2 the lease tables of several
daemons sharing the store (PostgreSQL only).
"""

from __future__ import annotations

import psycopg

from syncd.state._errors import StateCorruptError, StateVersionError
from syncd.state._pg_shared import SHARED_STEP

# pg_advisory_xact_lock key: "syncd" in ASCII, so another application's lock is unlikely to collide.
LOCK_KEY = 0x73796E6364

_SIDE = "side text NOT NULL CHECK (side IN ('left', 'right'))"
_PARENT = 'integration text COLLATE "C" NOT NULL REFERENCES integrations (name) ON DELETE CASCADE'
_KEY = 'text COLLATE "C" NOT NULL'

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the schema of the SQLite store's version 8.
    (
        f"""CREATE TABLE integrations (
            name {_KEY} PRIMARY KEY,
            disabled_since timestamptz
        )""",
        f"""CREATE TABLE side_states (
            {_PARENT},
            {_SIDE},
            cursor timestamptz,
            last_full_read timestamptz,
            generation bigint NOT NULL DEFAULT 0,
            fields text,
            sync_token text,
            PRIMARY KEY (integration, side)
        )""",
        f"""CREATE TABLE snapshots (
            {_PARENT},
            {_SIDE},
            record_id {_KEY},
            seen text NOT NULL,
            synced text,
            match_key text COLLATE "C",
            hash text NOT NULL DEFAULT '',
            updated_at timestamptz,
            deleted boolean NOT NULL DEFAULT false,
            dirty boolean NOT NULL DEFAULT false,
            generation bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (integration, side, record_id)
        )""",
        "CREATE INDEX snapshots_match_key ON snapshots (integration, side, match_key)"
        " WHERE match_key IS NOT NULL",
        "CREATE INDEX snapshots_dirty ON snapshots (integration, side, record_id) WHERE dirty",
        "CREATE INDEX snapshots_unseen ON snapshots (integration, side, generation, record_id)"
        " WHERE NOT deleted",
        f"""CREATE TABLE links (
            {_PARENT},
            left_id {_KEY},
            right_id {_KEY},
            PRIMARY KEY (integration, left_id)
        )""",
        "CREATE UNIQUE INDEX links_right ON links (integration, right_id)",
        f"""CREATE TABLE intents (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            {_PARENT},
            {_SIDE},
            kind text NOT NULL CHECK (kind IN ('create', 'update', 'delete')),
            source_id text NOT NULL,
            target_id text,
            match_key text,
            fields text NOT NULL,
            created_at timestamptz NOT NULL
        )""",
        "CREATE INDEX intents_integration ON intents (integration, id)",
        f"""CREATE TABLE errors (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            {_PARENT},
            {_SIDE},
            record_id {_KEY},
            operation text NOT NULL,
            message text NOT NULL,
            status integer,
            attempts integer NOT NULL DEFAULT 1,
            origin text NOT NULL,
            at timestamptz NOT NULL,
            resolved_at timestamptz,
            next_retry_at timestamptz
        )""",
        "CREATE UNIQUE INDEX errors_unresolved ON errors (integration, side, record_id, operation)"
        " WHERE resolved_at IS NULL",
        "CREATE INDEX errors_at ON errors (integration, at)",
        f"""CREATE TABLE conflicts (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            {_PARENT},
            left_id text NOT NULL,
            right_id text NOT NULL,
            field text NOT NULL,
            left_value text NOT NULL,
            right_value text NOT NULL,
            winner text NOT NULL CHECK (winner IN ('left', 'right')),
            rule text NOT NULL,
            at timestamptz NOT NULL
        )""",
        "CREATE INDEX conflicts_at ON conflicts (integration, at)",
        f"""CREATE TABLE cycles (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            {_PARENT},
            origin text NOT NULL,
            started_at timestamptz NOT NULL,
            ended_at timestamptz NOT NULL,
            outcome text NOT NULL CHECK (outcome IN ('ok', 'errors', 'aborted', 'stopped', 'failed')),
            counts text NOT NULL,
            error text
        )""",
        "CREATE INDEX cycles_integration ON cycles (integration, id)",
        f"""CREATE TABLE bulk_runs (
            {_PARENT} PRIMARY KEY,
            state text NOT NULL CHECK (state IN ('running', 'done', 'stopped', 'failed')),
            done bigint NOT NULL,
            total bigint NOT NULL,
            failed bigint NOT NULL,
            started_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            ended_at timestamptz,
            message text
        )""",
        f"""CREATE TABLE api_usage (
            account {_KEY} PRIMARY KEY,
            connector text NOT NULL,
            window_start double precision NOT NULL,
            window_end double precision NOT NULL,
            used bigint NOT NULL,
            api_used bigint,
            api_limit bigint
        )""",
    ),
    # 2: cluster membership and the leases of integrations (syncd.state._leases). Not state to
    # copy (`syncd state copy` leaves them out) nor to reset: they say who runs what now.
    (
        f"""CREATE TABLE cluster_daemons (
            daemon_id {_KEY} PRIMARY KEY,
            host text NOT NULL,
            pid integer NOT NULL,
            started_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL
        )""",
        """CREATE TABLE leases (
            integration text COLLATE "C" PRIMARY KEY,
            daemon_id text COLLATE "C",
            host text,
            pid integer,
            token bigint NOT NULL DEFAULT 0,
            acquired_at timestamptz,
            expires_at timestamptz
        )""",
    ),
    # 3: what daemons share per account, outside the state tables.
    SHARED_STEP,
    # 4: what a create's source held when the create was planned (see Intent.source_seen;
    # SQLite's step 9). An intent recorded before has none: NULL.
    (
        "ALTER TABLE intents ADD COLUMN source_seen text",
    ),
    # 5: a full read marks each record it saw (mark_seen: the generation), a row update each.
    # With no index holding the generation, and room left in each page of snapshots for the
    # new versions, those are HOT updates: no index is written (there were four), 1.6x faster
    # a row. `unseen` reads by the primary key instead. Pages written before keep no room
    # until their rows move or the table is rewritten (VACUUM FULL); the index goes at once.
    (
        "DROP INDEX snapshots_unseen",
        "ALTER TABLE snapshots SET (fillfactor = 70)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

# Every table and column the current schema has (tests/state/test_postgres_schema_check.py holds this
# to what the migrations create): a database whose version row says "current" while a table or a
# column is missing is refused at open, never used half (nor created again over what is left).
COLUMNS: dict[str, frozenset[str]] = {table: frozenset(columns.split()) for table, columns in {
    "integrations": "name disabled_since",
    "side_states": "integration side cursor last_full_read generation fields sync_token",
    "snapshots": "integration side record_id seen synced match_key hash updated_at deleted dirty generation",
    "links": "integration left_id right_id",
    "intents": "id integration side kind source_id target_id match_key fields created_at source_seen",
    "errors": "id integration side record_id operation message status attempts origin at resolved_at "
              "next_retry_at",
    "conflicts": "id integration left_id right_id field left_value right_value winner rule at",
    "cycles": "id integration origin started_at ended_at outcome counts error",
    "bulk_runs": "integration state done total failed started_at updated_at ended_at message",
    "api_usage": "account connector window_start window_end used api_used api_limit",
    "cluster_daemons": "daemon_id host pid started_at expires_at",
    "leases": "integration daemon_id host pid token acquired_at expires_at",
    "rate_limits": "account tat send_at paused_until",
    "refresh_tokens": "account config_digest ciphertext access_due updated_at",
    "syncd_schema_version": "version",
}.items()}


def too_new(shown: str, version: int) -> StateVersionError:
    return StateVersionError(
        f"state store {shown} was written by a newer syncd (schema {version}, this syncd knows "
        f"{SCHEMA_VERSION}): upgrade syncd, or point state.url at a new database", path=shown,
    )


def _version(conn: psycopg.Connection) -> int:
    exists = conn.execute("SELECT to_regclass('syncd_schema_version') IS NOT NULL").fetchone()
    if not (exists and exists[0]):
        return 0
    row = conn.execute("SELECT max(version) FROM syncd_schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: psycopg.Connection, shown: str,
            migrations: tuple[tuple[str, ...], ...] = MIGRATIONS) -> int:
    """Apply the steps not yet applied, each in its own transaction; returns the version.

    *conn* is in autocommit mode. The advisory lock is taken only when a
    step looks due, so opening an up-to-date store never waits for another
    daemon's migration; under the lock the version is read again.
    """
    version = _version(conn)
    while version < len(migrations):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            conn.execute("CREATE TABLE IF NOT EXISTS syncd_schema_version (version integer NOT NULL)")
            version = _version(conn)
            if version == 0 and migrations is MIGRATIONS:
                _require_no_tables(conn, shown)
            if version < len(migrations):
                for statement in migrations[version]:
                    conn.execute(statement)
                version += 1
                conn.execute("DELETE FROM syncd_schema_version")
                conn.execute("INSERT INTO syncd_schema_version (version) VALUES (%s)", (version,))
    if version > len(migrations):
        raise too_new(shown, version)
    if migrations is MIGRATIONS:
        _require_tables(conn, shown)
    return version


def missing_columns(conn: psycopg.Connection) -> list[str]:
    """``table`` or ``table.column`` for each part of :data:`COLUMNS` the database lacks, sorted."""
    rows = conn.execute(
        "SELECT table_name::text, column_name::text FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ANY(%s)", (list(COLUMNS),)).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    out = []
    for table, columns in sorted(COLUMNS.items()):
        if table not in found:
            out.append(table)
        else:
            out += [f"{table}.{column}" for column in sorted(columns - found[table])]
    return out


def _require_no_tables(conn: psycopg.Connection, shown: str) -> None:
    """No version yet: a new database, unless some of syncd's tables are there (its version row lost)."""
    present = sorted(set(COLUMNS) - {"syncd_schema_version"} - set(missing_columns(conn)))
    if present:
        raise StateCorruptError(
            f"state store {shown}: holds syncd's tables {', '.join(present)} but no schema version "
            "(syncd_schema_version was dropped or emptied by hand?): restore the database from a backup, or "
            "point state.url at a new database and run `syncd reset INTEGRATION`; syncd does not create "
            "tables over a half schema", path=shown)


def _require_tables(conn: psycopg.Connection, shown: str) -> None:
    missing = missing_columns(conn)
    if missing:
        raise StateCorruptError(
            f"state store {shown}: the schema is at version {SCHEMA_VERSION} but lacks "
            f"{', '.join(missing)} (dropped or altered by hand?): restore the database from a backup, "
            "or point state.url at a new database and run `syncd reset INTEGRATION` to rebuild the state "
            "from the apps; syncd does not create tables over a half schema", path=shown)
