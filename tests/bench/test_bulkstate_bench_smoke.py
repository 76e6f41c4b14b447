"""bench/initial_profile.py's before/after and latency options at a tiny size,
so they cannot rot: ``--baseline-python`` (what ``--baseline-rev`` runs once
it has built the revision's venv; here this checkout's own interpreter, so
no venv is built) alternating with this checkout, and ``--app-delay-ms``.
No figure is judged: timings belong to docs/performance.md."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.bench.test_initsync_bench_smoke import run_bench


def test_initial_profile_against_a_baseline_with_slow_apps(tmp_path: Path) -> None:
    out, figures = run_bench(tmp_path, "initial_profile.py", "--n", "200", "--profile-n", "0", "--rounds", "1",
                             "--baseline-python", sys.executable, "--app-delay-ms", "5")
    for key in ("initial_syncd_cpu_us_per_record", "initial_baseline_syncd_cpu_us_per_record",
                "initial_network_share", "initial_baseline_network_share", "initial_cpu_vs_baseline",
                "initial_cpu_vs_baseline_paired"):
        assert figures[key] > 0, (key, figures)
    assert figures["rounds"] == 1 and figures["n"] == 200 and figures["app_delay_ms"] == 5, figures
    assert out.count("initial sync of 200 contacts") == 2, out
    assert "| initial_network_share |" in out
