"""A small API with opaque sync tokens, over real HTTP (the engine's sync-token tests).

Every change gets a version; a full list with ``requestSyncToken=true``
ends with the current version as its token (``nextSyncToken``, on the last
page only); a list with ``syncToken`` gives what changed after it, a deleted
record as a tombstone (``deleted: true``); a token in ``expired`` is refused
with a 400 shaped as Google's (an ErrorInfo reason EXPIRED_SYNC_TOKEN), and
``bad=…`` is another 400. An empty page leaves its list out, as Google does.
``get`` serves ``/v1/people/…`` (an id that is a path).
"""

from __future__ import annotations

from typing import Any

from fakes import FakeApi, Reply, Request

PAGE = 2


class TokenApi(FakeApi):
    def __init__(self, n: int = 5) -> None:
        super().__init__()
        self.version = 0
        self.people: dict[str, dict[str, Any]] = {}  # by resource name, with the version of its last change
        self.expired: set[str] = set()
        for i in range(n):
            self.put(f"people/c{i}", f"p{i}@example.com")

    def put(self, name: str, email: str) -> None:
        with self.lock:
            self.version += 1
            self.people[name] = {"resourceName": name, "email": email, "v": self.version}

    def remove(self, name: str) -> None:
        with self.lock:
            self.version += 1
            self.people[name] = {"resourceName": name, "deleted": True, "v": self.version}

    def handle(self, request: Request) -> Reply:
        if request.path.startswith("/v1/people") and request.path != "/v1/people":
            name = request.path.removeprefix("/v1/")
            person = self.people.get(name)
            if person is None or person.get("deleted"):
                return Reply(404, {"error": {"code": 404, "status": "NOT_FOUND"}})
            return Reply(200, {k: v for k, v in person.items() if k != "v"})
        token = request.arg("syncToken")
        if token in self.expired or request.arg("bad") is not None:
            reason = "EXPIRED_SYNC_TOKEN" if request.arg("bad") is None else "SOMETHING_ELSE"
            return Reply(400, {"error": {"code": 400, "status": "FAILED_PRECONDITION",
                                         "details": [{"reason": reason}]}})
        after = int(token.removeprefix("v")) if token else 0
        rows = [p for p in sorted(self.people.values(), key=lambda p: p["v"])
                if p["v"] > after and (token or not p.get("deleted"))]
        start = int(request.arg("pageToken") or 0)
        body: dict[str, Any] = {}
        if rows[start:start + PAGE]:  # an empty list is left out, as Google does
            body["connections"] = [{k: v for k, v in p.items() if k != "v"} for p in rows[start:start + PAGE]]
        if start + PAGE < len(rows):
            body["nextPageToken"] = str(start + PAGE)
        elif request.arg("requestSyncToken") == "true":
            body["nextSyncToken"] = f"v{self.version}"
        return Reply(200, body)


def spec_doc(**changes: Any) -> dict[str, Any]:
    """A connector spec for this API (object ``people``); *changes* replace its operations."""
    read = {"path": "/v1/people", "records": "connections",
            "pagination": {"type": "cursor", "cursor": "nextPageToken", "param": "pageToken"}}
    doc: dict[str, Any] = {
        "connector": "tokens", "title": "Token API", "base_url": "{{ settings.url }}",
        "settings": {"url": {"description": "where the API listens"}},
        "retry": {"max_attempts": 1},
        "objects": {"people": {
            "id": "resourceName", "deleted": "deleted",
            "fields": {"email": {"path": "email", "type": "email"}},
            "list": {**read, "params": {"requestSyncToken": True}, "sync_token": "nextSyncToken"},
            "changes": {**read, "params": {"requestSyncToken": True, "syncToken": "{{ sync_token }}"},
                        "sync_token": "nextSyncToken",
                        "sync_token_expired": {"status": 400, "when": "error.details[?reason == 'EXPIRED_SYNC_TOKEN']"}},
            "get": {"path": "/v1/{{ +id }}"},
        }},
    }
    doc["objects"]["people"].update(changes)
    return doc
