"""A record a full read missed, though the app still has it, is not taken as deleted.

Offset pages shift back by one when a record is deleted during a read, so
the record that slides into the gap is on no page. Made here with a
left spec whose list leaves one contact out (a filter on ``updated_after``):
the contact is still there, and ``get`` finds it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from sync_support import write_pair

from syncd._resources import shipped_connectors_dir
from syncd.config import load_config
from syncd.sampleapp import AuthMode, SampleApp
from syncd.sync import Cycles

LEFT_TOKEN, RIGHT_TOKEN = "left-token-0123", "right-token-4567"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_contact_a_full_read_missed_but_the_app_still_has_is_not_deleted(
        sample_app: Callable[..., SampleApp], tmp_path: Path) -> None:
    left = sample_app(n=3, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1)
    right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
    directory = tmp_path / "config"
    write_pair(directory, left.url, right.url, """\
match: {left: email, right: email}
fields:
  - {left: email, right: email}
  - {left: first_name, right: first_name}
deletions: {from: left, then: delete, max_delete_percent: 100}
""")
    env = {"LEFT_TOKEN": LEFT_TOKEN, "RIGHT_TOKEN": RIGHT_TOKEN}
    with Cycles.open(load_config(directory, environ=env)) as cycles:
        await cycles.run("pair", origin="once")
    assert len(right.store.all()) == 3
    # The left app's list now leaves out the contact not changed since `since`.
    missed, *others = left.store.all()
    since = left.store.now()
    for contact in others:
        left.store.update(contact["id"], first_name=contact["first_name"] + " (changed)")
    spec = yaml.safe_load((shipped_connectors_dir() / "sampleapp.yaml").read_text())
    spec["objects"]["contacts"]["list"]["params"]["updated_after"] = since
    (directory / "connectors.d").mkdir()
    (directory / "connectors.d" / "sampleapp.yaml").write_text(yaml.safe_dump(spec))

    with Cycles.open(load_config(directory, environ=env)) as cycles:
        summary = await cycles.run("pair", origin="once", full=True)

    assert summary.deleted == {"left": 0, "right": 0}, summary
    assert sorted(c["email"] for c in right.store.all()) == sorted(c["email"] for c in left.store.all())
    assert any(r.method == "GET" and r.path == f"/contacts/{missed['id']}" for r in left.requests.all())
