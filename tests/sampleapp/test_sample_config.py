"""The sample integration config: what the demo, the tests and the benchmarks
write to join two sample apps is a valid config, and a variant lands where asked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from syncd.config import load_config
from syncd.sampleapp import config_yaml, sample_fields, sample_integration, write_sample_config

REPO = Path(__file__).resolve().parents[2]
LEFT, RIGHT = "http://127.0.0.1:8765", "http://127.0.0.1:8766"
ENV = {"LEFT_TOKEN": "left-token", "RIGHT_TOKEN": "right-token"}
SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=\S+/(\w+)\.schema\.json$")


def test_the_default_config_validates_and_joins_the_two_apps(tmp_path: Path) -> None:
    config = write_sample_config(tmp_path / "config", sample_integration(LEFT, RIGHT))
    result = subprocess.run([sys.executable, "-m", "syncd", "validate", "-c", str(config)],
                            capture_output=True, text=True, cwd=REPO, timeout=60, env={**os.environ, **ENV})
    assert result.returncode == 0, result.stdout + result.stderr

    loaded = load_config(config, environ=ENV)
    integration = loaded.integrations["crm-to-newsletter"]
    assert loaded.daemon.state_path == config / "state.db"
    assert (integration.left.connector, integration.left.object) == ("sampleapp", "contacts")
    assert integration.left.settings["url"] == LEFT and integration.right.settings["url"] == RIGHT
    assert (integration.match_left, integration.match_right) == ("email", "email")
    assert (integration.create, integration.conflict) == ("both", "newest_wins")
    assert [(f.left, f.right, f.direction) for f in integration.fields] == [
        (("email",), ("email",), "both"), (("first_name",), ("first_name",), "both"),
        (("last_name",), ("last_name",), "both"), (("phone",), ("phone",), "left_to_right")]


def test_the_tokens_are_written_as_references_not_values(tmp_path: Path) -> None:
    write_sample_config(tmp_path, sample_integration(LEFT, RIGHT, right_token="${file:right.token}"))
    text = (tmp_path / "integrations.d" / "crm-to-newsletter.yaml").read_text()
    assert "${env:LEFT_TOKEN}" in text and "${file:right.token}" in text
    (tmp_path / "right.token").write_text("from-a-file\n")
    integration = load_config(tmp_path, environ=ENV).integrations["crm-to-newsletter"]
    assert integration.right.settings["token"].reveal() == "from-a-file"


def test_overrides_land_where_asked(tmp_path: Path) -> None:
    rule = {"if": "score > `90`", "from": "left", "then": [{"add_tag": "hot-lead"}]}
    integration = sample_integration(
        LEFT, RIGHT, name="pair", description="Two apps.", schedule="every 1 hour",
        fields=sample_fields()[:2], create="left_to_right", conflict="left_wins",
        extra={"rules": [rule], "deletions": {"from": "left", "then": "delete"},
               "catch_up": "skip", "create": "none"})
    # Named keys lead, as a person writes them; extra keys come last; a
    # replaced key keeps its place.
    assert list(integration) == ["integration", "description", "schedule", "left", "right", "match",
                                 "create", "conflict", "fields", "rules", "deletions", "catch_up"]
    write_sample_config(tmp_path, integration, daemon={"state": {"path": "state/syncd.db"},
                                                       "log": {"level": "debug"}})

    loaded = load_config(tmp_path, environ=ENV)
    pair = loaded.integrations["pair"]
    assert (pair.description, pair.schedule.source, pair.catch_up) == ("Two apps.", "every 1 hour", "skip")
    assert (pair.create, pair.conflict) == ("none", "left_wins")
    assert [f.right for f in pair.fields] == [("email",), ("first_name",)]
    [hot] = pair.rules
    assert hot.side == "left" and hot.then != "skip"
    assert [(a.kind, a.value) for a in hot.then] == [("add_tag", "hot-lead")]
    assert pair.deletions is not None and pair.deletions.side == "left"
    assert [a.kind for a in pair.deletions.then] == ["delete"]
    assert loaded.daemon.state_path == tmp_path / "state" / "syncd.db" and loaded.daemon.log_level == "debug"


def test_a_caller_gets_copies_it_may_change() -> None:
    fields = sample_fields()
    integration = sample_integration(LEFT, RIGHT, fields=fields)
    integration["fields"].append({"left": "plan", "right": "plan"})
    fields[0]["direction"] = "left_to_right"
    assert len(sample_fields()) == 4 and integration["fields"][0] == {"left": "email", "right": "email"}


def test_the_files_name_their_schema_unless_told_not_to(tmp_path: Path) -> None:
    write_sample_config(tmp_path / "with", sample_integration(LEFT, RIGHT))
    for name, kind in (("syncd.yaml", "syncd"), ("integrations.d/crm-to-newsletter.yaml", "integration")):
        first = (tmp_path / "with" / name).read_text().splitlines()[0]
        match = SCHEMA_LINE.match(first)
        assert match and match.group(1) == kind, first
    write_sample_config(tmp_path / "without", sample_integration(LEFT, RIGHT), header=False)
    assert not (tmp_path / "without" / "syncd.yaml").read_text().startswith("#")


def test_the_yaml_reads_like_the_docs_so_tests_can_edit_it_as_text() -> None:
    """A field a line, block lists indented under their key, a long URL kept
    on its line: the e2e tests edit these lines and count them in errors."""
    long_url = "http://127.0.0.1:8765/" + "x" * 120
    text = config_yaml(sample_integration(long_url, RIGHT, name="pair", extra={"schedule": "every 1 hour"}))
    lines = text.splitlines()
    assert lines[9] == "match: {left: email, right: email}"
    assert "fields:\n  - {left: email, right: email}\n  - {left: first_name, right: first_name}\n" in text
    assert lines[17] == "schedule: every 1 hour" and len(lines) == 18
    assert any(long_url in line for line in lines)
    assert yaml.safe_load(text)["left"]["settings"] == {"url": long_url, "token": "${env:LEFT_TOKEN}"}


def test_a_field_stays_on_one_line_whatever_it_holds() -> None:
    joined = {"left": ["first_name", "last_name"], "right": "full_name", "transform": "join_name"}
    plan = {"left": "plan", "right": "plan", "values": {"pro": "paid", "free": "unpaid"}}
    text = config_yaml(sample_integration(LEFT, RIGHT, fields=[joined, plan]))
    assert text.endswith("fields:\n"
                         "  - {left: [first_name, last_name], right: full_name, transform: join_name}\n"
                         "  - {left: plan, right: plan, values: {pro: paid, free: unpaid}}\n")
    assert yaml.safe_load(text)["fields"] == [joined, plan]
