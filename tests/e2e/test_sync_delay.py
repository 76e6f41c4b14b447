"""``delay:``: a record changed less than that long ago waits for a later cycle."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from e2e_support import by_email


def test_a_fresh_change_waits_out_the_delay_then_syncs(pair) -> None:
    p = pair(left_n=6)
    p.write(extra="delay: 1 hour\n")
    first = p.once()
    assert first["created"]["right"] == 6 and first["delayed"] == 0  # old records: settled
    contact = p.left.store.all()[0]
    changed_at = datetime.fromisoformat(p.left.store.update(contact["id"], first_name="Settling")["updated_at"])
    p.clear_requests()
    waiting = p.once()
    assert waiting["delayed"] == 1 and waiting["updated"] == {"left": 0, "right": 0}
    assert by_email(p.right)[contact["email"].lower()]["first_name"] != "Settling"
    again = p.once()  # still settling: it stays dirty, and waits again
    assert again["delayed"] == 1 and again["updated"]["right"] == 0
    p.write(extra="delay: 1 second\n")
    # Not synchronisation: time passing is the behaviour. Wait until the
    # change is a second old (the cycles above may have taken that already).
    time.sleep(max(0.0, (changed_at + timedelta(seconds=1.01) - datetime.now(UTC)).total_seconds()))
    settled = p.once()
    assert settled["delayed"] == 0 and settled["updated"] == {"left": 0, "right": 1}
    assert by_email(p.right)[contact["email"].lower()]["first_name"] == "Settling"


def test_a_change_on_the_partner_holds_back_the_whole_pair(pair) -> None:
    p = pair(left_n=4)
    p.write(extra="delay: 1 hour\n")
    p.once()
    left = p.left.store.all()[0]
    right = by_email(p.right)[left["email"].lower()]
    p.right.store.update(right["id"], last_name="Fresh")
    summary = p.once()
    assert summary["delayed"] == 1 and summary["updated"] == {"left": 0, "right": 0}
    assert by_email(p.left)[left["email"].lower()]["last_name"] == left["last_name"]
