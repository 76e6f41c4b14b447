"""Conflicts: both sides changed a mapped field since the last sync.

Ada's phone is changed in the CRM (left) and in the newsletter tool (right)
between two cycles.  Who wins is the mapping's ``prefer:``, then "a blank
never erases", then the integration's ``conflict:``; every conflict is
recorded with both values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sync_support import compile_plan, object_spec

from syncd.sync._conflicts import Conflict, resolve
from syncd.sync._plan import IntegrationPlan, SideView




CRM = object_spec(email="email", first_name=None, last_name=None, phone="phone", city=None)
MAIL = object_spec(email="email", full_name=None, phone="phone", city=None)


def _plan(body: str) -> IntegrationPlan:
    return compile_plan(body, CRM, MAIL)


MONDAY = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
TUESDAY = datetime(2024, 5, 7, 9, 0, tzinfo=UTC)
BEFORE = {"email": "ada@example.com", "phone": "+441111", "city": "London"}


def _side(at: datetime | None = None, **changes: Any) -> SideView:
    return SideView(id="id", seen={**BEFORE, **changes}, synced=dict(BEFORE), updated_at=at)


PHONES = """
conflict: {policy}
fields:
  - {{left: email, right: email}}
  - {{left: phone, right: phone{options}}}
  - {{left: city, right: city}}
"""


@pytest.mark.parametrize(("story", "policy", "options", "left", "right", "writes", "winner", "rule"), [
    ("the newer change wins: the right was edited on Tuesday",
     "newest_wins", "", _side(MONDAY, phone="+442222"), _side(TUESDAY, phone="+443333"),
     ({"phone": "+443333"}, {}), "right", "newest_wins"),
    ("the newer change wins: the left was edited on Tuesday",
     "newest_wins", "", _side(TUESDAY, phone="+442222"), _side(MONDAY, phone="+443333"),
     ({}, {"phone": "+442222"}), "left", "newest_wins"),
    ("a tie goes to the left",
     "newest_wins", "", _side(MONDAY, phone="+442222"), _side(MONDAY, phone="+443333"),
     ({}, {"phone": "+442222"}), "left", "newest_wins"),
    ("a side without updated_at loses to one with",
     "newest_wins", "", _side(None, phone="+442222"), _side(MONDAY, phone="+443333"),
     ({"phone": "+443333"}, {}), "right", "newest_wins"),
    ("with no timestamps at all the left wins",
     "newest_wins", "", _side(None, phone="+442222"), _side(None, phone="+443333"),
     ({}, {"phone": "+442222"}), "left", "newest_wins"),
    ("left_wins ignores the clock",
     "left_wins", "", _side(MONDAY, phone="+442222"), _side(TUESDAY, phone="+443333"),
     ({}, {"phone": "+442222"}), "left", "left_wins"),
    ("right_wins ignores the clock",
     "right_wins", "", _side(TUESDAY, phone="+442222"), _side(MONDAY, phone="+443333"),
     ({"phone": "+443333"}, {}), "right", "right_wins"),
    ("prefer: left_unless_blank beats the policy",
     "right_wins", ", prefer: left_unless_blank", _side(phone="+442222"), _side(phone="+443333"),
     ({}, {"phone": "+442222"}), "left", "left_unless_blank"),
    ("prefer: left_unless_blank with a blank left takes the right",
     "left_wins", ", prefer: left_unless_blank", _side(phone=None), _side(phone="+443333"),
     ({"phone": "+443333"}, {}), "right", "left_unless_blank"),
    ("prefer: right_unless_blank",
     "left_wins", ", prefer: right_unless_blank", _side(phone="+442222"), _side(phone="+443333"),
     ({"phone": "+443333"}, {}), "right", "right_unless_blank"),
    ("a blank never beats a filled value, whatever the policy",
     "left_wins", "", _side(TUESDAY, phone=None), _side(MONDAY, phone="+443333"),
     ({"phone": "+443333"}, {}), "right", "blank_never_erases"),
    ("…unless the field says clear: true",
     "left_wins", ", clear: true", _side(phone=None), _side(phone="+443333"),
     ({}, {"phone": None}), "left", "left_wins"),
])
def test_both_sides_change_the_phone(story: str, policy: str, options: str, left: SideView,
                                     right: SideView, writes: tuple[dict[str, Any], dict[str, Any]],
                                     winner: str, rule: str) -> None:
    plan = _plan(PHONES.format(policy=policy, options=options)).plan(left, right)
    assert (plan.left, plan.right) == writes, story
    assert plan.conflicts == [Conflict(("phone",), ("phone",), left.seen["phone"],
                                       right.seen["phone"], winner, rule)]  # type: ignore[arg-type]


def test_both_sides_changed_to_the_same_value_is_no_conflict() -> None:
    plan = _plan(PHONES.format(policy="newest_wins", options=""))
    out = plan.plan(_side(phone="+442222"), _side(phone="+442222"))
    assert out.empty and out.conflicts == []


def test_different_fields_changed_on_each_side_are_no_conflict() -> None:
    plan = _plan(PHONES.format(policy="newest_wins", options=""))
    out = plan.plan(_side(phone="+442222"), _side(city="Paris"))
    assert (out.left, out.right, out.conflicts) == ({"city": "Paris"}, {"phone": "+442222"}, [])


def test_values_neither_side_can_translate_are_no_conflict() -> None:
    plan = _plan("""
        fields:
          - {left: city, right: city, values: {LDN: London, PAR: Paris}}
    """)
    out = plan.plan(_side(city="Berlin"), _side(city="Rome"))
    assert out.empty and out.conflicts == []


def test_a_name_conflict_is_recorded_with_every_field_of_the_mapping() -> None:
    plan = _plan("""
        conflict: right_wins
        fields:
          - {left: [first_name, last_name], right: full_name, transform: join_name}
    """)
    synced_left = {"first_name": "Anna", "last_name": "Berg"}
    left = SideView("1", {**synced_left, "last_name": "Lind"}, synced_left)
    right = SideView("2", {"full_name": "Anna Svensson"}, {"full_name": "Anna Berg"})
    out = plan.plan(left, right)
    assert out.left == {"last_name": "Svensson"}
    (conflict,) = out.conflicts
    assert conflict.left_value == {"first_name": "Anna", "last_name": "Lind"}
    assert conflict.right_value == "Anna Svensson"
    assert (conflict.field, conflict.left_field, conflict.right_field) == (
        "first_name, last_name -> full_name", "first_name, last_name", "full_name")


def test_two_records_linked_for_the_first_time_settle_their_differences_as_conflicts() -> None:
    # Never synced: every field counts as changed on both sides.
    plan = _plan(PHONES.format(policy="newest_wins", options=""))
    left = SideView("1", {**BEFORE, "phone": "+442222"}, None, updated_at=TUESDAY)
    right = SideView("2", dict(BEFORE), None, updated_at=MONDAY)
    out = plan.plan(left, right)
    assert out.right == {"phone": "+442222"}
    assert [c.winner for c in out.conflicts] == ["left"]


def test_linking_a_blank_to_a_filled_value_is_no_conflict() -> None:
    plan = _plan(PHONES.format(policy="left_wins", options=""))
    left = SideView("1", {**BEFORE, "phone": None}, None)
    right = SideView("2", dict(BEFORE), None)
    out = plan.plan(left, right)
    assert (out.left, out.right, out.conflicts) == ({"phone": "+441111"}, {}, [])


def test_a_one_way_mapping_has_no_conflicts_its_source_wins() -> None:
    plan = _plan("""
        fields:
          - {left: phone, right: phone, direction: right_to_left}
    """)
    out = plan.plan(_side(TUESDAY, phone="+442222"), _side(MONDAY, phone="+443333"))
    assert (out.left, out.right, out.conflicts) == ({"phone": "+443333"}, {}, [])


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"policy": "newest_wins", "left_updated": TUESDAY, "right_updated": MONDAY}, ("left", "newest_wins")),
    ({"policy": "newest_wins", "left_updated": MONDAY, "right_updated": TUESDAY}, ("right", "newest_wins")),
    ({"policy": "newest_wins", "left_updated": MONDAY, "right_updated": MONDAY}, ("left", "newest_wins")),
    ({"policy": "newest_wins", "left_updated": None, "right_updated": MONDAY}, ("right", "newest_wins")),
    ({"policy": "newest_wins", "left_updated": MONDAY, "right_updated": None}, ("left", "newest_wins")),
    ({"policy": "newest_wins", "left_updated": None, "right_updated": None}, ("left", "newest_wins")),
    ({"policy": "left_wins", "left_updated": MONDAY, "right_updated": TUESDAY}, ("left", "left_wins")),
    ({"policy": "right_wins", "left_updated": TUESDAY, "right_updated": MONDAY}, ("right", "right_wins")),
    ({"policy": "right_wins", "prefer": "left_unless_blank"}, ("left", "left_unless_blank")),
    ({"policy": "right_wins", "prefer": "left_unless_blank", "left": [" "]}, ("right", "left_unless_blank")),
    ({"policy": "left_wins", "prefer": "right_unless_blank"}, ("right", "right_unless_blank")),
    ({"policy": "left_wins", "prefer": "right_unless_blank", "right": [None]}, ("left", "right_unless_blank")),
    ({"policy": "left_wins", "left": [None]}, ("right", "blank_never_erases")),
    ({"policy": "right_wins", "right": [""]}, ("left", "blank_never_erases")),
    ({"policy": "left_wins", "left": [None], "clear": True}, ("left", "left_wins")),
])
def test_resolve(kwargs: dict[str, Any], expected: tuple[str, str]) -> None:
    arguments: dict[str, Any] = {"prefer": None, "clear": False, "left": ["+1"], "right": ["+2"],
                                 "left_updated": None, "right_updated": None, **kwargs}
    assert resolve(**arguments) == expected
