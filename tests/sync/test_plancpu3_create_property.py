"""A create's plan, compiled against interpreted, over mappings and values Hypothesis makes up.

``IntegrationPlan._create`` does a plain copy of one field into one (most
mappings) inline, from steps compiled once per plan, and leaves every other
mapping to :meth:`Flow.convert`. The reference below is the loop it
replaced: every flow through ``Flow.convert`` against no record, its
non-blank values kept. For every generated integration (mappings between
fields of every type, some with a transform, ``values:`` or ``default:``,
each way, rules or none) and every generated record, the two give the same
writes in the same order (the order a batch's body, and its pairing, sees),
the same problems and the same decision to create.
"""

from __future__ import annotations

import dataclasses
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sync_support import compile_plan, object_spec

from syncd.config import FieldMapping, SideName
from syncd.sync._plan import _OTHER, IntegrationPlan, PairPlan, SideView, _converted

TYPES = ["string", "email", "phone", "number", "integer", "boolean", "datetime", "list", "tags"]
# Each app has a field of each type, named for it, and an untyped one.
FIELDS: dict[str, str | None] = {**{t: t for t in TYPES}, "untyped": None}
LEFT = object_spec(**FIELDS)
RIGHT = object_spec(**FIELDS)
NAMES = list(FIELDS)

BASE = compile_plan("""
    create: both
    fields:
      - {left: email, right: email}
    """, LEFT, RIGHT)


def reference_create(plan: IntegrationPlan, source: SideName, view: SideView) -> PairPlan:
    """``_create`` as it was before it was compiled: every flow through
    ``Flow.convert`` (``_converted``), none inline."""
    target = _OTHER[source]
    out = PairPlan()
    for flow in plan._flows_from[source]:
        _converted(flow, view.seen, out.writes(target), out.problems)
    plan._add_match(source, view.seen, out)
    if plan._rules(source, view, None, out):
        out.create = target
    return out


text = st.text(alphabet=string.ascii_letters + string.digits + " ,.+-@()\t\u00a0Z:T", max_size=12)
# Values each field type reads its own way: blanks, shapes a normaliser
# turns blank ("," into a list), refuses ("12.5" into an integer) or changes.
TRICKY = ["", "  ", ",", " , ", "a, b", "nan", "2024-05-01T12:00:00Z", "2024-05-01", "+1 (555) 010-99",
          "Ada@Example.COM ", "12", "12.5", "yes", "1,234.5", "1701011200000", 0, 1, 2.5, True,
          [None], [" "], ["b", "a", "b"], ["x"], [], {}]
value = st.one_of(
    st.none(), st.sampled_from(TRICKY), text, st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.lists(st.one_of(st.none(), text, st.integers(0, 99)), max_size=3), st.dictionaries(text, text, max_size=1))


@st.composite
def mappings(draw: st.DrawFn) -> FieldMapping:
    kind = draw(st.sampled_from(["copy", "copy", "copy", "lower", "trim", "first", "values", "default", "join"]))
    left, right = draw(st.sampled_from(NAMES)), draw(st.sampled_from(NAMES))
    direction = draw(st.sampled_from(["both", "left_to_right", "right_to_left"]))
    clear = draw(st.booleans())
    if kind == "join":
        return FieldMapping(left=("untyped", "string"), right=(right,), direction=direction,
                            transform="join_name", clear=clear)
    if kind == "values":
        return FieldMapping(left=(left,), right=(right,), direction=direction, clear=clear,
                            values=draw(st.dictionaries(text, text, min_size=1, max_size=3)))
    if kind == "default":
        return FieldMapping(left=(left,), right=(right,), direction=direction, clear=clear,
                            default=draw(st.one_of(text, st.integers(0, 9))))
    transform = None if kind == "copy" else kind
    return FieldMapping(left=(left,), right=(right,), direction=direction, transform=transform,
                        clear=clear)


@st.composite
def plans(draw: st.DrawFn) -> IntegrationPlan:
    fields = tuple(draw(st.lists(mappings(), min_size=1, max_size=5)))
    match_left, match_right = draw(st.sampled_from(NAMES)), draw(st.sampled_from(NAMES))
    integration = dataclasses.replace(BASE.integration, fields=fields, match_left=match_left,
                                      match_right=match_right)
    return IntegrationPlan.compile(integration, LEFT, RIGHT)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans(), seen=st.fixed_dictionaries({}, optional={name: value for name in NAMES}),
       source=st.sampled_from(["left", "right"]))
def test_a_compiled_create_plans_what_the_interpreted_one_did(
        plan: IntegrationPlan, seen: dict[str, Any], source: SideName) -> None:
    view = SideView(id="r1", seen=seen, synced=None)
    try:
        expected: PairPlan | Exception = reference_create(plan, source, view)
    except Exception as e:  # a value no path can take (a TypeError): both must refuse it alike
        expected = e
    try:
        got: PairPlan | Exception = plan._create(source, view)
    except Exception as e:
        got = e
    if isinstance(expected, Exception):
        assert type(got) is type(expected), (got, expected)
        return
    assert isinstance(got, PairPlan), got
    assert list(got.writes(_OTHER[source]).items()) == list(expected.writes(_OTHER[source]).items())
    assert got.writes(source) == expected.writes(source) == {}
    assert got.problems == expected.problems
    assert (got.create, got.skipped, got.rules_fired) == (expected.create, expected.skipped, expected.rules_fired)


def test_a_list_copied_into_text_is_joined_as_the_flow_joins_it() -> None:
    """The inline copy's one conversion besides the normaliser (an example the
    property may draw rarely): a list into a text field, its blanks left out."""
    fields = (FieldMapping(left=("list",), right=("string",), direction="left_to_right"),
              FieldMapping(left=("tags",), right=("email",), direction="left_to_right"))
    plan = IntegrationPlan.compile(dataclasses.replace(BASE.integration, fields=fields), LEFT, RIGHT)
    view = SideView(id="r1", seen={"list": ["a", " ", "b"], "tags": [" X@Y.io "], "email": "a@b.io"}, synced=None)
    out = plan._create("left", view)
    assert out.right == {"string": "a, b", "email": "x@y.io"}
    assert out.create == "right"
    assert out.right == reference_create(plan, "left", view).right


def test_every_plain_copy_of_every_tricky_value_plans_as_the_flow_did() -> None:
    """Exhaustively where the property samples thinly: each pair of field
    types as a plain copy, each value a type reads its own way."""
    checked = 0
    for left in NAMES:
        for right in NAMES:
            fields = (FieldMapping(left=(left,), right=(right,), direction="left_to_right"),)
            plan = IntegrationPlan.compile(
                dataclasses.replace(BASE.integration, fields=fields, match_left="untyped", match_right="untyped"),
                LEFT, RIGHT)
            for tricky in TRICKY:
                view = SideView(id="r1", seen={left: tricky}, synced=None)
                got, expected = plan._create("left", view), reference_create(plan, "left", view)
                assert (list(got.right.items()), got.problems) == (list(expected.right.items()), expected.problems), \
                    (left, right, tricky)
                checked += 1
    assert checked == len(NAMES) ** 2 * len(TRICKY)


@settings(max_examples=200, deadline=None)
@given(key=st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=6),
       body=st.dictionaries(st.sampled_from(["a", "b", "email"]), st.one_of(st.none(), text, st.lists(text)),
                            max_size=3),
       written=value)
def test_a_top_level_write_path_sets_what_the_walk_over_its_steps_sets(
        key: str, body: dict[str, Any], written: Any) -> None:
    """``WritePath.set`` of a one-key path (most fields) skips the walk over
    its steps; the walk (the path with ``top`` cleared) sets the same."""
    from syncd.expr import compile_write_path
    path = compile_write_path(key)
    assert path.top == key
    walked = compile_write_path(key)
    object.__setattr__(walked, "top", None)
    fast, slow = dict(body), dict(body)
    path.set(fast, written)
    walked.set(slow, written)
    assert fast == slow and list(fast) == list(slow)
    assert compile_write_path(f"{key}.x").top is None and compile_write_path(f"{key}[0]").top is None
