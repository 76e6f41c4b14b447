"""``syncd connectors``: the shipped and local specs, as real processes."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A local spec of its own: an object with a child object, a few operations,
# and an object the API cannot list (a write-only target).
_LOCAL_SPEC = """\
connector: mycrm
title: My CRM
base_url: https://crm.example.com
objects:
  people:
    id: id
    fields:
      email: {path: email, type: email}
    list: {path: /people, records: items}
    get: {path: "/people/{{ id }}"}
    create: {method: POST, path: /people}
  comments:
    parent: people
    id: id
    fields:
      text: {path: text, type: string}
    list: {path: "/people/{{ parent_id }}/comments", records: items}
  visitors:
    fields:
      email: {path: email, type: email}
    find: {path: /visitors, params: {email: "{{ value }}"}, records: items}
    create: {path: /visitors}
"""

# `lst` is not an operation: an error on line 8, column 5.
_BROKEN_SPEC = """\
connector: broken
title: Broken
base_url: https://broken.example.com
objects:
  people:
    id: id
    fields: {email: {path: email}}
    lst: {path: /people}
"""


def _config(tmp_path: Path, *, broken: bool = False) -> Path:
    specs = tmp_path / "connectors.d"
    specs.mkdir()
    (specs / "mycrm.yaml").write_text(_LOCAL_SPEC)
    # The shipped sample app's spec, retitled: a local override.
    shipped = (REPO / "connectors.d" / "sampleapp.yaml").read_text()
    (specs / "sampleapp.yaml").write_text(shipped.replace("title: syncd sample CRM", "title: Our sample CRM"))
    if broken:
        (specs / "broken.yaml").write_text(_BROKEN_SPEC)
    return tmp_path


def test_lists_shipped_and_local_specs_with_objects_and_operations(run_syncd, tmp_path: Path) -> None:
    config = _config(tmp_path)
    result = run_syncd("connectors", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert "hubspot: HubSpot CRM (shipped)" in lines
    assert "  contacts: list, changes, get, find, create, update, create_batch, update_batch, delete" in lines
    local = lines.index(f"mycrm: My CRM (local, {config}/connectors.d/mycrm.yaml)")
    assert lines[local + 1:local + 4] == ["  people: list, get, create",
                                          "    comments (child of people): list",
                                          "  visitors: find, create (no list: write-only target)"]
    override = next(line for line in lines if line.startswith("sampleapp:"))
    assert override == (f"sampleapp: Our sample CRM (local, {config}/connectors.d/sampleapp.yaml, "
                        f"overrides the shipped {REPO}/connectors.d/sampleapp.yaml)")
    assert "syncd sample CRM" not in result.stdout  # the overridden one is not listed
    # shipped specs first, then local ones
    assert lines.index("hubspot: HubSpot CRM (shipped)") < local


def test_json_output(run_syncd, tmp_path: Path) -> None:
    config = _config(tmp_path)
    result = run_syncd("connectors", "-c", str(config), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["directory"] == str(config) and data["problems"] == []
    by_name = {c["name"]: c for c in data["connectors"]}
    assert {"hubspot", "intercom", "mailchimp", "sampleapp", "mycrm"} <= set(by_name)
    assert by_name["mycrm"] == {
        "name": "mycrm", "title": "My CRM", "description": "", "source": "local",
        "file": f"{config}/connectors.d/mycrm.yaml", "overrides": None,
        "objects": [{"name": "people", "operations": ["list", "get", "create"], "write_only": False,
                     "children": [{"name": "comments", "operations": ["list"]}]},
                    {"name": "visitors", "operations": ["find", "create"], "write_only": True, "children": []}],
    }
    assert by_name["sampleapp"]["overrides"] == f"{REPO}/connectors.d/sampleapp.yaml"
    assert by_name["sampleapp"]["source"] == "local"
    assert [c["name"] for c in by_name["sampleapp"]["objects"][0]["children"]] == ["notes", "tasks"]
    assert by_name["hubspot"]["source"] == "shipped" and by_name["hubspot"]["overrides"] is None


def test_a_broken_local_spec_is_named_precisely_and_the_others_still_listed(run_syncd, tmp_path: Path) -> None:
    config = _config(tmp_path, broken=True)
    broken = f"{config}/connectors.d/broken.yaml"
    result = run_syncd("connectors", "-c", str(config))
    assert result.returncode == 78, result.stderr
    assert f"{broken}:8:5: error:" in result.stderr
    assert "lst" in result.stderr
    assert f"syncd: error: 1 connector spec file could not be read: {broken}" in result.stderr
    assert "mycrm: My CRM" in result.stdout and "hubspot: HubSpot CRM (shipped)" in result.stdout
    assert "broken:" not in result.stdout and "Broken" not in result.stdout

    as_json = run_syncd("connectors", "-c", str(config), "--json")
    assert as_json.returncode == 78
    data = json.loads(as_json.stdout)
    assert {"mycrm", "hubspot"} <= {c["name"] for c in data["connectors"]}
    assert "broken" not in {c["name"] for c in data["connectors"]}
    assert {(p["file"], p["line"], p["column"]) for p in data["problems"]} == {(broken, 8, 5)}


def test_a_named_directory_that_does_not_exist_is_a_usage_error(run_syncd, tmp_path: Path) -> None:
    result = run_syncd("connectors", "-c", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and result.stdout == ""
    from_env = run_syncd("connectors", env={"SYNCD_CONFIG": str(tmp_path / "missing")})
    assert from_env.returncode == 2


def test_a_broken_override_hides_the_shipped_spec_and_a_second_definition_is_an_error(
        run_syncd, tmp_path: Path) -> None:
    # As the loader has it: a broken local `sampleapp` makes the name unusable
    # (the shipped one is not used in its place), and one folder may define a
    # name once.
    specs = tmp_path / "connectors.d"
    specs.mkdir()
    (specs / "a.yaml").write_text(_LOCAL_SPEC)
    (specs / "b.yaml").write_text(_LOCAL_SPEC.replace("title: My CRM", "title: Again"))
    (specs / "sampleapp.yaml").write_text("connector: sampleapp\ntitle: Broken\nbase_url: https://x.example.com\n")
    result = run_syncd("connectors", "-c", str(tmp_path))
    assert result.returncode == 78
    assert f"{specs}/b.yaml:1:12: error: connector 'mycrm' is already defined in {specs}/a.yaml" in result.stderr
    assert f"{specs}/sampleapp.yaml:1:1: error:" in result.stderr and "objects" in result.stderr
    assert "syncd: error: 2 connector spec files could not be read" in result.stderr
    lines = result.stdout.splitlines()
    assert f"mycrm: My CRM (local, {specs}/a.yaml)" in lines
    assert not any(line.startswith(("sampleapp:", "mycrm: Again")) for line in lines)
    assert "hubspot: HubSpot CRM (shipped)" in lines
