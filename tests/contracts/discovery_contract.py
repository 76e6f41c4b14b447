"""A Google API discovery document as the judge of every exchange with a fake.

openapi-core reads OpenAPI, not Google's discovery format, so this checker
reads the discovery document itself (tests/contracts/vendor/, format:
https://developers.google.com/discovery/v1/reference/apis). Attached to a
fake (``fake.contract = DiscoveryContract(...)``), it checks each request:

- a method of the document has its HTTP method and path: ``{name}`` is one
  path segment, ``{+name}`` a reserved expansion matching the parameter's
  ``pattern`` (``people/[^/]+``); the most specific path wins;
- every query parameter is the method's or one of the document's global
  ones, given once unless ``repeated``, of its type (integer within its
  format's range, boolean ``true``/``false``), one of its ``enum``; a
  ``google-fieldmask`` holds only the paths its description lists as valid;
  a parameter described as "Required." is present (of a method's required
  field masks, one is enough: connections.list describes both
  ``personFields`` and the deprecated ``requestMask.includeField`` so);
- the JSON body validates against the method's ``request`` schema,
  converted to JSON Schema (unknown keys refused), and a method without
  one has no body;
- a method with OAuth scopes gets an ``Authorization: Bearer`` header;

and each reply: a 2xx body validates against the method's ``response``
schema (unknown keys refused: the fake cannot drift), an error against
Google's error model (https://cloud.google.com/apis/design/errors).
Output-only fields (``readOnly``) are allowed in requests: Google ignores
them there (https://google.aip.dev/203), and an update sends back what it
read. ``/token`` (OAuth) is not the API's and is not judged here.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from fakes import Reply, Request
from jsonschema import Draft202012Validator

VENDOR = Path(__file__).resolve().parent / "vendor"
_RANGES = {"int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1)}
_VALID_PATHS = re.compile(r"Valid values are:((?:\s*\*\s*[A-Za-z.]+)+)")
_DATETIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$"
# https://cloud.google.com/apis/design/errors: the JSON form of google.rpc.Status
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["error"],
    "properties": {"error": {
        "type": "object", "additionalProperties": False, "required": ["code", "message", "status"],
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "status": {"type": "string"},
                       "details": {"type": "array", "items": {"type": "object", "required": ["@type"]}}},
    }},
}


def json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A discovery schema as JSON Schema (draft 2020-12); ``$ref`` names point into ``$defs``."""
    if "$ref" in node:
        return {"$ref": f"#/$defs/{node['$ref']}"}
    kind = node.get("type")
    out: dict[str, Any] = {}
    if kind == "object" or "properties" in node:
        out["type"] = "object"
        out["properties"] = {k: json_schema(v) for k, v in (node.get("properties") or {}).items()}
        extra = node.get("additionalProperties")
        out["additionalProperties"] = json_schema(extra) if isinstance(extra, dict) else False
    elif kind == "array":
        out["type"] = "array"
        out["items"] = json_schema(node.get("items") or {})
    elif kind == "integer":
        out["type"] = "integer"
        if node.get("format") in _RANGES:
            out["minimum"], out["maximum"] = _RANGES[node["format"]]
    elif kind == "string":
        out["type"] = "string"
        fmt = node.get("format")
        if fmt in ("int64", "uint64"):
            out["pattern"] = r"^-?\d+$"
        elif fmt == "google-datetime":
            out["pattern"] = _DATETIME
        if "enum" in node:
            out["enum"] = node["enum"]
    elif kind in ("boolean", "number"):
        out["type"] = kind
    return out  # "any": anything


class DiscoveryContract:
    def __init__(self, name: str) -> None:
        self.document = json.loads((VENDOR / name).read_text(encoding="utf-8"))
        self.violations: list[str] = []
        self.operations: list[str] = []  # the method ids of the requests judged, in order
        self._lock = threading.Lock()
        defs = {k: json_schema(v) for k, v in self.document["schemas"].items()}
        self._defs = defs
        self.methods: list[tuple[str, re.Pattern[str], int, dict[str, Any]]] = []
        for method in self._all_methods(self.document.get("resources") or {}):
            regex, literal = self._path_regex(method)
            self.methods.append((method["httpMethod"], regex, literal, method))
        self.methods.sort(key=lambda m: -m[2])  # the most specific path first

    def _all_methods(self, resources: dict[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for resource in resources.values():
            found += list((resource.get("methods") or {}).values())
            found += self._all_methods(resource.get("resources") or {})
        return found

    def _path_regex(self, method: dict[str, Any]) -> tuple[re.Pattern[str], int]:
        path = "/" + self.document.get("servicePath", "") + method["path"]
        out, literal, pos = "", 0, 0
        for m in re.finditer(r"\{(\+?)([^}]+)\}", path):
            out += re.escape(path[pos:m.start()])
            literal += m.start() - pos
            param = method["parameters"].get(m.group(2), {})
            if m.group(1):
                pattern = param.get("pattern", "^.+$").removeprefix("^").removesuffix("$")
            else:
                pattern = "[^/]+"
            out += f"(?P<{re.sub(r'[^A-Za-z0-9_]', '_', m.group(2))}>{pattern})"
            pos = m.end()
        out += re.escape(path[pos:])
        literal += len(path) - pos
        return re.compile(f"^{out}$"), literal

    def _validator(self, ref: str | dict[str, Any]) -> Draft202012Validator:
        schema = {"$defs": self._defs, **({"$ref": f"#/$defs/{ref}"} if isinstance(ref, str) else ref)}
        return Draft202012Validator(schema)

    # --- judging -----------------------------------------------------------------------

    def check(self, request: Request, reply: Reply) -> None:
        if request.path == "/token":
            return
        method = self._method(request)
        if method is None:
            return
        with self._lock:
            self.operations.append(method["id"])
        self._check_query(request, method)
        self._check_body(request, method)
        if method.get("scopes") and not request.headers.get("authorization", "").startswith("Bearer "):
            self._violation(f"{method['id']}: no Authorization: Bearer header (the method needs OAuth scopes)")
        self._check_reply(method, reply)

    def _violation(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)

    def _method(self, request: Request) -> dict[str, Any] | None:
        for http, regex, _, method in self.methods:
            if http == request.method and regex.match(request.path):
                return method
        self._violation(f"{request.method} {request.path}: no method of the discovery document")
        return None

    def _check_query(self, request: Request, method: dict[str, Any]) -> None:
        params = method.get("parameters") or {}
        known = {**(self.document.get("parameters") or {}),
                 **{k: v for k, v in params.items() if v.get("location") == "query"}}
        for name, values in request.query.items():
            spec = known.get(name)
            if spec is None:
                self._violation(f"{method['id']}: unknown query parameter {name!r}")
                continue
            if len(values) > 1 and not spec.get("repeated"):
                self._violation(f"{method['id']}: {name} given {len(values)} times (not repeated)")
            for value in values:
                problem = self._bad_value(spec, value)
                if problem:
                    self._violation(f"{method['id']}: {name}={value!r:.80}: {problem}")
        required = [k for k, v in known.items()
                    if v.get("location") == "query" and v.get("description", "").startswith("Required.")]
        masks = [k for k in required if known[k].get("format") == "google-fieldmask"]
        if masks and not any(m in request.query for m in masks):
            self._violation(f"{method['id']}: required parameter {' or '.join(masks)} is missing")
        for name in required:
            if name not in masks and name not in request.query:
                self._violation(f"{method['id']}: required parameter {name} is missing")

    @staticmethod
    def _bad_value(spec: dict[str, Any], value: str) -> str:
        kind = spec.get("type")
        if kind == "integer":
            if not re.fullmatch(r"-?\d+", value):
                return "not an integer"
            low, high = _RANGES.get(spec.get("format", ""), (None, None))
            if low is not None and high is not None and not low <= int(value) <= high:
                return f"outside {spec['format']}"
        elif kind == "boolean" and value not in ("true", "false"):
            return "not true or false"
        if "enum" in spec and value not in spec["enum"]:
            return f"not one of {spec['enum']}"
        if spec.get("format") == "google-fieldmask":
            listed = _VALID_PATHS.search(spec.get("description", ""))
            if listed is not None:
                valid = set(re.findall(r"\*\s*([A-Za-z.]+)", listed.group(1)))
                unknown = sorted(set(value.split(",")) - valid)
                if unknown:
                    return f"{unknown[0]!r} is not a valid path of this field mask"
        return ""

    def _check_body(self, request: Request, method: dict[str, Any]) -> None:
        schema = method.get("request")
        if schema is None:
            if request.raw.strip():
                self._violation(f"{method['id']}: a body was sent, and the method takes none")
            return
        if not isinstance(request.body, dict):
            self._violation(f"{method['id']}: the body is not a JSON object")
            return
        for error in self._validator(schema["$ref"]).iter_errors(request.body):
            where = "/".join(str(p) for p in error.absolute_path) or "(top)"
            self._violation(f"{method['id']} request at {where}: {error.message}")

    def _check_reply(self, method: dict[str, Any], reply: Reply) -> None:
        if reply.status >= 400:
            validator = Draft202012Validator(ERROR_SCHEMA)
        elif "response" in method:
            validator = self._validator(method["response"]["$ref"])
        else:
            validator = Draft202012Validator({"type": "object", "maxProperties": 0})
        for error in validator.iter_errors(reply.body):
            where = "/".join(str(p) for p in error.absolute_path) or "(top)"
            self._violation(f"{method['id']} reply {reply.status} at {where}: {error.message}")
