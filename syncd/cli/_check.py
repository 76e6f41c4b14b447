"""``syncd check``: authenticate and read the first page of each side.

    syncd check [-c DIR] INTEGRATION
    syncd check [-c DIR] CONNECTOR|FILE.yaml [--object OBJ] [--settings KEY=VALUE …]

Prints the first records as extracted fields (secrets masked) and how long
it took. An object without ``list`` (a write-only target) has no page to
read: ``get`` of an id that does not exist (else ``find`` of a value no
record has) proves the address and the credentials instead. Exits 1 with
a precise message when anything fails, 78 when the config is invalid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

from syncd._secret import Secret
from syncd.cli._common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_config_dir_argument, error
from syncd.config import (
    Config,
    ConfigError,
    WRITE_ONLY,
    ConnectorSpec,
    SecretRefError,
    config_directory,
    load_config,
    load_connector_file,
    resolve_reference,
)
from syncd.connector import (
    PROCESS_MASKER,
    AccountRegistry,
    Connector,
    ConnectorError,
    ProbeResult,
    TokenStore,
    probe,
    probe_write_only,
    tokens_for_state,
)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "check",
        help="authenticate and read the first page of an integration's sides, or of a connector",
        description=(
            "Authenticate and read the first page of each side of INTEGRATION, or of one "
            "connector (a name, or the path of a spec file being written) with --settings; "
            "print the first records as extracted fields, secrets masked."
        ),
    )
    add_config_dir_argument(p)
    p.add_argument("target", metavar="INTEGRATION|CONNECTOR|FILE",
                   help="an integration name, a connector name, or a connector spec file")
    p.add_argument("--object", help="the connector's object to read (default: its only object; "
                                    "not a child object, which is read under a parent)")
    p.add_argument("--settings", action="append", default=[], metavar="KEY=VALUE",
                   help="a connector setting; secrets as ${env:NAME}, ${file:PATH} or ${cred:NAME}")
    p.add_argument("--records", type=int, default=3, metavar="N", help="records to print per side (default 3)")
    p.add_argument("--all-pages", action="store_true", help="read every page, not just the first")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


@dataclass
class _Side:
    label: str
    spec: ConnectorSpec
    object: str
    settings: Mapping[str, Any]
    # The config's token store: a rotating refresh token is kept (and read) as a cycle would.
    tokens: TokenStore | None = None


def run(args: argparse.Namespace) -> int:
    try:
        sides = _sides(args)
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except _UsageError as e:
        error(str(e))
        return EXIT_USAGE
    results = anyio.run(_check_all, sides, args)
    failed = any(isinstance(r, ConnectorError) for r in results)
    if args.format == "json":
        print(json.dumps([_as_json(s, r) for s, r in zip(sides, results)], indent=2))
    else:
        for side, result in zip(sides, results):
            _print_side(side, result, args.records)
        if not failed:
            print(f"ok: {len(sides)} side(s) authenticated and read")
    return EXIT_FAILED if failed else EXIT_OK


class _UsageError(Exception):
    pass


def _config(args: argparse.Namespace, required: bool) -> Config | None:
    path, shown = config_directory(args.config_dir, os.environ)
    if not path.is_dir():
        if required or args.config_dir is not None:
            raise _UsageError(f"config directory {shown} does not exist (give one with -c DIR)")
        return None
    return load_config(path)


def _sides(args: argparse.Namespace) -> list[_Side]:
    target: str = args.target
    if target.endswith((".yaml", ".yml")) and Path(target).is_file():
        spec = load_connector_file(target)
        return [_connector_side(spec, args)]
    config = _config(args, required=False)
    if config is not None and target in config.integrations:
        if args.settings or args.object:
            raise _UsageError("--settings and --object are for a connector, not an integration")
        integration = config.integrations[target]
        return [
            _Side(f"{name}: {side.connector}.{side.object}", config.connectors[side.connector],
                  side.object, side.settings, tokens_for_state(config.daemon))
            for name, side in (("left", integration.left), ("right", integration.right))
        ]
    if config is not None:
        connectors = config.connectors
    else:
        # No config directory: the shipped connector specs are still checkable.
        with tempfile.TemporaryDirectory(prefix="syncd-check-") as empty:
            connectors = load_config(empty).connectors
    if target in connectors:
        return [_connector_side(connectors[target], args)]
    known = sorted([*(config.integrations if config else ()), *connectors])
    raise _UsageError(f"{target!r} is neither an integration nor a connector; known: {', '.join(known)}")


def _connector_side(spec: ConnectorSpec, args: argparse.Namespace) -> _Side:
    # A child object (notes of a contact) is read under a parent record: not alone.
    objects = [name for name, o in spec.objects.items() if o.parent is None]
    # An object that only names another's ids (Intercom's tags) is not the
    # one a user means by the connector; it is checked when asked for.
    looked_up = {f.lookup.object for o in spec.objects.values() for f in o.fields.values() if f.lookup}
    main = [name for name in objects if name not in looked_up]
    obj = args.object or (main[0] if len(main) == 1 else None)
    if obj is None or obj not in objects:
        child = spec.objects.get(obj or "")
        why = f"{obj} is read under a {child.parent} record; " if child is not None and child.parent else ""
        raise _UsageError(f"{why}give --object, one of: {', '.join(objects)}")
    settings: dict[str, Any] = {}
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep or key not in spec.settings:
            names = ", ".join(spec.settings) or "none"
            raise _UsageError(f"--settings {key!r}: expected KEY=VALUE with KEY one of: {names}")
        try:
            secret = resolve_reference(value, Path.cwd(), os.environ)
        except SecretRefError as e:
            raise _UsageError(f"--settings {key}: {e}") from None
        if secret is None and spec.settings[key].secret:
            raise _UsageError(
                f"--settings {key}: a secret goes by reference (${{env:NAME}}, ${{file:PATH}} or "
                "${cred:NAME}), never on the command line where other users can read it")
        settings[key] = secret if secret is not None else _typed(value, spec.settings[key].type)
    missing = [n for n, s in spec.settings.items() if s.required and n not in settings]
    if missing:
        raise _UsageError(f"connector {spec.name!r} needs --settings for: {', '.join(missing)}")
    return _Side(f"{spec.name}.{obj}", spec, obj, settings)


def _typed(value: str, kind: str) -> Any:
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        raise _UsageError(f"{value!r} is not a {kind}") from None
    if kind == "boolean":
        return value.lower() in ("1", "true", "yes", "on")
    return value


async def _check_all(sides: list[_Side], args: argparse.Namespace) -> list[ProbeResult | ConnectorError]:
    accounts = AccountRegistry(sides[0].tokens if sides else None)
    results: list[ProbeResult | ConnectorError] = []
    for side in sides:
        try:
            async with Connector(side.spec, side.object, side.settings, accounts=accounts) as c:
                if "list" in c.object.operations:
                    results.append(await probe(c, all_pages=args.all_pages, keep=args.records))
                else:  # a write-only target: nothing to list, a lookup proves the credentials
                    results.append(await probe_write_only(c, keep=args.records))
        except ConnectorError as e:
            results.append(e)
    return results


def _show(value: Any) -> str:
    if isinstance(value, Secret):
        return "***"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return PROCESS_MASKER.mask(str(value))


def _json_value(value: Any) -> Any:
    """A field value as JSON: lists stay lists, text is masked."""
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return _show(value)


def _print_side(side: _Side, result: ProbeResult | ConnectorError, keep: int) -> None:
    print(f"{side.label}")
    if isinstance(result, ConnectorError):
        print(f"  FAILED: {PROCESS_MASKER.mask(str(result))}")
        return
    retries = f", {result.retries} retries" if result.retries else ""
    if result.write_only is not None:
        print(f"  {WRITE_ONLY}: nothing to read; authenticated with a {result.write_only}, "
              f"{result.seconds:.3f} s{retries}")
    else:
        more = " (more pages follow)" if result.more_pages else ""
        print(f"  read {result.records} record(s) in {result.pages} page(s), {result.seconds:.3f} s{more}{retries}")
    for record in result.first_records[:keep]:
        fields = "  ".join(f"{k}={_show(v)}" for k, v in record.fields.items())
        stamp = f"  updated_at={_show(record.updated_at)}" if record.updated_at else ""
        print(f"  - id={record.id}  {fields}{stamp}")
    for err in result.errors[:5]:
        print(f"  record error: {PROCESS_MASKER.mask(str(err))}")


def _as_json(side: _Side, result: ProbeResult | ConnectorError) -> dict[str, Any]:
    if isinstance(result, ConnectorError):
        return {"side": side.label, "ok": False, "error": PROCESS_MASKER.mask(str(result))}
    return {
        "side": side.label, "ok": True, "pages": result.pages, "records": result.records,
        "more_pages": result.more_pages, "seconds": round(result.seconds, 4),
        "retries": result.retries,
        # a write-only object (no list): the lookup that proved the credentials
        "write_only": result.write_only,
        "first_records": [
            {"id": r.id, "fields": {k: _json_value(v) for k, v in r.fields.items()},
             "updated_at": _show(r.updated_at) if r.updated_at else None}
            for r in result.first_records
        ],
        "record_errors": [PROCESS_MASKER.mask(str(e)) for e in result.errors],
    }
