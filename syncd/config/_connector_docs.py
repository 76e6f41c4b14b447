"""What a connector spec offers, as data and as a Markdown page.

:func:`connector_summary` is what ``syncd connectors`` prints (its objects,
children under their parents, and the operations of each);
:func:`render_connector_page` and :func:`render_connector_index` are the
pages under ``docs/connectors/``, written by ``docs/generate_reference.py``.
Both read the built :class:`ConnectorSpec` rather than the YAML, so a page
says what syncd will do with the spec (defaults filled in, methods as the
builder chose them), and the one page layout holds for every spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from syncd.config._model import (
    OPERATION_NAMES,
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    ConnectorSpec,
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    NoAuth,
    OAuth2Auth,
    ObjectSpec,
    OffsetPagination,
    Operation,
    PageNumberPagination,
    Pagination,
    RateLimitSpec,
    SettingSpec,
    SinglePage,
    WebhookCall,
    WebhookSpec,
)

__all__ = [
    "connector_summary",
    "header_comment",
    "render_connector_index",
    "render_connector_page",
]

GENERATOR = "docs/generate_reference.py"


# ------------------------------------------------------------------ summary


def _operations(obj: ObjectSpec) -> list[str]:
    return [name for name in OPERATION_NAMES if name in obj.operations]


def _objects_in_order(spec: ConnectorSpec) -> list[tuple[ObjectSpec, list[ObjectSpec]]]:
    """Top-level objects in the spec's order, each with its child objects."""
    children: dict[str, list[ObjectSpec]] = {}
    for obj in spec.objects.values():
        if obj.parent is not None:
            children.setdefault(obj.parent, []).append(obj)
    return [(obj, children.get(obj.name, [])) for obj in spec.objects.values() if obj.parent is None]


# How an object without `list` is shown (`syncd connectors`, the pages): an
# integration can only write to it, one way.
WRITE_ONLY = "no list: write-only target"


def connector_summary(spec: ConnectorSpec) -> dict[str, Any]:
    """The spec's name, title, description and objects (each with its
    operations, in syncd's order, whether it is write-only (no ``list``),
    and its child objects): JSON-ready."""
    return {
        "name": spec.name,
        "title": spec.title,
        "description": spec.description,
        "objects": [
            {"name": obj.name, "operations": _operations(obj), "write_only": "list" not in obj.operations,
             "children": [{"name": c.name, "operations": _operations(c)} for c in kids]}
            for obj, kids in _objects_in_order(spec)
        ],
    }


def header_comment(text: str) -> str:
    """The comment block a spec file starts with (API version, reference
    pages), without the ``yaml-language-server`` line and the ``#``s."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        if stripped.startswith("# yaml-language-server:"):
            continue
        lines.append(stripped[2:] if stripped.startswith("# ") else stripped[1:])
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


# ---------------------------------------------------------------- rendering


def _code(text: object) -> str:
    """Inline code that survives backticks inside ``text`` (:func:`_table` escapes pipes)."""
    s = str(text)
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _cell(text: str) -> str:
    return " ".join(text.split())


def _table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    head = list(head)
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    # A pipe ends a cell even inside a code span, unless escaped (GFM).
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return out + [""]


def _duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return f"{seconds:g} second" + ("s" if seconds != 1 else "")


def _setting_rows(settings: Mapping[str, SettingSpec]) -> list[list[str]]:
    rows = []
    for s in settings.values():
        required = "yes" if s.required else "no"
        default = _code(s.default) if s.default is not None else ""
        rows.append([_code(s.name), s.type, required, "yes" if s.secret else "no", default,
                     _cell(s.description)])
    return rows


def _auth_lines(auth: AuthSpec) -> list[str]:
    if isinstance(auth, NoAuth):
        return ["None: requests carry no credentials."]
    if isinstance(auth, BearerAuth):
        return [f"Bearer token (`Authorization: Bearer …`): {_code(auth.token.source)}."]
    if isinstance(auth, ApiKeyAuth):
        where = "header" if auth.location == "header" else "query parameter"
        return [f"API key in the {where} {_code(auth.name)}: {_code(auth.value.source)}."]
    if isinstance(auth, BasicAuth):
        return [f"HTTP Basic: user {_code(auth.username.source)}, password {_code(auth.password.source)}."]
    assert isinstance(auth, OAuth2Auth)
    lines = [f"OAuth 2, grant `{auth.grant}`: tokens from {_code(auth.token_url.source)}, "
             f"client {_code(auth.client_id.source)} (secret {_code(auth.client_secret.source)}, "
             f"sent {'in the body' if auth.client_auth == 'body' else 'as HTTP Basic'})."]
    if auth.refresh_token is not None:
        lines.append(f"Refresh token: {_code(auth.refresh_token.source)}.")
    if auth.scopes:
        lines.append("Scopes: " + ", ".join(_code(s) for s in auth.scopes) + ".")
    if auth.audience is not None:
        lines.append(f"Audience: {_code(auth.audience.source)}.")
    return lines


def _limit_lines(spec: ConnectorSpec) -> list[str]:
    rl: RateLimitSpec = spec.rate_limit
    q = rl.quota
    out = []
    if rl.requests_per_second is not None:
        out.append(f"- At most {rl.requests_per_second:g} requests a second.")
    if rl.max_concurrency is not None:
        out.append(f"- At most {rl.max_concurrency} requests at a time.")
    window = _duration(q.window_seconds)
    if rl.daily_limit is not None:
        out.append(f"- Quota: {rl.daily_limit:,} requests per {window} window, shared by every "
                   "integration using the account.")
    headers = [(q.limit_header, "the quota"), (q.remaining_header, "requests left"),
               (q.used_header, "requests used"),
               (q.usage_header, "figures read by the pattern " + _code(q.usage_pattern.pattern)
                if q.usage_pattern is not None else ""),
               (q.reset_header, "when the window ends, " + ("as Unix time" if q.reset == "epoch"
                                                            else "in seconds from now"))]
    given = [f"{_code(h)} ({what})" for h, what in headers if h is not None]
    if given:
        out.append("- Quota headers read from every answer: " + ", ".join(given) + ".")
    if not out:
        out.append("- No rate limit declared: syncd sends requests as fast as the app answers.")
    out.append(f"- Timeout {spec.timeout:g} seconds a request; up to {spec.retry.max_attempts} attempts, "
               f"backing off from {spec.retry.backoff_initial:g} to {spec.retry.backoff_max:g} seconds.")
    return out


def _pagination(p: Pagination) -> str:
    if isinstance(p, SinglePage):
        text = "one page"
    elif isinstance(p, CursorPagination):
        sent = (f"query parameter {_code(p.param)}" if p.param is not None
                else f"body field {_code(p.body_field.source if p.body_field else '')}")
        text = f"cursor {_code(p.cursor.source)}, sent as {sent}"
    elif isinstance(p, NextUrlPagination):
        text = f"next page's URL at {_code(p.next.source)}"
    elif isinstance(p, LinkHeaderPagination):
        text = "`Link` header, `rel=\"next\"`"
    elif isinstance(p, OffsetPagination):
        text = f"offset in {_code(p.param)}, page size in {_code(p.limit_param)}"
        if p.total is not None:
            text += f", total at {_code(p.total.source)}"
    else:
        assert isinstance(p, PageNumberPagination)
        text = f"page number in {_code(p.param)} from {p.start}"
        if p.total_pages is not None:
            text += f", page count at {_code(p.total_pages.source)}"
    if p.max_pages is not None and not isinstance(p, SinglePage):
        text += f"; at most {p.max_pages} pages"
    if p.max_results is not None:
        text += f"; at most {p.max_results} records a query"
        if p.restart is not None:
            text += f", then a new query from the last record's {_code(p.restart.since_from.source)}"
    return text


def _operation_row(op: Operation) -> list[str]:
    where = op.records.source if op.records is not None else (op.record.source if op.record else "")
    notes = []
    if op.max_items is not None:
        notes.append(f"up to {op.max_items} records a request")
    if op.id_field is not None:
        notes.append(f"id in each item at {_code(op.id_field.source)}")
    if op.read_first:
        notes.append("reads the record first (`get`)")
    if op.lookback_seconds:
        notes.append(f"starts {_duration(op.lookback_seconds)} before the newest change read (`lookback`)")
    shown = "the whole body" if where == "@" else _code(where) if where else ""
    return [f"`{op.name}`", _code(f"{op.method} {op.path.source}"), shown,
            _pagination(op.pagination) if op.name in ("list", "changes", "find") else "",
            "; ".join(notes)]


def _object_section(obj: ObjectSpec, level: str) -> list[str]:
    heading = f"{level} `{obj.name}`" + (f" (child of `{obj.parent}`)" if obj.parent else "")
    out = [heading, ""]
    if obj.parent is not None:
        out += [f"Read and written per `{obj.parent}` record (`{{{{ parent_id }}}}` in its paths).", ""]
    if "list" not in obj.operations:
        out += [f"**{WRITE_ONLY.capitalize()}.** The API cannot list these records, so syncd never reads "
                "them: an integration can only write to this object, one way from the other side, finding "
                "the record for each match key with `find` (linked records are updated by id).", ""]
    facts = [f"id {_code(obj.id.source)}"]
    if obj.updated_at is not None:
        facts.append(f"last change {_code(obj.updated_at.source)}")
    if obj.deleted is not None:
        facts.append(f"deleted when {_code(obj.deleted.source)}")
    out += ["Record: " + ", ".join(facts) + ".", ""]
    rows = []
    for f in obj.fields.values():
        if f.write is None:
            access = "read-only" if not f.requests else "written by requests of its own"
        elif f.write.source != f.read.source:
            access = f"written to {_code(f.write.source)}"
        else:
            access = "read and write"
        if f.requests:
            calls = ", ".join(f"{r.method} {_code(r.path.source)}"
                              + (f" for each item {r.for_each}" if r.for_each else "") for r in f.requests)
            access += f" ({calls})" if f.write is None else f"; and by {calls}"
        type_ = (f.type or "any") + (f" ({', '.join(f.formats)})" if f.formats else "")
        if f.lookup is not None:
            type_ += f", ids named by `{f.lookup.object}.{f.lookup.field}`"
        rows.append([_code(f.name), _code(f.read.source), type_, access, _cell(f.description)])
    out += ["Fields:", ""] + _table(["field", "path", "type", "access", "description"], rows)
    out += ["Operations:", ""]
    out += _table(["operation", "request", "records at", "pagination", "notes"],
                  [_operation_row(op) for name in OPERATION_NAMES
                   if (op := obj.operations.get(name)) is not None])
    return out


def _call(call: WebhookCall) -> str:
    return _code(f"{call.method} {call.path.source}")


def _webhook_lines(w: WebhookSpec) -> list[str]:
    v = w.verify
    signed = f"{_code(v.signed.source)}" if v.signed is not None else "the raw body"
    out = [f"Calls are about `{w.object}` records.", "",
           f"- Verification: {v.algorithm.upper()} of {signed} with the key {_code(v.secret.source)}, "
           f"{v.encoding} in the header {_code(v.header)}"
           + (f" after {_code(v.prefix)}" if v.prefix else "") + "."]
    if v.timestamp_header is not None:
        out.append(f"- Replay guard: the time in {_code(v.timestamp_header)} must be within "
                   f"{_duration(v.tolerance_seconds)} of now.")
    out.append("- Events: " + (f"a list at {_code(w.events.source)}" if w.events is not None
                               else "one per call") + f"; the record's id at {_code(w.id.source)}.")
    if w.kind is not None:
        kinds = ", ".join(f"{_code(app)} → {ours}" for app, ours in w.kinds.items())
        out.append(f"- Kind of change at {_code(w.kind.source)}" + (f": {kinds}." if kinds else "."))
    else:
        out.append("- Every event is an update.")
    out.append(f"- Record: at {_code(w.record.source)} in the event." if w.record is not None
               else "- Record: read with `get`.")
    if w.register is not None:
        r = w.register
        out.append(f"- Registration (`syncd webhooks`): create {_call(r.create)}, list {_call(r.list)}, "
                   f"delete {_call(r.delete)}.")
    else:
        out.append("- Registration: by hand, in the app (the spec declares no API for it).")
    return out


def render_connector_page(spec: ConnectorSpec, spec_file: str, header: str = "") -> str:
    """The page ``docs/connectors/NAME.md`` for *spec*, read from *spec_file*
    (as a path from the repository root); *header* is its header comment."""
    out = [
        f"# {spec.title} (`{spec.name}`)",
        "",
        f"<!-- Generated by {GENERATOR} from {spec_file}."
        f" Do not edit: change the spec and run `python {GENERATOR}`. -->",
        "",
        spec.description,
        "",
        f"- Spec: [`{spec_file}`](../../{spec_file})",
    ]
    if spec.docs_url:
        out.append(f"- API reference: <{spec.docs_url}>")
    out += [f"- Base URL: {_code(spec.base_url.source)}", ""]
    if header:
        out += ["## Sources", "", "From the spec's header comment:", "", "```text", header, "```", ""]
    out += ["## Settings", ""]
    if spec.settings:
        out += ["Given in each integration's `settings:`; a secret only by reference "
                "(`${env:NAME}`, `${file:PATH}`, `${cred:NAME}`).", ""]
        out += _table(["setting", "type", "required", "secret", "default", "description"],
                      _setting_rows(spec.settings))
    else:
        out += ["None.", ""]
    out += ["## Authentication", ""] + _auth_lines(spec.auth) + [""]
    if spec.headers:
        out += ["Headers sent with every request:", ""]
        out += [f"- {_code(k)}: {_code(v.source)}" for k, v in spec.headers.items()] + [""]
    out += ["## Rate limit and quota", ""] + _limit_lines(spec) + [""]
    out += ["## Objects", ""]
    for obj, children in _objects_in_order(spec):
        out += _object_section(obj, "###")
        for child in children:
            out += _object_section(child, "####")
    out += ["## Webhooks", ""]
    out += _webhook_lines(spec.webhooks) if spec.webhooks is not None else ["None declared."]
    return "\n".join(out).rstrip("\n") + "\n"


def _objects_text(summary: Mapping[str, Any]) -> str:
    parts = []
    for obj in summary["objects"]:
        text = f"`{obj['name']}` ({', '.join(obj['operations'])}" + (f"; {WRITE_ONLY})" if obj["write_only"] else ")")
        if obj["children"]:
            text += ", with " + ", ".join(
                f"`{c['name']}` ({', '.join(c['operations'])})" for c in obj["children"])
        parts.append(text)
    return "; ".join(parts)


def render_connector_index(specs: Iterable[ConnectorSpec]) -> str:
    """``docs/connectors/README.md``: every shipped spec, with its objects."""
    out = [
        "# Shipped connectors",
        "",
        f"<!-- Generated by {GENERATOR} from connectors.d/. Do not edit by hand. -->",
        "",
        "The connector specs that ship with syncd, in `connectors.d/`. Each page is generated from "
        "its spec: settings, authentication, limits, objects with their fields and operations, "
        "webhooks. `syncd connectors` lists the same, plus the specs in your config directory's "
        "`connectors.d/` (where a spec with the same `connector:` name overrides a shipped one). "
        "To write a spec for another app, see [writing connectors](../writing-a-connector.md).",
        "",
    ]
    for spec in sorted(specs, key=lambda s: s.name):
        summary = connector_summary(spec)
        out += [f"## [{spec.title}]({spec.name}.md) (`{spec.name}`)", "", spec.description, "",
                f"Objects: {_objects_text(summary)}.", ""]
    return "\n".join(out).rstrip("\n") + "\n"
