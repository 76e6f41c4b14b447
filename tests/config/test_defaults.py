"""Defaults are written once, in the schemas, and Python gets them from there.

A sysadmin reads a default in the reference docs (generated from the
schemas) and leaves the key out; syncd must then do exactly that.  These
tests write the smallest config that leaves out every key that has a
default, load it, and check each default in the schemas against the typed
objects: a default changed in a schema and not in Python, or the reverse,
fails here.  Then: a description that says "Default 10." says the
schema's default, dataclass defaults agree with what loading gives, and no
builder restates a default as a ``.get(key, literal)``.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from syncd._resources import SCHEMA_KINDS, load_schema
from syncd.config import (
    Action,
    Config,
    ConnectorSpec,
    DaemonSettings,
    Deletions,
    FieldMapping,
    Integration,
    NoAuth,
    OAuth2Auth,
    Operation,
    PageNumberPagination,
    RetrySpec,
    SettingSpec,
    SinglePage,
    WebhookRegister,
    WebhookSpec,
    load_config,
    parse_duration,
    parse_schedule,
)
from syncd.config import _load
from syncd.config._defaults import SchemaDefaults, schema_defaults

CONFIG_PACKAGE = Path(__file__).resolve().parents[2] / "syncd" / "config"

# Every key that has a default is left out below, unless the schema requires
# it or a variant must be chosen to reach the default (auth and pagination
# types, whose own keys have defaults).
MINIMAL = {
    "syncd.yaml": "# every daemon setting left to its default\n",
    "connectors.d/app.yaml": """\
        connector: app
        title: App
        base_url: https://app.example
        settings:
          token: {description: An access token}
        auth: {type: bearer, token: "{{ settings.token }}"}
        objects:
          contacts:
            fields:
              email: {path: email}
            list: {path: /contacts}
            changes: {path: /changes, pagination: {type: offset}}
            find: {path: /search, pagination: {type: page_number}}
            get: {path: "/contacts/{{ id }}"}
            create: {path: /contacts}
            update: {path: "/contacts/{{ id }}"}
            create_batch: {path: /contacts/batch, max_items: 100}
            update_batch: {path: /contacts/batch, max_items: 100}
            delete: {path: "/contacts/{{ id }}"}
    """,
    "connectors.d/hooks.yaml": """\
        connector: hooks
        title: Hooks
        base_url: https://hooks.example
        settings:
          key: {description: The webhook signing key, secret: true}
        objects:
          contacts:
            fields:
              email: {path: email}
              tags: {read: tags, write_request: {path: "/contacts/{{ id }}/tags"}}
            list: {path: /contacts}
        webhooks:
          verify: {secret: "{{ settings.key }}", header: X-Signature, timestamp: {header: X-Timestamp}}
          id: id
          register:
            create: {path: /hooks}
            list: {path: /hooks}
            delete: {path: "/hooks/{{ id }}"}
    """,
    "connectors.d/bare.yaml": """\
        connector: bare
        title: Bare
        base_url: https://bare.example
        objects:
          contacts:
            fields:
              email: {path: email}
            list: {path: /contacts}
    """,
    "connectors.d/kids.yaml": """\
        connector: kids
        title: Kids
        base_url: https://kids.example
        objects:
          contacts: {fields: {email: {path: email}}, list: {path: /contacts}}
          notes:
            parent: contacts
            fields: {body: {path: body}}
            list: {path: "/contacts/{{ parent_id }}/notes"}
            create: {path: "/contacts/{{ parent_id }}/notes"}
    """,
    "connectors.d/basic.yaml": """\
        connector: basic
        title: Basic
        base_url: https://basic.example
        auth: {type: basic, username: me}
        objects: {contacts: {fields: {email: {path: email}}, list: {path: /contacts}}}
    """,
    "connectors.d/client.yaml": """\
        connector: client
        title: Client
        base_url: https://client.example
        auth: {type: oauth2_client_credentials, token_url: https://client.example/token,
               client_id: id, client_secret: secret}
        objects: {contacts: {fields: {email: {path: email}}, list: {path: /contacts}}}
    """,
    "connectors.d/refresh.yaml": """\
        connector: refresh
        title: Refresh
        base_url: https://refresh.example
        auth: {type: oauth2_refresh_token, token_url: https://refresh.example/token,
               client_id: id, client_secret: secret, refresh_token: token}
        objects: {contacts: {fields: {email: {path: email}}, list: {path: /contacts}}}
    """,
    "integrations.d/minimal.yaml": """\
        integration: minimal
        left: {connector: bare, object: contacts}
        right: {connector: bare, object: contacts}
        match: {left: email, right: email}
        fields:
          - {left: email, right: email}
    """,
    "integrations.d/parenting.yaml": """\
        integration: parenting
        left: {connector: kids, object: contacts}
        right: {connector: kids, object: contacts}
        match: {left: email, right: email}
        fields:
          - {left: email, right: email}
        children:
          - {left: notes, right: notes, fields: [{left: body, right: body}]}
    """,
    "integrations.d/deleting.yaml": """\
        integration: deleting
        left: {connector: app, object: contacts, settings: {token: "${env:TOKEN}"}}
        right: {connector: app, object: contacts, settings: {token: "${env:TOKEN}"}}
        match: {left: email, right: email}
        fields:
          - {left: email, right: email}
        deletions: {from: left, then: delete}
    """,
}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    root = tmp_path_factory.mktemp("minimal")
    for name, text in MINIMAL.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    with pytest.MonkeyPatch.context() as mp:  # only the specs above, none shipped
        mp.setattr(_load, "shipped_connectors_dir", lambda: root / "none")
        return load_config(root, environ={"TOKEN": "t"})


# --------------------------------------------------------------------------- every default in the schemas

# Where each default in the schemas (the pointer of the schema holding
# `default`, $refs not followed) shows in the typed config, and how a schema
# value becomes a typed one where it is parsed.  Each getter gives every
# place the default shows (a shared $def shows in several).


def _ops(c: Config) -> Mapping[str, Operation]:
    return c.connectors["app"].objects["contacts"].operations


def _methods(*names: str) -> Callable[[Config], list[Any]]:
    return lambda c: [_ops(c)[n].method for n in names]


def _pagination(name: str) -> Any:
    return lambda c: _ops(c)[name].pagination


def _oauth(c: Config) -> list[OAuth2Auth]:
    auths = [c.connectors[name].auth for name in ("client", "refresh")]
    assert all(isinstance(a, OAuth2Auth) for a in auths)
    return auths  # type: ignore[return-value]


_HOOKS = "/properties/webhooks/properties"


def _hooks(c: Config) -> WebhookSpec:
    spec = c.connectors["hooks"].webhooks
    assert spec is not None
    return spec


def _register(c: Config) -> WebhookRegister:
    register = _hooks(c).register
    assert register is not None
    return register


def _same(value: Any) -> Any:
    return value


def _typed_as(value: Mapping[str, Any]) -> Any:
    """A `{type: …}` default as the object it builds (`{type: none}`: NoAuth())."""
    return {"none": NoAuth(), "single": SinglePage()}[value["type"]]


Typed = tuple[Callable[[Config], list[Any]], Callable[[Any], Any]]

TYPED: dict[tuple[str, str], Typed] = {
    # syncd.yaml
    ("syncd", "/properties/metrics/properties/listen"): (lambda c: [c.daemon.metrics_listen], _same),
    ("syncd", "/properties/metrics/properties/enabled"): (lambda c: [c.daemon.metrics_enabled], _same),
    ("syncd", "/properties/webhooks/properties/listen"): (lambda c: [c.daemon.webhooks_listen], _same),
    ("syncd", "/properties/webhooks/properties/enabled"): (lambda c: [c.daemon.webhooks_enabled], _same),
    ("syncd", "/properties/webhooks/properties/max_body_bytes"):
        (lambda c: [c.daemon.webhooks_max_body_bytes], _same),
    ("syncd", "/properties/log/properties/level"): (lambda c: [c.daemon.log_level], _same),
    ("syncd", "/properties/log/properties/format"): (lambda c: [c.daemon.log_format], _same),
    ("syncd", "/properties/cluster/properties/lease_seconds"): (lambda c: [c.daemon.cluster_lease_seconds], _same),
    ("syncd", "/properties/state/properties/timeout"): (lambda c: [c.daemon.state_timeout], _same),
    ("syncd", "/properties/reload/properties/quiet_seconds"): (lambda c: [c.daemon.reload_quiet_seconds], _same),
    ("syncd", "/properties/reload/properties/max_seconds"): (lambda c: [c.daemon.reload_max_seconds], _same),
    ("syncd", "/properties/budgets/properties/bulk_below_percent"):
        (lambda c: [c.daemon.budgets.bulk_below_percent], _same),
    ("syncd", "/properties/budgets/properties/scheduled_below_percent"):
        (lambda c: [c.daemon.budgets.scheduled_below_percent], _same),
    # connector specs
    ("connector", "/properties/rate_limit/properties/quota/properties/window"):
        (lambda c: [c.connectors["bare"].rate_limit.quota.window_seconds], parse_duration),
    ("connector", "/properties/rate_limit/properties/quota/properties/reset"):
        (lambda c: [c.connectors["bare"].rate_limit.quota.reset], _same),
    ("connector", "/properties/timeout"): (lambda c: [c.connectors["bare"].timeout], _same),
    ("connector", "/properties/retry/properties/max_attempts"):
        (lambda c: [c.connectors["bare"].retry.max_attempts], _same),
    ("connector", "/properties/retry/properties/backoff_initial"):
        (lambda c: [c.connectors["bare"].retry.backoff_initial], _same),
    ("connector", "/properties/retry/properties/backoff_max"):
        (lambda c: [c.connectors["bare"].retry.backoff_max], _same),
    ("connector", "/$defs/setting/properties/secret"):
        (lambda c: [c.connectors["app"].settings["token"].secret], _same),
    ("connector", "/$defs/setting/properties/required"):
        (lambda c: [c.connectors["app"].settings["token"].required], _same),
    ("connector", "/$defs/setting/properties/type"):
        (lambda c: [c.connectors["app"].settings["token"].type], _same),
    ("connector", "/$defs/auth"): (lambda c: [c.connectors["bare"].auth], _typed_as),
    ("connector", "/$defs/authBasic/properties/password"):
        (lambda c: [c.connectors["basic"].auth.password.source], _same),  # type: ignore[union-attr]
    ("connector", "/$defs/authOAuth2ClientCredentials/properties/client_auth"):
        (lambda c: [_oauth(c)[0].client_auth], _same),
    ("connector", "/$defs/authOAuth2RefreshToken/properties/client_auth"):
        (lambda c: [_oauth(c)[1].client_auth], _same),
    ("connector", "/$defs/object/properties/id"):
        (lambda c: [c.connectors["app"].objects["contacts"].id.source], _same),
    ("connector", "/$defs/listOperation/properties/method"): (_methods("list"), _same),
    ("connector", "/$defs/changesOperation/properties/method"): (_methods("changes"), _same),
    ("connector", "/$defs/getOperation/properties/method"): (_methods("get"), _same),
    ("connector", "/$defs/findOperation/properties/method"): (_methods("find"), _same),
    ("connector", "/$defs/createOperation/properties/method"): (_methods("create"), _same),
    ("connector", "/$defs/updateOperation/properties/method"): (_methods("update"), _same),
    ("connector", "/$defs/updateOperation/properties/read_first"):
        (lambda c: [_ops(c)["update"].read_first], _same),
    ("connector", "/$defs/createBatchOperation/properties/method"): (_methods("create_batch"), _same),
    ("connector", "/$defs/updateBatchOperation/properties/method"): (_methods("update_batch"), _same),
    ("connector", "/$defs/deleteOperation/properties/method"): (_methods("delete"), _same),
    ("connector", "/$defs/fieldRequest/properties/method"):
        (lambda c: [c.connectors["hooks"].objects["contacts"].fields["tags"].requests[0].method], _same),
    ("connector", "/$defs/updateBatchOperation/properties/id_field"):
        (lambda c: [_ops(c)["update_batch"].id_field.source], _same),  # type: ignore[union-attr]
    ("connector", "/$defs/records"): (lambda c: [
        _ops(c)[n].records.source  # type: ignore[union-attr]
        for n in ("list", "changes", "find", "create_batch", "update_batch")], _same),
    ("connector", "/$defs/record"):
        (lambda c: [_ops(c)[n].record.source for n in ("get", "create", "update")], _same),  # type: ignore[union-attr]
    ("connector", "/$defs/pagination"): (lambda c: [_ops(c)["list"].pagination], _typed_as),
    ("connector", "/$defs/pageConcurrency"):
        (lambda c: [_ops(c)["list"].concurrency, _ops(c)["changes"].concurrency], _same),
    ("connector", "/$defs/changesOperation/properties/lookback"):
        (lambda c: [_ops(c)["changes"].lookback_seconds], parse_duration),
    ("connector", "/$defs/paginationOffset/properties/param"): (lambda c: [_pagination("changes")(c).param], _same),
    ("connector", "/$defs/paginationOffset/properties/limit_param"):
        (lambda c: [_pagination("changes")(c).limit_param], _same),
    ("connector", "/$defs/paginationPageNumber/properties/param"): (lambda c: [_pagination("find")(c).param], _same),
    ("connector", "/$defs/paginationPageNumber/properties/start"): (lambda c: [_pagination("find")(c).start], _same),
    ("connector", f"{_HOOKS}/verify/properties/algorithm"): (lambda c: [_hooks(c).verify.algorithm], _same),
    ("connector", f"{_HOOKS}/verify/properties/encoding"): (lambda c: [_hooks(c).verify.encoding], _same),
    ("connector", f"{_HOOKS}/verify/properties/timestamp/properties/tolerance_seconds"):
        (lambda c: [_hooks(c).verify.tolerance_seconds], _same),
    ("connector", f"{_HOOKS}/register/properties/create/properties/method"):
        (lambda c: [_register(c).create.method], _same),
    ("connector", f"{_HOOKS}/register/properties/list/properties/method"):
        (lambda c: [_register(c).list.method], _same),
    ("connector", f"{_HOOKS}/register/properties/delete/properties/method"):
        (lambda c: [_register(c).delete.method], _same),
    ("connector", f"{_HOOKS}/register/properties/id"): (lambda c: [_register(c).id.source], _same),
    ("connector", f"{_HOOKS}/register/properties/url"): (lambda c: [_register(c).url.source], _same),
    # integrations
    ("integration", "/properties/enabled"): (lambda c: [c.integrations["minimal"].enabled], _same),
    ("integration", "/properties/schedule"): (lambda c: [c.integrations["minimal"].schedule], parse_schedule),
    ("integration", "/properties/catch_up"): (lambda c: [c.integrations["minimal"].catch_up], _same),
    ("integration", "/properties/full_every"):
        (lambda c: [c.integrations["minimal"].full_every_seconds], parse_duration),
    ("integration", "/properties/create"): (lambda c: [c.integrations["minimal"].create], _same),
    ("integration", "/properties/conflict"): (lambda c: [c.integrations["minimal"].conflict], _same),
    ("integration", "/$defs/child/properties/create"):
        (lambda c: [c.integrations["parenting"].children[0].create], _same),
    ("integration", "/$defs/fieldMapping/properties/direction"):
        (lambda c: [c.integrations["minimal"].fields[0].direction], _same),
    ("integration", "/$defs/fieldMapping/properties/clear"):
        (lambda c: [c.integrations["minimal"].fields[0].clear], _same),
    ("integration", "/$defs/deletions/properties/max_delete_percent"): (lambda c: [
        c.integrations["deleting"].deletions.max_delete_percent,  # type: ignore[union-attr]
        c.integrations["deleting"].max_delete_percent, c.integrations["minimal"].max_delete_percent], _same),
    ("integration", "/$defs/recordRetries/properties/attempts"):
        (lambda c: [c.integrations["minimal"].record_retries.attempts], _same),
    ("integration", "/$defs/recordRetries/properties/backoff_initial"):
        (lambda c: [c.integrations["minimal"].record_retries.backoff_initial_seconds], parse_duration),
    ("integration", "/$defs/recordRetries/properties/backoff_factor"):
        (lambda c: [c.integrations["minimal"].record_retries.backoff_factor], _same),
    ("integration", "/$defs/recordRetries/properties/backoff_max"):
        (lambda c: [c.integrations["minimal"].record_retries.backoff_max_seconds], parse_duration),
}

# Keywords whose values are subschemas (or maps or lists of them); `default`,
# `examples`, `const` and `enum` hold values, never schemas, so a key named
# "default" inside them is not a default.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = ("additionalProperties", "items", "contains", "propertyNames", "if", "then", "else", "not")


def schema_defaults_in(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """(pointer, default) for every `default` keyword in a schema."""
    if not isinstance(node, Mapping):
        return
    if "default" in node:
        yield pointer, node["default"]
    for key in _SCHEMA_MAPS:
        for name, sub in (node.get(key) or {}).items():
            yield from schema_defaults_in(sub, f"{pointer}/{key}/{name.replace('~', '~0').replace('/', '~1')}")
    for key in _SCHEMA_LISTS:
        for i, sub in enumerate(node.get(key) or ()):
            yield from schema_defaults_in(sub, f"{pointer}/{key}/{i}")
    for key in _SCHEMA_ONE:
        yield from schema_defaults_in(node.get(key), f"{pointer}/{key}")


ALL_DEFAULTS = [(kind, pointer, default) for kind in SCHEMA_KINDS
                for pointer, default in schema_defaults_in(load_schema(kind))]


def test_every_default_in_the_schemas_is_checked_here() -> None:
    found = {(kind, pointer) for kind, pointer, _ in ALL_DEFAULTS}
    assert found - TYPED.keys() == set(), "a default in a schema that TYPED does not check: add it"
    assert TYPED.keys() - found == set(), "TYPED checks a default the schemas no longer have"


@pytest.mark.parametrize(("kind", "pointer", "default"), ALL_DEFAULTS,
                         ids=[f"{k}:{p}" for k, p, _ in ALL_DEFAULTS])
def test_a_key_left_out_takes_the_schema_default(config: Config, kind: str, pointer: str, default: Any) -> None:
    get, typed = TYPED[(kind, pointer)]
    expected = typed(default)
    values = get(config)
    assert values and all(v == expected for v in values), (values, expected)
    if isinstance(default, bool):  # True == 1: a flag must stay a bool
        assert all(v is default for v in values)


def test_a_daemon_without_syncd_yaml_gets_the_schema_defaults_too(config: Config, tmp_path: Path) -> None:
    settings = load_config(tmp_path, environ={}).daemon
    assert dataclasses.replace(settings, state_path=config.daemon.state_path) == config.daemon


# "Default 10." in a description (the reference docs show both it and the
# keyword): `code`, a number, true, false or empty.
_STATED = re.compile(r"\bDefault (?:`(?P<code>[^`]*)`|(?P<word>true|false|empty|-?[0-9]+(?:\.[0-9]+)?)\b)")


def _described(node: Any, pointer: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(pointer, schema) for every schema with a description."""
    if not isinstance(node, Mapping):
        return
    if isinstance(node.get("description"), str):
        yield pointer, node
    for key in _SCHEMA_MAPS:
        for name, sub in (node.get(key) or {}).items():
            yield from _described(sub, f"{pointer}/{key}/{name}")
    for key in _SCHEMA_LISTS:
        for i, sub in enumerate(node.get(key) or ()):
            yield from _described(sub, f"{pointer}/{key}/{i}")
    for key in _SCHEMA_ONE:
        yield from _described(node.get(key), f"{pointer}/{key}")


def _says(m: re.Match[str], default: Any) -> bool:
    """Does the stated default *m* name *default*?"""
    if m["code"] is not None:
        return m["code"] == (default if isinstance(default, str) else json.dumps(default))
    word = m["word"]
    if word in ("true", "false"):
        return default is (word == "true")
    if word == "empty":
        return default == ""
    return not isinstance(default, bool) and isinstance(default, (int, float)) and default == float(word)


def test_a_description_that_states_a_default_states_the_schemas() -> None:
    wrong = []
    for kind in SCHEMA_KINDS:
        for pointer, node in _described(load_schema(kind)):
            for m in _STATED.finditer(node["description"]):
                if "default" not in node:
                    wrong.append(f"{kind}:{pointer}: says {m[0]!r} but has no default")
                elif not _says(m, node["default"]):
                    wrong.append(f"{kind}:{pointer}: says {m[0]!r}, default is {node['default']!r}")
    assert wrong == []


# --------------------------------------------------------------------------- the model's own defaults


def test_typed_objects_built_by_hand_match_a_minimal_config(config: Config) -> None:
    """The dataclass defaults (what code and tests get when they build an
    object by hand) are the schema's, as loading a config gives them."""
    bare, app = config.connectors["bare"], config.connectors["app"]
    assert ConnectorSpec(
        name="bare", title="Bare", base_url=bare.base_url, objects=bare.objects, source=bare.source) == bare
    assert RetrySpec() == bare.retry
    listing = bare.objects["contacts"].operations["list"]
    assert Operation(name="list", method=listing.method, path=listing.path, records=listing.records) == listing
    assert SettingSpec(name="token", description="An access token") == app.settings["token"]
    assert PageNumberPagination(param="page") == _ops(config)["find"].pagination
    for auth in _oauth(config):
        assert OAuth2Auth(
            grant=auth.grant, token_url=auth.token_url, client_id=auth.client_id,
            client_secret=auth.client_secret, refresh_token=auth.refresh_token) == auth

    minimal, deleting = config.integrations["minimal"], config.integrations["deleting"]
    assert Integration(
        name="minimal", left=minimal.left, right=minimal.right, match_left="email", match_right="email",
        fields=(FieldMapping(left=("email",), right=("email",)),),
        schedule=minimal.schedule, full_every_seconds=minimal.full_every_seconds, source=minimal.source,
    ) == minimal
    assert Deletions(side="left", then=(Action("delete"),)) == deleting.deletions
    assert DaemonSettings(state_path=config.daemon.state_path) == config.daemon


def test_only_the_builder_gives_an_integration_its_parsed_schedule() -> None:
    # They are parsed from the schema's defaults, so the model cannot hold them.
    fields = {f.name: f for f in dataclasses.fields(Integration)}
    for name in ("schedule", "full_every_seconds"):
        assert fields[name].default is dataclasses.MISSING and fields[name].kw_only


# --------------------------------------------------------------------------- no literal restates a default


def _defaulted_keys() -> set[str]:
    """Names of the properties that have a default in some schema."""
    names = set()
    for _, pointer, _ in ALL_DEFAULTS:
        parts = pointer.split("/")
        if len(parts) >= 3 and parts[-2] == "properties":
            names.add(parts[-1])
    return names | {"records", "record", "auth", "pagination"}  # defaults held by a $def


def test_no_builder_restates_a_schema_default() -> None:
    """`raw.get("max_delete_percent", 10)` is how a default got written
    twice; the builders fill documents from the schema instead."""
    keys = _defaulted_keys()
    found = []
    for path in sorted(CONFIG_PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("get", "setdefault", "pop") and len(node.args) == 2
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value in keys
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value is not None):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert found == []


# --------------------------------------------------------------------------- SchemaDefaults itself


SCHEMA = {
    "type": "object",
    "properties": {
        "size": {"type": "integer", "default": 3},
        "kind": {"$ref": "#/$defs/kind"},
        "shape": {"$ref": "#/$defs/shape"},
    },
    "$defs": {
        "kind": {"type": "string", "default": "plain"},
        "shape": {
            "type": "object", "default": {"type": "round"},
            "properties": {"type": {"type": "string"}},
            "allOf": [
                {"if": {"properties": {"type": {"const": "round"}}, "required": ["type"]},
                 "then": {"$ref": "#/$defs/round"}},
                {"if": {"properties": {"type": {"const": "square"}}, "required": ["type"]},
                 "then": {"properties": {"side": {"default": 1}}}},
            ],
        },
        "round": {"type": "object", "properties": {"type": {}, "radius": {"type": "number", "default": 2.5}}},
    },
}


def test_fill_sets_missing_keys_following_refs_and_leaves_the_document_alone() -> None:
    d = SchemaDefaults(SCHEMA)
    raw = {"size": 7}
    assert d.fill("", raw) == {"size": 7, "kind": "plain", "shape": {"type": "round"}}
    assert raw == {"size": 7}


def test_fill_takes_the_defaults_of_the_branch_a_typed_object_takes() -> None:
    d = SchemaDefaults(SCHEMA)
    assert d.fill("/properties/shape", {"type": "round"}) == {"type": "round", "radius": 2.5}
    assert d.fill("/properties/shape", {"type": "square"}) == {"type": "square", "side": 1}
    assert d.fill("/properties/shape", {"type": "round", "radius": 9}) == {"type": "round", "radius": 9}


def test_value_follows_refs_and_refuses_a_key_without_default() -> None:
    d = SchemaDefaults(SCHEMA)
    assert d.value("/properties/kind") == "plain"
    assert d.value("/properties/shape/allOf/0/then/properties/radius") == 2.5
    with pytest.raises(KeyError, match="no default"):
        d.value("/$defs/round/properties/type")


def test_a_compound_default_cannot_be_changed_by_whoever_reads_it() -> None:
    shape = SchemaDefaults(SCHEMA).fill("", {})["shape"]
    with pytest.raises(TypeError):
        shape["type"] = "square"


def test_the_shipped_schemas_are_read_once() -> None:
    assert schema_defaults("integration") is schema_defaults("integration")
