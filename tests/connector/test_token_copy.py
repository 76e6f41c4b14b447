"""The rotated refresh tokens ``copy_state`` carries (:mod:`syncd.connector._token_copy`),
between real stores (a SQLite file, a real PostgreSQL database): read back
through the token stores the daemon uses; a target whose tokens are in use is
refused with nothing written."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest

from syncd.connector._db_tokens import DatabaseTokenStore
from syncd.connector._token_copy import CarriedTokens, TokenCopyRefused
from syncd.connector._tokens import TokenStore
from syncd.state import StateError, copy_state, open_state, open_store
from syncd.state._pg_refresh_tokens import RefreshTokens

KEY = "a key of thirty-two bytes or more, for the copy"
ACCOUNT = "rotating@http://127.0.0.1:1#0123456789abcdef"


def sqlite_with_a_chain(directory: Path) -> Path:
    state = directory / "state.db"
    open_store(state).close()
    TokenStore.beside(state).save(ACCOUNT, "rt-from-the-config", "rt-rotated-3")
    return state


def carry(source: Path | str, target: Path | str, key: str | None = KEY) -> CarriedTokens:
    tokens = CarriedTokens(source, target, key, source_shown=str(source))
    tokens.check()
    with open_state(source) as src, open_state(target) as dst:
        copy_state(src, dst, tokens=tokens)
    return tokens


def test_sqlite_to_sqlite_in_another_directory_copies_tokens_json(tmp_path: Path) -> None:
    source = sqlite_with_a_chain(tmp_path / "a")
    target = tmp_path / "b" / "state.db"
    assert carry(source, target, key=None).count == 1  # no key needed: plain file to plain file
    copied = TokenStore.beside(target)
    assert copied.load(ACCOUNT, "rt-from-the-config") == "rt-rotated-3"
    assert stat.S_IMODE(copied.path.stat().st_mode) == 0o600


def test_postgresql_to_postgresql_keeps_the_chain_readable_by_the_daemons_store(
        tmp_path: Path, pg_url: str, pg_cluster) -> None:
    carry(sqlite_with_a_chain(tmp_path), pg_url)
    other = pg_cluster.new_database()
    assert carry(pg_url, other).count == 1
    store = DatabaseTokenStore(tmp_path / "state.db", RefreshTokens(other), KEY)
    assert store.load(ACCOUNT, "rt-from-the-config") == "rt-rotated-3"


def test_a_postgresql_target_holding_a_token_is_refused_and_left_as_it_was(tmp_path: Path, pg_url: str) -> None:
    open_state(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO refresh_tokens (account) VALUES ('someone else')")
    with pytest.raises(StateError, match=r"is not empty \(refresh_tokens: 1\).*nothing was written"):
        carry(sqlite_with_a_chain(tmp_path), pg_url)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT account FROM refresh_tokens").fetchall() == [("someone else",)]
        assert conn.execute("SELECT count(*) FROM integrations").fetchone() == (0,)


def test_a_target_directory_whose_tokens_json_holds_tokens_is_refused(tmp_path: Path) -> None:
    source = sqlite_with_a_chain(tmp_path / "a")
    target = tmp_path / "b" / "state.db"
    TokenStore.beside(target).save("another account", "x", "y")
    with pytest.raises(TokenCopyRefused, match="already holds refresh tokens.*nothing was written"):
        carry(source, target)
    assert not target.exists()
    assert TokenStore.beside(target).load("another account", "x") == "y"  # as it was
