"""The initial sync's per-record Python on its create path, without I/O.

``initial_profile.py`` measures syncd's whole CPU per contact, SQLite and
HTTP included, on a shared machine: ±10 % between runs of one revision, so a
change of a few µs a record in planning or snapshots does not show there.
This runs only the Python of syncd that an initial sync spends per record on
its create path, in one process, on made-up pages shaped as the sample app's
(the integration of ``sync_cycle.py``: email, first and last name, phone,
creates left to right), batch by batch as the cycle does:

- a page of 100 read through the connector's extractor (``Extractor.page``),
  each record's snapshot (``Projection.stored``, ``content_hash``,
  ``changed_snapshot``);
- each record planned as a create (the retry gate, ``view``,
  ``IntegrationPlan.plan``), its intent's stored fields;
- the batch answer read (``Extractor.page``) and paired with the inputs
  (``pair_created``), each created record's snapshot (``written``).

Not in it: the state store, HTTP and JSON, the request bodies (the
connector's ``wire_fields`` and ``write_fields``), the writer's own loops.
The figure is process CPU time per record, the best of ``--repeats`` passes
over ``--batches`` batches (the least disturbed by other processes).

    .venv/bin/python bench/create_path.py                       # 100 batches (10,000 records), 7 passes
    .venv/bin/python bench/create_path.py --baseline-rev ddbaab4  # and a revision's, alternating
    .venv/bin/python bench/create_path.py --quick --json out.json

With ``--baseline-rev REV`` (a venv of REV built under $BASELINE_DIR, as
``daemon_idle.py`` builds one) or ``--baseline-python PATH``, this script
runs as a child process of each interpreter in turn, ``--rounds`` times each
(ABBA); the figures are the medians, ``create_path_vs_baseline`` is this
checkout's over the baseline's, and ``create_path_vs_baseline_paired`` the
median of each round's own ratio (a drifting load cancels out of it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from figures import write_figures
from sync_cycle import FIELDS

SPEC = Path(__file__).resolve().parents[1] / "connectors.d" / "sampleapp.yaml"
# sync_cycle.py's integration (the one initial_profile.py syncs), as YAML.
INTEGRATION = ("integration: bench\nleft: {connector: sampleapp, object: contacts}\n"
               "right: {connector: sampleapp, object: contacts}\nmatch: {left: email, right: email}\n"
               "create: left_to_right\nfields:\n"
               + "".join(f"  - {{left: {m['left']}, right: {m['right']}}}\n" for m in FIELDS))


def page(start: int, count: int, prefix: str) -> list[dict[str, Any]]:
    """Raw records as the sample app lists them (and answers a batch create)."""
    return [{"id": f"{prefix}{i:07d}", "email": f"person{i}@example.com", "first_name": "Ada",
             "last_name": f"Lovelace{i}", "phone": f"+1-555-{i:07d}", "tags": ["newsletter"],
             "custom_fields": {"plan": "pro", "score": 3, "opted_in": True},
             "created_at": "2026-12-01T12:00:00Z", "updated_at": f"2026-12-01T12:{i % 60:02d}:00Z"}
            for i in range(start, start + count)]


def measure(batches: int, repeats: int) -> float:
    """CPU µs per record of the create path (the best of *repeats* passes), by the
    syncd this interpreter imports."""
    import yaml

    from syncd.config import RecordRetries, build_connector
    from syncd.config._integration import build_integration
    from syncd.config._yaml import load_yaml
    from syncd.connector._batch import pair_created
    from syncd.connector._fields import Extractor
    from syncd.sync._plan import IntegrationPlan
    from syncd.sync._retries import RetryGate
    from syncd.sync._snapshots import Projection, changed_snapshot, content_hash, view, written

    spec, errors = build_connector(yaml.safe_load(SPEC.read_text()))
    assert spec is not None, errors
    contacts = spec.objects["contacts"]
    doc, problems = load_yaml(INTEGRATION, "bench.yaml")
    integration, problems = build_integration(doc, Path("/etc/syncd"), {}, "/etc/syncd")
    assert integration is not None, problems
    plan = IntegrationPlan.compile(integration, contacts, contacts)
    left = Projection(plan.compared_fields("left"), "email")
    right = Projection(plan.compared_fields("right"), "email")
    extractor = Extractor(contacts, only=sorted(plan.compared_fields("left")))
    gate = RetryGate(RecordRetries(), [], datetime.now(UTC))
    work = [(page(b * 100, 100, "c"), page(b * 100, 100, "r")) for b in range(batches)]

    def batch(listed: list[dict[str, Any]], answered: list[dict[str, Any]]) -> None:
        records = extractor.page(listed)
        assert records is not None
        snaps = []
        for record in records:
            seen = left.stored(record.fields)
            snaps.append(changed_snapshot("left", record, seen, content_hash(seen), left, None, 1))
        inputs = []
        for snap in snaps:
            if gate.held("left", snap, None) is None:
                inputs.append(plan.plan(view(snap), None).right)
        [right.stored(fields) for fields in inputs]  # each create's intent
        created = extractor.page(answered)
        assert created is not None
        paired = pair_created(inputs, created, extractor.normaliser)
        for n, fields in enumerate(inputs):
            result = paired[n]
            written(None, "right", result.id, {**fields, **result.fields}, right, result.updated_at)

    passes = []
    for _ in range(repeats):
        start = time.process_time()
        for listed, answered in work:
            batch(listed, answered)
        passes.append((time.process_time() - start) / (batches * 100) * 1e6)
    return min(passes)


def compare(args: argparse.Namespace) -> dict[str, Any]:
    from daemon_idle import revision_python

    pythons = {"this": sys.executable, "baseline": args.baseline_python or revision_python(args.baseline_rev)}
    rows: dict[str, list[float]] = {label: [] for label in pythons}
    for r in range(args.rounds):
        for label in (list(pythons) if r % 2 == 0 else list(pythons)[::-1]):
            done = subprocess.run([pythons[label], __file__, "--child", "--batches", str(args.batches),
                                   "--repeats", str(args.repeats)], capture_output=True, text=True, check=True)
            rows[label].append(json.loads(done.stdout)["create_path_us_per_record"])
            print(f"round {r + 1}, {label}: {rows[label][-1]:.2f} µs a record", flush=True)
    this, base = statistics.median(rows["this"]), statistics.median(rows["baseline"])
    # Each round's own ratio (its two runs are neighbours in time: one load), their median.
    paired = statistics.median(t / b for t, b in zip(rows["this"], rows["baseline"]))
    print(f"\nmedians of {args.rounds} round(s): {args.baseline_rev} {base:.2f} µs a record, "
          f"this checkout {this:.2f} µs: {this / base:.3f} (the median of each round's ratio: {paired:.3f})")
    return {"create_path_us_per_record": round(this, 2), "create_path_baseline_us_per_record": round(base, 2),
            "create_path_vs_baseline": round(this / base, 3), "create_path_vs_baseline_paired": round(paired, 3),
            "baseline_rev": args.baseline_rev, "rounds": args.rounds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=100, help="batches of 100 records a pass (default 100)")
    ap.add_argument("--repeats", type=int, default=7, help="passes; the best one counts (default 7)")
    ap.add_argument("--quick", action="store_true", help="20 batches, 3 passes, 1 round")
    ap.add_argument("--baseline-rev", metavar="REV", help="also measure revision REV, alternating")
    ap.add_argument("--baseline-python", metavar="PATH", help="as --baseline-rev, with this interpreter")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each with a baseline (default 3)")
    ap.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one measurement, as JSON
    args = ap.parse_args()
    if args.quick:
        args.batches, args.repeats, args.rounds = 20, 3, 1
    if args.child:
        print(json.dumps({"create_path_us_per_record": measure(args.batches, args.repeats)}))
        return 0
    if args.baseline_python and not args.baseline_rev:
        args.baseline_rev = "baseline"  # its label
    if args.baseline_rev:
        figures = compare(args)
    else:
        us = measure(args.batches, args.repeats)
        print(f"the create path's Python: {us:.2f} µs of CPU a record ({args.batches * 100:,} records, "
              f"best of {args.repeats})")
        figures = {"create_path_us_per_record": round(us, 2)}
    write_figures(args.json, {**figures, "batches": args.batches, "repeats": args.repeats})
    return 0


if __name__ == "__main__":
    sys.exit(main())
