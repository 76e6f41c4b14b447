"""The leases of a command that writes without a daemon (``syncd once``, ``reset``, …).

On PostgreSQL several daemons may be running the integrations; a command
that writes for one (``syncd once``, ``syncd sync`` without a daemon,
``syncd reset``, ``syncd errors --retry``, ``syncd bulk``) joins as a member
for its length and takes the leases of the integrations it writes, so no
daemon runs them meanwhile, and every transaction it makes is fenced like
a daemon's. One held by a live daemon refuses the command, naming that
daemon. The leases are renewed by a thread while the command runs, and
released at its end, so a daemon takes them at its next renewal. On
SQLite nothing of this happens (the file is one process's at a time).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from syncd.config import Config
from syncd.daemon._cluster import default_host, owner_message
from syncd.state import Fence, LeaseBook, StateError, StateStore
from syncd.sync import Cycles, child_keys, child_states

__all__ = ["HeldElsewhere", "command_cycles", "command_leases"]

log = structlog.get_logger("syncd.daemon")


class HeldElsewhere(StateError):
    """A daemon holds the lease of an integration the command would write."""


@contextmanager
def command_leases(config: Config, store: StateStore, names: Iterable[str]) -> Iterator[None]:
    """Hold the leases of *names* in *store* (PostgreSQL) while the block runs."""
    settings = config.daemon
    parents = sorted(set(names))
    if settings.state_url is None or not parents:
        yield
        return
    # The keys of their child objects too (in the config, or only in the store: reset clears those).
    children = [key for name in parents for key in dict.fromkeys(
        [*child_keys(config.integrations[name]), *(k for k, _ in child_states(store, name))])]
    wanted = [*parents, *children]
    host, pid = settings.cluster_name or default_host(), os.getpid()
    daemon_id = f"{host}-{pid}-command"
    lease_seconds = settings.cluster_lease_seconds
    book = LeaseBook(settings.state_url.reveal(), daemon_id=daemon_id, host=host, pid=pid,
                     lease_seconds=lease_seconds)
    held: dict[str, int] = {}
    done = threading.Event()
    renewer: threading.Thread | None = None
    try:
        book.heartbeat()
        book.ensure(wanted)
        for lease in book.acquire(wanted, len(wanted)):
            held[lease.integration] = lease.token
        missing = [n for n in wanted if n not in held]
        if missing:
            holder = book.leases().get(missing[0])
            owner: dict[str, Any] | None = None if holder is None or holder.daemon_id is None else {
                "host": holder.host, "pid": holder.pid,
                "lease_expires": holder.expires_at.timestamp() if holder.expires_at else None}
            raise HeldElsewhere(owner_message(missing[0], owner).replace(
                ": ask it,", ": stop it first or ask it (`syncd sync`, `syncd errors --retry`, `syncd bulk` "
                "reach it on its control socket),", 1))
        store.require_fences(daemon_id)
        for name, token in held.items():
            store.fence(name, Fence(daemon_id, token))

        def renew() -> None:
            # A long command keeps its leases; a renewal that fails is
            # logged, and the fences stop the command's commits if they ran out.
            while not done.wait(lease_seconds / 3):
                try:
                    book.heartbeat()
                    for name in set(held) - set(book.renew(held)):
                        log.error("lease lost during the command: its writes are refused", integration=name)
                except StateError as e:
                    log.warning("could not renew the command's leases", error=str(e))

        renewer = threading.Thread(target=renew, name="syncd command leases", daemon=True)
        renewer.start()
        yield
    finally:
        done.set()
        if renewer is not None:
            renewer.join()
        for name in held:
            store.fence(name, None)
        try:
            book.leave()
        except StateError as e:  # they run out after a lease, then
            log.warning("could not release the command's leases", error=str(e))
        book.close()


@contextmanager
def command_cycles(config: Config, names: Iterable[str]) -> Iterator[Cycles]:
    """:meth:`Cycles.open` holding the leases of *names* (see the module docstring)."""
    with Cycles.open(config) as cycles, command_leases(config, cycles.store, names):
        yield cycles
