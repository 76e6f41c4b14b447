"""Mistakes the live-config soak (tests/soak/test_soak_config.py) found
reported at the wrong place, or not at all: each at FILE:LINE, on the file
that holds the mistake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncd.config import Config, ConfigError, load_config
from syncd.config._files import MAX_FILE_BYTES
from syncd.sampleapp import sample_integration, write_sample_config

ENV = {"LEFT_TOKEN": "l", "RIGHT_TOKEN": "r"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    integration = sample_integration("http://127.0.0.1:1", "http://127.0.0.1:2", name="pair")
    return write_sample_config(tmp_path / "config", integration, daemon={"log": {"level": "info"}}, header=False)


def errors(config: Path, running: Config | None = None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_config(config, environ=ENV, running=running)
    return [str(p).removeprefix(f"{config}/") for p in e.value.problems]


@pytest.mark.parametrize("where", ["integrations.d/x.yaml", "connectors.d/x.yaml", "syncd.yaml"])
def test_a_name_that_is_not_a_readable_file_is_reported_not_skipped(config: Path, where: str) -> None:
    # Before: a directory, a symlink loop or a dangling link named *.yaml
    # was passed over without a word (syncd.yaml: every default was used).
    path = config / where
    path.parent.mkdir(exist_ok=True)
    if path.exists():
        path.unlink()
    path.mkdir()
    assert errors(config) == [f"{where}:1:1: error: cannot read the file: it is a directory"]
    path.rmdir()
    os.symlink(path.name, path)
    assert errors(config) == [
        f"{where}:1:1: error: cannot read the file: it is a symbolic link that loops (too many levels of links)"]
    path.unlink()
    os.symlink("missing.txt", path)
    assert errors(config) == [
        f"{where}:1:1: error: cannot read the file: it is a symbolic link to missing.txt, which does not exist"]
    path.unlink()
    os.mkfifo(path)  # never opened: reading it would wait for a writer for ever
    assert errors(config) == [
        f"{where}:1:1: error: cannot read the file: it is not a regular file (a FIFO, socket or device)"]


def test_a_file_over_the_limit_is_refused_before_it_is_parsed(config: Path) -> None:
    # Before: a 2 MiB list was parsed and checked item by item (minutes at
    # 5 MiB, in the daemon's reload), then reported as missing keys.
    text = "integration: huge\nfields:\n" + "  - {left: email, right: email}\n" * 70_000
    assert len(text) > MAX_FILE_BYTES
    (config / "integrations.d" / "huge.yaml").write_text(text)
    size = len(text) / 1024 / 1024
    assert errors(config) == [f"integrations.d/huge.yaml:1:1: error: the file is too large ({size:.1f} MiB): "
                              "a config file holds at most 1 MiB"]


def test_text_that_is_not_utf8_is_pointed_at_by_its_first_bad_byte(config: Path) -> None:
    # Before: always 1:1, whatever line the Latin-1 'é' was on.
    path = config / "integrations.d" / "pair.yaml"
    text = path.read_text().replace("create: both\n", "create: both\ndescription: Caf\xe9\n")
    path.write_bytes(text.encode("latin-1"))
    line = text[:text.index("Caf")].count("\n") + 1
    assert errors(config) == [f"integrations.d/pair.yaml:{line}:17: error: the file is not UTF-8 text (byte 0xe9)"]


def test_an_unclosed_quote_is_reported_where_it_opens(config: Path) -> None:
    # Before: at the end of the file (line 19 here), where the parser gave up.
    path = config / "integrations.d" / "pair.yaml"
    text = path.read_text()
    assert "match: {left: email," in text
    path.write_text(text.replace("match: {left: email,", 'match: {left: "email,'))
    line = text[:text.index("match:")].count("\n") + 1
    assert line < text.count("\n")
    assert errors(config) == [f"integrations.d/pair.yaml:{line}:15: error: invalid YAML: found unexpected end of "
                              "stream: the quoted scalar that starts here is never closed"]


def test_a_flow_mapping_left_open_is_reported_at_the_end_of_its_line(config: Path) -> None:
    # Before: at the next line's first item, which is not where the '}' is missing.
    path = config / "integrations.d" / "pair.yaml"
    text = path.read_text()
    path.write_text(text.replace("  - {left: email, right: email}\n", "  - {left: email, right: email\n"))
    line = text[:text.index("  - {left: email, right: email}")].count("\n") + 1
    assert errors(config) == [
        f"integrations.d/pair.yaml:{line}:31: error: invalid YAML: did not find expected ',' or '}}' at the end "
        f"of this line (parsing a flow mapping that starts at line {line})"]


def test_a_missing_comma_in_a_multiline_flow_mapping_is_reported_where_it_belongs(config: Path) -> None:
    path = config / "syncd.yaml"
    path.write_text("log: {level: info,\n      format: json\n      # a comment\n\n      budgets: {}}\n")
    assert errors(config) == ["syncd.yaml:2:19: error: invalid YAML: did not find expected ',' or '}' at the end "
                              "of this line (parsing a flow mapping that starts at line 1)"]


def test_a_duplicate_name_is_the_new_files_mistake_while_a_daemon_runs(config: Path) -> None:
    # Before: the file that sorts first kept the name, so a copy saved as
    # another.yaml made the daemon blame pair.yaml, the file it runs.
    pair = (config / "integrations.d" / "pair.yaml").read_text()
    spec = (Path(__file__).resolve().parents[2] / "connectors.d" / "sampleapp.yaml").read_text()
    (config / "connectors.d").mkdir()
    (config / "connectors.d" / "sampleapp.yaml").write_text(spec)
    running = load_config(config, environ=ENV)
    (config / "integrations.d" / "another.yaml").write_text(pair)
    (config / "connectors.d" / "another.yaml").write_text(spec)
    line = spec[:spec.index("connector: sampleapp")].count("\n") + 1
    assert errors(config, running=running) == [
        f"connectors.d/another.yaml:{line}:12: error: connector 'sampleapp' is already defined in "
        f"{config}/connectors.d/sampleapp.yaml (connector)",
        f"integrations.d/another.yaml:1:14: error: integration 'pair' is already defined in "
        f"{config}/integrations.d/pair.yaml (integration)",
    ]
    # Without a running config (syncd validate), the first file keeps the name.
    assert errors(config)[1] == (f"integrations.d/pair.yaml:1:14: error: integration 'pair' is already defined in "
                                 f"{config}/integrations.d/another.yaml (integration)")


def test_an_unresolved_reference_in_syncd_yaml_is_one_message(config: Path) -> None:
    # Before: a second message called the reference's own text an invalid level.
    (config / "syncd.yaml").write_text("log: {level: '${env:SYNCD_UNSET_LEVEL}'}\n")
    assert errors(config) == ["syncd.yaml:1:14: error: ${env:SYNCD_UNSET_LEVEL}: environment variable "
                              "SYNCD_UNSET_LEVEL is not set (log.level)"]
