"""``syncd reset INTEGRATION [--read-only]``: forget state, sync from scratch.

Without ``--read-only`` the state is cleared and a full cycle runs (records
are matched again by key; nothing is created twice). With it, the state is
rebuilt from a full read of both sides without writing anything: only
changes made from now on are synced (PieSync's "sync future changes only").
Exit codes: those of ``syncd once``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import anyio

from syncd.cli._common import EXIT_FAILED, EXIT_USAGE, add_config_dir_argument, error
from syncd.cli._local import load
from syncd.cli._once import EXIT_STATUS, exit_code, print_summaries
from syncd.config import Config
from syncd.daemon import command_cycles
from syncd.state import StateError
from syncd.sync import CycleSummary


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "reset",
        help="clear an integration's state and run a full sync (or only rebuild state)",
        description="Clear INTEGRATION's state (cursors, snapshots, links, open intents) and run a "
                    "full cycle; --read-only rebuilds the state without writing to either app.",
        epilog=EXIT_STATUS,
    )
    add_config_dir_argument(p)
    p.add_argument("integration", metavar="INTEGRATION")
    p.add_argument("--read-only", action="store_true",
                   help="rebuild state without writing: only future changes are synced")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load(args)
    if isinstance(config, int):
        return config
    if args.integration not in config.integrations:
        error(f"no integration named {args.integration}; known: {', '.join(sorted(config.integrations))}")
        return EXIT_USAGE
    try:
        summary, seconds = anyio.run(_reset, config, args.integration, not args.read_only)
    except StateError as e:
        error(str(e))
        return EXIT_FAILED
    print_summaries([(summary, seconds)], args.json, config)
    return exit_code([summary])


async def _reset(config: Config, name: str, write: bool) -> tuple[CycleSummary, float]:
    with command_cycles(config, [name]) as cycles:  # PostgreSQL: its lease, for the command's length
        cycles.forget(name)
        start = time.perf_counter()
        summary = await cycles.run(name, origin="reset", write=write, full=True)
        return summary, time.perf_counter() - start
