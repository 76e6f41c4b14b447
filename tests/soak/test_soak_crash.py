"""Crashes: ``syncd run`` killed with SIGKILL at random instants, again and again, while it syncs.

The left app starts with N contacts, the right with none: the daemon's first cycles create them all
on the right. Meanwhile a thread edits both apps (the left's first names, the right's last names:
one writer per field, so that no edit races syncd's own write of the same field, which no sync
without conditional writes could order). The daemon is killed at a random instant (seeded; the seed
is printed) and started again, ``kills`` times. About half the daemons have every create and update
held ``SLOW_WRITE`` seconds inside the apps (a slow API): their kills land while writes are inside the
apps, which then carry them out after syncd died, often after the next daemon has read or written the
same records. Then, with no daemon running, a few contacts get a
first name on both sides, the right's later (a conflict ``newest_wins`` settles for the right). The
last daemon then runs until both sides agree, and after it:

- no duplicate on either side, every contact on both, and no create refused as a duplicate (the
  sample app refuses a contact whose email it holds: a duplicate syncd tried to make);
- nothing lost: every field holds on both sides the last value written to it on either side;
- ``syncd state check`` passes (the store's integrity and syncd's invariants).

A failure prints, for each record that differs, the edits made to it, the writes each app received
for it and its rows in the state store (SQLite).

SQLite and PostgreSQL (``state.url``) alike. Sizes: ``kills`` 5 (50 with ``--soak``), N 500
(10,000).
"""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from soak.state_soak_support import LEFT_TOKEN, RIGHT_TOKEN, Daemon, Pair, by_email, duplicates
from syncd.sampleapp import AuthMode, SampleApp

EDITS_PER_SECOND = 20.0
CONFLICTS = 10
CONNECTOR_TIMEOUT = 4.0
SLOW_WRITE = 1.5  # seconds a slowed create or update spends inside the app (below the timeout)


class Editor(threading.Thread):
    """Edits the apps while the daemon syncs: the left's first names, the right's last names (of the
    contacts the right has so far). Keeps the last value written to each (email, field)."""

    def __init__(self, left: SampleApp, right: SampleApp, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.apps = {"left": (left, "first_name"), "right": (right, "last_name")}
        self.rng = rng
        self.last: dict[tuple[str, str], str] = {}
        self.count = 0
        self.halt = threading.Event()
        self.log: list[tuple[float, str, str, str]] = []  # (when, email, field, value)

    def edit(self, side: str) -> None:
        app, field = self.apps[side]
        contacts = app.store.all()
        if not contacts:
            return
        contact = self.rng.choice(contacts)
        self.count += 1
        value = f"{side[0].upper()}{self.count}"
        app.store.update(contact["id"], **{field: value})
        self.last[(contact["email"].lower(), field)] = value
        self.log.append((time.time(), contact["email"].lower(), field, value))

    def run(self) -> None:
        while not self.halt.wait(1 / EDITS_PER_SECOND):
            self.edit(self.rng.choice(("left", "right")))


def differences(p: Pair, expected: dict[tuple[str, str], str], total: int) -> list[str]:
    """How the apps differ from each other and from the last value written to each field ([]: in step)."""
    left, right = by_email(p.left), by_email(p.right)
    out = [f"{len(left)} contacts on the left, {len(right)} on the right, {total} expected"
           for _ in range(1) if not len(left) == len(right) == total]
    out += [f"{e}: only on the {'left' if e in left else 'right'}" for e in sorted(left.keys() ^ right.keys())]
    out += [f"{e} {f}: left {left[e][f]!r}, right {right[e][f]!r}" for e in sorted(left.keys() & right.keys())
            for f in ("first_name", "last_name") if left[e][f] != right[e][f]]
    out += [f"{e} {f}: {v!r} was written last, the left has {left[e][f]!r}" for (e, f), v in sorted(expected.items())
            if e in left and left[e][f] != v]
    return out


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_kill_9_at_random_instants_during_a_sync_and_edits_loses_and_duplicates_nothing(
        soak, store: str, sample_app: Callable[..., SampleApp], tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    kills = soak.size(small=5, full=50)
    contacts = soak.size(small=500, full=10_000)
    seed = random.randrange(2**32)
    print(f"seed {seed}: {kills} kills, {contacts} contacts, {store}")
    rng = random.Random(seed)
    p = Pair(sample_app(n=contacts, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=seed),
             sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=seed + 1), tmp_path / "config",
             daemon_settings="log: {level: info}\n")
    if store == "postgres":
        url = request.getfixturevalue("pg_url")
        # A daemon on PostgreSQL takes its integration's lease; a killed one holds it until it runs
        # out (20 s by default), and the daemon started after it waits for that: shorter leases (not
        # much shorter: a daemon on a loaded machine must still renew in time, a third of it).
        # At the small size, 4 s: five kills would otherwise wait 40 s for leases in the default run.
        lease = soak.size(small=4, full=8)
        p.daemon_settings += f"state: {{url: {url!r}}}\ncluster: {{lease_seconds: {lease}}}\n"
    p.write(extra="schedule: every 1 second\n")
    # A create a kill cut short is looked up once the connector's timeout has passed (the app may
    # still be making it): short here, so that the last daemon settles soon.
    p.connector(timeout=CONNECTOR_TIMEOUT)
    # How long a kill may wait after a cycle started: a cycle of the initial sync of 10,000 contacts
    # reads for many seconds before it writes, and kills that all land in its reading would test little.
    window = soak.size(small=1.5, full=30.0)
    editor = Editor(p.left, p.right, random.Random(rng.random()))
    editor.start()
    try:
        for kill in range(kills):
            slow = rng.random() < 0.5
            for app in (p.left, p.right) if slow else ():
                for method in ("POST", "PATCH"):
                    app.faults.add(delay=SLOW_WRITE, method=method, path_prefix="/contacts", times=None)
            daemon = Daemon(p)
            try:
                # One kill in five lands while the daemon starts (opening the store, recovering);
                # the others in its cycles: reading, writing, committing, waiting for the next.
                if rng.random() < 0.2:
                    time.sleep(rng.uniform(0.0, 1.5))
                else:
                    daemon.wait_for("cycle started", timeout=soak.size(small=60, full=300))
                    time.sleep(rng.uniform(0.0, window))
                daemon.proc.kill()
                assert daemon.proc.wait(10) == -signal.SIGKILL, (seed, kill, daemon.text())
            finally:
                daemon.close()
                for app in (p.left, p.right):
                    app.faults.clear()  # the writes inside the apps stay there their time
    finally:
        editor.halt.set()
        editor.join()
    # The writes the last killed daemon left inside the apps land before the conflicts below are
    # made: one landing after them would make its record the newer, and newest_wins compares records.
    time.sleep(SLOW_WRITE + 0.5)
    expected = dict(editor.last)
    # Conflicts: a first name changed on both sides, the right's later: newest_wins takes the right's.
    left, right = by_email(p.left), by_email(p.right)
    both = sorted(left.keys() & right.keys())
    for i, email in enumerate(rng.sample(both, min(CONFLICTS, len(both)))):
        stamp = p.left.store.update(left[email]["id"], first_name=f"left-{i}")["updated_at"]
        # A later updated_at on the right: an app's stamps run ahead of the clock after a burst of
        # writes (one millisecond apart at least, as the sample app's), so waiting a fixed 2 ms
        # made the left the newer now and then (a batch of the killed daemon landing just before).
        while datetime.now(UTC) <= datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(milliseconds=2):
            time.sleep(0.001)
        p.right.store.update(right[email]["id"], first_name=f"right-{i}")
        expected[(email, "first_name")] = f"right-{i}"
    daemon = Daemon(p).ready(timeout=60)
    try:
        deadline = time.monotonic() + soak.size(small=60, full=900)
        while differences(p, expected, contacts) and time.monotonic() < deadline:
            time.sleep(0.2)
        different = differences(p, expected, contacts)
        if different:
            print(history(p, editor, different))
        assert different == [], f"{seed=}"
        assert daemon.stop(signal.SIGTERM) == 0, daemon.text()
    finally:
        daemon.close()
    assert duplicates(p.left) == [] and duplicates(p.right) == [], seed
    # The sample app refuses a contact with an email it holds (409): each refusal was a duplicate
    # syncd tried to make (a create sent again while the first was still being made).
    refused = [r for app in (p.left, p.right) for r in app.requests.all()
               if r.method == "POST" and r.path.startswith("/contacts") and r.status == 409]
    assert refused == [], (seed, refused)
    assert len(p.left.store.all()) == len(p.right.store.all()) == contacts, seed
    check = p.syncd("state", "check")
    assert check.returncode == 0, (seed, check.stdout, check.stderr)
    print(f"{editor.count} edits, {len(p.left.requests.all()) + len(p.right.requests.all())} requests")


def history(p: Pair, editor: Editor, different: list[str]) -> str:
    """What happened to each record that differs: its edits, the writes each app received for it
    (when each arrived, how long the app took) and its rows in the state store (SQLite)."""
    left, right = by_email(p.left), by_email(p.right)
    db = p.config / "state" / "syncd.db"
    conn = sqlite3.connect(db) if db.exists() else None
    lines: list[str] = []
    for email in dict.fromkeys(d.split()[0] for d in different):
        if email not in left or email not in right:
            continue
        ids = {"left": left[email]["id"], "right": right[email]["id"]}
        lines.append(f"{email}: left {ids['left']}, right {ids['right']}")
        lines += [f"  {when:.3f} edit {field}={value}" for when, e, field, value in editor.log if e == email]
        for side, app in (("left", p.left), ("right", p.right)):
            for r in sorted(app.requests.all(), key=lambda r: r.time):
                inputs = r.body.get("inputs") if isinstance(r.body, dict) else None
                items = ([i for i in inputs if i.get("id") == ids[side] or i.get("email") == email]
                         if isinstance(inputs, list) else [r.body] if r.method != "GET" and (
                             r.path.endswith("/" + ids[side]) or (isinstance(r.body, dict) and r.body.get("email") == email))
                         else [])
                lines += [f"  {r.time:.3f} +{r.duration:.2f} s {side} {r.method} {r.path} {r.status} {i}" for i in items]
        if conn is not None:
            for table, where in (("snapshots", "record_id IN (?, ?)"), ("intents", "target_id IN (?, ?) OR source_id IN (?, ?)"),
                                 ("errors", "record_id IN (?, ?)"), ("conflicts", "left_id IN (?, ?) OR right_id IN (?, ?)")):
                args = (ids["left"], ids["right"]) * where.count("IN")
                lines += [f"  {table} {row}" for row in conn.execute(f"SELECT * FROM {table} WHERE {where}", args)]
    if conn is not None:
        conn.close()
    return "\n".join(lines)

