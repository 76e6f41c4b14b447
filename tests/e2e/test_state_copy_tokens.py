"""``syncd state copy`` carries the rotated refresh tokens (issue 14): an
account whose API rotated its refresh token goes on after a move to
PostgreSQL, and back to SQLite, from the stored token, never the config's
revoked one; the tokens are encrypted under ``state.token_key`` in the
database (no token text in a dump); without the key, or with another one,
the copy is refused before anything is written."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from e2e_support import RIGHT_TOKEN, Pair, emails
from pg_cluster import find_bindir
from test_rotating_tokens import AUTH, SETTINGS, join, refresh_tokens, rotating_app, token_calls
from test_state_copy import copy

from syncd.sampleapp import AuthMode

KEY_ENV = "SYNCD_TEST_COPY_TOKEN_KEY"
URL_ENV = "SYNCD_TEST_COPY_URL"
KEY = "the-token-key-of-the-copy-0123456789"


def _settings(where: str, key: bool) -> str:
    key_line = f", token_key: '${{env:{KEY_ENV}}}'" if key else ""
    return f"log: {{level: debug}}\nstate: {{{where}{key_line}}}\n"


@pytest.fixture
def installation(sample_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``installation(state, key=True)``: a pair whose left account rotates its refresh token
    (the config's is ``$LEFT_REFRESH``), its state at *state* (``path: …`` or ``url: …``)."""
    monkeypatch.setenv(KEY_ENV, KEY)

    def make(state: str, key: bool = True) -> Pair:
        left = rotating_app(sample_app)
        right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
        monkeypatch.setenv("LEFT_REFRESH", left.refresh_token)
        p = join(left, right, tmp_path / "config", "pair")
        p.connector("rotating", settings=SETTINGS, auth=AUTH)
        return point(p, state, key)

    return make


def point(p: Pair, state: str, key: bool = True) -> Pair:
    """syncd.yaml's state set to *state*, as an operator does after a copy."""
    p.daemon_settings = _settings(state, key)
    p.write(extra={"left": {"connector": "rotating", "object": "contacts", "settings": {
        "token": "${env:LEFT_TOKEN}", "refresh_token": "${env:LEFT_REFRESH}", "url": p.left.url}}})
    return p


def rotated(p: Pair) -> str:
    """`syncd once` ran (the config's refresh token is rotated away now): the live token."""
    result = p.syncd("once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert p.left.refresh_token != token_calls(p.left)[0].body["refresh_token"]
    return p.left.refresh_token


def goes_on_from(p: Pair, live: str) -> None:
    """The next `syncd once` refreshes with *live* (the stored chain), not the config's revoked token."""
    p.left.store.create({"email": "after-the-move@example.com", "first_name": "After"})
    before = len(token_calls(p.left))
    result = p.syncd("once")
    assert result.returncode == 0, result.stdout + result.stderr
    calls = token_calls(p.left)[before:]
    assert [c.status for c in calls] == [200] and calls[0].body["refresh_token"] == live
    assert "after-the-move@example.com" in emails(p.right)


def tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [name for (name,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()]


def test_sqlite_to_postgresql_carries_the_rotated_token_encrypted(installation, pg_cluster) -> None:
    p = installation("path: state/syncd.db")
    live = rotated(p)
    url = pg_cluster.new_database("template0")
    result = copy(p, f"${{env:{URL_ENV}}}", **{URL_ENV: url, KEY_ENV: KEY})
    assert result.returncode == 0, result.stderr
    assert "  and the rotated refresh tokens of 1 account\n" in result.stdout
    secrets = refresh_tokens(p.left)
    assert not [s for s in secrets if s in result.stdout + result.stderr]
    dump = subprocess.run([str(find_bindir() / "pg_dump"), "--data-only", url], capture_output=True, timeout=60, check=True)
    assert b"COPY public.refresh_tokens" in dump.stdout
    assert not [s for s in secrets if s.encode() in dump.stdout]

    point(p, f"url: '{url}'")
    goes_on_from(p, live)


def test_without_token_key_the_copy_is_refused_and_the_target_stays_empty(installation, pg_url) -> None:
    p = installation("path: state/syncd.db", key=False)
    rotated(p)
    empty = tables(pg_url)
    result = copy(p, pg_url)
    assert result.returncode == 1, result.stdout
    tokens = p.config / "state" / "tokens.json"
    assert f"{tokens} holds the rotated refresh tokens of 1 account, and state.token_key is not set" \
        in result.stderr
    assert "add state.token_key to syncd.yaml's state" in result.stderr
    assert "nothing was written" in result.stderr
    assert tables(pg_url) == empty
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT (SELECT count(*) FROM integrations) + (SELECT count(*) FROM refresh_tokens)"
                            ).fetchone() == (0,)


def test_postgresql_to_sqlite_writes_tokens_json_and_goes_on(installation, pg_url, tmp_path) -> None:
    p = installation(f"url: '{pg_url}'")
    live = rotated(p)
    back = tmp_path / "back" / "state.db"
    result = copy(p, str(back))
    assert result.returncode == 0, result.stderr
    assert "  and the rotated refresh tokens of 1 account\n" in result.stdout
    tokens = back.parent / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    [entry] = json.loads(tokens.read_text()).values()
    assert entry["refresh_token"] == live

    point(p, f"path: {back}", key=False)
    goes_on_from(p, live)


def test_postgresql_to_sqlite_with_another_key_is_refused_naming_the_account(
        installation, pg_url, tmp_path, monkeypatch) -> None:
    p = installation(f"url: '{pg_url}'")
    rotated(p)
    with psycopg.connect(pg_url) as conn:
        [(account,)] = conn.execute("SELECT account FROM refresh_tokens").fetchall()
    back = tmp_path / "back" / "state.db"
    result = copy(p, str(back), **{KEY_ENV: "another-key-0123456789"})
    assert result.returncode == 1, result.stdout
    assert f"the refresh token of {account} in the state database {pg_url} cannot be decrypted" in result.stderr
    assert "nothing was written" in result.stderr
    assert not (back.parent / "tokens.json").exists()
    with psycopg.connect(pg_url) as conn:  # the source is as it was
        assert conn.execute("SELECT count(*) FROM refresh_tokens").fetchone() == (1,)
