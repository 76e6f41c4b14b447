"""Result caps: an API that returns at most ``max_results`` records for one query.

HubSpot's CRM search is the model: however it is paged, one query gives
10,000 results at most, and asking for a page past them is an error. A
query that has returned ``max_results`` records is therefore paged no
further. Without ``restart`` the read then fails, naming the cap (a capped
read must never pass for a complete one: a full read that stopped short
would make the records past the cap look deleted).

A ``changes`` read with ``restart`` moves its since-window forward instead:
the request sorts by the ``since_from`` value, oldest first, and keeps the
records *at* ``since``, so a new query from the last record's value goes on
where the capped one stopped. The records at that value already returned
come back at the head of the new query; they are skipped by id, so that
every changed record is returned once, and none sharing the boundary value
is lost. More than ``max_results`` records at one value is an error: no
query could get past them.

Only specs with ``max_results`` pay for any of this, and per page, not per
record: the ids kept are those of the records in the millisecond (or,
for a request using ``since_epoch``, the second) of the window's last value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from syncd.config import Pagination
from syncd.connector._errors import PaginationError
from syncd.connector._fields import FieldValueError, datetime_parser, utc_text
from syncd.expr import Expr, to_text

_parse = datetime_parser()


class ResultCap:
    def __init__(self, pagination: Pagination, id_expr: Expr, since: datetime | None, operation: str) -> None:
        assert pagination.max_results is not None  # made only for a capped read
        self.max_results = pagination.max_results
        self.restart = pagination.restart
        self.read_id = id_expr.search
        self.operation = operation
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)  # as since_context reads it
        self.window_since = since  # where the current query's window starts
        self.count = 0  # records the current query has returned
        self.queries = 1
        # The since_from value of the last record read, and the ids of the
        # records of its millisecond (second) in this query (the next query
        # re-reads them).
        self.edge: datetime | None = None
        self.edge_ids: set[str] = set()
        # The ids the new query must not return again, and their value.
        self.skip: set[str] = set()
        self.skip_at: datetime | None = None

    def _fail(self, message: str) -> PaginationError:
        return PaginationError(message, operation=self.operation)

    def _since_of(self, raw: Any) -> datetime:
        assert self.restart is not None
        source = self.restart.since_from.source
        try:
            value = _parse(self.restart.since_from.search(raw))
        except FieldValueError as e:
            raise self._fail(f"restart.since_from {source!r}: {e}") from None
        if value is None:
            raise self._fail(f"restart.since_from {source!r} found nothing in record "
                             f"{self._id(raw) or '?'}: a new query could not know where to start")
        return value

    def _id(self, raw: Any) -> str:
        return to_text(self.read_id(raw))

    def take(self, raw: list[Any]) -> list[Any]:
        """One page's records as the API sent them: counted, and without the
        ones an earlier query of this read returned already."""
        self.count += len(raw)
        if self.restart is None or not raw:
            return raw
        last = self._since_of(raw[-1])
        # The new query's `since` is rendered to the millisecond (`since_ms`,
        # `since`) or the second (`since_epoch`): it may start that much
        # before the boundary, so the ids kept are those of the records in
        # the boundary's millisecond (or second).
        floor = self._floor(last)
        if self.edge is None or self._floor(self.edge) != floor:
            self.edge_ids = set()
        self.edge = last
        for item in reversed(raw):  # sorted oldest first: the records of that span end the page
            if self._since_of(item) < floor:
                break
            self.edge_ids.add(self._id(item))
        if self.skip:
            skip, at = self.skip, self.skip_at
            assert at is not None
            # (a record changed again since it was read is past the boundary: kept)
            raw = [item for item in raw if self._id(item) not in skip or self._since_of(item) > at]
            if last > at:  # past the old boundary: nothing more to skip
                self.skip = set()
        return raw

    def _floor(self, moment: datetime) -> datetime:
        assert self.restart is not None
        if self.restart.whole_seconds:
            return moment.replace(microsecond=0)
        return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)

    def full(self) -> bool:
        return self.count >= self.max_results

    def next_window(self) -> datetime:
        """The since of the next query, once this one is full with more to
        read; an error without ``restart`` or when the window cannot move."""
        if self.restart is None:
            raise self._fail(
                f"one query returned max_results={self.max_results} records with more left, and the "
                "API returns no more for one query; narrow the request (or, for a changes read, "
                "give pagination.restart to start a new query where this one stopped)")
        edge = self.edge
        assert edge is not None  # a full query has records, and take() saw their values
        if self.window_since is not None and edge <= self.window_since:
            raise self._fail(
                f"query {self.queries} returned max_results={self.max_results} records, all with "
                f"{self.restart.since_from.source} at {utc_text(edge)} or before, where it started: "
                "a new query from there would return them again. Either more records than the "
                "cap share one value, or the request does not sort by it, oldest first")
        # The new query starts at the boundary value, inclusive: the records
        # there that this one returned come again and are skipped.
        self.skip, self.skip_at = self.edge_ids, edge
        self.edge_ids = set()
        self.window_since = edge
        self.count = 0
        self.queries += 1
        return edge
