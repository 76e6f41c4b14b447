"""The ``default``s of the JSON Schemas, for the builders and the typed model.

A default is written once, in ``schemas/*.schema.json``: the reference docs
and editors read it there, and so does Python, through this module.  The
builders fill a document's missing keys with :meth:`SchemaDefaults.fill`
before reading it; the dataclasses of :mod:`syncd.config._model` take their
field defaults from :meth:`SchemaDefaults.value`.  ``tests/config/
test_defaults.py`` checks that every default in the schemas is what a config
that leaves the key out gets.

Places in a schema are named by JSON pointers in which every ``$ref`` met on
the way is followed (keywords beside a ``$ref`` win over its target's, as in
``docs/generate_reference.py``): ``/$defs/object/properties/list/properties/
method`` is the default of ``method`` in ``#/$defs/listOperation``.

What a pointer yields is worked out once per process and kept, so filling a
document costs a dict merge; the schemas are the ones validation uses
(:func:`syncd._resources.load_schema`, read once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from syncd._resources import load_schema

__all__ = ["SchemaDefaults", "schema_defaults"]

_MAX_REFS = 20  # the schemas' $ref chains are one or two long; this guards against a loop


@dataclass(frozen=True, slots=True)
class _Variant:
    """One ``allOf`` branch ``{if: {properties: {KEY: {const: VALUE}}}, then: …}``:
    the keys of an object discriminated by ``type`` (auth, pagination)."""

    key: str
    value: Any
    key_required: bool  # `if` lists KEY in `required`: an absent KEY does not match
    then: str  # pointer of the branch's `then`


@dataclass(frozen=True, slots=True)
class _Keys:
    # property name -> its default, for the properties that have one; a plain
    # dict, never handed out (fill copies it), because `{**d, **raw}` of a
    # dict is several times faster than of a MappingProxyType
    defaults: dict[str, Any]
    variants: tuple[_Variant, ...]


class SchemaDefaults:
    """The defaults of one schema document, looked up by pointer."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._root = schema
        self._keys: dict[str, _Keys] = {}

    def value(self, pointer: str) -> Any:
        """The ``default`` of the schema at *pointer* (read-only when a mapping).

        A KeyError when it has none: a caller asking for a default the schema
        does not give is a bug to see at import time, not a ``None``.
        """
        node = self._node(pointer)
        if "default" not in node:
            raise KeyError(f"the schema at {pointer or '/'} gives no default")
        return _frozen(node["default"])

    def fill(self, pointer: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """*raw* (an object the schema at *pointer* describes) with every key
        it leaves out that has a default set to that default.

        Only this level is filled (a nested object is filled by its own
        builder, with its own pointer).  Where the object is discriminated
        by an ``allOf`` of ``if``/``then`` on a ``const`` (``type: offset``),
        the defaults of the branch it takes are filled too.  *raw* is not
        changed: documents are cached and shared (see ``_load._checked``).
        """
        keys = self._keys.get(pointer)
        if keys is None:
            keys = self._keys[pointer] = self._collect(pointer)
        filled = {**keys.defaults, **raw}
        for v in keys.variants:
            if (filled[v.key] == v.value) if v.key in filled else not v.key_required:
                filled = self.fill(v.then, filled)
        return filled

    def _collect(self, pointer: str) -> _Keys:
        node = self._node(pointer)
        defaults = {}
        for name, sub in (node.get("properties") or {}).items():
            resolved = self._resolve(sub)
            if "default" in resolved:
                defaults[name] = _frozen(resolved["default"])
        variants = []
        for i, branch in enumerate(node.get("allOf") or ()):
            cond = branch.get("if")
            if not isinstance(cond, Mapping) or "then" not in branch:
                continue
            props = cond.get("properties") or {}
            if len(props) == 1:
                ((key, test),) = props.items()
                if isinstance(test, Mapping) and "const" in test:
                    variants.append(_Variant(
                        key, test["const"], key in (cond.get("required") or ()),
                        f"{pointer}/allOf/{i}/then"))
        return _Keys(defaults, tuple(variants))

    def _node(self, pointer: str) -> Mapping[str, Any]:
        if pointer and not pointer.startswith("/"):
            raise ValueError(f"a schema pointer starts with '/': {pointer!r}")
        node: Any = self._resolve(self._root)
        for token in pointer.split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            node = self._resolve(node[int(token)] if isinstance(node, list) else node[token])
        if not isinstance(node, Mapping):
            raise ValueError(f"{pointer} is not a schema")
        return node

    def _resolve(self, node: Any) -> Any:
        """*node* with its local ``$ref``s followed, keywords beside them kept."""
        for _ in range(_MAX_REFS):
            ref = node.get("$ref") if isinstance(node, Mapping) else None
            if not isinstance(ref, str):
                return node
            if not ref.startswith("#"):
                raise ValueError(f"only local $refs are supported, not {ref!r}")
            target: Any = self._root
            for token in ref[1:].split("/")[1:]:
                target = target[token.replace("~1", "/").replace("~0", "~")]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        raise ValueError("$ref chain too long")


def _frozen(value: Any) -> Any:
    # A compound default (`auth: {type: none}`) is shared by every document
    # that leaves the key out: nobody may change it.
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


@cache
def schema_defaults(kind: str) -> SchemaDefaults:
    """The defaults of ``schemas/KIND.schema.json`` (syncd, connector, integration)."""
    return SchemaDefaults(load_schema(kind))
