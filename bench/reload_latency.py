"""Hot reload: from saving a changed file to the new behaviour.

``syncd run`` runs K integrations (default K = 1, then K = 1,000); one of
them, ``target``, copies contacts from a sample app to an empty one; the
others (``every 1 hour``, so idle once their first cycle is done) join
pairs of apps that hold the same contacts. Every app is its own process.
Once every integration has finished its first cycle, ``target``'s file is
changed R times (default 5), saved the way an editor does (write a
temporary file, rename it over the old one). Each edit switches the source
of the right app's ``last_name`` between the left's ``last_name`` and its
``first_name``, so the new behaviour shows in the right app. For each save,
against a wall clock taken at the rename:

- save → ``reload started`` and → ``reload applied`` (the log's timestamps;
  the watcher waits for 200 ms of quiet first);
- save → the first ``cycle finished`` of ``target`` under the new config;
- save → every contact of the right app showing the change (its HTTP API,
  polled every 10 ms).

Then R invalid edits (a misspelt match field; each put right again before
the next): save → ``reload failed``.

The baseline, in the same run and on the same tree: ``syncd validate -c
DIR`` (a process that loads and checks the whole tree, as a reload must),
and the same load in this process (``load_config``, without Python's
start-up). Latencies are reported against both. The goal (issue 4): under
2 s from save to the change.

    .venv/bin/python bench/reload_latency.py                      # K = 1 and 1,000, 5 edits each
    .venv/bin/python bench/reload_latency.py --sizes 100 --repeats 3
    .venv/bin/python bench/reload_latency.py --quick --json /tmp/reload.json   # K = 20, 2 edits each

``--json PATH`` writes the figures of the largest K: save → visible, median
and worst (``reload_visible_s``, ``reload_visible_max_s``), the baselines
(``reload_validate_s``, ``reload_load_s``), visible over validate, and
invalid edit → reload failed (``reload_failed_max_s``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from figures import write_figures
from daemon_idle import REPO, TOKEN, Daemon, Processes, integration, interruptible, start_apps, write_config

from syncd.sampleapp import config_yaml

TARGET = "target"
BASE_FIELDS = [{"left": "email", "right": "email"}, {"left": "first_name", "right": "first_name"}]
# What the right app's last_name is copied from, edit after edit.
SOURCES = ("last_name", "first_name")
GOOD_MATCH = "match: {left: email, right: email}"
BAD_MATCH = "match: {left: emial, right: email}"
GOAL_S = 2.0


def contacts(url: str) -> list[dict[str, Any]]:
    """Every contact of a sample app (at most 100 here: one page)."""
    request = urllib.request.Request(f"{url}/cursor/contacts?limit=100",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return list(json.load(answer)["results"])


def shows(right: str, expected: dict[str, str]) -> bool:
    """Whether the right app holds every expected last_name, by email."""
    got = {c["email"]: c.get("last_name") for c in contacts(right)}
    return all(got.get(email) == value for email, value in expected.items())


def save(path: Path, text: str) -> float:
    """Save like an editor (a temporary file renamed over *path*); the wall clock at the rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    at = time.time()
    os.replace(tmp, path)
    return at


def target(urls: dict[str, str], source: str) -> dict[str, Any]:
    return integration(TARGET, urls["tl"], urls["tr"], schedule="every 1 hour",
                       fields=[*BASE_FIELDS, {"left": source, "right": "last_name", "direction": "left_to_right"}])


def target_text(urls: dict[str, str], source: str) -> str:
    return config_yaml(target(urls, source), kind="integration")


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return wall


def measure(k: int, repeats: int, *, pairs: int, contacts_n: int) -> dict[str, Any]:
    from syncd.config import load_config

    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp, Processes() as procs:
        folder = Path(tmp)
        idle_pairs = min(pairs, k - 1)
        urls = start_apps(procs, folder, [("tl", contacts_n, 0), ("tr", 0, 0)]
                          + [(f"{side}{p}", contacts_n, p) for p in range(idle_pairs) for side in "lr"])
        integrations = [target(urls, SOURCES[0])]
        for i in range(k - 1):
            integrations.append(integration(f"idle-{i:04d}", urls[f"l{i % idle_pairs}"], urls[f"r{i % idle_pairs}"],
                                            schedule="every 1 hour"))
        config = folder / "config"
        write_config(config, folder / "state.db", integrations)
        file = config / "integrations.d" / f"{TARGET}.yaml"
        left = {c["email"]: c for c in contacts(urls["tl"])}

        daemon = Daemon(procs, config, folder)
        try:
            daemon.wait_for("syncd started", timeout=120)
            deadline = time.monotonic() + 120 + k * 0.2
            done: set[str] = set()
            while len(done) < k:
                done.update(e["integration"] for e in daemon.poll() if e.get("event") == "cycle finished")
                daemon.check_alive("the first round of cycles")
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {len(done)} of {k} integrations finished a cycle; log: {daemon.log_path}")
                time.sleep(0.1)
            if not shows(urls["tr"], {e: c["last_name"] for e, c in left.items()}):
                raise SystemExit("the first cycle did not copy the contacts")
            time.sleep(1.0)  # let the last first cycles' writes settle

            # The floor: loading and checking the whole tree.
            validate = [timed([sys.executable, "-m", "syncd", "validate", "-c", str(config)], daemon.env)
                        for _ in range(repeats)]
            load = []
            for _ in range(repeats):
                start = time.perf_counter()
                load_config(config, environ=daemon.env)
                load.append(time.perf_counter() - start)

            runs = []
            for r in range(repeats):
                source = SOURCES[(r + 1) % len(SOURCES)]
                expected = {e: c[source] for e, c in left.items()}
                at = save(file, target_text(urls, source))
                polls = 0
                while not shows(urls["tr"], expected):
                    polls += 1
                    if time.time() - at > 60:
                        raise SystemExit(f"the change never showed in the right app; log: {daemon.log_path}")
                    time.sleep(0.01)
                visible = time.time()
                started = daemon.wait_for("reload started", after=at)
                applied = daemon.wait_for("reload applied", after=at)
                if TARGET not in applied["restarted"] or len(applied["restarted"]) != 1:
                    raise SystemExit(f"the reload restarted {applied['restarted']}, not just {TARGET}")
                finished = daemon.wait_for("cycle finished", integration=TARGET, after=applied["t"])
                runs.append({"started": started["t"] - at, "applied": applied["t"] - at,
                             "inside": applied["seconds"], "cycle": finished["t"] - at,
                             "cycle_s": finished["seconds"], "visible": visible - at,
                             "updated": finished.get("updated")})
                time.sleep(0.5)

            failed = []
            current = target_text(urls, SOURCES[repeats % len(SOURCES)])
            for _ in range(repeats):
                at = save(file, current.replace(GOOD_MATCH, BAD_MATCH))
                event = daemon.wait_for("reload failed: the previous config keeps running", after=at)
                failed.append(event["t"] - at)
                at = save(file, current)  # put right: the same config as the running one
                back = daemon.wait_for("reload applied", after=at)
                if back["restarted"]:
                    raise SystemExit(f"putting the file back restarted {back['restarted']}")
                time.sleep(0.5)
        finally:
            code = daemon.stop()
        if code != 0:
            raise SystemExit(f"syncd run exited {code}; log: {daemon.log_path}")
        return {"k": k, "validate": validate, "load": load, "runs": runs, "failed": failed}


def med_max(values: list[float], scale: float = 1.0, fmt: str = ".2f") -> str:
    return f"{statistics.median(values) * scale:{fmt}} ({max(values) * scale:{fmt}})"


def writes(updated: Any) -> str:
    if isinstance(updated, dict):
        return ", ".join(f"{count} updates {side}" for side, count in updated.items() if count) or "nothing"
    return f"{updated} updates"


def report(rows: list[dict[str, Any]], command: str) -> None:
    print(f"\n```bash\n{command}\n```\n")
    print("Seconds from the save, median (max) of the edits:\n")
    print("| K | `syncd validate` s | load in process s | → reload started | → reload applied "
          "| reload's own time | → target's cycle finished | → visible in the app "
          "| visible / validate | visible / load | invalid edit → reload failed |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        runs = row["runs"]
        col = {key: [r[key] for r in runs] for key in runs[0]}
        validate, load = statistics.median(row["validate"]), statistics.median(row["load"])
        print(f"| {row['k']:,} | {med_max(row['validate'])} | {med_max(row['load'])} | {med_max(col['started'])} "
              f"| {med_max(col['applied'])} | {med_max(col['inside'])} | {med_max(col['cycle'])} "
              f"| **{med_max(col['visible'])}** | {statistics.median(col['visible']) / validate:.2f}x "
              f"| {statistics.median(col['visible']) / load:.1f}x | {med_max(row['failed'])} |")
    for row in rows:
        worst = max(r["visible"] for r in row["runs"])
        verdict = "met" if worst < GOAL_S else "NOT met"
        print(f"\nK={row['k']:,}: goal save → visible < {GOAL_S:g} s {verdict} (worst {worst:.2f} s); "
              f"target's cycles under the new config took {med_max([r['cycle_s'] for r in row['runs']], fmt='.3f')} s "
              f"and wrote {' / '.join(sorted({writes(r['updated']) for r in row['runs']}))}")


def figures(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The largest K's figures, named for bench/all.py's table."""
    row = rows[-1]
    visible = [r["visible"] for r in row["runs"]]
    validate = statistics.median(row["validate"])
    return {"reload_k": row["k"], "reload_visible_s": statistics.median(visible),
            "reload_visible_max_s": max(visible), "reload_applied_s": statistics.median(r["applied"] for r in row["runs"]),
            "reload_validate_s": validate, "reload_load_s": statistics.median(row["load"]),
            "reload_visible_vs_validate": statistics.median(visible) / validate,
            "reload_failed_s": statistics.median(row["failed"]), "reload_failed_max_s": max(row["failed"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 1000], help="K, integrations in the config")
    ap.add_argument("--repeats", type=int, default=5, help="R, edits of each kind (default 5)")
    ap.add_argument("--pairs", type=int, default=10, help="pairs of sample apps for the idle integrations")
    ap.add_argument("--contacts", type=int, default=10, help="contacts in each app (default 10)")
    ap.add_argument("--quick", action="store_true", help="K = 20, 2 edits of each kind")
    ap.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.repeats = [20], 2
    command = shlex.join([".venv/bin/python", "bench/reload_latency.py", *sys.argv[1:]])
    rows = []
    try:
        with interruptible():
            for k in args.sizes:
                print(f"K={k:,}: {args.repeats} edits ...", file=sys.stderr, flush=True)
                rows.append(measure(k, args.repeats, pairs=args.pairs, contacts_n=args.contacts))
    except KeyboardInterrupt:
        print("interrupted: every process it started is stopped", file=sys.stderr)
        return 130
    report(rows, command)
    write_figures(args.json, figures(rows), command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
