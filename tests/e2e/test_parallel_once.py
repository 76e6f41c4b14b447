"""A list's ``concurrency`` through the real ``syncd``: refused where the
pagination cannot allow it, and a sync that fetches pages at once ends
exactly where one that fetches them one by one does."""

from __future__ import annotations

from typing import Any

import yaml

from e2e_support import REPO, Pair, by_email, duplicates, kill_at, write_requests
from syncd.sampleapp import SampleApp, max_in_flight

VOLATILE = ("id", "created_at", "updated_at")


def offset_reads(spec: dict[str, Any], concurrency: int, count: int = 20) -> None:
    """The spec's contacts read by offset (the sample app's /offset/contacts), ``concurrency`` pages at once."""
    contacts = spec["objects"]["contacts"]
    for name, extra in (("list", {}), ("changes", {"updated_after": "{{ since }}"})):
        contacts[name] = {
            "path": "/offset/contacts", "params": {"count": count, **extra}, "records": "members",
            "pagination": {"type": "offset", "param": "offset", "limit_param": "count", "total": "total_items"},
            "concurrency": concurrency,
        }


def write_spec(p: Pair, spec: dict[str, Any]) -> str:
    folder = p.config / "connectors.d"
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(spec, sort_keys=False)
    (folder / "sampleapp.yaml").write_text(text)
    return text


def shipped() -> dict[str, Any]:
    spec = yaml.safe_load((REPO / "connectors.d" / "sampleapp.yaml").read_text())
    assert isinstance(spec, dict)
    return spec


def contents(app: SampleApp) -> dict[str, dict[str, Any]]:
    return {email: {k: v for k, v in c.items() if k not in VOLATILE} for email, c in by_email(app).items()}


def in_flight(app: SampleApp) -> int:
    return max_in_flight(app.requests.matching("GET", "/offset/contacts"))


def test_parallel_validate_refuses_concurrency_on_cursor_pagination(pair: Any) -> None:
    p = pair(left_n=1)
    spec = shipped()
    spec["objects"]["contacts"]["list"]["concurrency"] = 4  # its pagination is by cursor
    text = write_spec(p, spec)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.strip() == "concurrency: 4")
    result = p.syncd("validate")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"sampleapp.yaml:{line}:" in output, output
    assert "objects.contacts.list.concurrency" in output
    assert "needs offset or page_number pagination" in output and "cursor" in output


def test_parallel_once_with_concurrency_4_syncs_as_with_1(pair: Any) -> None:
    ends = {}
    for concurrency in (1, 4):
        p = pair(left_n=100, right_n=30, config=f"c{concurrency}")
        spec = shipped()
        offset_reads(spec, concurrency)
        write_spec(p, spec)
        # Pages take longer than the spec's rate limit (50 a second) spaces
        # them: fetched at once, they overlap in the app.
        for app in (p.left, p.right):
            app.faults.add(delay=0.04, times=None, method="GET", path_prefix="/offset/contacts")
        first = p.once()
        left_id = p.left.store.all()[3]["id"]
        p.left.store.update(left_id, first_name="Parallel")
        right_email = sorted(by_email(p.right))[7]
        p.right.store.update(by_email(p.right)[right_email]["id"], last_name="Pages")
        second = p.once()
        assert first["errors"] == second["errors"] == 0
        peak = max(in_flight(p.left), in_flight(p.right))
        assert (peak == 1) if concurrency == 1 else (1 < peak <= 4), peak
        ends[concurrency] = (
            {k: first[k] for k in ("created", "updated", "deleted")},
            {k: second[k] for k in ("created", "updated", "deleted")},
            contents(p.left), contents(p.right))
    assert ends[4] == ends[1]
    assert ends[4][1]["updated"] == {"left": 1, "right": 1}
    assert ends[4][2].keys() == ends[4][3].keys() and len(ends[4][2]) > 100  # both sides hold every contact


def test_parallel_a_kill_mid_read_reads_again_and_skips_no_change(pair: Any) -> None:
    p = pair(left_n=40, right_n=0)
    spec = shipped()
    offset_reads(spec, 4, count=10)
    write_spec(p, spec)
    for app in (p.left, p.right):
        app.faults.add(delay=0.02, times=None, method="GET", path_prefix="/offset/contacts")
    p.once()
    changed = [c["id"] for c in p.left.store.all()[5:30]]  # 3 pages of the changes read
    for rid in changed:
        p.left.store.update(rid, first_name="Renamed")
    # killed as the first page of a changes read is answered, pages after it in flight
    kill_at(p, 1, lambda r: r.path == "/offset/contacts" and "updated_after" in r.query)
    p.clear_requests()
    summary = p.once()
    assert summary["updated"] == {"left": 0, "right": 25}, summary
    assert duplicates(p.left) == duplicates(p.right) == []
    right = by_email(p.right)
    assert all(right[c["email"].lower()]["first_name"] == "Renamed"
               for c in p.left.store.all() if c["id"] in changed)
    p.clear_requests()
    assert p.once()["updated"] == {"left": 0, "right": 0}
    assert write_requests(p.left, p.right) == []
