"""``syncd schema KIND``: print one of the JSON Schemas."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from syncd._resources import SCHEMA_KINDS, schema_path


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of a config file kind",
        description="Print the JSON Schema (2020-12) of syncd.yaml, connector specs or integrations.",
    )
    p.add_argument("kind", choices=SCHEMA_KINDS, help="which file kind")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_path(args.kind).read_text(encoding="utf-8"))
    return 0
