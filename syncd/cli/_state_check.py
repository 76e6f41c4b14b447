"""``syncd state check``: is the state store sound?

Runs :meth:`syncd.state.StateStore.check` on the configured store (SQLite's
``integrity_check`` and ``foreign_key_check``, PostgreSQL's schema and
leases, and syncd's own invariants: a record linked at most once per side,
no link or pending intent without its records' snapshots, the schema
version current). Reads only: it may run beside a daemon. Exit 0 when sound
(or when no store exists yet), 1 with one line per problem on stdout (or the
reason the store could not be opened on stderr), 78 for an invalid config.
"""

from __future__ import annotations

import argparse
from typing import Any

from syncd.cli._common import EXIT_FAILED, EXIT_OK, add_config_dir_argument, error
from syncd.cli._local import existing_store, load
from syncd.state import StateError, shown_location


def add_parser(actions: Any) -> None:
    check = actions.add_parser(
        "check",
        help="check the state store's integrity and syncd's invariants",
        description="Check the configured state store: the database's own integrity (SQLite), its schema "
                    "version and tables, and syncd's invariants (a record linked at most once per side, "
                    "no link or pending write intent without its records, leases sane). Reads only; a "
                    "daemon may run meanwhile. Exit 0 when sound, 1 with one line per problem.",
    )
    add_config_dir_argument(check)
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load(args, secrets=False)
    if isinstance(config, int):
        return config
    shown = shown_location(config.daemon.state_target())
    try:
        with existing_store(config) as store:
            if store is None:
                print(f"no state store at {shown} yet: nothing to check")
                return EXIT_OK
            problems = store.check()
    except StateError as e:
        error(str(e))
        return EXIT_FAILED
    for line in problems:
        print(f"{shown}: {line}")
    if problems:
        error(f"{len(problems)} problem{'' if len(problems) == 1 else 's'} in the state store {shown}")
        return EXIT_FAILED
    print(f"{shown}: ok")
    return EXIT_OK
