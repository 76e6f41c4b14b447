"""Log output: structlog, JSON lines for journald, readable lines on a terminal.

Every layer logs with ``structlog.get_logger()`` and binds what it knows
through :mod:`structlog.contextvars` (the daemon binds ``integration`` and
``cycle`` around a cycle, the sync layer ``side`` around each side's work),
so every event of a cycle carries them without being passed down. Only the
command line calls :func:`configure_logging`, first thing, for every
command: structlog's default would print to stdout, where ``--json``
output goes.

Secrets are masked at the last step, after exceptions are formatted: a
secret value that reached an event (a URL, an error body, a traceback) is
printed as ``***``.

A line that cannot be written (the reader of stderr gone, a log file's
disk full) is dropped and counted, and the next line written says how many
were lost (``log_lines_lost``): a daemon never stops its work, nor dies,
for its log.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, Literal, TextIO

import orjson
import structlog

__all__ = ["LEVELS", "configure_logging"]

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}

Format = Literal["auto", "json", "console"]


# Values that carry no text, exactly these types (a subclass may print anything): as they are.
_NO_TEXT = frozenset({int, float, bool, type(None)})


def _masking(mask: Callable[[str], str]) -> Callable[..., MutableMapping[str, Any]]:
    def masked(value: Any) -> Any:
        if isinstance(value, str):
            return mask(value)
        if isinstance(value, (int, float, bool, type(None))):
            return value
        if isinstance(value, dict):
            return {k: v if type(v) in _NO_TEXT else masked(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [masked(v) for v in value]
        return mask(str(value))  # anything else is logged as its text

    def processor(logger: Any, name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        # A cycle's events are mostly counts: those are not looked at twice (a third of an event's cost).
        for key, value in event.items():
            if type(value) not in _NO_TEXT:
                event[key] = masked(value)
        return event

    return processor


def _wants_json(fmt: Format, stream: Any) -> bool:
    if fmt != "auto":
        return fmt == "json"
    # A terminal gets readable lines; anything else (journald, a file, a
    # pipe) gets one JSON object per line, which journald and jq both take.
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return True


class _Stderr:
    """Whatever ``sys.stderr`` is when an event is written, not when logging
    was configured (a test harness swaps and closes it); a line it does not
    take is dropped and counted (see the module's docstring)."""

    def __init__(self) -> None:
        self.lost = 0  # lines dropped since the last one written
        self.why = ""  # the last drop's error
        self._cut = False  # a line was cut short: the next one starts on a line of its own

    def write(self, text: str) -> int:
        stream = sys.stderr
        try:
            if stream is None:
                raise OSError("no stderr")
            if stream is sys.__stderr__:
                self._write_fd(2, text)  # (the process's stderr, as started)
            else:
                stream.write(text)
                stream.flush()
        except (OSError, ValueError) as e:  # (ValueError: a closed stream)
            self.lost += 1
            self.why = f"{type(e).__name__}: {e}"
        else:
            self.lost = 0
        return len(text)

    def _write_fd(self, fd: int, text: str) -> None:
        """Straight to the descriptor, not through ``sys.stderr``'s buffer: a
        write that failed there stays in the buffer, to come out later in the
        middle of another line."""
        data = text.encode("utf-8", "backslashreplace")
        if self._cut:
            data = b"\n" + data
        sent = False
        while data:
            try:
                n = os.write(fd, data)
            except OSError:
                self._cut = self._cut or sent  # (part of this line went out)
                raise
            sent = sent or n > 0
            data = data[n:]
        self._cut = False

    def flush(self) -> None:
        pass  # each write went out whole, or was dropped

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def _report_lost(out: Any) -> Callable[..., MutableMapping[str, Any]]:
    def processor(logger: Any, name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if getattr(out, "lost", 0):
            event["log_lines_lost"] = out.lost
            event["log_lines_lost_because"] = out.why
        return event

    return processor


def _json_line(logger: Any, name: str, event: MutableMapping[str, Any]) -> str:
    """One JSON object, by orjson: a daemon at rest writes two events a
    cycle, and the standard library's encoder was a third of their cost.
    What orjson cannot write (an integer past 64 bits) goes as structlog's
    own renderer would have written it."""
    try:
        return orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(event, default=repr)


class _OneLogger:
    """structlog's logger factory, giving every event the same logger: a
    new one for each (structlog's ``WriteLoggerFactory``) cost a lock
    lookup an event."""

    def __init__(self, out: Any) -> None:
        self._logger = structlog.WriteLogger(out)

    def __call__(self, *args: Any) -> structlog.WriteLogger:
        return self._logger


class _Forward(logging.Handler):
    """A library's own log record (psycopg's pool reconnecting, uvicorn) as one of our events:
    the same format, not a bare line among the JSON ones, and through the masker. Warnings
    and above, as Python's last-resort handler printed them before (the root logger's level)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            extra: dict[str, Any] = {"exc_info": record.exc_info} if record.exc_info else {}
            structlog.get_logger().log(record.levelno, record.getMessage(), logger=record.name, **extra)
        except Exception:  # noqa: BLE001 - logging must not raise into the library that logged
            self.handleError(record)


def configure_logging(level: str = "info", fmt: Format = "auto", *, stream: TextIO | None = None,
                      mask: Callable[[str], str] = lambda text: text) -> None:
    """Send events at *level* and above to *stream* (default stderr), the standard library's
    warnings and errors (a library's) with them."""
    root = logging.getLogger()
    if not any(isinstance(h, _Forward) for h in root.handlers):
        root.addHandler(_Forward())
    out: Any = _Stderr() if stream is None else stream
    as_json = _wants_json(fmt, out)
    renderer: Any = (_json_line if as_json
                     else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _report_lost(out),
            _masking(mask),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS.get(level, logging.INFO)),
        logger_factory=_OneLogger(out),
        cache_logger_on_first_use=False,
    )
