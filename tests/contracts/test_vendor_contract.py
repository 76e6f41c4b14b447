"""The judge itself: VendorContract catches each kind of breach of a vendor's description.

A stand-in that answers whatever the test tells it, with Intercom's
description attached, and real requests over HTTP: a contract test that
passes must mean the exchanges kept to the description, so each check is
shown failing here on a request or reply that breaks it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fake_intercom import example_contact
from fakes import FakeApi, Reply, Request

GOOD = {"Authorization": "Bearer token", "Intercom-Version": "2.11"}


class Scripted(FakeApi):
    """Answers every request with ``reply``."""

    def __init__(self, reply: Reply) -> None:
        super().__init__()
        self.reply = reply

    def handle(self, request: Request) -> Reply:
        return self.reply


def exchange(vendor_fake: Any, reply: Reply, method: str, path: str, **kwargs: Any) -> list[str]:
    app = vendor_fake(Scripted, "intercom-2.11.yaml", reply=reply)
    httpx.request(method, app.origin + path, **kwargs)
    found = list(app.contract.violations)
    app.contract.violations.clear()  # seen here: the fixture's teardown check is for the other tests
    return found


def listing() -> Reply:
    return Reply(200, {"type": "list", "data": [example_contact()], "total_count": 1, "pages": {"type": "pages"}})


def test_a_documented_exchange_passes(vendor_fake: Any) -> None:
    assert exchange(vendor_fake, listing(), "GET", "/contacts", params={"per_page": 5}, headers=GOOD) == []


@pytest.mark.parametrize(("method", "path", "kwargs", "expected"), [
    ("GET", "/people", {"headers": GOOD}, "not in intercom-2.11.yaml"),
    ("PATCH", "/contacts/abc", {"headers": GOOD}, "not in intercom-2.11.yaml"),
    ("GET", "/contacts", {"params": {"per_page": "many"}, "headers": GOOD}, "per_page"),
    ("GET", "/contacts", {"headers": {**GOOD, "Intercom-Version": "9.9"}}, "Intercom-Version"),
    ("GET", "/contacts", {"headers": {"Intercom-Version": "2.11"}}, "credentials: none of the documented schemes"),
    ("GET", "/contacts", {"headers": {**GOOD, "Authorization": "Basic dXNlcjpwYXNz"}}, "credentials"),
    ("POST", "/contacts/search", {"json": {"pagination": {"per_page": 5}}, "headers": GOOD}, "'query' is a required"),
    ("POST", "/contacts", {"json": {"email": 42}, "headers": GOOD}, "42 is not of type 'string'"),
])
def test_a_request_outside_the_description_is_a_violation(
        vendor_fake: Any, method: str, path: str, kwargs: dict[str, Any], expected: str) -> None:
    found = [v for v in exchange(vendor_fake, listing(), method, path, **kwargs)
             if ": reply " not in v]  # the scripted reply fits GET /contacts only
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(("reply", "expected"), [
    (Reply(404, {"type": "error.list", "errors": [{"code": "not_found"}]}), "Unknown response http status: 404"),
    (Reply(200, {"type": "list", "data": [{"id": "1"}], "total_count": 1}), "'workspace_id' is a required property"),
    (Reply(200, {"type": "list", "data": [], "total_count": "one"}), "'one' is not of type 'integer'"),
    (Reply(401, {"message": "no"}), "'errors' is a required property"),
])
def test_a_reply_outside_the_description_is_a_violation(vendor_fake: Any, reply: Reply, expected: str) -> None:
    found = exchange(vendor_fake, reply, "GET", "/contacts", headers=GOOD)
    assert len(found) == 1 and expected in found[0], found
