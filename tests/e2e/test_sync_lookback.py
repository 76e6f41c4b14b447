"""``lookback`` on a ``changes`` operation: a change that shows up in the
app's changes feed stamped before the newest stamp syncd has read (a search
index that lags its writes; a stamp taken when a long transaction began,
committed after). The changes read starts at the newest stamp less one
second: without a lookback such a change waits for the next full read (a
day by default); with one that covers the lag it is read at once."""

from __future__ import annotations

from datetime import datetime, timedelta

import yaml
from e2e_support import REPO

SHIPPED = REPO / "connectors.d" / "sampleapp.yaml"


def _spec_with_lookback(config_dir, lookback: str | None) -> None:
    """The shipped sample spec in the config's own connectors.d (which overrides the shipped one),
    its changes read reaching back *lookback*."""
    spec = yaml.safe_load(SHIPPED.read_text())
    if lookback is not None:
        spec["objects"]["contacts"]["changes"]["lookback"] = lookback
    folder = config_dir / "connectors.d"
    folder.mkdir(exist_ok=True)
    (folder / "sampleapp.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def _a_late_change(p, name: str) -> str:
    """A contact renamed on the left with a stamp 30 s before the newest one the last read saw."""
    contacts = p.left.store.all()
    newest = max(datetime.fromisoformat(c["updated_at"].replace("Z", "+00:00")) for c in contacts)
    stamp = (newest - timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    p.left.store.update(contacts[0]["id"], first_name=name, updated_at=stamp)
    return contacts[0]["email"]


def _right_name(p, email: str) -> str:
    [contact] = [c for c in p.right.store.all() if c["email"] == email]
    return contact["first_name"]


def test_a_change_stamped_before_the_cursor_waits_for_the_full_read_without_a_lookback(pair) -> None:
    p = pair(left_n=5)
    _spec_with_lookback(p.config, None)
    assert p.run().returncode == 0
    email = _a_late_change(p, "Late")
    assert p.run().returncode == 0
    assert _right_name(p, email) != "Late"  # missed by the changes read (the full read will see it)


def test_a_lookback_reads_a_change_stamped_before_the_cursor(pair) -> None:
    p = pair(left_n=5)
    _spec_with_lookback(p.config, "1 minute")
    assert p.run().returncode == 0
    email = _a_late_change(p, "Late")
    second = p.run()
    assert second.returncode == 0 and _right_name(p, email) == "Late"
    assert second.summary["updated"] == {"left": 0, "right": 1}
    # The records read again in the minute are recognised as unchanged: nothing else written.
    assert second.summary["unchanged"] >= 4
