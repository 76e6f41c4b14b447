"""The state store: cursors, snapshots, links, intents, errors, conflicts, cycles.

``open_store(path)`` opens (creating and migrating as needed) the SQLite
store. The contract the sync layer, the daemon and the command line rely on
is two protocols: :class:`StateStore` (reads, and ``store.transaction(name)``)
and :class:`Transaction` (writes); type against them, not
:class:`SQLiteStore`. Every failure of the store is a :class:`StateError`
(the tree is drawn in ``_errors.py``).
"""

from syncd.state._errors import StateCorruptError, StateError, StateLockedError, StateVersionError
from syncd.state._model import (
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

__all__ = [
    "ConflictRow",
    "CycleRow",
    "Intent",
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
    "StateVersionError",
    "Transaction",
    "open_store",
]
