"""The sample app's notes and tasks under a contact, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from syncd.sampleapp import SampleApp


def test_notes_page_by_cursor_under_their_contact_and_a_write_bumps_the_contact(
        sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=2)
    first, second = app.store.ids()
    before = app.store.get(first)["updated_at"]  # type: ignore[index]
    with httpx.Client(base_url=app.url) as c:
        made = [c.post(f"/contacts/{first}/notes", json={"body": f"n{i}"}).raise_for_status().json()
                for i in range(5)]
        c.post(f"/contacts/{second}/notes", json={"body": "other"}).raise_for_status()
        seen: list[Any] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            body = c.get(f"/contacts/{first}/notes", params=params).raise_for_status().json()
            seen += body["results"]
            if "paging" not in body:
                break
            params["after"] = body["paging"]["next"]["after"]
        changed = c.patch(f"/contacts/{first}/notes/{made[0]['id']}", json={"body": "changed", "id": "x"})
        gone = c.delete(f"/contacts/{first}/notes/{made[1]['id']}")
    assert [n["body"] for n in seen] == [f"n{i}" for i in range(5)]
    assert {n["contact_id"] for n in seen} == {first}
    assert changed.json()["body"] == "changed" and changed.json()["id"] == made[0]["id"]
    assert gone.status_code == 204
    assert [n["body"] for n in app.children.all("notes", first)] == ["changed", "n2", "n3", "n4"]
    assert app.store.get(first)["updated_at"] > before  # type: ignore[index]


def test_tasks_are_checked_like_a_real_api_and_unknown_records_are_404(sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=2)
    first, second = app.store.ids()
    with httpx.Client(base_url=app.url) as c:
        task = c.post(f"/contacts/{first}/tasks", json={"title": "call"}).json()
        answers = {
            "unknown contact": c.get("/contacts/999/tasks").status_code,
            "another contact's task": c.patch(f"/contacts/{second}/tasks/{task['id']}", json={"done": True}).status_code,
            "unknown property": c.post(f"/contacts/{first}/tasks", json={"title": "x", "owner": "me"}).status_code,
            "wrong type": c.patch(f"/contacts/{first}/tasks/{task['id']}", json={"done": "yes"}).status_code,
            "missing title": c.post(f"/contacts/{first}/tasks", json={"done": True}).status_code,
            "unknown kind": c.get(f"/contacts/{first}/meetings").status_code,
            "method": c.put(f"/contacts/{first}/tasks").status_code,
        }
    assert (task["title"], task["done"], task["due_date"]) == ("call", False, None)
    assert answers == {"unknown contact": 404, "another contact's task": 404, "unknown property": 400,
                       "wrong type": 400, "missing title": 400, "unknown kind": 404, "method": 405}
