"""``syncd bulk INTEGRATION start|stop|status``: a manual bulk sync.

Every linked record pair, every mapped field, in its declared direction
(see :mod:`syncd.sync._bulk`). With a daemon running for the config, the
daemon runs it (beside the integration's scheduled cycles) and this
command asks it over the control socket; without one, ``start`` runs it
in the foreground, ``status`` reads the state store and ``stop`` has
nothing to stop.

``start`` waits and shows the progress: a bar (done/total, rate, ETA) on a
terminal, a plain line per step otherwise; ``--no-wait`` returns at once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import anyio

from syncd.cli._common import EXIT_FAILED, EXIT_OK, EXIT_RECORD_ERRORS, EXIT_USAGE, error
from syncd.cli._daemon_client import add_socket_arguments, ask_daemon
from syncd.cli._local import existing_store, load
from syncd.config import Config
from syncd.daemon import DaemonUnreachable, command_cycles
from syncd.state import BulkRun, StateError
from syncd.sync import BulkSync, bulk_progress

POLL = 0.5  # seconds between two looks at the daemon's progress

EXIT_STATUS = """\
exit status of start: 0 done without a failed record, 3 done but some records could
not be written (see `syncd status`; they are kept as record errors), 1 stopped or
failed (or one runs already), 2 unknown integration; stop: 0 stopped, 1 none runs
(or no daemon runs); status: 0"""


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bulk", help="sync every linked record pair, every mapped field (start, stop, status)",
        description="A manual bulk sync: every linked record pair, every mapped field written in its "
                    "declared direction wherever the two apps differ (a both-way field: the conflict "
                    "policy picks the winner). Updates only; it never creates or deletes. Run by the "
                    "daemon when one runs for the config, else in the foreground.",
        epilog=EXIT_STATUS)
    add_socket_arguments(p)
    p.add_argument("integration", metavar="INTEGRATION")
    p.add_argument("action", choices=("start", "stop", "status"),
                   help="start one (and wait for its end), stop the running one, or show the last one")
    p.add_argument("--no-wait", action="store_true",
                   help="start: return once the daemon has started it (no effect in the foreground)")
    p.add_argument("--json", action="store_true", help="print the progress as JSON (with its \"state\")")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    name = args.integration
    route = f"/v1/integrations/{name}/bulk"
    try:
        if args.action == "status":
            answer = ask_daemon(args, "GET", route, timeout=30.0)
        else:
            answer = ask_daemon(args, "POST", f"{route}/{args.action}", timeout=120.0)
    except DaemonUnreachable as e:
        error(str(e))
        return EXIT_FAILED
    if answer is None:
        return _without_daemon(args)
    code, body = answer
    if code == 404:
        error(str(body.get("error", body)))
        return EXIT_USAGE
    if code >= 300:
        error(str(body.get("error", body)))
        return EXIT_FAILED
    progress = body.get("bulk")
    if args.action == "start" and not args.no_wait:
        progress = _follow(args, route, progress)
    _show(name, progress, args.json)
    return _exit_code(progress) if args.action == "start" and not args.no_wait else EXIT_OK


def _exit_code(progress: dict[str, Any] | None) -> int:
    if progress is None or progress.get("state") != "done":
        return EXIT_FAILED
    return EXIT_RECORD_ERRORS if progress.get("failed") else EXIT_OK


# --- without a daemon ------------------------------------------------------------------------------

def _without_daemon(args: argparse.Namespace) -> int:
    name = args.integration
    if args.action == "stop":
        error(f"no syncd daemon runs for this config, so no bulk sync of {name} runs in one; a bulk sync "
              "started in the foreground (`syncd bulk NAME start` without a daemon) stops with Ctrl-C")
        return EXIT_FAILED
    config = load(args, secrets=args.action == "start")  # status reads the store
    if isinstance(config, int):
        return config
    if name not in config.integrations:
        error(f"no integration named {name}; known: {', '.join(sorted(config.integrations)) or 'none'}")
        return EXIT_USAGE
    try:
        if args.action == "status":
            with existing_store(config) as store:
                progress = None if store is None else bulk_progress(store.bulk_run(name))
        else:
            progress = bulk_progress(anyio.run(_foreground, config, name, args.json))
    except StateError as e:
        error(str(e))
        return EXIT_FAILED
    _show(name, progress, args.json)
    return _exit_code(progress) if args.action == "start" else EXIT_OK


async def _foreground(config: Config, name: str, quiet: bool) -> BulkRun:
    # PostgreSQL: its lease, for the command's length
    with command_cycles(config, [name]) as cycles, _display(name, quiet) as show:
        bulk = BulkSync(cycles, name, on_progress=lambda run: show(bulk_progress(run)))
        return await bulk.run()


# --- following a bulk the daemon runs -------------------------------------------------------------

def _follow(args: argparse.Namespace, route: str, progress: dict[str, Any] | None) -> dict[str, Any] | None:
    """Poll the daemon until the bulk has ended; its last progress."""
    with _display(args.integration, args.json) as show:
        while progress is not None and progress.get("state") == "running":
            show(progress)
            time.sleep(POLL)
            answer = ask_daemon(args, "GET", route, timeout=30.0)
            if answer is None or answer[0] != 200:
                error("the daemon went away during the bulk sync; `syncd bulk "
                      f"{args.integration} status` shows where it ended")
                return progress
            progress = answer[1].get("bulk")
        show(progress)
    return progress


class _Lines:
    """Progress as plain lines (stdout not a terminal): one per change."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.last: tuple[Any, ...] | None = None

    def __call__(self, progress: dict[str, Any] | None) -> None:
        if progress is None or progress["state"] != "running":
            return  # the end is shown by _show
        key = (progress["done"], progress["total"], progress["message"])
        if key != self.last:
            self.last = key
            print(f"{self.name}: {_counts(progress)}", flush=True)


@contextmanager
def _display(name: str, quiet: bool) -> Iterator[Any]:
    """A callable showing each progress: a bar on a terminal, lines elsewhere, nothing for --json."""
    if quiet:
        yield lambda progress: None
        return
    if not sys.stdout.isatty():
        yield _Lines(name)
        return
    # Here, not at the top: every command imports this module to build the parser.
    from tqdm import tqdm

    # The rate and ETA are the bulk's own (the daemon measures them), not
    # tqdm's guess from how often this process polls: the format leaves them out.
    # The size as the shell says ($COLUMNS/$LINES, else the terminal's; 80x24
    # when a terminal reports none, as a fresh pseudo-terminal does: tqdm
    # would take 0 rows as no room for a bar and draw nothing).
    size = shutil.get_terminal_size()
    with tqdm(total=None, desc=f"{name}: reading both sides", leave=False, ncols=size.columns,
              nrows=size.lines, file=sys.stdout,
              bar_format="{desc} {bar} {n_fmt}/{total_fmt} {postfix}") as bar:

        def show(progress: dict[str, Any] | None) -> None:
            if progress is None:
                return
            reading = progress["state"] == "running" and progress["total"] == 0 and progress["done"] == 0
            eta = progress.get("eta_seconds")
            detail = f"{progress['rate']:.1f} pairs/s" + (f", ETA {_duration(eta)}" if eta is not None else "")
            if progress.get("failed"):
                detail += f", {progress['failed']} failed"
            if progress.get("message") and progress["state"] == "running":
                detail += f" ({progress['message']})"
            bar.set_description_str(f"{name}: {'reading both sides' if reading else 'bulk sync'}", refresh=False)
            bar.total = None if reading else max(progress["total"], 1)
            bar.n = progress["done"]
            bar.set_postfix_str(detail, refresh=False)
            bar.refresh()

        yield show


# --- printing -----------------------------------------------------------------------------------

def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _clock(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _counts(progress: dict[str, Any]) -> str:
    total = progress["total"]
    if progress["state"] == "running" and total == 0 and progress["done"] == 0:
        text = "running: reading both sides in full"
    else:
        percent = f" ({100 * progress['done'] // total} %)" if total else ""
        text = f"{progress['state']}: {progress['done']} of {total} pairs{percent}"
        if progress["failed"]:
            text += f", {progress['failed']} failed (see `syncd status`)"
        text += f", {progress['rate']:.1f} pairs/s"
        if progress.get("eta_seconds") is not None:
            text += f", ETA {_duration(progress['eta_seconds'])}"
    if progress.get("message"):
        text += f"; {progress['message']}"
    return text


def _show(name: str, progress: dict[str, Any] | None, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"integration": name, **(progress or {"state": None})}, indent=2))
        return
    if progress is None:
        print(f"{name}: no bulk sync has run")
        return
    print(f"{name}: bulk sync {_counts(progress)}")
    print(f"  started {_clock(progress['started_at'])}, "
          + (f"ended {_clock(progress['ended_at'])}" if progress["ended_at"] else "still running"))
