"""The API budget's arithmetic: quota headers as real APIs send them, and the window."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from syncd.config import QuotaSpec
from syncd.connector import QuotaReading, Usage, read_quota, window_of

NOW = datetime(2026, 12, 6, 15, 30, tzinfo=UTC).timestamp()
MIDNIGHT = datetime(2026, 12, 6, tzinfo=UTC).timestamp()
DAY = 86400.0


def test_github_style_headers_give_used_limit_and_an_epoch_reset() -> None:
    spec = QuotaSpec(remaining_header="X-RateLimit-Remaining", limit_header="X-RateLimit-Limit",
                     reset_header="X-RateLimit-Reset", reset="epoch")
    headers = httpx.Headers({"x-ratelimit-remaining": "4990", "x-ratelimit-limit": "5000",
                             "x-ratelimit-reset": "1796570000"})
    assert read_quota(spec, headers, NOW) == QuotaReading(used=10, limit=5000, resets_at=1796570000.0)


def test_hubspot_daily_headers_need_no_reset() -> None:
    spec = QuotaSpec(remaining_header="X-HubSpot-RateLimit-Daily-Remaining", limit_header="X-HubSpot-RateLimit-Daily")
    headers = httpx.Headers({"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "249000"})
    assert read_quota(spec, headers, NOW) == QuotaReading(used=1000, limit=250000)


def test_salesforce_usage_header_gives_used_and_limit_in_one_value() -> None:
    spec = QuotaSpec(used_header="Sforce-Limit-Info")
    assert read_quota(spec, httpx.Headers({"Sforce-Limit-Info": "api-usage=25/15000"}), NOW) == \
        QuotaReading(used=25, limit=15000)
    # the daily figure comes first; the burst one after it is not the budget
    both = httpx.Headers({"Sforce-Limit-Info": "api-usage=10018/100000; api-bursts=1/750"})
    assert read_quota(spec, both, NOW) == QuotaReading(used=10018, limit=100000)


def test_a_reset_in_seconds_counts_from_now_and_an_ietf_policy_suffix_is_ignored() -> None:
    spec = QuotaSpec(remaining_header="RateLimit-Remaining", limit_header="RateLimit-Limit",
                     reset_header="RateLimit-Reset")
    headers = httpx.Headers({"RateLimit-Limit": "100;w=60", "RateLimit-Remaining": "40", "RateLimit-Reset": "30"})
    assert read_quota(spec, headers, NOW) == QuotaReading(used=60, limit=100, resets_at=NOW + 30)


def test_absent_or_garbled_headers_are_no_reading() -> None:
    spec = QuotaSpec(remaining_header="X-RateLimit-Remaining", limit_header="X-RateLimit-Limit")
    assert read_quota(spec, httpx.Headers({}), NOW) is None
    assert read_quota(spec, httpx.Headers({"X-RateLimit-Limit": "lots"}), NOW) is None
    # remaining without a limit says nothing of what was used
    assert read_quota(spec, httpx.Headers({"X-RateLimit-Remaining": "3"}), NOW) is None
    assert read_quota(QuotaSpec(), httpx.Headers({"X-RateLimit-Limit": "5"}), NOW) is None


def test_a_days_window_runs_from_utc_midnight_to_midnight() -> None:
    assert window_of(NOW, DAY) == (MIDNIGHT, MIDNIGHT + DAY)
    assert window_of(MIDNIGHT, DAY) == (MIDNIGHT, MIDNIGHT + DAY)
    assert window_of(NOW, 3600.0) == (MIDNIGHT + 15 * 3600, MIDNIGHT + 16 * 3600)


def test_own_requests_count_until_the_window_rolls_over() -> None:
    spec = QuotaSpec()
    usage = Usage.new("app@http://x#1", "app", spec, NOW)
    for _ in range(3):
        usage.count(spec, NOW, None)
    assert (usage.total, usage.source, usage.percent(10)) == (3, "syncd", 30.0)
    assert usage.roll(spec, MIDNIGHT + DAY - 1) is False
    assert usage.roll(spec, MIDNIGHT + DAY) is True
    assert (usage.total, usage.window_start, usage.window_end) == (0, MIDNIGHT + DAY, MIDNIGHT + 2 * DAY)


def test_the_api_wins_when_it_says_more_was_used_and_its_limit_is_the_budget() -> None:
    spec = QuotaSpec(remaining_header="R", limit_header="L", reset_header="T")
    usage = Usage.new("app@http://x#1", "app", spec, NOW)
    usage.count(spec, NOW, QuotaReading(used=70, limit=200, resets_at=NOW + 60))
    assert (usage.total, usage.source, usage.percent(1000), usage.window_end) == (70, "api", 35.0, NOW + 60)
    # the API says less than syncd counted (it counts lazily): our count holds
    usage.used = 90
    usage.count(spec, NOW + 1, QuotaReading(used=5, limit=200))
    assert (usage.total, usage.source) == (91, "syncd")
    # past the API's reset: a new window, counted from nothing
    usage.count(spec, NOW + 61, None)
    assert (usage.total, usage.api_used, usage.percent(None)) == (1, None, 0.5)


def test_without_any_limit_there_is_no_percentage() -> None:
    spec = QuotaSpec()
    usage = Usage.new("app@http://x#1", "app", spec, NOW)
    usage.count(spec, NOW, None)
    assert usage.percent(None) is None


def test_a_usage_pattern_reads_named_figures_from_one_combined_header() -> None:
    pattern = re.compile(r"api-usage=(?P<used>[0-9]+)/(?P<limit>[0-9]+)")
    spec = QuotaSpec(usage_header="Sforce-Limit-Info", usage_pattern=pattern)
    both = httpx.Headers({"Sforce-Limit-Info": "api-bursts=1/750; api-usage=10018/100000"})
    assert read_quota(spec, both, NOW) == QuotaReading(used=10018, limit=100000)
    # remaining and limit, in another vendor's words; the separate limit header loses to it
    left = QuotaSpec(usage_header="X-Quota", limit_header="X-Limit",
                     usage_pattern=re.compile(r"left (?P<remaining>\d+) of (?P<limit>\d+)"))
    headers = httpx.Headers({"X-Quota": "left 40 of 100", "X-Limit": "7"})
    assert read_quota(left, headers, NOW) == QuotaReading(used=60, limit=100)
    assert read_quota(spec, httpx.Headers({"Sforce-Limit-Info": "api-usage=many"}), NOW) is None
