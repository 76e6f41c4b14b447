"""The sample app's quota headers: every request counts, whoever sends it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import httpx

from syncd.sampleapp import Quota, SampleApp


def test_without_a_quota_no_header_is_sent(sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=3)
    assert "X-RateLimit-Limit" not in httpx.get(app.url + "/all/contacts").headers


def test_each_request_spends_one_and_health_checks_are_free(sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=3, quota=Quota(10, window=3600))
    assert "X-RateLimit-Remaining" not in httpx.get(app.url + "/_health").headers
    with httpx.Client(base_url=app.url) as client:
        answers = [client.get("/all/contacts") for _ in range(3)]
        missing = client.get("/contacts/nobody")  # an error answer counts too
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["9", "8", "7"]
    assert (missing.status_code, missing.headers["X-RateLimit-Remaining"]) == (404, "6")
    assert answers[0].headers["X-RateLimit-Limit"] == "10"
    assert 1 <= int(answers[0].headers["X-RateLimit-Reset"]) <= 3600


def test_a_window_rolls_over_at_its_multiple_of_the_epoch() -> None:
    quota = Quota(5, window=60)
    start = 1_800_000_000 - 1_800_000_000 % 60
    assert dict(quota.spend(start + 10))["X-RateLimit-Reset"] == "50"
    assert dict(quota.spend(start + 59.5))["X-RateLimit-Remaining"] == "3"
    after = dict(quota.spend(start + 60))
    assert (after["X-RateLimit-Remaining"], after["X-RateLimit-Reset"]) == ("4", "60")
    for _ in range(6):
        last = dict(quota.spend(start + 61))
    assert last["X-RateLimit-Remaining"] == "0"  # never below nothing


def test_the_command_line_refuses_a_quota_below_one() -> None:
    proc = subprocess.run([sys.executable, "-m", "syncd.sampleapp", "--quota", "0"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "--quota: 0: must be at least 1" in proc.stderr
