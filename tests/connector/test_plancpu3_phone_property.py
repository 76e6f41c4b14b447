"""The phone type's shortcut for its common shape, held to its general path.

``_phone`` takes "+1 555-010-99" as (+)digits once dashes and spaces are
out, without the strip and the translate of ``_phone_parsed`` (a create
normalises every phone it writes that way). For every value Hypothesis
makes up, phone-shaped or not, the two give the same result or the same
refusal.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from syncd.connector._fields import FieldValueError, _phone, _phone_parsed

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
