"""Rules: conditions PieSync users rely on, and what their actions write.

The CRM (left) has a stage, a lead score and tags; the newsletter tool
(right) a status and tags.  Rules read the source record of each write by
its own field names, plus ``other`` and ``exists_in_other``.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from sync_support import compile_plan, object_spec

from syncd.config import Rule
from syncd.expr import compile_expr
from syncd.sync._plan import IntegrationPlan, PairPlan, SideView, Skip, SkipKind
from syncd.sync._rules import holds, other_reads




CRM = object_spec(email="email", stage=None, score="integer", tags="tags", owner=None, vip="boolean")
MAIL = object_spec(email="email", status=None, tags="tags", rating="integer", language=None)


def _plan(body: str, *, fields: str = "") -> IntegrationPlan:
    """The integration with its rules (*body*) and extra field mappings."""
    mapped = textwrap.dedent("""\
        fields:
          - {left: email, right: email}
          - {left: stage, right: status, direction: left_to_right}
    """)
    return compile_plan(mapped + fields + textwrap.dedent(body), CRM, MAIL)


LEFT = {"email": "ada@example.com", "stage": "lead", "score": 10, "tags": [], "vip": False}
RIGHT = {"email": "ada@example.com", "status": "lead", "tags": ["newsletter"], "rating": None}


def _linked(synced: dict[str, Any], **changes: Any) -> SideView:
    return SideView(id="id", seen={**synced, **changes}, synced=dict(synced))


def _new(seen: dict[str, Any]) -> SideView:
    return SideView(id="id", seen=dict(seen), synced=None)


HOT = """
rules:
  - {if: "score > `50`", from: left, then: [{add_tag: hot}]}
"""


def test_a_rule_tags_a_hot_lead_in_the_same_write_as_the_mapped_fields() -> None:
    out = _plan(HOT).plan(_linked(LEFT, score=80, stage="opportunity"), _linked(RIGHT))
    assert out.right == {"status": "opportunity", "tags": ["hot", "newsletter"]}
    assert out.rules_fired == [0]


def test_a_condition_that_becomes_true_tags_even_if_no_mapped_field_changed() -> None:
    # Only the score changed, and the score is not mapped: the rule reads it.
    out = _plan(HOT).plan(_linked(LEFT, score=80), _linked(RIGHT))
    assert out.right == {"tags": ["hot", "newsletter"]}


def test_a_tag_already_there_is_not_written_again() -> None:
    out = _plan(HOT).plan(_linked(LEFT, score=90), _linked({**RIGHT, "tags": ["hot", "newsletter"]}))
    assert out.empty and out.rules_fired == [0]


def test_rules_are_not_checked_when_nothing_changed_and_nothing_is_written() -> None:
    out = _plan(HOT).plan(_linked({**LEFT, "score": 80}), _linked(RIGHT))
    assert out == PairPlan()


def test_a_rule_from_the_left_does_not_fire_for_changes_from_the_right() -> None:
    out = _plan(HOT).plan(_linked({**LEFT, "score": 80}), _linked(RIGHT, rating=5))
    assert out.empty and out.rules_fired == []


@pytest.mark.parametrize(("story", "rule", "left", "right_tags"), [
    ("has tag", "{if: \"contains(tags, 'vip')\", then: [{add_tag: vip}]}",
     {"tags": ["beta", "vip"]}, ["newsletter", "vip"]),
    ("score above N", "{if: \"score > `50`\", then: [{add_tag: hot}]}",
     {"score": 51}, ["hot", "newsletter"]),
    ("score not above N", "{if: \"score > `50`\", then: [{add_tag: hot}]}",
     {"score": 50}, None),
    ("stage equals", "{if: \"stage == 'customer'\", then: [{add_tag: customer}]}",
     {"stage": "customer"}, ["customer", "newsletter"]),
    ("a boolean field", "{if: vip, then: [{add_tag: vip}]}",
     {"vip": True}, ["newsletter", "vip"]),
    ("already in the other app", "{if: exists_in_other, then: [{add_tag: known}]}",
     {"stage": "customer"}, ["known", "newsletter"]),
    ("the other record's values", "{if: \"other.status == 'lead'\", then: [{add_tag: was-lead}]}",
     {"stage": "customer"}, ["newsletter", "was-lead"]),
    ("remove a tag", "{if: \"stage == 'customer'\", then: [{remove_tag: newsletter}]}",
     {"stage": "customer"}, []),
    ("0 is true in JMESPath", "{if: score, then: [{add_tag: scored}]}",
     {"score": 0}, ["newsletter", "scored"]),
    ("a null field is false", "{if: owner, then: [{add_tag: owned}]}",
     {"stage": "customer"}, None),
    ("a function on a null field does not hold", "{if: \"contains(owner, 'x')\", then: [{add_tag: x}]}",
     {"stage": "customer"}, None),
])
def test_conditions_users_rely_on(story: str, rule: str, left: dict[str, Any],
                                  right_tags: list[str] | None) -> None:
    plan = _plan(f"rules:\n  - {rule}\n")
    out = plan.plan(_linked(LEFT, **left), _linked(RIGHT))
    assert out.right.get("tags") == right_tags, story


def test_a_field_the_source_side_lacks_is_null() -> None:
    # No `from`: the rule is checked both ways; the newsletter has no score.
    plan = _plan("""
        rules:
          - {if: "score > `50`", then: [{add_tag: hot}]}
    """)
    out = plan.plan(_linked({**LEFT, "score": 80}), _linked(RIGHT, language="de"))
    assert out.empty and out.rules_fired == []


def test_set_writes_a_normalised_value_to_the_destination() -> None:
    plan = _plan("""
        rules:
          - {if: "stage == 'customer'", from: left, then: [{set: {rating: "5", language: en}}]}
    """)
    out = plan.plan(_linked(LEFT, stage="customer"), _linked(RIGHT))
    assert out.right == {"status": "customer", "rating": 5, "language": "en"}


def test_set_overrides_the_mapped_value_of_the_same_field() -> None:
    plan = _plan("""
        rules:
          - {if: "stage == 'churned'", from: left, then: [{set: {status: cleaned}}]}
    """)
    assert plan.plan(_linked(LEFT, stage="churned"), _linked(RIGHT)).right == {"status": "cleaned"}


def test_a_set_value_its_field_refuses_is_reported() -> None:
    plan = _plan("""
        rules:
          - {if: "stage == 'customer'", from: left, then: [{set: {rating: top}}]}
    """)
    out = plan.plan(_linked(LEFT, stage="customer"), _linked(RIGHT))
    assert out.right == {"status": "customer"}
    assert out.problems == ["set: rating: expected a number, got 'top'"]


def test_an_action_on_a_field_the_destination_lacks_is_left_out() -> None:
    # No `from`: for right-to-left writes, `language` is not a CRM field.
    plan = _plan("rules:\n  - {if: \"`true`\", then: [{set: {language: en}}]}\n")
    out = plan.plan(_linked(LEFT), _linked(RIGHT, email="ada@lovelace.example"))
    assert out.left == {"email": "ada@lovelace.example"} and out.rules_fired == [0]


def test_mapped_tags_and_tag_actions_make_one_write() -> None:
    plan = _plan("""
        rules:
          - {if: "contains(tags, 'vip')", from: left, then: [{add_tag: hot}, {remove_tag: cold}]}
    """, fields="  - {left: tags, right: tags, direction: left_to_right}\n")
    out = plan.plan(_linked(LEFT, tags=["cold", "vip"]), _linked(RIGHT))
    # The mapped tags are the starting point; the rule's actions edit them.
    assert out.right == {"tags": ["hot", "vip"]}


# --- skip -----------------------------------------------------------------------------


SKIPS = """
rules:
  - {if: "!email", then: skip}
  - {if: "!exists_in_other && stage == 'lead'", from: left, then: skip}
  - {if: "stage == 'customer'", from: left, then: [{add_tag: customer}]}
"""


def test_skip_stops_the_direction_and_the_rules_after_it() -> None:
    out = _plan(SKIPS).plan(_new({**LEFT, "email": None, "stage": "customer"}), None)
    assert out.empty
    assert out.skipped == [Skip(SkipKind.RULE, "rules[0] (from left): skip")]
    assert out.rules_fired == [0]


def test_skip_in_one_direction_leaves_the_other_alone() -> None:
    plan = _plan("""
        rules:
          - {if: "language == 'xx'", from: right, then: skip}
    """, fields="  - {left: owner, right: language}\n")
    out = plan.plan(_linked({**LEFT, "owner": "en"}, owner="fr"),
                    _linked({**RIGHT, "language": "en"}, language="xx"))
    # A conflict on owner/language; the left won it, the right's direction is skipped.
    assert out.right == {"language": "fr"} and out.left == {}
    assert out.skipped == [Skip(SkipKind.RULE, "rules[0] (from right): skip")]


def test_leads_are_not_created_in_the_newsletter_but_linked_leads_are_updated() -> None:
    plan = _plan(SKIPS)
    out = plan.plan(_new(LEFT), None)
    assert (out.create, out.right, out.skipped) == (
        None, {}, [Skip(SkipKind.RULE, "rules[1] (from left): skip")])
    linked = plan.plan(_linked(LEFT, score=20), _linked({**RIGHT, "status": "old"}))
    assert linked.right == {"status": "lead"}


def test_a_created_record_carries_the_rules_actions() -> None:
    out = _plan(SKIPS).plan(_new({**LEFT, "stage": "customer"}), None)
    assert out.create == "right"
    assert out.right == {"email": "ada@example.com", "status": "customer", "tags": ["customer"]}
    assert out.rules_fired == [2]


def test_a_rule_can_protect_a_value_edited_on_the_target_side() -> None:
    # The status is one-way from the CRM, but an unsubscribe in the
    # newsletter must stay: skip writing to members who unsubscribed.
    plan = _plan("""
        rules:
          - {if: "other.status == 'unsubscribed'", from: left, then: skip}
    """)
    assert "status" in plan.compared_fields("right")
    out = plan.plan(_linked(LEFT), _linked(RIGHT, status="unsubscribed"))
    assert out.empty and out.skipped == [Skip(SkipKind.RULE, "rules[0] (from left): skip")]


# --- the pieces -----------------------------------------------------------------------


@pytest.mark.parametrize(("condition", "data", "expected"), [
    ("stage == 'customer'", {"stage": "customer"}, True),
    ("stage == 'customer'", {"stage": None}, False),
    ("score > `50`", {"score": None}, False),
    ("score", {"score": 0}, True),
    ("tags", {"tags": []}, False),
    ("owner", {"owner": ""}, False),
    ("other", {"other": {}}, False),
    ("contains(tags, 'x')", {"tags": None}, False),
    ("!exists_in_other", {"exists_in_other": False}, True),
])
def test_holds_uses_jmespath_truthiness(condition: str, data: dict[str, Any], expected: bool) -> None:
    assert holds(Rule(compile_expr(condition), "skip"), data) is expected


@pytest.mark.parametrize(("condition", "fields"), [
    ("other.status == 'x'", {"status"}),
    ("contains(other.tags, 'vip') && other.rating > `3`", {"tags", "rating"}),
    ("other.tags[0] == 'a'", {"tags"}),
    ("other == null", set()),
    ("status == 'x'", set()),
])
def test_other_reads(condition: str, fields: set[str]) -> None:
    assert other_reads(Rule(compile_expr(condition), "skip")) == fields
