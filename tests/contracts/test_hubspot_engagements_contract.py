"""connectors.d/hubspot.yaml's notes and tasks against HubSpot's own OpenAPI descriptions of them.

Every request the child objects make (a contact's notes or tasks read
through the search, created with the association to their contact, updated,
archived) goes to the fake HubSpot with notes and tasks
(tests/contracts/fake_hubspot_engagements.py), judged by HubSpot's
descriptions of notes and tasks (tests/contracts/vendor/hubspot-crm-notes-v3.yaml,
hubspot-crm-tasks-v3.yaml) and, for contacts, by the contacts description.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fake_hubspot_engagements import FakeHubSpotEngagements
from fakes import Reply, Request
from spec_check import shipped
from vendor_contract import VendorContract

from syncd.connector import ApiError, Connector


class ByObject:
    """One vendor description per CRM object type, chosen by the request's path."""

    def __init__(self) -> None:
        self.judges = {name: VendorContract(f"hubspot-crm-{name}-v3.yaml") for name in ("contacts", "notes", "tasks")}

    def check(self, request: Request, reply: Reply) -> None:
        kind = request.path.split("/")[4] if request.path.startswith("/crm/v3/objects/") else "contacts"
        self.judges.get(kind, self.judges["contacts"]).check(request, reply)

    @property
    def violations(self) -> list[str]:
        return [v for judge in self.judges.values() for v in judge.violations]

    def operations(self, kind: str) -> set[str]:
        return set(self.judges[kind].operations)


@pytest.fixture
def app() -> Any:
    fake = FakeHubSpotEngagements(contacts=3)
    fake.contract = ByObject()
    with fake:
        yield fake
    assert not fake.server_errors, fake.server_errors[0]


def connect(app: FakeHubSpotEngagements, obj: str, token: str | None = None) -> Connector:
    return shipped("hubspot", obj, secrets={"token": token or app.token}, base_url=app.url)


@pytest.mark.anyio
async def test_notes_of_a_contact_keep_to_hubspots_notes_description(app: FakeHubSpotEngagements) -> None:
    for i in range(205):  # more than one search page (200) on the first contact
        app.log("notes", "101", hs_note_body=f"note {i}")
    app.log("notes", "102", hs_note_body="another contact's note")
    async with connect(app, "notes") as c:
        first = [r for page in [p async for p in c.under("101").list()] for r in page.records]
        created = await c.under("103").create({"body": "logged by syncd"})
        timed = await c.under("103").create({"body": "dated", "timestamp": "2024-03-01T10:00:00Z"})
        updated = await c.under("103").update(created.id, {"body": "edited by syncd"})
        fetched = await c.under("103").get(created.id)
        third = [r.fields for page in [p async for p in c.under("103").list()] for r in page.records]
        assert await c.under("103").delete(timed.id) is True
        after_delete = [r.id for page in [p async for p in c.under("103").list()] for r in page.records]

    assert [r.fields["body"] for r in first] == [f"note {i}" for i in range(205)]
    assert updated is not None and updated.fields["body"] == "edited by syncd"
    assert fetched is not None and fetched.fields["body"] == "edited by syncd"
    assert third[0]["body"] == "edited by syncd" and third[1]["timestamp"] == "2024-03-01T10:00:00Z"
    assert after_delete == [created.id]
    [post, dated] = [r for r in app.requests if (r.method, r.path) == ("POST", "/crm/v3/objects/notes")]
    assert post.body["associations"] == [{"to": {"id": "103"}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}]
    # unmapped, hs_timestamp is the time of the create; mapped, the field's value
    assert datetime.fromisoformat(post.body["properties"]["hs_timestamp"]) <= datetime.now(UTC)
    assert dated.body["properties"]["hs_timestamp"] == "2024-03-01T10:00:00Z"
    searches = [r.body for r in app.requests if r.path == "/crm/v3/objects/notes/search"]
    assert searches[0]["filterGroups"] == [{"filters": [
        {"propertyName": "associations.contact", "operator": "EQ", "value": "101"}]}]
    assert [s["after"] for s in searches[:2]] == ["0", "200"]
    assert app.contract.violations == []
    assert app.contract.operations("notes") == {
        "post-/crm/v3/objects/notes/search_doSearch", "post-/crm/v3/objects/notes_create",
        "get-/crm/v3/objects/notes/{noteId}_getById", "patch-/crm/v3/objects/notes/{noteId}_update", "delete-/crm/v3/objects/notes/{noteId}_archive"}


@pytest.mark.anyio
async def test_tasks_of_a_contact_keep_to_hubspots_tasks_description(app: FakeHubSpotEngagements) -> None:
    app.log("tasks", "102", hs_task_subject="call back", hs_task_status="NOT_STARTED", hs_task_priority="HIGH")
    async with connect(app, "tasks") as c:
        [listed] = [r for page in [p async for p in c.under("102").list()] for r in page.records]
        created = await c.under("101").create({"subject": "send the quote", "status": "NOT_STARTED",
                                               "due": "2024-04-02T09:00:00Z"})
        done = await c.under("101").update(created.id, {"status": "COMPLETED"})
        assert (await c.under("101").get(created.id)) is not None
        with pytest.raises(ApiError) as refused:
            await c.under("101").update(created.id, {"status": "DONE"})
        assert await c.under("101").delete(created.id) is True

    assert listed.fields["subject"] == "call back" and listed.fields["priority"] == "HIGH"
    assert done is not None and done.fields["status"] == "COMPLETED"
    assert refused.value.status == 400
    [post] = [r for r in app.requests if (r.method, r.path) == ("POST", "/crm/v3/objects/tasks")]
    assert post.body == {"properties": {"hs_timestamp": "2024-04-02T09:00:00Z", "hs_task_subject": "send the quote",
                                        "hs_task_status": "NOT_STARTED"},
                         "associations": [{"to": {"id": "101"}, "types": [
                             {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]}
    assert app.contract.violations == []
    assert app.contract.operations("tasks") == {
        "post-/crm/v3/objects/tasks/search_doSearch", "post-/crm/v3/objects/tasks_create",
        "get-/crm/v3/objects/tasks/{taskId}_getById", "patch-/crm/v3/objects/tasks/{taskId}_update", "delete-/crm/v3/objects/tasks/{taskId}_archive"}


@pytest.mark.anyio
async def test_a_note_logged_on_a_contact_shows_the_contact_as_changed(app: FakeHubSpotEngagements) -> None:
    # The child pass reads the notes of contacts read as changed: the
    # contact's modified date must move when a note is logged on it.
    async with connect(app, "contacts") as contacts:
        since = datetime.now(UTC)
        app.log("notes", "102", hs_note_body="new")
        changed = [r.id for page in [p async for p in contacts.changes(since)] for r in page.records]
    assert changed == ["102"]
    assert app.contract.violations == []
