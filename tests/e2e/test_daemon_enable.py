"""``enabled: false`` stops an integration; ``enabled: true`` resumes it from
its cursors, and ``catch_up:`` says what becomes of the changes made
meanwhile: ``sync`` writes them, ``skip`` reads through them."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from daemon_support import edit
from e2e_support import by_email


def first_names(app) -> dict[str, str]:
    return {e: c["first_name"] for e, c in by_email(app).items()}


@pytest.mark.parametrize("catch_up", ["sync", "skip"])
def test_disable_then_enable_with_each_catch_up_mode(pair, daemon, catch_up: str) -> None:
    p = pair(left_n=4)
    p.write(extra=f"schedule: every 1 second\ncatch_up: {catch_up}\n")
    file = p.config / "integrations.d" / "pair.yaml"
    d = daemon(p)
    d.wait_for("cycle finished")
    edit(file, "catch_up:", "enabled: false\ncatch_up:")
    [applied] = d.wait_for("reload applied")
    assert applied["stopped"] == ["pair"]
    assert d.integration("pair")["state"] == "disabled"
    assert "0 integrations running, 0 failing, 1 disabled" in d.status()["summary"]
    cycles = len(d.named("cycle started"))
    contacts = p.left.store.all()
    p.left.store.update(contacts[0]["id"], first_name="WhileDisabled")
    before = first_names(p.right)
    # Not synchronisation: the behaviour is an absence. On `every 1 second`
    # a cycle still scheduled would have started within 1 s of the reload
    # (1.01 s with its jitter); wait that, and half a second more for it to
    # be logged, from the reload on.
    reloaded = datetime.fromisoformat(applied["timestamp"]).timestamp()
    time.sleep(max(0.0, reloaded + 1.5 - time.time()))
    assert len(d.named("cycle started")) == cycles  # disabled: no cycle at all
    edit(file, "enabled: false\n", "")
    d.wait_for("reload applied", count=2)
    [catching_up] = d.wait_for("cycle started", count=cycles + 1)[cycles:]
    assert catching_up["catch_up"] == catch_up
    d.wait_for("cycle finished", count=cycles + 1)
    changed = contacts[0]["email"].lower()
    if catch_up == "sync":
        assert first_names(p.right)[changed] == "WhileDisabled"
    else:
        assert first_names(p.right) == before  # read through, not written
    # either way, what changes from now on is synced as usual
    p.left.store.update(contacts[1]["id"], first_name="AfterEnabled")
    d.wait_until(lambda: first_names(p.right)[contacts[1]["email"].lower()] == "AfterEnabled", what="a sync")
    later = d.named("cycle started")[cycles + 1:]
    assert later and all(e["catch_up"] is None for e in later)
    assert d.stop() == 0


def test_a_disabled_integration_catches_up_after_a_daemon_restart(pair, daemon) -> None:
    p = pair(left_n=3)
    p.write(extra="schedule: every 1 second\ncatch_up: skip\n")
    file = p.config / "integrations.d" / "pair.yaml"
    d = daemon(p)
    d.wait_for("cycle finished")
    assert d.stop() == 0
    edit(file, "catch_up:", "enabled: false\ncatch_up:")
    d = daemon(p)  # started with the integration disabled: recorded in the state
    assert d.integration("pair")["state"] == "disabled"
    assert d.stop() == 0
    contact = p.left.store.all()[0]
    p.left.store.update(contact["id"], first_name="WhileStopped")
    before = first_names(p.right)
    edit(file, "enabled: false\n", "")
    d = daemon(p)
    [cycle] = d.wait_for("cycle finished")
    assert d.named("cycle started")[0]["catch_up"] == "skip"
    assert cycle["updated"] == {"left": 0, "right": 0} and first_names(p.right) == before
    assert d.stop() == 0


def test_an_integration_never_synced_starts_with_an_initial_sync_not_a_catch_up(pair, daemon) -> None:
    p = pair(left_n=3)
    p.write(extra="schedule: every 1 second\ncatch_up: skip\nenabled: false\n")
    d = daemon(p)
    edit(p.config / "integrations.d" / "pair.yaml", "enabled: false\n", "")
    [cycle] = d.wait_for("cycle finished")
    assert d.named("cycle started")[0]["catch_up"] is None
    assert cycle["created"]["right"] == 3
    assert d.stop() == 0
