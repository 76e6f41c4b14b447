"""``syncd status``'s budget lines, from a status entry as the daemon gives it."""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.cli._status import budget_lines

MIDNIGHT = datetime(2026, 12, 7, tzinfo=UTC).timestamp()


def test_a_line_per_account_then_why_it_is_paused() -> None:
    entry = {
        "budget": [
            {"account": "hubspot@https://api.hubapi.com#ab12", "connector": "hubspot", "used": 212500,
             "limit": 250000, "percent": 85.0, "window_resets_at": MIDNIGHT, "source": "api"},
            {"account": "mailchimp@https://us1.api.mailchimp.com#cd34", "connector": "mailchimp", "used": 12,
             "limit": None, "percent": None, "window_resets_at": MIDNIGHT, "source": "syncd"},
        ],
        "paused": "API budget of hubspot at 85% (scheduled cycles run below 80%) until 00:00 UTC",
    }
    assert budget_lines(entry) == [
        "API budget hubspot@https://api.hubapi.com#ab12: 212500 of 250000 requests (85%), as the API reports; "
        "resets 2026-12-07 00:00:00 UTC",
        "API budget mailchimp@https://us1.api.mailchimp.com#cd34: 12 requests (no limit); "
        "resets 2026-12-07 00:00:00 UTC",
        "paused: API budget of hubspot at 85% (scheduled cycles run below 80%) until 00:00 UTC",
    ]


def test_an_entry_without_the_keys_has_no_lines() -> None:
    assert budget_lines({"name": "pair"}) == []
    assert budget_lines({"budget": [], "paused": None}) == []
