"""Batch writes: many creates or updates a request, where the spec declares them.

    results = await c.create_many([fields, …])         Record | ConnectorError each
    results = await c.update_many([(id, fields), …])   Record | None | ConnectorError each

Results come back in input order, one per item.  Items go out in chunks of
the operation's ``max_items``; each item is built as the single operation
builds its body (``item:`` plus each field at its write path, and for an
update the id at ``id_field``).  A chunk of one goes out with the single
operation: the same one request, with nothing to pair and the single
operation's own answer (a 409 naming the existing record, say).

Pairing the answer with the inputs.  APIs do not promise the order of a
batch's results (HubSpot does not), so:

- an update's record is found by its id; or, with ``outcomes:``, the
  answer is one outcome per item in the order sent (Salesforce documents
  its order), each applied or failed with its own message;
- a created record is found, for each input, by the first of the input's
  fields whose normalised value is unique among the chunk's inputs and is
  held by exactly one record of the answer (the email, in practice).  Only
  when no field pairs any record, and the answer has exactly as many records
  as the chunk has inputs, are they paired by position.

When a chunk fails:

- the API refuses it as a whole (HTTP 4xx other than 429: one invalid or
  duplicate record fails the batch, as HubSpot's validation does): each of
  its items is sent alone with ``create`` / ``update``, so one bad record
  does not sink the others; each gets its own result or error;
- HTTP 429 after the retries, a 5xx, or an answer syncd cannot read: every
  item of the chunk gets that error (a 5xx may have applied the batch, so
  it is not sent again);
- a batch update, unlike a batch create, is retried after a timeout or a
  5xx as a PATCH is (setting the same values twice is harmless), although
  it is usually a POST;
- AuthError and TransportError propagate, as from the single operations;
  but for updates only from the first request. Met later, the earlier
  requests are done, and the caller must know which: the error is then the
  result of every item not done (the request that met it and those not
  sent), and the results of the others are kept.

A created record that cannot be paired gets a ResponseError: it was
probably created, so the caller must look it up rather than create it
again.  An updated record missing from the answer's list (a partly applied
batch, HTTP 207) is sent again alone with ``update``, which is safe to
repeat; an answer without a list of records (HTTP 204) means every update
was applied, and each result is None, as from ``update``.

An object without the batch operation is written record by record with the
single operation, so callers always use these functions.

They take the connector as a :class:`Writer`, the part of it they use (a
:class:`~syncd.connector.Connector` is one and passes itself), so that this
module does not import the connector's.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

import httpx

from syncd.config import ObjectSpec, Operation
from syncd.connector._errors import ApiError, AuthError, ConnectorError, ResponseError, TransportError
from syncd.connector._fields import Extractor, FieldValueError, Normaliser, Record
from syncd.connector._http import Sender
from syncd.expr import to_text

T = TypeVar("T")
Built = dict[str, Any] | ConnectorError  # an item body, or why it could not be built


class Writer(Protocol):
    """What batch writes use of a connector: its object and context, its
    request builder and sender, its single writes, and its fields' wire forms
    and extraction."""

    @property
    def object(self) -> ObjectSpec: ...
    @property
    def context(self) -> Mapping[str, Any]: ...
    @property
    def sender(self) -> Sender: ...
    @property
    def extractor(self) -> Extractor: ...

    def request(self, op: Operation, ctx: Mapping[str, Any], body: Any = None) -> httpx.Request: ...
    def label(self, op: Operation) -> str: ...
    def wire_fields(self, fields: Mapping[str, Any]) -> dict[str, Any]: ...
    def write_fields(self, target: dict[str, Any], wire: Mapping[str, Any]) -> dict[str, Any]: ...
    async def create(self, fields: Mapping[str, Any]) -> Record: ...
    async def update(self, record_id: str, fields: Mapping[str, Any]) -> Record | None: ...


async def create_many(c: Writer, items: Sequence[Mapping[str, Any]]) -> list[Record | ConnectorError]:
    op = c.object.operations.get("create_batch")
    if op is None:
        return [await alone(c.create(fields)) for fields in items]
    results: list[Record | ConnectorError] = []
    for chunk in _chunks(items, op.max_items):
        results += await _create_chunk(c, op, chunk)
    return results


async def update_many(
    c: Writer, items: Sequence[tuple[str, Mapping[str, Any]]],
) -> list[Record | None | ConnectorError]:
    op = c.object.operations.get("update_batch")
    if op is None:
        return await updates_in_turn(c, items)
    return await until_unreachable([partial(_update_chunk, c, op, chunk) for chunk in _chunks(items, op.max_items)],
                                   len(items))


async def updates_in_turn(
    c: Writer, items: Sequence[tuple[str, Mapping[str, Any]]],
) -> list[Record | None | ConnectorError]:
    """Each update alone, in turn (see :func:`until_unreachable`)."""
    async def one(rid: str, fields: Mapping[str, Any]) -> list[Record | None | ConnectorError]:
        return [await alone(c.update(rid, fields))]
    return await until_unreachable([partial(one, rid, fields) for rid, fields in items], len(items))


R = TypeVar("R")


async def until_unreachable(parts: Sequence[Callable[[], Awaitable[list[R | ConnectorError]]]],
                            total: int) -> list[R | ConnectorError]:
    """The results of sending *parts* in turn (*total* items in all). An AuthError or a
    TransportError (the app refuses us, or cannot be reached) propagates from the first part,
    when nothing was done; met later, it is the result of every item not done, so that the
    caller keeps the results of those done (writes that landed)."""
    results: list[R | ConnectorError] = []
    for part in parts:
        try:
            results += await part()
        except (AuthError, TransportError) as e:
            if not results:
                raise
            return results + [e] * (total - len(results))
    return results


# --- one chunk ------------------------------------------------------------------


async def _create_chunk(
    c: Writer, op: Operation, chunk: Sequence[Mapping[str, Any]],
) -> list[Record | ConnectorError]:
    built = [_build(c, op, fields) for fields in chunk]
    results: list[Any] = [b if isinstance(b, ConnectorError) else None for b in built]
    ready = [i for i, b in enumerate(built) if not isinstance(b, ConnectorError)]
    if not ready:
        return results
    sent = await _send(c, op, [built[i] for i in ready]) if len(ready) > 1 else _Refused()
    if isinstance(sent, _Refused):
        for i in ready:
            results[i] = await alone(c.create(chunk[i]))
    elif isinstance(sent, ConnectorError):
        for i in ready:
            results[i] = sent
    else:
        records = _records(c, op, sent) or []
        paired = pair_created([chunk[i] for i in ready], records, c.extractor.normaliser)
        for n, i in enumerate(ready):
            results[i] = paired.get(n) or ResponseError(
                "the batch answer has no record that pairs with this input (by a field whose value is "
                "unique in the batch); it was probably created: look it up before creating it again",
                operation=c.label(op))
    return results


async def _update_chunk(
    c: Writer, op: Operation, chunk: Sequence[tuple[str, Mapping[str, Any]]],
) -> list[Record | None | ConnectorError]:
    built = [_build(c, op, fields, rid) for rid, fields in chunk]
    results: list[Record | None | ConnectorError] = [b if isinstance(b, ConnectorError) else None for b in built]
    ready = [i for i, b in enumerate(built) if not isinstance(b, ConnectorError)]
    if not ready:
        return results
    sent = await _send(c, op, [built[i] for i in ready]) if len(ready) > 1 else _Refused()
    if isinstance(sent, _Refused):
        again = ready
    elif isinstance(sent, ConnectorError):
        for i in ready:
            results[i] = sent
        return results
    elif op.outcomes is not None:
        outcomes = _outcomes(c, op, sent, len(ready))
        if outcomes is None:
            again = ready  # not one outcome per item: an update is safe to send again
        else:
            for i, outcome in zip(ready, outcomes):
                results[i] = outcome
            return results
    elif (records := _records(c, op, sent)) is None:  # applied; no records to read back (HTTP 204)
        return results
    else:
        by_id: dict[str, Record] = {}
        for record in records:
            by_id.setdefault(record.id, record)
        again = []
        for i in ready:
            answered = by_id.get(str(chunk[i][0]))
            if answered is None:
                again.append(i)  # not in the answer: an update is safe to send again
            else:
                results[i] = answered
    for i in again:
        rid, fields = chunk[i]
        results[i] = await alone(c.update(rid, fields))
    return results


# --- building, sending, reading ---------------------------------------------------


def _build(c: Writer, op: Operation, fields: Mapping[str, Any], record_id: str | None = None) -> Built:
    try:
        wire = c.wire_fields(fields)
    except ConnectorError as e:  # an unknown or read-only field: this item only
        return ConnectorError(e.message, operation=c.label(op))
    item = op.item(c.context) if op.item is not None else {}
    item = c.write_fields(item if isinstance(item, dict) else {}, wire)
    if op.id_field is not None:
        op.id_field.set(item, record_id)
    return item


class _Refused:
    """Send the chunk's items one by one: the API refused the batch as a whole (or it has one item)."""


async def _send(c: Writer, op: Operation, items: Sequence[Built]) -> Any:
    """The decoded answer; _Refused; or the error every item of the chunk gets."""
    ctx = {**c.context, "records": items}
    body = op.body(ctx) if op.body is not None else items
    request = c.request(op, ctx, body)
    try:
        # An update sets values: sending it twice is harmless, so a batch
        # update is retried after a timeout or a 5xx as a PATCH is, although
        # it is a POST.  A batch create is not: it could create twice.
        answer = await c.sender.send(c.label(op), request, read=op.name == "update_batch")
    except (AuthError, TransportError):
        raise
    except ApiError as e:
        if 400 <= e.status < 500 and e.status != 429:
            return _Refused()
        return e
    except ConnectorError as e:
        return e
    return answer.body


def _records(c: Writer, op: Operation, body: Any) -> list[Record] | None:
    """The readable records of a batch answer (an unreadable one pairs with nothing);
    None when the answer has no list of records where ``records`` says."""
    assert op.records is not None
    raw = op.records.search(body) if body is not None else None
    if not isinstance(raw, list):
        return None
    # Column by column, as a page is read (twice as fast: an initial sync's
    # every created record comes back here); record by record when one is
    # unreadable, to leave that one out.
    whole = c.extractor.page(raw)
    if whole is not None:
        return whole
    records = []
    for item in raw:
        try:
            records.append(c.extractor.record(item))
        except FieldValueError:
            continue
    return records


def _outcomes(c: Writer, op: Operation, body: Any, count: int) -> list[None | ConnectorError] | None:
    """Each item's outcome, read in the order sent (``outcomes:``): None where
    it was applied, else its error; None when the answer has no list of
    *count* outcomes where ``records`` says."""
    assert op.records is not None and op.outcomes is not None
    raw = op.records.search(body) if body is not None else None
    if not isinstance(raw, list) or len(raw) != count:
        return None
    out: list[None | ConnectorError] = []
    for item in raw:
        if op.outcomes.ok.search(item) is True:
            out.append(None)
            continue
        message = op.outcomes.error.search(item) if op.outcomes.error is not None else None
        text = to_text(message) if message not in (None, "", []) else json.dumps(item)[:300]
        out.append(ConnectorError(f"the batch did not apply this record: {text}", operation=c.label(op)))
    return out


# --- pairing ----------------------------------------------------------------------


def pair_created(
    inputs: Sequence[Mapping[str, Any]], records: Sequence[Record], normaliser: Callable[[str], Normaliser],
) -> dict[int, Record]:
    """Input position -> its created record (see the module docstring for the rule).

    A field's column (each input's key, how many inputs have each key, the
    records holding each) is built the first time an input consults that
    field: an input is paired by its first field that pairs (the email, in
    practice), so the fields after it are never normalised nor looked up
    (they were, for every input and every record: an initial sync's batch
    pairing cost as much as planning its creates)."""
    columns: dict[str, _Column] = {}
    paired: dict[int, Record] = {}
    claimed: set[int] = set()
    for i, fields in enumerate(inputs):
        for name in fields:  # the input's fields, in the order it gives them
            column = columns.get(name)
            if column is None:
                column = columns[name] = _column(name, inputs, records, normaliser)
            key = column.keys[i]
            if key is None:
                continue
            holders = column.held.get(key, ())
            if column.counts[key] == 1 and len(holders) == 1 and holders[0] not in claimed:
                claimed.add(holders[0])
                paired[i] = records[holders[0]]
                break
    if not paired and len(records) == len(inputs):
        return dict(enumerate(records))
    return paired


class _Column:
    """One field across a batch: each input's key (None: none), how many inputs have each key,
    the records that hold each."""

    __slots__ = ("keys", "counts", "held")

    def __init__(self, keys: list[Any], counts: dict[Any, int], held: dict[Any, list[int]]) -> None:
        self.keys, self.counts, self.held = keys, counts, held


def _column(name: str, inputs: Sequence[Mapping[str, Any]], records: Sequence[Record],
            normaliser: Callable[[str], Normaliser]) -> _Column:
    normalise = normaliser(name)
    keys: list[Any] = []
    counts: dict[Any, int] = {}
    for fields in inputs:
        key = None
        if name in fields:
            try:
                key = _hashable(normalise(fields[name]))
            except (FieldValueError, TypeError, ValueError):
                key = None
        keys.append(key)
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    held: dict[Any, list[int]] = {}
    for n, record in enumerate(records):
        value = _hashable(record.fields.get(name))
        if value is not None:
            held.setdefault(value, []).append(n)
    return _Column(keys, counts, held)


def _hashable(value: Any) -> Any:
    """A value usable as a pairing key, or None (blank, or a mapping)."""
    if type(value) is str:  # the common key (an email): no comparisons, no hash
        return value or None
    if value is None or value == [] or value == "":
        return None
    if isinstance(value, list):
        value = tuple(value)
    try:
        hash(value)
    except TypeError:
        return None
    return value


# --- helpers ----------------------------------------------------------------------


def _chunks(items: Sequence[T], size: int | None) -> Iterator[Sequence[T]]:
    size = size or len(items) or 1
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def alone(call: Awaitable[T]) -> T | ConnectorError:
    """One single write; its ConnectorError is its result, but not AuthError or TransportError."""
    try:
        return await call
    except (AuthError, TransportError):
        raise
    except ConnectorError as e:
        return e
