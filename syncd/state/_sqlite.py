"""The SQLite state store: one file, WAL journal, shared by every integration.

What is stored (the schema is drawn in :mod:`syncd.state._migrations`):
integration names; per side a cursor, the time of the last full read and a
generation counter; per record a snapshot (record id, match key, the
compared field values as last read and as last synced, a content hash, the
record's ``updated_at``, deleted and dirty flags); links between record ids;
pending write intents (the fields about to be written); record errors
(operation, message, HTTP status, attempts) and the conflict log (the two
values and the winner). Field values are contact data: personal data, which
is why the file is created 0600 in a 0700 directory. Connector settings,
tokens, API keys and credentials never reach this layer: no method takes
them, and connector error messages are masked before they become record
errors (principle 6).

Durability: ``journal_mode=WAL`` with ``synchronous=NORMAL`` survives a
process crash (kill -9) at any instant with every committed transaction
intact; only a power loss can drop the last few commits, never tear one.

One store is one connection, used from one thread (the event loop's).
Transactions do not nest, and nothing may ``await`` inside one: another
task opening a transaction meanwhile would get a :class:`StateError`.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import syncd.state._rows as codec
from syncd.state._check import invariant_problems, version_problem
from syncd.state._errors import RESET_ADVICE, StateCorruptError, StateError, corrupt, from_sqlite
from syncd.state._leases import Fence, Lease
from syncd.state._migrations import APPLICATION_ID, SCHEMA_VERSION, migrate, too_new
from syncd.state._model import (
    AccountUsage,
    BulkRun,
    ConflictRow,
    CycleRow,
    Intent,
    RecordErrorRow,
    Side,
    SideState,
    Snapshot,
)
from syncd.state._rows import SNAPSHOT_COLUMNS as _SNAPSHOT_COLUMNS
from syncd.state._rows import check_side as _side
from syncd.state._sqlite_rows import _chunks, _guard, _parse_time, _snapshot
from syncd.state._sqlite_wal import wal_damage
from syncd.state._sqlite_tx import _Session, _SQLiteTransaction
from syncd.state._store import StateStore
from syncd.state._usage_sql import usage_params, usage_upsert

__all__ = ["SQLiteStore", "open_store"]


class SQLiteStore(StateStore):
    """The :class:`StateStore` in one SQLite file; made by :func:`open_store`."""

    def __init__(self, conn: sqlite3.Connection, path: str, busy_timeout: float) -> None:
        self._conn = conn
        self.path = path
        self.busy_timeout = busy_timeout
        self._session = _Session(conn, path, busy_timeout)

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the file; an open transaction is rolled back. Closing twice is harmless."""
        self._session.active = None  # the open transaction, if any, is unusable from now on
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # closed already, or the file is gone: nothing left to save
        self._conn.close()

    def transaction(self, integration: str) -> _SQLiteTransaction:
        return _SQLiteTransaction(self._session, integration)

    # A SQLite file serves one daemon (its lock says so): no leases, nothing to fence.
    def require_fences(self, daemon_id: str) -> None:
        """Accepted and ignored: one daemon per file."""

    def fence(self, name: str, fence: Fence | None) -> None:
        """Accepted and ignored: one daemon per file."""

    def leases(self) -> dict[str, Lease]:
        return {}

    @_guard("reading the side state")
    def side_state(self, integration: str, side: Side) -> SideState:
        rows = self._rows(
            f"SELECT {codec.SIDE_STATE_COLUMNS} FROM side_states WHERE integration = ? AND side = ?",
            (integration, _side(side)),
        )
        return codec.side_state(rows[0], _parse_time) if rows else SideState()

    @_guard("reading snapshots")
    def snapshots(self, integration: str, side: Side, record_ids: Sequence[str]) -> dict[str, Snapshot]:
        _side(side)
        out: dict[str, Snapshot] = {}
        for marks, ids in _chunks(record_ids):
            for row in self._rows(
                f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots"
                f" WHERE integration = ? AND side = ? AND record_id IN ({marks})",
                (integration, side, *ids),
            ):
                out[row[1]] = _snapshot(row)
        return out

    @_guard("reading snapshot digests")
    def digests(self, integration: str, side: Side, record_ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
        _side(side)
        out: dict[str, tuple[str, bool]] = {}
        for marks, ids in _chunks(record_ids):
            for record_id, digest, deleted in self._rows(
                "SELECT record_id, hash, deleted FROM snapshots"
                f" WHERE integration = ? AND side = ? AND record_id IN ({marks})",
                (integration, side, *ids),
            ):
                out[record_id] = (digest, bool(deleted))
        return out

    @_guard("reading snapshots by match key")
    def by_match_key(self, integration: str, side: Side, match_key: str) -> list[Snapshot]:
        rows = self._rows(
            f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots INDEXED BY snapshots_match_key"
            " WHERE integration = ? AND side = ? AND match_key = ? AND deleted = 0",
            (integration, _side(side), match_key),
        )
        return sorted((_snapshot(row) for row in rows), key=lambda s: s.record_id)

    @_guard("reading snapshots by match keys")
    def by_match_keys(self, integration: str, side: Side, match_keys: Sequence[str]) -> dict[str, list[Snapshot]]:
        _side(side)
        out: dict[str, list[Snapshot]] = {}
        for marks, keys in _chunks(match_keys):
            for row in self._rows(
                f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots INDEXED BY snapshots_match_key"
                f" WHERE integration = ? AND side = ? AND match_key IN ({marks}) AND deleted = 0",
                (integration, side, *keys),
            ):
                snap = _snapshot(row)
                out.setdefault(snap.match_key or "", []).append(snap)
        return {key: sorted(snaps, key=lambda s: s.record_id) for key, snaps in out.items()}

    @_guard("reading links")
    def linked(self, integration: str, side: Side, record_ids: Sequence[str]) -> dict[str, str]:
        if _side(side) == "left":
            select = "SELECT left_id, right_id FROM links WHERE integration = ? AND left_id"
        else:
            select = "SELECT right_id, left_id FROM links INDEXED BY links_right WHERE integration = ? AND right_id"
        out: dict[str, str] = {}
        for marks, ids in _chunks(record_ids):
            out.update(self._rows(
                f"{select} IN ({marks})",
                (integration, *ids),
            ))
        return out

    def dirty(self, integration: str, side: Side, batch: int = 500) -> Iterator[list[Snapshot]]:
        _side(side)
        if batch < 1:
            raise ValueError("batch must be at least 1")
        base = (f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots INDEXED BY snapshots_dirty"
                " WHERE integration = ? AND side = ? AND dirty = 1")
        return self._keyset(
            f"{base} ORDER BY record_id LIMIT ?",
            f"{base} AND record_id > ? ORDER BY record_id LIMIT ?",
            (integration, side), lambda row: (row[1],), batch, "reading dirty snapshots",
        )

    def unseen(self, integration: str, side: Side, generation: int) -> Iterator[Snapshot]:
        _side(side)
        base = (f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots"
                " WHERE integration = ? AND side = ? AND deleted = 0 AND generation < ?")
        # By the primary key (no index holds the generation, so that mark_seen rewrites the
        # row alone: _migrations' step 10): the batches together read the side once.
        return itertools.chain.from_iterable(self._keyset(
            f"{base} ORDER BY record_id LIMIT ?",
            f"{base} AND record_id > ? ORDER BY record_id LIMIT ?",
            (integration, side, generation), lambda row: (row[1],), 500,
            "reading unseen snapshots",
        ))

    def _keyset(
        self, first: str, after: str, params: tuple[Any, ...], key: Callable[[Any], tuple[Any, ...]],
        batch: int, doing: str,
    ) -> Iterator[list[Snapshot]]:
        for rows in codec.keyset(self._fetch(doing), first, after, params, key, batch):
            yield [_snapshot(row) for row in rows]

    def _fetch(self, doing: str) -> codec.Fetch:
        """The store's query, its failures as StateError (naming *doing*)."""
        def fetch(sql: str, params: tuple[Any, ...]) -> list[Any]:
            try:
                return self._rows(sql, params)
            except sqlite3.Error as exc:
                raise self._session.error(exc, doing) from exc

        return fetch

    @_guard("counting snapshots")
    def count(self, integration: str, side: Side, *, deleted: bool = False) -> int:
        rows = self._rows(
            "SELECT count(*) FROM snapshots WHERE integration = ? AND side = ? AND deleted = ?",
            (integration, _side(side), bool(deleted)),
        )
        return int(rows[0][0])

    @_guard("reading a snapshot")
    def any_snapshot(self, integration: str, side: Side) -> Snapshot | None:
        rows = self._rows(
            f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots WHERE integration = ? AND side = ? LIMIT 1",
            (integration, _side(side)),
        )
        return _snapshot(rows[0]) if rows else None

    @_guard("reading write intents")
    def open_intents(self, integration: str) -> list[Intent]:
        rows = self._rows(f"SELECT {codec.INTENT_COLUMNS} FROM intents WHERE integration = ? ORDER BY id",
                          (integration,))
        return [codec.intent(row, _parse_time) for row in rows]

    @_guard("reading record errors")
    def errors(self, integration: str, *, unresolved: bool = True, limit: int = 100) -> list[RecordErrorRow]:
        where = " AND resolved_at IS NULL" if unresolved else ""
        rows = self._rows(
            f"SELECT {codec.ERROR_COLUMNS} FROM errors WHERE integration = ?{where}"
            " ORDER BY at DESC, id DESC LIMIT ?",
            (integration, limit),
        )
        return [codec.record_error(row, _parse_time) for row in rows]

    @_guard("counting record errors")
    def count_errors(self, integration: str) -> int:
        rows = self._rows("SELECT count(*) FROM errors WHERE integration = ? AND resolved_at IS NULL",
                          (integration,))
        return int(rows[0][0])

    @_guard("counting conflicts")
    def count_conflicts(self, integration: str) -> int:
        rows = self._rows("SELECT count(*) FROM conflicts WHERE integration = ?", (integration,))
        return int(rows[0][0])

    @_guard("reading conflicts")
    def conflicts(self, integration: str, *, limit: int = 100) -> list[ConflictRow]:
        rows = self._rows(
            f"SELECT {codec.CONFLICT_COLUMNS} FROM conflicts WHERE integration = ? ORDER BY at DESC, id DESC LIMIT ?",
            (integration, limit),
        )
        return [codec.conflict(row, _parse_time) for row in rows]

    @_guard("reading cycles")
    def cycles(self, integration: str, *, limit: int = 10) -> list[CycleRow]:
        rows = self._rows(
            f"SELECT {codec.CYCLE_COLUMNS} FROM cycles INDEXED BY cycles_integration WHERE integration = ?"
            " ORDER BY id DESC LIMIT ?",
            (integration, limit),
        )
        return [codec.cycle(row, _parse_time) for row in rows]

    @_guard("reading whether the integration is disabled")
    def disabled_since(self, integration: str) -> datetime | None:
        rows = self._rows("SELECT disabled_since FROM integrations WHERE name = ?", (integration,))
        return _parse_time(rows[0][0]) if rows else None

    def links(self, integration: str, batch: int = 500) -> Iterator[list[tuple[str, str]]]:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        select = "SELECT left_id, right_id FROM links WHERE integration = ?"
        for rows in codec.keyset(self._fetch("reading links"), f"{select} ORDER BY left_id LIMIT ?",
                                 f"{select} AND left_id > ? ORDER BY left_id LIMIT ?", (integration,),
                                 lambda row: (row[0],), batch):
            yield [(left, right) for left, right in rows]

    @_guard("counting links")
    def link_count(self, integration: str) -> int:
        return int(self._rows("SELECT count(*) FROM links WHERE integration = ?", (integration,))[0][0])

    @_guard("reading the bulk sync")
    def bulk_run(self, integration: str) -> BulkRun | None:
        rows = self._rows(f"SELECT {codec.BULK_COLUMNS} FROM bulk_runs WHERE integration = ?", (integration,))
        return codec.bulk_run(rows[0], _parse_time) if rows else None

    @_guard("listing integrations")
    def integrations(self) -> list[str]:
        return [name for (name,) in self._rows("SELECT name FROM integrations ORDER BY name", ())]

    @_guard("checking the store")
    def check(self) -> list[str]:
        # integrity_check, not quick_check: it also compares every index with its table (a damaged
        # links_right could hide a record linked twice). Its "ok" is one row.
        try:
            found = [str(line) for (row,) in self._rows("PRAGMA integrity_check(100)", ())
                     for line in str(row).splitlines() if line != "ok"]
        except sqlite3.DatabaseError as exc:  # damage bad enough to stop the check itself
            if from_sqlite(self.path, exc, "checking").__class__ is not StateCorruptError:
                raise
            found = [f"cannot complete: {exc}"]
        problems = [f"integrity_check: {line}" for line in found]
        if problems:  # reading the tables would meet the damage: the rest means nothing until it is repaired
            return [*problems, "syncd's invariants were not checked: the database is damaged"]
        problems += [f"{table} ({'a row' if rowid is None else f'rowid {rowid}'}): no {parent} row for it"
                     f" (foreign key {fk})"
                     for table, rowid, parent, fk in self._rows("PRAGMA foreign_key_check", ())]
        version = int(self._rows("PRAGMA user_version", ())[0][0])
        problems += version_problem(version, SCHEMA_VERSION)
        return problems + invariant_problems(lambda sql: self._rows(sql, ()))

    @_guard("reading API usage")
    def api_usage(self) -> list[AccountUsage]:
        rows = self._rows(
            "SELECT account, connector, window_start, window_end, used, api_used, api_limit"
            " FROM api_usage ORDER BY account", ())
        return [AccountUsage(*row) for row in rows]

    @_guard("storing API usage")
    def put_api_usage(self, usage: AccountUsage) -> None:
        self._refuse_in_transaction()
        self._conn.execute(
            "INSERT OR REPLACE INTO api_usage"
            " (account, connector, window_start, window_end, used, api_used, api_limit)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (usage.account, usage.connector, usage.window_start, usage.window_end, usage.used,
             usage.api_used, usage.api_limit))


    @_guard("counting API usage")
    def add_api_usage(self, account: str, connector: str, window: tuple[float, float], now: float, *,
                      api_used: int | None = None, api_limit: int | None = None,
                      resets_at: float | None = None) -> AccountUsage:
        self._refuse_in_transaction()
        row = self._conn.execute(usage_upsert(lambda name: f":{name}"), usage_params(
            account, connector, window, now, api_used, api_limit, resets_at)).fetchone()
        return AccountUsage(*row)

    def _refuse_in_transaction(self) -> None:
        if self._session.active is not None:
            raise StateError(
                f"state store {self.path}: API usage is stored outside transactions, and one (for "
                f"{self._session.active.integration!r}) is open", path=self.path)

# --- opening -------------------------------------------------------------------------------------

def _create_file(path: Path, busy_timeout: float) -> None:
    """Create the missing directories (0700) and a new store at *path* (0600), whole or not at all.

    The store is made beside it under a temporary name (the schema migrated, WAL mode set) and
    linked into place only then: a state file syncd made is never empty, so an empty file at the
    path is damage (a truncation), refused by :func:`_refuse_empty`, never taken for a new store.
    An existing file is left as it is (another process may have created it meanwhile).
    """
    if path.exists():
        return
    missing = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    temporary = path.with_name(f".{path.name}.new-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=0o700)
            except FileExistsError:
                continue
            os.chmod(directory, 0o700)  # mkdir's mode is cut by the umask
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise StateError(
            f"state store {path} cannot be created ({exc.strerror}): check that its directory is writable "
            "by the user syncd runs as", path=str(path),
        ) from exc
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    try:
        conn = sqlite3.connect(temporary, timeout=busy_timeout, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            migrate(conn, str(path))
        finally:
            conn.close()  # the last connection: its WAL is checkpointed into the file and removed
        os.link(temporary, path)  # never over a file another process created meanwhile
    except FileExistsError:
        pass
    except sqlite3.Error as exc:
        raise from_sqlite(str(path), exc, "creating", busy_timeout=busy_timeout) from exc
    except OSError as exc:
        raise StateError(f"state store {path} cannot be created ({exc.strerror}): check that its directory is "
                         "writable by the user syncd runs as", path=str(path)) from exc
    finally:
        for leftover in (temporary, Path(f"{temporary}-wal"), Path(f"{temporary}-shm")):
            leftover.unlink(missing_ok=True)


def _refuse_empty(path: Path) -> None:
    """An existing empty state file was truncated (syncd never leaves one: :func:`_create_file`)."""
    try:
        size = path.stat().st_size
    except OSError:
        return  # gone meanwhile, or not readable: opening it says why
    if size == 0:
        raise StateCorruptError(
            f"state store {path} is empty (0 bytes): it was truncated or replaced, and syncd does not take an "
            f"empty file for a new store: restore it from a backup, or {RESET_ADVICE}", path=str(path),
            sqlite_message="empty file")


def _refuse_read_only(path: Path) -> None:
    """A file or directory syncd cannot write: said at open, not at the first commit (which would
    come after the apps were read, and leave the cycle's outcome unrecorded). The directory must be
    writable too: SQLite makes the ``-wal`` and ``-shm`` files there."""
    for what, target in (("file", path), ("directory", path.parent)):
        if target.exists() and not os.access(target, os.W_OK):
            raise StateError(
                f"state store {path} cannot be opened for writing (its {what} {target} is read-only): check "
                "that the file and its directory exist and are writable by the user syncd runs as",
                path=str(path))


def _refuse_damaged_wal(path: Path) -> None:
    damage = wal_damage(path)
    if damage is not None:
        raise StateCorruptError(
            f"state store {path}: its write-ahead log {path}-wal is damaged ({damage}); SQLite would drop "
            f"those commits without a word: restore the state directory from a backup, or move {path}-wal "
            f"and {path}-shm aside to open the store as of its last checkpoint (what the log holds is lost), "
            f"or {RESET_ADVICE}", path=str(path), sqlite_message=damage)


def _check_file(conn: sqlite3.Connection, path: str, quick_check: bool) -> None:
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]  # "file is not a database" here
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise too_new(path, version)
    if application_id != APPLICATION_ID and (
        application_id != 0 or conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    ):
        raise StateError(
            f"state store {path} is a SQLite database of another application, not a syncd state store: "
            "point the state path at a new file", path=path,
        )
    if quick_check:
        rows = [row[0] for row in conn.execute("PRAGMA quick_check(5)").fetchall()]
        if rows != ["ok"]:
            lines = [line for row in rows for line in str(row).splitlines() if not line.startswith("***")]
            raise corrupt(path, "quick_check: " + "; ".join(lines))


def open_store(path: Path | str, *, busy_timeout: float = 5.0, quick_check: bool = True) -> SQLiteStore:
    """Open the state store at ``path``, creating and migrating it as needed.

    ``busy_timeout`` is how long (seconds) a write waits for another process
    holding the lock before :class:`StateLockedError`. ``quick_check`` runs
    ``PRAGMA quick_check`` (it reads the whole file: about a second per GB).
    ``":memory:"`` opens a private in-memory store (for tests).
    Raises :class:`StateError` (never a ``sqlite3`` exception): a newer
    schema, a file that is not a database or is damaged, a lock held too
    long, a file that cannot be created.
    """
    memory = str(path) == ":memory:"
    name = ":memory:" if memory else str(path)
    if not memory:
        _create_file(Path(path), busy_timeout)
        _refuse_read_only(Path(path))
        _refuse_empty(Path(path))
        _refuse_damaged_wal(Path(path))
    try:
        conn = sqlite3.connect(name, timeout=busy_timeout, isolation_level=None, cached_statements=256)
    except sqlite3.Error as exc:
        raise from_sqlite(name, exc, "opening", busy_timeout=busy_timeout) from exc
    try:
        _check_file(conn, name, quick_check)
        if not memory:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StateError(
                    f"state store {name}: cannot use the WAL journal (journal_mode is {mode}): keep the state "
                    "on a local file system", path=name,
                )
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA cache_size = -16000")  # KiB: the hot indexes of 100k snapshots
        migrate(conn, name)
    except sqlite3.Error as exc:
        conn.close()
        raise from_sqlite(name, exc, "opening", busy_timeout=busy_timeout) from exc
    except BaseException:
        conn.close()
        raise
    return SQLiteStore(conn, name, busy_timeout)
