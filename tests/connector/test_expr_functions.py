"""The custom JMESPath functions a field's write request and a spec's base_url use."""

from __future__ import annotations

import hashlib

from syncd._secret import Secret
from syncd.expr import compile_expr, compile_template


def test_difference_is_what_a_new_list_removed_from_the_previous_one() -> None:
    removed = compile_expr("difference(previous, value)")
    assert removed({"previous": ["a", "b", "c"], "value": ["b", "d"]}) == ["a", "c"]
    assert removed({"previous": None, "value": ["b"]}) == []  # nothing known before: nothing removed
    assert removed({"previous": ["a"], "value": None}) == ["a"]


def test_md5_is_the_hex_digest_of_the_text() -> None:
    digest = compile_expr("md5(lower(email))")
    assert digest({"email": "Ada@Example.com"}) == hashlib.md5(b"ada@example.com").hexdigest()
    assert digest({"email": None}) is None


def test_secret_suffix_reveals_only_the_part_after_the_last_separator() -> None:
    host = compile_template("https://{{ secret_suffix(settings.key, '-') }}.api.example")
    key = Secret("0123456789abcdef-with-dashes-us6")
    assert host.render_text({"settings": {"key": key}}) == "https://us6.api.example"
    assert compile_expr("secret_suffix(key, '-')")({"key": Secret("nodash")}) is None
    assert compile_expr("secret_suffix(key, '-')")({"key": None}) is None
