"""Field mappings that cannot work are refused by ``syncd validate``.

A sysadmin maps a CRM's contacts (left) to a newsletter tool's members
(right).  Each case writes one integration with one field mapping into a
small config tree, loads it with the real loader, and reads the problems
as ``syncd validate`` prints them: file, line, column, message, key.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from syncd.config import ConfigError, load_config

CRM = """\
connector: acme_crm
title: Acme CRM
base_url: https://crm.example
objects:
  contacts:
    id: id
    fields:
      email: {path: email, type: email}
      name: {path: name}
      tags: {path: tags, type: tags}
      emails: {path: emails, type: list}
      score: {path: score, type: integer}
      vip: {path: vip, type: boolean}
      birthday: {path: birthday, type: datetime}
      stage: {path: stage, type: string}
      phone: {path: phone, type: phone}
    list: {path: /contacts}
    update: {path: "/contacts/{{ id }}"}
"""

MAIL = """\
connector: acme_mail
title: Acme Mail
base_url: https://mail.example
objects:
  members:
    id: id
    fields:
      email: {path: email, type: email}
      labels: {path: labels, type: tags}
      interests: {path: interests, type: list}
      rating: {path: rating, type: number}
      subscribed: {path: subscribed, type: boolean}
      joined: {path: joined, type: datetime}
      born: {path: born, type: string}
      status: {path: status}
      note: {path: note, type: string}
    list: {path: /members}
    update: {path: "/members/{{ id }}"}
"""

HEAD = """\
integration: crm-to-mail
left: {connector: acme_crm, object: contacts}
right: {connector: acme_mail, object: members}
match: {left: email, right: email}
fields:
  - {left: email, right: email}
"""


def _validate(tmp_path: Path, mapping: str) -> list[str]:
    """Problems of the tree whose integration has *mapping* as its second field."""
    (tmp_path / "connectors.d").mkdir()
    (tmp_path / "integrations.d").mkdir()
    (tmp_path / "connectors.d" / "acme_crm.yaml").write_text(CRM)
    (tmp_path / "connectors.d" / "acme_mail.yaml").write_text(MAIL)
    (tmp_path / "integrations.d" / "crm-to-mail.yaml").write_text(
        HEAD + textwrap.indent(textwrap.dedent(mapping).strip() + "\n", "  "))
    try:
        load_config(tmp_path, environ={}, shipped=False)
    except ConfigError as e:
        prefix = f"{tmp_path}/integrations.d/crm-to-mail.yaml:"
        return [str(p).removeprefix(prefix) for p in e.problems]
    return []


@pytest.mark.parametrize(("story", "mapping"), [
    ("text to text", "- {left: stage, right: status}"),
    ("a list to a list", "- {left: emails, right: interests}"),
    ("tags to tags", "- {left: tags, right: labels}"),
    ("tags to a list", "- {left: tags, right: interests}"),
    ("a list to text: written as comma-separated text", "- {left: emails, right: note}"),
    ("a number to text", "- {left: score, right: note}"),
    ("the first email of a list into a text field",
     "- {left: emails, right: note, transform: first, direction: left_to_right}"),
    ("the first tag into a number, both ways", "- {left: tags, right: rating, transform: first}"),
    ("first from an untyped field, which may hold a list",
     "- {left: emails, right: status, transform: first, direction: right_to_left}"),
    ("a date between a datetime and a text field",
     "- {left: birthday, right: born, transform: date, format: '%d/%m/%Y'}"),
    ("a date between a datetime and an untyped field",
     "- {left: birthday, right: status, transform: date}"),
    ("a value map that reads back", "- {left: stage, right: status, values: {customer: subscribed, lead: pending}}"),
    ("a one-way value map may send two values to one",
     "- {left: stage, right: status, direction: left_to_right, values: {customer: subscribed, vip: subscribed}}"),
    ("a value map to booleans, one each", "- {left: stage, right: subscribed, values: {customer: true, churned: false}}"),
])
def test_mappings_that_work_are_accepted(tmp_path: Path, story: str, mapping: str) -> None:
    assert _validate(tmp_path, mapping) == [], story


@pytest.mark.parametrize(("story", "mapping", "problem"), [
    ("tags into a number",
     "- {left: tags, right: rating}",
     "7:25: error: field 'tags' of acme_crm.contacts (type: tags) holds a list, which does not fit "
     "field 'rating' of acme_mail.members (type: number): add transform: first to take the list's "
     "first item (fields[1].right)"),
    ("a list into a boolean, right to left",
     "- {left: vip, right: interests, direction: right_to_left}",
     "7:12: error: field 'interests' of acme_mail.members (type: list) holds a list, which does not "
     "fit field 'vip' of acme_crm.contacts (type: boolean): add transform: first to take the "
     "list's first item (fields[1].left)"),
    ("a list into a datetime",
     "- {left: emails, right: joined, direction: left_to_right}",
     "7:27: error: field 'emails' of acme_crm.contacts (type: list) holds a list, which does not "
     "fit field 'joined' of acme_mail.members (type: datetime): add transform: first to take the "
     "list's first item (fields[1].right)"),
    ("a number into tags",
     "- {left: score, right: labels, direction: left_to_right}",
     "7:26: error: field 'score' of acme_crm.contacts (type: integer) holds a single value, which "
     "does not fit field 'labels' of acme_mail.members (type: tags), a list: map it to a field that "
     "is not a list (fields[1].right)"),
    ("first from a field that is not a list",
     "- {left: stage, right: note, transform: first, direction: left_to_right}",
     "7:43: error: transform: first takes the first item of a list, but field 'stage' of "
     "acme_crm.contacts (type: string) is not a list (type: list or tags) (fields[1].transform)"),
    ("first one way, from the single-valued side",
     "- {left: tags, right: rating, transform: first, direction: right_to_left}",
     "7:44: error: transform: first takes the first item of a list, but field 'rating' of "
     "acme_mail.members (type: number) is not a list (type: list or tags) (fields[1].transform)"),
    ("first both ways with no list on either side",
     "- {left: stage, right: note, transform: first}",
     "7:43: error: transform: first takes the first item of a list, but neither field 'stage' of "
     "acme_crm.contacts (type: string) nor field 'note' of acme_mail.members (type: string) is a "
     "list (type: list or tags) (fields[1].transform)"),
    ("a date between two text fields",
     "- {left: stage, right: born, transform: date}",
     "7:43: error: transform: date converts between a datetime field and a text field (type: "
     "string or untyped), but field 'stage' of acme_crm.contacts (type: string) maps to field "
     "'born' of acme_mail.members (type: string) (fields[1].transform)"),
    ("a date between two datetimes",
     "- {left: birthday, right: joined, transform: date}",
     "7:48: error: transform: date converts between a datetime field and a text field (type: "
     "string or untyped), but field 'birthday' of acme_crm.contacts (type: datetime) maps to field "
     "'joined' of acme_mail.members (type: datetime) (fields[1].transform)"),
    ("a date into a number",
     "- {left: birthday, right: rating, transform: date}",
     "7:48: error: transform: date converts between a datetime field and a text field (type: "
     "string or untyped), but field 'birthday' of acme_crm.contacts (type: datetime) maps to field "
     "'rating' of acme_mail.members (type: number) (fields[1].transform)"),
])
def test_incompatible_types_are_refused_at_the_mapping(tmp_path: Path, story: str, mapping: str,
                                                      problem: str) -> None:
    assert _validate(tmp_path, mapping) == [problem], story


def test_a_value_map_that_cannot_be_read_backwards_is_refused(tmp_path: Path) -> None:
    problems = _validate(tmp_path, """
        - left: stage
          right: status
          values:
            customer: subscribed
            lead: pending
            prospect: pending
    """)
    assert problems == [
        "12:17: error: values: 'lead' and 'prospect' both map to 'pending', so a right value "
        "'pending' cannot be mapped back to one left value (direction: both); give each its own "
        "right value or use direction: left_to_right (fields[1].values.prospect)"]


def test_a_right_to_left_value_map_must_read_backwards_too(tmp_path: Path) -> None:
    problems = _validate(tmp_path, """
        - left: stage
          right: subscribed
          direction: right_to_left
          values: {customer: true, lead: true, churned: false}
    """)
    assert problems == [
        "10:36: error: values: 'customer' and 'lead' both map to true, so a right value true "
        "cannot be mapped back to one left value (direction: right_to_left); give each its own "
        "right value (fields[1].values.lead)"]


def test_every_broken_mapping_is_reported_at_once(tmp_path: Path) -> None:
    problems = _validate(tmp_path, """
        - {left: tags, right: rating}
        - {left: stage, right: born, transform: date}
        - {left: stage, right: status, values: {a: x, b: x}}
    """)
    assert [p.rsplit("(", 1)[1] for p in problems] == [
        "fields[1].right)", "fields[2].transform)", "fields[3].values.b)"]
