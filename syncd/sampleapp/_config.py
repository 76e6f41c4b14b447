"""A config directory whose integration joins two sample apps.

``syncd demo``, the end-to-end tests, the ``syncd check`` tests and the
benchmarks all join two sample apps the same way. The integration is
built here once, as a dict, so that renaming a key is one edit, and a
variant is a dict update (``extra={"schedule": "every 1 hour"}``), not an
edit of YAML text::

    integration = sample_integration(crm.url, news.url, schedule="every 1 minute")
    load_config(write_sample_config(tmp_path, integration))

The YAML is written the way a person writes it (a field a line, short
mappings inline, block lists indented under their key), so that a test can
still edit a written file by text and errors point at the lines it expects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import yaml

NAME: Final = "crm-to-newsletter"
LEFT_TOKEN_REF: Final = "${env:LEFT_TOKEN}"
RIGHT_TOKEN_REF: Final = "${env:RIGHT_TOKEN}"
# Where editors find the schemas (the yaml-language-server header line).
SCHEMA_URL: Final = "https://syncd.dev/schemas/{kind}.schema.json"


def sample_fields() -> list[dict[str, Any]]:
    """The mapping every sample integration starts from (a fresh copy).

    The phone goes one way only: the CRM owns it.
    """
    return [
        {"left": "email", "right": "email"},
        {"left": "first_name", "right": "first_name"},
        {"left": "last_name", "right": "last_name"},
        {"left": "phone", "right": "phone", "direction": "left_to_right"},
    ]


def sample_integration(
    left_url: str, right_url: str, *, name: str = NAME,
    left_token: str = LEFT_TOKEN_REF, right_token: str = RIGHT_TOKEN_REF,
    fields: Sequence[Mapping[str, Any]] | None = None,
    create: str = "both", conflict: str = "newest_wins",
    description: str | None = None, schedule: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The integration joining the sample apps at *left_url* and *right_url*.

    Both sides are the shipped ``sampleapp`` connector's contacts, matched
    by email. Tokens are secret references (``${env:…}``, ``${file:…}``),
    never values: the config is written to disk. *fields* defaults to
    :func:`sample_fields`. *extra* holds more top-level keys, which come
    last in the file (``rules``, ``deletions``, ``catch_up``, …), or
    replacements for keys already set, which keep their place.
    """
    integration: dict[str, Any] = {"integration": name}
    if description is not None:
        integration["description"] = description
    if schedule is not None:
        integration["schedule"] = schedule
    integration.update(
        left=_side(left_url, left_token),
        right=_side(right_url, right_token),
        match={"left": "email", "right": "email"},
        create=create,
        conflict=conflict,
        fields=[dict(f) for f in fields] if fields is not None else sample_fields(),
    )
    integration.update(extra or {})
    return integration


def _side(url: str, token: str) -> dict[str, Any]:
    return {"connector": "sampleapp", "object": "contacts", "settings": {"url": url, "token": token}}


def config_yaml(document: Mapping[str, Any], *, kind: str | None = None) -> str:
    """*document* as YAML text; with *kind* (``"integration"``, ``"syncd"``),
    headed by the line that tells editors which schema it follows."""
    document = dict(document)
    if isinstance(document.get("fields"), list):
        document["fields"] = [_Inline(f) for f in document["fields"]]
    # default_flow_style=None: a mapping or list of scalars only goes inline
    # ({path: state.db}); the width keeps a long URL on its line.
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=None, width=1 << 16)
    if kind is None:
        return text
    return f"# yaml-language-server: $schema={SCHEMA_URL.format(kind=kind)}\n{text}"


def write_sample_config(
    directory: Path, *integrations: Mapping[str, Any],
    daemon: Mapping[str, Any] | None = None, header: bool = True,
) -> Path:
    """Write a config directory: ``syncd.yaml`` from *daemon* (default: the
    state store in ``state.db`` next to it) and ``integrations.d/NAME.yaml``
    for each integration; returns *directory*.

    ``header=False`` leaves out the schema line, for a caller that counts
    the lines of the files written.
    """
    folder = directory / "integrations.d"
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"state": {"path": "state.db"}} if daemon is None else daemon
    (directory / "syncd.yaml").write_text(
        config_yaml(settings, kind="syncd" if header else None), encoding="utf-8")
    for integration in integrations:
        (folder / f"{integration['integration']}.yaml").write_text(
            config_yaml(integration, kind="integration" if header else None), encoding="utf-8")
    return directory


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, with a block list indented under its key
    (``fields:`` then ``  - {…}``), as in the docs and the examples."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


class _Inline(dict[str, Any]):
    """A mapping written on one line, even with a list or mapping inside it
    (``{left: [first_name, last_name], right: full_name, …}``)."""


def _inline(dumper: yaml.SafeDumper, data: _Inline) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


_Dumper.add_representer(_Inline, _inline)
