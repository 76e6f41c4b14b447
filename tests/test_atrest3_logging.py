"""The JSON log lines as orjson writes them (``_json_line``): what the standard
library's renderer wrote, parsed, including what orjson alone cannot write."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from syncd._logging import configure_logging
from syncd.connector import SecretMasker


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    configure_logging("warning")


def _events(**values: object) -> dict[str, object]:
    out = io.StringIO()
    configure_logging("info", "json", stream=out, mask=SecretMasker().mask)  # type: ignore[arg-type]
    structlog.get_logger("t").info("cycle finished", **values)
    [line] = out.getvalue().splitlines()
    event: dict[str, object] = json.loads(line)
    return event


def test_every_value_a_log_event_carries_is_written_as_json() -> None:
    event = _events(seconds=0.007, created={"left": 0, "right": 2}, ids=("a", "b"), name="Zoë 日本",
                    nothing=None, ok=True, by_code={404: 1}, when=object)
    assert event["seconds"] == 0.007 and event["created"] == {"left": 0, "right": 2}
    assert event["ids"] == ["a", "b"] and event["name"] == "Zoë 日本" and event["nothing"] is None
    assert event["ok"] is True and event["by_code"] == {"404": 1} and event["when"] == "<class 'object'>"
    assert event["event"] == "cycle finished" and event["level"] == "info"


def test_an_integer_orjson_cannot_write_is_written_still() -> None:
    event = _events(big=2**70, small=1)
    assert event["big"] == 2**70 and event["small"] == 1


def test_events_below_the_level_write_nothing_and_a_new_level_applies_at_once() -> None:
    out = io.StringIO()
    log = structlog.get_logger("t")
    configure_logging("warning", "json", stream=out)  # type: ignore[arg-type]
    log.info("quiet")
    configure_logging("info", "json", stream=out)  # type: ignore[arg-type]  (a reload's new level)
    log.info("heard")
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == ["heard"]
