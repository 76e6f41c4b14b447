"""``syncd check``: a user points it at an app and sees what syncd reads."""

from __future__ import annotations

import json
from pathlib import Path

from syncd.sampleapp import sample_fields, sample_integration, write_sample_config

TOKEN = "s3cret-sample-token"


def _integration_dir(tmp_path: Path, left: str, right: str) -> Path:
    """A config joining the two apps: one token by ``${env:…}``, one from a file."""
    write_sample_config(tmp_path, sample_integration(
        left, right, name="pair", right_token="${file:right.token}", fields=sample_fields()[:2]))
    (tmp_path / "right.token").write_text(TOKEN + "\n")
    return tmp_path


def test_check_connector_reads_first_page_and_masks_nothing_it_should_not(run_syncd, sampleapp_process) -> None:
    url = sampleapp_process("--n", "150", "--token", TOKEN)
    result = run_syncd("check", "sampleapp", "--settings", f"url={url}",
                       "--settings", "token=${env:TOKEN}", env={"TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "sampleapp.contacts" in out
    assert "read 100 record(s) in 1 page(s)" in out and "(more pages follow)" in out
    assert "id=1000000" in out and "email=" in out and "updated_at=" in out
    assert TOKEN not in out + result.stderr


def test_check_all_pages_counts_every_record(run_syncd, sampleapp_process) -> None:
    url = sampleapp_process("--n", "250", "--token", TOKEN)
    result = run_syncd("check", "sampleapp", "--settings", f"url={url}", "--settings",
                       "token=${env:TOKEN}", "--all-pages", "--format", "json", env={"TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert side["ok"] and side["records"] == 250 and side["pages"] == 3 and not side["more_pages"]
    assert side["first_records"][0]["fields"]["email"] == side["first_records"][0]["fields"]["email"].lower()


def test_check_integration_reads_both_sides(run_syncd, sampleapp_process, tmp_path: Path) -> None:
    left = sampleapp_process("--n", "30", "--token", TOKEN)
    right = sampleapp_process("--n", "20", "--token", TOKEN, "--seed", "3")
    config = _integration_dir(tmp_path, left, right)
    result = run_syncd("check", "-c", str(config), "pair", env={"LEFT_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert "left: sampleapp.contacts" in result.stdout and "right: sampleapp.contacts" in result.stdout
    assert "read 30 record(s)" in result.stdout and "read 20 record(s)" in result.stdout
    assert "ok: 2 side(s) authenticated and read" in result.stdout


def test_check_wrong_token_fails_with_status_and_no_secret(run_syncd, sampleapp_process) -> None:
    url = sampleapp_process("--token", TOKEN)
    result = run_syncd("check", "sampleapp", "--settings", f"url={url}",
                       "--settings", "token=${env:TOKEN}", env={"TOKEN": "wrong-token-value"})
    assert result.returncode == 1
    assert "FAILED: sampleapp.contacts.list: GET" in result.stdout
    assert "HTTP 401" in result.stdout and "check the credentials" in result.stdout
    assert "wrong-token-value" not in result.stdout + result.stderr


def test_check_unreachable_app_names_the_request(run_syncd, tmp_path: Path) -> None:
    spec = tmp_path / "app.yaml"
    spec.write_text((Path(__file__).parents[2] / "connectors.d" / "sampleapp.yaml").read_text()
                    .replace("rate_limit:", "retry: {max_attempts: 2, backoff_initial: 0.01}\nrate_limit:"))
    result = run_syncd("check", str(spec), "--settings", "url=http://127.0.0.1:9",
                       "--settings", "token=${env:TOKEN}", env={"TOKEN": TOKEN})
    assert result.returncode == 1
    assert "GET http://127.0.0.1:9/cursor/contacts failed after 2 attempt(s): ConnectError" in result.stdout


def test_check_refuses_a_literal_secret_on_the_command_line(run_syncd) -> None:
    result = run_syncd("check", "sampleapp", "--settings", f"token={TOKEN}")
    assert result.returncode == 2
    assert "a secret goes by reference" in result.stderr
    assert TOKEN not in result.stderr


def test_check_unknown_target_lists_what_exists(run_syncd, tmp_path: Path) -> None:
    result = run_syncd("check", "-c", str(tmp_path), "hubspt")
    assert result.returncode == 2
    assert "'hubspt' is neither an integration nor a connector" in result.stderr
    assert "sampleapp" in result.stderr


def test_check_invalid_config_exits_78_with_positions(run_syncd, tmp_path: Path) -> None:
    (tmp_path / "integrations.d").mkdir()
    (tmp_path / "integrations.d" / "x.yaml").write_text("integration: x\nleft: {connector: nope}\n")
    result = run_syncd("check", "-c", str(tmp_path), "x")
    assert result.returncode == 78
    assert f"{tmp_path}/integrations.d/x.yaml:" in result.stderr


def test_check_a_child_object_alone_says_it_is_read_under_its_parent(run_syncd) -> None:
    result = run_syncd("check", "sampleapp", "--object", "notes", "--settings", "url=http://127.0.0.1:9")
    assert result.returncode == 2
    assert "notes is read under a contacts record; give --object, one of: contacts" in result.stderr
