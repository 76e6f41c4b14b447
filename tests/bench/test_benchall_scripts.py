"""Each bench script bench/all.py runs writes its figures with ``--json``: the
keys the table reads are there. Real runs at tiny sizes, as processes; no
figure is judged here.

The read benchmarks need the peers' harness outside this repository
(``../shared/bench/peers``, or ``$PEERS``); where it is missing they must
say so plainly and fail, which is what is checked then."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PEERS = Path(os.environ.get("PEERS", REPO.parent / "shared" / "bench" / "peers"))


def bench(tmp_path: Path, cmd: list[str], env: dict[str, str] | None = None,
          timeout: float = 180) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "figures.json"
    head = ["bash"] if cmd[0].endswith(".sh") else [sys.executable]
    done = subprocess.run([*head, f"bench/{cmd[0]}", *cmd[1:], "--json", str(out)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
    return done, json.loads(out.read_text()) if out.exists() else {}


def has(figures: dict[str, Any], *keys: str) -> None:
    missing = [k for k in keys if not isinstance(figures.get(k), (int, float))]
    assert not missing, f"missing {missing} in {figures}"
    assert isinstance(figures["command"], str) and "--json" in figures["command"]


def test_peers_json_gives_syncd_against_the_bare_loop_and_says_why_a_peer_has_no_figure(tmp_path: Path) -> None:
    # the bare loop only (Airbyte and dlt take a minute even at this size), one
    # round, as bench/all.py's full run calls it: without --quick (its flags'
    # line once stopped peers.sh under `set -e` before it wrote the JSON)
    done, figures = bench(tmp_path, ["peers.sh", "2000"],
                          env={"TOOLS": "raw-httpx", "REPEATS": "1", "SYNCD_VENV": sys.prefix, "PEERS": str(PEERS)})
    if not PEERS.is_dir():
        assert done.returncode != 0 and f"the peers' harness is not at {PEERS}" in done.stderr, done.stderr
        return
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    has(figures, "read_n", "read_syncd_s", "read_raw_httpx_s", "read_vs_raw_httpx")
    assert figures["read_n"] == 2000
    assert figures["read_vs_raw_httpx"] == figures["read_raw_httpx_s"] / figures["read_syncd_s"] or \
        abs(figures["read_vs_raw_httpx"] - figures["read_raw_httpx_s"] / figures["read_syncd_s"]) < 0.01
    assert figures["read_airbyte_s_error"] == "airbyte was not run (TOOLS)"
    assert figures["read_vs_dlt_error"] == "dlt-iterate was not run (TOOLS)"


def test_read_stages_json_gives_each_read_and_its_ratio_to_the_first(tmp_path: Path) -> None:
    done, figures = bench(tmp_path, ["read_stages.py", "--quick"], env={"FAKECRM_N": "2000"})
    if not PEERS.is_dir():
        assert done.returncode != 0 and "the peers' fake CRM is not at" in done.stderr, done.stderr
        return
    assert done.returncode == 0, done.stderr[-3000:]
    has(figures, "stages_sync_httpx_s", "stages_syncd_s", "stages_syncd_raw_s", "stages_async_httpx_s",
        "stages_syncd_vs_sync_httpx", "stages_syncd_raw_vs_sync_httpx")
    assert figures["stages_n"] == 2000 and figures["stages_rounds"] == 2


def test_sync_cycle_json_gives_the_cycles_of_the_largest_size(tmp_path: Path) -> None:
    # one size: every `syncd once` is a process, and a second size doubles them
    done, figures = bench(tmp_path, ["sync_cycle.py", "--sizes", "200"])
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    has(figures, "sync_initial_records_per_s", "sync_no_change_s", "sync_full_no_change_s", "sync_bare_list_s",
        "sync_full_over_bare", "sync_initial_rss_mb", "sync_update_s", "sync_update_records_per_s")
    assert figures["sync_n"] == 200 and figures["sync_writes_after_initial"] == 0
    assert "sync_rss_ratio" not in figures  # one size: nothing to compare


def test_sync_cycle_figures_compare_the_largest_size_with_the_smallest() -> None:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from sync_cycle import figures
    finally:
        sys.path.remove(str(REPO / "bench"))
    row = {"initial_s": 2.0, "initial_rec_s": 50.0, "echo_s": 1.0, "quiet_s": 1.0, "full_s": 1.5,
           "bare_list_s": 1.0, "full_over_bare": 1.5, "echo_writes": 0, "quiet_writes": 0, "full_writes": 0,
           "update_s": 1.0, "update_rec_s": 100.0}
    out = figures([{**row, "n": 100, "initial_rss_mb": 50.0}, {**row, "n": 1000, "initial_rss_mb": 60.0}])
    assert (out["sync_n"], out["sync_n_smallest"], out["sync_initial_rss_mb_smallest"]) == (1000, 100, 50.0)
    assert out["sync_rss_ratio"] == 1.2


# A smoke run of a whole benchmark (20 to 55 s): behind --run-slow, for the default run's
# ten-minute budget; `bench/all.py --quick` runs the same script.
@pytest.mark.slow
def test_reload_latency_json_gives_save_to_visible_and_its_baselines(tmp_path: Path) -> None:
    done, figures = bench(tmp_path, ["reload_latency.py", "--sizes", "3", "--repeats", "1"])
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    has(figures, "reload_visible_s", "reload_visible_max_s", "reload_validate_s", "reload_load_s",
        "reload_visible_vs_validate", "reload_failed_s", "reload_failed_max_s")
    assert figures["reload_k"] == 3
