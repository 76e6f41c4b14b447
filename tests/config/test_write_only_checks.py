"""An object without ``list`` (a write-only target: the shipped Drift spec)
may only be written to, one way, from either side; everything that would
read it is refused at its key (the corpus case
tests/config/broken/79-reads-a-write-only-target shows each message)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from syncd.config import ConfigError, load_config

SAMPLE = "{connector: sampleapp, object: contacts, settings: {token: '${env:T:-t}'}}"
DRIFT = "{connector: drift, object: contacts, settings: {access_token: '${env:D:-d}'}}"


def _load(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "integrations.d").mkdir()
    (tmp_path / "syncd.yaml").write_text("state: {path: state.db}\n", encoding="utf-8")
    (tmp_path / "integrations.d" / "a.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    try:
        load_config(tmp_path)
    except ConfigError as e:
        return [f"{p.line}:{p.col} {p.message}" for p in e.problems]
    return []


@pytest.mark.parametrize("drift_side, one_way", [("right", "left_to_right"), ("left", "right_to_left")])
def test_a_one_way_integration_into_a_write_only_target_is_valid(tmp_path: Path, drift_side: str,
                                                                  one_way: str) -> None:
    sides = {"left": SAMPLE, "right": DRIFT} if drift_side == "right" else {"left": DRIFT, "right": SAMPLE}
    assert _load(tmp_path, f"""\
        integration: one-way
        left: {sides['left']}
        right: {sides['right']}
        match: {{left: email, right: email}}
        create: {one_way}
        fields:
          - {{left: email, right: email, direction: {one_way}}}
          - {{left: phone, right: phone, direction: {one_way}}}
        deletions: {{from: {'left' if drift_side == 'right' else 'right'}, then: delete}}
        """) == []


def test_reading_a_write_only_target_is_refused_at_each_key(tmp_path: Path) -> None:
    problems = _load(tmp_path, f"""\
        integration: two-way
        left: {SAMPLE}
        right: {DRIFT}
        match: {{left: email, right: email}}
        create: none
        fields:
          - {{left: email, right: email, direction: left_to_right}}
          - {{left: phone, right: phone}}
        """)
    assert problems == [
        "8:26 direction: both (the default) reads field 'phone' from it; drift.contacts has no list operation, "
        "so syncd cannot read it: it can only be written to, one way from the left side: use direction: "
        "left_to_right"]
