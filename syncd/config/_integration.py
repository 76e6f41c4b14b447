"""Build an :class:`Integration` from a schema-valid integration document.

This step parses what the schema can only pattern-check (schedules,
durations), compiles ``if:`` expressions and resolves secret references in
side settings.  Checks that need the connector specs (fields exist, secret
settings are references, …) are in :mod:`syncd.config._checks`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from cronsim import CronSim, CronSimError

from syncd.config._defaults import schema_defaults
from syncd.config._errors import KeyPath, Problem
from syncd.config._model import (
    ACTION_KINDS,
    Action,
    ActionKind,
    ChildSync,
    Deletions,
    FieldMapping,
    Integration,
    RecordRetries,
    Rule,
    Schedule,
    Side,
)
from syncd._secret import UnresolvedSecret
from syncd.config._secrets import SecretRefError, resolve_reference
from syncd.config._yaml import YamlDoc
from syncd.expr import ExprError, compile_expr

__all__ = ["build_integration", "parse_duration", "parse_schedule"]

# Keys an integration leaves out take the schema's defaults (see _defaults).
_DEFAULTS = schema_defaults("integration")

_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_EVERY = re.compile(r"^every\s+([0-9]+)\s+(second|minute|hour|day)s?$")
_DURATION = re.compile(r"^([0-9]+)\s*(second|minute|hour|day)s?$")

# Cron fields, for wording why cronsim refused an expression: (name, lowest,
# highest, names accepted in place of numbers, number of the first name).
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...], int], ...] = (
    ("minute", 0, 59, (), 0),
    ("hour", 0, 23, (), 0),
    ("day of month", 1, 31, (), 0),
    ("month", 1, 12, _MONTHS, 1),
    ("day of week", 0, 7, _DAYS, 0),
)
# The crontab(5) shorthands, as the five fields cronsim understands.  @reboot
# has no meaning for a daemon's schedule and is refused.
_CRON_SHORTHANDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# cronsim's messages, to the index of the field in _CRON_FIELDS.
_CRONSIM_FIELDS = {
    f"Bad {name}": i
    for i, name in enumerate(("minute", "hour", "day-of-month", "month", "day-of-week"))
}


class _Invalid(ValueError):
    """A value the schema let through but that does not parse."""


def parse_duration(value: int | str) -> float:
    """Seconds in ``30``, ``"30 seconds"``, ``"5 minutes"``, ``"1 day"``."""
    if isinstance(value, bool):
        raise _Invalid("a duration is a number of seconds or text like '5 minutes'")
    if isinstance(value, int):
        return float(value)
    m = _DURATION.match(value.strip())
    if m is None:
        raise _Invalid(f"invalid duration '{value}': use seconds, or text like '30 seconds' or '5 minutes'")
    return float(int(m.group(1)) * _UNIT_SECONDS[m.group(2)])


def parse_schedule(text: str) -> Schedule:
    """``every N unit`` (an interval), a five-field cron expression or a shorthand.

    Cron expressions are checked with cronsim, which the daemon uses to compute
    next runs; ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``
    (``@annually``) and ``@midnight`` become their five fields.  ``@reboot``
    and six-field (seconds) expressions are refused.
    """
    source = text.strip()
    m = _EVERY.match(source)
    if m is not None:
        seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        if seconds <= 0:
            raise _Invalid(f"invalid schedule '{source}': the interval must be at least 1 second")
        return Schedule(source, interval_seconds=float(seconds))
    if source.startswith("every"):
        raise _Invalid(f"invalid schedule '{source}': use 'every N seconds|minutes|hours'")
    if source.startswith("@"):
        if source not in _CRON_SHORTHANDS:
            raise _Invalid(
                f"invalid schedule '{source}': use one of {', '.join(_CRON_SHORTHANDS)}, "
                "'every N seconds|minutes|hours' or a 5-field cron expression")
        return Schedule(source, cron=_CRON_SHORTHANDS[source])
    fields = source.split()
    if len(fields) != 5:
        raise _Invalid(
            f"invalid schedule '{source}': a cron expression has 5 fields "
            f"(minute hour day-of-month month day-of-week), not {len(fields)}")
    cron = " ".join(fields)
    try:
        # What the daemon computes next runs with (syncd.daemon._schedule),
        # so a schedule accepted here is one the daemon can follow.
        next(CronSim(cron, datetime.now()))
    except CronSimError as e:
        raise _Invalid(f"invalid schedule '{source}': {_cron_problem(fields, str(e))}") from None
    except StopIteration:
        raise _Invalid(f"invalid schedule '{source}': it never runs") from None
    return Schedule(source, cron=cron)


def _cron_problem(fields: list[str], cronsim_message: str) -> str:
    """Why cronsim refused the expression, naming the field and the value.

    cronsim only says which field is bad ("Bad hour"); the hand-written check
    of that field says what in it is wrong.
    """
    bad = _CRONSIM_FIELDS.get(cronsim_message)
    for i, (text, spec) in enumerate(zip(fields, _CRON_FIELDS)):
        problem = _cron_field_problem(text, *spec) if bad in (None, i) else None
        if problem is not None:
            return problem
    if bad == 2:
        return f"day of month '{fields[2]}' never occurs in month '{fields[3]}'"
    return cronsim_message.lower()


def _cron_field_problem(text: str, name: str, low: int, high: int,
                        names: tuple[str, ...], first: int) -> str | None:
    def number(part: str) -> int:
        if part.lower() in names:
            return names.index(part.lower()) + first
        if not part.isdigit():
            raise _Invalid(f"{name} '{part}' is not a number")
        n = int(part)
        if not low <= n <= high:
            raise _Invalid(f"{name} {n} is out of range {low}-{high}")
        return n

    try:
        for item in text.split(","):
            base, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                return f"step '/{step}' in the {name} field"
            if base == "*":
                continue
            start, dash, end = base.partition("-")
            lo = number(start)
            if dash and number(end) < lo:
                return f"range '{base}' in the {name} field runs backwards"
    except _Invalid as e:
        return str(e)
    return None


class _Builder:
    def __init__(self, doc: YamlDoc, config_dir: Path, environ: Mapping[str, str], shown_dir: str,
                 defer_secrets: bool = False) -> None:
        self.doc = doc
        self.defer_secrets = defer_secrets
        self.config_dir = config_dir
        self.environ = environ
        self.shown_dir = shown_dir
        self.problems: list[Problem] = []

    def error(self, path: KeyPath, message: str) -> None:
        self.problems.append(self.doc.problem(path, message))

    def duration(self, data: Mapping[str, Any], key: str) -> float:
        """Seconds; 0 when *key* is absent (``delay:``: the schema says absent means none)."""
        if key not in data:
            return 0.0
        try:
            return parse_duration(data[key])
        except _Invalid as e:
            self.error((key,), str(e))
            return 0.0  # not used: a problem means no Integration

    def side(self, name: str) -> Side:
        raw = self.doc.data[name]
        settings: dict[str, Any] = {}
        for key, value in (raw.get("settings") or {}).items():
            if isinstance(value, str):
                try:
                    secret = resolve_reference(value, self.config_dir, self.environ, self.shown_dir)
                except SecretRefError as e:
                    if self.defer_secrets:  # not needed here: an error only if it is used
                        settings[key] = UnresolvedSecret(value, f"setting '{key}': {e}")
                    else:
                        self.error((name, "settings", key), f"setting '{key}': {e}")
                    continue
                settings[key] = value if secret is None else secret
            else:
                settings[key] = value
        return Side(connector=raw["connector"], object=raw["object"], settings=settings)

    def field(self, raw: Mapping[str, Any]) -> FieldMapping:
        def names(value: str | list[str]) -> tuple[str, ...]:
            return (value,) if isinstance(value, str) else tuple(value)

        raw = _DEFAULTS.fill("/$defs/fieldMapping", raw)
        return FieldMapping(
            left=names(raw["left"]),
            right=names(raw["right"]),
            direction=raw["direction"],
            transform=raw.get("transform"),
            format=raw.get("format"),
            values=dict(raw["values"]) if "values" in raw else None,
            default=raw.get("default"),
            prefer=raw.get("prefer"),
            clear=bool(raw["clear"]),
        )

    def rule(self, i: int, raw: Mapping[str, Any]) -> Rule | None:
        try:
            condition = compile_expr(raw["if"])
        except ExprError as e:
            self.error(("rules", i, "if"), str(e))
            return None
        then = raw["then"]
        actions: tuple[Action, ...] | Literal["skip"] = (
            "skip" if then == "skip" else tuple(_action(a) for a in then))
        return Rule(condition=condition, then=actions, side=raw.get("from"))

    def record_retries(self) -> RecordRetries:
        raw = _DEFAULTS.fill("/$defs/recordRetries", self.doc.data.get("record_retries") or {})
        where = ("record_retries",)

        def seconds(key: str) -> float:
            try:
                return parse_duration(raw[key])
            except _Invalid as e:
                self.error((*where, key), str(e))
                return 0.0  # not used: a problem means no Integration

        return RecordRetries(attempts=int(raw["attempts"]), backoff_initial_seconds=seconds("backoff_initial"),
                             backoff_factor=float(raw["backoff_factor"]), backoff_max_seconds=seconds("backoff_max"))

    def child(self, raw: Mapping[str, Any]) -> ChildSync:
        raw = _DEFAULTS.fill("/$defs/child", raw)
        return ChildSync(left=raw["left"], right=raw["right"], create=raw["create"],
                         fields=tuple(self.field(f) for f in raw["fields"]))

    def deletions(self) -> Deletions | None:
        if self.doc.data.get("deletions") is None:
            return None
        raw = _DEFAULTS.fill("/$defs/deletions", self.doc.data["deletions"])
        then = raw["then"]
        actions = (Action("delete"),) if then == "delete" else (_action(then),)
        return Deletions(
            side=raw["from"], then=actions, max_delete_percent=float(raw["max_delete_percent"]))


_ACTION_KINDS: dict[str, ActionKind] = {kind: kind for kind in ACTION_KINDS}


def _action(raw: Mapping[str, Any]) -> Action:
    ((key, value),) = raw.items()  # the schema allows exactly one key, one of the kinds
    kind = _ACTION_KINDS[key]
    return Action(kind=kind, value=dict(value) if kind == "set" else value)


def build_integration(
    doc: YamlDoc, config_dir: Path, environ: Mapping[str, str], shown_dir: str, *, defer_secrets: bool = False,
) -> tuple[Integration | None, list[Problem]]:
    """The typed integration (None if anything is wrong) and its problems.
    *defer_secrets*: a setting's reference that cannot be resolved is an
    :class:`~syncd._secret.UnresolvedSecret`, not a problem."""
    b = _Builder(doc, config_dir, environ, shown_dir, defer_secrets)
    data = _DEFAULTS.fill("", doc.data)
    schedule: Schedule | None = None
    try:
        schedule = parse_schedule(data["schedule"])
    except _Invalid as e:
        b.error(("schedule",), str(e))
    delay = b.duration(data, "delay")
    full_every = b.duration(data, "full_every")
    left, right = b.side("left"), b.side("right")
    fields = tuple(b.field(f) for f in data["fields"])
    rules = tuple(r for i, raw in enumerate(data.get("rules") or ()) if (r := b.rule(i, raw)))
    deletions = b.deletions()
    record_retries = b.record_retries()
    children = tuple(b.child(c) for c in data.get("children") or ())
    if b.problems or schedule is None:
        return None, b.problems
    return Integration(
        name=data["integration"],
        description=data.get("description", ""),
        enabled=bool(data["enabled"]),
        schedule=schedule,
        delay_seconds=delay,
        catch_up=data["catch_up"],
        full_every_seconds=full_every,
        left=left,
        right=right,
        match_left=data["match"]["left"],
        match_right=data["match"]["right"],
        create=data["create"],
        conflict=data["conflict"],
        fields=fields,
        rules=rules,
        deletions=deletions,
        record_retries=record_retries,
        children=children,
        source=doc.file,
    ), []
