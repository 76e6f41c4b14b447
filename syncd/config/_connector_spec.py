"""Build a :class:`ConnectorSpec` from a schema-valid connector document.

The schema has already checked shapes and names; this step compiles every
expression, template and write path, and checks that each expression only
uses the variables of the context it is evaluated in.  Errors are collected
as :class:`SpecError` (key path + message) so one run reports them all; the
loader turns key paths into file:line:col.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from syncd.config._defaults import schema_defaults
from syncd.config._errors import KeyPath, SpecError
from syncd.config._integration import parse_duration
from syncd.config._validate import suggest
from syncd.config._model import (
    OPERATION_NAMES,
    ApiKeyAuth,
    BatchOutcomes,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    ConnectorSpec,
    CursorPagination,
    FieldLookup,
    FieldRequest,
    FieldSpec,
    LinkHeaderPagination,
    NextUrlPagination,
    NoAuth,
    OAuth2Auth,
    ObjectSpec,
    OffsetPagination,
    Operation,
    OperationName,
    PageNumberPagination,
    Pagination,
    QuotaSpec,
    RateLimitSpec,
    RetrySpec,
    SettingSpec,
    SinceRestart,
    SinglePage,
    SyncTokenExpiry,
    WebhookCall,
    WebhookKind,
    WebhookRegister,
    WebhookSpec,
    WebhookVerify,
)
from syncd.expr import (
    Expr,
    ExprError,
    Template,
    ValueTemplate,
    WritePath,
    compile_expr,
    compile_template,
    compile_value,
    compile_write_path,
)

# Keys a spec leaves out take the schema's defaults (see _defaults): an
# operation's method, where its records are, how it pages, ….
_DEFAULTS = schema_defaults("connector")
# The variables each operation's templates may use (documented in the schema
# as x-variables; tests/config keep the two in step).
CONNECTOR_VARIABLES = frozenset({"settings"})
OPERATION_VARIABLES: Mapping[str, frozenset[str]] = {
    "list": frozenset({"settings", "cursor"}),
    "changes": frozenset({"settings", "cursor", "since", "since_epoch", "since_ms", "sync_token"}),
    "get": frozenset({"settings", "id"}),
    "find": frozenset({"settings", "field", "value"}),
    "create": frozenset({"settings", "fields", "record", "now"}),
    "update": frozenset({"settings", "id", "fields", "record", "current"}),
    "create_batch": frozenset({"settings", "records"}),
    "update_batch": frozenset({"settings", "records"}),
    "delete": frozenset({"settings", "id"}),
}
# A child object's operations (its records live under a parent record) also
# see the parent's id; a child is read per parent, so it has no changes or
# find, and it writes record by record.
CHILD_VARIABLE = "parent_id"
# An update with read_first sees the record as `get` read it just before.
CURRENT_VARIABLE = "current"
CHILD_OPERATIONS: tuple[OperationName, ...] = ("list", "get", "create", "update", "delete")
# A field's write_request is sent once the record exists: it sees the
# record's id, the value written and the value the record had before.
FIELD_REQUEST_VARIABLES = frozenset({"settings", "id", "value", "previous"})
# ... and, sent once per item added or removed (for_each), that item.
FIELD_ITEM_VARIABLE = "item"
# A batch item's own template (`item:`) is rendered once per record, before
# the request exists: it sees the settings only.
ITEM_VARIABLES = CONNECTOR_VARIABLES
# webhooks: what the signed string and the registration calls may use
SIGNED_VARIABLES = frozenset({"timestamp", "body"})
REGISTER_VARIABLES: Mapping[str, frozenset[str]] = {
    "create": frozenset({"settings", "url"}),
    "list": frozenset({"settings"}),
    "delete": frozenset({"settings", "id"}),
}
_WEBHOOK_KINDS: tuple[WebhookKind, ...] = ("created", "updated", "deleted")
# A batch operation falls back to its single twin record by record (a batch
# the API refuses as a whole, or an object without the batch endpoint), so
# it cannot be declared without it.
_BATCH_OF = {"create_batch": "create", "update_batch": "update"}

T = TypeVar("T")


class _Builder:
    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.errors: list[SpecError] = []
        self.setting_names = frozenset((doc.get("settings") or {}).keys())

    def attempt(self, path: KeyPath, make: Callable[[], T]) -> T | None:
        try:
            return make()
        except ExprError as e:
            self.errors.append(SpecError(path, str(e)))
        except SpecError as e:
            self.errors.append(e)
        return None

    def check_variables(
        self, path: KeyPath, used: frozenset[str], allowed: frozenset[str], what: str,
        exprs: tuple[Expr, ...] = (),
    ) -> None:
        unknown = sorted(used - allowed)
        if unknown:
            names = ", ".join(sorted(allowed)) or "none"
            hint = {CURRENT_VARIABLE: "; `current` is the record read before an update with read_first: true",
                    FIELD_ITEM_VARIABLE: "; `item` is one item added or removed, in a request with for_each"
                    }.get(unknown[0], "")
            self.errors.append(SpecError(
                path, f"unknown variable {unknown[0]!r} in {what}; this context has: {names}{hint}"))
        for expr in exprs:
            self._check_setting_refs(path, expr)

    def _check_setting_refs(self, path: KeyPath, expr: Expr) -> None:
        # A dotted `settings.NAME` must name a declared setting: a typo here
        # would otherwise render as an empty string at run time.
        src = expr.source
        if expr.is_path and src.startswith("settings."):
            name = src.split(".")[1].split("[")[0]
            if name not in self.setting_names:
                declared = ", ".join(sorted(self.setting_names)) or "none"
                self.errors.append(SpecError(
                    path, f"settings.{name} is not a declared setting (declared: {declared})"))

    def template(self, path: KeyPath, source: str, allowed: frozenset[str], *,
                 request_path: bool = False) -> Template:
        try:
            t = compile_template(source, path=request_path)
        except ExprError as e:
            raise SpecError(path, str(e)) from None
        exprs = tuple(p for p in t.parts if isinstance(p, Expr))
        self.check_variables(path, t.variables, allowed, "template", exprs)
        return t

    def value(self, path: KeyPath, value: Any, allowed: frozenset[str]) -> ValueTemplate:
        self._check_value_templates(path, value, allowed)
        fn, _ = compile_value(value)
        return fn

    def _check_value_templates(self, path: KeyPath, value: Any, allowed: frozenset[str]) -> None:
        if isinstance(value, str):
            self.template(path, value, allowed)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                self._check_value_templates((*path, k), v, allowed)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self._check_value_templates((*path, i), v, allowed)

    def expr(self, path: KeyPath, source: str) -> Expr:
        try:
            return compile_expr(source)
        except ExprError as e:
            raise SpecError(path, str(e)) from None

    def write_path(self, path: KeyPath, source: str) -> WritePath:
        try:
            return compile_write_path(source)
        except ExprError as e:
            raise SpecError(path, str(e)) from None


def build_connector(doc: Mapping[str, Any], source: str = "") -> tuple[ConnectorSpec | None, list[SpecError]]:
    """Compile a schema-valid connector document; returns (spec, errors)."""
    b = _Builder(doc)
    settings = {name: _setting(name, s) for name, s in (doc.get("settings") or {}).items()}
    doc = _DEFAULTS.fill("", doc)
    base_url = b.attempt(("base_url",), lambda: b.template(("base_url",), doc["base_url"], CONNECTOR_VARIABLES))
    auth = b.attempt(("auth",), lambda: _auth(b, doc["auth"]))
    headers = {
        k: t for k, v in (doc.get("headers") or {}).items()
        if (t := b.attempt(("headers", k), partial(b.template, ("headers", k), v, CONNECTOR_VARIABLES)))
    }
    objects = {}
    for name, obj in doc["objects"].items():
        _check_parent(b, doc["objects"], name, obj)
        _check_lookups(b, doc["objects"], name, obj)
        built = _object(b, ("objects", name), name, obj)
        if built is not None:
            objects[name] = built
    retry = _DEFAULTS.fill("/properties/retry", doc.get("retry") or {})
    rate = doc.get("rate_limit") or {}
    quota = _quota(b, rate.get("quota"))
    webhooks = _webhooks(b, doc["webhooks"], settings, list(doc["objects"])) if "webhooks" in doc else None
    if b.errors or base_url is None or auth is None:
        return None, b.errors
    spec = ConnectorSpec(
        name=doc["connector"],
        title=doc.get("title", doc["connector"]),
        description=doc.get("description", ""),
        docs_url=doc.get("docs_url", ""),
        base_url=base_url,
        settings=settings,
        auth=auth,
        headers=headers,
        timeout=float(doc["timeout"]),
        retry=RetrySpec(
            max_attempts=int(retry["max_attempts"]),
            backoff_initial=float(retry["backoff_initial"]),
            backoff_max=float(retry["backoff_max"]),
        ),
        rate_limit=RateLimitSpec(
            requests_per_second=rate.get("requests_per_second"),
            max_concurrency=rate.get("max_concurrency"),
            daily_limit=rate.get("daily_limit"),
            quota=quota,
        ),
        objects=objects,
        source=source,
        webhooks=webhooks,
    )
    return spec, b.errors


QUOTA_GROUPS = frozenset({"used", "limit", "remaining"})


def _quota(b: _Builder, doc: Mapping[str, Any] | None) -> QuotaSpec:
    q = _DEFAULTS.fill("/properties/rate_limit/properties/quota", doc or {})
    pattern = None
    if "usage_pattern" in q:
        pattern = b.attempt(("rate_limit", "quota", "usage_pattern"), partial(_usage_pattern, q["usage_pattern"]))
    return QuotaSpec(
        usage_header=q.get("usage_header"),
        usage_pattern=pattern,
        # The schema's pattern admits only what parse_duration reads.
        window_seconds=parse_duration(q["window"]),
        remaining_header=q.get("remaining_header"),
        limit_header=q.get("limit_header"),
        used_header=q.get("used_header"),
        reset_header=q.get("reset_header"),
        reset=q["reset"],
    )


def _usage_pattern(source: str) -> re.Pattern[str]:
    path: KeyPath = ("rate_limit", "quota", "usage_pattern")
    try:
        pattern = re.compile(source)
    except re.error as e:
        raise SpecError(path, f"usage_pattern is not a valid regular expression: {e}") from None
    names = set(pattern.groupindex)
    unknown = sorted(names - QUOTA_GROUPS)
    if unknown:
        raise SpecError(path, f"usage_pattern has a group named {unknown[0]!r}; the names it may use are "
                        "used, limit and remaining")
    if not names:
        raise SpecError(path, "usage_pattern names none of the figures it reads: name its groups "
                        "(?P<used>…), (?P<limit>…) or (?P<remaining>…)")
    return pattern


def _setting(name: str, s: Mapping[str, Any]) -> SettingSpec:
    # `required` defaults to true only for a setting without a `default`
    # (the schema's description says so; its `default: true` is the common case).
    required = s["required"] if "required" in s else "default" not in s
    s = _DEFAULTS.fill("/$defs/setting", s)
    return SettingSpec(
        name=name,
        description=s.get("description", ""),
        secret=bool(s["secret"]),
        required=bool(required),
        default=s.get("default"),
        type=s["type"],
    )


def _auth(b: _Builder, a: Mapping[str, Any]) -> AuthSpec:
    a = _DEFAULTS.fill("/$defs/auth", a)
    kind = a["type"]
    ctx = CONNECTOR_VARIABLES

    def t(key: str) -> Template:
        return b.template(("auth", key), a.get(key) or "", ctx)

    if kind == "none":
        return NoAuth()
    if kind == "api_key":
        return ApiKeyAuth(location=a["in"], name=a["name"], value=t("value"))
    if kind == "bearer":
        return BearerAuth(token=t("token"))
    if kind == "basic":
        return BasicAuth(username=t("username"), password=t("password"))
    if kind in ("oauth2_client_credentials", "oauth2_refresh_token"):
        grant = kind.removeprefix("oauth2_")
        return OAuth2Auth(
            grant=grant,
            token_url=t("token_url"),
            client_id=t("client_id"),
            client_secret=t("client_secret"),
            scopes=tuple(a.get("scopes") or ()),
            audience=t("audience") if "audience" in a else None,
            refresh_token=t("refresh_token") if grant == "refresh_token" else None,
            client_auth=a["client_auth"],
        )
    raise SpecError(("auth", "type"), f"unknown auth type {kind!r}")


def _object(b: _Builder, path: KeyPath, name: str, obj: Mapping[str, Any]) -> ObjectSpec | None:
    n_errors = len(b.errors)
    obj = _DEFAULTS.fill("/$defs/object", obj)
    id_expr = b.attempt((*path, "id"), lambda: b.expr((*path, "id"), obj["id"]))
    updated = b.attempt((*path, "updated_at"), lambda: b.expr((*path, "updated_at"), obj["updated_at"])) \
        if "updated_at" in obj else None
    deleted = b.attempt((*path, "deleted"), lambda: b.expr((*path, "deleted"), obj["deleted"])) \
        if "deleted" in obj else None
    fields = {}
    child = "parent" in obj
    for fname, f in obj["fields"].items():
        built = b.attempt((*path, "fields", fname),
                          partial(_field, b, (*path, "fields", fname), fname, f, child))
        if built is not None:
            fields[fname] = built
    for batch in _BATCH_OF:
        requested = [n for n, f in obj["fields"].items() if isinstance(f, Mapping) and "write_request" in f]
        if batch in obj and requested:
            b.errors.append(SpecError(
                (*path, "fields", requested[0], "write_request"),
                f"a field with write_request cannot be written by {batch}: its request is sent per "
                f"record, after the record's own write; remove {batch} from objects.{name}, or the "
                "field's write_request"))
    operations = {}
    for batch, single in _BATCH_OF.items():
        if batch in obj and single not in obj:
            b.errors.append(SpecError(
                (*path, batch),
                f"{batch} needs a {single} operation beside it: syncd {single}s records one by one "
                f"when the API refuses a batch; add {single}: to objects.{name}, or remove {batch}"))
    if isinstance(obj.get("update"), Mapping) and obj["update"].get("read_first"):
        if "get" not in obj:
            b.errors.append(SpecError((*path, "update", "read_first"), "read_first reads the record with the "
                                      "object's get operation: add get: to objects." + name))
        if "update_batch" in obj:
            b.errors.append(SpecError((*path, "update_batch"), "update reads each record first (read_first), "
                                      "which a batch update cannot: remove update_batch, or read_first"))
    _check_read_back(b, path, obj)
    if "list" not in obj:
        # Without list syncd never reads the object: it writes to it and
        # finds the record to write for each match key with find (a create
        # without that lookup would duplicate what is already there).
        if child:
            b.errors.append(SpecError(path, f"child object {name} has no list operation: a child object "
                                            "is read under each parent with list; add list:"))
        elif "find" not in obj:
            b.errors.append(SpecError(path, f"object {name} has no list operation, so it can only be written "
                                            "to, and then syncd finds the record for each match key with "
                                            "find: add find: (or list:)"))
        if "changes" in obj:
            b.errors.append(SpecError((*path, "changes"), f"changes without list: syncd reads an object in "
                                                          f"full with list before it reads its changes; add "
                                                          f"list: to objects.{name}, or remove changes"))
    for op_name in OPERATION_NAMES:
        if op_name in obj:
            op = b.attempt((*path, op_name), partial(_operation, b, (*path, op_name), op_name, obj[op_name],
                                                     child))
            if op is not None:
                operations[op_name] = op
    _check_sync_token(b, path, operations)
    if len(b.errors) > n_errors or id_expr is None:
        return None
    return ObjectSpec(
        name=name, id=id_expr, fields=fields, operations=operations,
        updated_at=updated, deleted=deleted, parent=obj.get("parent"),
    )


def _check_read_back(b: _Builder, path: KeyPath, obj: Mapping[str, Any]) -> None:
    """``create.read_back`` reads the created record with the object's ``get``,
    which must exist; and a batch create, whose answer is paired with its
    inputs by the created records' fields, cannot stand beside it (an API
    that answers a create with ids only gives a batch no fields to pair)."""
    create = obj.get("create")
    if not isinstance(create, Mapping) or "read_back" not in create:
        return
    where: KeyPath = (*path, "create", "read_back")
    if "get" not in obj:
        b.errors.append(SpecError(where, "read_back reads the created record with this object's get "
                                  "operation, which it lacks: declare get, or remove read_back"))
    if "create_batch" in obj:
        b.errors.append(SpecError((*path, "create_batch"), "create_batch pairs the records of its answer "
                                  "with its inputs by their fields, and create's read_back says the API "
                                  "answers with ids only: remove create_batch (records are then created "
                                  "one by one, each read back)"))
def _check_sync_token(b: _Builder, path: KeyPath, operations: Mapping[OperationName, Operation]) -> None:
    """A changes read that sends ``{{ sync_token }}`` needs a token to send:
    the first comes from a full read, so ``list`` must say where its answer
    carries one; and ``sync_token_expired`` is about that token."""
    changes = operations.get("changes")
    if changes is None:
        return
    listing = operations.get("list")
    if "sync_token" in changes.uses and (listing is None or listing.sync_token is None):
        b.errors.append(SpecError(
            (*path, "list"), "changes sends {{ sync_token }}, but list has no sync_token: the first token "
            "comes from a full read; say where list's answer carries it (e.g. sync_token: nextSyncToken)"))
    if changes.sync_token_expired is not None and "sync_token" not in changes.uses:
        b.errors.append(SpecError(
            (*path, "changes", "sync_token_expired"),
            "sync_token_expired is about the token changes sends, but changes does not use {{ sync_token }}"))


# The operations of a child object that must say which parent they read or
# write under: get, update and delete name the child's own id, which many
# APIs (HubSpot's) address without the parent.
_SCOPED_CHILD_OPERATIONS: frozenset[OperationName] = frozenset({"list", "create"})


def _check_parent(b: _Builder, objects: Mapping[str, Any], name: str, obj: Mapping[str, Any]) -> None:
    """A child object names an object of the spec that is not a child
    itself, declares only the operations a child has, and its list and
    create say under which parent they read or write (``{{ parent_id }}`` in
    their path, params, headers or body: a nested path, or a search filter
    and an association as HubSpot's notes take)."""
    parent = obj.get("parent")
    if parent is None:
        return
    path: KeyPath = ("objects", name, "parent")
    if parent not in objects or parent == name:
        others = sorted(n for n in objects if n != name)
        hint = suggest(parent, others) or f" (it has: {', '.join(others) or 'none'})"
        b.errors.append(SpecError(path, f"parent {parent!r} is not another object of this spec{hint}"))
    elif "parent" in objects[parent]:
        b.errors.append(SpecError(path, f"parent {parent!r} is a child object itself; a child's parent "
                                        "must be a top-level object"))
    for op_name in OPERATION_NAMES:
        if op_name not in obj:
            continue
        if op_name not in CHILD_OPERATIONS:
            b.errors.append(SpecError(("objects", name, op_name), f"a child object (parent: {parent}) is read "
                                      f"per parent and written one by one: it has no {op_name} operation "
                                      f"(it may have: {', '.join(CHILD_OPERATIONS)})"))
            continue
        op = obj[op_name] if isinstance(obj[op_name], Mapping) else {}
        if op_name in _SCOPED_CHILD_OPERATIONS and CHILD_VARIABLE not in _request_placeholders(op):
            b.errors.append(SpecError(("objects", name, op_name, "path"), f"a child object's {op_name} "
                                      f"must say under which parent: use {{{{ {CHILD_VARIABLE} }}}} in its "
                                      f"path (as in /contacts/{{{{ {CHILD_VARIABLE} }}}}/{name}), params, "
                                      "headers or body"))


def _request_placeholders(op: Mapping[str, Any]) -> frozenset[str]:
    """The variables an operation's path, params, headers and body use."""
    found: set[str] = set(_placeholders(op.get("path", "")))
    stack: list[Any] = [op.get("params"), op.get("headers"), op.get("body")]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            found |= _placeholders(node)
        elif isinstance(node, Mapping):
            stack += node.values()
        elif isinstance(node, list):
            stack += node
    return frozenset(found)


def _check_lookups(b: _Builder, objects: Mapping[str, Any], name: str, obj: Mapping[str, Any]) -> None:
    """A field's lookup object must be able to list the names: a top-level
    object of this spec, with a list and the named field, and no lookups of
    its own (a chain would read objects within objects)."""
    for fname, f in (obj.get("fields") or {}).items():
        lookup = f.get("lookup") if isinstance(f, Mapping) else None
        if not isinstance(lookup, Mapping):
            continue
        path: KeyPath = ("objects", name, "fields", fname, "lookup", "object")
        target = objects.get(lookup["object"])
        problem = None
        if lookup["object"] == name:
            problem = "a field cannot look its ids up in its own object"
        elif not isinstance(target, Mapping):
            problem = (f"no object {lookup['object']!r} in this spec to look the ids up in "
                       f"(objects: {', '.join(objects)})")
        elif "parent" in target:
            problem = f"{lookup['object']!r} is a child object, read per parent: a lookup needs a top-level object"
        elif "list" not in target:
            problem = f"{lookup['object']!r} has no list operation to read the names with"
        elif lookup["field"] not in (target.get("fields") or {}):
            problem = (f"{lookup['object']!r} has no field {lookup['field']!r} "
                       f"(its fields: {', '.join(target.get('fields') or {})})")
            path = (*path[:-1], "field")
        elif any(isinstance(g, Mapping) and "lookup" in g for g in target["fields"].values()):
            problem = f"{lookup['object']!r} has lookups of its own: a lookup object must give names directly"
        if problem is not None:
            b.errors.append(SpecError(path, problem))


def _placeholders(source: str) -> frozenset[str]:
    try:
        return compile_template(source).variables
    except ExprError:
        return frozenset()  # reported where the path is compiled


def _field(b: _Builder, path: KeyPath, name: str, f: Mapping[str, Any], child: bool = False) -> FieldSpec:
    write: WritePath | None
    if "path" in f:
        read = b.expr((*path, "path"), f["path"])
        write = b.write_path((*path, "path"), f["path"])
    else:
        read = b.expr((*path, "read"), f["read"])
        write = b.write_path((*path, "write"), f["write"]) if "write" in f else None
    fmt = f.get("format")
    formats = tuple(fmt) if isinstance(fmt, list) else ((fmt,) if fmt else ())
    if formats and f.get("type") != "datetime":
        raise SpecError((*path, "format"), "format is only for fields of type: datetime")
    given = f.get("write_request")
    many = given if isinstance(given, list) else [given] if given is not None else []
    requests = tuple(
        _field_request(b, (*path, "write_request", *((n,) if isinstance(given, list) else ())), r, child)
        for n, r in enumerate(many))
    lookup = FieldLookup(f["lookup"]["object"], f["lookup"]["field"]) if "lookup" in f else None
    return FieldSpec(
        name=name, read=read, write=write, type=f.get("type"), formats=formats,
        description=f.get("description", ""), lookup=lookup, requests=requests,
    )


def _field_request(b: _Builder, path: KeyPath, r: Mapping[str, Any], child: bool) -> FieldRequest:
    allowed = FIELD_REQUEST_VARIABLES | ({CHILD_VARIABLE} if child else frozenset()) \
        | ({FIELD_ITEM_VARIABLE} if "for_each" in r else frozenset())
    r = _DEFAULTS.fill("/$defs/fieldRequest", r)
    return FieldRequest(
        method=r["method"],
        path=b.template((*path, "path"), r["path"], allowed),
        body=b.value((*path, "body"), r["body"], allowed) if "body" in r else None,
        for_each=r.get("for_each"),
    )


def _operation(b: _Builder, path: KeyPath, name: OperationName, op: Mapping[str, Any],
               child: bool = False) -> Operation:
    allowed = OPERATION_VARIABLES[name] | ({CHILD_VARIABLE} if child else frozenset())
    if not op.get("read_first"):
        allowed -= {CURRENT_VARIABLE}  # there is no current record unless it is read first
    # Each operation has its own schema (listOperation, …): its method, and
    # only the keys it has (records, record, pagination, id_field).
    op = _DEFAULTS.fill(f"/$defs/object/properties/{name}", op)
    params = {
        k: b.value((*path, "params", k), v, allowed) for k, v in (op.get("params") or {}).items()
    }
    headers = {
        k: b.template((*path, "headers", k), v, allowed) for k, v in (op.get("headers") or {}).items()
    }
    body = b.value((*path, "body"), op["body"], allowed) if "body" in op else None
    records = b.expr((*path, "records"), op["records"]) if "records" in op else None
    record = b.expr((*path, "record"), op["record"]) if "record" in op else None
    read_back = b.expr((*path, "read_back"), op["read_back"]) if "read_back" in op else None
    batch = name in _BATCH_OF
    item = b.value((*path, "item"), op["item"], ITEM_VARIABLES) if batch and "item" in op else None
    id_field = b.write_path((*path, "id_field"), op["id_field"]) if "id_field" in op else None
    max_items = op.get("max_items") if batch else None
    outcomes = None
    if "outcomes" in op:  # update_batch only (its schema has the key)
        o = op["outcomes"]
        outcomes = BatchOutcomes(ok=b.expr((*path, "outcomes", "ok"), o["ok"]),
                                 error=b.expr((*path, "outcomes", "error"), o["error"]) if "error" in o else None)
    if isinstance(op.get("pagination"), Mapping) and "restart" in op["pagination"]:
        restart = (*path, "pagination", "restart")
        b.attempt(restart, partial(_check_restart, restart, name, op))  # and go on: more may be wrong
    if batch and (type(max_items) is not int or max_items < 1):
        # the schema says so too; this guards a document that skipped it
        raise SpecError((*path, "max_items"), f"max_items must be an integer of at least 1, not {max_items!r}")
    sync_token = b.expr((*path, "sync_token"), op["sync_token"]) if "sync_token" in op else None
    expired = op.get("sync_token_expired")
    sync_token_expired = None
    if isinstance(expired, Mapping):
        status = expired["status"]  # the schema requires it: a number or a list of them
        when = expired.get("when")
        sync_token_expired = SyncTokenExpiry(
            status=tuple(int(s) for s in status) if isinstance(status, list) else (int(status),),
            when=b.expr((*path, "sync_token_expired", "when"), when) if when is not None else None)
    warm_up = {
        k: b.value((*path, "warm_up", "params", k), v, allowed) for k, v in op["warm_up"]["params"].items()
    } if "warm_up" in op else None
    path_template = b.template((*path, "path"), op["path"], allowed, request_path=True)
    # (each compiled above already: a broken one was reported at its key)
    uses = path_template.variables.union(*(compile_value(v)[1] for v in (
        op.get("params") or {}, op.get("headers") or {}, op.get("body"))))
    return Operation(
        name=name,
        method=op["method"],
        path=path_template,
        params=params,
        headers=headers,
        body=body,
        records=records,
        record=record,
        read_back=read_back,
        # only list, changes and find page (their schemas have `pagination`);
        # the others read one response
        pagination=(_pagination(b, (*path, "pagination"), op["pagination"], _request_variables(op))
                    if "pagination" in op else SinglePage()),
        concurrency=_concurrency(path, op),
        item=item,
        id_field=id_field,
        max_items=max_items,
        sync_token=sync_token,
        sync_token_expired=sync_token_expired,
        # (the schema's pattern admits only what parse_duration reads; changes only)
        lookback_seconds=parse_duration(op["lookback"]) if "lookback" in op else 0.0,
        uses=uses,
        warm_up=warm_up,
        read_first=op["read_first"] if "read_first" in op else False,  # filled from the schema for update
        outcomes=outcomes,
    )


def _pagination(b: _Builder, path: KeyPath, p: Mapping[str, Any], request_variables: frozenset[str]) -> Pagination:
    p = _DEFAULTS.fill("/$defs/pagination", p)
    kind = p["type"]
    # Keys every kind has: how far one read, and one query, may go.
    caps: dict[str, Any] = {"max_pages": p.get("max_pages"), "max_results": p.get("max_results")}
    if "restart" in p:
        if caps["max_results"] is None:  # the schema says so too
            raise SpecError((*path, "restart"), "restart needs max_results: it says what to do "
                            "when one query has returned max_results records")
        caps["restart"] = SinceRestart(
            since_from=b.expr((*path, "restart", "since_from"), p["restart"]["since_from"]),
            whole_seconds="since_epoch" in request_variables)
    if kind == "single":
        return SinglePage(**caps)
    if kind == "cursor":
        if ("param" in p) == ("body_field" in p):
            raise SpecError(path, "cursor pagination needs exactly one of param or body_field")
        return CursorPagination(
            cursor=b.expr((*path, "cursor"), p["cursor"]),
            param=p.get("param"),
            body_field=b.write_path((*path, "body_field"), p["body_field"]) if "body_field" in p else None,
            **caps,
        )
    if kind == "next_url":
        return NextUrlPagination(next=b.expr((*path, "next"), p["next"]), **caps)
    if kind == "link_header":
        return LinkHeaderPagination(**caps)
    if kind == "offset":
        return OffsetPagination(
            param=p["param"], limit_param=p["limit_param"],
            total=b.expr((*path, "total"), p["total"]) if "total" in p else None,
            **caps,
        )
    if kind == "page_number":
        return PageNumberPagination(
            param=p["param"], start=int(p["start"]),
            total_pages=b.expr((*path, "total_pages"), p["total_pages"]) if "total_pages" in p else None,
            **caps,
        )
    raise SpecError((*path, "type"), f"unknown pagination type {kind!r}")


# The pagination types whose page requests can all be written before any
# page is answered: an offset or a page number.
_PARALLEL_PAGINATION = frozenset({"offset", "page_number"})


def _concurrency(path: KeyPath, op: Mapping[str, Any]) -> int:
    """``concurrency`` (list and changes): above 1 only where the requests of
    the pages after this one are known without its answer."""
    n = op.get("concurrency", _DEFAULTS.value("/$defs/pageConcurrency"))
    if type(n) is not int or n < 1:  # the schema says so too; this guards a document that skipped it
        raise SpecError((*path, "concurrency"), f"concurrency must be an integer of at least 1, not {n!r}")
    if n == 1:
        return n
    pagination = op.get("pagination")
    if not isinstance(pagination, Mapping):
        pagination = {"type": "single"}
    kind = pagination.get("type")
    if kind not in _PARALLEL_PAGINATION:
        why = {
            "single": "this read has one page",
            "cursor": "each page's request carries the cursor the page before it answered, so "
                      "no page can be asked for before the one before it is read",
            "next_url": "each page's URL is in the page before it, so no page can be asked for "
                        "before the one before it is read",
            "link_header": "each page's URL is in the Link header of the page before it, so no page "
                           "can be asked for before the one before it is read",
        }.get(str(kind), f"pagination {kind!r} does not allow it")
        raise SpecError((*path, "concurrency"), f"concurrency {n} needs offset or page_number pagination: "
                        f"{why}; remove concurrency (the next page is still asked for while this one is used)")
    if "restart" in pagination:
        raise SpecError((*path, "concurrency"), f"concurrency {n} cannot be used with pagination.restart: "
                        "a restarted query's pages are known only once the query before it has ended")
    return n


_SINCE_VARIABLES = frozenset({"since", "since_epoch", "since_ms"})


def _check_restart(path: KeyPath, name: OperationName, op: Mapping[str, Any]) -> None:
    """A ``restart`` moves a changes read's since-window: only a changes
    read has one, and its request must use it, or the new query would be
    the old one again."""
    if name != "changes":
        raise SpecError(path, f"restart is only for a changes read (it moves the read's since-window "
                        f"forward), not for {name}; without restart, max_results makes a read that "
                        "reaches it fail instead of stopping short")
    if not _request_variables(op) & _SINCE_VARIABLES:
        raise SpecError(path, "restart starts a new query from the last record's since_from value, but "
                        "this request uses none of since, since_epoch, since_ms: every query would be "
                        "the same; filter the request on one of them")


def _request_variables(op: Mapping[str, Any]) -> frozenset[str]:
    """The variables an operation's request uses: its path, params, headers and body."""
    return frozenset().union(*(_value_variables(op.get(part)) for part in ("path", "params", "headers", "body")))


def _value_variables(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return _placeholders(value)
    if isinstance(value, Mapping):
        return frozenset().union(*map(_value_variables, value.values()))
    if isinstance(value, list):
        return frozenset().union(*map(_value_variables, value))
    return frozenset()


def _webhooks(b: _Builder, w: Mapping[str, Any], settings: Mapping[str, SettingSpec],
              objects: list[str]) -> WebhookSpec | None:
    """``webhooks:``: compiled, and checked beyond what the schema can say
    (the object exists, the secret is a secret setting, the signed string's
    timestamp has a header, no kind means two things)."""
    path: KeyPath = ("webhooks",)
    n_errors = len(b.errors)
    w = _DEFAULTS.fill("/properties/webhooks", w)
    if "object" in w:
        obj = w["object"]
        if obj not in objects:
            b.errors.append(SpecError((*path, "object"), f"webhooks.object {obj!r} is not an object of this "
                                      f"connector (its objects: {', '.join(objects)})"))
    elif len(objects) == 1:
        obj = objects[0]
    else:
        obj = ""
        b.errors.append(SpecError(path, f"webhooks needs `object:` naming which object the events are about: "
                                  f"this connector has several ({', '.join(objects)})"))
    verify = _webhook_verify(b, (*path, "verify"), w["verify"], settings)
    expr = {key: b.attempt((*path, key), partial(b.expr, (*path, key), w[key]))
            for key in ("id", "events", "kind", "record") if key in w}
    kinds: dict[str, WebhookKind] = {}
    for ours in _WEBHOOK_KINDS:
        for i, theirs in enumerate((w.get("kinds") or {}).get(ours) or ()):
            if theirs in kinds:
                b.errors.append(SpecError((*path, "kinds", ours, i), f"event kind {theirs!r} is listed under "
                                          f"kinds.{kinds[theirs]} already: one kind means one thing"))
            kinds[theirs] = ours
    if "kinds" in w and "kind" not in w:
        b.errors.append(SpecError((*path, "kinds"), "kinds needs `kind:` beside it: the JMESPath to each "
                                  "event's kind, matched against these lists"))
    register = _webhook_register(b, (*path, "register"), w["register"]) if "register" in w else None
    id_expr = expr.get("id")
    if len(b.errors) > n_errors or verify is None or id_expr is None:
        return None
    return WebhookSpec(object=obj, verify=verify, id=id_expr, events=expr.get("events"),
                       kind=expr.get("kind"), kinds=kinds, record=expr.get("record"), register=register)


def _webhook_verify(b: _Builder, path: KeyPath, v: Mapping[str, Any],
                    settings: Mapping[str, SettingSpec]) -> WebhookVerify | None:
    v = _DEFAULTS.fill("/properties/webhooks/properties/verify", v)
    secret = b.attempt((*path, "secret"), partial(b.template, (*path, "secret"), v["secret"], CONNECTOR_VARIABLES))
    if secret is not None:
        # A key in plain text in an integration file is a key anyone with
        # the file can forge calls with: the setting must be a secret.
        for part in secret.parts:
            if isinstance(part, Expr) and part.source.startswith("settings."):
                name = part.source.split(".")[1]
                if name in settings and not settings[name].secret:
                    b.errors.append(SpecError((*path, "secret"), f"settings.{name} signs webhooks: declare it "
                                              f"`secret: true` under settings.{name}, so that integrations give "
                                              "it as a secret reference"))
        if secret.is_constant:
            b.errors.append(SpecError((*path, "secret"), "the webhook secret must come from a setting "
                                      "(`{{ settings.NAME }}`), not be written in the spec"))
    stamp = v.get("timestamp")
    signed = None
    if "signed" in v:
        signed = b.attempt((*path, "signed"), partial(b.template, (*path, "signed"), v["signed"], SIGNED_VARIABLES))
        if signed is not None and "timestamp" in signed.variables and stamp is None:
            b.errors.append(SpecError((*path, "signed"), "signed uses `timestamp`, but verify has no `timestamp:` "
                                      "saying which header holds it"))
    if secret is None:
        return None
    stamp = _DEFAULTS.fill("/properties/webhooks/properties/verify/properties/timestamp", stamp) if stamp else None
    return WebhookVerify(
        secret=secret, header=v["header"], algorithm=v["algorithm"], encoding=v["encoding"],
        prefix=v.get("prefix", ""), signed=signed,
        timestamp_header=stamp["header"] if stamp else None,
        **({"tolerance_seconds": float(stamp["tolerance_seconds"])} if stamp else {}),
    )


def _webhook_register(b: _Builder, path: KeyPath, r: Mapping[str, Any]) -> WebhookRegister | None:
    r = _DEFAULTS.fill("/properties/webhooks/properties/register", r)
    calls: dict[str, WebhookCall] = {}
    for name, allowed in REGISTER_VARIABLES.items():
        where = (*path, name)
        c = _DEFAULTS.fill(f"/properties/webhooks/properties/register/properties/{name}", r[name])
        call = b.attempt(where, lambda: WebhookCall(
            method=c["method"], path=b.template((*where, "path"), c["path"], allowed),
            body=b.value((*where, "body"), c["body"], allowed) if "body" in c else None,
            records=b.expr((*where, "records"), c["records"]) if "records" in c else None))
        if call is not None:
            calls[name] = call
    id_expr = b.attempt((*path, "id"), partial(b.expr, (*path, "id"), r["id"]))
    url_expr = b.attempt((*path, "url"), partial(b.expr, (*path, "url"), r["url"]))
    if len(calls) < 3 or id_expr is None or url_expr is None:
        return None
    return WebhookRegister(create=calls["create"], list=calls["list"], delete=calls["delete"],
                           id=id_expr, url=url_expr)
