"""``syncd errors INTEGRATION``: the records that could not be synced, and retrying them.

With a daemon running for the config, it is asked over the control socket
(a retry then waits for the integration's running cycle, never writes
beside it); without one, the state store is read and a retry runs here.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import anyio

from syncd.cli._common import EXIT_FAILED, EXIT_OK, EXIT_RECORD_ERRORS, EXIT_USAGE, error
from syncd.cli._daemon_client import add_socket_arguments, daemon_reply
from syncd.cli._local import existing_store, integration_config
from syncd.config import Config
from syncd.connector import PROCESS_MASKER, ConnectorError
from syncd.daemon import command_cycles
from syncd.state import StateError
from syncd.sync import UnknownErrors, error_entries, open_errors, retry_entries, retry_errors

EPILOG = (
    f"exit status: {EXIT_OK} listed, or every record retried now syncs; {EXIT_RECORD_ERRORS} some "
    f"retried records failed again (still listed, with the new message); {EXIT_USAGE} an unknown "
    f"integration or error id (nothing retried), bad usage; {EXIT_FAILED} the daemon or the state "
    f"store cannot be reached, or the retry was aborted (credentials refused, an app down); 78 an "
    f"invalid config (without a daemon)."
)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "errors", help="list the records that could not be synced; retry them",
        description="List the open record errors of an integration (newest first): when, from "
                    "which kind of cycle, the record (id and match key), the operation, the HTTP "
                    "status and the app's own message, and whether syncd retries it or it waits for "
                    "an operator. --retry/--retry-all sync those records now.",
        epilog=EPILOG)
    p.add_argument("integration", metavar="INTEGRATION")
    add_socket_arguments(p)
    p.add_argument("--json", action="store_true", help="print the errors (or the retry's results) as JSON")
    retry = p.add_mutually_exclusive_group()
    retry.add_argument("--retry", metavar="ID", type=int, action="append", default=None,
                       help="sync the record of this error now (repeat for several)")
    retry.add_argument("--retry-all", action="store_true", help="sync the record of every open error now")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    retrying = args.retry_all or args.retry is not None
    body = {"all": True} if args.retry_all else {"ids": args.retry}
    route = f"/v1/integrations/{args.integration}/errors"
    answer = daemon_reply(args, "POST", f"{route}/retry", body=body, timeout=600.0) if retrying \
        else daemon_reply(args, "GET", route)
    if isinstance(answer, int):
        return answer
    if answer is not None:
        reply = answer
    else:
        config = integration_config(args, secrets=retrying)  # listing reads the store; a retry writes
        if isinstance(config, int):
            return config
        try:
            reply = anyio.run(_retry_here, config, args.integration, args.retry) if retrying \
                else _list_here(config, args.integration)
        except UnknownErrors as e:
            error(str(e))
            return EXIT_USAGE
        except ConnectorError as e:
            error(PROCESS_MASKER.mask(f"the retry was aborted: {e}"))
            return EXIT_FAILED
        except StateError as e:
            error(str(e))
            return EXIT_FAILED
    if retrying:
        return _print_retry(args, reply)
    _print_errors(args, reply)
    return EXIT_OK


def _list_here(config: Config, name: str) -> dict[str, Any]:
    with existing_store(config) as store:
        if store is None:
            return {"integration": name, "open": 0, "errors": []}
        return {"integration": name, "open": open_errors(store, name), "errors": error_entries(store, name)}


async def _retry_here(config: Config, name: str, ids: list[int] | None) -> dict[str, Any]:
    with command_cycles(config, [name]) as cycles:  # PostgreSQL: its lease, for the command's length
        outcomes = await retry_errors(cycles, name, ids)
        return {"integration": name, "results": retry_entries(cycles.store, name, outcomes),
                "open": cycles.store.count_errors(name)}


def _record(entry: dict[str, Any]) -> str:
    """``left record 17 (ada@example.com)``: the record an error is about."""
    side = entry.get("record_side") or ("left" if entry["side"] == "right" else "right")
    key = f" ({entry['match_key']})" if entry.get("match_key") else ""
    child = f"{entry['object']} " if entry.get("object") else ""  # a child object's (notes, tasks)
    return f"{side} {child}record {entry['record_id']}{key}"


def _cause(entry: dict[str, Any]) -> str:
    """The app's answer: the status (unless the message says it already) and the message."""
    status = f"HTTP {entry['http_status']}" if entry.get("http_status") else ""
    prefix = f"{status}: " if status and status not in entry["message"] else ""
    return PROCESS_MASKER.mask(f"{prefix}{entry['message']}")


def _print_errors(args: argparse.Namespace, reply: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(reply["errors"], indent=2))
        return
    errors = reply["errors"]
    name = reply["integration"]
    if not errors:
        print(f"{name}: no open errors")
        return
    print(f"{name}: {reply['open']} open error{'s' * (reply['open'] != 1)}, newest first")
    for e in errors:
        print(f"#{e['id']}  {e['at']}  {e['origin']}  {e['operation']} on the {e['side']} side, "
              f"from {_record(e)}: {_cause(e)}")
        if e["attempts"] == 0:  # a write a crash cut short: its outcome unknown, nothing failed yet
            then = "looked up" if e["operation"] == "create" else "written again"
            print(f"      no attempt failed; {then} after {e['next_retry_at']}")
        elif e["state"] == "waiting":
            print(f"      failed {e['attempts']} times; waits for an operator: "
                  f"syncd errors {name} --retry {e['id']}")
        elif e["next_retry_at"]:
            print(f"      failed {e['attempts']} time{'s' * (e['attempts'] != 1)}; "
                  f"retried by the first cycle after {e['next_retry_at']}")
        else:
            print(f"      failed {e['attempts']} time{'s' * (e['attempts'] != 1)}; retried by every cycle")


def _print_retry(args: argparse.Namespace, reply: dict[str, Any]) -> int:
    results = reply["results"]
    if args.json:
        print(json.dumps(results, indent=2))
    elif not results:
        print(f"{reply['integration']}: no open errors to retry")
    else:
        for r in results:
            what = "synced, the error is resolved" if r["ok"] else PROCESS_MASKER.mask(r["message"])
            print(f"#{r['id']}  {r['operation']} on the {r['side']} side, from {_record(r)}: {what}")
        failed = sum(1 for r in results if not r["ok"])
        print(f"{len(results) - failed} of {len(results)} retried records synced; "
              f"{reply['open']} open error{'s' * (reply['open'] != 1)} left")
    return EXIT_OK if all(r["ok"] for r in results) else EXIT_RECORD_ERRORS
