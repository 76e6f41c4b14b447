"""Reading one side: changes since the cursor, or everything, page by page.

Every page is one transaction: the snapshots it changed, the records it
could not read. The cursor advances only when the whole run is read, so a
crash re-reads from the last cursor (an unchanged record costs a hash
comparison, nothing more). A full read also finds deletions (each record
it missed confirmed gone with ``get`` first), behind the
guard (:mod:`syncd.sync._guard`): when a side reads empty or loses too much
at once, its deletions are held back (an error row says why) and the rest
of the cycle goes on.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from syncd.connector import AuthError, ConnectorError, Record, SyncTokenExpired, TransportError
from syncd.state import RecordErrorRow, Side, SideState, Snapshot, Transaction
from syncd.sync._children import children_cursor
from syncd.sync._context import CURSOR_OVERLAP, CycleContext, other
from syncd.sync._guard import held_back
from syncd.sync._snapshots import changed_snapshot, content_hash

log = structlog.get_logger("syncd.sync")

# Records a full read missed, asked for one by one before they are taken as
# deleted: at most this many (a deletion costs a request on the other side
# anyway), this many at a time (the connector's own limits apply as well).
_CONFIRM_AT_MOST = 1000
_CONFIRM_CHUNK = 20


class Reader:
    def __init__(self, ctx: CycleContext) -> None:
        self.ctx = ctx

    async def read(self, side: Side, force_full: bool) -> None:
        with structlog.contextvars.bound_contextvars(side=side):
            await self._read(side, force_full)

    async def _read(self, side: Side, force_full: bool) -> None:
        try:
            await self._read_run(side, force_full)
        except SyncTokenExpired as e:
            # The API no longer honours the token (too old, say): what it
            # names changed cannot be read, so everything is read instead.
            # The pages a refused run committed (if any) were real data.
            log.warning("sync token refused: reading everything", error=e.message)
            await self._read_run(side, True)

    async def _read_run(self, side: Side, force_full: bool) -> None:
        connector = self.ctx.connectors[side]
        if "list" not in connector.object.operations:
            # A write-only target: nothing to read. The records changes will
            # be written to are looked up by match key (syncd.sync._write_only).
            return
        state = self.ctx.store.side_state(self.ctx.name, side)
        now = datetime.now(UTC)
        stale = state.last_full_read is None or (
            now - state.last_full_read > timedelta(seconds=self.ctx.integration.full_every_seconds))
        # Mapping a field more or less changes what a snapshot holds: read
        # everything again, so that the new field is back-filled for every
        # linked record (and a field unmapped is forgotten).
        fields = self.ctx.projection[side].fields
        reshaped = state.fields != fields and (
            state.fields is not None or self.ctx.store.any_snapshot(self.ctx.name, side) is not None)
        # A changes read starts from what the last read left: a time cursor,
        # or the API's own sync token (``{{ sync_token }}``), or both.
        need = connector.changes_need
        by_token = "sync_token" in need
        no_start = (state.sync_token is None or ("since" in need and state.cursor is None)) if by_token \
            else state.cursor is None
        full = force_full or no_start or not connector.has_changes or stale or reshaped
        generation = state.generation + 1 if full else 0
        # With children: the records changed since the last child pass that
        # completed (one a stop, an abort or a crash cut off after this read
        # committed its cursor): the read reaches back to it when it lags.
        since = children_cursor(self.ctx.store, self.ctx.integration, side, state.cursor)
        if by_token and since != state.cursor:
            full = True  # a sync token cannot reach back: read everything
            generation = state.generation + 1
        # The records before a full read, for the deletion guard; a changes read (the cycle
        # at rest) needs no count (a scan of every snapshot of the side).
        before = self.ctx.store.count(self.ctx.name, side) if full else 0
        if full:
            pages = connector.list()
        elif by_token:
            pages = connector.changes(since - CURSOR_OVERLAP if since is not None else None, state.sync_token)
        elif since is None:
            pages = connector.list()
        else:
            pages = connector.changes(since - CURSOR_OVERLAP)
        high = state.cursor
        read = 0
        blind = False  # a record that could not be read, not even its id
        # Whether any record has an open error to bring forward when it changes
        # (rarely: then a first read of 100,000 records pays nothing for it).
        failed_before = self.ctx.store.count_errors(self.ctx.name) > 0
        # Which records changed, for the child pass: those stamped after the
        # cursor (a child written bumps its parent's updated_at; the overlap
        # re-read is not news), or whose values changed; every one when
        # there is no cursor yet.
        touched = self.ctx.touched[side] if self.ctx.integration.children else None
        # aclosing: a cycle that stops at a checkpoint cancels the page read ahead at once.
        async with aclosing(pages):
            async for page in pages:
                projection = self.ctx.projection[side]
                digests = self.ctx.store.digests(self.ctx.name, side, [r.id for r in page.records])
                fresh: list[tuple[Record, dict[str, Any], str]] = []
                unchanged: list[str] = []
                for record in page.records:
                    seen = projection.stored(record.fields)
                    digest = content_hash(seen)
                    if digests.get(record.id) == (digest, record.deleted):
                        unchanged.append(record.id)  # the common case: no snapshot to decode
                    else:
                        fresh.append((record, seen, digest))
                    if record.updated_at is not None and (high is None or record.updated_at > high):
                        high = record.updated_at
                old = self.ctx.store.snapshots(self.ctx.name, side, [r.id for r, _, _ in fresh]) if fresh else {}
                if touched is not None:
                    touched.update(r.id for r in page.records
                                   if since is None or r.updated_at is None or r.updated_at > since)
                    touched.update(r.id for r, _, _ in fresh)
                changed = [
                    changed_snapshot(side, record, seen, digest, projection, old.get(record.id), generation)
                    for record, seen, digest in fresh
                ]
                read += len(page.records)
                self.ctx.summary.unchanged += len(unchanged)
                # A record that could not be read is still there: it must not
                # look deleted to the full read's deletion check.
                unreadable = [e.record_id for e in page.errors if e.record_id]
                blind = blind or len(unreadable) < len(page.errors)
                # A page of a changes read that changed nothing (the common case at
                # rest: the overlap read again) has nothing to commit: no transaction.
                if changed or full or page.errors:
                    with self.ctx.store.transaction(self.ctx.name) as t:
                        # None of them stored yet (a first read): no stored row to read first.
                        t.put_snapshots(changed, new=not old)
                        # A record changed at its source: if writing it failed
                        # before, it is due again now (the data may be fixed).
                        if failed_before:
                            t.retry_due(other(side), [s.record_id for s in changed if s.dirty])
                        if full:
                            t.mark_seen(side, unchanged + unreadable, generation)
                        for err in page.errors:
                            log.warning("record unreadable", record=err.record_id, error=err.message)
                            t.add_error(RecordErrorRow(side, err.record_id or "?", err.operation, err.message,
                                                       origin=self.ctx.origin))
                self.ctx.summary.errors += len(page.errors)
                log.debug("page read", records=len(page.records), changed=len(changed), errors=len(page.errors),
                          full=full)
                self.ctx.checkpoint()
        self.ctx.summary.read[side] += read
        if high is not None and high > now:
            # A record changed during the read, on a page already passed,
            # is not in it, while a record on a later page may bear a newer
            # stamp: a cursor past the moment the read began would skip the
            # first change for good (a full read pages in id order). So the
            # next read starts there at the latest (by syncd's clock, less
            # the overlap), and reads those records again: cheap. In
            # whole seconds: a cursor becomes a template's {{ since }}, and
            # an API with second-precision times refuses a fraction (SOQL's
            # dateTime has none); an earlier cursor only reads more.
            high = now.replace(microsecond=0)
        if full and not blind:
            await self._confirm_missed(side, generation, read, before)
        if not full:
            after = SideState(cursor=high, generation=state.generation, last_full_read=state.last_full_read,
                              fields=state.fields, sync_token=connector.last_sync_token or state.sync_token)
            if after == state:
                return  # a changes read that moved nothing (at rest): nothing to commit
        with self.ctx.store.transaction(self.ctx.name) as t:
            decided = True  # whether this full read settled which records are gone
            if full and not blind:
                decided = self._deletions(t, side, generation, read, before)
            elif full:
                # Which records exist is not known for sure: find deletions
                # on the next full read rather than guess now.
                self.ctx.summary.errors += 1
                t.add_error(RecordErrorRow(
                    side, "*", "deletions", "deletions were not checked: some records could not be "
                    "read, not even their ids (see the other errors)", origin=self.ctx.origin))
            t.set_side_state(side, SideState(
                cursor=high, generation=generation if full else state.generation,
                # The token the run ended with, committed with its pages'
                # cursor: a crash before this leaves the old one, whose
                # changes are read again (an unchanged record costs a hash).
                # A changes run that sent none keeps the one it started from.
                sync_token=connector.last_sync_token or (None if full else state.sync_token),
                # Deletions held back: the last full read stays the one before,
                # so the next cycle reads this side in full and decides again
                # (with the limit as it then is).
                last_full_read=now if full and decided else state.last_full_read,
                fields=fields if full else state.fields))

    async def _confirm_missed(self, side: Side, generation: int, read: int, before: int) -> None:
        """Ask the app, with ``get``, for each record this full read missed:
        one it still has is seen, not deleted. A full read can miss a record
        that is there: offset pages shift back by one when a record is
        deleted during the read, and the record that slides into the gap is
        on no page. Only deletions the guard would let through are asked
        about: a loss it holds back (a read that found nothing, or too much
        gone at once: a wrong filter, an outage) stays held back, with its
        message, for an operator to see. Beyond ``_CONFIRM_AT_MOST`` records,
        or without ``get`` in the spec, the read decides alone."""
        connector = self.ctx.connectors[side]
        if "get" not in connector.object.operations:
            return
        missed = [snap.record_id for snap in self.ctx.store.unseen(self.ctx.name, side, generation)]
        if not missed or len(missed) > _CONFIRM_AT_MOST:
            return
        if held_back(self.ctx.integration, side, gone=len(missed), before=before, read=read) is not None:
            return
        there: list[str] = []
        for start in range(0, len(missed), _CONFIRM_CHUNK):
            chunk = missed[start:start + _CONFIRM_CHUNK]
            found = await asyncio.gather(*(self._still_there(side, record_id) for record_id in chunk))
            there += [record_id for record_id, yes in zip(chunk, found) if yes]
            self.ctx.checkpoint()
        if there:
            log.info("records the full read missed are still there: not deleted", records=len(there),
                     missed=len(missed))
            with self.ctx.store.transaction(self.ctx.name) as t:
                t.mark_seen(side, there, generation)

    async def _still_there(self, side: Side, record_id: str) -> bool:
        try:
            return await self.ctx.connectors[side].get(record_id) is not None
        except (AuthError, TransportError):
            raise  # as for a page: the cycle cannot go on
        except ConnectorError:
            return True  # not known to be gone: never taken as deleted on a doubt

    def _deletions(self, t: Transaction, side: Side, generation: int, read: int, before: int) -> bool:
        """Mark the records this full read missed as deleted, unless the guard
        holds them back; False when it does (then they stay as they were:
        not deleted, not dirty, still candidates for the next full read)."""
        gone = list(self.ctx.store.unseen(self.ctx.name, side, generation))
        why = held_back(self.ctx.integration, side, gone=len(gone), before=before, read=read)
        if why is not None:
            # Only the deletions wait: what was read stays committed and the
            # cycle goes on to write the other changes.
            log.warning("deletions held back", gone=len(gone), records=before, read=read, error=why)
            self.ctx.summary.errors += 1
            t.add_error(RecordErrorRow(side, "*", "deletions", why, origin=self.ctx.origin))
            return False
        # Deletions are settled for this side: a hold-back (or a "not checked")
        # from an earlier cycle is over.
        t.resolve_errors(side, "*", writes=False)
        t.put_snapshots(
            Snapshot(side=s.side, record_id=s.record_id, seen=s.seen, synced=s.synced,
                     match_key=s.match_key, hash=s.hash, updated_at=s.updated_at, deleted=True,
                     dirty=True, generation=s.generation)
            for s in gone)
        return True

