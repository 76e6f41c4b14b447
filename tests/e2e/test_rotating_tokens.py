"""Refresh tokens the API rotates at each use: kept in ``tokens.json`` beside
the state, so ``syncd once`` after ``syncd once`` and a restarted daemon keep
working; one refresh for every integration of the account; a revoked token
stops that account's integration only, naming the setting to fix."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from e2e_support import LEFT_TOKEN, RIGHT_TOKEN, Pair, emails

from syncd.sampleapp import AuthMode, SampleApp

SETTINGS = {
    "url": {"description": "Where the sample app listens.", "default": "http://127.0.0.1:8765"},
    "token": {"description": "The client secret.", "secret": True},
    "refresh_token": {"description": "The OAuth 2 refresh token.", "secret": True},
    # the shipped spec's webhooks: are signed with it
    "webhook_secret": {"description": "The webhook signing key.", "secret": True, "required": False},
}
AUTH = {"type": "oauth2_refresh_token", "token_url": "{{ settings.url }}/oauth/token",
        "client_id": "sample-client", "client_secret": "{{ settings.token }}",
        "refresh_token": "{{ settings.refresh_token }}"}
LEFT = {"connector": "rotating", "object": "contacts",
        "settings": {"token": "${env:LEFT_TOKEN}", "refresh_token": "${env:LEFT_REFRESH}"}}


def rotating_app(sample_app: Any, *, n: int = 5, token_ttl: float = 3600.0) -> SampleApp:
    app: SampleApp = sample_app(n=n, auth=AuthMode.OAUTH2_REFRESH_TOKEN, rotate_refresh_token=True,
                                token=LEFT_TOKEN, seed=1, token_ttl=token_ttl)
    return app


def join(left: SampleApp, right: SampleApp, config: Path, name: str, schedule: str | None = None) -> Pair:
    """An integration from the rotating *left* (connector ``rotating``) to *right*."""
    p = Pair(left, right, config, name=name)
    extra: dict[str, Any] = {"left": {**LEFT, "settings": {**LEFT["settings"], "url": left.url}}}
    if schedule:
        extra["schedule"] = schedule
    p.write(extra=extra)
    return p


@pytest.fixture
def rotating(sample_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``rotating(**app)``: a pair whose left side is an OAuth 2 app that
    rotates its refresh token; the config's token is ``$LEFT_REFRESH``."""

    def make(schedule: str | None = None, **app: Any) -> Pair:
        left = rotating_app(sample_app, **app)
        right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
        monkeypatch.setenv("LEFT_REFRESH", left.refresh_token)
        p = join(left, right, tmp_path / "config", "pair", schedule)
        p.connector("rotating", settings=SETTINGS, auth=AUTH)
        return p

    return make


def token_calls(app: SampleApp) -> list[Any]:
    return app.requests.matching("POST", "/oauth/token")


def refresh_tokens(app: SampleApp) -> set[str]:
    """Every refresh token of the chain: the ones sent, and the current one."""
    return {r.body["refresh_token"] for r in token_calls(app)} | {app.refresh_token}


def assert_no_token_leaked(p: Pair, *texts: str) -> None:
    """No refresh token in *texts* (logs, status) nor in any file but tokens.json."""
    secrets = refresh_tokens(p.left)
    for text in texts:
        assert not [s for s in secrets if s in text]
    for path in p.config.rglob("*"):
        if path.is_file() and path.name != "tokens.json":
            data = path.read_bytes()
            assert not [s for s in secrets if s.encode() in data], f"a refresh token is in {path}"


def test_three_once_runs_in_a_row_keep_working_across_rotations(rotating) -> None:
    p = rotating()
    first = p.left.refresh_token
    outputs = []
    for _run in range(3):
        result = p.syncd("once", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(result.stdout + result.stderr)
    assert emails(p.left) == emails(p.right)
    calls = token_calls(p.left)
    assert [c.status for c in calls] == [200, 200, 200]
    sent = [c.body["refresh_token"] for c in calls]
    assert sent[0] == first and len(set(sent)) == 3  # each run started from the one rotated before
    tokens = p.config / "state" / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert p.left.refresh_token in tokens.read_text()  # the live one, kept for the next run
    assert_no_token_leaked(p, *outputs)


def test_a_restarted_daemon_keeps_working(rotating, daemon) -> None:
    p = rotating(schedule="every 1 hour")
    d = daemon(p)
    d.wait_for("cycle finished")
    assert d.stop() == 0
    p.left.store.create({"email": "after-restart@example.com", "first_name": "After"})
    d = daemon(p)
    # It keeps the hour's slot of its last cycle: a cycle now is asked for.
    synced = d.cli("sync", "pair")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert d.integration("pair")["last_result"] == "ok"
    assert "after-restart@example.com" in emails(p.right)
    status = d.cli("status", "--json")
    assert d.stop() == 0
    assert [c.status for c in token_calls(p.left)] == [200, 200]
    assert_no_token_leaked(p, d.text(), status.stdout)


def test_two_integrations_on_one_account_share_the_refresh(rotating, sample_app, daemon) -> None:
    # Access tokens live 2 s: both integrations refresh again and again.
    p = rotating(schedule="every 1 second", token_ttl=2.0)
    other_right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=3)
    join(p.left, other_right, p.config, "second", "every 1 second")
    d = daemon(p)
    for name in ("pair", "second"):
        d.wait_for("cycle finished", integration=name, count=4, timeout=60)
    assert d.integration("pair")["last_result"] == "ok" and d.integration("second")["last_result"] == "ok"
    assert not d.named("cycle aborted")
    assert d.stop() == 0
    calls = token_calls(p.left)
    assert len(calls) >= 2 and all(c.status == 200 for c in calls)  # never a rotated-away token
    assert emails(p.left) == emails(p.right) == emails(other_right)
    assert_no_token_leaked(p, d.text())


def test_a_new_token_in_the_config_is_used(rotating, monkeypatch) -> None:
    p = rotating()
    assert p.syncd("once").returncode == 0
    # The operator re-authorises: the app issues a new refresh token (the
    # stored chain is dead) and it goes in the config's secret.
    p.left.authenticator.refresh_token = "rt-re-authorised-by-the-operator"
    monkeypatch.setenv("LEFT_REFRESH", "rt-re-authorised-by-the-operator")
    result = p.syncd("once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert p.syncd("once").returncode == 0  # and its rotation is kept in turn
    sent = [c.body["refresh_token"] for c in token_calls(p.left)]
    assert sent[1] == "rt-re-authorised-by-the-operator"
    assert [c.status for c in token_calls(p.left)] == [200, 200, 200]


def test_a_revoked_token_stops_that_integration_only_and_names_the_setting(
        rotating, sample_app, daemon, monkeypatch) -> None:
    p = rotating(schedule="every 1 second")
    healthy = p.beside(sample_app, name="healthy", n=3, seed=5)
    healthy.write(extra="schedule: every 1 second\n")
    monkeypatch.setenv("LEFT_REFRESH", "rt-revoked-by-the-user")
    d = daemon(p)
    [aborted] = d.wait_for("cycle aborted", integration="pair", timeout=60)[:1]
    reason = aborted["reason"]
    assert "settings.refresh_token of connector 'rotating'" in reason, reason
    assert "re-authorise" in reason
    d.wait_for("cycle finished", integration="healthy", count=2, timeout=60)  # it goes on
    assert d.integration("pair")["last_result"] == "aborted"
    status = d.cli("status", "--json")
    assert d.stop() == 0
    assert "rt-revoked-by-the-user" not in d.text() + status.stdout
    assert [c.status for c in token_calls(p.left)][0] == 400
    assert emails(healthy.left) == emails(healthy.right)
    # the once command says the same, and exits non-zero
    result = p.syncd("once", "--json")
    assert result.returncode != 0
    assert "settings.refresh_token of connector 'rotating'" in result.stdout + result.stderr
    assert json.loads(result.stdout)  # a summary per integration, not a traceback


def test_a_corrupt_token_store_names_itself_and_stops_only_that_account(rotating, sample_app) -> None:
    p = rotating()
    healthy = p.beside(sample_app, name="healthy", n=3, seed=5)
    healthy.write()
    tokens = p.config / "state" / "tokens.json"
    tokens.parent.mkdir(parents=True, exist_ok=True)
    tokens.write_text("{half a file")
    result = p.syncd("once", "--json")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert f"the token store {tokens} is corrupt" in output and "re-authorise" in output
    assert not token_calls(p.left)  # the config's token was not spent on a guess
    assert emails(healthy.left) == emails(healthy.right)  # the other account synced


def test_syncd_check_starts_from_the_stored_token_and_keeps_the_next(rotating) -> None:
    p = rotating()
    assert p.syncd("once").returncode == 0  # the config's token is rotated away now
    for _run in range(2):
        result = p.syncd("check", "pair")
        assert result.returncode == 0, result.stdout + result.stderr
    assert p.syncd("once").returncode == 0  # after check rotated it in turn
    assert [c.status for c in token_calls(p.left)] == [200, 200, 200, 200]
