"""``syncd once``: one cycle of each enabled (or named) integration, no daemon.

Exit codes: see :data:`EXIT_STATUS` (``syncd reset`` shares them).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable
from typing import Any

import anyio

from syncd.cli._local import load
from syncd.cli._common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_RECORD_ERRORS,
    EXIT_USAGE,
    add_config_dir_argument,
    error,
)
from syncd.config import Config
from syncd.connector import PROCESS_MASKER
from syncd.daemon import command_cycles
from syncd.state import StateError
from syncd.sync import CycleSummary


# The --help epilog of `once` and `reset`; README's command table says the same.
EXIT_STATUS = (
    f"exit status: {EXIT_OK} every cycle completed and no record failed; "
    f"{EXIT_RECORD_ERRORS} every cycle completed but some records could not be read or written "
    f"(the summary's errors, and records of earlier errors still waiting for their retry: "
    f"see syncd errors INTEGRATION); "
    f"{EXIT_FAILED} a cycle was aborted (credentials refused, an app down past its retries) or the "
    f"state store failed; {EXIT_USAGE} bad usage; {EXIT_CONFIG} an invalid config."
)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "once",
        help="run one sync cycle of each enabled (or named) integration, then exit",
        description="Run one cycle of each enabled integration (or of those named), without a "
                    "daemon, and print what each did.",
        epilog=EXIT_STATUS,
    )
    add_config_dir_argument(p)
    p.add_argument("integrations", nargs="*", metavar="INTEGRATION", help="only these (default: every enabled one)")
    p.add_argument("--dry-run", action="store_true",
                   help="read both sides and print the writes it would make; write nothing to either app")
    p.add_argument("--json", action="store_true", help="print the summaries as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load(args)
    if isinstance(config, int):
        return config
    unknown = [n for n in args.integrations if n not in config.integrations]
    if unknown:
        error(f"no integration named {', '.join(unknown)}; known: {', '.join(sorted(config.integrations))}")
        return EXIT_USAGE
    names = args.integrations or [n for n, i in sorted(config.integrations.items()) if i.enabled]
    try:
        summaries = anyio.run(_run_all, config, names, args.dry_run)
    except StateError as e:
        error(str(e))
        return EXIT_FAILED
    print_summaries(summaries, args.json, config)
    return exit_code(s for s, _ in summaries)


def exit_code(summaries: Iterable[CycleSummary]) -> int:
    """An aborted cycle first, then record errors (those the summary counts:
    records that could not be read, writes that failed, and records that
    failed before and still wait for their retry), then success."""
    done = list(summaries)
    if any(s.aborted for s in done):
        return EXIT_FAILED
    if any(s.outcome == "errors" for s in done):
        return EXIT_RECORD_ERRORS
    return EXIT_OK


async def _run_all(config: Config, names: list[str], dry_run: bool) -> list[tuple[CycleSummary, float]]:
    out = []
    # On PostgreSQL: the leases of what it writes, for its length (a dry run writes nothing).
    with command_cycles(config, [] if dry_run else names) as cycles:
        for name in names:
            start = time.perf_counter()
            summary = await cycles.run(name, origin="once", dry_run=dry_run)
            out.append((summary, time.perf_counter() - start))
    return out


def print_summaries(summaries: list[tuple[CycleSummary, float]], as_json: bool, config: Config) -> None:
    if as_json:
        print(json.dumps([summary_dict(s, t) for s, t in summaries], indent=2, default=str))
        return
    for s, seconds in summaries:
        print_summary(summary_dict(s, seconds), config.integrations[s.integration].create)


def print_summary(d: dict[str, Any], policy: str) -> None:
    """One cycle's summary as :func:`summary_dict` gives it (or the daemon,
    for ``syncd sync``); *policy*, the integration's ``create:``, says why
    records were not created."""
    r, c, u, x = d["read"], d["created"], d["updated"], d["deleted"]
    blind = f"not created (no match key) {d['no_match_key']}; " if d.get("no_match_key") else ""
    delayed = f"; delayed {d['delayed']}" if d.get("delayed") else ""
    print(f"{d['integration']}: read {r['left']} left, {r['right']} right; "
          f"created {c['left']} left, {c['right']} right; "
          f"updated {u['left']} left, {u['right']} right; "
          f"deleted {x['left']} left, {x['right']} right; "
          f"unchanged {d['unchanged']}; skipped by rules {d['skipped']}; "
          f"not created (create: {policy}) {d['not_created']}; {blind}conflicts {d['conflicts']}; "
          f"errors {d['errors']}{delayed}{_held(d)} ({d['seconds']:.2f} s)")
    for child, k in (d.get("children") or {}).items():  # children: (notes, tasks …)
        waiting = f"; waiting for their parent {k['waiting']}" if k.get("waiting") else ""
        print(f"  {child}: read {k['read']['left']} left, {k['read']['right']} right; "
              f"created {k['created']['left']} left, {k['created']['right']} right; "
              f"updated {k['updated']['left']} left, {k['updated']['right']} right; "
              f"deleted {k['deleted']['left']} left, {k['deleted']['right']} right; "
              f"conflicts {k['conflicts']}; errors {k['errors']}{waiting}")
    for w in d.get("writes", []):
        target = w["record_id"] or "(new)"
        fields = ", ".join(f"{k}={PROCESS_MASKER.mask(str(v))}" for k, v in w["fields"].items())
        print(f"  would {w['action']} {w['side']} {target} from {w['source_id']}: {fields}")
    if d.get("children_not_previewed"):
        print(f"  {', '.join(d['children_not_previewed'])}: not previewed: a dry run plans the parents only "
              "(their children's writes depend on the parents' links, which it does not make)")
    if d.get("aborted"):
        print(f"  ABORTED: {PROCESS_MASKER.mask(d['aborted'])}")


def _held(d: dict[str, Any]) -> str:
    """Records that failed before and were not written by this cycle, when there are any."""
    out = f"; retry later {d['retry_later']}" if d.get("retry_later") else ""
    if d.get("waiting_for_operator"):
        out += (f"; waiting for an operator {d['waiting_for_operator']} "
                f"(syncd errors {d['integration']} --retry-all)")
    return out


def summary_dict(s: CycleSummary, seconds: float) -> dict[str, Any]:
    return {
        "integration": s.integration, **s.counts(), "seconds": round(seconds, 3),
        "aborted": PROCESS_MASKER.mask(s.aborted) if s.aborted else None,
        "writes": [{"side": w.side, "action": w.action, "record_id": w.record_id,
                    "source_id": w.source_id, "fields": w.fields} for w in s.writes],
        **({"children_not_previewed": s.children_not_previewed} if s.children_not_previewed else {}),
    }
