"""``syncd connectors [-c DIR] [--json]``: the connector specs there are.

The shipped specs, then the config directory's ``connectors.d/`` (a local
spec with a shipped one's ``connector:`` name overrides it, as the loader
does), each with its title, objects (child objects under their parents)
and the operations of each. A broken file is reported as
``FILE:LINE:COL: error: …`` and the others are still listed; a name whose
only usable definition is broken is not listed (no integration can use it).

Without ``-c`` and ``$SYNCD_CONFIG``, a missing ``/etc/syncd`` only means
there are no local specs: a new user lists what ships before writing any
config. A directory named on purpose must exist.

Exit status: 0, 78 when a spec file is invalid (the rest still listed),
2 when the named directory does not exist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from syncd.cli._common import EXIT_CONFIG, EXIT_OK, EXIT_USAGE, add_config_dir_argument, error


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "connectors",
        help="list the connector specs: shipped and in DIR/connectors.d",
        description=(
            "List the connector specs shipped with syncd and those in the config directory's "
            "connectors.d/ (a local spec overrides a shipped one of the same name), each with its "
            "title, objects and the operations of each. Exit status 0, 78 when a spec file is "
            "invalid (every error on stderr as FILE:LINE:COL; the others still listed), 2 when the "
            "directory named by -c or $SYNCD_CONFIG does not exist."
        ),
    )
    add_config_dir_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from syncd.config import ConnectorFile, config_directory, connector_files, connector_summary

    _, shown = config_directory(args.config_dir)
    named = args.config_dir is not None or bool(os.environ.get("SYNCD_CONFIG"))
    directory: str | None = shown
    try:
        files = connector_files(args.config_dir)
    except (FileNotFoundError, NotADirectoryError) as e:
        if named:
            error(str(e))
            return EXIT_USAGE
        files, directory = connector_files(local=False), None

    # Later files win, as in the loader: a local spec over a shipped one.
    chosen: dict[str, ConnectorFile] = {}
    overrides: dict[str, str] = {}
    for f in files:
        if f.name is None or f.duplicate:
            continue
        previous = chosen.get(f.name)
        if previous is not None and previous.shipped and not f.shipped:
            overrides[f.name] = previous.file
        chosen[f.name] = f
    listed = [f for f in chosen.values() if f.spec is not None]
    problems = [p for f in files for p in f.problems]

    entries = []
    for f in sorted(listed, key=lambda f: (not f.shipped, f.name or "")):
        assert f.spec is not None
        entries.append({**connector_summary(f.spec), "source": "shipped" if f.shipped else "local",
                        "file": f.file, "overrides": overrides.get(f.name or "")})
    if args.json:
        print(json.dumps({"directory": directory, "connectors": entries,
                          "problems": [p.as_dict() for p in problems]}, indent=2, ensure_ascii=False))
    else:
        _print_text(entries)
        for problem in problems:
            print(problem, file=sys.stderr)
    if problems:
        n = len({p.file for p in problems})
        error(f"{n} connector spec file{'s' if n != 1 else ''} could not be read: "
              + ", ".join(sorted({p.file for p in problems})))
        return EXIT_CONFIG
    return EXIT_OK


def _operations(obj: dict[str, Any]) -> str:
    return ", ".join(obj["operations"]) or "none"


def _print_text(entries: list[dict[str, Any]]) -> None:
    from syncd.config import WRITE_ONLY

    for entry in entries:
        where = "shipped" if entry["source"] == "shipped" else f"local, {entry['file']}"
        if entry["overrides"]:
            where += f", overrides the shipped {entry['overrides']}"
        print(f"{entry['name']}: {entry['title']} ({where})")
        for obj in entry["objects"]:
            print(f"  {obj['name']}: {_operations(obj)}" + (f" ({WRITE_ONLY})" if obj["write_only"] else ""))
            for child in obj["children"]:
                print(f"    {child['name']} (child of {obj['name']}): {_operations(child)}")
