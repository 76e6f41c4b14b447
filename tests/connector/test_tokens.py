"""The token store: rotated refresh tokens kept owner-only and atomically,
read back, shared by the account's connectors, locked across processes."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from syncd.connector import AccountRegistry, AuthError, TokenStore, TokenStoreError
from syncd.sampleapp import AuthMode, SampleApp
from test_auth import open_connector, spec_for, token_calls

pytestmark = pytest.mark.anyio

MODE = AuthMode.OAUTH2_REFRESH_TOKEN
KEY = "testapp@http://127.0.0.1:1#0123456789abcdef"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_saved_token_is_loaded_back_from_an_owner_only_file(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: the file must still be private
    try:
        store = TokenStore.beside(tmp_path / "state" / "state.db")
        store.save(KEY, "rt-from-config", "rt-rotated-1")
    finally:
        os.umask(old)
    assert store.path == tmp_path / "state" / "tokens.json"
    assert mode_of(store.path) == 0o600
    assert store.load(KEY, "rt-from-config") == "rt-rotated-1"
    assert TokenStore(store.path).load(KEY, "rt-from-config") == "rt-rotated-1"  # a new process
    assert store.load("other@x#1", "rt-from-config") is None
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["tokens.json"]  # no temp file left
    # the config's token is kept as a digest only
    assert b"rt-from-config" not in store.path.read_bytes()


def test_a_new_config_token_drops_the_stored_chain(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    store.save(KEY, "rt-from-config", "rt-rotated-1")
    assert store.load(KEY, "rt-re-authorised") is None  # the operator re-authorised: the config's wins
    store.save(KEY, "rt-re-authorised", "rt-rotated-2")
    assert store.load(KEY, "rt-re-authorised") == "rt-rotated-2"
    assert store.load(KEY, "rt-from-config") is None


def test_save_replaces_the_file_by_rename_never_in_place(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    store.save(KEY, "rt-from-config", "rt-rotated-1")
    before = store.path.read_bytes()
    os.link(store.path, tmp_path / "old-inode")
    store.save(KEY, "rt-from-config", "rt-rotated-2")
    # the old file was never written to: a crash mid-write leaves it whole
    assert (tmp_path / "old-inode").read_bytes() == before
    assert store.path.stat().st_ino != (tmp_path / "old-inode").stat().st_ino
    assert mode_of(store.path) == 0o600


def test_an_existing_file_with_a_loose_mode_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(b"{}")
    path.chmod(0o644)
    TokenStore(path).save(KEY, "rt-from-config", "rt-rotated-1")
    assert mode_of(path) == 0o600


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"k": {"refresh_token": 3}}'])
def test_a_corrupt_file_names_itself_and_what_to_do(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    with pytest.raises(TokenStoreError) as caught:
        TokenStore(path).load(KEY, "rt-from-config")
    message = str(caught.value)
    assert str(path) in message and "corrupt" in message
    assert "restore it" in message and "re-authorise" in message
    assert isinstance(caught.value, AuthError) and not caught.value.retryable


def test_the_lock_is_exclusive_across_processes(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    with subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from syncd.connector import TokenStore\n"
         f"with TokenStore(Path({str(store.path)!r})).locked():\n"
         "    print('held', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline() == "held\n"
            fd = os.open(store.lock_path, os.O_RDWR)
            try:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                holder.stdin.write("\n")
                holder.stdin.flush()
                assert holder.wait(timeout=30) == 0
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the holder let go
            finally:
                os.close(fd)
        finally:
            holder.kill()
    assert mode_of(store.lock_path) == 0o600


# --- the store in the OAuth 2 flow, against the sample app's rotating token endpoint


def rotating(sample_app: Any) -> SampleApp:
    app: SampleApp = sample_app(n=3, auth=MODE, rotate_refresh_token=True)
    return app


async def test_a_rotated_token_is_persisted_and_a_new_process_starts_from_it(
        sample_app: Any, make_spec: Any, connect: Any, tmp_path: Path) -> None:
    app = rotating(sample_app)
    config_token = app.refresh_token
    store = TokenStore(tmp_path / "tokens.json")
    spec = spec_for(make_spec, MODE)
    for _run in range(3):  # three processes in a row, each with the config's token
        accounts = AccountRegistry(store)
        async with open_connector(connect, spec, app, accounts=accounts,
                                  settings={"refresh_token": config_token}) as c:
            assert await c.get("1000001") is not None
            assert store.load(c.account.key, config_token) == app.refresh_token
            assert app.refresh_token in c.masker
    assert all(r.status == 200 for r in token_calls(app))
    assert len(token_calls(app)) == 3


async def test_the_new_token_is_stored_before_the_new_access_token_is_used(
        sample_app: Any, make_spec: Any, connect: Any, tmp_path: Path) -> None:
    app = rotating(sample_app)
    store = TokenStore(tmp_path / "tokens.json")
    # The temp file cannot be created (a directory is in its way): the save fails.
    (tmp_path / f".tokens.json.{os.getpid()}.tmp").mkdir()
    async with open_connector(connect, spec_for(make_spec, MODE), app,
                              accounts=AccountRegistry(store)) as c:
        with pytest.raises(AuthError) as caught:
            await c.get("1000001")
    assert str(store.path) in str(caught.value) and "cannot be written" in str(caught.value)
    assert len(token_calls(app)) == 1
    assert not app.requests.matching("GET", "/contacts/")  # the new access token was never used


async def test_connectors_of_one_account_share_one_refresh(
        sample_app: Any, make_spec: Any, connect: Any, tmp_path: Path) -> None:
    app = rotating(sample_app)
    accounts = AccountRegistry(TokenStore(tmp_path / "tokens.json"))
    spec = spec_for(make_spec, MODE)
    async with open_connector(connect, spec, app, accounts=accounts) as a, \
            open_connector(connect, spec, app, accounts=accounts) as b:
        assert a.account is b.account
        for _round in range(3):
            app.expire_tokens()
            results: list[Any] = []

            async def get(c: Any, cid: str) -> None:
                results.append(await c.get(cid))

            async with anyio.create_task_group() as tg:
                for c in (a, b, a, b):
                    tg.start_soon(get, c, "1000002")
            assert len(results) == 4 and all(r is not None for r in results)
        assert app.refresh_token in a.masker and app.refresh_token in b.masker
    assert [r.status for r in token_calls(app)] == [200, 200, 200]  # one refresh a round, none refused


async def test_a_token_rotated_by_another_process_is_read_under_the_lock(
        sample_app: Any, make_spec: Any, connect: Any, tmp_path: Path) -> None:
    app = rotating(sample_app)
    store = TokenStore(tmp_path / "tokens.json")
    spec = spec_for(make_spec, MODE)
    async with open_connector(connect, spec, app, accounts=AccountRegistry(store)) as daemon, \
            open_connector(connect, spec, app, accounts=AccountRegistry(store)) as once:
        assert await daemon.get("1000001") is not None
        app.expire_tokens()
        assert await once.get("1000001") is not None  # rotates the token the daemon holds
        app.expire_tokens()
        assert await daemon.get("1000002") is not None  # starts from the stored one, not its own
    assert [r.status for r in token_calls(app)] == [200, 200, 200]


async def test_a_revoked_token_names_the_setting_to_fix(
        sample_app: Any, make_spec: Any, connect: Any, tmp_path: Path) -> None:
    app = rotating(sample_app)
    store = TokenStore(tmp_path / "tokens.json")
    async with open_connector(connect, spec_for(make_spec, MODE), app, accounts=AccountRegistry(store),
                              settings={"refresh_token": "rt-revoked-by-the-user"}) as c:
        with pytest.raises(AuthError) as caught:
            await c.get("1000001")
    message = str(caught.value)
    assert "settings.refresh_token of connector 'testapp'" in message
    assert "re-authorise" in message and "invalid_grant" in message
    assert "rt-revoked-by-the-user" not in message
    assert not caught.value.retryable
    assert not store.path.exists()  # nothing was stored



async def test_a_wrong_client_secret_is_not_taken_for_a_revoked_token(
        sample_app: Any, make_spec: Any, connect: Any, tmp_path: Path) -> None:
    app = rotating(sample_app)
    async with open_connector(connect, spec_for(make_spec, MODE), app, token="wrong-client-secret",
                              accounts=AccountRegistry(TokenStore(tmp_path / "tokens.json"))) as c:
        with pytest.raises(AuthError) as caught:
            await c.get("1000001")
    assert caught.value.status == 401 and "invalid_client" in str(caught.value)
    assert "settings.refresh_token" not in str(caught.value)  # the refresh token is fine
