"""Where the shipped schemas and connector specs are.

In a source checkout (or an editable install) they are the top-level
``schemas/`` and ``connectors.d/`` folders of the repository; an installed
wheel carries copies under ``syncd/_data/`` (see pyproject.toml).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent
SCHEMA_KINDS = ("syncd", "connector", "integration")


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"syncd is installed without its {name}/ folder")


def schemas_dir() -> Path:
    return _find("schemas")


def shipped_connectors_dir() -> Path:
    return _find("connectors.d")


def schema_path(kind: str) -> Path:
    if kind not in SCHEMA_KINDS:
        raise ValueError(f"unknown schema kind {kind!r}; expected one of {', '.join(SCHEMA_KINDS)}")
    return schemas_dir() / f"{kind}.schema.json"


@cache
def load_schema(kind: str) -> dict[str, Any]:
    with schema_path(kind).open("rb") as f:
        schema: dict[str, Any] = json.load(f)
    return schema
