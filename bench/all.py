"""Every benchmark behind one command, and one table of what they measured.

Runs each bench script of :data:`BENCHES` as its own process with ``--json
TMP`` (and ``--quick`` when given), one after the other so that they do not
compete for the machine, reads the figures each wrote, and prints one table:
a row per measure with its figure, the baseline measured in the same run
(every ratio here is against a baseline of the same run: the machine is
noisy and shared), their ratio, the goal and whether it is met; above it the
commit and how loaded the machine was.

    .venv/bin/python bench/all.py                      # every bench at the sizes of docs/performance.md (about 20 min)
    .venv/bin/python bench/all.py --quick              # every bench at smoke-test sizes (a few minutes)
    .venv/bin/python bench/all.py --only webhooks reload_latency --markdown
    .venv/bin/python bench/all.py --baseline-rev 1630913 --json /tmp/figures.json

A bench that fails (exit status, time-out, no JSON) shows as failed in each
of its rows with the last line of its stderr; the others still run, and the
exit status is 1. A script not written yet shows as "not present". A figure
a script could not measure (``KEY_error`` in its JSON, e.g. a peer tool that
cannot run here) shows why.

To add a bench: a script that follows ``bench/figures.py``'s convention, and
an entry in :data:`BENCHES` with its rows. ``--add NAME=SCRIPT:KEY,...``
runs a script not in the registry (a row per key, no goal).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from figures import compile_checkout

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Goal:
    """A bound on a row's ratio or on its figure: ``Goal("ratio", ">=", 0.8)``."""

    on: str  # "ratio" or "figure"
    op: str  # ">=", "<=" or "<"
    value: float

    def met(self, figure: float | None, ratio: float | None) -> bool | None:
        x = ratio if self.on == "ratio" else figure
        if x is None:
            return None
        return {">=": x >= self.value, "<=": x <= self.value, "<": x < self.value}[self.op]

    def __str__(self) -> str:
        sign = {">=": "≥", "<=": "≤", "<": "<"}[self.op]
        return f"{'' if self.on == 'ratio' else 'figure '}{sign} {self.value:g}{'x' if self.on == 'ratio' else ''}"


@dataclass(frozen=True)
class Row:
    """One measure: the JSON keys of its figure, its same-run baseline and their ratio."""

    label: str
    figure: str
    unit: str = ""
    baseline: str | None = None
    ratio: str | None = None
    goal: Goal | None = None


@dataclass(frozen=True)
class Bench:
    """A script of bench/ and the rows it fills.

    ``full`` are its arguments in a full run (chosen so that every bench
    together fits about 20 minutes on 2 cores; a script's own defaults may
    run longer); ``--quick`` replaces them in a quick run. ``baseline_rev``:
    the script takes ``--baseline-rev REV`` (an older commit measured in
    the same run)."""

    name: str
    script: str
    rows: tuple[Row, ...]
    full: tuple[str, ...] = ()
    baseline_rev: bool = False
    timeout_s: float = 900.0
    env: dict[str, str] = field(default_factory=dict)


RATIO_GE = ">="
BENCHES: tuple[Bench, ...] = (
    Bench("peers", "peers.sh", full=("100000",), rows=(
        Row("read 100k, whole process: syncd vs bare httpx (speed, raw s / syncd s)", "read_syncd_s", "s",
            baseline="read_raw_httpx_s", ratio="read_vs_raw_httpx", goal=Goal("ratio", RATIO_GE, 0.8)),
        Row("read 100k: syncd vs dlt rest_api (speed)", "read_syncd_s", "s",
            baseline="read_dlt_s", ratio="read_vs_dlt", goal=Goal("ratio", RATIO_GE, 2.0)),
        Row("read 100k: syncd vs Airbyte declarative source (speed)", "read_syncd_s", "s",
            baseline="read_airbyte_s", ratio="read_vs_airbyte"),
    )),
    Bench("read_stages", "read_stages.py", full=("--rounds", "3"), rows=(
        Row("read 100k in one process (no start-up): syncd vs sync httpx loop (speed)", "stages_syncd_s", "s",
            baseline="stages_sync_httpx_s", ratio="stages_syncd_vs_sync_httpx"),
    )),
    Bench("parallel_read", "parallel_read.py", rows=(
        Row("parallel page reads, concurrency 4, 50 ms a page: vs sequential bare httpx",
            "parallel_c4_records_per_s", "records/s", ratio="parallel_c4_vs_bare", goal=Goal("ratio", RATIO_GE, 2.0)),
        Row("parallel page reads, concurrency 1: vs sequential bare httpx", "parallel_c1_vs_bare", "x"),
    )),
    Bench("sync_cycle", "sync_cycle.py", full=("--sizes", "10000", "100000"), rows=(
        Row("no-change cycle at 100k (`syncd once`, start-up included)", "sync_no_change_s", "s"),
        Row("full no-change cycle at 100k vs bare list of both sides", "sync_full_no_change_s", "s",
            baseline="sync_bare_list_s", ratio="sync_full_over_bare"),
        Row("initial sync at 100k, batch creates", "sync_initial_records_per_s", "records/s"),
        Row("update cycle at 100k (every contact edited), batch updates", "sync_update_records_per_s", "records/s"),
        Row("initial sync peak RSS, 100k vs 10k", "sync_initial_rss_mb", "MB",
            baseline="sync_initial_rss_mb_smallest", ratio="sync_rss_ratio", goal=Goal("ratio", "<=", 1.5)),
    )),
    Bench("initial_profile", "initial_profile.py", full=("--latency-curve", "0", "2", "5", "10", "20", "40"), rows=(
        Row("initial sync at 100k (profiled run)", "initial_records_per_s", "records/s"),
        Row("initial sync: share of wall time with a request in flight and the loop idle",
            "initial_network_share", "share", goal=Goal("figure", RATIO_GE, 0.5)),
        Row("initial sync: share of wall time the event loop is busy", "initial_loop_busy_share", "share"),
        Row("initial sync of 10k: the apps' latency a request (100 records) at which that share is 0.5",
            "initial_breakeven_delay_ms", "ms"),
    )),
    Bench("create_path", "create_path.py", baseline_rev=True, rows=(
        Row("initial sync's create path, syncd's Python only (plan, snapshots, pairing): CPU per record",
            "create_path_us_per_record", "µs", baseline="create_path_baseline_us_per_record",
            ratio="create_path_vs_baseline_paired"),
    )),
    Bench("memory", "memory.py", rows=(
        Row("peak RSS at 10k snapshots", "rss_mb_10k", "MB"),
        Row("peak RSS at 100k snapshots", "rss_mb_100k", "MB"),
        Row("peak RSS at 1M snapshots", "rss_mb_1m", "MB", goal=Goal("figure", "<", 200)),
    )),
    Bench("daemon_idle", "daemon_idle.py", full=("--window", "120"), baseline_rev=True, timeout_s=1200, rows=(
        Row("at rest, 1,000 integrations every minute: CPU per cycle vs baseline commit", "atrest_cpu_ms_per_cycle",
            "ms", baseline="atrest_baseline_cpu_ms_per_cycle", ratio="atrest_ratio", goal=Goal("ratio", "<=", 0.5)),
        Row("at rest, 1,000 integrations: RSS", "atrest_rss_mb", "MB"),
        Row("at rest, 1,000 integrations: start lateness p99", "atrest_late_p99_ms", "ms"),
    )),
    Bench("webhooks", "webhooks.py", rows=(
        Row("webhook → visible, burst of 1,000 over 100 contacts, p50 (baseline: edit + `syncd sync`)",
            "webhook_p50_ms", "ms", baseline="webhook_baseline_ms", ratio="webhook_p50_vs_baseline"),
        Row("webhook → visible, p99", "webhook_p99_ms", "ms", baseline="webhook_baseline_ms",
            ratio="webhook_p99_vs_baseline", goal=Goal("figure", "<", 1000)),
    )),
    Bench("reload_latency", "reload_latency.py", full=("--sizes", "1000", "--repeats", "5"), rows=(
        Row("hot reload, 1,000 integrations: save → change visible, worst (baseline: `syncd validate`)",
            "reload_visible_max_s", "s", baseline="reload_validate_s", ratio="reload_visible_vs_validate",
            goal=Goal("figure", "<", 2.0)),
        Row("hot reload: invalid edit → `reload failed`, worst", "reload_failed_max_s", "s"),
    )),
    Bench("reset_pairing", "reset_pairing.py", full=("--sizes", "10000", "100000"), rows=(
        Row("`reset --read-only`, SQLite: time a pair at 100k vs at 10k", "reset_us_per_pair_sqlite_100k", "µs",
            baseline="reset_us_per_pair_sqlite_10k", ratio="reset_scaling_sqlite", goal=Goal("ratio", "<=", 1.5)),
        Row("`reset --read-only`, PostgreSQL: time a pair at 100k vs at 10k", "reset_us_per_pair_postgresql_100k",
            "µs", baseline="reset_us_per_pair_postgresql_10k", ratio="reset_scaling_postgresql",
            goal=Goal("ratio", "<=", 1.5)),
    )),
    Bench("state_backends", "state_backends.py", full=("--repeats", "1"), rows=(
        Row("initial sync of 10k: PostgreSQL vs SQLite (time)", "pg_initial_s", "s",
            baseline="sqlite_initial_s", ratio="pg_initial_ratio"),
        Row("no-change cycle at 100k: PostgreSQL vs SQLite (time)", "pg_no_change_s", "s",
            baseline="sqlite_no_change_s", ratio="pg_no_change_ratio"),
        Row("full no-change cycle at 100k: PostgreSQL vs SQLite (time)", "pg_full_s", "s",
            baseline="sqlite_full_s", ratio="pg_full_ratio"),
    )),
)


@dataclass
class Outcome:
    """What one bench gave: its figures, or why it gave none."""

    bench: Bench
    status: str  # "ok", "failed", "not present"
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def command(bench: Bench, *, quick: bool, json_path: str, baseline_rev: str | None) -> list[str]:
    path = Path(bench.script) if Path(bench.script).is_absolute() else REPO / "bench" / bench.script
    head = ["bash", str(path)] if path.suffix == ".sh" else [sys.executable, str(path)]
    args = ["--quick"] if quick else list(bench.full)
    if baseline_rev and bench.baseline_rev:
        args += ["--baseline-rev", baseline_rev]
    return [*head, *args, "--json", json_path]


def run(bench: Bench, *, quick: bool, baseline_rev: str | None) -> Outcome:
    path = Path(bench.script) if Path(bench.script).is_absolute() else REPO / "bench" / bench.script
    if not path.exists():
        return Outcome(bench, "not present", error=f"bench/{bench.script} not present")
    with tempfile.TemporaryDirectory(prefix="syncd-benchall-") as tmp:
        out = Path(tmp) / "figures.json"
        cmd = command(bench, quick=quick, json_path=str(out), baseline_rev=baseline_rev)
        print(f"== {bench.name}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
        # peers.sh runs syncd from this interpreter's venv (the checkout as it is), if it is one
        venv = {"SYNCD_VENV": sys.prefix} if sys.prefix != sys.base_prefix else {}
        env = {**os.environ, **venv, **bench.env}
        started = time.monotonic()
        with open(Path(tmp) / "stderr", "w+") as err:
            try:
                done = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                      timeout=bench.timeout_s if not quick else min(bench.timeout_s, 300))
                code: int | None = done.returncode
            except subprocess.TimeoutExpired:
                code = None
            err.seek(0)
            lines = [line.strip() for line in err.read().splitlines() if line.strip()]
        seconds = time.monotonic() - started
        last = lines[-1] if lines else "(no stderr)"
        if code is None:
            return Outcome(bench, "failed", seconds, error=f"timed out after {seconds:.0f} s; last: {last}")
        if code != 0:
            return Outcome(bench, "failed", seconds, error=f"exit {code}: {last}")
        try:
            figures = json.loads(out.read_text())
        except (OSError, ValueError) as exc:
            return Outcome(bench, "failed", seconds, error=f"no figures in --json ({exc.__class__.__name__})")
        missing = [k for r in bench.rows for k in (r.figure, r.ratio, r.baseline)
                   if k and k not in figures and f"{k}_error" not in figures]
        if missing:
            return Outcome(bench, "failed", seconds, figures,
                           error=f"{path.name} did not report {', '.join(sorted(set(missing)))}")
        return Outcome(bench, "ok", seconds, figures)


def fmt(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3f}" if abs(v) < 1 else f"{v:.2f}"


HEAD = ("bench", "measure", "figure", "unit", "baseline (same run)", "ratio", "goal", "met?")


def cells(outcome: Outcome) -> list[list[str]]:
    rows = []
    for row in outcome.bench.rows:
        goal = str(row.goal) if row.goal else "–"
        if outcome.status != "ok":
            state = "FAILED" if outcome.status == "failed" else "not present"
            rows.append([outcome.bench.name, row.label, f"{state}: {outcome.error}" if outcome.status == "failed"
                         else state, row.unit, "", "", goal, "–"])
            continue
        f = outcome.figures
        why = next((f[f"{k}_error"] for k in (row.figure, row.baseline, row.ratio) if k and f"{k}_error" in f), None)
        figure, base, ratio = (f.get(k) if k else None for k in (row.figure, row.baseline, row.ratio))
        met = row.goal.met(figure, ratio) if row.goal else None
        rows.append([outcome.bench.name, row.label,
                     fmt(figure) if figure is not None else f"not measured: {why}", row.unit,
                     fmt(base) if base is not None else ("not measured" if row.baseline else ""),
                     f"{fmt(ratio)}x" if ratio is not None else ("not measured" if row.ratio else ""),
                     goal, "–" if met is None else ("yes" if met else "**NO**")])
    return rows


def commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True)
    return (head.stdout.strip() or "?") + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def preamble(quick: bool, started: datetime, rev: str, loads: tuple[tuple[float, ...], tuple[float, ...]],
             wall: float) -> str:
    (a1, a5, a15), (b1, b5, b15) = loads
    return (f"{started:%Y-%m-%d %H:%M} UTC, commit {rev}, {os.cpu_count()} cores, "
            f"{'quick run (smaller sizes than the measures say)' if quick else 'full run'} of {wall / 60:.1f} min; load average (1 / 5 / 15 min) "
            f"{a1:.2f} / {a5:.2f} / {a15:.2f} at the start, {b1:.2f} / {b5:.2f} / {b15:.2f} at the end")


def markdown(table: list[list[str]]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(HEAD) + " |", "| --- | --- | ---: | --- | ---: | ---: | --- | --- |"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in table]
    return "\n".join(lines)


def plain(table: list[list[str]]) -> str:
    rows = [list(HEAD), *table]
    widths = [min(max(len(r[i]) for r in rows), 90) for i in range(len(HEAD))]
    return "\n".join("  ".join(c[:90].ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def parse_add(text: str) -> Bench:
    try:
        name, rest = text.split("=", 1)
        script, keys = rest.rsplit(":", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--add {text!r}: expected NAME=SCRIPT:KEY[,KEY...]") from None
    return Bench(name, str(Path(script).resolve()), rows=tuple(Row(k, k) for k in keys.split(",") if k))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every bench with --quick (smoke-test sizes)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="these benches only (names: see the table's first column)")
    ap.add_argument("--baseline-rev", metavar="REV", help="passed to the benches that measure an older commit")
    ap.add_argument("--json", metavar="PATH", help="also write every figure and outcome as JSON")
    ap.add_argument("--markdown", action="store_true", help="print the table as docs/performance.md carries it")
    ap.add_argument("--add", action="append", type=parse_add, default=[], metavar="NAME=SCRIPT:KEY,...",
                    help="also run a script not in the registry, a row per key")
    args = ap.parse_args(argv)
    benches = [*BENCHES, *args.add]
    names = [b.name for b in benches]
    if args.only:
        unknown = [n for n in args.only if n not in names]
        if unknown:
            ap.error(f"unknown bench {', '.join(unknown)}; known: {', '.join(names)}")
        benches = [b for b in benches if b.name in args.only]
    compile_checkout()  # as the baselines are: see figures.compile_checkout
    # the commit as the run starts: what was measured, whatever is edited meanwhile
    started, rev, load_start, t0 = datetime.now(timezone.utc), commit(), os.getloadavg(), time.monotonic()
    outcomes = []
    for bench in benches:
        outcome = run(bench, quick=args.quick, baseline_rev=args.baseline_rev)
        print(f"   {bench.name}: {outcome.status} in {outcome.seconds:.0f} s {outcome.error}", file=sys.stderr,
              flush=True)
        outcomes.append(outcome)
    table = [row for o in outcomes for row in cells(o)]
    head = preamble(args.quick, started, rev, (load_start, os.getloadavg()), time.monotonic() - t0)
    command = shlex.join([".venv/bin/python", "bench/all.py", *(sys.argv[1:] if argv is None else argv)])
    if args.markdown:
        print(f"```bash\n{command}\n```\n\n{head}\n\n{markdown(table)}")
    else:
        print(f"{command}\n{head}\n\n{plain(table)}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "command": command, "preamble": head, "benches": {
                o.bench.name: {"status": o.status, "seconds": round(o.seconds, 1), "error": o.error,
                               "figures": o.figures} for o in outcomes}}, indent=1) + "\n")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
