"""``syncd conflicts``: a field changed on both sides is settled by the
integration's policy, and the operator sees both values, the winner and the
rule, newest first; from the state store, or from the running daemon."""

from __future__ import annotations

import json
from typing import Any

from e2e_support import Pair, by_email, emails


def change_on_both_sides(p: Pair, email: str, left_name: str, right_name: str) -> None:
    """The left app first, then the right one: by `newest_wins`, the right wins."""
    left = p.left.store.update(by_email(p.left)[email]["id"], first_name=left_name)
    # The apps have clocks of their own; move the right's past the left's change.
    while p.right.store.now() <= left["updated_at"]:
        pass
    p.right.store.update(by_email(p.right)[email]["id"], first_name=right_name)


def conflicts_json(result: Any) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stdout + result.stderr
    listed: list[dict[str, Any]] = json.loads(result.stdout)
    return listed


def test_without_a_daemon_the_conflicts_are_listed_newest_first_with_both_values(pair) -> None:
    p = pair(left_n=4)
    assert conflicts_json(p.syncd("conflicts", "pair", "--json")) == []
    p.once()
    first, second = emails(p.left)[0], emails(p.left)[3]
    change_on_both_sides(p, first, "Ann", "Anna")
    assert p.once()["conflicts"] == 1
    change_on_both_sides(p, second, "Bob", "Robert")
    assert p.once()["conflicts"] == 1

    newest, oldest = conflicts_json(p.syncd("conflicts", "pair", "--json"))
    assert (newest["left_value"], newest["right_value"], newest["winner"]) == ("Bob", "Robert", "right")
    assert (oldest["left_value"], oldest["right_value"], oldest["winner"]) == ("Ann", "Anna", "right")
    assert newest["rule"] == "newest_wins" and newest["field"] == "first_name -> first_name"
    assert newest["left_id"] == str(by_email(p.left)[second]["id"])
    assert newest["right_id"] == str(by_email(p.right)[second]["id"])
    [only] = conflicts_json(p.syncd("conflicts", "pair", "--json", "--limit", "1"))
    assert only == newest
    text = p.syncd("conflicts", "pair")
    assert text.returncode == 0
    assert '"Bob", right "Robert"; right won (newest_wins)' in text.stdout
    assert text.stdout.index("Robert") < text.stdout.index("Anna")


def test_with_a_daemon_the_conflicts_are_asked_of_it_and_counted_in_its_status(pair, daemon) -> None:
    p = pair(left_n=3, extra={"schedule": "every 1 second"})
    d = daemon(p)
    d.wait_for("cycle finished")
    email = emails(p.left)[1]
    change_on_both_sides(p, email, "Left", "Right")
    d.wait_until(lambda: d.integration("pair").get("conflicts") == 1, what="the conflict settled")
    [conflict] = conflicts_json(d.cli("conflicts", "pair", "--json"))
    assert (conflict["left_value"], conflict["right_value"], conflict["winner"]) == ("Left", "Right", "right")
    assert by_email(p.left)[email]["first_name"] == "Right"


def test_an_unknown_integration_or_a_bad_limit_is_a_clear_usage_error(pair, daemon) -> None:
    p = pair(left_n=1, extra={"schedule": "every 1 hour"})
    for ask in (p.syncd, daemon(p).cli):  # without a daemon, then with one
        unknown = ask("conflicts", "nope")
        assert unknown.returncode == 2 and "no integration 'nope'" in unknown.stderr, unknown.stderr
        assert "Traceback" not in unknown.stderr
    bad = p.syncd("conflicts", "pair", "--limit", "0")
    assert bad.returncode == 2 and "--limit: must be a whole number of at least 1" in bad.stderr
