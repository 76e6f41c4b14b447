"""bench/parallel_read.py at its smoke size, as the lead's one-command table runs it:
a process, ``--quick --json``; the figures are named, never judged here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_parallel_read_quick_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "parallel.json"
    done = subprocess.run([sys.executable, "bench/parallel_read.py", "--quick", "--json", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert "| syncd, concurrency 4 |" in done.stdout
    figures = json.loads(out.read_text())
    for key in ("parallel_c4_vs_bare", "parallel_c1_vs_bare", "parallel_c8_vs_bare", "parallel_c4_vs_c1",
                "parallel_c4_records_per_s", "parallel_bare_records_per_s"):
        assert isinstance(figures[key], (int, float)) and figures[key] > 0, (key, figures)
    assert figures["parallel_pages"] == 12
    assert figures["command"].endswith("bench/parallel_read.py --quick --json " + str(out))
