"""A cycle at rest (nothing changed on either side) commits one transaction:
the cycle's outcome. Its pages and its cursors had nothing to commit, and
it does not count each side's snapshots (only a full read needs that).

Real sample apps on 127.0.0.1 and a real SQLite store; the transactions are
counted by SQLite's own statement trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sync_support import write_pair

from syncd.config import Config, load_config
from syncd.sampleapp import AuthMode, SampleApp
from syncd.sync import Cycles

TOKENS = {"LEFT_TOKEN": "left-token-0123", "RIGHT_TOKEN": "right-token-4567"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pair(sample_app: Callable[..., SampleApp], directory: Path) -> tuple[Config, SampleApp, SampleApp]:
    left = sample_app(n=5, auth=AuthMode.BEARER, token=TOKENS["LEFT_TOKEN"], seed=1)
    right = sample_app(n=0, auth=AuthMode.BEARER, token=TOKENS["RIGHT_TOKEN"], seed=2)
    write_pair(directory, left.url, right.url, "match: {left: email, right: email}\ncreate: left_to_right\n"
               "fields: [{left: email, right: email}, {left: first_name, right: first_name}]\n")
    return load_config(directory, environ=TOKENS), left, right


@contextmanager
def statements(cycles: Cycles) -> Iterator[list[str]]:
    """The statements the store runs inside the block (SQLite's own trace)."""
    ran: list[str] = []
    conn = cycles.store._conn  # type: ignore[attr-defined]
    conn.set_trace_callback(lambda sql: ran.append(" ".join(sql.split()).upper()))
    try:
        yield ran
    finally:
        conn.set_trace_callback(None)


def begun(ran: list[str]) -> list[str]:
    return [sql for sql in ran if sql.startswith("BEGIN")]


@pytest.mark.anyio
async def test_a_cycle_with_nothing_changed_commits_only_its_outcome(
        sample_app: Callable[..., SampleApp], tmp_path: Path) -> None:
    config, left, right = pair(sample_app, tmp_path / "config")
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")  # the first: everything read, created on the right
        await cycles.run("pair", origin="once")  # the right side's creations read back
        cursors = {side: cycles.store.side_state("pair", side) for side in ("left", "right")}
        with statements(cycles) as ran:
            summary = await cycles.run("pair", origin="schedule")
        assert summary.outcome == "ok" and summary.unchanged > 0  # the overlap read again, unchanged
        assert len(begun(ran)) == 1, ran  # the outcome (before: 5, a page and a cursor a side)
        # Nor are the snapshots counted (a scan of each side's snapshots, every cycle, before):
        # only a full read's deletion guard needs the count.
        assert not [sql for sql in ran if "COUNT(*) FROM SNAPSHOTS" in sql], ran
        assert {side: cycles.store.side_state("pair", side) for side in ("left", "right")} == cursors
        assert cycles.store.cycles("pair")[0].outcome == "ok"

        # Nothing was lost by not writing: a change after the quiet cycle is read and synced.
        [first] = [c for c in left.store.all()][:1]
        left.store.update(first["id"], first_name="Changed")
        with statements(cycles) as ran:
            summary = await cycles.run("pair", origin="schedule")
        assert summary.updated == {"left": 0, "right": 1}
        assert len(begun(ran)) > 1
        assert cycles.store.side_state("pair", "left").cursor > cursors["left"].cursor
    assert [c["first_name"] for c in right.store.all() if c["email"] == first["email"]] == ["Changed"]
