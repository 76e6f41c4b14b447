"""Builders the planning tests share: an object spec by field types, and a
compiled plan from an integration's YAML, both through the real config code."""

from __future__ import annotations

import textwrap
from pathlib import Path

from syncd.config import ObjectSpec, build_connector
from syncd.config._integration import build_integration
from syncd.config._yaml import load_yaml
from syncd.sync._plan import IntegrationPlan

HEADER = """\
integration: crm-to-newsletter
left: {connector: crm, object: contacts}
right: {connector: newsletter, object: members}
match: {left: email, right: email}
"""


def write_pair(directory: Path, left_url: str, right_url: str, rest: str) -> None:
    """A config directory joining two sample apps by integration ``pair``
    (tokens by reference: ``LEFT_TOKEN``, ``RIGHT_TOKEN``); *rest* is the
    integration's YAML after its sides."""
    (directory / "integrations.d").mkdir(parents=True)
    (directory / "syncd.yaml").write_text("state: {path: state/syncd.db}\n")
    (directory / "integrations.d" / "pair.yaml").write_text(f"""\
integration: pair
left:
  connector: sampleapp
  object: contacts
  settings: {{url: "{left_url}", token: "${{env:LEFT_TOKEN}}"}}
right:
  connector: sampleapp
  object: contacts
  settings: {{url: "{right_url}", token: "${{env:RIGHT_TOKEN}}"}}
""" + rest)


def object_spec(**types: str | None) -> ObjectSpec:
    """An object whose fields have these types (None: untyped), path = name."""
    fields = {name: ({"path": name, "type": kind} if kind else {"path": name})
              for name, kind in types.items()}
    doc = {"connector": "app", "title": "App", "base_url": "https://app.example",
           "objects": {"contacts": {"id": "id", "fields": fields, "list": {"path": "/c"}}}}
    spec, errors = build_connector(doc)
    assert spec is not None and not errors, errors
    return spec.objects["contacts"]


def compile_plan(body: str, left: ObjectSpec, right: ObjectSpec) -> IntegrationPlan:
    """The integration ``HEADER + body`` between ``left`` and ``right``, compiled."""
    doc, problems = load_yaml(HEADER + textwrap.dedent(body), "crm-to-newsletter.yaml")
    assert not problems, problems
    integration, problems = build_integration(doc, Path("/etc/syncd"), {}, "/etc/syncd")
    assert integration is not None, problems
    return IntegrationPlan.compile(integration, left, right)
