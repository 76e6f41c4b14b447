"""The fake contacts app behaves like a real API, over real HTTP."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncd.sampleapp import AuthMode, DuplicateEmailError, SampleApp

StartApp = Callable[..., SampleApp]


# -- one client-side reader per pagination style ------------------------------

def _cursor(c: httpx.Client, since: str | None) -> Iterator[list[dict[str, Any]]]:
    params: dict[str, Any] = {"limit": 40, "updated_after": since}
    while True:
        body = c.get("/cursor/contacts", params={k: v for k, v in params.items() if v}).raise_for_status().json()
        yield body["results"]
        if "paging" not in body:
            return
        params["after"] = body["paging"]["next"]["after"]


def _cursor_link(c: httpx.Client, since: str | None) -> Iterator[list[dict[str, Any]]]:
    url: str | None = "/cursor/contacts?limit=40" + (f"&updated_after={since}" if since else "")
    while url:
        body = c.get(url).raise_for_status().json()
        yield body["results"]
        url = body.get("paging", {}).get("next", {}).get("link")


def _search(c: httpx.Client, since: str | None) -> Iterator[list[dict[str, Any]]]:
    query: dict[str, Any] = {"limit": 40, **({"updated_after": since} if since else {})}
    while True:
        body = c.post("/search/contacts", json=query).raise_for_status().json()
        yield body["results"]
        if "paging" not in body:
            return
        query["after"] = body["paging"]["next"]["after"]


def _next_url(c: httpx.Client, since: str | None) -> Iterator[list[dict[str, Any]]]:
    url: str | None = "/next/contacts?limit=40" + (f"&updated_after={since}" if since else "")
    while url:
        body = c.get(url).raise_for_status().json()
        yield body["data"]
        url = body["links"]["next"]


def _link_header(c: httpx.Client, since: str | None) -> Iterator[list[dict[str, Any]]]:
    url: str | None = "/link/contacts?per_page=40" + (f"&updated_after={since}" if since else "")
    while url:
        resp = c.get(url).raise_for_status()
        yield resp.json()
        url = resp.links.get("next", {}).get("url")


def _offset(c: httpx.Client, since: str | None) -> Iterator[list[dict[str, Any]]]:
    offset = 0
    while True:
        params: dict[str, Any] = {"offset": offset, "count": 40, **({"updated_after": since} if since else {})}
        body = c.get("/offset/contacts", params=params).raise_for_status().json()
        yield body["members"]
        offset += len(body["members"])
        if offset >= body["total_items"]:
            return


def _pages(c: httpx.Client, since: str | None) -> Iterator[list[dict[str, Any]]]:
    page = 1
    while True:
        params: dict[str, Any] = {"page": page, "per_page": 40, **({"updated_after": since} if since else {})}
        body = c.get("/pages/contacts", params=params).raise_for_status().json()
        yield body["items"]
        if page >= body["meta"]["total_pages"]:
            return
        page += 1


def _all(c: httpx.Client, since: str | None) -> Iterator[list[dict[str, Any]]]:
    yield c.get("/all/contacts", params={"updated_after": since} if since else {}).raise_for_status().json()


STYLES = [_cursor, _cursor_link, _search, _next_url, _link_header, _offset, _pages, _all]


def _read(c: httpx.Client, style: Callable[..., Iterator[list[dict[str, Any]]]],
          since: str | None = None) -> list[dict[str, Any]]:
    return [record for page in style(c, since) for record in page]


@pytest.mark.parametrize("style", STYLES, ids=lambda f: f.__name__.strip("_"))
def test_every_pagination_style_returns_every_contact_once(sample_app: StartApp, style: Any) -> None:
    app = sample_app(n=250, max_page_size=100)
    with httpx.Client(base_url=app.url) as c:
        records = _read(c, style)
    assert [r["id"] for r in records] == app.store.ids()  # each once, in id order
    assert records == app.store.all()


@pytest.mark.parametrize("style", STYLES, ids=lambda f: f.__name__.strip("_"))
def test_updated_after_returns_only_newer_contacts_oldest_first(sample_app: StartApp, style: Any) -> None:
    app = sample_app(n=120)
    since = app.store.now()
    for cid in ("1000100", "1000007", "1000050"):
        app.store.update(cid, first_name="Changed")
    with httpx.Client(base_url=app.url) as c:
        records = _read(c, style, since)
        everything = _read(c, style, "2000-01-01T00:00:00Z")
    assert [r["id"] for r in records] == ["1000100", "1000007", "1000050"]
    assert all(r["first_name"] == "Changed" and r["updated_at"] > since for r in records)
    assert len(everything) == 120
    assert [(r["updated_at"], r["id"]) for r in everything] == sorted((r["updated_at"], r["id"]) for r in everything)


def test_page_sizes_are_capped_and_checked(sample_app: StartApp) -> None:
    app = sample_app(n=30, max_page_size=7, default_page_size=5)
    with httpx.Client(base_url=app.url) as c:
        assert len(c.get("/cursor/contacts", params={"limit": 1000}).json()["results"]) == 7
        assert len(c.get("/cursor/contacts").json()["results"]) == 5
        assert len(c.get("/offset/contacts", params={"count": 1000}).json()["members"]) == 7
        assert len(c.get("/pages/contacts", params={"per_page": 1000}).json()["items"]) == 7
        for bad in ({"limit": 0}, {"limit": "ten"}, {"after": "not-a-cursor"},
                    {"updated_after": "yesterday"}, {"updated_after": "2024-01-01T00:00:00"}):
            resp = c.get("/cursor/contacts", params=bad)
            assert resp.status_code == 400 and resp.json()["status"] == "error", bad


def test_link_header_has_first_prev_next_last_and_no_next_on_the_last_page(sample_app: StartApp) -> None:
    app = sample_app(n=25)
    with httpx.Client(base_url=app.url) as c:
        middle = c.get("/link/contacts", params={"page": 2, "per_page": 10})
        last = c.get("/link/contacts", params={"page": 3, "per_page": 10})
    rels = re.findall(r'<([^>]*)>; rel="(\w+)"', middle.headers["link"])
    assert [rel for _, rel in rels] == ["first", "prev", "next", "last"]
    assert rels[2][0] == f"{app.url}/link/contacts?page=3&per_page=10"
    assert "next" not in last.links and len(last.json()) == 5


def test_cursor_pages_do_not_shift_when_contacts_come_and_go(sample_app: StartApp) -> None:
    app = sample_app(n=20)
    with httpx.Client(base_url=app.url) as c:
        first = c.get("/cursor/contacts", params={"limit": 10}).json()
        app.store.delete("1000003")  # already read
        app.store.delete("1000015")  # not yet read
        created = app.store.create({"email": "new@example.com"})
        rest = c.get("/cursor/contacts", params={"limit": 100, "after": first["paging"]["next"]["after"]}).json()
    ids = [r["id"] for r in first["results"] + rest["results"]]
    assert ids == [str(1000000 + i) for i in range(20) if i != 15] + [created["id"]]


def test_stuck_endpoint_repeats_the_same_page_and_cursor(sample_app: StartApp) -> None:
    app = sample_app(n=30)
    with httpx.Client(base_url=app.url) as c:
        one = c.get("/stuck/contacts", params={"limit": 5}).json()
        two = c.get("/stuck/contacts", params={"limit": 5, "after": one["paging"]["next"]["after"]}).json()
    assert one == two and len(one["results"]) == 5


# -- auth -----------------------------------------------------------------------

GOOD_AND_BAD: list[tuple[AuthMode, dict[str, Any], dict[str, Any]]] = [
    (AuthMode.API_KEY_HEADER, {"headers": {"X-API-Key": "s3cret"}}, {"headers": {"X-API-Key": "wrong"}}),
    (AuthMode.API_KEY_QUERY, {"params": {"api_key": "s3cret"}}, {"params": {"api_key": "wrong"}}),
    (AuthMode.BEARER, {"headers": {"Authorization": "Bearer s3cret"}},
     {"headers": {"Authorization": "Bearer wrong"}}),
    (AuthMode.BASIC, {"auth": ("sample-user", "s3cret")}, {"auth": ("sample-user", "wrong")}),
]


@pytest.mark.parametrize(("mode", "good", "bad"), GOOD_AND_BAD, ids=[m.value for m, _, _ in GOOD_AND_BAD])
def test_auth_modes_accept_good_and_reject_bad_credentials(
        sample_app: StartApp, mode: AuthMode, good: dict[str, Any], bad: dict[str, Any]) -> None:
    app = sample_app(n=5, auth=mode, token="s3cret")
    with httpx.Client(base_url=app.url) as c:
        assert c.get("/cursor/contacts", **good).status_code == 200
        for kwargs in (bad, {}):
            resp = c.get("/cursor/contacts", **kwargs)
            assert resp.status_code == 401
            assert resp.json()["status"] == "error" and "s3cret" not in resp.text and "wrong" not in resp.text
        assert c.get("/_health").json() == {"ok": True, "n": 5}  # never needs credentials
    if mode is AuthMode.BASIC:
        assert resp.headers["www-authenticate"].startswith("Basic ")


def test_auth_none_accepts_anything(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    assert httpx.get(app.url + "/cursor/contacts").status_code == 200


def _token(c: httpx.Client, **form: str) -> httpx.Response:
    return c.post("/oauth/token", data=form)


def test_client_credentials_in_body_or_basic_then_expiry(sample_app: StartApp) -> None:
    app = sample_app(n=5, auth=AuthMode.OAUTH2_CLIENT_CREDENTIALS, client_id="cid", client_secret="csec",
                     token_ttl=0.3)
    with httpx.Client(base_url=app.url) as c:
        body = _token(c, grant_type="client_credentials", client_id="cid", client_secret="csec").json()
        assert body["token_type"] == "Bearer" and "refresh_token" not in body
        basic = c.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "contacts"},
                       auth=("cid", "csec")).json()
        assert basic["scope"] == "contacts" and basic["access_token"] != body["access_token"]
        bearer = {"Authorization": f"Bearer {body['access_token']}"}
        assert c.get("/cursor/contacts", headers=bearer).status_code == 200

        wrong = _token(c, grant_type="client_credentials", client_id="cid", client_secret="nope")
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client" and "nope" not in wrong.text
        assert _token(c, grant_type="refresh_token", refresh_token=app.refresh_token, client_id="cid",
                      client_secret="csec").json()["error"] == "unauthorized_client"
        assert c.post("/oauth/token", json={"grant_type": "client_credentials"}).status_code == 400

        # Not synchronisation: token expiry is the behaviour under test, and
        # only time passing expires a token (token_ttl=0.3 above).
        time.sleep(0.35)
        expired = c.get("/cursor/contacts", headers=bearer)
        assert expired.status_code == 401 and expired.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in expired.headers["www-authenticate"]
        assert c.get("/cursor/contacts", headers={"Authorization": "Bearer made-up"}).status_code == 401
    assert app.token_requests == 5 and app.tokens_issued == 2


def test_expire_tokens_invalidates_every_access_token_now(sample_app: StartApp) -> None:
    app = sample_app(n=5, auth=AuthMode.OAUTH2_CLIENT_CREDENTIALS)
    bearer = {"Authorization": f"Bearer {app.issue_access_token()}"}
    with httpx.Client(base_url=app.url, headers=bearer) as c:
        assert c.get("/cursor/contacts").status_code == 200
        app.expire_tokens()
        assert c.get("/cursor/contacts").status_code == 401


def test_refresh_token_rotation_invalidates_the_old_one(sample_app: StartApp) -> None:
    app = sample_app(n=5, auth=AuthMode.OAUTH2_REFRESH_TOKEN, rotate_refresh_token=True)
    creds = {"client_id": app.client_id, "client_secret": app.client_secret}
    old = app.refresh_token
    with httpx.Client(base_url=app.url) as c:
        body = _token(c, grant_type="refresh_token", refresh_token=old, **creds).json()
        assert body["refresh_token"] == app.refresh_token != old
        reuse = _token(c, grant_type="refresh_token", refresh_token=old, **creds)
        assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
        assert _token(c, grant_type="refresh_token", refresh_token=body["refresh_token"], **creds).status_code == 200
        assert _token(c, grant_type="client_credentials", **creds).json()["error"] == "unauthorized_client"
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        assert c.get("/cursor/contacts", headers=headers).status_code == 200


def test_refresh_token_without_rotation_stays_valid(sample_app: StartApp) -> None:
    app = sample_app(n=5, auth=AuthMode.OAUTH2_REFRESH_TOKEN)
    form = {"grant_type": "refresh_token", "refresh_token": app.refresh_token}
    with httpx.Client(base_url=app.url, auth=(app.client_id, app.client_secret)) as c:
        for _ in range(2):
            body = _token(c, **form).json()
            assert "access_token" in body and "refresh_token" not in body
    assert app.token_requests == 2


def test_token_endpoint_delay_makes_concurrent_refreshes_overlap(sample_app: StartApp) -> None:
    app = sample_app(n=5, auth=AuthMode.OAUTH2_REFRESH_TOKEN, rotate_refresh_token=True,
                     token_endpoint_delay=1.0)
    form = {"grant_type": "refresh_token", "refresh_token": app.refresh_token,
            "client_id": app.client_id, "client_secret": app.client_secret}
    statuses: list[int] = []

    def refresh() -> None:
        statuses.append(httpx.post(app.url + "/oauth/token", data=form).status_code)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 400]  # the loser reused a rotated token
    assert app.token_overlap == 2  # they waited side by side (the app counts, no clock is read)


# -- faults ---------------------------------------------------------------------

def test_429_carries_retry_after_as_given_and_respects_path_prefix(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    http_date = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    app.faults.add(status=429, retry_after="2", path_prefix="/cursor")
    app.faults.add(status=429, retry_after=http_date, path_prefix="/cursor")
    app.faults.add(status=429, path_prefix="/cursor")
    with httpx.Client(base_url=app.url) as c:
        assert c.get("/offset/contacts").status_code == 200  # another path: untouched
        first, second, third = (c.get("/cursor/contacts") for _ in range(3))
        assert c.get("/cursor/contacts").status_code == 200
    assert (first.status_code, first.headers["retry-after"]) == (429, "2")
    assert second.headers["retry-after"] == http_date
    assert third.status_code == 429 and "retry-after" not in third.headers
    assert first.json()["status"] == "error"


def test_500_twice_then_success(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    fault = app.faults.add(status=500, times=2)
    with httpx.Client(base_url=app.url) as c:
        assert [c.get("/all/contacts").status_code for _ in range(3)] == [500, 500, 200]
    assert fault.hits == 2 and len(app.faults) == 0
    assert [r.status for r in app.requests] == [500, 500, 200]


def test_a_fault_can_skip_the_first_matching_requests(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    fault = app.faults.add(status=503, skip=2, path_prefix="/all/")
    with httpx.Client(base_url=app.url) as c:
        assert c.get("/cursor/contacts").status_code == 200  # not matching: not counted
        assert [c.get("/all/contacts").status_code for _ in range(4)] == [200, 200, 503, 200]
    assert fault.hits == 1 and len(app.faults) == 0
    with pytest.raises(ValueError, match="skip"):
        app.faults.add(status=500, skip=-1)


def test_delay_makes_a_client_time_out_and_then_the_app_answers(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    app.faults.add(delay=1.0)
    with httpx.Client(base_url=app.url, timeout=0.2) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.get("/all/contacts")
        assert c.get("/all/contacts").status_code == 200


def test_malformed_answer_is_truncated_json(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    app.faults.add(malformed=True)
    with httpx.Client(base_url=app.url) as c:
        resp = c.get("/cursor/contacts")
        assert resp.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            resp.json()
        assert c.get("/cursor/contacts").json()["results"]


def test_close_drops_the_connection_without_an_answer(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    app.faults.add(close=True, method="POST")
    with httpx.Client(base_url=app.url) as c:
        assert c.get("/all/contacts").status_code == 200  # a GET: not this fault
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/contacts", json={"email": "x@example.com"})
        assert c.post("/contacts", json={"email": "x@example.com"}).status_code == 201  # not applied before
    assert app.requests.matching("POST")[0].status is None


def test_a_fault_after_the_request_answers_it_once_the_write_is_done(sample_app: StartApp) -> None:
    # A write that landed and whose answer was lost (a gateway's 504, a connection cut on the way back).
    app = sample_app(n=1)
    [contact] = app.store.all()
    app.faults.add(status=504, after=True, method="PATCH")
    app.faults.add(close=True, after=True, method="POST")
    with httpx.Client(base_url=app.url) as c:
        assert c.patch(f"/contacts/{contact['id']}", json={"first_name": "Landed"}).status_code == 504
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/contacts", json={"email": "x@example.com"})
    assert app.store.get(contact["id"])["first_name"] == "Landed"
    assert "x@example.com" in {c["email"] for c in app.store.all()}
    with pytest.raises(ValueError, match="after is for a status or close"):
        app.faults.add(malformed=True, after=True)


def test_stop_is_quick_with_open_connections_and_pending_delays(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    fault = app.faults.add(delay=30)
    c = httpx.Client(base_url=app.url, timeout=10)
    try:
        errors: list[Exception] = []

        def slow() -> None:
            try:
                c.get("/all/contacts")
            except httpx.HTTPError as exc:
                errors.append(exc)

        t = threading.Thread(target=slow)
        t.start()
        app.faults.wait_hit(fault)  # the request is inside its 30 s delay
        started = time.monotonic()
        app.stop()
        t.join()
        assert time.monotonic() - started < 2
    finally:
        c.close()


# -- CRUD -------------------------------------------------------------------------

def test_crud_like_a_real_crm(sample_app: StartApp) -> None:
    app = sample_app(n=3, auth=AuthMode.BEARER, token="t")
    with httpx.Client(base_url=app.url, headers={"Authorization": "Bearer t"}) as c:
        new = {"first_name": "Ada", "email": "Ada@Example.com", "custom_fields": {"plan": "pro"}}
        created = c.post("/contacts", json=new)
        assert created.status_code == 201
        record = created.json()
        cid = record["id"]
        assert cid == "1000003" and record["created_at"] == record["updated_at"]
        assert created.headers["location"] == f"{app.url}/contacts/{cid}"
        assert record["tags"] == [] and record["last_name"] is None

        dup = c.post("/contacts", json={"email": "ada@example.COM"})
        assert dup.status_code == 409 and dup.json()["existing_id"] == cid
        assert c.post("/contacts", json={"mail": "typo@example.com"}).status_code == 400
        assert c.post("/contacts", json={"email": "not-an-email"}).status_code == 400
        assert c.post("/contacts", content=b"{oops", headers={"Content-Type": "application/json"}).status_code == 400

        patched = c.patch(f"/contacts/{cid}", json={"last_name": "Lovelace", "custom_fields": {"score": 9}}).json()
        assert patched["custom_fields"] == {"plan": "pro", "score": 9} and patched["first_name"] == "Ada"
        assert patched["updated_at"] > record["updated_at"]
        assert c.patch(f"/contacts/{cid}", json={"email": app.store.all()[0]["email"]}).status_code == 409

        replaced = c.put(f"/contacts/{cid}", json={**patched, "first_name": "Augusta", "custom_fields": {}}).json()
        assert replaced["first_name"] == "Augusta" and replaced["custom_fields"] == {}
        assert replaced["created_at"] == record["created_at"] and replaced["id"] == cid
        assert c.get(f"/contacts/{cid}").json() == replaced == app.store.get(cid)

        assert c.get("/contacts/search", params={"email": "ADA@example.com"}).json()["results"] == [replaced]
        assert c.get("/contacts/search", params={"email": "nobody@example.com"}).json() == {"results": []}

        assert c.delete(f"/contacts/{cid}").status_code == 204
        gone = c.get(f"/contacts/{cid}")
        assert gone.status_code == 404 and gone.json() == {"status": "error", "message": "contact not found"}
        assert c.delete(f"/contacts/{cid}").status_code == 404
        assert c.patch("/contacts/nope", json={}).status_code == 404


def test_batch_create_answers_in_reverse_order_and_is_all_or_nothing(sample_app: StartApp) -> None:
    app = sample_app(n=2)
    taken = app.store.all()[0]["email"]
    with httpx.Client(base_url=app.url) as c:
        inputs = [{"email": f"b{i}@example.com", "first_name": f"B{i}", "custom_fields": {"n": i}} for i in range(5)]
        created = c.post("/contacts/batch/create", json={"inputs": inputs})
        assert created.status_code == 201
        results = created.json()["results"]
        assert [r["email"] for r in results] == [f"b{i}@example.com" for i in reversed(range(5))]
        assert all(app.store.get(r["id"]) == r for r in results)

        before = app.store.all()
        refused = {
            "invalid": [{"email": "ok1@example.com"}, {"email": "not-an-email"}],
            "unknown property": [{"email": "ok2@example.com"}, {"mail": "typo@example.com"}],
            "taken": [{"email": "ok3@example.com"}, {"email": taken.upper()}],
            "twice in the batch": [{"email": "twin@example.com"}, {"email": "Twin@Example.com"}],
            "not an object": [{"email": "ok4@example.com"}, ["x"]],
        }
        for why, bad in refused.items():
            resp = c.post("/contacts/batch/create", json={"inputs": bad})
            assert resp.status_code == 400, why
            assert resp.json()["message"].startswith("inputs[1]: ") and resp.json()["index"] == 1, why
        assert c.post("/contacts/batch/create", json={"inputs": [{"email": taken}]}).json()["existing_id"]
        for shape in ({}, {"inputs": []}, {"inputs": {"email": "x@example.com"}}, [{"email": "x@example.com"}]):
            assert c.post("/contacts/batch/create", json=shape).status_code == 400, shape
        too_many = [{"email": f"m{i}@example.com"} for i in range(101)]
        resp = c.post("/contacts/batch/create", json={"inputs": too_many})
        assert resp.status_code == 400 and "at most 100 inputs" in resp.json()["message"]
        assert c.get("/contacts/batch/create").status_code == 405
        assert app.store.all() == before  # nothing stored by a refused batch
        assert c.post("/contacts/batch/create", json={"inputs": too_many[:100]}).status_code == 201
    assert len(app.store) == 2 + 5 + 100


def test_batch_update_merges_like_patch_and_is_all_or_nothing(sample_app: StartApp) -> None:
    app = sample_app(n=4)
    ids = app.store.ids()
    with httpx.Client(base_url=app.url) as c:
        inputs = [{"id": cid, "last_name": f"L{cid}", "custom_fields": {"plan": "pro"}} for cid in ids[:3]]
        resp = c.post("/contacts/batch/update", json={"inputs": inputs})
        assert resp.status_code == 200
        results = resp.json()["results"]
        assert [r["id"] for r in results] == ids[:3][::-1]
        assert all(r["last_name"] == f"L{r['id']}" and r["custom_fields"]["plan"] == "pro" for r in results)
        assert "score" in results[0]["custom_fields"]  # merged, not replaced
        assert app.store.get(ids[3])["last_name"] != f"L{ids[3]}"  # type: ignore[index]

        before = app.store.all()
        for why, bad in {
            "unknown id": [{"id": ids[0], "first_name": "X"}, {"id": "999", "first_name": "Y"}],
            "no id": [{"id": ids[0], "first_name": "X"}, {"first_name": "Y"}],
            "taken email": [{"id": ids[0], "first_name": "X"}, {"id": ids[1], "email": before[2]["email"]}],
            "invalid": [{"id": ids[0], "first_name": "X"}, {"id": ids[1], "email": "nope"}],
        }.items():
            resp = c.post("/contacts/batch/update", json={"inputs": bad})
            assert resp.status_code == 400 and resp.json()["message"].startswith("inputs[1]: "), why
        resp = c.post("/contacts/batch/update", json={"inputs": [{"id": ids[0]}] * 101})
        assert resp.status_code == 400 and "at most 100 inputs" in resp.json()["message"]
        assert app.store.all() == before
        # an email may stay with its own contact
        own = {"id": ids[0], "email": before[0]["email"].upper()}
        assert c.post("/contacts/batch/update", json={"inputs": [own]}).status_code == 200


def test_store_clock_is_strictly_increasing(sample_app: StartApp) -> None:
    app = sample_app(n=2)
    stamps = [app.store.update("1000000", score=i)["updated_at"] for i in range(50)]
    assert stamps == sorted(set(stamps))


def test_store_helpers_work_in_process(sample_app: StartApp) -> None:
    app = sample_app(n=3)
    assert app.contacts is app.store and len(app.store) == 3 and "1000001" in app.store
    copy = app.store.get("1000001")
    assert copy is not None
    copy["first_name"] = "Mutated"  # a copy: the store does not change behind its back
    assert app.store.get("1000001") != copy and app.store.get("nope") is None
    app.store.update("1000001", updated_at="2099-01-01T00:00:00.000Z")  # an explicit time is kept
    made = app.store.create({"id": "777", "email": "Seven@example.com"})
    assert app.store.find_by_email("seven@EXAMPLE.com") == made
    with pytest.raises(DuplicateEmailError):
        app.store.create({"email": "seven@example.com"})
    with httpx.Client(base_url=app.url) as c:
        everything = c.get("/all/contacts", params={"updated_after": "2000-01-01T00:00:00Z"}).json()
        assert [r["id"] for r in everything] == ["1000000", "1000002", "777", "1000001"]
        assert [r["id"] for r in c.get("/contacts").json()["results"]] == ["777", "1000000", "1000001", "1000002"]
    app.store.delete("777")
    with pytest.raises(KeyError):
        app.store.delete("777")


def test_request_log_records_what_the_client_sent(sample_app: StartApp) -> None:
    app = sample_app(n=2)
    with httpx.Client(base_url=app.url) as c:
        c.post("/search/contacts", json={"limit": 1}, params={"trace": "1"}, headers={"X-Trace": "abc"})
    rec = app.requests.last()
    assert (rec.method, rec.path, rec.query, rec.body, rec.status) == ("POST", "/search/contacts",
                                                                       {"trace": "1"}, {"limit": 1}, 200)
    assert rec.headers["x-trace"] == "abc"
    app.requests.clear()
    assert len(app.requests) == 0


# -- waiting for what the app saw ------------------------------------------------------

def test_wait_for_returns_once_the_requests_are_logged(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    go = threading.Event()

    def client() -> None:
        go.wait()
        with httpx.Client(base_url=app.url) as c:
            c.get("/offset/contacts")
            c.get("/all/contacts")
            c.get("/all/contacts", params={"n": "2"})

    t = threading.Thread(target=client)
    t.start()
    try:
        with pytest.raises(TimeoutError, match=r"0 of 1 requests \(GET /all/...\) logged in 0.05 s"):
            app.requests.wait_for(method="get", path_prefix="/all/", timeout=0.05)  # nothing sent yet
        go.set()
        both = app.requests.wait_for(2, method="GET", path_prefix="/all/")
        assert [r.path for r in both] == ["/all/contacts"] * 2 and both[1].query == {"n": "2"}
        assert len(app.requests) == 3  # logged in order: the /offset one came first
        assert app.requests.wait_for(where=lambda r: r.query.get("n") == "2") == [both[1]]
    finally:
        t.join()
    with pytest.raises(TimeoutError, match=r"meeting the condition.*'GET /all/contacts 200'"):
        app.requests.wait_for(where=lambda r: r.status == 404, timeout=0.05)


def test_wait_for_sees_requests_logged_after_a_clear(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    with httpx.Client(base_url=app.url) as c:
        c.get("/all/contacts")
        app.requests.wait_for()
        app.requests.clear()
        c.get("/all/contacts")
    assert len(app.requests.wait_for()) == 1


def test_wait_hit_returns_while_the_request_is_inside_its_delay(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    fault = app.faults.add(delay=30, path_prefix="/all/")
    errors: list[Exception] = []

    def slow() -> None:
        try:
            httpx.get(app.url + "/all/contacts", timeout=60)
        except httpx.HTTPError as exc:  # the app hangs up when stopped
            errors.append(exc)

    with pytest.raises(TimeoutError, match="hit 0 of 1 requests"):
        app.faults.wait_hit(fault, timeout=0.05)
    t = threading.Thread(target=slow)
    t.start()
    app.faults.wait_hit(fault)
    assert fault.hits == 1 and len(app.requests) == 0  # arrived, not answered: still in its delay
    app.stop()  # cuts the delay short
    t.join()
    assert app.requests.last().path == "/all/contacts"


def test_a_held_request_waits_until_the_test_releases_it(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    fault = app.faults.add(hold=True, path_prefix="/all/")
    answered: list[int] = []
    t = threading.Thread(target=lambda: answered.append(httpx.get(app.url + "/all/contacts", timeout=60).status_code))
    t.start()
    app.faults.wait_hit(fault)
    t.join(0.5)
    assert t.is_alive() and not answered  # held, past any short delay
    fault.release()
    t.join(10)
    assert answered == [200]


def test_wait_idle_returns_once_every_connection_is_closed(sample_app: StartApp) -> None:
    app = sample_app(n=5)
    app.wait_idle(timeout=1)  # nobody connected yet
    c = httpx.Client(base_url=app.url)
    try:
        assert c.get("/all/contacts").status_code == 200
        with pytest.raises(TimeoutError, match="1 connections still open"):
            app.wait_idle(timeout=0.05)  # the client keeps its connection alive
    finally:
        c.close()
    app.wait_idle()
    assert len(app.requests) == 1


def test_wait_idle_waits_for_a_request_sent_on_a_connection_closed_at_once(sample_app: StartApp) -> None:
    import socket

    app = sample_app(n=5)
    with socket.create_connection(("127.0.0.1", app.port)) as sock:
        sock.sendall(b"GET /all/contacts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)  # sent and closed at once: the app still reads and answers it
        app.wait_idle()
    assert [(r.path, r.status) for r in app.requests] == [("/all/contacts", 200)]


# -- command line ------------------------------------------------------------------

def test_cli_serves_until_sigterm_and_exits_zero(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    with subprocess.Popen([sys.executable, "-m", "syncd.sampleapp", "--n", "12", "--port", "0",
                           "--port-file", str(port_file), "--quiet"],
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stderr is not None
            # The app says it listens once the port file is written; an app
            # that hangs instead is killed, which ends the read.
            killer = threading.Timer(10, proc.kill)
            killer.start()
            try:
                listening = proc.stderr.readline()
            finally:
                killer.cancel()
            assert listening, "the app did not start"
            url = f"http://127.0.0.1:{port_file.read_text().strip()}"
            assert httpx.get(url + "/_health").json() == {"ok": True, "n": 12}
            assert httpx.get(url + "/all/contacts").status_code == 401
            ok = httpx.get(url + "/all/contacts", headers={"Authorization": "Bearer sample-token"})
            assert len(ok.json()) == 12
        finally:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert re.fullmatch(rf"sampleapp listening on {url} \(12 contacts, auth bearer, token sample-token\)\n",
                        listening)
