"""escape(value, chars): the JMESPath function that keeps a value inside a quoted query string.

SOQL (Salesforce's query language) reads a string between single quotes
and needs a quote and a backslash in it escaped with a backslash; a find
that builds ``WHERE Email = '{{ … }}'`` from a looked-up value must not let
that value end the string and add a clause of its own.
"""

from __future__ import annotations

import pytest
from jmespath.exceptions import JMESPathTypeError

from syncd.expr import ExprError, compile_expr, compile_template

FIND = compile_template("SELECT Id FROM Contact WHERE Email = '{{ escape(value, '\\'') }}' LIMIT 200")


def test_a_quote_in_an_email_stays_inside_the_soql_string() -> None:
    query = FIND.render_text({"value": "o'brien@example.com"})
    assert query == "SELECT Id FROM Contact WHERE Email = 'o\\'brien@example.com' LIMIT 200"


def test_an_injection_attempt_is_one_escaped_string() -> None:
    query = FIND.render_text({"value": "x' OR Email != '"})
    assert query == "SELECT Id FROM Contact WHERE Email = 'x\\' OR Email != \\'' LIMIT 200"


def test_the_backslash_itself_is_always_escaped() -> None:
    # else a value ending in a backslash would escape the closing quote
    assert FIND.render_text({"value": "a\\"}) == "SELECT Id FROM Contact WHERE Email = 'a\\\\' LIMIT 200"
    assert compile_expr("escape(v, '\"%')").search({"v": 'say "100%"'}) == 'say \\"100\\%\\"'


def test_null_stays_null_and_a_number_is_its_text() -> None:
    expr = compile_expr("escape(v, '\\'')")
    assert expr.search({}) is None
    assert expr.search({"v": 42}) == "42"


def test_escape_takes_its_characters_as_a_string() -> None:
    with pytest.raises(JMESPathTypeError, match="In function escape"):
        compile_expr("escape(v, `1`)").search({"v": "x"})
    with pytest.raises(ExprError):
        compile_expr("escape(v, '")
