"""bench/daemon_idle.py as the lead's table runs it (``--quick --json``),
with a baseline interpreter (this one: the comparison's plumbing is what is
checked, not a figure): it must write every named figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


# A smoke run of a whole benchmark (20 to 55 s): behind --run-slow, for the default run's
# ten-minute budget; `bench/all.py --quick` runs the same script.
@pytest.mark.slow
def test_daemon_idle_quick_writes_both_revisions_figures_and_their_ratio(tmp_path: Path) -> None:
    out = tmp_path / "idle.json"
    done = subprocess.run([sys.executable, "bench/daemon_idle.py", "--quick", "--json", str(out),
                           "--baseline-python", sys.executable,
                           # smaller than --quick: the default test run's time budget
                           "--integrations", "12", "--window", "5"], cwd=REPO, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, f"exited {done.returncode}:\n{done.stdout}\n{done.stderr[-4000:]}"
    figures = json.loads(out.read_text())
    for key in ("atrest_cpu_ms_per_cycle", "atrest_baseline_cpu_ms_per_cycle", "atrest_ratio", "atrest_rss_mb"):
        assert isinstance(figures[key], (int, float)) and figures[key] > 0, (key, figures)
    assert figures["atrest_late_p99_ms"] == figures["atrest_late_p99_ms"], figures  # a number, not NaN
    assert figures["atrest_failures"] == 0 and figures["atrest_cycles"] > 0, figures
    assert figures["command"].startswith(".venv/bin/python bench/daemon_idle.py --quick --json")
    assert "| revision | N |" in done.stdout and "| this / baseline |" in done.stdout
