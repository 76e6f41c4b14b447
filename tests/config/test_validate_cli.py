"""``syncd validate``: what a sysadmin sees after editing /etc/syncd.

The exit codes are checked on the real command (``python -m syncd``); the
output formats in-process through ``syncd.cli.main``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.cli import main
from syncd.config import load_config

REPO = Path(__file__).resolve().parents[2]
VALID = Path(__file__).resolve().parent / "fixtures" / "valid"


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "mail_key").write_text("from-cred\n")
    env = {k: v for k, v in os.environ.items() if k not in ("SYNCD_CONFIG",)}
    env.update(ACME_CRM_TOKEN="from-env", CREDENTIALS_DIRECTORY=str(credentials))
    return env


@pytest.fixture
def set_environ(environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    for key in ("ACME_CRM_TOKEN", "CREDENTIALS_DIRECTORY"):
        monkeypatch.setenv(key, environ[key])


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    tree = tmp_path / "etc"
    shutil.copytree(VALID, tree)
    path = tree / "integrations.d" / "crm-to-mail.yaml"
    path.write_text(path.read_text().replace("conflict: left_wins", "conflict: left_wns"))
    return tree


def _syncd(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "syncd", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_exit_codes_of_the_real_command(environ: dict[str, str], broken: Path, tmp_path: Path) -> None:
    ok = _syncd("validate", "-c", str(VALID), env=environ)
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.startswith("ok: ")

    invalid = _syncd("validate", "-c", str(broken), env=environ)
    assert invalid.returncode == 1
    assert invalid.stdout == (
        f"{broken}/integrations.d/crm-to-mail.yaml:19:11: error: invalid conflict 'left_wns': "
        "expected 'newest_wins', 'left_wins' or 'right_wins'; did you mean 'left_wins'? "
        "(conflict)\n")
    assert invalid.stderr == f"syncd: 1 problem in {broken}\n"

    missing = _syncd("validate", "-c", str(tmp_path / "nope"), env=environ)
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert missing.stderr == f"syncd: error: config directory {tmp_path / 'nope'} does not exist\n"


def test_success_prints_a_one_line_summary(
    set_environ: None, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = len(load_config(VALID, environ=environ).connectors) - 2  # plus acme_crm, acme_mail
    assert main(["validate", "-c", str(VALID)]) == 0
    out = capsys.readouterr().out
    assert out == f"ok: {shipped + 2} connectors, 2 integrations ({VALID})\n"


def test_the_directory_comes_from_syncd_config(
    set_environ: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNCD_CONFIG", str(VALID))
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.endswith(f"({VALID})\n")


def test_json_lists_problems(
    set_environ: None, broken: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "-c", str(broken), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "valid": False,
        "directory": str(broken),
        "problems": [{
            "file": f"{broken}/integrations.d/crm-to-mail.yaml",
            "line": 19,
            "column": 11,
            "message": "invalid conflict 'left_wns': expected 'newest_wins', 'left_wins' or "
                       "'right_wins'; did you mean 'left_wins'?",
            "key": "conflict",
        }],
    }


def test_json_when_valid(set_environ: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-c", str(VALID), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True
    assert report["problems"] == []
    assert report["integrations"] == 2
    assert report["directory"] == str(VALID)


def test_a_file_instead_of_a_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "syncd.yaml").write_text("")
    assert main(["validate", "-c", str(tmp_path / "syncd.yaml")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_secret_values_never_appear_in_the_output(
    set_environ: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "etc"
    shutil.copytree(VALID, tree)
    path = tree / "integrations.d" / "crm-to-mail.yaml"
    text = path.read_text().replace('"${env:ACME_CRM_TOKEN}"', "hunter2-literal")
    path.write_text(text.replace("list_id:", "list_id: [hunter3]\n    old_list_id:"))
    for fmt in ("text", "json"):
        assert main(["validate", "-c", str(tree), "--format", fmt]) == 1
        out = capsys.readouterr().out
        assert "is secret" in out or "expected" in out
        assert "hunter2" not in out and "hunter3" not in out


def test_help_describes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["validate", "--help"])
    assert raised.value.code == 0
    out = capsys.readouterr().out
    assert "--format" in out and "-c DIR" in out


def test_webhooks_enabled_is_accepted_now_that_webhooks_work(environ: dict[str, str], tmp_path: Path) -> None:
    # Issue 11 refused `webhooks: {enabled: true}` (nothing listened); issue 12 made the listener.
    tree = tmp_path / "etc"
    shutil.copytree(VALID, tree)
    syncd_yaml = tree / "syncd.yaml"
    syncd_yaml.write_text(syncd_yaml.read_text() + "webhooks:\n  listen: \"127.0.0.1:8787\"\n  enabled: true\n")
    result = _syncd("validate", "-c", str(tree), env=environ)
    assert result.returncode == 0, result.stdout + result.stderr
    # a body limit below the schema's minimum is the one error, at its key
    syncd_yaml.write_text(syncd_yaml.read_text() + "  max_body_bytes: 10\n")
    line = len(syncd_yaml.read_text().splitlines())
    result = _syncd("validate", "-c", str(tree), env=environ)
    assert result.returncode == 1
    assert f"{tree}/syncd.yaml:{line}:19: error:" in result.stdout and "(webhooks.max_body_bytes)" in result.stdout, \
        result.stdout
