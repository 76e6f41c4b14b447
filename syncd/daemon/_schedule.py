"""When each integration's next cycle is due.

:func:`next_run` is a pure function of the schedule, the last cycle's start,
the current time and the integration's jitter fraction (:func:`jitter_for`),
so the scheduler decides nothing about time itself and tests need no clock.

Each integration has a fixed fraction in [0, 1) derived from its name
(:func:`jitter_for`), the same on every run, on every host and after every
restart, which spreads integrations with the same schedule:

- an interval schedule's later runs are on the integration's own slot in
  the interval: its fraction of the interval past each multiple of the
  interval since the epoch ("crm-to-mail runs 23 s past each minute").
  A thousand integrations every minute are then spread over the whole
  minute for good, whatever the start-up or a reload did: the apps' rate
  limits and the daemon's event loop see about 17 cycles a second, not
  a thousand in the first ten seconds of each minute (a small jitter added
  to each period spread them only by drifting apart, over hours);
- its first run at start-up, over the first ``min(interval, 10 s)``:
  soon, and not all in one millisecond. Unless its last cycle (kept in the
  state store) ran through and started less than an interval before
  (:func:`resume_from`): a restarted daemon then goes on with the slots as
  if it had not stopped, instead of running every integration in its first
  ten seconds;
- a cron run, up to 5 s after its time; a cron slot cannot be run twice by
  a re-drawn offset.

A later start (not an interval schedule's first, spread at start-up) is
then put on the daemon's tick (:func:`on_tick`): the
next multiple of a power-of-two fraction of a second, at most 1 % of the
interval and at most 1 s, on a grid every integration shares. The cycles
due within one tick start together, once the process is awake and its
caches warm: at rest (a thousand integrations a minute, one due every 60 ms)
a cycle woken alone costs two to three times the CPU of the same cycle run
among others (bench/daemon_idle.py; docs/decisions.md, "at rest, part four").

Cron expressions are in the host's local time zone (``TZ``, else
``/etc/localtime``), with Debian cron's rules at daylight-saving changes, as
implemented by cronsim: a job at a fixed time that falls in the skipped hour
runs right after the clock jumps, one in the repeated hour runs once; a job
with ``*`` in the minute or hour field follows real time (nothing in the
skipped hour, both passes of the repeated hour).
"""

from __future__ import annotations

import functools
import math
import os
import random
import time
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim

from syncd.config import Schedule

__all__ = [
    "CRON_JITTER_SECONDS",
    "FIRST_RUN_SPREAD_SECONDS",
    "TICK_FRACTION",
    "TICK_SECONDS",
    "jitter_for",
    "next_run",
    "on_tick",
    "resume_from",
    "tick_for",
]

# Outcomes of a last cycle that a restarted daemon's schedule may go on from: the cycle
# ran through. One stopped (by the shutdown), aborted or failed runs again soon: the
# operator's restart may be the fix, and the rest of a cut cycle should not wait.
RESUMABLE_OUTCOMES = frozenset({"ok", "errors"})

# An interval schedule's first run is spread over min(interval, this).
FIRST_RUN_SPREAD_SECONDS = 10.0
# A cron run comes up to this long after its cron time.
CRON_JITTER_SECONDS = 5.0
# A scheduled start waits for the next tick: at most this fraction of the
# interval, and this long (a cron schedule's tick).
TICK_FRACTION = 0.01
TICK_SECONDS = 1.0

# More cron times than any valid expression skips before one past `now`
# (a per-minute job skipping a repeated hour with the naive fallback: 60).
_MAX_CRON_STEPS = 10_000


def jitter_for(name: str) -> float:
    """The integration's jitter fraction in [0, 1): the same for a name on
    every run and every host (``random.Random(str)`` seeds from a SHA-512 of
    the text, not from the salted ``hash()``)."""
    return random.Random(name).random()


def next_run(schedule: Schedule, *, last_start: float | None, now: float, jitter: float = 0.0) -> float:
    """Wall-clock (``time.time()``) seconds at which the next cycle is due.

    ``last_start`` is when the last cycle started (None before the first),
    ``now`` the current time, taken after the last cycle ended, and
    ``jitter`` the integration's fraction in [0, 1) (:func:`jitter_for`; 0
    gives the exact times).

    Interval schedules (``every N …``):

    - first run: ``now + jitter * min(interval, 10 s)``, so integrations
      started together spread over their first 10 seconds (less for shorter
      intervals);
    - later runs: on the integration's slot, ``jitter * interval`` past a
      multiple of the interval since the epoch: the slot nearest to
      ``last_start + interval``, so a run on its slot is followed by the
      next slot, exactly one interval later, and a run off it (the first, a
      webhook's, ``syncd sync``'s) moves the next one by at most half an
      interval; never before ``now``. If ``last_start + interval`` is
      already past (the cycle took longer than the interval) the next run
      is ``now``: cycles never overlap and missed ones are not caught up in
      a burst. If the clock went back (``last_start`` after ``now``), it
      counts from ``now``: the wait is at most one and a half intervals.

    Cron schedules: the first cron time strictly after ``now`` in the host's
    local time, plus ``jitter * 5 s``.  ``last_start`` is not used: a cron
    schedule never runs at start-up unless a cron time comes, and a cycle that
    runs past cron times does not make them up.
    """
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), not {jitter}")
    if schedule.interval_seconds is not None:
        interval = schedule.interval_seconds
        if last_start is None:
            return now + jitter * min(interval, FIRST_RUN_SPREAD_SECONDS)
        base = min(last_start, now) + interval
        if base <= now:
            return now
        # The nearest slot, not the next one: a start a little late (the
        # tick, a busy loop) must not push the next run a whole interval out.
        phase = jitter * interval
        return max(phase + round((base - phase) / interval) * interval, now)
    if schedule.cron is not None:
        return _next_cron_time(schedule.cron, now) + jitter * CRON_JITTER_SECONDS
    raise ValueError(f"schedule '{schedule.source}' has neither an interval nor a cron expression")


def resume_from(schedule: Schedule, *, last_start: float | None, last_outcome: str | None,
                now: float) -> float | None:
    """At a daemon's start-up: the start of the integration's last cycle
    (from the state store) to count an interval schedule on from, so that
    its first run is on its slot (:func:`next_run`), or None for a first
    run spread over the first seconds.

    The last cycle counts when it ran through (``ok`` or ``errors``) and
    its next slot has not passed: it started less than an interval before
    ``now``. A cron schedule counts from nothing (None)."""
    interval = schedule.interval_seconds
    if interval is None or last_start is None or last_outcome not in RESUMABLE_OUTCOMES:
        return None
    if not last_start <= now < last_start + interval:  # overdue, or the clock went back past it
        return None
    return last_start


def tick_for(schedule: Schedule) -> float:
    """The tick *schedule*'s starts are put on: the largest power of two (in
    seconds: 1, 1/2, 1/4…) at most :data:`TICK_FRACTION` of the interval and
    at most :data:`TICK_SECONDS`; a cron schedule's is :data:`TICK_SECONDS`.
    Powers of two, so that every tick falls on the grid of each shorter one
    and integrations of different intervals start together too."""
    interval = schedule.interval_seconds
    span = TICK_SECONDS if interval is None else min(TICK_SECONDS, TICK_FRACTION * interval)
    return 2.0 ** math.floor(math.log2(span)) if span > 0 else 0.0


def on_tick(due: float, tick: float) -> float:
    """The first multiple of *tick* (wall-clock seconds since the epoch) at or
    after *due*: when a cycle due then starts (see the module's doc)."""
    return math.ceil(due / tick) * tick if tick > 0 else due


def _next_cron_time(cron: str, now: float) -> float:
    """The first time `cron` matches strictly after `now`, in host local time."""
    zone = _local_zone(now)
    if zone is not None:
        start = datetime.fromtimestamp(now, zone)
        # Aware datetimes: cronsim applies Debian cron's DST rules; .timestamp()
        # honours the fold of an ambiguous time.
        times = (dt.timestamp() for dt in CronSim(cron, start))
    else:
        # No zone object agrees with the C library (a POSIX TZ rule string):
        # naive local times, converted back by mktime through .timestamp().
        times = (dt.timestamp() for dt in CronSim(cron, datetime.fromtimestamp(now)))
    for _, t in zip(range(_MAX_CRON_STEPS), times):
        # cronsim may hand back a wall time already past in real time (a
        # fixed-time job during the second pass of a repeated hour): skip it.
        if t > now:
            return t
    raise ValueError(f"cron expression '{cron}' has no time after {now}")


def _local_zone(now: float) -> tzinfo | None:
    """The zone ``time.localtime`` uses, or None when no zone object matches it."""
    tz = os.environ.get("TZ")
    zone: tzinfo
    try:
        if tz is None:
            zone = _zone_file("/etc/localtime")
        elif tz.lstrip(":") == "":
            zone = timezone.utc  # glibc: an empty TZ is UTC
        elif tz.lstrip(":").startswith("/"):
            zone = _zone_file(tz.lstrip(":"))
        else:
            zone = ZoneInfo(tz.lstrip(":"))
    except (OSError, ValueError, ZoneInfoNotFoundError):
        return None
    # TZ changed without time.tzset(), a zone file the C library reads
    # differently, …: trust the C library and fall back to naive times.
    offset = datetime.fromtimestamp(now, zone).utcoffset()
    if offset != timedelta(seconds=time.localtime(now).tm_gmtoff):
        return None
    return zone


def _zone_file(path: str) -> ZoneInfo:
    real = os.path.realpath(path)
    return _read_zone_file(real, os.stat(real).st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_zone_file(path: str, mtime_ns: int) -> ZoneInfo:  # mtime_ns: re-read when it changes
    with open(path, "rb") as f:
        return ZoneInfo.from_file(f, key=path)
