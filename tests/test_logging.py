"""Log output: JSON lines off a terminal, readable lines on one, context
carried, secrets masked everywhere in an event (tracebacks included)."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
from collections.abc import Iterator

import pytest
import structlog

from syncd._logging import configure_logging
from syncd.connector import SecretMasker

SECRET = "tok-3f9a1c-very-secret"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    configure_logging("warning")  # as the command line leaves it: stderr, whatever it is then


def logged(fmt: str = "auto", level: str = "info") -> tuple[io.StringIO, structlog.typing.FilteringBoundLogger]:
    out = io.StringIO()
    masker = SecretMasker()
    masker.add(SECRET)
    configure_logging(level, fmt, stream=out, mask=masker.mask)  # type: ignore[arg-type]
    return out, structlog.get_logger("test")


def test_off_a_terminal_each_event_is_one_json_line_with_its_context() -> None:
    out, log = logged()
    with structlog.contextvars.bound_contextvars(integration="crm", cycle="crm-7", side="left"):
        log.info("page read", records=100)
    log.debug("dropped at info")
    [line] = out.getvalue().splitlines()
    event = json.loads(line)
    assert event["event"] == "page read" and event["records"] == 100 and event["level"] == "info"
    assert (event["integration"], event["cycle"], event["side"]) == ("crm", "crm-7", "left")
    assert event["timestamp"].endswith("Z")


def test_secrets_are_masked_in_values_nested_values_and_tracebacks() -> None:
    out, log = logged()
    try:
        raise RuntimeError(f"GET https://api.example.com/?key={SECRET} failed")
    except RuntimeError:
        log.exception("request failed", url=f"https://x/?key={SECRET}", headers={"auth": [f"Bearer {SECRET}"]},
                      attempt=2)
    text = out.getvalue()
    assert SECRET not in text
    event = json.loads(text)
    assert event["url"] == "https://x/?key=***" and event["headers"] == {"auth": ["Bearer ***"]}
    assert "RuntimeError: GET https://api.example.com/?key=*** failed" in event["exception"]
    assert event["attempt"] == 2


def test_a_terminal_gets_readable_lines() -> None:
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as tty:
            masker = SecretMasker()
            configure_logging("info", "auto", stream=tty, mask=masker.mask)
            structlog.get_logger().info("cycle finished", integration="crm", seconds=0.5)
            tty.flush()
        text = os.read(leader, 4096).decode()
    finally:
        os.close(leader)
        os.close(follower)
    assert "cycle finished" in text and "integration=crm" in text and not text.lstrip().startswith("{")


def test_the_format_can_be_forced() -> None:
    out, log = logged(fmt="console")
    log.warning("retry", attempt=1)
    assert "retry" in out.getvalue() and "attempt=1" in out.getvalue()
    assert not out.getvalue().startswith("{")


def test_a_librarys_own_warning_is_one_of_our_events_masked_and_its_info_is_not_shown() -> None:
    """psycopg's pool, uvicorn and the HTTP stack log through the standard library: their
    warnings were bare lines among the JSON ones (Python's last resort), unmasked."""
    out, _ = logged()
    library = logging.getLogger("psycopg.pool")
    library.warning("error connecting in %r: password %s refused", "syncd-state", SECRET)
    library.info("not shown: below the standard library's warning level, as before")
    [line] = out.getvalue().splitlines()
    event = json.loads(line)
    assert event == {"event": "error connecting in 'syncd-state': password *** refused",
                     "logger": "psycopg.pool", "level": "warning", "timestamp": event["timestamp"]}


class _Failing(io.StringIO):
    """A stderr that refuses writes while ``full``."""

    full = True

    def write(self, text: str) -> int:
        if self.full:
            raise OSError(28, "No space left on device")
        return super().write(text)


def test_lines_stderr_refuses_are_dropped_counted_and_said_with_the_next(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # (the daemon's own stderr is written by descriptor: tests/e2e/test_log_output.py)
    err = _Failing()
    monkeypatch.setattr("sys.stderr", err)
    configure_logging("info", "json")
    log = structlog.get_logger("test")
    log.info("one")  # raised into the caller before: a daemon died of its log
    log.warning("two")
    err.full = False
    log.info("three")
    log.info("four")
    first, second = (json.loads(line) for line in err.getvalue().splitlines())
    assert first["event"] == "three" and first["log_lines_lost"] == 2
    assert first["log_lines_lost_because"] == "OSError: [Errno 28] No space left on device"
    assert second["event"] == "four" and "log_lines_lost" not in second
