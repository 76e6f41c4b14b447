"""Trim a vendor's OpenAPI description to the operations a spec uses (run by hand, not by pytest).

    python tests/contracts/trim_description.py SOURCE OUT "SOURCE NOTE" get:/path post:/path ...

Keeps the named operations (with their path-level parameters), every
component they reach through ``$ref`` (transitively), the security schemes
they name, ``openapi``, ``info`` and ``servers``; drops the rest.  Nothing
kept is edited, so the trimmed file says what the vendor's says.  OUT starts
with a comment naming the source, as given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def trim(doc: dict[str, Any], operations: list[str]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for op in operations:
        method, _, path = op.partition(":")
        item = doc["paths"][path]
        kept = paths.setdefault(path, {k: v for k, v in item.items() if k in ("parameters", "summary")})
        kept[method] = item[method]
    out: dict[str, Any] = {k: doc[k] for k in ("openapi", "info", "servers", "security") if k in doc}
    out["paths"] = paths
    components: dict[str, dict[str, Any]] = {}
    todo, seen = refs(paths), set()
    while todo:
        ref = todo.pop()
        if ref in seen or not ref.startswith("#/components/"):
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = doc["components"][kind][name]
        components.setdefault(kind, {})[name] = node
        todo |= refs(node)
    schemes = {n for item in paths.values() for o in item.values() if isinstance(o, dict)
               for req in o.get("security", doc.get("security", [])) for n in req}
    all_schemes = doc.get("components", {}).get("securitySchemes", {})
    if schemes:
        components["securitySchemes"] = {n: all_schemes[n] for n in sorted(schemes)}
    out["components"] = {k: dict(sorted(v.items())) for k, v in sorted(components.items())}
    return out


def main() -> None:
    source, target, note, *operations = sys.argv[1:]
    text = Path(source).read_text()
    doc = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    header = "".join(f"# {line}\n" for line in note.splitlines())
    body = yaml.safe_dump(trim(doc, operations), sort_keys=False, allow_unicode=True, width=100)
    Path(target).write_text(header + body)


if __name__ == "__main__":
    main()
