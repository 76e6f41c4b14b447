"""``syncd status``: each integration's state, last and next cycle, and the config's.

With a daemon running, the daemon answers (live state, next run). Without
one, the config and the state store do: each integration's last cycle as
the store kept it, whether the config is valid. Exit 0 when it could say,
1 when neither a daemon nor the state store could be read.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

from syncd.cli._common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, error
from syncd.cli._daemon_client import add_socket_arguments, ask_daemon, socket_path
from syncd.cli._local import existing_store, load
from syncd.config import config_directory
from syncd.daemon import Budgets, DaemonUnreachable, stored_status
from syncd.state import StateError, StateStore, shown_location


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "status", help="show each integration's state, last and next cycle",
        description="Show each integration: enabled, schedule, state, last cycle (when, how long, "
                    "outcome, counts), next cycle, and whether the config is valid (the FILE:LINE of "
                    "what failed the last reload). The running daemon answers; without one, the "
                    "config and the state store do (no next cycle then).")
    add_socket_arguments(p)
    p.add_argument("--json", action="store_true", help="print it as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        answer = ask_daemon(args, "GET", "/v1/status", timeout=30.0)
    except DaemonUnreachable as e:
        error(str(e))
        return EXIT_FAILED
    body = answer[1] if answer is not None else _without_daemon(args)
    if body is None:
        return EXIT_FAILED
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        print_status(body)
    return EXIT_OK


def _without_daemon(args: argparse.Namespace) -> dict[str, Any] | None:
    """The status from the config and the state store; None (said why) when neither can be read."""
    config = load(args, secrets=False)
    if isinstance(config, int):
        if config == EXIT_CONFIG:
            error(f"no daemon runs for {config_directory(args.config_dir)[0]} (socket {socket_path(args)}), "
                  f"and its config is invalid: the errors above")
        return None
    try:
        with existing_store(config) as store:
            integrations = [stored_status(i, store) for _, i in sorted(config.integrations.items())]
            budgets = Budgets(config, store, read_only=True) if store is not None else None
            for entry in integrations:
                entry["budget"] = budgets.accounts(entry["name"]) if budgets is not None else []
                # what a daemon started now would hold back
                entry["paused"] = budgets.allows("scheduled", entry["name"]) \
                    if budgets is not None and entry["enabled"] else None
            owners = _owners(store, config.daemon.state_url is not None)
            for entry in integrations:
                entry["owner"] = owners.get(entry["name"])
    except StateError as e:
        error(str(e))
        return None
    return {"daemon": None, "socket": str(socket_path(args)), "config_dir": str(config.directory),
            "state_path": shown_location(config.daemon.state_target()), "config": {"valid": True, "errors": []},
            "cluster": {"lease_seconds": config.daemon.cluster_lease_seconds, "members": []}
            if config.daemon.state_url is not None else None,
            "integrations": integrations}


def _owners(store: StateStore | None, cluster: bool) -> dict[str, dict[str, Any] | None]:
    """Who runs each integration, as the lease table says (several daemons);
    a lease that ran out is nobody's. On SQLite no daemon runs: none."""
    if store is None or not cluster:
        return {}
    now = time.time()
    return {name: {"host": lease.host, "pid": lease.pid, "lease_expires": lease.expires_at.timestamp()}
            for name, lease in store.leases().items()
            if lease.daemon_id is not None and lease.expires_at is not None and lease.expires_at.timestamp() > now}


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    delta = t - time.time()
    clock = datetime.fromtimestamp(t).strftime("%H:%M:%S")
    return f"{clock} (in {delta:.0f} s)" if delta > 0 else f"{clock} ({-delta:.0f} s ago)"


def _counts(summary: dict[str, Any]) -> str:
    """The last cycle's counts, short: what a person scans for."""
    if not summary:
        return ""
    sided = [f"{key} {summary[key].get('left', 0)}/{summary[key].get('right', 0)}"
             for key in ("read", "created", "updated", "deleted") if any((summary.get(key) or {}).values())]
    plain = [f"{key.replace('_', ' ')} {summary[key]}"
             for key in ("skipped", "not_created", "no_match_key", "conflicts", "errors", "delayed", "retry_later",
                         "waiting_for_operator")
             if summary.get(key)]
    for child, counts in (summary.get("children") or {}).items():  # children: (notes, tasks …)
        sided += [f"{child} {key} {counts[key].get('left', 0)}/{counts[key].get('right', 0)}"
                  for key in ("created", "updated", "deleted") if any((counts.get(key) or {}).values())]
    if not sided and not plain:
        return " (nothing to do)"
    return f" ({', '.join(sided + plain)}{' (left/right)' if sided else ''})"


def _last(i: dict[str, Any]) -> str:
    result = i.get("last_result")
    if result is None:
        return "not run yet"
    took = ""
    if i.get("last_start") is not None and i.get("last_end") is not None:
        took = f", took {i['last_end'] - i['last_start']:.2f} s"
    text = f"{result} at {_when(i.get('last_end'))}{took}{_counts(i.get('last_summary') or {})}"
    if i.get("last_error"):
        text += f": {i['last_error']}"
    return text


def _bulk(b: dict[str, Any]) -> str:
    text = f"{b['state']}, {b['done']}/{b['total']} pairs"
    if b.get("failed"):
        text += f", {b['failed']} failed"
    if b["state"] == "running":
        text += f", {b.get('rate', 0):.1f}/s"
        if b.get("eta_seconds") is not None:
            text += f", about {b['eta_seconds']:.0f} s left"
    elif b.get("ended_at") is not None:
        text += f", ended {_when(b['ended_at'])}"
    if b.get("message"):
        text += f": {b['message']}"
    return text
def budget_lines(entry: dict[str, Any]) -> list[str]:
    """The API budget of an integration's status entry: a line per account,
    then why scheduled cycles wait, if they do. Keys may be absent (an older
    daemon): then nothing."""
    lines = []
    for b in entry.get("budget") or []:
        used = f"{b['used']} of {b['limit']} requests ({b['percent']:g}%)" if b.get("limit") \
            else f"{b['used']} requests (no limit)"
        resets = b.get("window_resets_at")
        when = datetime.fromtimestamp(resets, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if resets else "-"
        source = ", as the API reports" if b.get("source") == "api" else ""
        lines.append(f"API budget {b['account']}: {used}{source}; resets {when}")
    if entry.get("paused"):
        lines.append(f"paused: {entry['paused']}")
    return lines


def print_status(body: dict[str, Any]) -> None:
    if body.get("daemon", True) is None:
        print(f"no syncd daemon runs for {body['config_dir']} (socket {body['socket']}): "
              f"as the state store {body['state_path']} has it")
    else:
        print(f"syncd pid {body['pid']}, config {body['config_dir']}, state {body['state_path']}")
        print(f"  {body['summary']}")
    reload = body.get("last_reload")
    if reload:
        outcome = "ok" if reload["ok"] else "FAILED, previous config running"
        print(f"  last reload: {outcome} ({reload['trigger']}, {_when(reload['at'])})")
        for line in reload["errors"]:
            print(f"    {line}")
    for i in body["integrations"]:
        head = f"{i['name']}: {i['state']}, {i['schedule']}"
        if i["state"] not in ("disabled", "stopped"):
            head += f"; cycles {i.get('cycles', 0)}"
        if body.get("cluster") is not None:  # several daemons: which one runs it
            owner = i.get("owner")
            head += f"; owner {owner['host']} pid {owner['pid']}" if owner else "; owner none"
        print(f"{head}; last {_last(i)}")
        if i.get("next_run") is not None:
            print(f"  next {_when(i['next_run'])}")
        if i.get("open_errors"):
            newest = (i.get("errors_preview") or [{}])[0]
            status = f"HTTP {newest['http_status']}, " if newest.get("http_status") else ""
            print(f"  open errors {i['open_errors']} (newest: #{newest.get('id')} {newest.get('operation')}, "
                  f"{status}record {newest.get('record_id')}): syncd errors {i['name']}")
        if i.get("conflicts"):
            print(f"  conflicts settled {i['conflicts']}: syncd conflicts {i['name']}")
        bulk = i.get("bulk")
        if bulk:
            print(f"  bulk: {_bulk(bulk)}")
        for line in i.get("config_errors") or []:
            print(f"  config: {line} (the previous config of this integration keeps running)")
        for line in budget_lines(i):
            print(f"  {line}")
