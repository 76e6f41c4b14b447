"""A first read puts its snapshots as new: no stored row of the page is
looked up before they are written (the state store's hint, `new=True`),
and a later read of changed records still compares with the stored ones.
Real sample apps on 127.0.0.1, a real SQLite store, its statements traced."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_atrest2_quiet_cycle import pair, statements

from syncd.sampleapp import SampleApp
from syncd.sync import Cycles


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def key_reads(ran: list[str]) -> list[str]:
    """The reads of stored snapshots' keys that put_snapshots makes before an update in place."""
    return [sql for sql in ran if sql.startswith("SELECT RECORD_ID, MATCH_KEY FROM SNAPSHOTS")]


@pytest.mark.anyio
async def test_a_first_read_writes_its_snapshots_without_reading_stored_ones(
        sample_app: Callable[..., SampleApp], tmp_path: Path) -> None:
    config, left, right = pair(sample_app, tmp_path / "config")
    with Cycles.open(config) as cycles:
        with statements(cycles) as ran:
            await cycles.run("pair", origin="once")
        # The left page and the creates' commit: every snapshot new (before: a read per page).
        assert key_reads(ran) == [], key_reads(ran)[:2]
        assert cycles.store.count("pair", "left") == 5

        [first] = list(left.store.all())[:1]
        left.store.update(first["id"], first_name="Changed")
        with statements(cycles) as ran:
            summary = await cycles.run("pair", origin="schedule")
        assert summary.updated == {"left": 0, "right": 1}
        assert key_reads(ran), "a changed record's stored snapshot is read before it is replaced"
    assert [c["first_name"] for c in right.store.all() if c["email"] == first["email"]] == ["Changed"]
