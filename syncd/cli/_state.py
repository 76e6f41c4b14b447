"""``syncd state copy --to TARGET``: move an installation's state between SQLite and PostgreSQL.

The configured store (syncd.yaml's ``state``) is copied into TARGET, a
``postgresql://`` URL (a ``${env:…}``/``${file:…}``/``${cred:…}`` reference
may stand for it, so a password need not be typed on a command line) or a
SQLite file's path, in one target transaction: all or nothing. The target
must be empty; a daemon of this config must not run (it would go on writing
the source, and what it wrote after the copy would be lost). The rotated
refresh tokens go along (``tokens.json`` to the ``refresh_tokens`` table,
encrypted with the config's ``state.token_key``, and back:
:mod:`syncd.connector._token_copy`). Exit 0 when
copied, 1 when refused or failed (the reason on stderr, a password as
``***``), 2 for bad usage, 78 for an invalid config.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from syncd.cli import _state_check as state_check
from syncd.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error
from syncd.cli._daemon_client import add_socket_arguments, ask_daemon, socket_path
from syncd.cli._local import load
from syncd.config import SecretRefError, resolve_reference
from syncd.connector._token_copy import CarriedTokens
from syncd.connector._tokens import TokenStoreError
from syncd.daemon import DaemonUnreachable
from syncd.state import StateError, copy_state, open_state, shown_location


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "state",
        help="check the state store, or copy it into another (SQLite to PostgreSQL and back)",
        description="Work on the state store as a whole.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    copy = actions.add_parser(
        "copy",
        help="copy the configured state store into an empty one",
        description="Copy every row of the configured state store (syncd.yaml's state) into TARGET, "
                    "in one transaction, then say how to point syncd.yaml at it. TARGET is empty, and "
                    "no daemon of this config runs. Exit 0 when copied, 1 when refused or failed.",
    )
    add_socket_arguments(copy)
    copy.add_argument("--to", required=True, metavar="TARGET", dest="target",
                      help="a postgresql:// URL, a ${env:NAME}, ${file:PATH} or ${cred:NAME} reference "
                           "to one, or the path of a new SQLite file")
    copy.set_defaults(run=run)
    state_check.add_parser(actions)


def _target(text: str, config_dir: Path) -> Path | str:
    """TARGET resolved: a URL stays text, anything else is a file's path."""
    secret = resolve_reference(text, config_dir, os.environ)
    value = secret.reveal() if secret is not None else text
    return value if value.startswith(("postgresql://", "postgres://")) else Path(value)


def _daemon_runs(args: argparse.Namespace) -> str | None:
    """Why the copy must wait for a daemon, or None when none runs for this config."""
    try:
        answer = ask_daemon(args, "GET", "/v1/status", timeout=10.0)
    except DaemonUnreachable as e:
        return str(e)
    return None if answer is None else f"a daemon runs for this config (control socket {socket_path(args)})"


def run(args: argparse.Namespace) -> int:
    config = load(args)
    if isinstance(config, int):
        return config
    try:
        target = _target(args.target, config.directory)
    except SecretRefError as e:
        error(f"--to: {e}")
        return EXIT_USAGE
    busy = _daemon_runs(args)
    if busy is not None:
        error(f"{busy}: stop it first (`systemctl stop syncd`): it would go on writing the state "
              "being copied; nothing was copied")
        return EXIT_FAILED
    settings = config.daemon
    source = settings.state_target()
    if settings.state_url is None and not settings.state_path.exists():
        error(f"no state store at {settings.state_path}: nothing to copy (nothing was synced yet)")
        return EXIT_FAILED
    if isinstance(target, Path) and isinstance(source, Path) and target.resolve() == source.resolve():
        error(f"--to {target} is the configured state store itself")
        return EXIT_USAGE
    key = settings.token_key.reveal() if settings.token_key is not None else None
    tokens = CarriedTokens(source, target, key, source_shown=shown_location(source))
    try:
        tokens.check()  # before the target is opened: a refusal leaves it as it was
        with open_state(source) as src, open_state(target) as dst:
            copied = copy_state(src, dst, tokens=tokens)
    except (StateError, TokenStoreError) as e:
        error(str(e))
        return EXIT_FAILED
    shown = shown_location(target)
    width = max(len(table) for table in copied)
    print(f"copied {shown_location(source)} into {shown}:")
    for table, n in copied.items():
        print(f"  {table:<{width}}  {n}")
    # How many, never a token: the chains of the accounts whose API rotates its refresh token.
    print(f"  and the rotated refresh tokens of {tokens.count} account{'' if tokens.count == 1 else 's'}")
    print("To use it, stop syncd, then in syncd.yaml set")
    if isinstance(target, Path):
        print(f"  state: {{path: {target}}}")
    else:
        print(f"  state: {{url: \"{shown}\"}}  (the password by reference: state.password: ${{env:NAME}})")
    print("and start syncd again. The old store is left as it was.")
    return EXIT_OK
