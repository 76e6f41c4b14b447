"""The benchmarks of issue 14 at tiny sizes, so they cannot rot: each runs as
the docs say (a process, ``--quick``), with its own throwaway PostgreSQL
server, sample apps and ``syncd`` processes, and must print its table. No
figure is judged here: timings belong to docs/performance.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_bench(script: str, timeout: float, *extra: str) -> str:
    done = subprocess.run([sys.executable, f"bench/{script}", "--quick", *extra], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{script} --quick exited {done.returncode}:\n{done.stdout}\n{done.stderr[-4000:]}"
    return done.stdout


# A smoke run of a whole benchmark (20 to 55 s): behind --run-slow, for the default run's
# ten-minute budget; `bench/all.py --quick` runs the same script.
@pytest.mark.slow
def test_state_backends_quick_prints_both_stores_and_their_ratio(tmp_path: Path) -> None:
    out = run_bench("state_backends.py", 300, "--json", str(tmp_path / "figures.json"))
    assert ("| measure | N | SQLite s | PostgreSQL s (commits) | / SQLite "
            "| PostgreSQL, synchronous_commit off s (commits) | / SQLite |") in out
    for measure, n in (("initial sync, fresh state", 200), ("no-change cycle", 500),
                       ("full no-change cycle (`full_every` due)", 500)):
        row = next(line for line in out.splitlines() if line.startswith(f"| {measure} | {n} |"))
        cells = row.strip(" |").split(" | ")
        assert len(cells) == 7 and cells[4].endswith("x") and cells[6].endswith("x"), row
    assert "`syncd state copy` of that state into PostgreSQL" in out
    # the figures bench/all.py reads (test_benchall_*: the other scripts')
    figures = json.loads((tmp_path / "figures.json").read_text())
    for measure in ("initial", "no_change", "full"):
        for key in (f"sqlite_{measure}_s", f"pg_{measure}_s", f"pg_{measure}_ratio", f"pg_async_{measure}_ratio"):
            assert isinstance(figures[key], float), (key, figures)
    assert figures["pg_n_initial"] == 200 and figures["pg_n_no_change"] == 500


# A smoke run of a whole benchmark (20 to 55 s): behind --run-slow, for the default run's
# ten-minute budget; `bench/all.py --quick` runs the same script.
@pytest.mark.slow
def test_cluster_daemons_quick_prints_a_row_for_sqlite_and_each_number_of_daemons() -> None:
    out = run_bench("cluster_daemons.py", timeout=600)
    rows = [line.strip(" |").split(" | ") for line in out.splitlines() if line.startswith("| ")]
    assert rows[0][:4] == ["daemons", "integrations", "leases shared s", "time to balance s"], rows[0]
    assert [r[0] for r in rows[2:]] == ["1, SQLite (baseline)", "1", "2"], rows
    assert all(r[1] == "12" for r in rows[2:]), rows
    # the leases' own share is measured wherever there are leases (not on SQLite)
    assert rows[2][2] == "–" and all(float(r[2]) > 0 for r in rows[3:]), rows
