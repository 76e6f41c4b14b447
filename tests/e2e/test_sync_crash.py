"""kill -9 at any write of a sync: the next runs repair everything.

The workload creates and updates in both directions: 8 contacts on the left,
4 on the right, 2 of them on both sides with other first names. ``syncd
once`` is killed when either app receives its Nth write (the app has done
the write; syncd never hears back). Two more runs later (the second once
the creates the kill cut short may be looked up: the connector's timeout
after the first), every contact is on both sides exactly once, the pairs
agree, and a last run writes nothing.

By default a few points are tried; ``pytest tests/e2e --crash-sweep`` tries
every write of an uninterrupted run. Both ways of writing are tried: record
by record, and with the spec's batch operations (fewer, larger writes).
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
from e2e_support import (
    CUT_SHORT_TIMEOUT,
    WRITE_MODES,
    WRITES,
    Pair,
    after_a_kill,
    by_email,
    duplicates,
    emails,
    kill_at,
    write_requests,
)

from syncd.sampleapp import RequestRecord

DEFAULT_POINTS = (1, 3, 7)


def workload(pair: Callable[..., Pair], config: str, mode: str) -> Pair:
    p = pair(left_n=8, right_n=4, config=config)
    p.connector(drop=WRITE_MODES[mode], timeout=CUT_SHORT_TIMEOUT)
    right = p.right.store.all()
    for contact, email in zip(right[:2], emails(p.left)[::4], strict=True):
        p.right.store.update(contact["id"], email=email, first_name=f"Right{contact['first_name']}")
    return p


def is_write(record: RequestRecord) -> bool:
    return record.method in WRITES and record.path != "/search/contacts"


def kill_at_write(p: Pair, n: int) -> None:
    """Run ``syncd once`` and kill -9 it when the apps have received ``n`` writes."""
    kill_at(p, n, is_write)


def assert_in_step(p: Pair, context: object) -> None:
    assert duplicates(p.left) == [] and duplicates(p.right) == [], context
    assert emails(p.left) == emails(p.right) and len(emails(p.left)) == 10, context
    right = by_email(p.right)
    for email, contact in by_email(p.left).items():
        for name in ("first_name", "last_name"):
            assert contact[name] == right[email][name], (context, email, name)
        if contact["phone"]:  # phone goes left to right only
            assert contact["phone"].replace("-", "") == right[email]["phone"], (context, email)


def writes_of_an_uninterrupted_run(pair: Callable[..., Pair], mode: str) -> int:
    p = workload(pair, "config-uninterrupted", mode)
    summary = p.once()
    assert summary["errors"] == 0
    assert_in_step(p, "uninterrupted")
    assert summary["created"] == {"left": 2, "right": 6}
    return len(write_requests(p.left, p.right))


@pytest.mark.parametrize("mode", list(WRITE_MODES))
def test_kill_9_at_a_write_then_the_next_runs_repair_everything(pair, crash_sweep, mode) -> None:
    total = writes_of_an_uninterrupted_run(pair, mode)
    assert total >= 2, total  # creates on both sides, at least
    points = range(1, total + 1) if crash_sweep else [n for n in DEFAULT_POINTS if n <= total]
    for n in points:
        p = workload(pair, f"config-{n}", mode)
        kill_at_write(p, n)
        after_a_kill(p)
        p.once()
        assert_in_step(p, f"killed at write {n} of {total}")
        p.clear_requests()
        summary = p.once()
        assert write_requests(p.left, p.right) == [], f"killed at write {n} of {total}"
        assert summary["created"] == summary["updated"] == {"left": 0, "right": 0}


FIRST_NAMES = """\
  - {left: email, right: email}
  - {left: first_name, right: first_name}
"""


def test_kill_9_while_reading_after_a_mapping_was_added_still_back_fills_every_pair(pair) -> None:
    # 250 contacts: the left is read in three pages of 100.
    p = pair(left_n=250, fields=FIRST_NAMES)
    p.once()
    assert all(c["last_name"] is None for c in p.right.store.all())
    p.write(fields=FIRST_NAMES + "  - {left: last_name, right: last_name}\n")
    proc = p.spawn()
    pages = 0

    def kill_at_the_second_page(record: RequestRecord) -> None:
        nonlocal pages
        if record.method == "GET" and record.path == "/cursor/contacts":
            pages += 1
            if pages == 2:  # the first page's snapshots are committed, the rest are not
                proc.kill()

    p.left.requests.listener = kill_at_the_second_page
    try:
        proc.communicate(timeout=60)
    finally:
        p.left.requests.listener = None
    assert proc.returncode == -signal.SIGKILL
    p.once()
    left, right = by_email(p.left), by_email(p.right)
    missing = sorted(e for e, c in left.items() if right[e]["last_name"] != c["last_name"])
    assert missing == [], f"{len(missing)} of 250 pairs were not back-filled"
    p.clear_requests()
    p.once()
    assert write_requests(p.left, p.right) == []
