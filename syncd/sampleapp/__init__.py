"""A fake contacts app that serves real HTTP on 127.0.0.1.

The test suite's stand-in for every SaaS app (no HTTP mocking anywhere), and
the README quick start's API (``python -m syncd.sampleapp --port 8765``).
One app serves every pagination style and both auth families at once; a test
picks the style by path:

    GET  /cursor/contacts?limit=&after=       {"results", "paging": {"next": {"after", "link"}}}
                                              (GET /contacts is the same list)
    POST /search/contacts {limit, after, updated_after}        same shape, cursor in the body
    GET  /next/contacts?limit=                {"data", "links": {"next": URL | null}}
    GET  /link/contacts?page=&per_page=       bare array + RFC 8288 Link header
    GET  /offset/contacts?offset=&count=      {"members", "total_items"}
    GET  /pages/contacts?page=&per_page=      {"items", "meta": {"page", "total_pages"}}
    GET  /all/contacts                        bare array, one page
    GET  /stuck/contacts                      the same page and cursor forever
    GET|PATCH|PUT|DELETE /contacts/{id}, POST /contacts, GET /contacts/search?email=
    POST /contacts/batch/create {"inputs": [contact]}          {"results"}, reversed; all or nothing
    POST /contacts/batch/update {"inputs": [{"id", …}]}        the same, merged like PATCH
    GET|POST /contacts/{id}/notes, PATCH|DELETE /contacts/{id}/notes/{nid}   a contact's notes
                                              (cursor pages: limit, after); the same for tasks
    POST /oauth/token (OAuth2 modes), GET /_health (no auth)

With ``quota=Quota(limit, window)`` every answer reports the requests left
in the window (``X-RateLimit-Limit/-Remaining/-Reset``), whoever spent them.

Every list takes ``updated_after=<ISO-8601>``.  Usage::

    with SampleApp(n=250, auth=AuthMode.BEARER, token="t0ken") as app:
        httpx.get(app.url + "/cursor/contacts", headers={"Authorization": "Bearer t0ken"})
        app.store.update("1000003", first_name="Ada")
        app.faults.add(status=429, retry_after="2")

A config directory joining two apps (the demo's, the tests' and the
benchmarks' integration, built once as a dict)::

    write_sample_config(tmp_path, sample_integration(crm.url, news.url, schedule="every 1 hour"))
"""

from ._app import SampleApp
from ._auth import AuthMode
from ._config import config_yaml, sample_fields, sample_integration, write_sample_config
from ._data import make_contact
from ._faults import Fault, FaultQueue
from ._log import RequestLog, RequestRecord, max_in_flight
from ._quota import Quota
from ._store import ContactStore, DuplicateEmailError

__all__ = [
    "AuthMode",
    "ContactStore",
    "DuplicateEmailError",
    "Fault",
    "FaultQueue",
    "Quota",
    "RequestLog",
    "RequestRecord",
    "max_in_flight",
    "SampleApp",
    "config_yaml",
    "make_contact",
    "sample_fields",
    "sample_integration",
    "write_sample_config",
]
