"""Errors raised by the state store.

    StateError              base; ``path`` names the database file; every
    │                       SQLite failure arrives as one of these, never
    │                       as a raw ``sqlite3`` exception
    ├── StateLockedError    another process held the write lock longer than
    │                       ``busy_timeout`` (transient: retry later)
    ├── StateCorruptError   not a SQLite database, or damaged (``PRAGMA
    │                       quick_check`` failed on open, or SQLite found
    │                       damage while reading or writing)
    ├── StateVersionError   written by a newer syncd than this one
    ├── StateUnreachable    a PostgreSQL server that does not answer or
    │                       cannot take connections now (down, starting,
    │                       unreachable): transient, worth waiting for
    └── TargetNotEmpty      ``syncd state copy``: the target holds rows
                            already (nothing was written)

Every message names the file and says what to do. The SQLite message is
kept as ``sqlite_message`` and the ``sqlite3`` exception as ``__cause__``.
"""

from __future__ import annotations

import sqlite3

RESET_ADVICE = "move it aside and run `syncd reset INTEGRATION` to rebuild state from the apps"

# Primary result codes (the low byte of an extended code).
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 3, 5, 6, 8, 10, 11, 13, 14, 26


class StateError(Exception):
    def __init__(self, message: str, *, path: str = "", sqlite_message: str = "") -> None:
        self.path = path
        self.message = message
        self.sqlite_message = sqlite_message
        super().__init__(message)


class TargetNotEmpty(StateError):
    """``syncd state copy``: the target store holds rows already; nothing was written."""


class StateLockedError(StateError):
    pass


class StateCorruptError(StateError):
    pass


class StateVersionError(StateError):
    pass


class StateUnreachable(StateError):
    pass


def corrupt(path: str, detail: str) -> StateCorruptError:
    return StateCorruptError(
        f"state store {path} is damaged or not a SQLite database ({detail}): {RESET_ADVICE}",
        path=path, sqlite_message=detail,
    )


def from_sqlite(path: str, exc: sqlite3.Error, doing: str, *, busy_timeout: float = 0.0) -> StateError:
    """The :class:`StateError` for a ``sqlite3`` exception raised while ``doing``."""
    msg = str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in (_BUSY, _LOCKED) or (primary is None and "database is locked" in msg):
        return StateLockedError(
            f"state store {path} is locked by another process (waited {busy_timeout:g} s while {doing}): "
            f"is another syncd running on the same file? ({msg})",
            path=path, sqlite_message=msg,
        )
    if primary in (_CORRUPT, _NOTADB):
        return corrupt(path, msg)
    if primary == _FULL:
        return StateError(f"state store {path}: disk full while {doing} ({msg}): free some space and retry",
                          path=path, sqlite_message=msg)
    if primary in (_PERM, _READONLY, _CANTOPEN):
        return StateError(
            f"state store {path} cannot be opened for writing while {doing} ({msg}): check that the file "
            "and its directory exist and are writable by the user syncd runs as",
            path=path, sqlite_message=msg,
        )
    if primary == _IOERR:
        return StateError(f"state store {path}: I/O error while {doing} ({msg}): check the disk",
                          path=path, sqlite_message=msg)
    return StateError(f"state store {path}: {doing} failed: {msg}", path=path, sqlite_message=msg)
