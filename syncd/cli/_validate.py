"""``syncd validate [-c DIR] [--format text|json]``: check a config tree.

Text output is one line per problem, ``FILE:LINE:COL: error: message
(key.path)`` (the form editors and CI annotate), or one ``ok:`` summary
line.  JSON output is ``{"valid": bool, "directory": DIR, "problems": [
{"file", "line", "column", "message", "key"}, …]}`` plus, when valid, the
``connectors`` and ``integrations`` counts.

Exit status: 0 valid, 1 invalid, 2 the directory does not exist.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from syncd.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_config_dir_argument, error
from syncd.config import ConfigError, config_directory, load_config


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "validate",
        help="check the config directory and list every problem",
        description=(
            "Check syncd.yaml, connectors.d/ and integrations.d/ against the schemas and "
            "against each other, and list every problem as FILE:LINE:COL: error: message. "
            "Exit status 0 when valid, 1 when not, 2 when the directory does not exist."
        ),
    )
    add_config_dir_argument(p)
    p.add_argument(
        "--format", choices=("text", "json"), default="text",
        help="output format (default: text)",
    )
    p.set_defaults(run=run)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def run(args: argparse.Namespace) -> int:
    _, shown = config_directory(args.config_dir)
    try:
        config = load_config(args.config_dir)
    except (FileNotFoundError, NotADirectoryError) as e:
        error(str(e))
        return EXIT_USAGE
    except ConfigError as e:
        if args.format == "json":
            _print_json({"valid": False, "directory": shown,
                         "problems": [p.as_dict() for p in e.problems]})
        else:
            for problem in e.problems:
                print(problem)
            print(f"syncd: {_plural(len(e.problems), 'problem')} in {shown}", file=sys.stderr)
        return EXIT_FAILED
    n_connectors, n_integrations = len(config.connectors), len(config.integrations)
    if args.format == "json":
        _print_json({"valid": True, "directory": shown, "problems": [],
                     "connectors": n_connectors, "integrations": n_integrations})
    else:
        print(f"ok: {_plural(n_connectors, 'connector')}, "
              f"{_plural(n_integrations, 'integration')} ({shown})")
    return EXIT_OK


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))
