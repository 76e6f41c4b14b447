"""Soak: a side that reads empty, or half-empty, deletes nothing on the other.

After a good sync of both sides (``deletions: {from: both, then: delete}``,
a full read every cycle), the left app's list misbehaves for one cycle of
the real ``syncd once``, the way APIs do: it answers 200 with an empty list
on every page (an outage, or an expired token some APIs answer that way), it
ends early (a list cut at page k), one page in the middle comes back empty
while the list goes on, or it loses a share just under the guard's limit.
Each time: nothing is deleted or written on the other side, and what
``syncd errors`` and ``syncd status`` show says why; once the app is back,
nothing is deleted either and the error is resolved.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from syncd.config import load_connector_file
from syncd.connector import sign_webhook

from .faults_support import REPO, Pair, make_pair, running

PAGE = 10  # the left app's page size: the lists are many pages long
EMPTY = {"results": [], "paging": None}  # what the sample app answers past its last page
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def integration(limit: int | None = None) -> dict[str, Any]:
    deletions: dict[str, Any] = {"from": "both", "then": "delete"}
    if limit is not None:
        deletions["max_delete_percent"] = limit
    return {"full_every": "0 seconds", "deletions": deletions}


def writes(p: Pair) -> list[str]:
    return [f"{r.method} {r.path}" for app in (p.left, p.right) for r in app.requests.all()
            if r.method in WRITES and r.path not in ("/search/contacts", "/oauth/token")]


def page(p: Pair, number: int) -> dict[str, Any]:
    """The left app's real answer for list page *number* (from 1), as syncd asks for it."""
    headers = {"Authorization": f"Bearer {p.left.token}"}
    after = None
    with httpx.Client(base_url=p.left.url, headers=headers, timeout=10) as client:
        for _ in range(number):
            params = {"limit": 100, **({"after": after} if after else {})}
            answer: dict[str, Any] = client.get("/cursor/contacts", params=params).json()
            after = (answer.get("paging") or {}).get("next", {}).get("after")
    return answer


def deletion_errors(p: Pair) -> list[dict[str, Any]]:
    result = p.syncd("errors", p.name, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return [e for e in json.loads(result.stdout) if e["operation"] == "deletions"]


def open_errors(p: Pair) -> int:
    result = p.syncd("status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    [entry] = json.loads(result.stdout)["integrations"]
    return int(entry["open_errors"])


def outage(p: Pair, pages: int) -> str:
    """Every list page answers 200 with an empty list."""
    p.left.faults.add(body=EMPTY, method="GET", path_prefix="/cursor/contacts", times=None)
    return "read no records at all"


def cut_at_half(p: Pair, pages: int) -> str:
    """The list ends at the page half-way: half the records are missing."""
    p.left.faults.add(body=EMPTY, method="GET", path_prefix="/cursor/contacts", skip=pages // 2)
    return "lost"


def hole(p: Pair, pages: int) -> str:
    """A fifth of the pages, from the second on, come back empty, each
    pointing on to the next: the list goes on after them."""
    for number in range(2, 2 + max(1, pages // 5)):
        # each skips the first request only: the first of them still queued takes the next one
        p.left.faults.add(body={"results": [], "paging": page(p, number)["paging"]},
                          method="GET", path_prefix="/cursor/contacts", skip=1)
    return "lost"


def test_soak_empty_a_list_that_reads_empty_or_short_deletes_nothing_and_says_why(
        soak, sample_app, tmp_path) -> None:
    n = soak.size(small=60, full=2_000)
    pages = n // PAGE
    p = make_pair(sample_app, tmp_path / "config", left_n=n, right_n=0, max_page_size=PAGE)
    p.write(extra=integration())
    assert p.once()["created"]["right"] == n
    for weather in (outage, cut_at_half, hole):  # one after the other, without a good read between
        p.clear_requests()
        said = weather(p, pages)
        run = p.run()
        what = f"{weather.__name__}: {run.stdout + run.stderr}"
        assert run.summary is not None and run.summary["aborted"] is None, what
        assert run.summary["deleted"] == {"left": 0, "right": 0}, what
        assert writes(p) == [], what  # nothing deleted, tagged or written on either side
        assert len(p.right.store.all()) == n and len(p.left.store.all()) == n, what
        [error] = deletion_errors(p)
        assert error["side"] == "left" and error["message"].startswith("deletions held back on the left"), error
        assert said in error["message"], (weather.__name__, error)
        assert "deletions held back" in run.stderr, what
        p.left.faults.clear()
    assert open_errors(p) == 1
    # The app answers again: nothing deleted either, and the error is over.
    p.clear_requests()
    summary = p.once()
    assert summary["deleted"] == {"left": 0, "right": 0} and summary["errors"] == 0, summary
    assert writes(p) == [] and deletion_errors(p) == []


def test_soak_empty_a_loss_just_under_the_limit_is_asked_about_record_by_record(
        soak, sample_app, tmp_path) -> None:
    # The list ends one page early: a share just under the limit, so the
    # guard lets it through; each missing record is then asked for (`get`),
    # and, still there, is not taken as deleted.
    n = soak.size(small=60, full=2_000)
    p = make_pair(sample_app, tmp_path / "config", left_n=n, right_n=0, max_page_size=PAGE)
    p.write(extra=integration(limit=-(-100 * PAGE // n)))  # rounded up: just above the share lost
    assert p.once()["created"]["right"] == n
    p.clear_requests()
    p.left.faults.add(body=EMPTY, method="GET", path_prefix="/cursor/contacts", skip=n // PAGE - 1)
    run = p.run()
    assert run.returncode == 0 and run.summary is not None, run.stdout + run.stderr
    assert run.summary["deleted"] == {"left": 0, "right": 0} and writes(p) == [], run.summary
    asked = [r for r in p.left.requests.all() if r.method == "GET" and r.path.startswith("/contacts/")]
    assert len(asked) == PAGE  # the missing page's records, one by one
    assert deletion_errors(p) == []


def test_soak_empty_a_loss_under_the_limit_is_not_confirmed_by_answers_without_a_record(
        soak, sample_app, tmp_path) -> None:
    # The same loss, in an outage that answers every request 200 with an
    # empty body: a `get` answered so says nothing of the record (only a
    # 404 says it is gone). It used to be taken as "gone": deleted on the right.
    n = soak.size(small=60, full=2_000)
    p = make_pair(sample_app, tmp_path / "config", left_n=n, right_n=0, max_page_size=PAGE)
    p.write(extra=integration(limit=-(-100 * PAGE // n)))
    assert p.once()["created"]["right"] == n
    p.clear_requests()
    p.left.faults.add(body=EMPTY, method="GET", path_prefix="/cursor/contacts", skip=n // PAGE - 1)
    p.left.faults.add(body=b"", method="GET", path_prefix="/contacts/", times=None)
    run = p.run()
    assert run.summary is not None and run.summary["aborted"] is None, run.stdout + run.stderr
    assert run.summary["deleted"] == {"left": 0, "right": 0} and writes(p) == [], run.summary
    assert len(p.right.store.all()) == n
    p.left.faults.clear()
    p.clear_requests()
    summary = p.once()
    assert summary["deleted"] == {"left": 0, "right": 0} and writes(p) == [], summary


SECRET = "whsec-soak-empty-secret-1234"


def thin_event(p: Pair, route: str, record_id: str) -> None:
    """A signed ``contact.updated`` carrying only the id, as many apps send
    (HubSpot's do): the daemon reads the record with ``get``."""
    verify = load_connector_file(REPO / "connectors.d" / "sampleapp.yaml").webhooks.verify  # type: ignore[union-attr]
    body = json.dumps({"id": "evt_thin", "type": "contact.updated", "object_id": record_id}).encode()
    stamp = str(int(time.time()))
    headers = {"X-Sampleapp-Timestamp": stamp, "X-Sampleapp-Signature": sign_webhook(verify, SECRET, body, stamp),
               "Content-Type": "application/json"}
    assert httpx.post(route, content=body, headers=headers, timeout=10).status_code == 202


def test_soak_empty_webhooks_during_a_read_outage_delete_only_what_is_gone(sample_app, tmp_path) -> None:
    p = make_pair(sample_app, tmp_path / "config", left_n=10, right_n=0)
    p.daemon_settings += "webhooks: {enabled: true, listen: '127.0.0.1:0'}\n"
    left = {"connector": "sampleapp", "object": "contacts",
            "settings": {"url": p.left.url, "token": "${env:LEFT_TOKEN}", "webhook_secret": "${env:WEBHOOK_SECRET}"}}
    p.write(extra={"schedule": "every 1 hour", "left": left, "deletions": {"from": "left", "then": "delete"}})
    p.left.webhooks.secret = SECRET
    with running(p, env={"WEBHOOK_SECRET": SECRET}) as d:
        [started] = d.named("syncd started")
        d.wait_for("cycle finished")
        route = f"{started['webhooks']}/webhooks/{p.name}/left"
        kept, gone = p.left.store.all()[:2]
        p.clear_requests()
        # The outage: the list is empty, a record's GET answers 200 with nothing.
        p.left.faults.add(body=EMPTY, method="GET", path_prefix="/cursor/contacts", times=None)
        p.left.faults.add(body=b"", method="GET", path_prefix="/contacts/", times=None)
        thin_event(p, route, kept["id"])
        [round_] = d.wait_for("webhook round")
        assert round_["failed"] == 1 and "without a record" in round_["first_failure"], round_
        assert len(p.right.store.all()) == 10 and writes(p) == [], round_
        # The app answers again; a real deletion arrives by its own webhook.
        p.left.faults.clear()
        registered = d.cli("webhooks", p.name, "register", "--url", route)
        assert registered.returncode == 0, registered.stderr
        p.left.store.delete(gone["id"])
        d.wait_until(lambda: len(p.right.store.all()) == 9, timeout=30, what="the deletion on the right")
        assert gone["email"].lower() not in {c["email"].lower() for c in p.right.store.all()}
        assert kept["email"].lower() in {c["email"].lower() for c in p.right.store.all()}
        assert d.stop() == 0


def test_soak_empty_a_list_that_reads_empty_after_a_token_refresh_deletes_nothing(
        soak, sample_app, tmp_path, monkeypatch) -> None:
    # An OAuth 2 app: the access token is refused (401), syncd refreshes it,
    # and the list then answers 200 with nothing (a token some APIs grant
    # without the scope, or an account still being moved): held back too.
    from test_rotating_tokens import AUTH as OAUTH  # the e2e tests' OAuth 2 spec (tests/e2e)
    from test_rotating_tokens import SETTINGS as OAUTH_SETTINGS

    from syncd.sampleapp import AuthMode

    from .faults_support import LEFT_TOKEN, RIGHT_TOKEN
    n = soak.size(small=30, full=2_000)
    left = sample_app(n=n, auth=AuthMode.OAUTH2_REFRESH_TOKEN, token=LEFT_TOKEN, seed=1, max_page_size=PAGE)
    right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
    monkeypatch.setenv("LEFT_REFRESH", left.refresh_token)
    p = Pair(left, right, tmp_path / "config")
    p.write(extra={**integration(), "left": {"connector": "oauth", "object": "contacts", "settings": {
        "url": left.url, "token": "${env:LEFT_TOKEN}", "refresh_token": "${env:LEFT_REFRESH}"}}})
    p.connector("oauth", settings=OAUTH_SETTINGS, auth=OAUTH)
    assert p.once()["created"]["right"] == n
    p.clear_requests()
    # The token is refused once (expired), then every list page is empty.
    p.left.faults.add(status=401, method="GET", path_prefix="/cursor/contacts")
    p.left.faults.add(body=EMPTY, method="GET", path_prefix="/cursor/contacts", times=None)
    run = p.run()
    assert run.summary is not None and run.summary["aborted"] is None, run.stdout + run.stderr
    asked = [(r.method, r.path, r.status) for r in sorted(left.requests.all(), key=lambda r: r.time)]
    refused = asked.index(("GET", "/cursor/contacts", 401))
    assert ("POST", "/oauth/token", 200) in asked[refused:], asked  # refreshed after the 401
    assert run.summary["deleted"] == {"left": 0, "right": 0} and writes(p) == [], run.summary
    [error] = deletion_errors(p)
    assert "read no records at all" in error["message"], error
    p.left.faults.clear()
    p.clear_requests()
    summary = p.once()
    assert summary["deleted"] == {"left": 0, "right": 0} and writes(p) == [] and deletion_errors(p) == []

