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
from syncd.cli._common import EXIT_CODES, EXIT_FAILED, EXIT_INTERRUPTED

__all__ = ["main"]

# Where a new user looks next: what an exit status means, where the logs
# are, where the docs are.  Checked against the docs by tests/test_docs.py.
_LOGS_AND_DOCS = """\
logs:
  Warnings and errors go to stderr: readable lines on a terminal, JSON lines
  elsewhere. `syncd run` logs at the level and in the format of `log:` in
  syncd.yaml (default: info). Under systemd, stderr is the journal:
  journalctl -u syncd.

docs (in the syncd source tree):
  README.md             quick start, the config directory, every command
  systemd/README.md     running syncd as a systemd service
  docs/                 how sync works, the daemon, writing connectors
  docs/reference/       every config key, from the JSON Schemas
  docs/connectors/      the shipped connectors: settings, objects, limits
  syncd connectors      the connector specs shipped and in DIR/connectors.d
  syncd schema KIND     a config file's JSON Schema, for editors and tools
  syncd COMMAND --help  one command's options
"""


def _epilog() -> str:
    width = max(len(str(code)) for code in EXIT_CODES)
    codes = "".join(f"  {code:<{width}}  {meaning}\n" for code, meaning in EXIT_CODES.items())
    return f"exit codes:\n{codes}\n{_LOGS_AND_DOCS}"


def _commands() -> list[ModuleType]:
    # Imported here so `syncd --help` stays fast and one broken command
    # cannot stop the others from loading at import time.
    from syncd.cli import (
        _bulk,
        _check,
        _conflicts,
        _connectors,
        _demo,
        _errors,
        _once,
        _reload,
        _reset,
        _run,
        _schema,
        _state,
        _status,
        _sync,
        _validate,
        _webhooks,
    )

    return [_validate, _check, _once, _run, _reload, _status, _sync, _errors, _conflicts, _reset, _bulk,
            _state, _webhooks, _connectors, _schema, _demo]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncd",
        description="Keep contact records in step between SaaS apps, as declared in YAML.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keep the epilog's lines
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
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAILED
    return code
