"""Two syncd processes on one PostgreSQL state, each running an integration
of the same account: the account's API usage in ``syncd status`` is the sum
of both; its rotating refresh token is refreshed once, by whichever locked
its row first, and both go on with the newest token; the database holds it
encrypted under ``state.token_key`` only; a wrong key and a missing key are
reported, naming what to do."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import psycopg
import pytest
from e2e_support import RIGHT_TOKEN, Pair, emails
from test_rotating_tokens import AUTH, SETTINGS, refresh_tokens, rotating_app, token_calls

from syncd.sampleapp import AuthMode

KEY_ENV = "SYNCD_TEST_TOKEN_KEY"


def _state(url: str, key: bool = True) -> str:
    key_line = f", token_key: '${{env:{KEY_ENV}}}'" if key else ""
    return f"log: {{level: debug}}\nstate: {{url: '{url}'{key_line}}}\n"


@pytest.fixture
def shared(sample_app: Any, tmp_path, monkeypatch: pytest.MonkeyPatch, pg_url: str) -> Any:
    """``shared(key=True, schedule=None)``: integrations ``pair`` and ``second``
    on one rotating left account (10 requests per second), in one config
    directory (the daemons started on it share the integrations out, one
    each), their state in the test's database."""

    def make(key: bool = True, schedule: str | None = None) -> tuple[Pair, Pair]:
        left = rotating_app(sample_app, n=6)
        monkeypatch.setenv("LEFT_REFRESH", left.refresh_token)
        monkeypatch.setenv(KEY_ENV, "the-token-key-of-this-test-0123456789")
        pairs = []
        for name, seed in (("pair", 2), ("second", 3)):
            right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=seed)
            p = Pair(left, right, tmp_path / "config", name=name, daemon_settings=_state(pg_url, key))
            p.write(extra={"left": {"connector": "rotating", "object": "contacts", "settings": {
                "token": "${env:LEFT_TOKEN}", "refresh_token": "${env:LEFT_REFRESH}", "url": left.url}},
                **({"schedule": schedule} if schedule else {})})
            p.connector("rotating", settings=SETTINGS, auth=AUTH, rate_limit={"requests_per_second": 10})
            pairs.append(p)
        return pairs[0], pairs[1]

    return make


def test_two_daemons_share_the_accounts_usage_and_one_refresh(shared, daemon, pg_url: str, pg_cluster) -> None:
    one, two = shared(schedule="every 1 hour")
    daemons = [daemon(one, ready=False), daemon(two, ready=False)]  # started together
    for d in daemons:
        d.ready()
        d.wait_for("cycle finished", timeout=60)
    # each daemon ran one of the two integrations: the account was used from both processes
    ran = [{e["integration"] for e in d.named("cycle finished")} for d in daemons]
    assert sorted(n for names in ran for n in names) == ["pair", "second"], ran
    for d in daemons:
        assert d.stop() == 0
    assert emails(one.left) == emails(one.right) == emails(two.right)
    # one refresh for both daemons: the second found the first's tokens under the row lock
    assert [c.status for c in token_calls(one.left)] == [200]
    sent = [r for r in one.left.requests if r.path != "/oauth/token"]
    for p in (one, two):  # either config's `syncd status` reads the one row: both daemons' requests
        status = json.loads(p.syncd("status", "--json").stdout)
        [entry] = [i for i in status["integrations"] if i["name"] == p.name]
        [budget] = [b for b in entry["budget"] if b["connector"] == "rotating"]
        assert budget["used"] == len(sent) == 2  # a page read by each: the sum, not one daemon's 1
    with psycopg.connect(pg_url) as conn:
        # the account's rate was reserved there, in one row for both daemons
        assert conn.execute("SELECT count(*) FROM rate_limits WHERE account LIKE 'rotating@%'").fetchone() == (1,)
    dump = subprocess.run([str(pg_cluster.bindir / "pg_dump"), "--data-only", pg_url], capture_output=True,
                          check=True).stdout
    assert b"COPY public.refresh_tokens" in dump
    secrets = refresh_tokens(one.left) | set(one.left.authenticator._access)
    assert not [s for s in secrets if s.encode() in dump]
    for d in daemons:
        assert not [s for s in secrets if s in d.text()]
    # and a `syncd once` goes on with the stored tokens: the access token is still good, no refresh
    assert one.syncd("once").returncode == 0
    assert [c.status for c in token_calls(one.left)] == [200]


def test_a_wrong_key_stops_the_account_naming_it_and_the_way_out(shared, monkeypatch) -> None:
    one, _two = shared()
    assert one.syncd("once").returncode == 0
    monkeypatch.setenv(KEY_ENV, "not-the-key-the-token-was-stored-with")
    result = one.syncd("once", "--json")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "in the state database cannot be decrypted with state.token_key" in output
    assert "the refresh token of rotating@" in output  # the account
    assert "restore the key it was stored with" in output and "re-authorise" in output
    assert len(token_calls(one.left)) == 1  # nothing spent on a guess


def test_without_a_token_key_the_rotated_token_is_refused_with_the_setting_to_add(shared, pg_url: str) -> None:
    one, _two = shared(key=False)
    result = one.syncd("once", "--json")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "state.token_key is not set: with state.url (PostgreSQL)" in output
    with psycopg.connect(pg_url) as conn:  # nothing kept, and never in plain text
        assert conn.execute("SELECT count(*) FROM refresh_tokens WHERE ciphertext IS NOT NULL").fetchone() == (0,)
