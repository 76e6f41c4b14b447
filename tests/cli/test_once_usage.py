"""``syncd once`` and ``syncd reset``: exit codes a script or systemd can act on."""

from __future__ import annotations

from pathlib import Path


def test_once_on_an_invalid_config_exits_78_naming_file_and_line(run_syncd, tmp_path: Path) -> None:
    (tmp_path / "integrations.d").mkdir()
    (tmp_path / "integrations.d" / "x.yaml").write_text("integration: x\nschedule: whenever\n")
    for command in (["once"], ["reset", "x"]):
        result = run_syncd(*command, "-c", str(tmp_path))
        assert result.returncode == 78, result.stderr
        assert f"{tmp_path}/integrations.d/x.yaml:2:" in result.stderr


def test_once_of_an_unknown_integration_is_a_usage_error(run_syncd, tmp_path: Path) -> None:
    for command in (["once", "nope"], ["reset", "nope"]):
        result = run_syncd(*command, "-c", str(tmp_path))
        assert result.returncode == 2
        assert "no integration named nope" in result.stderr


def test_once_without_a_config_directory_is_a_usage_error(run_syncd, tmp_path: Path) -> None:
    result = run_syncd("once", "-c", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_a_corrupt_state_file_is_named_with_what_to_do(run_syncd, tmp_path: Path) -> None:
    (tmp_path / "syncd.yaml").write_text("state: {path: state.db}\n")
    (tmp_path / "state.db").write_bytes(b"this is not a database at all" * 100)
    result = run_syncd("once", "-c", str(tmp_path))
    assert result.returncode == 1
    assert "state.db" in result.stderr and "syncd reset" in result.stderr
    assert "Traceback" not in result.stderr
