"""Helpers for the connector tests: write a spec as YAML, load it, point it at a SampleApp.

Every test talks to a real :class:`~syncd.sampleapp.SampleApp` over
127.0.0.1; nothing is mocked.  A spec is written the way a connector author
writes one (a YAML file, loaded and validated by ``load_connector_file``),
from a small base document that each test changes where its story needs to.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd._secret import Secret
from syncd.config import ConnectorSpec, load_connector_file
from syncd.connector import Connector
from syncd.sampleapp import SampleApp

# Fast retries everywhere: a retry test should not sleep for seconds.
FAST_RETRY = {"max_attempts": 4, "backoff_initial": 0.01, "backoff_max": 0.05}

CONTACT_FIELDS: dict[str, Any] = {
    "email": {"path": "email", "type": "email"},
    "first_name": {"path": "first_name", "type": "string"},
    "last_name": {"path": "last_name", "type": "string"},
    "phone": {"path": "phone", "type": "phone"},
    "tags": {"path": "tags", "type": "tags"},
    "plan": {"path": "custom_fields.plan", "type": "string"},
    "score": {"path": "custom_fields.score", "type": "integer"},
    "opted_in": {"path": "custom_fields.opted_in", "type": "boolean"},
}


def base_doc() -> dict[str, Any]:
    """The sample app's contacts, read by cursor; every operation declared."""
    return {
        "connector": "testapp",
        "title": "Sample app under test",
        "base_url": "{{ settings.url }}",
        "settings": {
            "url": {"description": "where the sample app listens"},
            "token": {"description": "the app's secret", "secret": True},
        },
        "auth": {"type": "bearer", "token": "{{ settings.token }}"},
        "timeout": 5,
        "retry": dict(FAST_RETRY),
        "objects": {
            "contacts": {
                "id": "id",
                "updated_at": "updated_at",
                "fields": copy.deepcopy(CONTACT_FIELDS),
                "list": {
                    "path": "/cursor/contacts",
                    "params": {"limit": 7},
                    "records": "results",
                    "pagination": {"type": "cursor", "cursor": "paging.next.after", "param": "after"},
                },
                "changes": {
                    "path": "/cursor/contacts",
                    "params": {"limit": 7, "updated_after": "{{ since }}"},
                    "records": "results",
                    "pagination": {"type": "cursor", "cursor": "paging.next.after", "param": "after"},
                },
                "get": {"path": "/contacts/{{ id }}"},
                "find": {"path": "/contacts/search", "params": {"email": "{{ value }}"}, "records": "results"},
                "create": {"method": "POST", "path": "/contacts"},
                "update": {"method": "PATCH", "path": "/contacts/{{ id }}"},
                "delete": {"method": "DELETE", "path": "/contacts/{{ id }}"},
            }
        },
    }


def merge(into: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``changes`` into ``into``; a value of None removes the key."""
    for key, value in changes.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
    return into


SpecMaker = Callable[..., ConnectorSpec]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_spec(tmp_path: Path) -> SpecMaker:
    """``make_spec(auth={...}, contacts={"list": {...}})``: write the YAML, load it.

    Top-level keyword arguments are merged into the base document (``auth=``
    replaces the auth block);
    ``contacts=`` is merged into ``objects.contacts`` (so ``contacts={"list":
    {"pagination": None}}`` drops a key).  ``operations={"changes": {...}}``
    replaces operations as a whole, ``replace_list=`` the list operation.
    """
    counter = itertools.count()

    def make(*, contacts: Mapping[str, Any] | None = None,
             replace_list: Mapping[str, Any] | None = None,
             operations: Mapping[str, Mapping[str, Any]] | None = None, **changes: Any) -> ConnectorSpec:
        auth = changes.pop("auth", None)
        doc = merge(base_doc(), changes)
        if auth is not None:  # an auth block is replaced, not merged: its keys depend on its type
            doc["auth"] = copy.deepcopy(dict(auth))
        obj = doc["objects"]["contacts"]
        if contacts:
            merge(obj, contacts)
        for name, op in {**(operations or {}), **({"list": replace_list} if replace_list else {})}.items():
            obj[name] = copy.deepcopy(dict(op))
        path = tmp_path / f"testapp-{next(counter)}.yaml"
        path.write_text("# yaml-language-server: $schema=../schemas/connector.schema.json\n"
                        + yaml.safe_dump(doc, sort_keys=False))
        return load_connector_file(path)

    return make


@pytest.fixture
def connect() -> Callable[..., Connector]:
    """``connect(spec, app)``: a Connector for the contacts of ``app``.

    Use it as ``async with connect(spec, app) as c:`` so its client is
    closed.  The token is given as a Secret, as an integration passes it;
    ``token=`` overrides it (wrong credentials), ``settings=`` adds more,
    other keywords go to :class:`Connector`.
    """

    def make(spec: ConnectorSpec, app: SampleApp, token: str | None = None, **kwargs: Any) -> Connector:
        settings: dict[str, Any] = {
            "url": app.url, "token": Secret(app.token if token is None else token, "${env:TOKEN}")}
        settings.update(kwargs.pop("settings", {}))
        return Connector(spec, "contacts", settings, **kwargs)

    return make
