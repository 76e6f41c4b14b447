"""``syncd sync INTEGRATION``: a cycle now.

With a daemon running, the daemon's runner runs it (right after the cycle
running, if one is); without one, it runs here, in the foreground, as
``syncd once INTEGRATION`` would. Exit codes as ``once``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any
from urllib.parse import quote

import anyio

from syncd.cli._common import EXIT_FAILED, EXIT_OK, EXIT_RECORD_ERRORS, EXIT_USAGE, error
from syncd.cli._daemon_client import add_socket_arguments, ask_daemon
from syncd.cli._local import load
from syncd.cli._once import EXIT_STATUS, print_summary, summary_dict
from syncd.config import Config
from syncd.daemon import DaemonUnreachable, command_cycles
from syncd.state import StateError

_EXIT_BY_RESULT = {"ok": EXIT_OK, "errors": EXIT_RECORD_ERRORS}  # else (aborted, stopped, failed): 1


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sync", help="run a cycle of one integration now",
        description="Run a cycle of INTEGRATION now: the running daemon runs it (right after the cycle "
                    "it is running, if any) and this prints its summary. Without a daemon, the cycle "
                    "runs here, as `syncd once INTEGRATION`.",
        epilog=EXIT_STATUS + " With --no-wait: 0 once the daemon has the request.")
    add_socket_arguments(p)
    p.add_argument("integration", metavar="INTEGRATION")
    p.add_argument("--no-wait", action="store_true",
                   help="return as soon as the daemon has the request; `syncd status` shows how the cycle went")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS",
                   help="how long to wait for the cycle to end (default: 3600)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    name = args.integration
    try:
        answer = ask_daemon(args, "POST", f"/v1/integrations/{quote(name, safe='')}/sync",
                            body={"wait": not args.no_wait}, timeout=args.timeout)
    except DaemonUnreachable as e:
        error(str(e))
        return EXIT_FAILED
    if answer is None:
        return _foreground(args)
    code, body = answer
    if code == 404:
        error(body.get("error", f"no integration {name!r}"))
        return EXIT_USAGE
    if code >= 400:
        error(body.get("error", f"the daemon answered HTTP {code}"))
        return EXIT_FAILED
    if code == 202:
        if args.json:
            print(json.dumps(body, indent=2))
        else:
            print(f"{name}: the daemon runs a cycle now; `syncd status` shows how it went")
        return EXIT_OK
    result = body.get("result") or "failed"
    if args.json:
        print(json.dumps(body, indent=2))
    elif body.get("read") is not None:  # a cycle that raised has no counts
        print_summary({**body, "aborted": body.get("error") if result == "aborted" else None},
                      body.get("create", "?"))
    if result not in ("ok", "errors") and not args.json:
        error(f"{name}: cycle {result}" + (f": {body['error']}" if body.get("error") else ""))
    return _EXIT_BY_RESULT.get(result, EXIT_FAILED)


def _foreground(args: argparse.Namespace) -> int:
    config = load(args)
    if isinstance(config, int):
        return config
    name = args.integration
    if name not in config.integrations:
        error(f"no integration named {name}; known: {', '.join(sorted(config.integrations)) or 'none'}")
        return EXIT_USAGE
    print(f"syncd: no daemon runs for {config.directory}: running the cycle here", file=sys.stderr)
    try:
        summary, seconds = anyio.run(_one, config, name)
    except StateError as e:
        error(str(e))
        return EXIT_FAILED
    d = summary_dict(summary, seconds)
    if args.json:
        print(json.dumps({**d, "result": summary.outcome}, indent=2, default=str))
    else:
        print_summary(d, config.integrations[name].create)
    return _EXIT_BY_RESULT.get(summary.outcome, EXIT_FAILED)


async def _one(config: Config, name: str) -> tuple[Any, float]:
    with command_cycles(config, [name]) as cycles:  # PostgreSQL: its lease, for the command's length
        start = time.perf_counter()
        summary = await cycles.run(name, origin="manual")
        return summary, time.perf_counter() - start
