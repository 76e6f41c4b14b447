"""The docs are true: commands documented, examples valid, shipped files checked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from syncd.cli import _common as cli_common
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
    # examples/kubernetes/ holds Kubernetes manifests, not syncd files: they are held to
    # the Kubernetes schemas by tests/docs/test_cluster_examples.py
    return sorted([*REPO.glob("connectors.d/*.yaml"), *REPO.glob("examples/config/**/*.yaml"),
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
    # whole specs; the tutorial's partial snippets are held to its whole spec
    # by tests/tutorial/test_tutorial_spec.py
    blocks = [b for b in _yaml_blocks(REPO / "docs" / "writing-a-connector.md")
              if re.search("^connector:", b, re.M) and re.search("^objects:", b, re.M)]
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
    test_command = next(b for b in blocks if "tests/run.sh" in b)
    assert test_command in (REPO / ".ci" / "run").read_text()
    assert any("syncd demo" in b for b in blocks)
    # the script installs what the tests need, then runs pytest with the arguments given
    script = (REPO / "tests" / "run.sh").read_text()
    assert all(package in script for package in ("systemd", "chromium", "chromium-driver"))
    workers = re.fullmatch(r'.*\.venv/bin/pytest -n (\d+) (?:--dist \w+ )?"\$@"', script.rstrip().splitlines()[-1])
    assert workers is not None, script.rstrip().splitlines()[-1]
    assert f"(`-n {workers[1]}`, pytest-xdist" in readme  # the README says how many



def test_top_level_help_says_exit_codes_logs_and_docs() -> None:
    # What a new user reads first (issue 11): `syncd --help` as a real process.
    result = subprocess.run([sys.executable, "-m", "syncd", "--help"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    help_text = result.stdout
    # every code a command may return is in the table, and the table is printed
    constants = {v for k, v in vars(cli_common).items() if k.startswith("EXIT_") and isinstance(v, int)}
    assert constants == set(cli_common.EXIT_CODES)
    exit_section = help_text.split("exit codes:\n", 1)[1].split("\n\n", 1)[0]
    printed = {int(line.split()[0]): line.split(None, 1)[1] for line in exit_section.splitlines()}
    assert printed == cli_common.EXIT_CODES
    assert "stderr" in help_text and "journal" in help_text and "log:" in help_text
    # every document it names exists
    for doc in ("README.md", "systemd/README.md", "docs/", "docs/reference/"):
        assert f"  {doc} " in help_text, doc
        assert (REPO / doc).exists(), doc
    assert "syncd schema KIND" in help_text


def test_readme_quick_start_points_to_the_systemd_notes() -> None:
    readme = (REPO / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "systemd/README.md" in quick_start


# --------------------------------------------------------------------------- docs/connectors/


def test_connector_docs_are_current(reference_generator: ModuleType) -> None:
    gen = reference_generator
    stale = gen.stale_files(gen.render_connector_docs())
    assert not stale, (
        "docs/connectors/ differs from connectors.d/: "
        + ", ".join(str(p.relative_to(REPO)) for p in stale)
        + "; regenerate with: python docs/generate_reference.py"
    )
    pages = {p.name for p in (REPO / "docs" / "connectors").glob("*.md")}
    assert pages == {"README.md"} | {load_connector_file(p).name + ".md" for p in REPO.glob("connectors.d/*.yaml")}


def test_connector_docs_check_finds_a_changed_spec_and_a_removed_one(
        reference_generator: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    gen = reference_generator
    specs, pages = tmp_path / "connectors.d", tmp_path / "pages"
    specs.mkdir()
    shipped = (REPO / "connectors.d" / "sampleapp.yaml").read_text()
    (specs / "sampleapp.yaml").write_text(shipped)
    monkeypatch.setattr(gen, "CONNECTOR_SPECS_DIR", specs)
    monkeypatch.setattr(gen, "CONNECTOR_DOCS_DIR", pages)
    monkeypatch.setattr(gen, "REFERENCE_DIR", tmp_path / "reference")
    assert gen.main([]) == 0
    assert gen.stale_files() == []
    (specs / "sampleapp.yaml").write_text(shipped.replace("Where the sample app listens.", "Its address."))
    (pages / "gone.md").write_text("a page of a spec removed since\n")
    assert gen.stale_files() == [pages / "sampleapp.md", pages / "gone.md"]
    assert gen.main(["--check"]) == 1
    assert "run: python docs/generate_reference.py" in capsys.readouterr().err
    assert gen.main([]) == 0
    assert not (pages / "gone.md").exists() and "Its address." in (pages / "sampleapp.md").read_text()


def test_a_connector_page_says_what_the_spec_offers() -> None:
    page = (REPO / "docs" / "connectors" / "sampleapp.md").read_text()
    # the header comment, settings with secrets and defaults, auth, limits
    assert "a fake CRM on\n127.0.0.1 for the quick start" in page
    assert "| `token` | string | yes | yes |  |" in page
    assert "| `url` | string | no | no | `http://127.0.0.1:8765` |" in page
    assert "Bearer token" in page and "At most 50 requests a second." in page
    # child objects after their parent, each with fields and operations
    contacts, notes, tasks = (page.index(h) for h in (
        "### `contacts`", "#### `notes` (child of `contacts`)", "#### `tasks` (child of `contacts`)"))
    assert contacts < notes < tasks < page.index("## Webhooks")
    assert "| `create_batch` | `POST /contacts/batch/create` | `results` |  | up to 100 records a request |" in page
    assert "| `plan` | `custom_fields.plan` | string | read and write |  |" in page
    assert "Replay guard: the time in `X-Sampleapp-Timestamp`" in page
    assert "Registration (`syncd webhooks`): create `POST /webhooks`" in page
    # a read-only field, quota headers
    hubspot = (REPO / "docs" / "connectors" / "hubspot.md").read_text()
    assert "`X-HubSpot-RateLimit-Daily-Remaining` (requests left)" in hubspot
    intercom = (REPO / "docs" / "connectors" / "intercom.md").read_text()
    assert "`Intercom-Version`: `2.11`" in intercom
    index = (REPO / "docs" / "connectors" / "README.md").read_text()
    assert "## [syncd sample CRM](sampleapp.md) (`sampleapp`)" in index
    assert "`contacts` (list, changes, get, find, create, update, create_batch, update_batch, delete), " \
           "with `notes` (list, create, update, delete)" in index


def test_the_docs_point_to_the_connector_pages() -> None:
    assert "docs/connectors/" in (REPO / "README.md").read_text()
    assert "connectors/README.md" in (REPO / "docs" / "writing-a-connector.md").read_text()


def test_a_field_without_write_is_documented_as_read_only(tmp_path: Path) -> None:
    from syncd.config import header_comment, render_connector_page

    text = ("# Example CRM, API v2:\n#   https://example.com/api\nconnector: ex\ntitle: Ex\n"
            "base_url: https://ex.example.com\nobjects:\n  people:\n    id: id\n    fields:\n"
            "      email: {path: email, type: email}\n      score: {read: 'stats.score', type: integer}\n"
            "    list: {path: /people, pagination: {type: page_number, param: page, total_pages: pages}}\n")
    (tmp_path / "ex.yaml").write_text(text)
    page = render_connector_page(load_connector_file(tmp_path / "ex.yaml"), "connectors.d/ex.yaml",
                                 header_comment(text))
    assert "| `score` | `stats.score` | integer | read-only |  |" in page
    assert "| `email` | `email` | email | read and write |  |" in page
    assert "page number in `page` from 1, page count at `pages`" in page
    assert "```text\nExample CRM, API v2:\n  https://example.com/api\n```" in page
    assert "## Webhooks\n\nNone declared.\n" in page


def test_every_kind_of_auth_and_pagination_is_described(tmp_path: Path) -> None:
    from syncd.config import render_connector_page

    objects = (
        "objects:\n"
        "  a: {id: id, fields: {x: {path: x}}, list: {path: /a, pagination: {type: offset, param: offset,"
        " limit_param: limit, total: total, max_pages: 5}}}\n"
        "  b: {id: id, fields: {x: {path: x}}, list: {path: /b, pagination: {type: next_url, next: links.next}}}\n"
        "  c: {id: id, fields: {x: {path: x}}, list: {path: /c, pagination: {type: link_header}}}\n")
    auths = {
        "{type: oauth2_refresh_token, token_url: 'https://login.example.com/token', client_id: cid,"
        " client_secret: '{{ settings.secret }}', refresh_token: '{{ settings.refresh }}', scopes: [api],"
        " client_auth: basic}":
            ["OAuth 2, grant `refresh_token`: tokens from `https://login.example.com/token`, client `cid` "
             "(secret `{{ settings.secret }}`, sent as HTTP Basic).", "Refresh token: `{{ settings.refresh }}`.",
             "Scopes: `api`."],
        "{type: api_key, in: query, name: key, value: '{{ settings.secret }}'}":
            ["API key in the query parameter `key`: `{{ settings.secret }}`."],
        "{type: none}": ["None: requests carry no credentials."],
    }
    for i, (auth, expected) in enumerate(auths.items()):
        path = tmp_path / f"spec{i}.yaml"
        path.write_text(f"connector: s{i}\ntitle: S\nbase_url: https://s.example.com\n"
                        "settings:\n  secret: {description: s, secret: true}\n"
                        "  refresh: {description: r, secret: true}\n"
                        f"auth: {auth}\n{objects}")
        page = render_connector_page(load_connector_file(path), f"connectors.d/spec{i}.yaml")
        for line in expected:
            assert line in page, (line, page)
    assert "offset in `offset`, page size in `limit`, total at `total`; at most 5 pages" in page
    assert "next page's URL at `links.next`" in page
    assert '`Link` header, `rel="next"`' in page
    assert "No rate limit declared" in page
