"""The docs are true: commands documented, examples valid, shipped files checked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.cli import build_parser
from syncd.config import load_config, load_connector_file

REPO = Path(__file__).resolve().parents[1]
SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=\S+\.schema\.json$")


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help_and_a_readme_entry(command: str) -> None:
    result = subprocess.run([sys.executable, "-m", "syncd", command, "--help"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.startswith("usage: syncd " + command)
    assert f"`syncd {command}" in (REPO / "README.md").read_text()


def _shipped_yaml() -> list[Path]:
    return sorted([*REPO.glob("connectors.d/*.yaml"), *REPO.glob("examples/**/*.yaml"),
                   *REPO.glob("bench/*.yaml")])


@pytest.mark.parametrize("path", _shipped_yaml(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_yaml_names_its_schema(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert SCHEMA_LINE.match(first), f"{path}: first line should be the yaml-language-server $schema line"


@pytest.mark.parametrize("path", [*REPO.glob("connectors.d/*.yaml"), *REPO.glob("bench/*.yaml")],
                         ids=lambda p: p.name)
def test_every_shipped_connector_spec_loads(path: Path) -> None:
    assert load_connector_file(path).objects


def test_example_config_validates() -> None:
    result = subprocess.run([sys.executable, "-m", "syncd", "validate", "-c", "examples/config"],
                            capture_output=True, text=True, cwd=REPO, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load_config(REPO / "examples" / "config").integrations["crm-to-newsletter"]


def _yaml_blocks(doc: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)


def test_writing_connectors_example_is_a_valid_spec(tmp_path: Path) -> None:
    blocks = [b for b in _yaml_blocks(REPO / "docs" / "writing-connectors.md") if "connector:" in b]
    assert blocks
    for i, block in enumerate(blocks):
        spec = tmp_path / f"example{i}.yaml"
        spec.write_text(block)
        assert load_connector_file(spec).name


@pytest.mark.parametrize("kind", ["syncd", "connector", "integration"])
def test_schema_command_prints_the_schema(kind: str) -> None:
    result = subprocess.run([sys.executable, "-m", "syncd", "schema", kind],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stdout == (REPO / "schemas" / f"{kind}.schema.json").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    test_command = next(b for b in blocks if "pytest" in b)
    assert test_command in (REPO / ".ci" / "run").read_text()
    assert any("syncd demo" in b for b in blocks)


