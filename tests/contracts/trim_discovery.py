"""Trim a Google API discovery document to the methods a spec uses.

    python tests/contracts/trim_discovery.py people.v1.json \\
        tests/contracts/vendor/people-v1-discovery.json \\
        people.people.get people.people.connections.list ...

Keeps the document's own keys (name, version, revision, rootUrl,
servicePath, the global parameters, auth, …), the named methods under their
resources, and every schema those methods reach through ``$ref``; nothing
kept is edited. The output is two-space JSON, sorted as the input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

_DROPPED = ("resources", "schemas", "methods")


def _methods(resources: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, resource in resources.items():
        methods = {k: m for k, m in (resource.get("methods") or {}).items() if m.get("id") in wanted}
        children = _methods(resource.get("resources") or {}, wanted)
        if methods or children:
            kept[name] = {k: v for k, v in resource.items() if k not in ("methods", "resources")}
            if methods:
                kept[name]["methods"] = methods
            if children:
                kept[name]["resources"] = children
    return kept


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def trim(document: dict[str, Any], method_ids: list[str]) -> dict[str, Any]:
    resources = _methods(document["resources"], set(method_ids))
    schemas = document["schemas"]
    todo, reached = _refs(resources), set()
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo |= _refs(schemas[name])
    out = {k: v for k, v in document.items() if k not in _DROPPED}
    out["resources"] = resources
    out["schemas"] = {k: v for k, v in schemas.items() if k in reached}
    return out


def main(argv: list[str]) -> int:
    source, target, *method_ids = argv
    document = json.loads(Path(source).read_text(encoding="utf-8"))
    trimmed = trim(document, method_ids)
    Path(target).write_text(json.dumps(trimmed, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
