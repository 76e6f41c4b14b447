"""bench/all.py: every bench behind one command, one table. Real runs of the
scripts as processes; no figure is judged here (timings belong to
docs/performance.md), only that each row is there and says what happened."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def all_py(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "bench/all.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def rows(out: str, bench: str) -> list[list[str]]:
    return [line.strip(" |").split(" | ") for line in out.splitlines() if line.startswith(f"| {bench} |")]


def test_quick_run_of_one_bench_prints_its_rows_with_figures_baselines_ratios_and_goals(tmp_path: Path) -> None:
    figures = tmp_path / "all.json"
    done = all_py("--quick", "--only", "webhooks", "--markdown", "--json", str(figures))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    out = done.stdout
    assert "bench/all.py --quick --only webhooks --markdown" in out
    assert "commit " in out and " cores, quick run (smaller sizes than the measures say) of " in out and "load average (1 / 5 / 15 min)" in out
    assert "| bench | measure | figure | unit | baseline (same run) | ratio | goal | met? |" in out
    p50, p99 = rows(out, "webhooks")
    assert len(rows(out, "peers")) == 0  # --only
    for row in (p50, p99):
        assert len(row) == 8, row
        float(row[2].replace(",", ""))  # a figure, not an error
        assert row[3] == "ms" and float(row[4].replace(",", "")) > 0 and row[5].endswith("x"), row
    assert p99[6] == "figure < 1000" and p99[7] in ("yes", "**NO**"), p99
    assert p50[6] == "–" and p50[7] == "–", p50
    saved = json.loads(figures.read_text())
    assert saved["benches"]["webhooks"]["status"] == "ok"
    keys = saved["benches"]["webhooks"]["figures"]
    for key in ("webhook_p50_ms", "webhook_p99_ms", "webhook_max_ms", "webhook_baseline_ms",
                "webhook_p50_vs_baseline", "webhook_p99_vs_baseline", "command"):
        assert key in keys, key
    assert keys["command"].startswith(".venv/bin/python bench/webhooks.py --quick --json ")


def test_a_failing_bench_is_reported_with_its_last_stderr_line_and_the_others_still_run(tmp_path: Path) -> None:
    fail = tmp_path / "fail.py"
    fail.write_text("import sys\nprint('warming up', file=sys.stderr)\n"
                    "print('boom: the fake app refused', file=sys.stderr)\nsys.exit(3)\n")
    silent = tmp_path / "silent.py"  # exits 0 but forgets one of its figures
    silent.write_text("import json, sys\njson.dump({'y': 1}, open(sys.argv[sys.argv.index('--json') + 1], 'w'))\n")
    ok = tmp_path / "ok.py"
    ok.write_text("import json, sys\nassert '--quick' in sys.argv\n"
                  "json.dump({'x': 1234.5}, open(sys.argv[sys.argv.index('--json') + 1], 'w'))\n")
    done = all_py("--quick", "--markdown", "--only", "fake-fail", "fake-silent", "fake-missing", "fake-ok",
                  "--add", f"fake-fail={fail}:a", "--add", f"fake-silent={silent}:y,z",
                  "--add", f"fake-missing={tmp_path / 'nowhere.py'}:b", "--add", f"fake-ok={ok}:x", timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    [failed] = rows(done.stdout, "fake-fail")
    assert failed[2] == "FAILED: exit 3: boom: the fake app refused", failed
    silent_rows = rows(done.stdout, "fake-silent")
    assert [r[2] for r in silent_rows] == ["FAILED: silent.py did not report z"] * 2, silent_rows
    [missing] = rows(done.stdout, "fake-missing")
    assert missing[2] == "not present", missing
    [good] = rows(done.stdout, "fake-ok")
    assert good[1:3] == ["x", "1,234"], good  # ran after the failures


def test_unknown_bench_names_the_known_ones() -> None:
    done = all_py("--only", "nosuch", timeout=30)
    assert done.returncode == 2
    assert "unknown bench nosuch; known: peers, read_stages, parallel_read, sync_cycle" in done.stderr
