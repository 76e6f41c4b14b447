"""The command line: argument parsing, printing and exit codes.

Each subcommand lives in its own module with two functions,
``add_parser(subparsers)`` and ``run(args) -> int``.  This is the only
package that prints.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from types import ModuleType

from syncd import __version__
from syncd.cli._common import EXIT_FAILED

__all__ = ["main"]

def _commands() -> list[ModuleType]:
    # Imported here so `syncd --help` stays fast and one broken command
    # cannot stop the others from loading at import time.
    from syncd.cli import _check, _demo, _once, _reload, _reset, _run, _schema, _status, _validate

    return [_validate, _check, _once, _run, _reload, _status, _reset, _schema, _demo]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncd",
        description="Keep contact records in step between SaaS apps, as declared in YAML.",
    )
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _commands():
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from syncd._logging import configure_logging
    from syncd.connector import PROCESS_MASKER

    # Warnings and errors of any command go to stderr, secrets masked
    # (structlog's default would print to stdout); `syncd run` reconfigures
    # from syncd.yaml.
    configure_logging("warning", mask=PROCESS_MASKER.mask)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_FAILED
    return code
