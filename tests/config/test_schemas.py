"""The JSON Schemas: well-formed, fully documented, fresh reference docs, and
right about real documents.

A sysadmin writes YAML; these tests write the same YAML (the contract's own
examples, grown into whole files) and check that good files pass and that each
typical mistake is reported as exactly one error, at the key to fix.
"""

from __future__ import annotations

import copy
import json
import re
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import jmespath
import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from syncd._resources import SCHEMA_KINDS, load_schema, schema_path, shipped_connectors_dir

ROOT = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------- helpers


def validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(kind))


def errors(kind: str, doc: Any) -> list[ValidationError]:
    return sorted(validator(kind).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))


def load(text: str) -> Any:
    return yaml.safe_load(textwrap.dedent(text))


def pointer(parts: tuple[str, ...]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


# Subschemas inside these keywords only narrow keys declared (and documented)
# next to them; they are checked by test_conditionals_only_narrow_declared_keys.
_CONDITIONAL = {"if", "then", "else", "not"}
_DOCUMENTED_UNDER = {"properties", "patternProperties", "$defs"}


def documented_nodes(schema: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    """Every subschema that describes a value a user writes: each property, map
    entry and list item at every depth (in $defs and type variants too)."""

    def walk(parts: tuple[str, ...], node: Any) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
        if not isinstance(node, Mapping):
            return
        for key, value in node.items():
            if key in _CONDITIONAL:
                continue
            if key in _DOCUMENTED_UNDER and isinstance(value, Mapping):
                for name, sub in value.items():
                    if isinstance(sub, Mapping):
                        yield (*parts, key, name), sub
                        yield from walk((*parts, key, name), sub)
            elif key in ("additionalProperties", "items") and isinstance(value, Mapping):
                yield (*parts, key), value
                yield from walk((*parts, key), value)
            elif key == "allOf":
                for i, sub in enumerate(value):
                    yield from walk((*parts, key, str(i)), sub)

    yield from walk((), schema)


def resolved(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        target: Any = schema
        for token in node["$ref"].removeprefix("#/").split("/"):
            target = target[token]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def all_nodes() -> list[tuple[str, tuple[str, ...], Mapping[str, Any]]]:
    return [(kind, parts, node) for kind in SCHEMA_KINDS for parts, node in documented_nodes(load_schema(kind))]


def node_id(item: tuple[str, tuple[str, ...], Mapping[str, Any]]) -> str:
    kind, parts, _ = item
    return f"{kind}:{pointer(parts)}"


# --------------------------------------------------------------------------- the schemas themselves


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_schema_is_valid_draft_2020_12(kind: str) -> None:
    schema = load_schema(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://syncd.dev/schemas/{kind}.schema.json"
    assert schema["title"] and schema["description"]


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_schema_file_is_canonically_formatted(kind: str) -> None:
    # Two-space JSON with a final newline: diffs stay small and reviewable.
    text = schema_path(kind).read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("item", all_nodes(), ids=node_id)
def test_every_key_is_documented(item: tuple[str, tuple[str, ...], Mapping[str, Any]]) -> None:
    kind, _, node = item
    node = resolved(load_schema(kind), node)
    assert isinstance(node.get("title"), str) and node["title"].strip(), "missing title"
    assert isinstance(node.get("description"), str) and len(node["description"]) >= 10, "missing description"
    assert isinstance(node.get("examples"), list) and node["examples"], "missing examples"


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_every_fixed_key_object_rejects_unknown_keys(kind: str) -> None:
    for parts, node in [((), load_schema(kind)), *documented_nodes(load_schema(kind))]:
        types = node.get("type", ())
        if "$ref" in node or "object" not in ([types] if isinstance(types, str) else types):
            continue
        is_discriminated = any("if" in sub and "then" in sub for sub in node.get("allOf", ())) and \
            "type" in node.get("properties", {}) and "enum" in node["properties"]["type"]
        if is_discriminated:  # each `type` branch closes itself
            continue
        assert "additionalProperties" in node or "unevaluatedProperties" in node, pointer(parts)


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_examples_validate_against_their_own_subschema(kind: str) -> None:
    schema = load_schema(kind)
    registry: Registry[Any] = Registry().with_resource(schema["$id"], Resource.from_contents(schema))
    failures = []
    for parts, node in [((), schema), *documented_nodes(schema)]:
        # A $ref to the node by its JSON pointer: $refs inside it still resolve.
        ref = schema["$id"] + "#" + quote(pointer(parts), safe="/~")
        check = Draft202012Validator({"$ref": ref}, registry=registry)
        for example in resolved(schema, node).get("examples", []):
            failures += [f"{pointer(parts)}: {example!r}: {e.message}" for e in check.iter_errors(example)]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_conditionals_only_narrow_declared_keys(kind: str) -> None:
    # if/then/else are skipped by the documentation walk, so they must not
    # introduce keys of their own; and each forbidden key says why, in x-error.
    def check(owner: Mapping[str, Any], node: Any, where: str) -> Iterator[str]:
        if not isinstance(node, Mapping):
            return
        declared = set(owner.get("properties", {}))
        for name, sub in node.get("properties", {}).items():
            if name not in declared:
                yield f"{where}: conditional names undeclared key {name!r}"
            if isinstance(sub, Mapping) and "not" in sub and not sub.get("x-error"):
                yield f"{where}/{name}: a forbidden key needs an x-error message"
            if sub is False:
                yield f"{where}/{name}: use {{'not': {{}}, 'x-error': ...}}, not false (keeps the error path)"

    problems = []
    for parts, node in documented_nodes(load_schema(kind)):
        conditionals = [node, *node.get("allOf", ())]
        for c in conditionals:
            for key in ("then", "else"):
                if key in c and "$ref" not in c[key]:
                    problems += check(node, c[key], pointer(parts) + "/" + key)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- expressions and templates

SETTINGS = ["settings"]
OPERATION_VARIABLES = {
    "list": ["settings", "cursor", "parent_id"],
    "changes": ["settings", "cursor", "since", "since_epoch", "since_ms", "sync_token"],
    "get": ["settings", "id", "parent_id"],
    "find": ["settings", "field", "value"],
    "create": ["settings", "fields", "record", "now", "parent_id"],
    "update": ["settings", "id", "fields", "record", "current", "parent_id"],
    "create_batch": ["settings", "records"],
    "update_batch": ["settings", "records"],
    "delete": ["settings", "id", "parent_id"],
}
BODY = ["@"]
FIELD_REQUEST = ["settings", "id", "value", "previous", "item", "parent_id"]


def _def_name(operation: str) -> str:
    """create_batch -> createBatchOperation"""
    head, *rest = operation.split("_")
    return head + "".join(word.title() for word in rest) + "Operation"


def _expected_variables() -> dict[tuple[str, str], list[str]]:
    c: dict[str, list[str]] = {
        "/properties/base_url": SETTINGS,
        "/properties/headers": SETTINGS,
        "/properties/headers/additionalProperties": SETTINGS,
        "/$defs/authApiKey/properties/value": SETTINGS,
        "/$defs/authBearer/properties/token": SETTINGS,
        "/$defs/authBasic/properties/username": SETTINGS,
        "/$defs/authBasic/properties/password": SETTINGS,
        "/$defs/authOAuth2ClientCredentials/properties/audience": SETTINGS,
        "/$defs/authOAuth2RefreshToken/properties/refresh_token": SETTINGS,
        "/$defs/object/properties/deleted": BODY,
        "/$defs/field/properties/read": BODY,
        "/$defs/records": BODY,
        "/$defs/record": BODY,
        "/$defs/createOperation/properties/read_back": BODY,  # over the create's answer
        "/$defs/updateBatchOperation/properties/outcomes/properties/ok": BODY,  # over one outcome
        "/$defs/updateBatchOperation/properties/outcomes/properties/error": BODY,
        "/$defs/paginationCursor/properties/cursor": BODY,
        "/$defs/paginationNextUrl/properties/next": BODY,
        "/$defs/paginationOffset/properties/total": BODY,
        "/$defs/paginationPageNumber/properties/total_pages": BODY,
        "/$defs/paginationRestart/properties/since_from": BODY,  # over one raw record
        "/$defs/listOperation/properties/sync_token": BODY,
        "/$defs/changesOperation/properties/sync_token": BODY,
        "/$defs/changesOperation/properties/sync_token_expired/properties/when": BODY,  # over the error's body
        "/$defs/fieldRequest/properties/path": FIELD_REQUEST,
        "/$defs/fieldRequest/properties/body": FIELD_REQUEST,
    }
    hooks = "/properties/webhooks/properties"
    register = f"{hooks}/register/properties"
    c.update({
        f"{hooks}/verify/properties/secret": SETTINGS,
        f"{hooks}/verify/properties/signed": ["timestamp", "body"],
        f"{hooks}/events": BODY, f"{hooks}/id": BODY, f"{hooks}/kind": BODY, f"{hooks}/record": BODY,
        f"{register}/create/properties/path": ["settings", "url"],
        f"{register}/create/properties/body": ["settings", "url"],
        f"{register}/list/properties/path": SETTINGS,
        f"{register}/delete/properties/path": ["settings", "id"],
        f"{register}/id": BODY, f"{register}/url": BODY,
    })
    for auth in ("authOAuth2ClientCredentials", "authOAuth2RefreshToken"):
        for key in ("token_url", "client_id", "client_secret"):
            c[f"/$defs/{auth}/properties/{key}"] = SETTINGS
    for op, variables in OPERATION_VARIABLES.items():
        base = f"/$defs/{_def_name(op)}/properties"
        for key in ("path", "params", "params/additionalProperties", "headers",
                    "headers/additionalProperties", "body"):
            c[f"{base}/{key}"] = variables
        if op == "find":  # the warm-up request's params: the find's own variables
            c[f"{base}/warm_up/properties/params"] = variables
            c[f"{base}/warm_up/properties/params/additionalProperties"] = variables
        if op.endswith("_batch"):
            c[f"{base}/item"] = SETTINGS  # rendered once per record, before the request exists
    expected = {("connector", k): v for k, v in c.items()}
    expected[("integration", "/$defs/rule/properties/if")] = ["<field>", "other", "exists_in_other"]
    return expected


EXPECTED_VARIABLES = _expected_variables()


def test_every_expression_and_template_names_its_variables() -> None:
    found = {
        (kind, pointer(parts)): node["x-variables"]
        for kind, parts, node in all_nodes() if "x-variables" in node
    }
    assert found == EXPECTED_VARIABLES


@pytest.mark.parametrize("item", [i for i in all_nodes() if "x-syntax" in i[2]], ids=node_id)
def test_expression_keys_explain_their_variables(item: tuple[str, tuple[str, ...], Mapping[str, Any]]) -> None:
    _, _, node = item
    assert node["x-syntax"] in ("template", "jmespath", "dotted")
    if node["x-syntax"] == "dotted":
        assert "x-variables" not in node
        return
    assert node.get("x-variables"), "an expression or template key must list its variables"
    for name in node["x-variables"]:
        assert f"`{name}`" in node["description"], f"description does not mention `{name}`"


_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@pytest.mark.parametrize("item", [i for i in all_nodes() if i[2].get("x-syntax") in ("template", "jmespath")],
                         ids=node_id)
def test_expression_examples_compile_and_use_only_their_variables(
    item: tuple[str, tuple[str, ...], Mapping[str, Any]],
) -> None:
    _, _, node = item
    allowed = set(node["x-variables"])
    for example in node["examples"]:
        for text in _strings(example):
            if node["x-syntax"] == "jmespath":
                jmespath.compile(text)
                continue
            for placeholder in _PLACEHOLDER.findall(text):
                jmespath.compile(placeholder)
                first = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", placeholder)
                assert first and first.group(1) in allowed, f"{text!r} uses a variable outside {sorted(allowed)}"


# --------------------------------------------------------------------------- generated reference


def test_reference_docs_are_fresh(reference_generator: ModuleType) -> None:
    stale = reference_generator.stale_files(reference_generator.render_reference())
    assert not stale, (
        "stale reference docs: " + ", ".join(str(p.relative_to(ROOT)) for p in stale)
        + "; run: python docs/generate_reference.py"
    )


def test_reference_check_mode_reports_and_does_not_write(reference_generator: ModuleType, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    gen = reference_generator
    monkeypatch.setattr(gen, "REFERENCE_DIR", tmp_path)
    monkeypatch.setattr(gen, "CONNECTOR_DOCS_DIR", tmp_path / "connectors")
    assert gen.main(["--check"]) == 1
    assert list(tmp_path.iterdir()) == []
    assert "stale:" in capsys.readouterr().err
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
    (tmp_path / "connector.md").write_text("edited by hand\n", encoding="utf-8")
    assert gen.main(["--check"]) == 1
    assert "connector.md" in capsys.readouterr().err


def test_reference_has_a_section_for_every_key_path() -> None:
    text = (ROOT / "docs" / "reference" / "connector.md").read_text(encoding="utf-8")
    for path in ("objects.<name>.list.pagination", "objects.<name>.changes.params.<name>",
                 "objects.<name>.fields.<name>.read", "auth.client_auth", "rate_limit.daily_limit"):
        assert f"`{path}`" in text, path
    assert "`objects.<name>.list.pagination` with `type: cursor`" in text
    text = (ROOT / "docs" / "reference" / "integration.md").read_text(encoding="utf-8")
    for path in ("fields[].left", "rules[].then[].add_tag", "deletions.max_delete_percent"):
        assert f"`{path}`" in text, path


# --------------------------------------------------------------------------- valid documents

HUBSPOT = """\
    # yaml-language-server: $schema=../schemas/connector.schema.json
    $schema: ../schemas/connector.schema.json
    connector: hubspot
    title: HubSpot CRM
    description: Contacts in HubSpot CRM.
    docs_url: https://developers.hubspot.com/docs/api/crm/contacts
    base_url: https://api.hubapi.com
    settings:                       # what an integration supplies
      token: {secret: true, description: Private app access token}
    auth: {type: bearer, token: "{{ settings.token }}"}
    headers: {HubSpot-Client: syncd}
    timeout: 20
    retry: {max_attempts: 5, backoff_initial: 0.5, backoff_max: 30}
    rate_limit: {requests_per_second: 10, max_concurrency: 4, daily_limit: 250000}
    objects:
      contacts:
        id: id
        updated_at: updatedAt
        deleted: archived
        fields:
          email:      {path: properties.email, type: email}
          first_name: {path: properties.firstname}
          last_name:  {path: properties.lastname}
          phone:      {path: properties.phone, type: phone}
          stage:      {path: properties.lifecyclestage}
        list:
          path: /crm/v3/objects/contacts
          params: {limit: 100, after: "{{ cursor }}"}
          records: results
          pagination: {type: cursor, cursor: paging.next.after, param: after}
        changes:                    # incremental read; without it, syncd diffs full lists
          path: /crm/v3/objects/contacts
          params: {limit: 100, updatedAfter: "{{ since }}"}
          records: results
          pagination: {type: cursor, cursor: paging.next.after, param: after}
        find:
          method: POST
          path: /crm/v3/objects/contacts/search
          body:
            filterGroups:
              - filters: [{propertyName: "{{ field }}", operator: EQ, value: "{{ value }}"}]
            limit: 100
          records: results
          pagination: {type: cursor, cursor: paging.next.after, body_field: after, max_pages: 10}
        get:    {path: "/crm/v3/objects/contacts/{{ id }}", record: "@"}
        create: {method: POST, path: /crm/v3/objects/contacts, record: "@"}
        update: {method: PATCH, path: "/crm/v3/objects/contacts/{{ id }}", headers: {X-Id: "{{ id }}"}}
        delete: {method: DELETE, path: "/crm/v3/objects/contacts/{{ id }}"}
"""

MAILCHIMP = """\
    connector: mailchimp
    title: Mailchimp
    base_url: "https://{{ settings.dc }}.api.mailchimp.com/3.0"
    settings:
      api_key: {secret: true, description: API key}
      dc: {description: "Data centre, the part of the API key after the dash", examples: [us1, us19]}
      list_id: {description: Audience id}
      page_size: {description: Members per page, type: integer, default: 500, required: false}
      double_opt_in: {description: Ask new members to confirm, type: boolean, default: false}
    auth: {type: basic, username: anystring, password: "{{ settings.api_key }}"}
    objects:
      members:
        id: id
        updated_at: last_changed
        deleted: "status == 'archived'"
        fields:
          email: {path: email_address, type: email}
          first_name: {path: merge_fields.FNAME}
          phone: {read: "merge_fields.PHONE || phones[0].number", write: merge_fields.PHONE, type: phone}
          full_name: {read: "join(' ', [merge_fields.FNAME, merge_fields.LNAME])"}
          status: {path: status}
          tags: {read: "tags[].name", write: tags, type: tags}
          born: {path: merge_fields.BIRTHDAY, type: datetime, format: ["%m/%d", "%Y-%m-%d"]}
          joined: {path: timestamp_opt, type: datetime, format: "%Y-%m-%dT%H:%M:%S%z"}
          score: {path: stats.avg_open_rate, type: number, description: Average open rate}
        list:
          path: "/lists/{{ settings.list_id }}/members"
          params: {count: "{{ settings.page_size }}"}
          records: members
          pagination: {type: offset, param: offset, limit_param: count, total: total_items}
        changes:
          path: "/lists/{{ settings.list_id }}/members"
          params: {since_last_changed: "{{ since }}", count: 500}
          records: members
          pagination: {type: offset}
        find:
          path: /search-members
          params: {query: "{{ value }}", list_id: "{{ settings.list_id }}"}
          records: exact_matches.members
          pagination: {type: single}
        get: {path: "/lists/{{ settings.list_id }}/members/{{ id }}"}
        create:
          path: "/lists/{{ settings.list_id }}/members"
          body: {status: subscribed, email_address: "{{ fields.email }}"}
        update: {path: "/lists/{{ settings.list_id }}/members/{{ id }}", method: PATCH}
"""

PEOPLE = """\
    connector: people
    title: A people directory
    base_url: "{{ settings.base_url }}"
    settings:
      base_url: {description: API root, default: "https://people.example.com/v2"}
      client_id: {description: OAuth client id}
      client_secret: {description: OAuth client secret, secret: true}
      refresh_token: {description: OAuth refresh token, secret: true}
    auth:
      type: oauth2_refresh_token
      token_url: https://oauth2.example.com/token
      client_id: "{{ settings.client_id }}"
      client_secret: "{{ settings.client_secret }}"
      refresh_token: "{{ settings.refresh_token }}"
      scopes: [contacts]
      client_auth: basic
    objects:
      people:
        id: resourceName
        fields:
          email: {path: "emailAddresses[0].value", type: email}
          tags: {path: labels, type: tags}
          groups: {path: memberships, type: list}
        list: {path: /people, records: people, pagination: {type: next_url, next: links.next}}
        changes:
          path: /people
          params: {updated_since: "{{ since_epoch }}", updated_since_ms: "{{ since_ms }}"}
          records: people
          pagination: {type: link_header, max_pages: 100}
        find:
          path: /people/search
          params: {"{{ field }}": "{{ value }}"}
          records: results
          pagination: {type: page_number, param: p, start: 0, total_pages: meta.pages}
        get: {path: "https://people.example.com/v2/{{ id }}", record: person}
"""

AUTH_VARIANTS = {
    "none": {"type": "none"},
    "api_key_header": {"type": "api_key", "in": "header", "name": "X-API-Key", "value": "{{ settings.token }}"},
    "api_key_query": {"type": "api_key", "in": "query", "name": "apikey", "value": "{{ settings.token }}"},
    "bearer": {"type": "bearer", "token": "{{ settings.token }}"},
    "basic_no_password": {"type": "basic", "username": "{{ settings.token }}"},
    "client_credentials": {
        "type": "oauth2_client_credentials", "token_url": "https://login.example.com/token",
        "client_id": "{{ settings.token }}", "client_secret": "{{ settings.token }}",
    },
    "client_credentials_full": {
        "type": "oauth2_client_credentials", "token_url": "{{ settings.token }}",
        "client_id": "{{ settings.token }}", "client_secret": "{{ settings.token }}",
        "scopes": ["read", "write"], "audience": "https://api.example.com/", "client_auth": "basic",
    },
    "refresh_token": {
        "type": "oauth2_refresh_token", "token_url": "https://login.example.com/token",
        "client_id": "{{ settings.token }}", "client_secret": "{{ settings.token }}",
        "refresh_token": "{{ settings.token }}",
    },
}

PAGINATION_VARIANTS = {
    "single": {"type": "single"},
    "single_capped": {"type": "single", "max_pages": 1},
    "cursor_param": {"type": "cursor", "cursor": "next_cursor", "param": "cursor"},
    "cursor_body": {"type": "cursor", "cursor": "paging.next.after", "body_field": "paging.after"},
    "next_url": {"type": "next_url", "next": "links.next"},
    "link_header": {"type": "link_header"},
    "offset_defaults": {"type": "offset"},
    "offset": {"type": "offset", "param": "start", "limit_param": "count", "total": "meta.total", "max_pages": 3},
    "page_number_defaults": {"type": "page_number"},
    "page_number": {"type": "page_number", "param": "page", "start": 1, "total_pages": "meta.pages"},
    "cursor_result_cap": {"type": "cursor", "cursor": "paging.next.after", "body_field": "after",
                          "max_results": 10000},
    "offset_restarted": {"type": "offset", "max_results": 10000, "restart": {"since_from": "updated_at"}},
}

CRM_TO_NEWSLETTER = """\
    # yaml-language-server: $schema=../schemas/integration.schema.json
    integration: crm-to-newsletter
    enabled: true
    schedule: every 5 minutes       # the default
    catch_up: sync                  # after being disabled: sync | skip (read-only catch-up)
    left:
      connector: hubspot
      object: contacts
      settings: {token: "${env:HUBSPOT_TOKEN}"}
    right:
      connector: mailchimp
      object: members
      settings: {api_key: "${cred:mailchimp}", list_id: abc123}
    match: {left: email, right: email}
    create: left_to_right           # both | left_to_right | right_to_left | none
    conflict: newest_wins           # newest_wins | left_wins | right_wins
    fields:
      - {left: email, right: email, direction: both}
      - {left: first_name, right: first_name}           # default direction: both
      - {left: [first_name, last_name], right: full_name, transform: join_name}
      - {left: stage, right: status, direction: left_to_right,
         values: {customer: subscribed, lead: pending}}
    rules:
      - if: "stage == 'customer'"
        then: [{add_tag: customer}]
      - if: "!email"
        then: skip
    deletions: {from: left, then: {add_tag: syncd-trash}}
"""

EVERYTHING = """\
    $schema: https://syncd.dev/schemas/integration.schema.json
    integration: 2-way_people
    description: Both directions, every option
    enabled: false
    schedule: "*/15 8-18 * * mon-fri"
    delay: 30
    catch_up: skip
    full_every: 12 hours
    left: {connector: people, object: people, settings: {page_size: 100, sandbox: true}}
    right: {connector: crm_2, object: contacts}
    match: {left: email, right: email_address}
    create: none
    conflict: right_wins
    fields:
      - {left: name, right: [first_name, last_name], transform: split_name}
      - {left: born, right: birthday, transform: date, format: "%Y-%m-%d", direction: right_to_left}
      - {left: email, right: email_address, transform: lower, prefer: left_unless_blank}
      - {left: phone, right: phone, transform: trim, clear: true, default: unknown}
      - {left: emails, right: email2, transform: first}
    rules:
      - {if: "score > `50`", from: left, then: [{add_tag: hot}, {remove_tag: cold}, {set: {stage: lead}}]}
      - {if: "!exists_in_other && other == null", from: right, then: skip}
    deletions: {from: both, then: delete, max_delete_percent: 2.5}
"""

VALID_INTEGRATIONS = {
    "design_example": CRM_TO_NEWSLETTER,
    "every_option": EVERYTHING,
    "minimal": """\
        integration: min
        left: {connector: a, object: contacts}
        right: {connector: b, object: contacts}
        match: {left: email, right: email}
        fields: [{left: email, right: email}]
    """,
    "every_1_second_and_set_deletion": """\
        integration: fast
        schedule: every 1 second
        delay: 0 seconds
        full_every: 1 day
        left: {connector: a, object: contacts}
        right: {connector: b, object: contacts}
        match: {left: email, right: email}
        fields: [{left: email, right: email}]
        deletions: {from: right, then: {set: {status: archived}}}
    """,
    "cron_with_names": """\
        integration: nightly
        schedule: "0 3 1,15 JAN-JUN *"
        left: {connector: a, object: contacts}
        right: {connector: b, object: contacts}
        match: {left: email, right: email}
        fields: [{left: email, right: email}]
        deletions: {from: left, then: {remove_tag: active}}
    """,
}

VALID_SYNCD = {
    "contract_example": """\
        state:   {path: state.db}
        control: {socket: /run/syncd/control.sock}
        metrics: {listen: "127.0.0.1:9464", enabled: false}
        webhooks: {listen: "127.0.0.1:8787", enabled: false}
        log:     {level: info, format: auto}
    """,
    "empty_file": "",
    "only_a_comment": "# all defaults\n",
    "empty_mapping": "{}",
    "ipv6_and_all_interfaces": """\
        metrics: {listen: "[::1]:9464", enabled: true}
        webhooks: {listen: ":8787", enabled: true}
        log: {level: debug, format: json}
        state: {path: /var/lib/syncd/state.db}
    """,
}


@pytest.mark.parametrize("text", [HUBSPOT, MAILCHIMP, PEOPLE], ids=["hubspot", "mailchimp", "people"])
def test_connector_specs_validate(text: str) -> None:
    assert [e.message for e in errors("connector", load(text))] == []


@pytest.mark.parametrize("auth", AUTH_VARIANTS.values(), ids=AUTH_VARIANTS.keys())
def test_every_auth_type_validates(auth: dict[str, Any]) -> None:
    doc = load(HUBSPOT)
    doc["auth"] = auth
    assert [e.message for e in errors("connector", doc)] == []


@pytest.mark.parametrize("pagination", PAGINATION_VARIANTS.values(), ids=PAGINATION_VARIANTS.keys())
@pytest.mark.parametrize("operation", ["list", "changes", "find"])
def test_every_pagination_type_validates_on_paged_operations(operation: str, pagination: dict[str, Any]) -> None:
    doc = load(HUBSPOT)
    doc["objects"]["contacts"][operation]["pagination"] = pagination
    assert [e.message for e in errors("connector", doc)] == []


def test_connector_without_auth_validates() -> None:
    doc = load(HUBSPOT)
    del doc["auth"], doc["settings"]
    assert errors("connector", doc) == []


@pytest.mark.parametrize("text", VALID_INTEGRATIONS.values(), ids=VALID_INTEGRATIONS.keys())
def test_integrations_validate(text: str) -> None:
    assert [e.message for e in errors("integration", load(text))] == []


@pytest.mark.parametrize("text", VALID_SYNCD.values(), ids=VALID_SYNCD.keys())
def test_daemon_settings_validate(text: str) -> None:
    assert [e.message for e in errors("syncd", load(text))] == []


def test_shipped_connector_specs_validate() -> None:
    problems = []
    for path in sorted(shipped_connectors_dir().glob("*.y*ml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        problems += [f"{path.name}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
                     for e in errors("connector", doc)]
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- invalid documents


def changed(text: str, path: str, value: Any = ..., *, drop: bool = False) -> Any:
    """The document with the value at a dotted key path set (or removed)."""
    doc = copy.deepcopy(load(text))
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if drop:
        del target[last]
    else:
        target[int(last) if isinstance(target, list) else last] = value
    return doc


CONTACTS = "objects.contacts"
INVALID = [
    # (id, kind, document, error path, jsonschema keyword, message fragment)
    ("connector unknown key", "connector", changed(HUBSPOT, "timout", 30),
     "", "additionalProperties", "'timout' was unexpected"),
    ("lookback on a list", "connector", changed(HUBSPOT, f"{CONTACTS}.list.lookback", "5 minutes"),
     f"{CONTACTS}.list", "additionalProperties", "'lookback' was unexpected"),
    ("lookback not a duration", "connector", changed(HUBSPOT, f"{CONTACTS}.changes.lookback", "5 mins"),
     f"{CONTACTS}.changes.lookback", "pattern", "does not match"),
    ("connector missing base_url", "connector", changed(HUBSPOT, "base_url", drop=True),
     "", "required", "'base_url' is a required property"),
    ("connector name with capitals", "connector", changed(HUBSPOT, "connector", "HubSpot"),
     "connector", "pattern", "does not match"),
    ("object name with a dash", "connector", changed(HUBSPOT, "objects", {"crm-contacts": load(HUBSPOT)["objects"]["contacts"]}),
     "objects", "additionalProperties", "'crm-contacts' does not match any of the regexes"),
    ("no objects", "connector", changed(HUBSPOT, "objects", {}),
     "objects", "minProperties", "should be non-empty"),
    ("auth type typo", "connector", changed(HUBSPOT, "auth", {"type": "bearr", "token": "x"}),
     "auth.type", "enum", "'bearr' is not one of"),
    ("auth without type", "connector", changed(HUBSPOT, "auth", {"token": "x"}),
     "auth", "required", "'type' is a required property"),
    ("api_key in body", "connector",
     changed(HUBSPOT, "auth", {"type": "api_key", "in": "body", "name": "k", "value": "v"}),
     "auth.in", "enum", "'body' is not one of ['header', 'query']"),
    ("lower-case method", "connector", changed(HUBSPOT, f"{CONTACTS}.create.method", "post"),
     f"{CONTACTS}.create.method", "enum", "'post' is not one of"),
    ("relative operation path", "connector", changed(HUBSPOT, f"{CONTACTS}.get.path", "contacts/{{ id }}"),
     f"{CONTACTS}.get.path", "pattern", "does not match"),
    # (an object without list is a write-only target: the builder checks it has find)
    ("no fields", "connector", changed(HUBSPOT, f"{CONTACTS}.fields", drop=True),
     CONTACTS, "required", "'fields' is a required property"),
    ("pagination on get", "connector", changed(HUBSPOT, f"{CONTACTS}.get.pagination", {"type": "single"}),
     f"{CONTACTS}.get", "additionalProperties", "'pagination' was unexpected"),
    ("records on get", "connector", changed(HUBSPOT, f"{CONTACTS}.get.records", "results"),
     f"{CONTACTS}.get", "additionalProperties", "'records' was unexpected"),
    ("record on list", "connector", changed(HUBSPOT, f"{CONTACTS}.list.record", "@"),
     f"{CONTACTS}.list", "additionalProperties", "'record' was unexpected"),
    ("pagination type typo", "connector", changed(HUBSPOT, f"{CONTACTS}.list.pagination.type", "cursr"),
     f"{CONTACTS}.list.pagination.type", "enum", "'cursr' is not one of"),
    ("cursor pagination without cursor", "connector",
     changed(HUBSPOT, f"{CONTACTS}.list.pagination.cursor", drop=True),
     f"{CONTACTS}.list.pagination", "required", "'cursor' is a required property"),
    ("cursor param and body_field", "connector",
     changed(HUBSPOT, f"{CONTACTS}.list.pagination.body_field", "after"),
     f"{CONTACTS}.list.pagination.param", "not", "should not be valid"),
    ("cursor without param or body_field", "connector",
     changed(HUBSPOT, f"{CONTACTS}.list.pagination.param", drop=True),
     f"{CONTACTS}.list.pagination", "required", "'param' is a required property"),
    ("max_pages zero", "connector", changed(HUBSPOT, f"{CONTACTS}.list.pagination.max_pages", 0),
     f"{CONTACTS}.list.pagination.max_pages", "minimum", "less than the minimum of 1"),
    ("max_results zero", "connector", changed(HUBSPOT, f"{CONTACTS}.list.pagination.max_results", 0),
     f"{CONTACTS}.list.pagination.max_results", "minimum", "less than the minimum of 1"),
    ("restart without max_results", "connector",
     changed(HUBSPOT, f"{CONTACTS}.list.pagination.restart", {"since_from": "updatedAt"}),
     f"{CONTACTS}.list.pagination", "dependentRequired", "'max_results' is a dependency of 'restart'"),
    ("field with path and read", "connector",
     changed(HUBSPOT, f"{CONTACTS}.fields.phone", {"path": "properties.phone", "read": "properties.phone"}),
     f"{CONTACTS}.fields.phone.path", "not", "should not be valid"),
    ("field with path and write", "connector",
     changed(HUBSPOT, f"{CONTACTS}.fields.phone", {"path": "properties.phone", "write": "phone"}),
     f"{CONTACTS}.fields.phone.write", "not", "should not be valid"),
    ("field with neither path nor read", "connector", changed(HUBSPOT, f"{CONTACTS}.fields.phone", {"type": "phone"}),
     f"{CONTACTS}.fields.phone", "required", "'path' is a required property"),
    ("format on a non-datetime field", "connector",
     changed(HUBSPOT, f"{CONTACTS}.fields.phone", {"path": "phone", "type": "phone", "format": "%Y"}),
     f"{CONTACTS}.fields.phone.format", "not", "should not be valid"),
    ("bad dotted path", "connector", changed(HUBSPOT, f"{CONTACTS}.fields.email.path", "properties..email"),
     f"{CONTACTS}.fields.email.path", "pattern", "does not match"),
    # an item selector says where to write, not how to read: it belongs in write:
    ("item selector in a read-and-write path", "connector",
     changed(HUBSPOT, f"{CONTACTS}.fields.email.path", "emails[?primary].value"),
     f"{CONTACTS}.fields.email.path", "pattern", "does not match"),
    ("unclosed item selector in a write path", "connector",
     changed(HUBSPOT, f"{CONTACTS}.fields.email", {"read": "emails[0].value", "write": "emails[?primary.value"}),
     f"{CONTACTS}.fields.email.write", "pattern", "does not match"),
    ("unknown field type", "connector", changed(HUBSPOT, f"{CONTACTS}.fields.email.type", "mail"),
     f"{CONTACTS}.fields.email.type", "enum", "'mail' is not one of"),
    ("setting default of the wrong type", "connector",
     changed(HUBSPOT, "settings.page_size", {"description": "x", "type": "integer", "default": "100"}),
     "settings.page_size.default", "type", "'100' is not of type 'integer'"),
    ("setting without description", "connector", changed(HUBSPOT, "settings.token", {"secret": True}),
     "settings.token", "required", "'description' is a required property"),
    ("timeout zero", "connector", changed(HUBSPOT, "timeout", 0),
     "timeout", "exclusiveMinimum", "less than or equal to the minimum of 0"),
    ("integration bad schedule", "integration", changed(CRM_TO_NEWSLETTER, "schedule", "every 5 mins"),
     "schedule", "pattern", "does not match"),
    ("integration every 0 minutes", "integration", changed(CRM_TO_NEWSLETTER, "schedule", "every 0 minutes"),
     "schedule", "pattern", "does not match"),
    ("integration 4-field cron", "integration", changed(CRM_TO_NEWSLETTER, "schedule", "0 3 * *"),
     "schedule", "pattern", "does not match"),
    ("integration bad duration", "integration", changed(CRM_TO_NEWSLETTER, "full_every", "1 week"),
     "full_every", "pattern", "does not match"),
    ("integration negative delay", "integration", changed(CRM_TO_NEWSLETTER, "delay", -5),
     "delay", "minimum", "less than the minimum of 0"),
    ("integration name with capitals", "integration", changed(CRM_TO_NEWSLETTER, "integration", "CRM"),
     "integration", "pattern", "does not match"),
    ("integration unknown create policy", "integration", changed(CRM_TO_NEWSLETTER, "create", "sometimes"),
     "create", "enum", "'sometimes' is not one of"),
    ("integration without fields", "integration", changed(CRM_TO_NEWSLETTER, "fields", []),
     "fields", "minItems", "should be non-empty"),
    ("integration without match", "integration", changed(CRM_TO_NEWSLETTER, "match", drop=True),
     "", "required", "'match' is a required property"),
    ("side without object", "integration", changed(CRM_TO_NEWSLETTER, "left.object", drop=True),
     "left", "required", "'object' is a required property"),
    ("setting value is a mapping", "integration", changed(CRM_TO_NEWSLETTER, "left.settings.token", {"env": "X"}),
     "left.settings.token", "type", "is not of type 'string', 'number', 'boolean'"),
    ("rule then typo", "integration", changed(CRM_TO_NEWSLETTER, "rules.1.then", "skp"),
     "rules.1.then", "pattern", "'skp' does not match '^skip$'"),
    ("rule action with two keys", "integration",
     changed(CRM_TO_NEWSLETTER, "rules.0.then", [{"add_tag": "a", "remove_tag": "b"}]),
     "rules.0.then.0", "maxProperties", "has too many properties"),
    ("rule action unknown", "integration", changed(CRM_TO_NEWSLETTER, "rules.0.then", [{"tag": "a"}]),
     "rules.0.then.0", "additionalProperties", "'tag' was unexpected"),
    ("rule without if", "integration", changed(CRM_TO_NEWSLETTER, "rules.0", {"then": "skip"}),
     "rules.0", "required", "'if' is a required property"),
    ("format without transform date", "integration",
     changed(CRM_TO_NEWSLETTER, "fields.0", {"left": "email", "right": "email", "format": "%Y"}),
     "fields.0.format", "not", "should not be valid"),
    ("deletions max percent above 100", "integration",
     changed(CRM_TO_NEWSLETTER, "deletions.max_delete_percent", 150),
     "deletions.max_delete_percent", "maximum", "greater than the maximum of 100"),
    ("deletions then typo", "integration", changed(CRM_TO_NEWSLETTER, "deletions.then", "remove"),
     "deletions.then", "pattern", "'remove' does not match '^delete$'"),
    ("daemon log level", "syncd", {"log": {"level": "verbose"}},
     "log.level", "enum", "'verbose' is not one of ['debug', 'info', 'warning', 'error']"),
    ("daemon listen without port", "syncd", {"metrics": {"listen": "127.0.0.1", "enabled": True}},
     "metrics.listen", "pattern", "does not match"),
    ("daemon unknown key", "syncd", {"stat": {"path": "x.db"}},
     "", "additionalProperties", "'stat' was unexpected"),
]


@pytest.mark.parametrize(("kind", "doc", "path", "keyword", "fragment"),
                         [i[1:] for i in INVALID], ids=[i[0] for i in INVALID])
def test_each_mistake_is_one_error_at_the_key_to_fix(kind: str, doc: Any, path: str, keyword: str,
                                                    fragment: str) -> None:
    found = errors(kind, doc)
    summary = [(".".join(map(str, e.absolute_path)), e.validator, e.message) for e in found]
    assert len(found) == 1, summary
    (error,) = found
    assert (".".join(map(str, error.absolute_path)), error.validator) == (path, keyword), summary
    assert fragment in error.message


def test_a_misspelt_key_reports_the_typo_and_what_is_missing() -> None:
    doc = changed(HUBSPOT, "auth", {"type": "bearer", "tokn": "{{ settings.token }}"})
    assert [(".".join(map(str, e.absolute_path)), e.validator) for e in errors("connector", doc)] == [
        ("auth", "additionalProperties"), ("auth", "required"),
    ]


def test_forbidden_key_errors_carry_a_readable_message() -> None:
    # The loader may show x-error instead of jsonschema's "should not be valid under {}".
    doc = changed(HUBSPOT, f"{CONTACTS}.list.pagination.body_field", "after")
    (error,) = errors("connector", doc)
    assert error.schema["x-error"].startswith("param and body_field cannot be used together")


def test_a_non_object_auth_is_one_type_error() -> None:
    doc = changed(HUBSPOT, "auth", "bearer")
    assert [(e.validator, e.message) for e in errors("connector", doc)] == [
        ("type", "'bearer' is not of type 'object'"),
    ]
