"""Lookups: fields an API gives as ids of records kept elsewhere.

Intercom lists a contact's tags as tag ids, Pipedrive a person's labels as
label ids; what a user maps, compares and writes is the name. A field with
``lookup: {object: tags, field: name}`` is translated through a
:class:`LookupTable`: the ``tags`` object's records, read once per
connector (each cycle opens its own), id → name on read and name → id on
write.

A record read after a tag was added in the app names an id the table has
not seen: the table is read again, once for those ids (an id still unknown
then is a record error that names it, not a reload on every page). A name
written that the app lacks is created through the lookup object's
``create`` when it has one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Protocol

from syncd.config import OperationName
from syncd.connector._errors import RecordError
from syncd.connector._fields import FieldValueError, Normaliser, Record
from syncd.expr import Expr, ExprFailure


class _Page(Protocol):
    raw: list[Any]


class LookupSource(Protocol):
    """What a table reads and creates through: the lookup object's connector."""

    def list(self, *, read_ahead: bool = True) -> AsyncIterator[_Page]: ...
    async def create(self, fields: Mapping[str, Any]) -> Record: ...
    def extract(self, raw: Any, operation: str = "") -> Record: ...
    @property
    def can_create(self) -> bool: ...
    @property
    def raw_id(self) -> Expr: ...
    def label(self, op: OperationName) -> str: ...


def _id_key(value: Any) -> str:
    # ids come as numbers or text (Pipedrive's label ids are numbers in a
    # person and in the label list alike); the table keys them as text.
    return value if type(value) is str else str(value)


class LookupTable:
    """The ids and names of one lookup object's records."""

    def __init__(self, source: LookupSource, field: str, normalise: Normaliser) -> None:
        self.source = source
        self.field = field
        self._normalise = normalise  # the name field's: names compare as syncd stores them
        self._names: dict[str, Any] = {}  # by id, as text
        self._ids: dict[Any, Any] = {}  # name → the id as the API gives it (a number stays a number)
        self._loaded = False
        self._reread_for: set[str] = set()  # ids a second read did not find: not read again for them

    async def load(self) -> None:
        names: dict[str, Any] = {}
        ids: dict[Any, Any] = {}
        async for page in self.source.list():
            for raw in page.raw:
                try:
                    record = self.source.extract(raw, self.source.label("list"))
                except RecordError:  # reported when a record names it, as an unknown id
                    continue
                name = names[record.id] = record.fields.get(self.field)
                if name is not None:
                    ids[self._normalise(name)] = self.source.raw_id.search(raw)
        self._names, self._ids = names, ids
        self._loaded = True

    async def cover(self, ids: Iterable[Any]) -> None:
        """Make sure every id is in the table, reading it (again) if needed."""
        if not self._loaded:
            await self.load()
        unknown = {k for i in ids if (k := _id_key(i)) not in self._names} - self._reread_for
        if unknown:
            self._reread_for |= unknown
            await self.load()

    def name(self, value: Any) -> Any:
        """The name of an id, or of each id of a list (read side)."""
        if value is None:
            return None
        if type(value) is list:
            return [self._one_name(v) for v in value]
        return self._one_name(value)

    def _one_name(self, value: Any) -> Any:
        try:
            return self._names[_id_key(value)]
        except KeyError:
            raise FieldValueError(
                f"id {value!r} is not among the {self.source.label('list')} records") from None

    def known_ids(self, value: Any) -> Any:
        """The ids of names read from the app (write requests' ``previous``):
        the table named them, so it has them; a name it lacks is left out."""
        if type(value) is list:
            return [self._ids[k] for v in value if (k := self._normalise(v)) in self._ids]
        return self._ids.get(self._normalise(value))

    async def ids(self, value: Any, field: str) -> Any:
        """The id of a name, or of each name of a list (write side); a name
        the app lacks is created when the lookup object can be created."""
        if not self._loaded:
            await self.load()
        if value is None:
            return None
        if type(value) is list:
            return [await self._one_id(v, field) for v in value]
        return await self._one_id(value, field)

    async def _one_id(self, name: Any, field: str) -> Any:
        key = self._normalise(name)
        if key in self._ids:
            return self._ids[key]
        if not self.source.can_create:
            known = ", ".join(sorted(str(n) for n in self._names.values() if n is not None)[:20])
            raise RecordError(
                f"field {field!r}: no {self.field} {name!r} among the {self.source.label('list')} records, "
                f"and the spec cannot create one (known: {known or 'none'})",
                operation=self.source.label("create"), field=field)
        created = await self.source.create({self.field: name})
        # The id as the API gives it is in the created record's raw form,
        # which a create does not keep: read the table again for it.
        await self.load()
        if key not in self._ids:
            raise RecordError(f"field {field!r}: {self.source.label('create')} created {name!r} "
                              f"(id {created.id}), but the list does not show it",
                              operation=self.source.label("create"), field=field)
        return self._ids[key]


def ids_in(read: Expr, raws: Iterable[Any]) -> Iterable[Any]:
    """Every id a lookup field's read expression finds in raw records."""
    for raw in raws:
        try:
            value = read.search(raw)
        except ExprFailure:  # the record is refused when it is read, with the reason
            continue
        if type(value) is list:
            yield from (v for v in value if v is not None)
        elif value is not None:
            yield value
