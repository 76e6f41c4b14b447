"""Shortcuts past a normaliser, held to the normaliser on made-up values.

The phone type: ``_phone`` takes "+1 555-010-99" as (+)digits once dashes and spaces are
out, without the strip and the translate of ``_phone_parsed`` (a create
normalises every phone it writes that way). For every value Hypothesis
makes up, phone-shaped or not, the two give the same result or the same
refusal.

``keeps_text``: a create copies text into a field whose normaliser says it
keeps text that is not blank (the string type's) without calling it; for
every such text, the normaliser gives it back as it is, and no other type's
normaliser claims to.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from syncd.connector._fields import _ISO_DATETIME, _SIMPLE, FieldValueError, _phone, _phone_parsed, keeps_text

phone_text = st.text(alphabet="+0123456789 -().\t/\u00a0\u0663x", max_size=16)
anything = st.one_of(phone_text, st.text(max_size=8), st.integers(), st.none(), st.booleans(), st.floats())


def _outcome(normalise: Any, value: Any) -> Any:
    try:
        return normalise(value)
    except FieldValueError as e:
        return ("refused", str(e))


@settings(max_examples=500, deadline=None)
@given(value=anything)
@example("+1 555-010-99")
@example(" +1 (555) 010-99 ")
@example("+")
@example("")
@example("1+555")
@example("--")
@example("\u0663\u0663")
def test_the_common_shape_shortcut_gives_what_the_general_path_gives(value: Any) -> None:
    assert _outcome(_phone, value) == _outcome(_phone_parsed, value)


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=12))
def test_a_normaliser_that_keeps_text_gives_back_any_text_not_blank(value: str) -> None:
    keeping = [n for n in [*_SIMPLE.values(), _ISO_DATETIME] if keeps_text(n)]
    assert keeping == [_SIMPLE["string"]]
    if value.strip():
        assert _SIMPLE["string"](value) is value
