"""End-to-end fixtures: two sample apps on 127.0.0.1 and the real ``syncd`` process."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from daemon_support import Daemon
from e2e_support import LEFT_TOKEN, RIGHT_TOKEN, Pair

from syncd.sampleapp import AuthMode, SampleApp


@pytest.fixture
def crash_sweep(request: pytest.FixtureRequest) -> bool:
    """True with ``--crash-sweep``: crash tests try every point, not a few."""
    return bool(request.config.getoption("--crash-sweep", default=False))


@pytest.fixture
def pair(sample_app: Callable[..., SampleApp], tmp_path: Path) -> Callable[..., Pair]:
    """``pair(left_n, right_n, **write)``: two fresh apps joined in a config dir.

    ``config=`` names the config dir under tmp_path, for a test that needs
    several pairs; ``write`` goes to :meth:`Pair.write`.
    """
    def make(left_n: int = 20, right_n: int = 0, config: str = "config", **write: Any) -> Pair:
        left = sample_app(n=left_n, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1)
        right = sample_app(n=right_n, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
        p = Pair(left, right, tmp_path / config)
        p.write(**write)
        return p

    return make


@pytest.fixture
def daemon() -> Iterator[Callable[..., Daemon]]:
    """``daemon(pair, env=None, args=(), cwd=None)``: the real ``syncd run``
    on the pair's config (see :class:`Daemon`).

    Every daemon still running when the test ends is killed; then its log
    is scanned: a secret value the test used must never appear in it.
    """
    started: list[Daemon] = []

    def start(pair: Pair, *, env: Mapping[str, str | None] | None = None, args: tuple[str, ...] = (),
              cwd: Path | None = None, ready: bool = True) -> Daemon:
        d = Daemon(pair, env=env, args=args, cwd=cwd)
        started.append(d)
        return d.ready() if ready else d

    yield start
    for d in started:
        d.close()
    for d in started:
        log = d.text()
        for secret in (LEFT_TOKEN, RIGHT_TOKEN):
            assert secret not in log, f"a secret appears in the daemon's log {d.log_path}"


@pytest.fixture(autouse=True)
def no_secret_at_rest(tmp_path: Path) -> Iterator[None]:
    """After every e2e test: no file it left (config, state database and its
    WAL, daemon logs) holds a secret value; the config holds references."""
    yield
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (LEFT_TOKEN, RIGHT_TOKEN):
                assert secret.encode() not in data, f"a secret value is in {path}"
