"""Cycles over a side read by sync token (tests/connector_specs/fake_tokens.py)
paired with a sample app: the token is kept with the cycle's cursor, a changes
read sends it, a stopped read keeps the old one, and a refused token makes
the cycle read everything instead of failing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from syncd.config import load_config
from syncd.sampleapp import AuthMode, SampleApp
from syncd.sync import Cycles

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "connector_specs"))
from fake_tokens import TokenApi, spec_doc  # noqa: E402

TOKEN = "right-token-4567"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def api() -> Iterator[TokenApi]:
    with TokenApi(n=5) as fake:
        yield fake
    assert not fake.server_errors, fake.server_errors


@pytest.fixture
def right(sample_app: Callable[..., SampleApp]) -> SampleApp:
    return sample_app(n=0, auth=AuthMode.BEARER, token=TOKEN)


@pytest.fixture
def config(api: TokenApi, right: SampleApp, tmp_path: Path) -> Any:
    """The integration ``pair``: the token API's people to the sample app's contacts."""
    directory = tmp_path
    (directory / "integrations.d").mkdir(parents=True)
    (directory / "connectors.d").mkdir()
    (directory / "syncd.yaml").write_text("state: {path: state/syncd.db}\n")
    (directory / "connectors.d" / "tokens.yaml").write_text(yaml.safe_dump(spec_doc()))
    (directory / "integrations.d" / "pair.yaml").write_text(f"""\
integration: pair
left: {{connector: tokens, object: people, settings: {{url: "{api.origin}"}}}}
right:
  connector: sampleapp
  object: contacts
  settings: {{url: "{right.url}", token: "${{env:RIGHT_TOKEN}}"}}
match: {{left: email, right: email}}
fields:
  - {{left: email, right: email, direction: left_to_right}}
deletions: {{from: left, then: delete, max_delete_percent: 100}}
""")
    return load_config(directory, environ={"RIGHT_TOKEN": TOKEN})


def tokens_sent(api: TokenApi) -> list[str | None]:
    return [r.arg("syncToken") for r in api.requests if r.path == "/v1/people" and r.arg("pageToken") is None]


@pytest.mark.anyio
async def test_the_token_is_kept_with_the_cycle_and_the_next_read_sends_it(
        api: TokenApi, right: SampleApp, config: Any) -> None:
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        first = cycles.store.side_state("pair", "left").sync_token
        api.put("people/c1", "renamed@example.com")
        api.remove("people/c3")
        summary = await cycles.run("pair", origin="once")
        second = cycles.store.side_state("pair", "left").sync_token

    assert (first, second) == ("v5", "v7")
    assert tokens_sent(api) == [None, "v5"]
    assert summary.read["left"] == 2 and not summary.aborted
    assert sorted(c["email"] for c in right.store.all()) == [
        "p0@example.com", "p2@example.com", "p4@example.com", "renamed@example.com"]


@pytest.mark.anyio
async def test_a_read_stopped_before_its_last_page_keeps_the_old_token(
        api: TokenApi, right: SampleApp, config: Any) -> None:
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        for i in range(5):  # three pages of changes; the token is on the last one
            api.put(f"people/c{i}", f"new{i}@example.com")
        stopped = await cycles.run("pair", origin="once", stop=lambda: True)  # stops after the first page
        kept = cycles.store.side_state("pair", "left").sync_token
        again = await cycles.run("pair", origin="once")
        final = cycles.store.side_state("pair", "left").sync_token

    assert stopped.stopped and kept == "v5"
    assert not again.stopped and final == "v10"
    assert tokens_sent(api) == [None, "v5", "v5"]  # the stopped read is read again from its token
    assert sorted(c["email"] for c in right.store.all()) == [f"new{i}@example.com" for i in range(5)]


@pytest.mark.anyio
async def test_a_refused_token_makes_the_cycle_read_everything_once(
        api: TokenApi, right: SampleApp, config: Any) -> None:
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        api.expired.add("v5")
        api.remove("people/c0")
        with structlog.testing.capture_logs() as logs:
            summary = await cycles.run("pair", origin="once")
        token = cycles.store.side_state("pair", "left").sync_token

    assert not summary.aborted and summary.deleted["right"] == 1
    assert token == "v6"
    assert tokens_sent(api) == [None, "v5", None]  # refused, then the full list
    refused = [e for e in logs if e["event"] == "sync token refused: reading everything"]
    assert len(refused) == 1 and "HTTP 400" in refused[0]["error"]
    assert sorted(c["email"] for c in right.store.all()) == [f"p{i}@example.com" for i in range(1, 5)]
