"""bench/create_path.py at its quick size, so it cannot rot: alone, and
against a baseline interpreter (``--baseline-python``: this checkout's own,
so no venv is built). No figure is judged: timings belong to
docs/performance.md."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.bench.test_initsync_bench_smoke import run_bench


def test_create_path_alone_and_against_a_baseline(tmp_path: Path) -> None:
    out, figures = run_bench(tmp_path, "create_path.py", "--quick")
    assert figures["create_path_us_per_record"] > 0 and figures["batches"] == 20, figures
    assert "µs of CPU a record (2,000 records" in out
    out, figures = run_bench(tmp_path, "create_path.py", "--quick", "--baseline-python", sys.executable)
    for key in ("create_path_us_per_record", "create_path_baseline_us_per_record", "create_path_vs_baseline",
                "create_path_vs_baseline_paired"):
        assert figures[key] > 0, (key, figures)
    assert figures["rounds"] == 1 and out.count("round 1") == 2, out
