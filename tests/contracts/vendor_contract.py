"""A vendor's OpenAPI description as the judge of every exchange with a fake.

:class:`VendorContract` loads a description from tests/contracts/vendor/ and,
attached to a fake (``fake.contract = VendorContract(...)``, see
tests/connector_specs/fakes.py), checks each request syncd sends and each
reply the fake gives:

- the request: its operation exists (method and path), its path, query and
  header parameters and its JSON body validate (openapi-core), and it
  carries credentials of a scheme the operation's ``security`` names;
- the reply: its status is one the operation documents (or ``default``) and
  its body validates against that response's schema, so a fake can never
  drift from the vendor's contract while the tests stay green.

Violations are collected, never raised inside the server thread: a test
asserts ``contract.violations == []`` (the fixtures do it again at teardown)
and reads ``contract.operations`` to show it went through list, changes,
get, create and update.

The fake serves the same paths as the vendor (under the description's first
server URL's path), so a request maps to the vendor's URL by swapping the
origin alone.
"""

from __future__ import annotations

import base64
import json
import threading
from copy import deepcopy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from fakes import Reply, Request
from jsonschema_path import SchemaPath
from openapi_core import V30ResponseValidator
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.validators import V30RequestBodyValidator, V30RequestParametersValidator
from openapi_core.validation.response.exceptions import MissingData

VENDOR = Path(__file__).resolve().parent / "vendor"


def _explain(error: BaseException) -> str:
    """openapi-core's error and the schema errors under it, one line."""
    parts = [f"{type(error).__name__}: {error}"]
    seen: set[int] = set()
    node: BaseException | None = error
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        for schema_error in getattr(node, "schema_errors", ()) or ():
            where = "/".join(str(p) for p in schema_error.absolute_path) or "(top)"
            parts.append(f"at {where}: {schema_error.message}")
        node = node.__cause__ or node.__context__
    return "; ".join(dict.fromkeys(parts))


# Known mistakes in a vendor's description, corrected before it judges: each a
# path into the document, what the API really takes there, and the evidence.
# Only the API's own behaviour, reported by its users and acknowledged by the
# vendor, earns an entry; a spec that disagrees with a description is fixed instead.
_HUBSPOT_SORTS = (
    ("components", "schemas", "PublicObjectSearchRequest", "properties", "sorts", "items"),
    {"type": "object", "required": ["propertyName"],
     "properties": {"propertyName": {"type": "string"},
                    "direction": {"type": "string", "enum": ["ASCENDING", "DESCENDING"]}}},
    "Search sorts are {propertyName, direction} objects; the description's strings are ignored "
    "by the API (github.com/HubSpot/hubspot-api-ruby/issues/257, acknowledged by HubSpot; "
    "github.com/HubSpot/hubspot-api-nodejs/issues/559; the search guide's examples).",
)
ERRATA: dict[str, list[tuple[tuple[str, ...], Any, str]]] = {
    # The CRM search request is one schema, the same in each object's description.
    **{f"hubspot-crm-{name}-v3.yaml": [_HUBSPOT_SORTS] for name in ("contacts", "notes", "tasks")},
    "intercom-2.11.yaml": [(
        ("components", "schemas", "tag", "required"), ["type", "id", "name"],
        "applied_at and applied_by are absent from GET /tags and GET /tags/{id}: they are only in a tagging "
        "operation's answer (github.com/intercom/Intercom-OpenAPI/pull/449, merged by Intercom: the "
        "descriptions were clarified, the schema's `required` left as it was; the listTags example omits them).",
    )],
    # Every member schema types each merge field value as an object; the
    # Merge Fields page the description itself links to (…/docs/merge-fields/,
    # "Add merge data to contacts") types each value by its field's type:
    # text, phone and the like as strings, ADDRESS as an object, and the API
    # answers "" for an empty one. Any JSON value is allowed instead.
    "mailchimp-marketing-3.0.76.yaml": [(
        ("components", "schemas", schema, "properties", "merge_fields", "additionalProperties"),
        {"description": "A merge field's value, typed by the merge field's type."},
        "Merge field values are typed by their merge field (text: a string, address: an object): "
        "https://mailchimp.com/developer/marketing/docs/merge-fields/#add-merge-data-to-contacts, "
        "linked from the description's own merge_fields.",
    ) for schema in ("Add List Members_2", "Add List Members_3", "List Members_2", "List Members_4")],
}


def _corrected(name: str, document: dict[str, Any]) -> dict[str, Any]:
    for path, value, _why in ERRATA.get(name, []):
        node = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return document


def _json_for_wildcards(document: dict[str, Any]) -> dict[str, Any]:
    """A copy where a reply documented as ``*/*`` (HubSpot's errors) is also documented as JSON.

    openapi-core cannot decode ``*/*`` and would judge the raw bytes against the
    schema; the vendor sends JSON there, so the schema is applied to the JSON.
    """
    copy = deepcopy(document)
    responses = [r for item in copy.get("paths", {}).values() for op in item.values() if isinstance(op, dict)
                 for r in op.get("responses", {}).values()]
    responses += list(copy.get("components", {}).get("responses", {}).values())
    for response in responses:
        content = response.get("content") or {}
        if "*/*" in content and "application/json" not in content:
            content["application/json"] = content["*/*"]
    return copy


class VendorContract:
    def __init__(self, description: str) -> None:
        self.file = VENDOR / description
        self.document: dict[str, Any] = yaml.safe_load(self.file.read_text())
        server = urlsplit(self.document["servers"][0]["url"])
        self.vendor_origin = f"{server.scheme}://{server.netloc}"
        self.spec = SchemaPath.from_dict(_corrected(description, _json_for_wildcards(self.document)))
        # Parameters and body by openapi-core; security here (_credentials), as
        # openapi-core cannot judge oauth2 schemes (it warns and passes them).
        self._requests = [V30RequestParametersValidator(self.spec), V30RequestBodyValidator(self.spec)]
        # application/problem+json (RFC 7807; Mailchimp's errors) is JSON, which
        # openapi-core decodes only for the media types it knows.
        self._responses = V30ResponseValidator(
            self.spec, extra_media_type_deserializers={"application/problem+json": json.loads})
        self._finder = APICallPathFinder(self.spec)
        self._lock = threading.Lock()
        self.violations: list[str] = []
        self.operations: list[str] = []  # operationId of each request, in order

    # --- one exchange -------------------------------------------------------

    def check(self, request: Request, reply: Reply) -> None:
        vendor_request = self._as_vendor_request(request)
        label = f"{request.method} {request.path}"
        found: list[str] = []
        try:
            path, operation, *_ = self._finder.find(vendor_request.method, self._full_url(request))
        except Exception as e:  # PathNotFound, OperationNotFound
            self._violation(f"{label}: not in {self.file.name}: {_explain(e)}")
            return
        op = operation.read_value()
        with self._lock:
            self.operations.append(op.get("operationId", f"{request.method} {path}"))
        found += self._credentials(request, op)
        for validator in self._requests:
            found += [f"request: {_explain(e)}" for e in validator.iter_errors(vendor_request)]
        response = MockResponse(b"" if reply.body is None else json.dumps(reply.body).encode(),
                                status_code=reply.status, headers=reply.headers,
                                content_type=reply.content_type.split(";")[0] if reply.body is not None else None)
        found += [f"reply {reply.status}: {_explain(e)}"
                  for e in self._responses.iter_errors(vendor_request, response)
                  if not (isinstance(e, MissingData) and reply.body is None and self._empty(op, reply.status))]
        for problem in found:
            self._violation(f"{label}: {problem}")

    def _empty(self, op: dict[str, Any], status: int) -> bool:
        """The documented reply has no body (``content: {}``, which openapi-core reads as one missing)."""
        response = op.get("responses", {}).get(str(status)) or op.get("responses", {}).get(status) or {}
        if "$ref" in response:
            response = self.document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        return not response.get("content")

    def _violation(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)

    def _full_url(self, request: Request) -> str:
        return self.vendor_origin + request.path

    def _as_vendor_request(self, request: Request) -> MockRequest:
        # Repeated names (a list parameter, exploded) reach the validator whole.
        args = [(name, value) for name, values in request.query.items() for value in values]
        headers = dict(request.headers)
        content_type = (request.headers.get("content-type") or "application/json").split(";")[0]
        return MockRequest(self.vendor_origin, request.method, request.path, args=args,  # type: ignore[arg-type]
                           headers=headers, data=request.raw or None, content_type=content_type)

    # --- credentials --------------------------------------------------------

    def _credentials(self, request: Request, op: dict[str, Any]) -> list[str]:
        """The request satisfies one of the operation's security requirements."""
        requirements = op.get("security", self.document.get("security"))
        if not requirements:
            return []
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        for requirement in requirements:
            if all(self._has(request, schemes[name]) for name in requirement):
                return []
        names = " or ".join("+".join(r) or "(none)" for r in requirements)
        return [f"credentials: none of the documented schemes ({names}) is present"]

    @staticmethod
    def _has(request: Request, scheme: dict[str, Any]) -> bool:
        auth = request.headers.get("authorization", "")
        kind = scheme["type"]
        if kind == "apiKey":
            where = {"header": {k.lower() for k in request.headers}, "query": set(request.query)}
            name = scheme["name"].lower() if scheme["in"] == "header" else scheme["name"]
            return name in where.get(scheme["in"], set())
        if kind == "http" and scheme["scheme"].lower() == "basic":
            if not auth.startswith("Basic "):
                return False
            return b":" in base64.b64decode(auth[6:])
        # http bearer, and OAuth 2 / OpenID Connect access tokens (RFC 6750: sent as bearer tokens)
        return auth.startswith("Bearer ") and len(auth) > 7
