"""HTTP clients kept from cycle to cycle (the daemon), and parsed URLs kept too.

A connector's ``httpx.AsyncClient`` (its auth, its headers, its timeouts,
its share of the account's kept transport) depends only on the connector
spec and the settings; building one costs about half of making a connector,
and the daemon made two connectors a cycle. :class:`KeptClients` keeps the
idle ones, by account and settings, for the next connector of the same spec
and settings to take:

* a client is used by one connector at a time (taken when it is made, given
  back when it closes), so nothing of one cycle leaks into a cycle running
  beside it; its cookie jar is a new one each time it is taken, as a new
  client's would be;
* nothing that changes from cycle to cycle is in the client: the write
  guard of the cycle travels with each write request (see the connector's
  ``_WRITE_MARK``), and a refreshed OAuth token lives in the account's
  shared token state, not in the client;
* a spec that changed (a reload) is another object: the clients kept for
  the old one are dropped, not reused (:meth:`KeptClients.take`), and a
  reload forgets them all (:meth:`KeptClients.clear`);
* a client holds no socket of its own (its transport is the account's kept
  one, closed by the registry when the daemon stops), so a client dropped
  or forgotten needs no closing.

A no-change poll asks the same URL each cycle (its cursor has not moved):
:func:`parsed_url` keeps the last URLs parsed with their query, as encoding
the query and httpx's parsing of the URL (checking every character) cost
about a tenth of a cycle.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["KeptClients", "Prepared", "parsed_url"]

# Idle clients kept for one account and settings: as many as the cycles of
# that account that ran at once (a pool, not a cache of every client made).
_MAX_IDLE = 8
# URLs parsed kept: two a no-change cycle (one a side), so the last round of
# 2,000 integrations; a URL is a few hundred bytes.
_URLS_KEPT = 4096

ClientKey = tuple[str, str]  # the account's key, the settings as text


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a connector makes from its spec and settings alone, the same for
    every cycle until a reload: kept by :meth:`KeptClients.keep_prepared` (the
    settings with their defaults, the base URL and headers rendered, the
    account's key, and the extractor of the wanted fields, read-only once made).
    Nobody changes a connector's settings after it is made."""

    settings: dict[str, Any]
    base_url: str
    headers: dict[str, str]
    account_key: str
    settings_key: str  # the settings as text (the client's key)
    extractor: Any = None  # the Extractor (None: not kept, as one with lookup tables of its own)


# (the spec's, the given settings' identities), the object, the fields wanted
_PreparedKey = tuple[int, int, str, frozenset[str] | None]


def parsed_url(url: str, params: dict[str, Any] | None = None) -> httpx.URL:
    """*url* with the query *params* (none: as it is), parsed by httpx; one
    object serves every request to it (a URL is immutable)."""
    if not params:
        return _parsed(url, ())
    try:
        # Each value's type in the key: True and 1 (or 1.0) are equal keys, not one query.
        return _parsed(url, tuple((name, type(value), value) for name, value in params.items()))
    except TypeError:  # a value that is a list: not a key
        return _with_query(url, params)


@functools.lru_cache(maxsize=_URLS_KEPT)
def _parsed(url: str, params: tuple[tuple[str, type, Any], ...]) -> httpx.URL:
    return _with_query(url, {name: value for name, _, value in params}) if params else httpx.URL(url)


def _with_query(url: str, params: dict[str, Any]) -> httpx.URL:
    if "?" in url:  # a query in the path already: as httpx does it (the params replace it)
        return httpx.URL(url, params=params)
    # The query appended as httpx would encode it: one parse of the whole URL, not two.
    return httpx.URL(f"{url}?{httpx.QueryParams(params)}")


class KeptClients:
    """Idle clients by account and settings, each for the spec it was built from."""

    def __init__(self) -> None:
        self._idle: dict[ClientKey, tuple[object, list[httpx.AsyncClient]]] = {}
        # By the spec and settings objects (held, so their ids are not reused until a reload clears it).
        self._prepared: dict[_PreparedKey, tuple[object, object, Prepared]] = {}

    def prepared(self, spec: object, object_name: str, settings: Mapping[str, Any],
                 fields: frozenset[str] | None) -> Prepared | None:
        """What a connector of *spec*'s *object_name* with *settings* (the very
        objects) reading *fields* made before, or None."""
        entry = self._prepared.get((id(spec), id(settings), object_name, fields))
        if entry is None or entry[0] is not spec or entry[1] is not settings:
            return None
        return entry[2]

    def keep_prepared(self, spec: object, object_name: str, settings: Mapping[str, Any],
                      fields: frozenset[str] | None, prepared: Prepared) -> None:
        self._prepared[(id(spec), id(settings), object_name, fields)] = (spec, settings, prepared)

    def take(self, key: ClientKey, spec: object) -> httpx.AsyncClient | None:
        """An idle client built for *spec* (the very object) under *key*, or None."""
        entry = self._idle.get(key)
        if entry is None:
            return None
        if entry[0] is not spec:  # built from another spec (before a reload): not this one's
            del self._idle[key]
            return None
        return entry[1].pop() if entry[1] else None

    def give_back(self, key: ClientKey, spec: object, client: httpx.AsyncClient) -> None:
        """*client*, built for *spec*, is idle again (kept unless enough are)."""
        entry = self._idle.get(key)
        if entry is None or entry[0] is not spec:
            entry = self._idle[key] = (spec, [])
        if len(entry[1]) < _MAX_IDLE:
            entry[1].append(client)

    def clear(self) -> None:
        """Forget every idle client (a reload: specs and settings may have changed)."""
        self._idle.clear()
        self._prepared.clear()

    def __len__(self) -> int:
        return sum(len(clients) for _, clients in self._idle.values())
