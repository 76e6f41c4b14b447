"""The status page: ``syncd status`` as a read-only HTML page.

The page is ``status.html`` beside this module, with ``$name`` holes
filled by :class:`string.Template` (it substitutes text, it runs nothing);
every value put in is escaped with :func:`html.escape`. The data is the
daemon's status dict (``GET /v1/status``), never the config: no setting, so
no secret, can reach the page, and error messages are masked before they
are in the status. Keys that other parts of the daemon add (``open_errors``,
``errors_preview``, ``budget``, ``paused``, ``bulk``, ``config``) are read
with ``.get()``: absent, their cell says so.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from html import escape
from importlib.resources import files
from string import Template
from typing import Any

__all__ = ["REFRESH_SECONDS", "STYLESHEET", "render_status_page"]

REFRESH_SECONDS = 5
_TEMPLATE = Template(files("syncd.daemon").joinpath("status.html").read_text(encoding="utf-8"))
STYLESHEET = files("syncd.daemon").joinpath("status.css").read_text(encoding="utf-8")


def _when(at: Any, now: float) -> str:
    """A time as UTC and as how long ago (or from now)."""
    if not isinstance(at, (int, float)):
        return "—"
    shown = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    delta = round(now - at)
    relative = f"{_span(delta)} ago" if delta >= 0 else f"in {_span(-delta)}"
    return f'<time datetime="{escape(datetime.fromtimestamp(at, UTC).isoformat())}">{escape(shown)}</time> ' \
           f'<span class="muted">({relative})</span>'


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def _sides(value: Any) -> str:
    if isinstance(value, dict):
        return " / ".join(str(value.get(side, 0)) for side in ("left", "right"))
    return str(value)


def _counts(summary: Any) -> str:
    if not isinstance(summary, dict) or not summary:
        return '<span class="muted">no cycle yet</span>'
    rows = [("read (left / right)", "read"), ("created", "created"), ("updated", "updated"),
            ("deleted", "deleted"), ("unchanged", "unchanged"), ("skipped by rules", "skipped"),
            ("not created", "not_created"), ("conflicts", "conflicts"), ("errors", "errors")]
    items = "".join(f'<dt>{escape(label)}</dt><dd data-count="{escape(key)}">{escape(_sides(summary[key]))}</dd>'
                    for label, key in rows if key in summary)
    return f'<dl class="counts">{items}</dl>'


def _last_cycle(entry: dict[str, Any], now: float) -> str:
    result = entry.get("last_result")
    if result is None:
        return '<span class="muted">none yet</span>'
    parts = [f'<span class="result result-{escape(str(result))}">{escape(str(result))}</span>',
             _when(entry.get("last_start"), now)]
    start, end = entry.get("last_start"), entry.get("last_end")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end >= start:
        parts.append(f'<span class="muted">took {end - start:.1f} s</span>')
    if entry.get("last_error"):
        parts.append(f'<div class="bad">{escape(str(entry["last_error"]))}</div>')
    failures = entry.get("failures_in_a_row")
    if isinstance(failures, int) and failures > 1:
        parts.append(f'<div class="bad">{failures} failures in a row</div>')
    return " ".join(parts)


def _open_errors(entry: dict[str, Any]) -> str:
    count = entry.get("open_errors")
    if count is None:
        return '<span class="muted">—</span>'
    if not count:
        return "0"
    items = []
    for error in entry.get("errors_preview") or []:
        status = error.get("http_status")
        cause = f"HTTP {status}: " if status is not None else ""
        items.append(f'<li>{escape(str(error.get("operation", "")))} {escape(str(error.get("record_id", "")))}: '
                     f'{escape(cause + str(error.get("message", "")))}</li>')
    more = f'<ul class="errors">{"".join(items)}</ul>' if items else ""
    return f'<span class="bad">{escape(str(count))}</span>{more}'


def _budget(entry: dict[str, Any]) -> str:
    accounts = entry.get("budget")
    if not accounts:
        return '<span class="muted">—</span>'
    parts = []
    for account in accounts:
        used, limit, percent = account.get("used"), account.get("limit"), account.get("percent")
        label = escape(str(account.get("connector", "")))
        if isinstance(percent, (int, float)) and limit:
            parts.append(f'<div>{label} <meter min="0" max="100" low="40" high="80" optimum="0" '
                         f'value="{percent:.1f}">{percent:.0f} %</meter> {escape(str(used))} / '
                         f'{escape(str(limit))}</div>')
        else:
            parts.append(f'<div>{label}: {escape(str(used))} requests (no limit)</div>')
    if entry.get("paused"):
        parts.append(f'<div class="bad">{escape(str(entry["paused"]))}</div>')
    return "".join(parts)


def _bulk(entry: dict[str, Any]) -> str:
    bulk = entry.get("bulk")
    if not isinstance(bulk, dict):
        return '<span class="muted">—</span>'
    done, total = bulk.get("done") or 0, bulk.get("total") or 0
    parts = [f'<span class="bulk-state">{escape(str(bulk.get("state", "")))}</span>',
             f'<progress max="{max(total, 1)}" value="{done}">{done} / {total}</progress> {done} / {total}']
    if bulk.get("failed"):
        parts.append(f'<span class="bad">{escape(str(bulk["failed"]))} failed</span>')
    rate, eta = bulk.get("rate"), bulk.get("eta_seconds")
    if isinstance(rate, (int, float)):
        parts.append(f'<span class="muted">{rate:.1f} records/s</span>')
    if isinstance(eta, (int, float)):
        parts.append(f'<span class="muted">about {_span(eta)} left</span>')
    if bulk.get("message"):
        parts.append(f'<div>{escape(str(bulk["message"]))}</div>')
    return " ".join(parts)


def _row(entry: dict[str, Any], now: float) -> str:
    name, state = str(entry.get("name", "")), str(entry.get("state", ""))
    cells = [
        f'<th scope="row">{escape(name)}<div class="muted">{escape(str(entry.get("schedule", "")))}</div></th>',
        f'<td class="state state-{escape(state)}">{escape(state)}</td>',
        f'<td class="last">{_last_cycle(entry, now)}</td>',
        f'<td class="next">{_when(entry.get("next_run"), now)}</td>',
        f'<td class="counts">{_counts(entry.get("last_summary"))}</td>',
        f'<td class="open-errors">{_open_errors(entry)}</td>',
        f'<td class="budget">{_budget(entry)}</td>',
        f'<td class="bulk">{_bulk(entry)}</td>',
    ]
    return f'<tr data-integration="{escape(name)}">{"".join(cells)}</tr>'


def _config(status: dict[str, Any]) -> str:
    """The last reload's errors, when it failed (the previous config runs)."""
    config = status.get("config")
    errors: list[Any] = []
    if isinstance(config, dict) and not config.get("valid", True):
        errors = list(config.get("errors") or [])
    else:
        reload = status.get("last_reload")
        if isinstance(reload, dict) and not reload.get("ok", True):
            errors = list(reload.get("errors") or [])
    if not errors:
        return '<p class="config-valid">Config: valid.</p>'
    items = "".join(f"<li>{escape(str(e))}</li>" for e in errors)
    return (f'<section class="config-invalid"><strong>The last reload failed</strong>: the previous config '
            f'keeps running until these are fixed.<ul>{items}</ul></section>')


def render_status_page(status: dict[str, Any], *, now: float | None = None) -> str:
    now = time.time() if now is None else now
    rows = [_row(entry, now) for entry in status.get("integrations", [])]
    return _TEMPLATE.substitute(
        refresh=REFRESH_SECONDS,
        summary=escape(str(status.get("summary", ""))),
        pid=escape(str(status.get("pid", ""))),
        started=_when(status.get("started_at"), now),
        config_dir=escape(str(status.get("config_dir", ""))),
        generated=escape(datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        config=_config(status),
        rows="\n".join(rows) or '<tr><td colspan="8">No integration is configured.</td></tr>',
    )
