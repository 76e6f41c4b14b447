"""The README's main command: ``syncd demo`` tells a whole sync story."""

from __future__ import annotations

import re
from pathlib import Path

# `-c PATH` in a printed command, as a user would copy it
_CONFIG_OPTION = re.compile(r"-c (\S+)")


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
    # every directory a printed command names is still there (issue 11)
    printed = _CONFIG_OPTION.findall(out)
    assert printed and set(printed) == {str(tmp_path / "demo")}
    assert f"kept in {tmp_path / 'demo'}" in out


def test_without_dir_the_demo_names_no_directory_it_deletes(run_syncd, tmp_path: Path) -> None:
    # Issue 11: the demo printed `syncd … -c /tmp/syncd-demo-…` commands, then
    # deleted that directory. Its temporary files go under TMPDIR here.
    result = run_syncd("demo", "--contacts", "30", env={"TMPDIR": str(tmp_path)}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing left behind
    assert str(tmp_path) not in result.stdout
    assert set(_CONFIG_OPTION.findall(result.stdout)) == {"DIR"}  # the form, not a path
    assert "`syncd demo --dir DIR` keeps it" in result.stdout
