"""``state.url`` (and ``state.password``) in syncd.yaml: the PostgreSQL
state store's location, a secret once built; mistakes named by file, line
and key, never quoting the URL (it may hold a password)."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd._secret import Secret
from syncd.config import ConfigError, load_config


def _load(tmp_path: Path, yaml: str, environ: dict[str, str] | None = None):
    (tmp_path / "syncd.yaml").write_text(yaml)
    return load_config(tmp_path, environ=environ or {})


def test_without_url_the_state_is_the_sqlite_file(tmp_path: Path) -> None:
    config = _load(tmp_path, "state: {path: here.db}\n")
    assert config.daemon.state_url is None and config.daemon.state_target() == tmp_path / "here.db"


def test_the_url_may_be_a_reference_and_is_a_secret(tmp_path: Path) -> None:
    url = "postgresql://syncd:pw@db.example.com/syncd"
    config = _load(tmp_path, 'state: {url: "${env:DB_URL}"}\n', {"DB_URL": url})
    assert isinstance(config.daemon.state_url, Secret)
    assert config.daemon.state_target() == url
    assert "pw" not in repr(config.daemon) and "db.example.com" not in repr(config.daemon)


@pytest.mark.parametrize(("url", "password", "target"), [
    ("postgresql://syncd@db/syncd", "p@ss:/word", "postgresql://syncd:p%40ss%3A%2Fword@db/syncd"),
    ("postgresql://db:5433/syncd?sslmode=require", "pw", "postgresql://db:5433/syncd?sslmode=require&password=pw"),
    ("postgresql://syncd:inurl@db/syncd", "ignored", "postgresql://syncd:inurl@db/syncd"),
])
def test_the_password_is_put_into_the_url(tmp_path: Path, url: str, password: str, target: str) -> None:
    (tmp_path / "db").write_text(password + "\n")
    config = _load(tmp_path, f'state:\n  url: "{url}"\n  password: "${{cred:db}}"\n',
                   {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert config.daemon.state_target() == target


@pytest.mark.parametrize(("yaml", "message"), [
    ("state:\n  path: a.db\n  url: postgresql://h/db\n",
     "syncd.yaml:1:1: error: give state.path (a SQLite file) or state.url (a PostgreSQL database), not both (state)"),
    ("state:\n  url: mysql://syncd:hunter2@h/db\n",
     "syncd.yaml:2:3: error: state.url must be a PostgreSQL URL: postgresql://USER@HOST[:PORT]/DATABASE (state.url)"),
    ("state:\n  path: a.db\n  password: hunter2\n", "syncd.yaml:3:3: error: 'password' needs 'url' beside it"),
    ("state:\n  path: a.db\n  timeout: 5\n", "syncd.yaml:3:3: error: 'timeout' needs 'url' beside it"),
    ("state:\n  url: postgresql://h/db\n  timeout: 60\n",
     "syncd.yaml:3:12: error: timeout must be at most 25 (state.timeout)"),
])
def test_mistakes_are_named_by_line_and_never_quote_the_url(tmp_path: Path, yaml: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, yaml)
    text = str(raised.value)
    assert message in text, text
    assert "hunter2" not in text


def test_the_timeout_is_ten_seconds_unless_given(tmp_path: Path) -> None:
    assert _load(tmp_path, "state: {url: 'postgresql://h/db'}\n").daemon.state_timeout == 10
    assert _load(tmp_path, "state: {url: 'postgresql://h/db', timeout: 2.5}\n").daemon.state_timeout == 2.5
