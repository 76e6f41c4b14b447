"""Choosing fields: names joined and split, create policies, adding and removing a mapping.

Only what is mapped (or read by a rule) is compared and written: adding a
mapping back-fills that field on the next cycle, removing one stops it, and
neither touches anything else.
"""

from __future__ import annotations

import pytest
from e2e_support import Pair, by_email, emails, write_requests, written

NAMES = """\
  - {left: email, right: email}
  - {left: [first_name, last_name], right: full_name, transform: join_name}
"""


def full_name(contact: dict) -> str | None:
    return contact["custom_fields"].get("full_name")


def names_joined(p: Pair) -> None:
    """The sample app has no full name: give the spec one, in a custom field."""
    p.connector(fields={"full_name": {"path": "custom_fields.full_name", "type": "string"}})
    p.write(fields=NAMES)


def test_a_name_joined_on_the_right_splits_back_on_the_left(pair) -> None:
    p = pair(left_n=3)
    names_joined(p)
    ludwig = p.left.store.create({"email": "ludwig@example.com", "first_name": "Ludwig",
                                  "last_name": "van Beethoven"})
    p.right.store.create({"email": "anna@example.com", "custom_fields": {"full_name": "Anna de la Cruz"}})
    summary = p.once()
    assert summary["created"] == {"left": 1, "right": 4} and summary["errors"] == 0
    right = by_email(p.right)
    assert full_name(right["ludwig@example.com"]) == "Ludwig van Beethoven"
    anna = by_email(p.left)["anna@example.com"]
    assert (anna["first_name"], anna["last_name"]) == ("Anna", "de la Cruz")  # split on the way
    for email, contact in by_email(p.left).items():
        assert full_name(right[email]) == f"{contact['first_name']} {contact['last_name']}"
        assert email == "anna@example.com" or right[email]["first_name"] is None  # not mapped

    p.right.store.update(right["ludwig@example.com"]["id"],
                         custom_fields={"full_name": "Ludwig van Beethoven-Bonn"})
    p.clear_requests()
    summary = p.once()
    assert summary["updated"] == {"left": 1, "right": 0}
    left = p.left.store.get(ludwig["id"])
    assert left is not None
    assert (left["first_name"], left["last_name"]) == ("Ludwig", "van Beethoven-Bonn")
    assert written(p.left, p.right) == [{"last_name": "van Beethoven-Bonn"}]  # only the part that changed

    p.left.store.update(ludwig["id"], first_name="Louis")
    p.once()
    assert full_name(by_email(p.right)["ludwig@example.com"]) == "Louis van Beethoven-Bonn"
    p.clear_requests()
    assert p.once()["updated"] == {"left": 0, "right": 0}  # no echo either way
    assert write_requests(p.left, p.right) == []


@pytest.mark.parametrize(("policy", "created"), [
    ("left_to_right", {"left": 0, "right": 6}),
    ("right_to_left", {"left": 4, "right": 0}),
])
def test_the_create_policy_says_which_way_contacts_are_created(pair, policy, created) -> None:
    p = pair(left_n=6, right_n=4, create=policy)
    left_only, right_only = emails(p.left), emails(p.right)
    summary = p.once()
    assert summary["created"] == created and summary["errors"] == 0
    if policy == "left_to_right":
        assert emails(p.left) == left_only
        assert emails(p.right) == sorted(left_only + right_only)
    else:
        assert emails(p.right) == right_only
        assert emails(p.left) == sorted(left_only + right_only)
    # A contact added later on the side that is not created from: still not created.
    source, target = (p.right, p.left) if policy == "left_to_right" else (p.left, p.right)
    source.store.create({"email": "late@example.com", "first_name": "Late", "last_name": "Comer"})
    p.clear_requests()
    assert p.once()["created"] == {"left": 0, "right": 0}
    assert "late@example.com" not in emails(target)
    assert write_requests(p.left, p.right) == []


FIRST_NAMES = """\
  - {left: email, right: email}
  - {left: first_name, right: first_name}
"""
WITH_LAST_NAMES = FIRST_NAMES + "  - {left: last_name, right: last_name}\n"


def test_a_mapping_added_is_back_filled_and_a_mapping_removed_stops(pair) -> None:
    p = pair(left_n=6, right_n=3, fields=FIRST_NAMES)
    originally_left = emails(p.left)
    common = originally_left[:2]
    for email in common:  # on both sides already, with another last name
        p.right.store.create({"email": email, "first_name": "Old", "last_name": "Name"})
    p.once()
    right = by_email(p.right)
    assert right[common[0]]["first_name"] == by_email(p.left)[common[0]]["first_name"]
    assert right[common[0]]["last_name"] == "Name"  # last names are not synced yet
    created_on_left = sorted(set(emails(p.left)) - set(originally_left))
    assert len(created_on_left) == 3
    assert all(by_email(p.left)[e]["last_name"] is None for e in created_on_left)
    p.clear_requests()
    assert p.once()["updated"] == {"left": 0, "right": 0}

    # The sysadmin maps last names: every linked pair that differs gets one.
    p.write(fields=WITH_LAST_NAMES)
    p.clear_requests()
    summary = p.once()
    assert summary["updated"] == {"left": 3, "right": 6} and summary["created"] == {"left": 0, "right": 0}
    assert all(list(w) == ["last_name"] for w in written(p.left, p.right))  # nothing else
    left, right = by_email(p.left), by_email(p.right)
    assert emails(p.left) == emails(p.right) and len(left) == 9
    for email, contact in left.items():
        assert contact["last_name"] == right[email]["last_name"] is not None, email
        assert contact["first_name"] == right[email]["first_name"], email
    p.clear_requests()
    assert p.once()["updated"] == {"left": 0, "right": 0}

    # ... then unmaps them: nothing is written, and last names stop flowing.
    p.write(fields=FIRST_NAMES)
    p.clear_requests()
    summary = p.once()
    assert summary["updated"] == {"left": 0, "right": 0} and write_requests(p.left, p.right) == []
    someone, other = emails(p.left)[0], emails(p.left)[1]
    p.left.store.update(left[someone]["id"], last_name="Changed")
    p.right.store.update(right[other]["id"], first_name="Still", last_name="Synced?")
    p.clear_requests()
    summary = p.once()
    assert summary["updated"] == {"left": 1, "right": 0}
    assert written(p.left, p.right) == [{"first_name": "Still"}]
    assert by_email(p.right)[someone]["last_name"] == right[someone]["last_name"]
    assert by_email(p.left)[other]["last_name"] == left[other]["last_name"]
