"""Where a child object names its parent: list and create in their request, get, update and delete not at all.

HubSpot's notes are the case: a contact's notes are a search filtered on the
contact (the body), a note is created with an association to it (the body),
and updated by its own id (no contact).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.config import ConfigError, load_connector_file

SPEC = """\
connector: crm
title: CRM
base_url: https://crm.example.com
auth: {type: none}
objects:
  contacts:
    fields:
      email: {path: email, type: email}
    list: {path: /contacts, records: results}
  notes:
    parent: contacts
    fields:
      body: {path: properties.body}
    list:
      method: POST
      path: /notes/search
      body: {filters: [{property: associations.contact, value: "{{ parent_id }}"}]}
      records: results
    create:
      path: /notes
      body: {associations: [{to: {id: CREATE_PARENT}}], properties: {logged_at: "{{ now }}"}}
    update: {path: "/notes/{{ id }}"}
    delete: {path: "/notes/{{ id }}"}
"""


def write(tmp_path: Path, create_parent: str) -> Path:
    path = tmp_path / "crm.yaml"
    path.write_text(SPEC.replace("CREATE_PARENT", create_parent), encoding="utf-8")
    return path


def test_a_child_may_name_its_parent_in_the_body_and_be_updated_by_its_own_id(tmp_path: Path) -> None:
    spec = load_connector_file(write(tmp_path, '"{{ parent_id }}"'))
    assert sorted(spec.objects["notes"].operations) == ["create", "delete", "list", "update"]


def test_a_child_create_that_names_no_parent_is_an_error_naming_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "'42'")
    with pytest.raises(ConfigError) as caught:
        load_connector_file(path)
    assert str(caught.value) == (
        f"{path}:20:13: error: a child object's create must say under which parent: use {{{{ parent_id }}}} "
        "in its path (as in /contacts/{{ parent_id }}/notes), params, headers or body (objects.notes.create.path)")
