"""Pagination: from one page's answer to the next page's request.

A :class:`PageRun` is made per run of a list-like operation.  ``first()``
gives the first request; ``next(answer, raw_records)`` gives the following
one or ``None`` when the run is complete.  Every type refuses to loop: a
cursor or URL seen before in the run, or a page that repeats the previous
page's records, is a :class:`PaginationError`, and ``max_pages`` caps a
run (reaching it with pages left is an error too, so that a capped read is
never mistaken for a complete one).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from syncd.config import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    OffsetPagination,
    PageNumberPagination,
    Pagination,
    SinglePage,
)
from syncd.connector._errors import PaginationError
from syncd.connector._http import Answer


@dataclass(frozen=True, slots=True)
class PageRequest:
    url: str
    params: dict[str, Any]
    body: Any = None


def _as_int(value: Any, what: str, operation: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PaginationError(f"{what} is {value!r:.40}, not a whole number", operation=operation) from None


class PageRun:
    def __init__(
        self, pagination: Pagination, first: PageRequest, operation: str,
        render: Callable[[Any], PageRequest] | None = None,
    ) -> None:
        self.p = pagination
        self.request = first
        self.operation = operation
        # Renders the operation's own params and body for a cursor, so that
        # templates using `{{ cursor }}` see the page's cursor.
        self.render = render
        self.cursor: Any = None
        self.pages = 0
        self.seen: set[str] = set()
        self.first_size: int | None = None
        self.previous_head: Any = None
        # The last answer's `total` (offset) or `total_pages` (page_number), if the spec says where.
        self.total: int | None = None
        if isinstance(pagination, OffsetPagination):
            params = dict(first.params)
            params.setdefault(pagination.param, 0)
            self.offset = _as_int(params[pagination.param], pagination.param, operation) or 0
            self.limit = _as_int(params.get(pagination.limit_param), pagination.limit_param, operation)
            self.request = replace(first, params=params)
        elif isinstance(pagination, PageNumberPagination):
            params = dict(first.params)
            params[pagination.param] = pagination.start
            self.page = pagination.start
            self.request = replace(first, params=params)

    def first(self) -> PageRequest:
        return self.request

    def _fail(self, message: str) -> PaginationError:
        return PaginationError(message, operation=self.operation)

    def _check_new(self, token: str, what: str) -> None:
        if token in self.seen:
            raise self._fail(
                f"the {what} {token!r:.80} was already used on an earlier page: the API is "
                f"not advancing (after {self.pages} pages); check the pagination settings")
        self.seen.add(token)

    def _check_progress(self, raw: list[Any]) -> None:
        # An API that ignores the page/offset parameter sends the same page
        # again and again; the first record gives it away.
        head = raw[0] if raw else None
        if self.pages > 1 and head is not None and head == self.previous_head:
            raise self._fail(
                f"page {self.pages} repeats the records of page {self.pages - 1}: the API "
                f"ignores the {getattr(self.p, 'param', 'page')!r} parameter")
        self.previous_head = head

    def next(self, answer: Answer, raw: list[Any]) -> PageRequest | None:
        self.pages += 1
        if self.first_size is None:
            self.first_size = len(raw)
        following = self._next(answer, raw)
        if following is not None:
            self.request = following
        return following

    def at_cap(self) -> bool:
        """Whether ``max_pages`` pages have been read."""
        return self.p.max_pages is not None and self.pages >= self.p.max_pages

    def check_cap(self) -> None:
        """Called before fetching another page: ``max_pages`` stops the run here."""
        if self.at_cap():
            raise self._fail(
                f"stopped after max_pages={self.p.max_pages} pages with more pages left; "
                "raise max_pages or narrow the request")

    def predict(self, request: PageRequest) -> PageRequest | None:
        """The request of the page after *request*'s, as :meth:`next` will
        give it if that page is full; None where it cannot be known before
        *request*'s answer (a cursor, a next URL, the page size still
        unknown) or where the total read so far says there is none.

        Pages fetched at once (``concurrency``) are asked for by these
        guesses; :meth:`next` is still what the reader follows, and a guess
        it does not confirm is dropped with every page after it."""
        p = self.p
        if isinstance(p, OffsetPagination):
            # The first page's length: an API may cap the limit it is sent.
            size = self.first_size or self.limit
            offset = _as_int(request.params.get(p.param), p.param, self.operation)
            if not size or offset is None:
                return None
            following = offset + size
            if self.total is not None and following >= self.total:
                return None
            return replace(request, params={**request.params, p.param: following})
        if isinstance(p, PageNumberPagination):
            page = _as_int(request.params.get(p.param), p.param, self.operation)
            if page is None:
                return None
            if self.total is not None and page + 1 - p.start >= self.total:
                return None
            return replace(request, params={**request.params, p.param: page + 1})
        return None

    def _next(self, answer: Answer, raw: list[Any]) -> PageRequest | None:
        p = self.p
        body = answer.body
        if isinstance(p, SinglePage):
            return None
        if isinstance(p, CursorPagination):
            cursor = p.cursor.search(body)
            if cursor is None or cursor == "" or cursor is False:
                return None
            self._check_new(str(cursor), "cursor")
            self.cursor = cursor
            base = self.render(cursor) if self.render is not None else self.request
            if p.param is not None:
                return replace(base, params={**base.params, p.param: cursor})
            new_body = copy.deepcopy(base.body) if isinstance(base.body, dict) else {}
            assert p.body_field is not None  # the spec builder guarantees one of the two
            p.body_field.set(new_body, cursor)
            return replace(base, body=new_body)
        if isinstance(p, (NextUrlPagination, LinkHeaderPagination)):
            if isinstance(p, NextUrlPagination):
                url = p.next.search(body)
            else:
                url = answer.response.links.get("next", {}).get("url")
            if not url:
                return None
            absolute = str(answer.response.url.join(str(url)))
            self._check_new(absolute, "next page URL")
            # The next URL carries its own query string.
            return PageRequest(absolute, {}, self.request.body)
        if isinstance(p, OffsetPagination):
            self._check_progress(raw)
            if not raw:
                return None
            self.offset += len(raw)
            total = self.total = _as_int(p.total.search(body), "total", self.operation) if p.total else None
            if total is not None and self.offset >= total:
                return None
            size = self.limit or self.first_size
            if total is None and size and len(raw) < size:
                return None
            return replace(self.request, params={**self.request.params, p.param: self.offset})
        if isinstance(p, PageNumberPagination):
            self._check_progress(raw)
            if not raw:
                return None
            total_pages = self.total = (
                _as_int(p.total_pages.search(body), "total_pages", self.operation)
                if p.total_pages else None
            )
            if total_pages is not None and self.page - p.start + 1 >= total_pages:
                return None
            if total_pages is None and self.first_size and len(raw) < self.first_size:
                return None
            self.page += 1
            return replace(self.request, params={**self.request.params, p.param: self.page})
        raise TypeError(f"unknown pagination {p!r}")
