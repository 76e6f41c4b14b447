"""The status page's HTML: every key of the status contract has its place,
and nothing in the status can add markup to the page."""

from __future__ import annotations

from html.parser import HTMLParser

from syncd.daemon._status_page import render_status_page

NOW = 1_800_000_000.0


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def _tags(page: str) -> list[str]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def _entry(**more: object) -> dict[str, object]:
    return {"name": "crm", "enabled": True, "schedule": "every 5 minutes", "state": "waiting",
            "next_run": NOW + 240, "cycles": 3, "last_start": NOW - 62, "last_end": NOW - 60,
            "last_result": "errors", "last_error": None, "failures_in_a_row": 0,
            "last_summary": {"read": {"left": 10, "right": 2}, "created": {"left": 0, "right": 8},
                             "updated": {"left": 0, "right": 0}, "deleted": {"left": 0, "right": 0},
                             "errors": 2},
            **more}


def test_keys_other_parts_add_are_shown_when_present() -> None:
    entry = _entry(open_errors=2, errors_preview=[
        {"id": 7, "record_id": "c-1", "operation": "create", "http_status": 422, "message": "email is invalid"}],
        budget=[{"account": "hubspot@https://api#ab12", "connector": "hubspot", "used": 850, "limit": 1000,
                 "percent": 85.0, "window_resets_at": None, "source": "syncd"}],
        paused="API budget of hubspot at 85% (scheduled cycles run below 80%) until 00:00 UTC",
        bulk={"state": "running", "done": 40, "total": 100, "failed": 1, "rate": 12.5, "eta_seconds": 4.8,
              "started_at": NOW - 3, "ended_at": None, "message": None})
    page = render_status_page({"summary": "1 integration running", "integrations": [entry],
                               "config": {"valid": False, "errors": ["c/integrations.d/crm.yaml:3:7: error: bad"]}},
                              now=NOW)
    assert "create c-1: HTTP 422: email is invalid" in page
    assert '<meter min="0" max="100" low="40" high="80" optimum="0" value="85.0">' in page
    assert "until 00:00 UTC" in page
    assert '<progress max="100" value="40">' in page and "12.5 records/s" in page
    assert "The last reload failed" in page and "crm.yaml:3:7: error: bad" in page
    assert "(in 4 min)" in page and "(62 s ago)" in page


def test_absent_keys_leave_a_dash_and_the_page_renders() -> None:
    page = render_status_page({"integrations": [_entry()]}, now=NOW)
    assert page.count('<span class="muted">—</span>') == 3  # open errors, budget, bulk
    assert "Config: valid." in page


def test_text_from_the_status_cannot_add_markup() -> None:
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    entry = _entry(name=hostile, last_error=hostile, state=hostile, schedule=hostile, open_errors=1,
                   errors_preview=[{"record_id": hostile, "operation": hostile, "http_status": None,
                                    "message": hostile}],
                   bulk={"state": hostile, "done": 1, "total": 2, "message": hostile},
                   budget=[{"connector": hostile, "used": 1, "limit": None, "percent": None}], paused=hostile)
    page = render_status_page({"summary": hostile, "config_dir": hostile, "integrations": [entry],
                               "last_reload": {"ok": False, "errors": [hostile]}}, now=NOW)
    assert "script" not in _tags(page) and "img" not in _tags(page)
    assert "&lt;script&gt;" in page
