"""The fake app's contacts: a thread-safe in-memory store with two orderings.

List endpoints read pages in id order, or in (updated_at, id) order when
``updated_after`` is given.  Both orders are kept as sorted lists of keys and
maintained on every write (bisect + insert), so a page is a bisect and a slice
even at 100,000 contacts.  Each contact's JSON is encoded once and cached until
it changes: a page is then a bytes join.

Records handed out are copies (decoded from the cached JSON), so a test that
edits one cannot change the store behind its back.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass
from typing import Any

import orjson

from ._data import FIRST_ID, Clock, format_ts, generate, parse_ts

IdKey = tuple[int, str]  # (len(id), id): numeric ids sort as numbers
UpdKey = tuple[int, int, str]  # (updated_at µs, len(id), id)
_DEFAULTS: dict[str, Any] = {"first_name": None, "last_name": None, "email": None,
                             "phone": None, "tags": [], "custom_fields": {}}


class DuplicateEmailError(ValueError):
    """Another contact already has this email (compared case-insensitively)."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(f"contact already exists. Existing ID: {existing_id}")
        self.existing_id = existing_id


class BatchInputError(ValueError):
    """One record of a batch write is refused, so the whole batch is (nothing is stored)."""

    def __init__(self, index: int, message: str, existing_id: str | None = None) -> None:
        super().__init__(message)
        self.index = index  # which record of the batch
        self.existing_id = existing_id  # the contact that already has the email, if that is why


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[bytes]  # encoded contacts
    last_key: IdKey | UpdKey | None  # key of the last row, for a keyset cursor
    total: int  # contacts matching the filter, all pages together
    has_more: bool


def _idkey(cid: str) -> IdKey:
    return (len(cid), cid)


def _email_key(email: Any) -> str | None:
    return email.strip().lower() if isinstance(email, str) and email.strip() else None


class ContactStore:
    """Contacts by id, insertion ordered by id; every method is thread-safe."""

    def __init__(self, n: int = 0, seed: int = 0) -> None:
        self._lock = threading.RLock()
        self._clock = Clock()
        self._records: dict[str, dict[str, Any]] = {}
        self._encoded: dict[str, bytes] = {}
        self._by_email: dict[str, str] = {}
        self._upd: dict[str, int] = {}  # id -> updated_at µs
        self._id_order: list[IdKey] = []
        self._upd_order: list[UpdKey] = []
        self._next_id = FIRST_ID + n
        # Told of every change, under the lock (so in the order of the
        # changes): (kind, the contact as stored, when). The webhooks' sender.
        self.on_change: Callable[[str, dict[str, Any], str], None] | None = None
        # generated ids are ascending and unique emails are lower case: the
        # indexes are built directly, without the checks a write goes through
        for i in range(n):
            rec, us = generate(i, seed)
            cid = rec["id"]
            self._records[cid] = rec
            self._by_email[rec["email"]] = cid
            self._upd[cid] = us
            self._id_order.append((len(cid), cid))
            self._upd_order.append((us, len(cid), cid))
        self._upd_order.sort()

    # -- reading -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, cid: object) -> bool:
        return cid in self._records

    def get(self, cid: str) -> dict[str, Any] | None:
        """A copy of the contact, or None."""
        with self._lock:
            return self._copy(cid) if cid in self._records else None

    def _copy(self, cid: str) -> dict[str, Any]:
        """A copy of a contact that is there (the caller holds the lock)."""
        copy: dict[str, Any] = orjson.loads(self._encode(cid))
        return copy

    def all(self) -> list[dict[str, Any]]:
        """Copies of every contact, in id order."""
        with self._lock:
            rows = [self._encode(k[1]) for k in self._id_order]
        return orjson.loads(b"[" + b",".join(rows) + b"]")

    def ids(self) -> list[str]:
        with self._lock:
            return [k[1] for k in self._id_order]

    def find_by_email(self, email: str) -> dict[str, Any] | None:
        """The contact with this email (case-insensitive), or None."""
        key = _email_key(email)
        with self._lock:
            cid = self._by_email.get(key) if key else None
            return self.get(cid) if cid else None

    def now(self) -> str:
        """Take a timestamp from the store's clock: every later write is newer."""
        with self._lock:
            return format_ts(self._clock.tick())

    def encoded(self, cid: str) -> bytes:
        """The contact's JSON bytes as the API serves them (KeyError if absent)."""
        with self._lock:
            return self._encode(cid)

    def select(self, *, since_us: int | None = None, after: IdKey | UpdKey | None = None,
               offset: int = 0, limit: int) -> Page:
        """One page: contacts after the keyset cursor ``after``, skipping ``offset``.

        ``since_us`` given: only contacts updated strictly after it, ordered by
        (updated_at, id); else all contacts by id.
        """
        with self._lock:
            order: list[Any] = self._id_order if since_us is None else self._upd_order
            base = 0 if since_us is None else bisect_right(order, (since_us, math.inf))
            start = base if after is None else max(base, bisect_right(order, after))
            start += offset
            keys = order[start:start + limit]
            rows = [self._encode(k[-1]) for k in keys]
            return Page(rows, keys[-1] if keys else None, len(order) - base,
                        start + len(keys) < len(order))

    # -- writing -------------------------------------------------------------

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        """Add a contact; assigns ``id`` and timestamps unless given.  Returns a copy."""
        with self._lock:
            rec = dict(record)
            cid = str(rec.pop("id", None) or self._next_id)
            if cid in self._records:
                raise ValueError(f"contact {cid} already exists")
            self._check_email(rec.get("email"), cid)
            if cid.isdigit():
                self._next_id = max(self._next_id, int(cid) + 1)
            now = format_ts(self._clock.tick())
            created = rec.pop("created_at", None) or now
            updated = rec.pop("updated_at", None) or now
            full = {"id": cid, **{k: rec.pop(k, v) for k, v in _DEFAULTS.items()}, **rec}
            full["created_at"], full["updated_at"] = created, updated
            parse_ts(updated)  # a bad explicit timestamp fails before any change
            self._insert(full)
            insort(self._id_order, _idkey(cid))
            return self._changed("contact.created", cid)

    def create_many(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add several contacts, all or none: an email already taken, or given
        twice in the batch, raises BatchInputError before anything is stored."""
        with self._lock:
            given: dict[str, int] = {}
            for n, rec in enumerate(records):
                key = _email_key(rec.get("email"))
                if key is None:
                    continue
                owner = self._by_email.get(key)
                if owner is not None:
                    raise BatchInputError(n, f"contact already exists. Existing ID: {owner}", owner)
                if key in given:
                    raise BatchInputError(n, f"the same email as record {given[key]} of the batch")
                given[key] = n
            return [self.create(rec) for rec in records]

    def update_many(self, changes: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Merge changes into several contacts (as :meth:`update`), all or none:
        an unknown id or a taken email raises BatchInputError first."""
        with self._lock:
            given: dict[str, tuple[int, str]] = {}
            for n, (cid, change) in enumerate(changes):
                if cid not in self._records:
                    raise BatchInputError(n, f"contact {cid} not found")
                key = _email_key(change.get("email"))
                if key is None:
                    continue
                owner = self._by_email.get(key)
                if owner is not None and owner != cid:
                    raise BatchInputError(n, f"contact already exists. Existing ID: {owner}", owner)
                if key in given and given[key][1] != cid:
                    raise BatchInputError(n, f"the same email as record {given[key][0]} of the batch")
                given[key] = (n, cid)
            return [self.update(cid, **change) for cid, change in changes]

    def update(self, cid: str, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` (and ``custom_fields`` subkeys) like PATCH; bumps updated_at.

        An explicit ``updated_at`` in ``changes`` is kept instead of "now".
        Raises KeyError if absent, DuplicateEmailError on a taken email.
        """
        with self._lock:
            old = self._records[cid]
            new = dict(old)
            for key, value in changes.items():
                if key == "id":
                    raise ValueError("a contact's id cannot change")
                if key == "custom_fields" and isinstance(value, dict):
                    value = {**(old.get(key) or {}), **value}
                new[key] = value
            return self._write(cid, new, changes.get("updated_at"))

    def replace(self, cid: str, record: dict[str, Any]) -> dict[str, Any]:
        """Replace every field like PUT (id and created_at stay); bumps updated_at."""
        with self._lock:
            old = self._records[cid]
            rec = {k: v for k, v in record.items() if k not in ("id", "created_at", "updated_at")}
            new = {"id": cid, **{k: rec.pop(k, v) for k, v in _DEFAULTS.items()}, **rec,
                   "created_at": old["created_at"], "updated_at": old["updated_at"]}
            return self._write(cid, new, record.get("updated_at"))

    def delete(self, cid: str) -> None:
        """Remove a contact (KeyError if absent)."""
        with self._lock:
            gone = self._copy(cid) if self.on_change is not None and cid in self._records else None
            self._unindex(cid, self._records.pop(cid))
            del self._id_order[bisect_left(self._id_order, _idkey(cid))]
            if gone is not None and self.on_change is not None:
                self.on_change("contact.deleted", gone, format_ts(self._clock.tick()))

    # -- internals (callers hold the lock) -----------------------------------

    def _encode(self, cid: str) -> bytes:
        row = self._encoded.get(cid)
        if row is None:
            row = self._encoded[cid] = orjson.dumps(self._records[cid])
        return row

    def _check_email(self, email: Any, cid: str) -> None:
        key = _email_key(email)
        owner = self._by_email.get(key) if key else None
        if owner is not None and owner != cid:
            raise DuplicateEmailError(owner)

    def _write(self, cid: str, new: dict[str, Any], updated_at: str | None) -> dict[str, Any]:
        self._check_email(new.get("email"), cid)
        new["updated_at"] = updated_at or format_ts(self._clock.tick())
        parse_ts(new["updated_at"])  # a bad explicit timestamp fails before any change
        self._unindex(cid, self._records[cid])
        self._insert(new)  # same dict key: the record keeps its place
        return self._changed("contact.updated", cid)

    def _changed(self, kind: str, cid: str) -> dict[str, Any]:
        record = self._copy(cid)
        if self.on_change is not None:  # it must not keep the dict: the caller gets it
            self.on_change(kind, record, record["updated_at"])
        return record

    def _insert(self, rec: dict[str, Any]) -> None:
        cid = rec["id"]
        us = parse_ts(rec["updated_at"])
        self._records[cid] = rec
        self._upd[cid] = us
        key = _email_key(rec.get("email"))
        if key:
            self._by_email[key] = cid
        insort(self._upd_order, (us, len(cid), cid))

    def _unindex(self, cid: str, rec: dict[str, Any]) -> None:
        key = _email_key(rec.get("email"))
        if key and self._by_email.get(key) == cid:
            del self._by_email[key]
        us = self._upd.pop(cid)
        del self._upd_order[bisect_left(self._upd_order, (us, len(cid), cid))]
        self._encoded.pop(cid, None)
