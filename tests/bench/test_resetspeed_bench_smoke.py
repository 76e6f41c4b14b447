"""bench/reset_pairing.py at tiny sizes, so it cannot rot: run as the docs
say (a process, ``--json``), with its own sample apps, PostgreSQL server and
``syncd reset --read-only`` processes on both stores; it checks the links
each reset left itself. No figure is judged here: timings belong to
docs/performance.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_reset_pairing_writes_the_time_a_pair_by_store_and_size(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, "bench/reset_pairing.py", "--sizes", "200", "600", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"exited {done.returncode}:\n{done.stdout}\n{done.stderr[-4000:]}"
    figures = json.loads(out.read_text())
    for store in ("sqlite", "postgresql"):
        for n in ("200", "600"):
            assert figures[f"reset_us_per_pair_{store}_{n}"] > 0, figures
            assert figures[f"reset_s_{store}_{n}"] > 0, figures
        assert figures[f"reset_scaling_{store}"] > 0, figures
        # The sizes bench/all.py's rows name, not run here, say why.
        assert figures[f"reset_us_per_pair_{store}_100k_error"].startswith("not run: this run's sizes were 200, 600")
    assert figures["reset_pg_ratio_600"] > 0
    assert "| sqlite | 600 |" in done.stdout
    assert figures["command"].endswith("--json " + str(out))
