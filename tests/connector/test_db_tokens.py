"""Rotated refresh tokens on a PostgreSQL state: kept encrypted in the
database, shared by every daemon on it, refreshed by one at a time (a row
lock). Each "daemon" here is an AccountRegistry with a token store of its
own, on a connection of its own, as two processes would have; the app is
the sample app's rotating token endpoint, the database a real PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from syncd.connector import AccountRegistry, AuthError
from syncd.connector._db_tokens import DatabaseTokenStore
from syncd.sampleapp import AuthMode, SampleApp
from syncd.state import open_state
from syncd.state._pg_refresh_tokens import RefreshTokens
from syncd.state._token_cipher import CannotDecrypt, TokenCipher
from test_auth import open_connector, spec_for, token_calls

pytestmark = pytest.mark.anyio

MODE = AuthMode.OAUTH2_REFRESH_TOKEN
KEY = "a key of thirty-two bytes or more, from a secret file"


@pytest.fixture
def db(pg_url: str) -> str:
    open_state(pg_url).close()  # the schema, as the daemon's store makes it
    return pg_url


def tokens(db: str, tmp_path: Path, key: str | None = KEY) -> DatabaseTokenStore:
    """One daemon's token store."""
    return DatabaseTokenStore(tmp_path / "state.db", RefreshTokens(db), key)


def rotating(sample_app: Any, **kwargs: Any) -> SampleApp:
    app: SampleApp = sample_app(n=3, auth=MODE, rotate_refresh_token=True, **kwargs)
    return app


def secrets_of(app: SampleApp) -> set[str]:
    """Every refresh and access token the app ever handed out or was sent."""
    sent = {r.body["refresh_token"] for r in token_calls(app)}
    return sent | {app.refresh_token} | set(app.authenticator._access)


async def test_two_daemons_whose_tokens_expire_together_refresh_once(
        sample_app: Any, make_spec: Any, connect: Any, db: str, tmp_path: Path) -> None:
    app = rotating(sample_app)
    spec = spec_for(make_spec, MODE)
    config_token = app.refresh_token
    settings = {"refresh_token": config_token}
    async with open_connector(connect, spec, app, accounts=AccountRegistry(tokens(db, tmp_path)),
                              settings=settings) as one, \
            open_connector(connect, spec, app, accounts=AccountRegistry(tokens(db, tmp_path)),
                           settings=settings) as two:
        for round_ in range(3):
            app.expire_tokens()
            results: list[Any] = []

            async def get(c: Any) -> None:
                results.append(await c.get("1000001"))

            async with anyio.create_task_group() as tg:
                for c in (one, two, one, two):
                    tg.start_soon(get, c)
            assert len(results) == 4 and all(r is not None for r in results)
            # One refresh a round for both daemons: the second found the first's tokens under the lock.
            assert len(token_calls(app)) == round_ + 1
    assert [r.status for r in token_calls(app)] == [200, 200, 200]
    assert tokens(db, tmp_path).load(one.account.key, config_token) == app.refresh_token


async def test_the_database_holds_ciphertext_only(
        sample_app: Any, make_spec: Any, connect: Any, db: str, tmp_path: Path, pg_cluster: Any) -> None:
    app = rotating(sample_app)
    async with open_connector(connect, spec_for(make_spec, MODE), app,
                              accounts=AccountRegistry(tokens(db, tmp_path))) as c:
        assert await c.get("1000001") is not None
    with psycopg.connect(db) as conn:
        [(account, ciphertext)] = conn.execute("SELECT account, ciphertext FROM refresh_tokens").fetchall()
    assert account == c.account.key and ciphertext
    dump = subprocess.run([str(pg_cluster.bindir / "pg_dump"), "--data-only", db], capture_output=True,
                          check=True).stdout
    assert c.account.key.encode() in dump  # the row is in the dump, its tokens are not
    leaked = [s for s in secrets_of(app) if s.encode() in dump]
    assert not leaked


async def test_a_wrong_key_names_the_account_and_the_way_out_and_spends_nothing(
        sample_app: Any, make_spec: Any, connect: Any, db: str, tmp_path: Path) -> None:
    app = rotating(sample_app)
    spec = spec_for(make_spec, MODE)
    config = {"refresh_token": app.refresh_token}
    async with open_connector(connect, spec, app, accounts=AccountRegistry(tokens(db, tmp_path)),
                              settings=config) as c:
        assert await c.get("1000001") is not None
    async with open_connector(connect, spec, app, accounts=AccountRegistry(
            tokens(db, tmp_path, key="another key")), settings=config) as c:
        with pytest.raises(AuthError) as caught:
            await c.get("1000001")
    message = str(caught.value)
    assert f"the refresh token of {c.account.key} in the state database cannot be decrypted" in message
    assert "restore the key it was stored with" in message and "re-authorise" in message
    assert len(token_calls(app)) == 1  # the config's dead token was not sent on a guess


async def test_without_a_key_a_rotated_token_is_refused_never_stored_in_plain_text(
        sample_app: Any, make_spec: Any, connect: Any, db: str, tmp_path: Path) -> None:
    app = rotating(sample_app)
    async with open_connector(connect, spec_for(make_spec, MODE), app,
                              accounts=AccountRegistry(tokens(db, tmp_path, key=None))) as c:
        with pytest.raises(AuthError) as caught:
            await c.get("1000001")
    message = str(caught.value)
    assert "state.token_key is not set: with state.url (PostgreSQL)" in message, message
    assert c.account.key in message and "${file:/etc/syncd/token.key}" in message
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM refresh_tokens WHERE ciphertext IS NOT NULL").fetchone() == (0,)


async def test_a_new_config_token_starts_a_new_chain_whatever_the_key(
        sample_app: Any, make_spec: Any, connect: Any, db: str, tmp_path: Path) -> None:
    app = rotating(sample_app)
    spec = spec_for(make_spec, MODE)
    async with open_connector(connect, spec, app, accounts=AccountRegistry(tokens(db, tmp_path))) as c:
        assert await c.get("1000001") is not None
    # The key is lost; the operator re-authorises and gives the new token and a new key.
    app.authenticator.refresh_token = "rt-re-authorised-by-the-operator"
    async with open_connector(connect, spec, app, accounts=AccountRegistry(tokens(db, tmp_path, key="new")),
                              settings={"refresh_token": "rt-re-authorised-by-the-operator"}) as c:
        assert await c.get("1000001") is not None
    assert [r.status for r in token_calls(app)] == [200, 200]


def test_a_ciphertext_is_bound_to_its_key_and_its_account() -> None:
    cipher = TokenCipher(KEY)
    sealed = cipher.encrypt("crm@http://a#1", "rt-secret")
    assert b"rt-secret" not in sealed
    assert cipher.decrypt("crm@http://a#1", sealed) == "rt-secret"
    with pytest.raises(CannotDecrypt):
        TokenCipher("another key").decrypt("crm@http://a#1", sealed)
    with pytest.raises(CannotDecrypt):
        cipher.decrypt("crm@http://b#2", sealed)  # a row copied onto another account's
