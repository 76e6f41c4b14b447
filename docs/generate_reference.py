#!/usr/bin/env python3
"""Write the configuration reference (docs/reference/*.md) from the JSON Schemas,
and the shipped connectors' pages (docs/connectors/*.md) from connectors.d/.

The schemas in ``schemas/`` are the single source of truth; this script turns
each into one Markdown page with a section per key path (``auth.token``,
``objects.<name>.list.pagination``, ``fields[].left``), giving its type,
default, allowed values, template variables, description and examples.

    python docs/generate_reference.py          # (re)write the pages
    python docs/generate_reference.py --check  # exit 1 and list stale pages

A connector's page (``syncd.config.render_connector_page``) gives its
settings, authentication, limits, objects with their fields and operations,
and webhooks, from the built spec, plus the spec file's header comment.

The output depends only on the schemas and the specs, so it is the same on
every machine; ``tests/config/test_schemas.py`` and ``tests/test_docs.py``
fail when a checked-in page is stale (or a page is left of a removed spec).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_DOCS = Path(__file__).resolve().parent
_ROOT = _DOCS.parent
if str(_ROOT) not in sys.path:  # run as a script from a source checkout
    sys.path.insert(0, str(_ROOT))

from syncd._resources import SCHEMA_KINDS, load_schema  # noqa: E402

REFERENCE_DIR = _DOCS / "reference"
CONNECTOR_DOCS_DIR = _DOCS / "connectors"
CONNECTOR_SPECS_DIR = _ROOT / "connectors.d"

# What each kind of file is called where users meet it.
_FILE_NAMES = {
    "syncd": "syncd.yaml",
    "connector": "connectors.d/NAME.yaml",
    "integration": "integrations.d/NAME.yaml",
}
_SYNTAX = {
    "template": "template: text with `{{ … }}` placeholders, each a JMESPath expression "
                "(in a map or a JSON value, every string is a template)",
    "jmespath": "JMESPath expression",
    "dotted": "dotted path, with optional list indexes (`emails[0].value`)",
}
_MAX_DEPTH = 20  # the schemas are not recursive; this only guards against a mistake


@dataclass(frozen=True)
class _Section:
    parts: tuple[str, ...]  # key path: ("objects", "<name>", "list")
    schema: Mapping[str, Any]  # $refs resolved
    required: bool | None  # None: a map entry or a list item, where "required" means nothing
    variant: str | None  # the `type` value this key belongs to, inside a discriminated object
    is_variant_head: bool = False  # the section that introduces one `type` value

    @property
    def path(self) -> str:
        return _join(self.parts)


def _join(parts: Sequence[str]) -> str:
    out = ""
    for part in parts:
        out += part if part == "[]" or not out else "." + part
    return out


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local ``$ref``s; keywords next to a ``$ref`` win over the target's."""
    for _ in range(_MAX_DEPTH):
        ref = schema.get("$ref")
        if ref is None:
            return schema
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, not {ref!r}")
        target: Any = root
        for token in ref[2:].split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    raise ValueError("$ref chain too long")


def _variants(schema: Mapping[str, Any], root: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The branches of an object discriminated by ``type`` (an allOf of if/then)."""
    found = []
    for sub in schema.get("allOf", ()):
        cond = sub.get("if", {}).get("properties", {}).get("type", {})
        if "const" in cond and "$ref" in sub.get("then", {}):
            found.append((cond["const"], _resolve(sub["then"], root)))
    return found


def _sections(root: Mapping[str, Any]) -> Iterator[_Section]:
    def walk(parts: tuple[str, ...], schema: Mapping[str, Any], required: bool | None,
             variant: str | None, depth: int) -> Iterator[_Section]:
        if depth > _MAX_DEPTH:
            raise ValueError(f"schema nested too deep at {_join(parts)}")
        s = _resolve(schema, root)
        if parts:
            yield _Section(parts, s, required, variant)
        yield from children(parts, s, variant, depth, skip=())
        for kind, branch in _variants(s, root):
            yield _Section(parts, branch, None, kind, is_variant_head=True)
            yield from children(parts, branch, kind, depth, skip=("type",))

    def children(parts: tuple[str, ...], s: Mapping[str, Any], variant: str | None,
                 depth: int, skip: tuple[str, ...]) -> Iterator[_Section]:
        required = set(s.get("required", ()))
        for name, sub in s.get("properties", {}).items():
            if name not in skip and isinstance(sub, Mapping):
                yield from walk((*parts, name), sub, name in required, variant, depth + 1)
        for sub in s.get("patternProperties", {}).values():
            yield from walk((*parts, "<name>"), sub, None, variant, depth + 1)
        if isinstance(s.get("additionalProperties"), Mapping):
            yield from walk((*parts, "<name>"), s["additionalProperties"], None, variant, depth + 1)
        if isinstance(s.get("items"), Mapping):
            yield from walk((*parts, "[]"), s["items"], None, variant, depth + 1)

    yield from walk((), root, None, None, 0)


# ----------------------------------------------------------------- rendering


def _code(text: str) -> str:
    """Inline code that survives backticks inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _flow(value: Any) -> str:
    """A value as short flow-style YAML, for defaults and allowed values."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000)
    return text.removesuffix("\n").removesuffix("\n...").strip()


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as people write them by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _block(value: Any, key: str | None) -> str:
    doc = {key: value} if key is not None else value
    text = yaml.dump(doc, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True,
                     width=100)
    return text.removesuffix("...\n")


def _anchor(section: _Section, used: set[str]) -> str:
    path = section.path.replace("[]", ".item").replace("<name>", "name")
    base = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root"
    if section.variant is not None:
        base += "--" + re.sub(r"[^a-z0-9]+", "-", section.variant.lower()).strip("-")
    anchor, n = base, 2
    while anchor in used:
        anchor, n = f"{base}-{n}", n + 1
    used.add(anchor)
    return anchor


def _type_text(s: Mapping[str, Any]) -> str:
    if "const" in s:
        return f"constant {_code(_flow(s['const']))}"
    t = s.get("type")
    if t is None:
        return "any JSON value"
    names = [t] if isinstance(t, str) else list(t)
    if "object" in names and ("patternProperties" in s or isinstance(s.get("additionalProperties"), Mapping)):
        names[names.index("object")] = "map"
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def _facts(sec: _Section, anchors: Mapping[tuple[tuple[str, ...], str | None], str]) -> list[str]:
    s = sec.schema
    facts = [f"Type: {_type_text(s)}"]
    if sec.required is not None:
        facts.append("Required: " + ("yes" if sec.required else "no"))
    if "default" in s:
        facts.append(f"Default: {_code(_flow(s['default']))}")
    if "enum" in s:
        facts.append("Allowed values: " + ", ".join(_code(_flow(v)) for v in s["enum"]))
    if "pattern" in s:
        facts.append(f"Pattern: {_code(s['pattern'])}")
    for pattern in s.get("patternProperties", {}):
        facts.append(f"Names: match {_code(pattern)}")
    name_pattern = s.get("propertyNames", {}).get("pattern")
    if name_pattern:
        facts.append(f"Names: match {_code(name_pattern)}")
    bounds = [
        ("minimum", "at least"), ("exclusiveMinimum", "greater than"),
        ("maximum", "at most"), ("exclusiveMaximum", "less than"),
        ("minLength", "length at least"), ("minItems", "items: at least"),
        ("maxItems", "items: at most"), ("minProperties", "entries: at least"),
        ("maxProperties", "entries: at most"),
    ]
    limits = [f"{text} {_flow(s[key])}" for key, text in bounds if key in s]
    for low, high, what in (("minItems", "maxItems", "items"), ("minProperties", "maxProperties", "entries")):
        if low in s and s.get(high) == s[low]:
            limits = [x for x in limits if not x.startswith(f"{what}:")]
            limits.append(f"{what}: exactly {_flow(s[low])}")
    if limits:
        facts.append("Limits: " + "; ".join(limits))
    if s.get("uniqueItems"):
        facts.append("Items: no duplicates")
    if "x-syntax" in s:
        facts.append("Syntax: " + _SYNTAX.get(s["x-syntax"], s["x-syntax"]))
    if "x-variables" in s:
        facts.append("Variables: " + ", ".join(_code(v) for v in s["x-variables"]))
    kinds = [kind for (parts, kind) in anchors if parts == sec.parts and kind is not None]
    if kinds and not sec.is_variant_head and sec.variant is None:
        facts.append("One of, by `type`: " + ", ".join(
            f"[{_code(k)}](#{anchors[(sec.parts, k)]})" for k in kinds))
    return facts


def _render_section(sec: _Section, anchor: str,
                    anchors: Mapping[tuple[tuple[str, ...], str | None], str]) -> str:
    s = sec.schema
    level = "##" if len(sec.parts) == 1 and sec.variant is None else "###"
    heading = _code(sec.path)
    if sec.is_variant_head:
        heading += f" with `type: {sec.variant}`"
    out = [f'<a id="{anchor}"></a>', f"{level} {heading}", ""]
    if sec.variant is not None and not sec.is_variant_head:
        out += [f"*Only with `type: {sec.variant}`.*", ""]
    title = s.get("title", "")
    out += [f"**{title}.** {s.get('description', '')}".strip(), ""]
    out += [f"- {fact}" for fact in _facts(sec, anchors)]
    out.append("")
    examples = s.get("examples", [])
    if examples:
        key = sec.parts[-1] if sec.parts[-1] not in ("<name>", "[]") else None
        out += ["Example:" if len(examples) == 1 else "Examples:", ""]
        for example in examples:
            out += ["```yaml", _block(example, key).rstrip("\n"), "```", ""]
    return "\n".join(out)


def render(kind: str) -> str:
    """The reference page for one schema kind, as Markdown."""
    root = load_schema(kind)
    sections = list(_sections(root))
    used: set[str] = set()
    anchors: dict[tuple[tuple[str, ...], str | None], str] = {}
    sec_anchors = []
    for sec in sections:
        a = _anchor(sec, used)
        sec_anchors.append(a)
        if sec.variant is None or sec.is_variant_head:
            anchors[(sec.parts, sec.variant)] = a
    schema_id = root.get("$id", "")
    lines = [
        f"# {root.get('title', kind)}",
        "",
        f"<!-- Generated by docs/generate_reference.py from schemas/{kind}.schema.json."
        " Do not edit: change the schema and run `python docs/generate_reference.py`. -->",
        "",
        root.get("description", ""),
        "",
        f"Schema: [`schemas/{kind}.schema.json`](../../schemas/{kind}.schema.json)"
        + (f" (`{schema_id}`)." if schema_id else "."),
        "For completion and checking in editors that use yaml-language-server, start a file with:",
        "",
        "```yaml",
        f"# yaml-language-server: $schema={schema_id or f'../schemas/{kind}.schema.json'}",
        "```",
        "",
        "Every key not listed here is an error. `<name>` in a key path stands for a name you "
        "choose (a map key) and `[]` for each item of a list; see [the index](README.md) for how "
        "to read the sections.",
        "",
    ]
    if root.get("required"):
        lines += ["Required top-level keys: " + ", ".join(_code(k) for k in root["required"]) + ".", ""]
    for example in root.get("examples", []):
        lines += ["## Example", "", "```yaml", _block(example, None).rstrip("\n"), "```", ""]
    lines += ["## Contents", ""]
    for sec, a in zip(sections, sec_anchors):
        # Keys of a `type` variant sit under the section that introduces the variant.
        indent = "  " * (len(sec.parts) - 1 + (sec.variant is not None))
        label = _code(sec.path) + (f" with `type: {sec.variant}`" if sec.is_variant_head else "")
        lines.append(f"{indent}- [{label}](#{a})")
    lines.append("")
    for sec, a in zip(sections, sec_anchors):
        lines.append(_render_section(sec, a, anchors))
    return "\n".join(lines).rstrip("\n") + "\n"


def render_index() -> str:
    """docs/reference/README.md: what each page covers and how to read one."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by docs/generate_reference.py. Do not edit by hand. -->",
        "",
        "These pages are generated from the JSON Schemas in [`schemas/`](../../schemas/), which are "
        "what `syncd validate` and the daemon check every file against. A config directory "
        "(default `/etc/syncd`) holds:",
        "",
        "| file | reference | schema |",
        "| --- | --- | --- |",
    ]
    for kind in SCHEMA_KINDS:
        title = load_schema(kind).get("title", kind)
        lines.append(f"| `{_FILE_NAMES[kind]}` | [{title}]({kind}.md) | "
                     f"[`{kind}.schema.json`](../../schemas/{kind}.schema.json) |")
    lines += [
        "",
        "## Reading a section",
        "",
        "Each section is one key path: `objects.<name>.list.pagination` is the `pagination` key of "
        "the `list` operation of any object; `<name>` stands for a name you choose (a map key) and "
        "`[]` for each item of a list. A key whose value has a `type` that selects among kinds "
        "(`auth`, `pagination`) has a section per kind, and the keys of a kind say "
        "*Only with `type: …`*.",
        "",
        "- **Type**, **Required**, **Default**, **Allowed values**, **Pattern**, **Limits**: what "
        "the value may be. A key that is absent takes its default.",
        "- **Syntax**: how a string value is read.",
        "  - *template*: text with `{{ … }}` placeholders, each a JMESPath expression "
        "(`/contacts/{{ id }}`); in a map or a JSON value (`params`, `body`), every string is a "
        "template.",
        "  - *JMESPath expression*: a whole [JMESPath](https://jmespath.org/) expression "
        "(`paging.next.after`, `stage == 'customer'`).",
        "  - Both may use JMESPath's functions and syncd's own: `lower(s)`, `upper(s)`, `trim(s)`, "
        "and `escape(s, chars)`, `s` with a backslash before each backslash and each character of "
        "`chars` (`'{{ escape(value, '\\'') }}'` keeps a looked-up value inside a SOQL string).",
        "  - *dotted path*: keys joined with dots, with optional list indexes (`emails[0].value`); "
        "it can be written to as well as read.",
        "- **Variables**: the names an expression or template may use. Using any other name is a "
        "load error that names the file and line.",
        "  - `@` means the expression is evaluated over a JSON value (the decoded response body, "
        "or the raw record) and reads its keys directly.",
        "  - `<field>` means the record's field names, as named in its connector spec.",
        "",
        "Every expression and template is compiled when the config is loaded, so a mistake is "
        "reported by `syncd validate` (and on reload) rather than while syncing.",
        "",
        "To change these pages, edit the schema and run `python docs/generate_reference.py`; "
        "`python docs/generate_reference.py --check` (run by the test suite) fails when a page is "
        "stale.",
    ]
    return "\n".join(lines) + "\n"


def render_reference() -> dict[Path, str]:
    """The configuration reference pages, by path, with their expected content."""
    pages = {REFERENCE_DIR / f"{kind}.md": render(kind) for kind in SCHEMA_KINDS}
    pages[REFERENCE_DIR / "README.md"] = render_index()
    return pages


def render_connector_docs() -> dict[Path, str]:
    """A page per spec in connectors.d/ and their index, by path."""
    from syncd.config import header_comment, load_connector_file, render_connector_index, render_connector_page

    specs = []
    pages = {}
    for path in sorted(CONNECTOR_SPECS_DIR.glob("*.yaml")):
        spec = load_connector_file(path, _shown(path))
        specs.append(spec)
        header = header_comment(path.read_text(encoding="utf-8"))
        pages[CONNECTOR_DOCS_DIR / f"{spec.name}.md"] = render_connector_page(spec, _shown(path), header)
    pages[CONNECTOR_DOCS_DIR / "README.md"] = render_connector_index(specs)
    return pages


def render_all() -> dict[Path, str]:
    """Every generated file, by path, with its expected content."""
    return {**render_reference(), **render_connector_docs()}


def stale_files(pages: Mapping[Path, str] | None = None) -> list[Path]:
    """The generated files (of *pages*, default all) that are missing or
    differ from what the schemas and specs give, and the pages in a
    generated folder that nothing generates any more (a removed spec's)."""
    pages = render_all() if pages is None else pages
    stale = []
    for path, text in pages.items():
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            stale.append(path)
    return stale + _orphans(pages)


def _orphans(pages: Mapping[Path, str]) -> list[Path]:
    folders = {path.parent for path in pages}
    return sorted(p for folder in folders for p in folder.glob("*.md") if p not in pages)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(_ROOT))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and list the pages that are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {_shown(path)}", file=sys.stderr)
        if stale:
            print("run: python docs/generate_reference.py", file=sys.stderr)
            return 1
        return 0
    pages = render_all()
    for path, text in pages.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {_shown(path)}")
    for path in _orphans(pages):
        path.unlink()
        print(f"removed {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
