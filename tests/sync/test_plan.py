"""Planning a record pair: which fields go which way, and nothing more.

Every story has a CRM on the left (first and last name, a phone, a stage,
tags) and a newsletter tool on the right (one full name, a phone, a status,
tags), an integration written as users write it, and the two records as the
cycle knows them: ``seen`` (as last read) and ``synced`` (as of the last
sync).  ``_linked(BEFORE, phone=…)`` is a record whose phone changed since
the last sync.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sync_support import compile_plan, object_spec

from syncd.config import ObjectSpec

from syncd.sync._plan import IntegrationPlan, PairPlan, SideView, Skip, SkipKind




CRM = object_spec(email="email", first_name=None, last_name=None, phone="phone", stage=None,
              score="integer", tags="tags", city="string", birthday="datetime", owner=None)
MAIL = object_spec(email="email", full_name=None, phone="phone", status=None, tags="tags",
               city="string", born="string", joined="datetime", language=None)


def _plan(body: str) -> IntegrationPlan:
    """An integration between the CRM and the newsletter tool, from its YAML."""
    return compile_plan(body, CRM, MAIL)


def _linked(synced: dict[str, Any], *, at: datetime | None = None, **changes: Any) -> SideView:
    """A record synced as *synced*, with *changes* made since."""
    return SideView(id="id", seen={**synced, **changes}, synced=dict(synced), updated_at=at)


def _new(seen: dict[str, Any], *, at: datetime | None = None) -> SideView:
    """A record syncd has never synced."""
    return SideView(id="id", seen=dict(seen), synced=None, updated_at=at)


ADA_LEFT = {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
            "phone": "+441234", "stage": "lead", "tags": ["newsletter"], "city": "London"}
ADA_RIGHT = {"email": "ada@example.com", "full_name": "Ada Lovelace", "phone": "+441234",
             "status": "pending", "tags": ["newsletter"], "city": "London"}

CONTACTS = """
fields:
  - {left: email, right: email}
  - {left: [first_name, last_name], right: full_name, transform: join_name}
  - {left: phone, right: phone}
  - {left: city, right: city}
  - {left: stage, right: status, direction: left_to_right,
     values: {customer: subscribed, lead: pending}}
  - {left: tags, right: tags}
"""

MONDAY = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
TUESDAY = datetime(2024, 5, 7, 9, 0, tzinfo=UTC)


def _writes(plan: PairPlan) -> tuple[dict[str, Any], dict[str, Any]]:
    return plan.left, plan.right


# --- nothing to do --------------------------------------------------------------


def test_a_cycle_after_a_cycle_with_no_outside_change_writes_nothing() -> None:
    plan = _plan(CONTACTS).plan(_linked(ADA_LEFT), _linked(ADA_RIGHT))
    assert plan == PairPlan()
    assert plan.empty


def test_syncd_s_own_echo_is_not_sent_back() -> None:
    # Last cycle syncd wrote the new phone to the right; the cycle recorded
    # it as synced, and the right now shows it: neither side changed.
    left = _linked({**ADA_LEFT, "phone": "+449999"})
    right = _linked({**ADA_RIGHT, "phone": "+449999"})
    assert _plan(CONTACTS).plan(left, right).empty


def test_two_records_seen_for_the_first_time_with_the_same_values_need_nothing() -> None:
    assert _plan(CONTACTS).plan(_new(ADA_LEFT), _new(ADA_RIGHT)).empty


def test_nothing_to_plan_without_records() -> None:
    assert _plan(CONTACTS).plan(None, None) == PairPlan()


# --- one side changed -----------------------------------------------------------


@pytest.mark.parametrize(("story", "left", "right", "expected"), [
    ("the phone changes on the left: only the phone is written to the right",
     {"phone": "+44 (0) 7700-900"}, {}, ({}, {"phone": "+4407700900"})),
    ("the phone changes on the right: only the phone is written to the left",
     {}, {"phone": "+1 555 0100"}, ({"phone": "+15550100"}, {})),
    ("a user renames a contact on the right: only the last name changes on the left",
     {}, {"full_name": "Ada King"}, ({"last_name": "King"}, {})),
    ("a first name changes on the left: the full name follows",
     {"first_name": "Augusta Ada"}, {}, ({}, {"full_name": "Augusta Ada Lovelace"})),
    ("a stage changes on the left: the status follows through the value map",
     {"stage": "customer"}, {}, ({}, {"status": "subscribed"})),
    ("a stage the value map does not know is not written",
     {"stage": "evangelist"}, {}, ({}, {})),
    ("a tag added on the right goes left",
     {}, {"tags": ["newsletter", "webinar"]}, ({"tags": ["newsletter", "webinar"]}, {})),
    ("tags reordered by the app are no change worth a write",
     {}, {"tags": ["newsletter"]}, ({}, {})),
    ("a change that normalises to the same value is no write",
     {"phone": "+44 1234"}, {}, ({}, {})),
])
def test_a_change_on_one_side_is_written_to_the_other(
        story: str, left: dict[str, Any], right: dict[str, Any],
        expected: tuple[dict[str, Any], dict[str, Any]]) -> None:
    # The connector normalises what it reads; the story's raw values go
    # through the same normalisers to make the "seen" of each side.
    from syncd.connector import normaliser_for

    def seen(obj: ObjectSpec, changes: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, value in changes.items():
            normalise = normaliser_for(obj.fields[name])
            out[name] = normalise(value) if normalise else value
        return out

    plan = _plan(CONTACTS).plan(_linked(ADA_LEFT, **seen(CRM, left)),
                                _linked(ADA_RIGHT, **seen(MAIL, right)))
    assert _writes(plan) == expected, story
    assert not plan.conflicts


def test_a_one_way_mapping_makes_the_target_follow_its_source() -> None:
    # Someone edits the status in the newsletter tool; the CRM's stage says
    # otherwise and the mapping is left_to_right: the status is put back.
    plan = _plan(CONTACTS).plan(_linked(ADA_LEFT), _linked(ADA_RIGHT, status="cleaned"))
    assert _writes(plan) == ({}, {"status": "pending"})


def test_a_one_way_mapping_is_never_written_backwards() -> None:
    plan = _plan(CONTACTS).plan(_linked({**ADA_LEFT, "stage": "customer"}),
                                _linked({**ADA_RIGHT, "status": "subscribed"}, status="pending"))
    assert _writes(plan) == ({}, {"status": "subscribed"})


def test_a_lossy_transform_does_not_fight_itself() -> None:
    # The CRM holds the exact time, the newsletter a day; they agree.
    plan = _plan("""
        fields:
          - {left: birthday, right: born, transform: date, format: "%Y-%m-%d"}
    """)
    left = _new({"birthday": "1815-12-10T15:30:00Z"})
    right = _new({"born": "1815-12-10"})
    assert plan.plan(left, right).empty
    # A new day on the right is a change.
    moved = plan.plan(_linked(left.seen), _linked(right.seen, born="1815-12-11"))
    assert moved.left == {"birthday": "1815-12-11T00:00:00Z"}


def test_a_name_split_differently_on_each_side_is_in_step() -> None:
    # The CRM has "Ludwig van" / "Beethoven", which a split would not give;
    # the full name agrees with it, so nothing is rewritten.
    plan = _plan(CONTACTS)
    left = _linked({**ADA_LEFT, "first_name": "Ludwig van", "last_name": "Beethoven"})
    right = _linked({**ADA_RIGHT, "full_name": "Ludwig van Beethoven"})
    assert plan.plan(left, right).empty


def test_a_value_that_cannot_be_converted_is_reported_and_the_rest_still_written() -> None:
    plan = _plan("""
        fields:
          - {left: phone, right: phone}
          - {left: birthday, right: born, transform: date, format: "%d/%m/%Y"}
    """)
    left = _linked({"phone": "+1", "birthday": None})
    right = _linked({"phone": "+1", "born": None}, phone="+2", born="10 Dec 1815")
    out = plan.plan(left, right)
    assert out.left == {"phone": "+2"}
    assert out.problems == [
        "fields[1] (born -> birthday): '10 Dec 1815' does not match the date format '%d/%m/%Y'"]


# --- blanks and defaults ------------------------------------------------------------


def test_a_blank_never_erases_a_filled_value_and_the_filled_one_is_restored() -> None:
    # Someone empties the city in the CRM; the newsletter keeps it, and the
    # CRM gets it back: the two sides agree again.
    plan = _plan(CONTACTS).plan(_linked(ADA_LEFT, city=None), _linked(ADA_RIGHT))
    assert _writes(plan) == ({"city": "London"}, {})


def test_clear_true_lets_a_blank_erase() -> None:
    plan = _plan("""
        fields:
          - {left: city, right: city, clear: true}
    """).plan(_linked({"city": "London"}, city=None), _linked({"city": "London"}))
    assert _writes(plan) == ({}, {"city": None})


def test_a_blank_on_a_one_way_mapping_leaves_the_target_alone() -> None:
    plan = _plan("""
        fields:
          - {left: city, right: city, direction: left_to_right}
    """).plan(_linked({"city": "London"}, city="  "), _linked({"city": "London"}))
    assert plan.empty


def test_the_default_is_written_when_the_source_is_blank() -> None:
    plan = _plan("""
        fields:
          - {left: city, right: city, direction: left_to_right, default: Unknown}
    """).plan(_linked({"city": "London"}, city=None), _linked({"city": "London"}))
    assert _writes(plan) == ({}, {"city": "Unknown"})


def test_a_blanked_last_name_keeps_the_full_name_whole() -> None:
    # Right: "Cher" (was "Cher Sarkisian"). The first name is unchanged and
    # the last name may not be erased: the full name is written back.
    plan = _plan(CONTACTS)
    left = _linked({**ADA_LEFT, "first_name": "Cher", "last_name": "Sarkisian"})
    right = _linked({**ADA_RIGHT, "full_name": "Cher Sarkisian"}, full_name="Cher")
    assert _writes(plan.plan(left, right)) == ({}, {"full_name": "Cher Sarkisian"})


# --- back-fill ------------------------------------------------------------------------


def test_a_mapping_added_to_the_config_back_fills_every_linked_record() -> None:
    # `language` was just mapped: it is in no snapshot's synced values yet.
    plan = _plan("""
        fields:
          - {left: email, right: email}
          - {left: owner, right: language}
    """)
    left = _linked({"email": "ada@example.com"}, owner="en")
    right = _linked({"email": "ada@example.com"}, language="fr")
    out = plan.plan(left, right)
    assert _writes(out) == ({}, {"language": "en"})  # left to right, no conflict
    assert not out.conflicts


def test_back_fill_goes_right_to_left_when_the_left_is_blank() -> None:
    plan = _plan("""
        fields:
          - {left: owner, right: language}
    """)
    out = plan.plan(_linked({}, owner=None), _linked({}, language="fr"))
    assert _writes(out) == ({"owner": "fr"}, {})


def test_back_fill_follows_prefer_right_unless_blank() -> None:
    plan = _plan("""
        fields:
          - {left: owner, right: language, prefer: right_unless_blank}
    """)
    assert _writes(plan.plan(_linked({}, owner="en"), _linked({}, language="fr"))) == (
        {"owner": "fr"}, {})


def test_a_difference_both_sides_were_synced_with_stays_until_one_changes() -> None:
    # After `syncd reset --read-only` both sides are taken as they are.
    plan = _plan("""
        fields:
          - {left: owner, right: language}
    """)
    assert _writes(plan.plan(_linked({"owner": "en"}), _linked({"language": "fr"}))) == ({}, {})
    assert _writes(plan.plan(_linked({"owner": "en"}, owner="de"), _linked({"language": "fr"}))) == (
        {}, {"language": "de"})


def test_a_one_way_mapping_back_fills_its_way_only() -> None:
    plan = _plan("""
        fields:
          - {left: owner, right: language, direction: right_to_left}
    """)
    assert _writes(plan.plan(_linked({}, owner="en"), _linked({}, language="fr"))) == (
        {"owner": "fr"}, {})


def test_a_removed_mapping_is_no_longer_compared_or_written() -> None:
    before = _plan(CONTACTS)
    after = _plan("""
        fields:
          - {left: email, right: email}
          - {left: phone, right: phone}
    """)
    assert "city" in before.compared_fields("left")
    assert "city" not in after.compared_fields("left")
    assert after.plan(_linked(ADA_LEFT, city="Paris"), _linked(ADA_RIGHT)).empty


# --- creating -------------------------------------------------------------------------


def test_a_new_crm_contact_is_created_in_the_newsletter_with_every_mapped_field() -> None:
    out = _plan(CONTACTS).plan(_new({**ADA_LEFT, "city": None}), None)
    assert out.create == "right"
    assert out.right == {"email": "ada@example.com", "full_name": "Ada Lovelace",
                         "phone": "+441234", "status": "pending", "tags": ["newsletter"]}
    assert out.left == {}


def test_a_created_record_gets_the_match_field_even_when_it_is_not_mapped() -> None:
    out = _plan("""
        fields:
          - {left: phone, right: phone}
    """).plan(None, _new({"email": "ada@example.com", "phone": "+1"}))
    assert (out.create, out.left) == ("left", {"email": "ada@example.com", "phone": "+1"})


def test_a_created_record_takes_the_default_of_a_blank_field() -> None:
    out = _plan("""
        fields:
          - {left: city, right: city, default: Unknown}
    """).plan(_new({"email": "ada@example.com", "city": None}), None)
    assert out.right == {"email": "ada@example.com", "city": "Unknown"}


@pytest.mark.parametrize(("policy", "missing", "created"), [
    ("both", "right", True),
    ("both", "left", True),
    ("left_to_right", "right", True),
    ("left_to_right", "left", False),
    ("right_to_left", "left", True),
    ("right_to_left", "right", False),
    ("none", "right", False),
    ("none", "left", False),
])
def test_create_policy(policy: str, missing: str, created: bool) -> None:
    plan = _plan(f"create: {policy}\n" + CONTACTS)
    left = None if missing == "left" else _new(ADA_LEFT)
    right = None if missing == "right" else _new(ADA_RIGHT)
    out = plan.plan(left, right)
    assert (out.create == missing) is created
    if not created:
        assert out.empty
        assert out.skipped == [Skip(SkipKind.CREATE_POLICY, f"create: {policy} (no {missing} record is created)")]


def test_a_record_the_create_policy_leaves_out_is_not_skipped_by_a_rule() -> None:
    # No rule at all: the summary's "skipped by rules" must not count it;
    # it is a record not created, counted apart.
    plan = _plan("create: left_to_right\n" + CONTACTS)
    out = plan.plan(None, _new(ADA_RIGHT))
    assert out.skipped_by(SkipKind.RULE) == []
    assert out.skipped_by(SkipKind.CREATE_POLICY) == ["create: left_to_right (no left record is created)"]


def test_a_deleted_record_without_a_partner_is_not_created_anywhere() -> None:
    deleted = SideView(id="7", seen=ADA_LEFT, synced=ADA_LEFT, deleted=True)
    assert _plan(CONTACTS).plan(deleted, None) == PairPlan()


def test_a_deleted_record_is_left_to_deletions() -> None:
    deleted = SideView(id="7", seen=ADA_LEFT, synced=ADA_LEFT, deleted=True)
    out = _plan(CONTACTS).plan(deleted, _linked(ADA_RIGHT))
    assert out.empty and out.skipped == [Skip(SkipKind.DELETION, "the left record is deleted (see deletions:)")]


# --- deletions ------------------------------------------------------------------------


def test_deleting_on_the_left_tags_the_newsletter_member() -> None:
    plan = _plan(CONTACTS + "deletions: {from: left, then: {add_tag: syncd-trash}}\n")
    gone = SideView(id="7", seen=ADA_LEFT, synced=ADA_LEFT, deleted=True)
    out = plan.deletion(gone, _linked(ADA_RIGHT), side="left")
    assert out.right == {"tags": ["newsletter", "syncd-trash"]}
    assert (out.left, out.delete, out.create) == ({}, None, None)
    # The side may be left out when deletions come from one side only.
    assert plan.deletion(gone, _linked(ADA_RIGHT)) == out
    # Already tagged: nothing to write.
    tagged = _linked({**ADA_RIGHT, "tags": ["syncd-trash", "newsletter"]})
    assert plan.deletion(gone, tagged, side="left").empty


def test_deleting_with_then_delete_marks_the_other_record_for_deletion() -> None:
    plan = _plan(CONTACTS + "deletions: {from: both, then: delete}\n")
    gone = SideView(id="9", seen=ADA_RIGHT, synced=ADA_RIGHT, deleted=True)
    out = plan.deletion(gone, _linked(ADA_LEFT), side="right")
    assert out.delete == "left" and not out.empty
    with pytest.raises(ValueError, match="side="):
        plan.deletion(gone, _linked(ADA_LEFT))


def test_a_deletion_on_a_side_deletions_do_not_come_from_is_not_carried_over() -> None:
    plan = _plan(CONTACTS + "deletions: {from: left, then: {set: {status: cleaned}}}\n")
    gone = SideView(id="9", seen=ADA_RIGHT, synced=ADA_RIGHT, deleted=True)
    out = plan.deletion(gone, _linked(ADA_LEFT), side="right")
    assert out.empty and out.skipped == [
        Skip(SkipKind.DELETION, "deletions: a deletion on the right is not carried over")]
    member = plan.deletion(SideView("1", ADA_LEFT, ADA_LEFT, deleted=True), _linked(ADA_RIGHT))
    assert member.right == {"status": "cleaned"}


def test_without_deletions_nothing_is_carried_over() -> None:
    gone = SideView(id="7", seen=ADA_LEFT, synced=ADA_LEFT, deleted=True)
    out = _plan(CONTACTS).deletion(gone, _linked(ADA_RIGHT), side="left")
    assert out.empty and out.skipped


# --- what the cycle snapshots -----------------------------------------------------------


def test_compared_fields_are_mapped_matched_read_by_rules_or_written_by_actions() -> None:
    plan = _plan("""
        fields:
          - {left: [first_name, last_name], right: full_name, transform: join_name}
        rules:
          - {if: "score > `50`", from: left, then: [{add_tag: hot}]}
          - {if: "other.status == 'cleaned'", from: left, then: skip}
          - {if: "stage == 'customer'", then: [{set: {language: en}}]}
        deletions: {from: right, then: {add_tag: syncd-trash}}
    """)
    assert plan.compared_fields("left") == {
        "email", "first_name", "last_name",  # matched, mapped
        "score", "stage",  # read by rules
        "tags",  # deletions on the right tag the left record
    }
    assert plan.compared_fields("right") == {
        "email", "full_name",
        "status",  # read as other.status
        "tags",  # add_tag: hot
        "language",  # set by a rule
    }
