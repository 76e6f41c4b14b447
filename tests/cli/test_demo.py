"""The README's main command: ``syncd demo`` tells a whole sync story."""

from __future__ import annotations

import re


def test_demo_syncs_two_sample_apps_and_shows_what_happened(run_syncd, tmp_path) -> None:
    result = run_syncd("demo", "--dir", str(tmp_path / "demo"), "--contacts", "90", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "ok: 2 side(s) authenticated and read" in out
    first = re.search(r"created (\d+) left, (\d+) right", out)
    assert first and int(first.group(1)) > 0 and int(first.group(2)) > 0
    assert "rename reached the email tool: Augusta (CRM: Augusta)" in out
    assert "conflict settled, newest wins: both sides now say Robert (1 conflict logged" in out
    assert "tagged ['hot-lead']" in out
    assert "0 writes: what syncd wrote came back as its own echo" in out
    assert (tmp_path / "demo" / "integrations.d" / "crm-to-newsletter.yaml").exists()
    assert (tmp_path / "demo" / "state.db").exists()
