"""The fake app's notes and tasks: records under a contact, in memory.

Adding, changing or deleting a child bumps its contact's ``updated_at``, as
a CRM's "last activity" does: an incremental read of contacts sees the
contact changed. The endpoints are in :mod:`._children`.
"""

from __future__ import annotations

import threading
from typing import Any

from ._store import ContactStore

# kind -> writable property -> (accepted types, required on create)
PROPERTIES: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "notes": {"body": ((str,), True)},
    "tasks": {"title": ((str,), True), "due_date": ((str, type(None)), False), "done": ((bool,), False)},
}
_DEFAULTS: dict[str, dict[str, Any]] = {"notes": {}, "tasks": {"due_date": None, "done": False}}
READ_ONLY = ("id", "contact_id", "created_at", "updated_at")


class ChildStore:
    """Notes and tasks by kind and id, each under one contact; thread-safe."""

    def __init__(self, contacts: ContactStore) -> None:
        self._lock = threading.RLock()
        self._contacts = contacts
        self._records: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in PROPERTIES}
        self._next_id = 1

    def all(self, kind: str, contact_id: str | None = None) -> list[dict[str, Any]]:
        """Copies of every child of that kind (of one contact), in id order."""
        with self._lock:
            rows = [r for r in self._records[kind].values() if contact_id is None or r["contact_id"] == contact_id]
            return [dict(r) for r in sorted(rows, key=lambda r: (len(r["id"]), r["id"]))]

    def create(self, kind: str, contact_id: str, fields: dict[str, Any], *, touch: bool = True) -> dict[str, Any]:
        """Add a child under a contact (KeyError if the contact is unknown).
        ``touch=False``: as an app whose notes leave their contact's
        ``updated_at`` alone (the tests of the periodic full pass)."""
        with self._lock:
            if touch:
                self._touch(contact_id)
            elif contact_id not in self._contacts.ids():
                raise KeyError(contact_id)
            now = self._contacts.now()
            nid = str(self._next_id)
            self._next_id += 1
            record = {"id": nid, "contact_id": contact_id, **_DEFAULTS[kind], **fields,
                      "created_at": now, "updated_at": now}
            self._records[kind][nid] = record
            return dict(record)

    def update(self, kind: str, contact_id: str, nid: str, fields: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            record = self._mine(kind, contact_id, nid)
            self._touch(contact_id)
            record.update(fields, updated_at=self._contacts.now())
            return dict(record)

    def delete(self, kind: str, contact_id: str, nid: str) -> None:
        with self._lock:
            self._mine(kind, contact_id, nid)
            self._touch(contact_id)
            del self._records[kind][nid]

    def _mine(self, kind: str, contact_id: str, nid: str) -> dict[str, Any]:
        record = self._records[kind].get(nid)
        if record is None or record["contact_id"] != contact_id:
            raise KeyError(nid)
        return record

    def _touch(self, contact_id: str) -> None:
        # the contact's "last activity": a child written bumps its updated_at
        self._contacts.update(contact_id)
