"""The deletion guard's decision and its message: the numbers it prints agree
with the check it makes, and its advice works for the config it is given in.

The integrations are built from YAML by the real config code; the behaviour
of a cycle that holds deletions back is in ``tests/e2e/test_sync_deletions.py``.
"""

from __future__ import annotations

import re
import textwrap
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from syncd.config import Integration
from syncd.config._integration import build_integration
from syncd.config._yaml import load_yaml
from syncd.sync._guard import held_back

from sync_support import HEADER


def integration(body: str = "") -> Integration:
    doc, problems = load_yaml(HEADER + "fields: [{left: email, right: email}]\n" + textwrap.dedent(body),
                              "crm-to-newsletter.yaml")
    assert not problems, problems
    built, problems = build_integration(doc, Path("/etc/syncd"), {}, "/etc/syncd")
    assert built is not None, problems
    return built


def limited(percent: float) -> Integration:
    return integration(f"deletions: {{from: left, then: delete, max_delete_percent: {percent!r}}}\n")


def test_losing_exactly_the_limit_is_allowed() -> None:
    assert held_back(limited(10), "left", gone=10, before=100, read=90) is None
    # 2.3 % of 3,000 is 69: in floats, 2.3 * 3000 is 6899.999999999999
    assert held_back(limited(2.3), "left", gone=69, before=3000, read=2931) is None
    assert held_back(limited(10), "left", gone=11, before=100, read=89) is not None


def test_nothing_gone_is_nothing_to_hold_back() -> None:
    assert held_back(limited(0), "left", gone=0, before=0, read=0) is None
    assert held_back(limited(0), "left", gone=0, before=5, read=5) is None


@pytest.mark.parametrize("percent", [0, 10, 99.5, 100])
def test_an_empty_read_is_held_back_at_any_limit_and_never_advises_raising_it(percent: float) -> None:
    why = held_back(limited(percent), "left", gone=20, before=20, read=0)
    assert why is not None
    assert "read no records at all, though it had 20" in why
    assert "set deletions.max_delete_percent" not in why and "raise" not in why
    assert "`syncd reset crm-to-newsletter --read-only`" in why and "writes nothing (the right keeps its records)" in why


def test_a_limit_of_100_lets_every_record_but_the_last_go() -> None:
    assert held_back(limited(100), "left", gone=19, before=20, read=1) is None


def test_without_deletions_the_default_limit_applies_and_the_advice_is_a_read_only_reset() -> None:
    why = held_back(integration(), "left", gone=5, before=20, read=15)
    assert why is not None
    assert "the limit of 10 % (the default; `deletions:` is not declared)" in why
    assert "max_delete_percent" not in why and "carried over" not in why
    assert "`syncd reset crm-to-newsletter --read-only`" in why


def test_deletions_from_the_other_side_carry_nothing_over() -> None:
    why = held_back(integration("deletions: {from: right, then: delete}\n"), "left", gone=5, before=20, read=15)
    assert why is not None and "carried over" not in why
    assert "set deletions.max_delete_percent to 25 or more" in why


SHARE = re.compile(r"lost (\d+) of its (\d+) records \(([\d.]+) %\) since its last full read, more than "
                   r"deletions\.max_delete_percent \(([\d.]+) %\)\..* to (\d+) or more\.$")


LOSSES = st.integers(1, 100_000).flatmap(lambda before: st.tuples(st.integers(1, before), st.just(before)))
LIMITS = st.one_of(st.integers(0, 99), st.decimals(0, 100, places=2).map(float))


@given(loss=LOSSES, limit=LIMITS)
@example(loss=(1, 3), limit=33)  # 33.3 %: rounded, it read "33 % > 33 %"
@example(loss=(11, 100), limit=10)
@example(loss=(70, 3000), limit=2.3)
def test_the_message_agrees_with_the_check(loss: tuple[int, int], limit: float) -> None:
    gone, before = loss
    read = before - gone + 1  # and one new record: an empty read is the other test's
    why = held_back(limited(limit), "left", gone=gone, before=before, read=read)
    share = Fraction(100 * gone, before)
    if why is None:
        assert share <= Fraction(Decimal(repr(limit)))
        return
    found = SHARE.search(why)
    assert found is not None, why
    assert (int(found[1]), int(found[2])) == (gone, before)
    shown, named, advised = Decimal(found[3]), Decimal(found[4]), int(found[5])
    assert named == Decimal(repr(limit))  # the limit as written
    assert shown > named, why  # never "33 % > 33 %"
    assert shown <= share  # rounded down: never more than was lost
    # The advised limit lets these records through, and no smaller whole number would.
    assert held_back(limited(advised), "left", gone=gone, before=before, read=read) is None
    below = advised - 1
    assert below < 0 or held_back(limited(below), "left", gone=gone, before=before, read=read) is not None
