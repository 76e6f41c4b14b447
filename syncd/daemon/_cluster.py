"""Who runs which integration: :class:`SoleOwner` (SQLite) and :class:`Cluster` (PostgreSQL).

On SQLite one daemon owns every integration (the file is one daemon's), and
:class:`SoleOwner` says so without a database. On PostgreSQL several daemons
share the integrations through the lease tables (:class:`syncd.state.LeaseBook`):
every ``lease_seconds / 3`` the supervisor calls :meth:`Cluster.renew` (heartbeat,
a lease row for each enabled integration, renew what it holds), stops and
:meth:`Cluster.release`\\ s what exceeds its share, then :meth:`Cluster.acquire`\\ s
up to it. Each call runs in a worker thread on the book's own connection: a
database that hangs never blocks the event loop, and the runners' checkpoints
and the write guard read only what is kept here (:meth:`Cluster.may_write`).

**The share** (:func:`share`): with N enabled integrations and D live members
ranked by (started_at, daemon_id), member *rank* runs ⌊N/D⌋, plus one when
rank < N mod D: every daemon computes the same split from the same list, the
oldest members take the remainder (a daemon that just joined is the one
that gets fewer), and the shares sum to N.

**The local deadline** of a lease is ``time.monotonic()`` when the renew or
acquire that extended it was *sent*, plus ``lease_seconds``, minus a margin
(:func:`margin`: a tenth of the lease, at least 0.5 s). The database extends
the lease to its own now + lease_seconds, at or after that send, so the
local deadline is always before the database's expiry, whatever the clocks
say; the margin covers the time from the check to the request leaving. Past
the deadline the lease counts as lost here even if no tick could tell (the
database is down): the runner stops at its checkpoint and no write leaves.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import anyio
import structlog

from syncd.state import Fence, Lease, LeaseBook, Member, StateError

__all__ = ["Cluster", "Ownership", "SoleOwner", "Step", "default_host", "margin", "owner_message", "share"]

log = structlog.get_logger("syncd.daemon")


def share(integrations: int, members: int, rank: int) -> int:
    """How many of *integrations* the member at *rank* (0: the oldest) of *members* runs."""
    if members <= 0 or rank < 0 or rank >= members:
        return 0
    base, extra = divmod(integrations, members)
    return base + (1 if rank < extra else 0)


def margin(lease_seconds: float) -> float:
    """How long before a lease's local deadline writing stops."""
    return max(0.5, lease_seconds / 10)


def default_host() -> str:
    return socket.gethostname() or "localhost"


def owner_message(name: str, owner: Mapping[str, Any] | None) -> str:
    """Why this daemon does not do it, and where to ask."""
    if owner is None:
        return (f"{name} is run by no daemon right now (its lease is free: a daemon takes it at its next "
                f"renewal): try again in a moment; any daemon's `syncd status` says where it runs")
    expires = owner.get("lease_expires")
    until = (datetime.fromtimestamp(float(expires), UTC).isoformat(timespec="seconds")
             if expires is not None else "it stops")
    return (f"{name} is run by daemon {owner.get('host')} (pid {owner.get('pid')}) until {until}: ask it, "
            f"or any daemon's `syncd status` says where")


class Ownership(Protocol):
    """What the supervisor asks of whoever decides which integrations it runs."""

    @property
    def daemon_id(self) -> str: ...
    @property
    def host(self) -> str: ...
    def owns(self, name: str) -> bool: ...
    def may_write(self, name: str) -> bool: ...
    def owner_of(self, name: str) -> dict[str, Any] | None: ...
    def members(self) -> list[dict[str, Any]]: ...


class SoleOwner:
    """SQLite: this daemon runs every integration; no leases, no database."""

    def __init__(self, host: str | None = None) -> None:
        self.host = host or default_host()
        self.pid = os.getpid()
        self.daemon_id = f"{self.host}-{self.pid}"

    def owns(self, name: str) -> bool:
        return True

    def may_write(self, name: str) -> bool:
        return True

    def owner_of(self, name: str) -> dict[str, Any] | None:
        return {"host": self.host, "pid": self.pid, "lease_expires": None}

    def members(self) -> list[dict[str, Any]]:
        return []


@dataclass
class Step:
    """What a renewal found: leases lost, and how many held ones exceed the share."""

    lost: list[str] = field(default_factory=list)
    excess: int = 0
    target: int = 0


class Cluster:
    """This daemon's side of the lease tables (see the module docstring).

    The held leases and their local deadlines are read from the event loop
    (:meth:`may_write`, :meth:`owns`) and changed only by the calls below,
    which the supervisor makes from its cluster task; a lock keeps a reader
    from seeing half an update made in the worker thread.

    *fence* is the store's :meth:`~syncd.state.StateStore.fence`: set at
    every acquisition, cleared at every loss or release, here where they
    happen. *companions* names the other state keys an integration's
    transactions use (its child objects', ``NAME/notes``): each is fenced by
    a lease of its own, taken with the integration's and renewed, released
    and lost with it; they count for nothing in the share.
    """

    def __init__(self, url: str, *, lease_seconds: float, host: str | None = None, timeout: float = 5.0,
                 fence: Callable[[str, Fence | None], None] = lambda name, fence: None,
                 companions: Callable[[str], Sequence[str]] = lambda name: ()) -> None:
        self.host = host or default_host()
        self.pid = os.getpid()
        # Unique even for a pid reused on another host or after a restart.
        self.daemon_id = f"{self.host}-{self.pid}-{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        self.margin = margin(lease_seconds)
        # A call may take until the lease's local deadline (later, its answer is of no use): on a
        # loaded machine a shorter timeout would drop leases the database was about to renew.
        self.book = LeaseBook(url, daemon_id=self.daemon_id, host=self.host, pid=self.pid,
                              lease_seconds=lease_seconds,
                              timeout=min(timeout, max(1.0, lease_seconds - self.margin)))
        self._fence = fence
        self._companions = companions
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}  # integration -> fencing token
        self._extra: dict[str, dict[str, int]] = {}  # integration -> {companion key: token}
        self._deadline: dict[str, float] = {}  # integration -> time.monotonic() limit for writing
        self._leases: dict[str, Lease] = {}  # every row, as last read (status: the others' owners)
        self._members: list[Member] = []
        self._outage: str | None = None  # the error of a database outage under way, logged once
        self.rank = 0

    @property
    def interval(self) -> float:
        return self.lease_seconds / 3

    # --- read by the event loop --------------------------------------------------

    def owns(self, name: str) -> bool:
        with self._lock:
            return name in self._held

    def may_write(self, name: str) -> bool:
        with self._lock:
            deadline = self._deadline.get(name)
        return deadline is not None and time.monotonic() < deadline

    def permit(self, name: str) -> Callable[[], bool]:
        """:meth:`may_write` for the lease held NOW (its token): a runner or a cycle takes one
        when it starts, so that once this lease is lost it never writes again, even after this
        daemon takes the integration back under a newer token (another daemon may have synced
        it meanwhile: what the old cycle read and planned is stale)."""
        with self._lock:
            token = self._held.get(name)

        def allowed() -> bool:
            with self._lock:
                held = self._held.get(name)
            return token is not None and held == token and self.may_write(name)

        return allowed

    def held(self) -> dict[str, int]:
        with self._lock:
            return dict(self._held)

    def owner_of(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            lease = self._leases.get(name)
        if lease is None or lease.daemon_id is None or lease.expires_at is None:
            return None
        if lease.expires_at.timestamp() <= time.time() and lease.daemon_id != self.daemon_id:
            return None  # run out: free for whoever takes it next
        return {"host": lease.host, "pid": lease.pid, "lease_expires": lease.expires_at.timestamp(),
                "daemon_id": lease.daemon_id}

    def members(self) -> list[dict[str, Any]]:
        with self._lock:
            members = list(self._members)
        return [{"id": m.daemon_id, "host": m.host, "pid": m.pid, "started_at": m.started_at.timestamp(),
                 "expires_at": m.expires_at.timestamp()} for m in members]

    def expired(self) -> list[str]:
        """Held leases whose local deadline has passed: lost here, whatever the database says."""
        now = time.monotonic()
        with self._lock:
            gone = sorted(n for n, d in self._deadline.items() if d <= now)
            for name in gone:
                self._drop(name)
        return gone

    def _drop(self, name: str) -> dict[str, int]:
        """Forget *name* and its companions, their fences cleared; what was held (under the lock)."""
        dropped = {k: t for k, t in self._extra.pop(name, {}).items()}
        if name in self._held:
            dropped[name] = self._held.pop(name)
        self._deadline.pop(name, None)
        for key in dropped:
            self._fence(key, None)
        return dropped

    def _take(self, lease: Lease) -> None:
        """Hold *lease* (an integration's), fenced (under the lock)."""
        self._held[lease.integration] = lease.token
        self._leases[lease.integration] = lease
        self._fence(lease.integration, Fence(self.daemon_id, lease.token))

    # --- the calls, each in a worker thread ----------------------------------------

    async def renew(self, enabled: Sequence[str]) -> Step | None:
        """Heartbeat, lease rows for *enabled*, renew what is held; None when the database failed."""
        return await self._call(self._renew, list(enabled))

    async def acquire(self, enabled: Sequence[str], limit: int) -> list[Lease]:
        """Take up to *limit* free or run-out leases among *enabled* that this daemon does not hold
        (and the companions of every one held that lacks one)."""
        return await self._call(self._acquire, list(enabled), limit) or []

    async def release(self, names: Iterable[str]) -> None:
        """Give up *names* (their runners have stopped): another daemon may take them at once."""
        with self._lock:
            held: dict[str, int] = {}
            for name in names:
                held.update(self._drop(name))
        if held:
            await self._call(self.book.release, held)

    async def leave(self) -> None:
        """A clean stop: every lease released and the member row gone, then the connection closed."""
        with self._lock:
            for name in list(self._held):
                self._drop(name)
        await self._call(self.book.leave)
        await anyio.to_thread.run_sync(self.book.close)

    async def _call(self, fn: Any, *args: Any) -> Any:
        try:
            result = await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)
        except StateError as e:
            if self._outage is None:
                log.error("cannot reach the lease tables: leases run out at their local deadline, "
                          "the integrations they cover stop there", error=str(e))
            self._outage = str(e)
            return None
        if self._outage is not None:
            log.info("the lease tables answer again: taking leases again")
            self._outage = None
        return result

    def _renew(self, enabled: list[str]) -> Step:
        members = self.book.heartbeat()
        self.book.ensure([*enabled, *(c for name in enabled for c in self._companions(name))])
        with self._lock:
            held = dict(self._held)
            extra = {k: t for keys in self._extra.values() for k, t in keys.items()}
        sent = time.monotonic()
        renewed = self.book.renew({**held, **extra}) if held else {}
        leases = self.book.leases()
        step = Step()
        with self._lock:
            for name, token in held.items():
                if self._held.get(name) != token:
                    continue  # dropped meanwhile
                if name in renewed:
                    self._deadline[name] = sent + self.lease_seconds - self.margin
                else:
                    self._drop(name)
                    step.lost.append(name)
            for keys in self._extra.values():
                for key in [k for k in keys if k not in renewed]:
                    del keys[key]  # taken again at the next acquire
                    self._fence(key, None)
            self._leases, self._members = leases, members
            ids = [m.daemon_id for m in members]
            self.rank = ids.index(self.daemon_id) if self.daemon_id in ids else len(ids)
            wanted = set(enabled)
            step.target = share(len(wanted), max(len(ids), self.rank + 1), self.rank)
            step.excess = max(0, len([n for n in self._held if n in wanted]) - step.target)
        return step

    def _acquire(self, enabled: list[str], limit: int) -> list[Lease]:
        with self._lock:
            candidates = [n for n in enabled if n not in self._held]
            members = max(1, len(self._members))
        got: list[Lease] = []
        if candidates and limit > 0:
            # Each member starts its look at another place in the list, so
            # daemons acquiring at once mostly ask for different rows.
            start = (self.rank * len(candidates)) // members
            sent = time.monotonic()
            got = self.book.acquire(candidates[start:] + candidates[:start], limit)
            with self._lock:
                for lease in got:
                    self._take(lease)
                    self._deadline[lease.integration] = sent + self.lease_seconds - self.margin
        with self._lock:
            missing = {key: name for name in self._held for key in self._companions(name)
                       if key not in self._extra.get(name, {})}
        if missing:
            for lease in self.book.acquire(list(missing), len(missing)):
                with self._lock:
                    name = missing[lease.integration]
                    if name in self._held:
                        self._extra.setdefault(name, {})[lease.integration] = lease.token
                        self._fence(lease.integration, Fence(self.daemon_id, lease.token))
        return got
