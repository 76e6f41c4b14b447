"""next_run: when each integration's next cycle is due; on_tick: when it starts."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from syncd.config import Schedule, parse_schedule
from syncd.daemon._schedule import (
    CRON_JITTER_SECONDS,
    FIRST_RUN_SPREAD_SECONDS,
    TICK_FRACTION,
    TICK_SECONDS,
    jitter_for,
    next_run,
    on_tick,
    resume_from,
    tick_for,
)

NEW_YORK = "America/New_York"
EVERY_5_MINUTES = Schedule("every 5 minutes", interval_seconds=300.0)
EVERY_3_SECONDS = Schedule("every 3 seconds", interval_seconds=3.0)
EVERY_DAY = Schedule("every 1 day", interval_seconds=86400.0)
NOW = 1_700_000_000.0


def _cron(expr: str) -> Schedule:
    return parse_schedule(expr)


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[ZoneInfo]:
    """The process's local time zone is New York for the test."""
    try:
        zone = ZoneInfo(NEW_YORK)
    except ZoneInfoNotFoundError:  # pragma: no cover - a host without tzdata
        pytest.skip("no tz database")
    monkeypatch.setenv("TZ", NEW_YORK)
    time.tzset()
    yield zone
    monkeypatch.undo()
    time.tzset()


def _at(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int, second: int = 0,
        *, fold: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=zone, fold=fold).timestamp()


# --- jitter -----------------------------------------------------------------------


def test_jitter_is_a_stable_fraction_per_name() -> None:
    fractions = [jitter_for(f"integration-{i}") for i in range(1000)]
    assert all(0.0 <= f < 1.0 for f in fractions)
    assert fractions == [jitter_for(f"integration-{i}") for i in range(1000)]
    assert len(set(fractions)) == 1000
    # Spread, not clustered: every tenth of [0, 1) gets some.
    assert {int(f * 10) for f in fractions} == set(range(10))


def test_jitter_outside_0_1_is_refused() -> None:
    for bad in (-0.1, 1.0, 2.0):
        with pytest.raises(ValueError, match="jitter must be in"):
            next_run(EVERY_5_MINUTES, last_start=None, now=NOW, jitter=bad)


# --- interval schedules ------------------------------------------------------------


def test_interval_first_run_is_now_without_jitter() -> None:
    assert next_run(EVERY_5_MINUTES, last_start=None, now=NOW) == NOW


def test_interval_first_runs_spread_over_ten_seconds() -> None:
    due = [next_run(EVERY_5_MINUTES, last_start=None, now=NOW, jitter=jitter_for(f"i{i}"))
           for i in range(1000)]
    assert all(NOW <= d < NOW + FIRST_RUN_SPREAD_SECONDS for d in due)
    assert max(due) - min(due) > 9.0
    # No millisecond holds more than a handful of the 1,000.
    per_ms: dict[int, int] = {}
    for d in due:
        per_ms[int((d - NOW) * 1000)] = per_ms.get(int((d - NOW) * 1000), 0) + 1
    assert max(per_ms.values()) <= 5


def test_interval_first_run_spread_is_within_a_short_interval() -> None:
    assert NOW <= next_run(EVERY_3_SECONDS, last_start=None, now=NOW, jitter=0.999) < NOW + 3.0


def _slot(schedule: Schedule, jitter: float, after: float) -> float:
    """The integration's first slot at or after *after*: ``jitter * interval`` past a multiple."""
    interval = schedule.interval_seconds
    assert interval is not None
    k = math.ceil((after - jitter * interval) / interval)
    return jitter * interval + k * interval


def _on_slot(schedule: Schedule, jitter: float, t: float) -> bool:
    interval = schedule.interval_seconds
    assert interval is not None
    return (t - jitter * interval) / interval == pytest.approx(round((t - jitter * interval) / interval), abs=1e-9)


def test_a_run_on_its_slot_is_followed_by_the_next_slot() -> None:
    for schedule in (EVERY_5_MINUTES, EVERY_3_SECONDS, EVERY_DAY):
        interval = schedule.interval_seconds
        assert interval is not None
        for jitter in (0.0, 0.25, 0.999):
            slot = _slot(schedule, jitter, NOW)
            # Started on time, or late (the tick, a busy loop) by up to just under half an interval:
            # the next run is the next slot, exactly one interval after this one's.
            for late in (0.0, 0.001, 0.49 * interval):
                due = next_run(schedule, last_start=slot + late, now=slot + late + 0.01 * interval,
                               jitter=jitter)
                assert due == pytest.approx(slot + interval)


def test_a_run_off_its_slot_moves_the_next_to_the_nearest_slot() -> None:
    # The first run at start-up, a webhook's, `syncd sync`'s: the next one is on the slot, at
    # most half an interval nearer or further than an interval later.
    for jitter in (0.0, 0.1, 0.5, 0.9):
        for off in range(0, 300, 7):
            last = NOW + off
            due = next_run(EVERY_5_MINUTES, last_start=last, now=last + 1.0, jitter=jitter)
            assert _on_slot(EVERY_5_MINUTES, jitter, due)
            assert last + 150.0 <= due <= last + 450.0


def test_integrations_started_together_spread_over_the_whole_interval_from_their_second_run() -> None:
    # 1,000 integrations every minute, started at once: their first runs fall in the first
    # 10 s; from the second one on, each runs on its own slot, all over the minute.
    schedule = parse_schedule("every 1 minute")
    tick = tick_for(schedule)
    second: list[float] = []
    for i in range(1000):
        jitter = jitter_for(f"integration-{i}")
        first = next_run(schedule, last_start=None, now=NOW, jitter=jitter)
        second.append(on_tick(next_run(schedule, last_start=first, now=first + 0.2, jitter=jitter), tick))
    per_6_s = [0] * 10
    per_tick: dict[float, int] = {}
    for t in second:
        per_6_s[int((t % 60.0) // 6.0)] += 1
        per_tick[t] = per_tick.get(t, 0) + 1
    assert min(per_6_s) >= 60 and max(per_6_s) <= 140, per_6_s  # 100 each on average
    assert max(per_tick.values()) <= 25  # about 8 a tick: they still start together
    assert all(NOW + 30.0 <= t <= NOW + 10.0 + 90.0 + tick for t in second)


def test_overrun_runs_now_not_a_burst_of_catch_up_runs() -> None:
    # The cycle that started at NOW took 17 minutes: 3 intervals were missed.
    for jitter in (0.0, 0.9):
        assert next_run(EVERY_5_MINUTES, last_start=NOW, now=NOW + 1020.0, jitter=jitter) == NOW + 1020.0
        assert next_run(EVERY_5_MINUTES, last_start=NOW, now=NOW + 300.0, jitter=jitter) == NOW + 300.0


def test_the_next_slot_is_never_before_now() -> None:
    # A cycle that started off its slot and ran long: the nearest slot is already past.
    slot = _slot(EVERY_5_MINUTES, 0.5, NOW)
    assert next_run(EVERY_5_MINUTES, last_start=slot - 200.0, now=slot + 50.0, jitter=0.5) == slot + 50.0


def test_clock_set_back_waits_at_most_one_and_a_half_intervals() -> None:
    for jitter in (0.0, 0.3, 0.7):
        now = NOW - 86400.0
        due = next_run(EVERY_5_MINUTES, last_start=NOW, now=now, jitter=jitter)
        assert now + 150.0 <= due <= now + 450.0
        assert _on_slot(EVERY_5_MINUTES, jitter, due)


def test_a_restarted_daemon_goes_on_from_a_recent_cycle_on_its_slot() -> None:
    """A daemon restarted a minute after a cycle of an every-5-minutes
    integration runs the next one on its slot, not in its first seconds."""
    jitter = 0.3
    last = 1_700_000_000.0 - 1_700_000_000.0 % 300 + 0.3 * 300  # on its slot
    now = last + 60  # restarted a minute later
    for outcome in ("ok", "errors"):
        start = resume_from(EVERY_5_MINUTES, last_start=last, last_outcome=outcome, now=now)
        assert start == last
        assert next_run(EVERY_5_MINUTES, last_start=start, now=now, jitter=jitter) == last + 300
    # A last cycle off its slot (a webhook's): the slot nearest an interval after it.
    off_slot = last - 100
    start = resume_from(EVERY_5_MINUTES, last_start=off_slot, last_outcome="ok", now=now)
    assert next_run(EVERY_5_MINUTES, last_start=start, now=now, jitter=jitter) == last + 300


def test_a_restarted_daemon_runs_soon_what_is_overdue_cut_short_or_failed() -> None:
    last = NOW - 120
    assert resume_from(EVERY_5_MINUTES, last_start=NOW - 300, last_outcome="ok", now=NOW) is None  # slot passed
    assert resume_from(EVERY_5_MINUTES, last_start=NOW - 3600, last_outcome="ok", now=NOW) is None
    for outcome in ("stopped", "aborted", "failed", None):  # None: never ran
        assert resume_from(EVERY_5_MINUTES, last_start=last, last_outcome=outcome, now=NOW) is None
    assert resume_from(EVERY_5_MINUTES, last_start=None, last_outcome=None, now=NOW) is None
    assert resume_from(EVERY_5_MINUTES, last_start=NOW + 60, last_outcome="ok", now=NOW) is None  # clock went back
    assert resume_from(_cron("*/5 * * * *"), last_start=last, last_outcome="ok", now=NOW) is None
    # None is a first run: spread over the first seconds.
    assert NOW <= next_run(EVERY_5_MINUTES, last_start=None, now=NOW, jitter=0.99) < NOW + FIRST_RUN_SPREAD_SECONDS


def test_a_schedule_without_interval_or_cron_is_refused() -> None:
    with pytest.raises(ValueError, match="neither"):
        next_run(Schedule("nothing"), last_start=None, now=NOW)


# --- cron schedules ----------------------------------------------------------------


def test_cron_every_5_minutes(new_york: ZoneInfo) -> None:
    now = _at(new_york, 2024, 5, 14, 10, 2, 30)
    assert next_run(_cron("*/5 * * * *"), last_start=None, now=now) == _at(new_york, 2024, 5, 14, 10, 5)


def test_cron_next_is_strictly_after_now(new_york: ZoneInfo) -> None:
    on_the_dot = _at(new_york, 2024, 5, 14, 10, 5)
    assert next_run(_cron("*/5 * * * *"), last_start=None, now=on_the_dot) == _at(new_york, 2024, 5, 14, 10, 10)
    just_before = on_the_dot - 0.001
    assert next_run(_cron("*/5 * * * *"), last_start=None, now=just_before) == on_the_dot


def test_cron_weekdays_skip_the_weekend(new_york: ZoneInfo) -> None:
    friday_noon = _at(new_york, 2024, 5, 17, 12, 0)
    monday_9 = _at(new_york, 2024, 5, 20, 9, 0)
    weekdays = _cron("0 9 * * mon-fri")
    assert next_run(weekdays, last_start=None, now=friday_noon) == monday_9
    assert next_run(weekdays, last_start=friday_noon, now=_at(new_york, 2024, 5, 18, 9, 0)) == monday_9


def test_cron_is_in_local_time(new_york: ZoneInfo) -> None:
    # 09:00 in New York in May is 13:00 UTC.
    due = next_run(_cron("0 9 * * *"), last_start=None, now=_at(new_york, 2024, 5, 14, 0, 0))
    assert due == datetime.fromisoformat("2024-05-14T13:00:00+00:00").timestamp()


def test_cron_shorthand(new_york: ZoneInfo) -> None:
    now = _at(new_york, 2024, 5, 14, 10, 2)
    assert next_run(_cron("@daily"), last_start=None, now=now) == _at(new_york, 2024, 5, 15, 0, 0)
    assert next_run(_cron("@hourly"), last_start=None, now=now) == _at(new_york, 2024, 5, 14, 11, 0)


def test_cron_jitter_is_a_few_seconds_at_most(new_york: ZoneInfo) -> None:
    now = _at(new_york, 2024, 5, 14, 10, 2)
    slot = _at(new_york, 2024, 5, 14, 10, 5)
    due = [next_run(_cron("*/5 * * * *"), last_start=None, now=now, jitter=jitter_for(f"i{i}"))
           for i in range(1000)]
    assert all(slot <= d < slot + CRON_JITTER_SECONDS for d in due)
    assert max(due) - min(due) > CRON_JITTER_SECONDS * 0.9
    assert due == [next_run(_cron("*/5 * * * *"), last_start=None, now=now, jitter=jitter_for(f"i{i}"))
                   for i in range(1000)]


def test_cron_after_its_jittered_run_moves_to_the_next_slot(new_york: ZoneInfo) -> None:
    schedule, j = _cron("*/5 * * * *"), 0.6
    first = next_run(schedule, last_start=None, now=_at(new_york, 2024, 5, 14, 10, 2), jitter=j)
    second = next_run(schedule, last_start=first, now=first + 0.5, jitter=j)
    assert second - first == 300.0


def test_cron_overrun_skips_missed_times(new_york: ZoneInfo) -> None:
    started = _at(new_york, 2024, 5, 14, 10, 5)
    ended = _at(new_york, 2024, 5, 14, 10, 17)
    assert next_run(_cron("*/5 * * * *"), last_start=started, now=ended) == _at(new_york, 2024, 5, 14, 10, 20)


# --- daylight saving (New York: 2024-03-10 02:00 -> 03:00, 2024-11-03 02:00 -> 01:00) ---


def test_dst_fixed_time_in_the_skipped_hour_runs_after_the_jump(new_york: ZoneInfo) -> None:
    due = next_run(_cron("30 2 * * *"), last_start=None, now=_at(new_york, 2024, 3, 10, 1, 0))
    assert due == _at(new_york, 2024, 3, 10, 3, 0)


def test_dst_every_30_minutes_across_the_skipped_hour(new_york: ZoneInfo) -> None:
    due = next_run(_cron("*/30 * * * *"), last_start=None, now=_at(new_york, 2024, 3, 10, 1, 40))
    assert due == _at(new_york, 2024, 3, 10, 3, 0)
    assert due - _at(new_york, 2024, 3, 10, 1, 40) == 20 * 60


def test_dst_fixed_time_in_the_repeated_hour_runs_once(new_york: ZoneInfo) -> None:
    daily = _cron("30 1 * * *")
    first = next_run(daily, last_start=None, now=_at(new_york, 2024, 11, 3, 0, 0))
    assert first == _at(new_york, 2024, 11, 3, 1, 30, fold=0)  # 01:30 EDT
    again = next_run(daily, last_start=first, now=first + 1.0)
    assert again == _at(new_york, 2024, 11, 4, 1, 30)  # not 01:30 EST an hour later
    # Asked during the second 01:xx (EST), still not today again.
    second_pass = _at(new_york, 2024, 11, 3, 1, 10, fold=1)
    assert next_run(daily, last_start=None, now=second_pass) == _at(new_york, 2024, 11, 4, 1, 30)


def test_dst_every_30_minutes_runs_in_both_passes_of_the_repeated_hour(new_york: ZoneInfo) -> None:
    half_hourly = _cron("*/30 * * * *")
    now = _at(new_york, 2024, 11, 3, 1, 40, fold=0)  # 01:40 EDT
    due = next_run(half_hourly, last_start=None, now=now)
    assert due == _at(new_york, 2024, 11, 3, 1, 0, fold=1)  # 01:00 EST, 20 minutes later
    assert due - now == 20 * 60
    assert next_run(half_hourly, last_start=due, now=due + 1) - due == 30 * 60


def test_posix_tz_rule_without_a_zone_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TZ rule string zoneinfo cannot load: naive local times via the C library."""
    monkeypatch.setenv("TZ", "EST5EDT,M3.2.0,M11.1.0")
    time.tzset()
    try:
        friday_noon = datetime(2024, 5, 17, 12, 0).timestamp()
        due = next_run(_cron("0 9 * * mon-fri"), last_start=None, now=friday_noon)
        assert datetime.fromtimestamp(due) == datetime(2024, 5, 20, 9, 0)
        assert due == datetime.fromisoformat("2024-05-20T13:00:00+00:00").timestamp()
        # The repeated hour: a fixed-time job still runs once.
        first = datetime(2024, 11, 3, 1, 30).timestamp()
        again = next_run(_cron("30 1 * * *"), last_start=first, now=first + 1.0)
        assert datetime.fromtimestamp(again) == datetime(2024, 11, 4, 1, 30)
    finally:
        monkeypatch.undo()
        time.tzset()


# --- what the config layer accepts is what next_run can compute ---------------------


@pytest.mark.parametrize("text, cron", [
    ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"), ("*/15  8-18 * * MON-FRI", "*/15 8-18 * * MON-FRI"),
])
def test_accepted_cron_schedules(text: str, cron: str) -> None:
    schedule = parse_schedule(text)
    assert schedule == Schedule(text.strip(), cron=cron)
    assert next_run(schedule, last_start=None, now=NOW) > NOW


@pytest.mark.parametrize("text, reason", [
    ("@reboot", "use one of @yearly"),
    ("0 0 0 * * *", "a cron expression has 5 fields .* not 6"),
    ("0 25 * * mon", "hour 25 is out of range 0-23"),
    ("0 0 * * 8", "day of week 8 is out of range 0-7"),
    ("0 0 31 2 *", "day of month '31' never occurs in month '2'"),
    ("0 0 31 feb,apr *", "day of month '31' never occurs in month 'feb,apr'"),
    ("0 0 1-5/0 * *", r"step '/0' in the day of month field"),
    ("0 0 * dec-jan *", "range 'dec-jan' in the month field runs backwards"),
])
def test_refused_cron_schedules(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^invalid schedule '{re.escape(text)}': {reason}"):
        parse_schedule(text)


# --- the tick ----------------------------------------------------------------------


@pytest.mark.parametrize(("source", "tick"), [
    ("every 1 second", 1 / 128), ("every 5 seconds", 1 / 32), ("every 1 minute", 0.5),
    ("every 100 seconds", 1.0), ("every 5 minutes", 1.0), ("every 1 day", 1.0), ("*/5 * * * *", 1.0),
])
def test_the_tick_is_a_power_of_two_at_most_a_hundredth_of_the_interval_and_a_second(source: str,
                                                                                      tick: float) -> None:
    schedule = parse_schedule(source)
    assert tick_for(schedule) == tick
    if schedule.interval_seconds is not None:
        assert tick <= TICK_FRACTION * schedule.interval_seconds
    assert tick <= TICK_SECONDS


def test_a_start_waits_for_the_next_tick_at_most() -> None:
    for tick in (1.0, 0.5, 1 / 32, 1 / 128):
        for due in (NOW, NOW + 0.001, NOW + 0.3, NOW + 0.5, NOW + 59.999, NOW + tick * 7):
            start = on_tick(due, tick)
            assert due <= start < due + tick
            assert start / tick == int(start / tick)  # on the grid every integration shares
        assert on_tick(NOW + tick * 3, tick) == NOW + tick * 3  # on it already: now


def test_ticks_of_different_intervals_meet() -> None:
    # Every tick of a longer interval is a tick of each shorter one: integrations due within
    # the same second start together, whatever their intervals.
    minute, five_seconds = tick_for(parse_schedule("every 1 minute")), tick_for(parse_schedule("every 5 seconds"))
    for due in (NOW + 0.01, NOW + 0.26, NOW + 0.74):
        start = on_tick(due, minute)
        assert on_tick(start, five_seconds) == start


def test_next_runs_of_an_interval_schedule_on_the_tick_keep_their_period_exactly() -> None:
    schedule, jitter = EVERY_5_MINUTES, jitter_for("crm-to-mail")
    tick = tick_for(schedule)
    start, starts = NOW, []
    for _ in range(100):
        start = on_tick(next_run(schedule, last_start=start, now=start + 1, jitter=jitter), tick)
        starts.append(start)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # On its slot from the second run on (the first moved there by at most half an interval),
    # and the tick adds the same fraction of a second to each: no drift.
    assert 150 <= starts[0] - NOW <= 450
    assert all(g == pytest.approx(300.0) for g in gaps)
