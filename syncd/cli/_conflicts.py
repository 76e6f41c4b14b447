"""``syncd conflicts INTEGRATION``: the conflicts settled, newest first.

A conflict is a field changed on both sides since the last sync; the
integration's ``conflict:`` policy picked the winner. Asked of the daemon
when one runs for the config, else read from the state store.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from syncd.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error
from syncd.cli._daemon_client import add_socket_arguments, daemon_reply
from syncd.cli._local import existing_store, integration_config
from syncd.connector import PROCESS_MASKER
from syncd.state import StateError
from syncd.sync import conflict_count, conflict_entries


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "conflicts", help="list the conflicts settled: both values, the winner and the rule",
        description="List the conflicts settled for an integration, newest first: the field "
                    "changed on both sides, both values, which side won and by which rule.",
        epilog=f"exit status: {EXIT_OK} listed; {EXIT_USAGE} an unknown integration, bad usage; "
               f"{EXIT_FAILED} the daemon or the state store cannot be reached; 78 an invalid config "
               f"(without a daemon).")
    p.add_argument("integration", metavar="INTEGRATION")
    add_socket_arguments(p)
    p.add_argument("--json", action="store_true", help="print the conflicts as JSON")
    p.add_argument("--limit", metavar="N", type=_positive, default=50, help="at most N, the newest (default 50)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    answer = daemon_reply(args, "GET", f"/v1/integrations/{args.integration}/conflicts?limit={args.limit}")
    if isinstance(answer, int):
        return answer
    if answer is not None:
        reply = answer
    else:
        config = integration_config(args, secrets=False)
        if isinstance(config, int):
            return config
        try:
            with existing_store(config) as store:
                reply = {"integration": args.integration, "total": 0, "conflicts": []} if store is None else {
                    "integration": args.integration, "total": conflict_count(store, args.integration),
                    "conflicts": conflict_entries(store, args.integration, limit=args.limit)}
        except StateError as e:
            error(str(e))
            return EXIT_FAILED
    _print(args, reply)
    return EXIT_OK


def _print(args: argparse.Namespace, reply: dict[str, Any]) -> None:
    conflicts = reply["conflicts"]
    if args.json:
        print(json.dumps(conflicts, indent=2))
        return
    name, total = reply["integration"], reply["total"]
    if not conflicts:
        print(f"{name}: no conflicts")
        return
    shown = f" (the newest {len(conflicts)})" if len(conflicts) < total else ""
    print(f"{name}: {total} conflict{'s' * (total != 1)} settled{shown}, newest first")
    for c in conflicts:
        left, right = json.dumps(c["left_value"]), json.dumps(c["right_value"])
        print(PROCESS_MASKER.mask(
            f"{c['at']}  {_what(c)}left {c['left_id']} / right {c['right_id']}  {c['field']}: left {left}, "
            f"right {right}; {c['winner']} won ({c['rule']})"))


def _what(conflict: dict[str, Any]) -> str:
    """``notes: `` for a child object's conflict (notes, tasks), else nothing."""
    return f"{conflict['object']}: " if conflict.get("object") else ""
