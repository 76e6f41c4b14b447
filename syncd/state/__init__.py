"""The state store: cursors, snapshots, links, intents, errors, conflicts, cycles.

``open_state(target)`` opens (creating and migrating as needed) the store
``target`` names: a ``postgresql://`` URL the PostgreSQL store
(:mod:`syncd.state._postgres`, imported only then), anything else the path
of a SQLite file (``open_store(path)``). The contract the sync layer, the daemon and the command line rely on
is two protocols: :class:`StateStore` (reads, and ``store.transaction(name)``)
and :class:`Transaction` (writes); type against them, not
:class:`SQLiteStore`. Every failure of the store is a :class:`StateError`
(the tree is drawn in ``_errors.py``).
"""

from pathlib import Path
from typing import TYPE_CHECKING

from syncd.state._errors import (
    StateCorruptError,
    StateError,
    StateLockedError,
    StateUnreachable,
    StateVersionError,
    TargetNotEmpty,
)
from syncd.state._leases import Fence, Lease, LeaseBook, LeaseLost, Member
from syncd.state._model import (
    WRITE_OPERATIONS,
    AccountUsage,
    BulkRun,
    BulkState,
    ConflictRow,
    CycleRow,
    Intent,
    Origin,
    Outcome,
    RecordErrorRow,
    Side,
    SideState,
    Snapshot,
)
from syncd.state._sqlite import SQLiteStore, open_store
from syncd.state._store import StateStore, Transaction

if TYPE_CHECKING:
    from syncd.state._copy import TokenCarrier


def open_state(target: Path | str, *, answer_within: float | None = None) -> StateStore:
    """The store at *target*: a ``postgresql://`` (or ``postgres://``) URL, or a SQLite file's path.

    *answer_within* (PostgreSQL; the daemon's ``state.timeout``): the seconds
    to connect, and each call's time to an answer, past which it fails and
    the store asks the server nothing more until it answers. None (the
    commands): 10 s to connect, and calls wait as long as the server takes.
    Raises :class:`StateError`; a message names a URL with its password as ``***``.
    """
    if isinstance(target, str) and target.startswith(("postgresql://", "postgres://")):
        # Imported here: psycopg and its pool cost a SQLite installation's commands nothing.
        from syncd.state._postgres import open_postgres

        if answer_within is None:
            return open_postgres(target)
        return open_postgres(target, connect_timeout=answer_within, answer_within=answer_within)
    return open_store(target)


def shown_location(target: Path | str) -> str:
    """*target* as messages and `syncd status` show it: a URL's password as ``***``."""
    text = str(target)
    if isinstance(target, str) and target.startswith(("postgresql://", "postgres://")):
        from syncd.state._pg_errors import shown_url

        return shown_url(text)
    return text

def copy_state(source: StateStore, target: StateStore, *, batch: int = 1000,
               tokens: "TokenCarrier | None" = None) -> dict[str, int]:
    """Copy every row of *source* into the empty *target* in one target
    transaction (:mod:`syncd.state._copy`), with the rotated refresh tokens
    *tokens* carries; the rows copied per table.

    Raises :class:`TargetNotEmpty` or :class:`StateError`; either way nothing was written.
    """
    from syncd.state._copy import copy_state as copy  # imported here: psycopg only when copying

    return copy(source, target, batch=batch, tokens=tokens)


__all__ = [
    "WRITE_OPERATIONS",
    "AccountUsage",
    "BulkRun",
    "BulkState",
    "ConflictRow",
    "CycleRow",
    "Fence",
    "Intent",
    "Lease",
    "LeaseBook",
    "LeaseLost",
    "Member",
    "Origin",
    "Outcome",
    "RecordErrorRow",
    "SQLiteStore",
    "Side",
    "SideState",
    "Snapshot",
    "StateCorruptError",
    "StateError",
    "StateLockedError",
    "StateStore",
    "StateUnreachable",
    "StateVersionError",
    "TargetNotEmpty",
    "Transaction",
    "copy_state",
    "open_state",
    "open_store",
    "shown_location",
]
