"""``syncd status``: what the running daemon is doing.

Exit 0 when it answers, 1 when no daemon does.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from typing import Any

from syncd.cli._common import EXIT_FAILED, EXIT_OK, error
from syncd.cli._daemon_client import add_socket_arguments, socket_path
from syncd.daemon import DaemonUnreachable, call_daemon


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "status", help="show what the running daemon is doing",
        description="Show the running daemon's integrations (state, last cycle, next run), and "
                    "whether its last reload worked.")
    add_socket_arguments(p)
    p.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        _, body = call_daemon(socket_path(args), "GET", "/v1/status", timeout=30.0)
    except DaemonUnreachable as e:
        error(str(e))
        return EXIT_FAILED
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        print_status(body)
    return EXIT_OK


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    delta = t - time.time()
    clock = datetime.fromtimestamp(t).strftime("%H:%M:%S")
    return f"{clock} (in {delta:.0f} s)" if delta > 0 else f"{clock} ({-delta:.0f} s ago)"


def print_status(body: dict[str, Any]) -> None:
    print(f"syncd pid {body['pid']}, config {body['config_dir']}, state {body['state_path']}")
    print(f"  {body['summary']}")
    reload = body.get("last_reload")
    if reload:
        outcome = "ok" if reload["ok"] else "FAILED, previous config running"
        print(f"  last reload: {outcome} ({reload['trigger']}, {_when(reload['at'])})")
        for line in reload["errors"]:
            print(f"    {line}")
    for i in body["integrations"]:
        if i["state"] == "disabled":
            print(f"{i['name']}: disabled ({i['schedule']})")
            continue
        last = i.get("last_result") or "not run yet"
        if i.get("last_error"):
            last += f": {i['last_error']}"
        print(f"{i['name']}: {i['state']}, {i['schedule']}; cycles {i['cycles']}, last {last}; "
              f"next {_when(i.get('next_run'))}")
