"""Webhooks end to end: the sample app's real signed webhooks reach the real daemon.

An edit in the left app arrives in the right one without a cycle (the
schedule is an hour away); forged, replayed, oversized and malformed calls
and unknown paths are refused with their status, change nothing, are
counted, and leave neither the body nor the secret in the log; a burst
for one record is coalesced; a webhook racing a manual cycle for a new
contact creates it once; ``syncd webhooks`` registers, lists and removes
through the spec's calls, and says so when a spec declares none.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import httpx
import yaml
from daemon_support import Daemon
from e2e_support import REPO, Pair, by_email, write_requests
from prometheus_client.parser import text_string_to_metric_families

from syncd.config import load_connector_file
from syncd.connector import sign_webhook

SECRET = "whsec-webhook-secret-89ab"
SETTINGS = "metrics: {enabled: true, listen: '127.0.0.1:0'}\nwebhooks: {enabled: true, listen: '127.0.0.1:0'}\n"
VERIFY = load_connector_file(REPO / "connectors.d" / "sampleapp.yaml").webhooks.verify  # type: ignore[union-attr]


def _setup(pair: Any, left_n: int = 5, right_n: int = 0) -> Pair:
    p: Pair = pair(left_n=left_n, right_n=right_n)
    p.daemon_settings += SETTINGS
    left = {"connector": "sampleapp", "object": "contacts",
            "settings": {"url": p.left.url, "token": "${env:LEFT_TOKEN}", "webhook_secret": "${env:WEBHOOK_SECRET}"}}
    p.write(extra={"schedule": "every 1 hour", "left": left})
    p.left.webhooks.secret = SECRET
    return p


def _start(p: Pair, daemon: Any) -> tuple[Daemon, str, str]:
    """The daemon, after its first cycle; its webhook route for the left side, its metrics URL."""
    d: Daemon = daemon(p, env={"WEBHOOK_SECRET": SECRET})
    [started] = d.named("syncd started")
    d.wait_for("cycle finished")
    return d, f"{started['webhooks']}/webhooks/{p.name}/left", started["metrics"]


def _wait(check: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _webhook_counts(metrics: str) -> dict[tuple[str, str, str], float]:
    text = httpx.get(f"{metrics}/metrics", timeout=10).text
    return {(s.labels["integration"], s.labels["side"], s.labels["outcome"]): s.value
            for f in text_string_to_metric_families(text) if f.name == "syncd_webhooks"
            for s in f.samples if s.name == "syncd_webhooks_total"}


def _signed(body: bytes, at: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    return {"X-Sampleapp-Timestamp": stamp, "X-Sampleapp-Signature": sign_webhook(VERIFY, SECRET, body, stamp),
            "Content-Type": "application/json"}


def _chunks(body: bytes) -> Any:
    """*body* as an upload of unknown length (httpx sends it chunked)."""
    def chunks() -> Any:
        for i in range(0, len(body), 64 * 1024):
            yield body[i:i + 64 * 1024]
    return chunks()


def _register(d: Daemon, url: str) -> None:
    result = d.cli("webhooks", "pair", "register", "--url", url, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["registered"]["url"] == url


def test_an_edit_on_the_left_arrives_on_the_right_by_webhook_without_a_cycle(pair, daemon) -> None:
    # registered with `syncd webhooks pair register` (then listed and removed at the end)
    p = _setup(pair)
    d, route, metrics = _start(p, daemon)
    _register(d, route)
    contact = p.left.store.all()[0]
    p.left.store.update(contact["id"], first_name="Arrived-By-Webhook")
    right = lambda: by_email(p.right).get(contact["email"].lower(), {})  # noqa: E731
    _wait(lambda: right().get("first_name") == "Arrived-By-Webhook", "the edit on the right")
    created = p.left.store.create({"email": "new.by.webhook@example.com", "first_name": "New"})
    _wait(lambda: "new.by.webhook@example.com" in by_email(p.right), "the new contact on the right")
    assert len(d.named("cycle finished")) == 1  # the first one only: the webhooks did it
    assert d.integration("pair")["last_origin"] == "scheduled"  # status keeps the scheduled view
    _wait(lambda: _webhook_counts(metrics).get(("pair", "left", "accepted"), 0) >= 2, "the calls counted")
    assert p.left.webhooks.failed == 0 and created["id"]
    assert SECRET not in d.text()
    _list_and_remove(d, p, route)


def _list_and_remove(d: Daemon, p: Pair, route: str) -> None:
    """`syncd webhooks` lists the registration made, and removes it by its URL."""
    listed = d.cli("webhooks", "pair", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [hook] = json.loads(listed.stdout)["webhooks"]
    assert hook["url"] == route and [s["url"] for s in p.left.webhooks.subscriptions()] == [route]
    removed = d.cli("webhooks", "pair", "remove", "--url", route)
    assert removed.returncode == 0 and f"removed 1 webhook(s): {hook['id']}" in removed.stdout
    assert p.left.webhooks.subscriptions() == []
    again = d.cli("webhooks", "pair", "remove", "--url", route)
    assert again.returncode == 1 and "removed 0 webhook(s)" in again.stdout


def test_forged_replayed_oversized_malformed_and_unknown_calls_change_nothing(pair, daemon) -> None:
    p = _setup(pair)
    d, route, metrics = _start(p, daemon)
    contact = p.left.store.all()[0]
    p.left.store.update(contact["id"], first_name="Not-Via-Forgery")  # a real change, not announced
    p.right.requests.clear()
    marker = "BODY-MARKER-7f3e"
    body = json.dumps({"type": "contact.updated", "object_id": contact["id"], "marker": marker}).encode()
    base = route.rsplit("/webhooks/", 1)[0]
    forged = {**_signed(body), "X-Sampleapp-Signature": "sha256=" + "0" * 64}
    big = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    not_json = b"{not json " + marker.encode()
    no_id = json.dumps({"type": "contact.updated", "marker": marker}).encode()
    cases = [
        (route, body, forged, 401, ("pair", "left", "bad_signature")),
        (route, body, {"Content-Type": "application/json"}, 401, ("pair", "left", "bad_signature")),
        (route, body, _signed(body, time.time() - 3600), 401, ("pair", "left", "stale")),
        (route, big, _signed(big), 413, ("pair", "left", "too_large")),
        # no Content-Length (chunked): refused as the bytes arrive, at the limit
        (route, _chunks(big), _signed(big), 413, ("pair", "left", "too_large")),
        (route, not_json, _signed(not_json), 400, ("pair", "left", "malformed")),
        (route, no_id, _signed(no_id), 400, ("pair", "left", "malformed")),
        (f"{base}/webhooks/nosuch/left", body, _signed(body), 404, ("(unknown)", "(unknown)", "not_found")),
        (f"{base}/webhooks/pair/middle", body, _signed(body), 404, ("(unknown)", "(unknown)", "not_found")),
        # the right side's spec has webhooks, but no secret is given for it
        (f"{base}/webhooks/pair/right", body, _signed(body), 404, ("pair", "right", "not_found")),
    ]
    expected: dict[tuple[str, str, str], float] = {}
    for url, content, headers, status, labels in cases:
        answer = httpx.post(url, content=content, headers=headers, timeout=10)
        assert answer.status_code == status, (url, headers, answer.text)
        expected[labels] = expected.get(labels, 0) + 1
    counts = _webhook_counts(metrics)
    assert {k: v for k, v in counts.items() if v} == expected
    assert write_requests(p.right) == []  # nothing changed on the other app
    assert "Not-Via-Forgery" not in json.dumps(p.right.store.all())
    log = d.text()
    assert marker not in log and SECRET not in log
    assert "stale" in " ".join(e.get("reason", "") for e in d.named("webhook refused"))
    assert len(d.named("webhook refused")) == len(cases)


def test_a_burst_for_one_record_is_coalesced(pair, daemon) -> None:
    p = _setup(pair)
    d, route, _ = _start(p, daemon)
    _register(d, route)
    contact = p.left.store.all()[0]
    p.right.requests.clear()  # the first cycle's creates
    # The first round's write is held until the whole burst has arrived.
    slow = p.right.faults.add(hold=True, path_prefix="/contacts", times=1)
    for i in range(60):
        p.left.store.update(contact["id"], last_name=f"Burst-{i}")
    p.left.webhooks.wait_sent()
    d.wait_for("webhook accepted", count=60)
    slow.release()
    right = lambda: by_email(p.right).get(contact["email"].lower(), {})  # noqa: E731
    _wait(lambda: right().get("last_name") == "Burst-59", "the last value of the burst")
    d.wait_for("webhook round", count=2)
    rounds = d.named("webhook round")
    assert slow.hits == 1 and len(rounds) == 2, rounds  # 60 calls: the one held, then the rest at once
    assert sum(r["records"] for r in rounds) == len(rounds)  # one record a round, however often it was named
    assert len(write_requests(p.right)) == len(rounds)


def test_a_webhook_racing_a_manual_cycle_creates_the_new_contact_once(pair, daemon) -> None:
    p = _setup(pair)
    d, route, _ = _start(p, daemon)
    _register(d, route)
    p.right.requests.clear()  # the first cycle's creates
    for i in range(2):
        email = f"racer{i}@example.com"
        # The webhook's round is creating the contact on the right (slowly) when a manual
        # cycle starts: the cycle must wait for it, or it would find the contact new too.
        slow = p.right.faults.add(delay=1.5, method="POST", path_prefix="/contacts", times=1)
        p.left.store.create({"email": email, "first_name": f"Racer {i}"})
        _wait(lambda f=slow: f.hits == 1, "the webhook round creating it on the right")
        result = d.cli("sync", "pair")
        assert result.returncode == 0, result.stderr
        _wait(lambda e=email: e in by_email(p.right), "the racer on the right")
    emails = [c["email"] for c in p.right.store.all()]
    creates = [r for r in write_requests(p.right) if r.method == "POST"]
    for i in range(2):
        assert emails.count(f"racer{i}@example.com") == 1, emails
        # one create each, never a second one (refused as a duplicate or not)
        assert sum(json.dumps(r.body).count(f"racer{i}@example.com") for r in creates) == 1, creates


def test_syncd_webhooks_exits_1_for_a_spec_that_declares_no_registration(pair) -> None:
    p: Pair = pair(left_n=1)
    spec = yaml.safe_load((REPO / "connectors.d" / "sampleapp.yaml").read_text())
    del spec["webhooks"]["register"]
    folder = p.config / "connectors.d"
    folder.mkdir(exist_ok=True)
    (folder / "sampleapp.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = p.syncd("webhooks", "pair", "register", "--url", "http://127.0.0.1:1/x")
    assert result.returncode == 1
    assert "connector 'sampleapp' declares no way to register webhooks (webhooks.register)" in result.stderr
    del spec["webhooks"]
    (folder / "sampleapp.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = p.syncd("webhooks", "pair", "list")
    assert result.returncode == 1 and "connector 'sampleapp' declares no webhooks" in result.stderr


def test_a_deleted_contact_is_deleted_on_the_other_side_by_its_webhook(pair, daemon) -> None:
    p: Pair = pair(left_n=3)
    p.daemon_settings += SETTINGS
    left = {"connector": "sampleapp", "object": "contacts",
            "settings": {"url": p.left.url, "token": "${env:LEFT_TOKEN}", "webhook_secret": "${env:WEBHOOK_SECRET}"}}
    p.write(extra={"schedule": "every 1 hour", "left": left, "deletions": {"from": "left", "then": "delete"}})
    p.left.webhooks.secret = SECRET
    d, route, _ = _start(p, daemon)
    _register(d, route)
    gone = p.left.store.all()[0]
    assert gone["email"].lower() in by_email(p.right)
    p.left.store.delete(gone["id"])  # the event carries no record to use: the round reads it, a 404
    _wait(lambda: gone["email"].lower() not in by_email(p.right), "the contact deleted on the right")
    assert len(p.right.store.all()) == 2 and len(d.named("cycle finished")) == 1


def test_the_listener_follows_a_reload_and_outlives_a_failing_round(pair, daemon) -> None:
    p = _setup(pair)
    d, route, metrics = _start(p, daemon)
    _register(d, route)
    contact = p.left.store.all()[0]
    right = lambda: by_email(p.right).get(contact["email"].lower(), {})  # noqa: E731
    # the right app refuses syncd's token for a moment: the round fails, is logged, and nothing else stops
    p.right.faults.add(status=401, path_prefix="/contacts", times=None)
    p.left.store.update(contact["id"], first_name="While-Refused")
    d.wait_for("webhook round failed: the next scheduled cycle reads these records")
    p.right.faults.clear()
    p.left.store.update(contact["id"], first_name="After-Refusal")
    _wait(lambda: right().get("first_name") == "After-Refusal", "the next webhook's change")
    # disabled by a reload: its route answers 404 at once, and nothing is synced
    file = p.config / "integrations.d" / "pair.yaml"
    file.write_text(file.read_text() + "enabled: false\n")
    assert d.cli("reload").returncode == 0
    body = json.dumps({"type": "contact.updated", "object_id": contact["id"]}).encode()
    assert httpx.post(route, content=body, headers=_signed(body), timeout=10).status_code == 404
    counts = _webhook_counts(metrics)
    assert counts[("pair", "left", "not_found")] == 1 and counts[("pair", "left", "accepted")] >= 2



def test_a_late_or_replayed_event_never_brings_back_an_older_record(pair, daemon) -> None:
    # Signed afresh (inside the replay window), but its record is older than the one syncd has.
    p = _setup(pair)
    d, route, _ = _start(p, daemon)
    contact = p.left.store.all()[0]
    before = p.left.store.get(contact["id"])
    p.left.store.update(contact["id"], first_name="Newer")
    newer = p.left.store.get(contact["id"])
    assert newer["updated_at"] > before["updated_at"]
    right = lambda: by_email(p.right).get(contact["email"].lower(), {})  # noqa: E731
    for data in (newer, before):  # the newer one arrives first, the older one late
        body = json.dumps({"type": "contact.updated", "object_id": contact["id"], "data": data}).encode()
        assert httpx.post(route, content=body, headers=_signed(body), timeout=10).status_code == 202
        d.wait_for("webhook round", count=1 if data is newer else 2)
    assert right()["first_name"] == "Newer"
    assert d.named("webhook record older than the one last read: ignored")


def test_a_note_added_to_a_contact_arrives_with_the_contacts_webhook(pair, daemon) -> None:
    # The app sends only the contact's event (a note bumps its contact): the
    # round reads that contact's notes, without waiting for a cycle.
    p: Pair = pair(left_n=3)
    p.daemon_settings += SETTINGS
    left = {"connector": "sampleapp", "object": "contacts",
            "settings": {"url": p.left.url, "token": "${env:LEFT_TOKEN}", "webhook_secret": "${env:WEBHOOK_SECRET}"}}
    notes = {"left": "notes", "right": "notes", "fields": [{"left": "body", "right": "body"}]}
    p.write(extra={"schedule": "every 1 hour", "left": left, "children": [notes]})
    p.left.webhooks.secret = SECRET
    d, route, _ = _start(p, daemon)
    _register(d, route)
    contact = p.left.store.all()[0]
    partner = by_email(p.right)[contact["email"].lower()]
    p.left.children.create("notes", contact["id"], {"body": "called, will buy"})
    _wait(lambda: [n["body"] for n in p.right.children.all("notes", partner["id"])] == ["called, will buy"],
          "the note under the partner contact on the right")
    assert len(d.named("cycle finished")) == 1  # the first one only
    # and the next scheduled view changes nothing: no duplicate
    assert d.cli("sync", "pair").returncode == 0
    assert [n["body"] for n in p.right.children.all("notes", partner["id"])] == ["called, will buy"]


def test_a_stopping_daemon_answers_503_so_the_app_sends_it_again_later(pair, daemon) -> None:
    # 503, not 404: an app retries a 5xx, and may drop a subscription that answers 404.
    p = _setup(pair)
    hang = p.left.faults.add(hold=True, method="GET", path_prefix="/cursor/contacts")  # the first cycle's read
    d: Daemon = daemon(p, env={"WEBHOOK_SECRET": SECRET})
    [started] = d.named("syncd started")
    route = f"{started['webhooks']}/webhooks/{p.name}/left"
    p.left.faults.wait_hit(hang)
    d.send(signal.SIGTERM)  # the cycle ends at its next checkpoint: the daemon stops, the listener still up
    d.wait_for("stopping: running cycles end at their next checkpoint")
    contact = p.left.store.all()[0]
    body = json.dumps({"type": "contact.updated", "object_id": contact["id"]}).encode()
    answer = httpx.post(route, content=body, headers=_signed(body), timeout=10)
    assert answer.status_code == 503, answer.text
    assert "starting or stopping" in answer.json()["error"]
    hang.release()
    assert d.proc.wait(40) == 0  # the one SIGTERM: a second would stop it at once
    d.close()
    [refused] = d.named("webhook refused")
    assert (refused["status"], refused["outcome"]) == (503, "unavailable")
    assert d.named("webhook round") == []
