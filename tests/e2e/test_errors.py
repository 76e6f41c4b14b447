"""``syncd errors``: what could not be synced and why, retried by an operator,
and the automatic retries that back off and then wait for one.

The right-hand app refuses to create one contact with a 422 and a message
of its own, as a real API's validation does; the operator reads that cause
in ``syncd errors``, the app is fixed, and ``--retry``/``--retry-all``
bring the contact over, once. Both with a daemon (asked over its control
socket) and without one (the state store read, the retry run here).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from e2e_support import Pair, by_email, duplicates, emails, write_requests

from syncd.sampleapp import SampleApp

REFUSAL = "email address is on the suppression list"
NO_BACKOFF = {"record_retries": {"backoff_initial": 0}}


def refuse_creates_of(app: SampleApp, *victims: str) -> None:
    """The app answers 422 with :data:`REFUSAL` to a create of any of these
    emails (alone; a batch holding one is refused as a whole, as HubSpot's
    validation does, and syncd then sends its records one by one)."""
    from syncd.sampleapp._http import ApiError  # the app's own "answer with an error"

    store = app.store
    create, create_many = store.create, store.create_many
    refused = {v.lower() for v in victims}

    def refuses(records: list[dict[str, Any]]) -> bool:
        return any(str(r.get("email", "")).lower() in refused for r in records)

    def checked_create(record: dict[str, Any]) -> dict[str, Any]:
        if refuses([record]):
            raise ApiError(422, REFUSAL)
        return create(record)

    def checked_create_many(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if refuses(records):
            raise ApiError(422, REFUSAL)
        return create_many(records)

    # on the instance: heal() takes them away again
    setattr(store, "create", checked_create)
    setattr(store, "create_many", checked_create_many)


def heal(app: SampleApp) -> None:
    for name in ("create", "create_many"):
        app.store.__dict__.pop(name, None)  # back to the class's methods


def errors_json(result: Any) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stdout + result.stderr
    errors: list[dict[str, Any]] = json.loads(result.stdout)
    return errors


def left_id(p: Pair, email: str) -> str:
    return str(by_email(p.left)[email]["id"])


def test_without_a_daemon_an_error_shows_its_cause_waits_its_turn_and_retry_all_clears_it(pair) -> None:
    p = pair(left_n=5)
    victim = emails(p.left)[2]
    refuse_creates_of(p.right, victim)
    run = p.run()
    assert run.returncode == 3, run.stdout + run.stderr
    assert len(emails(p.right)) == 4

    [error] = errors_json(p.syncd("errors", "pair", "--json"))
    assert error["http_status"] == 422 and REFUSAL in error["message"]
    assert (error["operation"], error["side"], error["origin"]) == ("create", "right", "once")
    assert error["record_id"] == left_id(p, victim) and error["match_key"] == victim
    assert (error["attempts"], error["state"]) == (1, "retrying")
    assert error["next_retry_at"] > error["at"]  # a minute later, by default
    text = p.syncd("errors", "pair")
    assert text.returncode == 0 and f"#{error['id']}" in text.stdout and REFUSAL in text.stdout
    assert "HTTP 422" in text.stdout and victim in text.stdout
    status = p.syncd("status", "--json")  # without a daemon: as the state store has it
    [entry] = json.loads(status.stdout)["integrations"]
    assert (entry["open_errors"], entry["conflicts"]) == (1, 0)
    assert entry["errors_preview"][0]["id"] == error["id"]
    assert "open errors 1 (newest: #" in p.syncd("status").stdout

    # The next cycle leaves it alone: its retry is not due yet.
    p.clear_requests()
    run = p.run()
    assert run.returncode == 3 and run.summary is not None
    assert (run.summary["errors"], run.summary["retry_later"]) == (0, 1)
    assert write_requests(p.right) == []

    heal(p.right)
    retried = p.syncd("errors", "pair", "--retry-all")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "synced, the error is resolved" in retried.stdout and "0 open errors left" in retried.stdout
    assert emails(p.right) == emails(p.left) and duplicates(p.right) == []
    assert errors_json(p.syncd("errors", "pair", "--json")) == []
    p.clear_requests()
    assert p.once()["created"] == {"left": 0, "right": 0}  # in step: nothing is created twice
    assert write_requests(p.left, p.right) == []


def test_a_cycle_after_the_app_is_fixed_resolves_the_error(pair) -> None:
    # A failed write's error is keyed by the record it came from: the
    # cycle that finally writes it must resolve it (it used to stay open).
    p = pair(left_n=3, extra=NO_BACKOFF)
    victim = emails(p.left)[0]
    refuse_creates_of(p.right, victim)
    assert p.run().returncode == 3
    heal(p.right)
    assert p.once()["created"]["right"] == 1
    assert errors_json(p.syncd("errors", "pair", "--json")) == []


def test_a_retry_that_fails_again_keeps_the_error_with_the_new_count_and_exits_3(pair) -> None:
    p = pair(left_n=3)
    victim = emails(p.left)[1]
    refuse_creates_of(p.right, victim)
    assert p.run().returncode == 3
    [error] = errors_json(p.syncd("errors", "pair", "--json"))
    again = p.syncd("errors", "pair", "--retry", str(error["id"]), "--json")
    assert again.returncode == 3, again.stdout + again.stderr
    [result] = json.loads(again.stdout)
    assert result["ok"] is False and REFUSAL in result["message"]
    assert result["error"]["attempts"] == 2 and result["error"]["origin"] == "retry"
    [still] = errors_json(p.syncd("errors", "pair", "--json"))
    assert (still["id"], still["attempts"], still["origin"]) == (error["id"], 2, "retry")


def test_automatic_retries_stop_after_the_attempts_and_the_error_waits_for_an_operator(pair) -> None:
    p = pair(left_n=3, extra={"record_retries": {"attempts": 3, "backoff_initial": 0}})
    victim = emails(p.left)[0]
    refuse_creates_of(p.right, victim)
    for attempt in (1, 2, 3):
        run = p.run()
        assert run.returncode == 3 and run.summary is not None
        assert run.summary["errors"] == 1, (attempt, run.summary)
    [error] = errors_json(p.syncd("errors", "pair", "--json"))
    assert (error["attempts"], error["state"], error["next_retry_at"]) == (3, "waiting", None)
    assert f"waits for an operator: syncd errors pair --retry {error['id']}" in p.syncd("errors", "pair").stdout

    p.clear_requests()
    run = p.run()
    assert run.returncode == 3 and run.summary is not None  # still not synced: cron sees it
    assert (run.summary["errors"], run.summary["waiting_for_operator"]) == (0, 1)
    assert "waiting for an operator 1 (syncd errors pair --retry-all)" in p.syncd("once").stdout
    assert write_requests(p.right) == []

    # Changed at its source, the record is tried again at once (the data may be fixed).
    p.left.store.update(by_email(p.left)[victim]["id"], first_name="Fixed")
    run = p.run()
    assert run.summary is not None and run.summary["errors"] == 1
    assert write_requests(p.right) != []


def test_with_a_daemon_errors_are_asked_of_it_and_retried_one_by_one(pair, daemon) -> None:
    p = pair(left_n=6, extra={"schedule": "every 1 hour"})
    first, second = emails(p.left)[1], emails(p.left)[4]
    refuse_creates_of(p.right, first, second)
    d = daemon(p)
    d.wait_for("cycle finished")
    errors = errors_json(d.cli("errors", "pair", "--json"))
    assert sorted(e["match_key"] for e in errors) == sorted([first, second])
    assert {(e["http_status"], e["origin"]) for e in errors} == {(422, "scheduled")}
    entry = d.integration("pair")
    assert entry["open_errors"] == 2 and entry["conflicts"] == 0
    assert {e["id"] for e in entry["errors_preview"]} == {e["id"] for e in errors}
    assert all(REFUSAL in e["message"] and e["http_status"] == 422 for e in entry["errors_preview"])

    by_key = {e["match_key"]: e for e in errors}
    heal(p.right)
    one = d.cli("errors", "pair", "--retry", str(by_key[first]["id"]))
    assert one.returncode == 0, one.stdout + one.stderr
    assert first in emails(p.right) and second not in emails(p.right)
    assert [e["match_key"] for e in errors_json(d.cli("errors", "pair", "--json"))] == [second]
    assert d.named("record retried", ok=True)  # the daemon did it, not the command

    rest = d.cli("errors", "pair", "--retry-all", "--json")
    assert rest.returncode == 0, rest.stdout + rest.stderr
    assert [r["ok"] for r in json.loads(rest.stdout)] == [True]
    assert emails(p.right) == emails(p.left) and duplicates(p.right) == []
    assert d.integration("pair")["open_errors"] == 0


def test_an_unknown_integration_or_error_id_is_a_clear_usage_error(pair, daemon) -> None:
    p = pair(left_n=2, extra={"schedule": "every 1 hour"})
    for ask in (p.syncd, daemon(p).cli):  # without a daemon, then with one
        unknown = ask("errors", "nope")
        assert unknown.returncode == 2, unknown.stdout + unknown.stderr
        assert "no integration 'nope'" in unknown.stderr and "pair" in unknown.stderr
        assert "Traceback" not in unknown.stderr
        no_id = ask("errors", "pair", "--retry", "987654")
        assert no_id.returncode == 2, no_id.stdout + no_id.stderr
        assert "no open error 987654 in integration 'pair'" in no_id.stderr
        assert "Traceback" not in no_id.stderr


def test_a_retry_asked_during_a_cycle_waits_for_it_to_end(pair, daemon) -> None:
    p = pair(left_n=3, extra={"schedule": "every 2 seconds"})
    victim = emails(p.left)[0]
    refuse_creates_of(p.right, victim)
    d = daemon(p)
    d.wait_for("cycle finished")
    heal(p.right)
    # The next cycle hangs in its read of the left app while the retry is asked.
    slow = p.left.faults.add(hold=True, method="GET", path_prefix="/cursor/contacts")
    p.left.faults.wait_hit(slow, timeout=20)
    with ThreadPoolExecutor(1) as pool:
        retrying = pool.submit(d.cli, "errors", "pair", "--retry-all")
        d.wait_for("retry waits for the running cycle", integration="pair")
        slow.release()
        retried = retrying.result()
    assert retried.returncode == 0, retried.stdout + retried.stderr
    events = [e["event"] for e in d.events() if e.get("event") in ("cycle finished", "record retried")]
    assert events[:3] == ["cycle finished", "cycle finished", "record retried"], events
    assert emails(p.right) == emails(p.left) and duplicates(p.right) == []
