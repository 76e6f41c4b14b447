"""docs/writing-a-connector.md is true: its snippets make its whole spec, and
its commands, run as written against a stand-in Larkspur (fake_larkspur.py)
and the sample app, do what it says."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from fake_larkspur import FakeLarkspur
from tutorial_support import REPO, blocks, is_part_of, syncd, tutorial_part, whole_spec

from syncd.config import load_connector_file
from syncd.sampleapp import AuthMode, SampleApp

API_KEY = "lk_test_0123456789"
SAMPLE_TOKEN = "sample-token"
ENV = {"LARKSPUR_API_KEY": API_KEY, "SAMPLEAPP_TOKEN": SAMPLE_TOKEN}
# The addresses the tutorial's commands use, and the stand-ins' here.
LARKSPUR_URL = "http://127.0.0.1:8770/v2"
SAMPLE_URL = "http://127.0.0.1:8765"


def test_every_snippet_is_part_of_the_whole_spec() -> None:
    text = tutorial_part()
    whole = whole_spec()
    spec = yaml.safe_load(whole)
    snippets = [b for b in blocks(text, "yaml") if b != whole and "\nintegration:" not in "\n" + b]
    assert len(snippets) >= 8
    for snippet in snippets:
        data = yaml.safe_load(snippet)
        if data is None:  # the header comment
            assert snippet in whole
        else:
            assert is_part_of(data, spec), snippet


def _dev(tmp_path: Path, spec: str) -> Path:
    folder = tmp_path / "dev" / "connectors.d"
    folder.mkdir(parents=True, exist_ok=True)
    (tmp_path / "dev" / "integrations.d").mkdir(exist_ok=True)
    (folder / "larkspur.yaml").write_text(spec)
    return tmp_path


def test_the_whole_spec_validates_and_the_errors_shown_are_real(tmp_path: Path) -> None:
    text = tutorial_part()
    whole = whole_spec()
    result = syncd("validate", "-c", "dev", cwd=_dev(tmp_path, whole), env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: ")
    # Each mistake the tutorial shows, made in the whole spec (first place
    # only), gives the very line the tutorial prints.
    for right, wrong in (("param: cursor}", "parm: cursor}"), ("records: data\n", "records: data[\n"),
                         ('"{{ since }}"', '"{{ sinse }}"')):
        assert right in whole
        result = syncd("validate", "-c", "dev", cwd=_dev(tmp_path, whole.replace(right, wrong, 1)), env=ENV)
        assert result.returncode == 1
        [line] = result.stdout.splitlines()
        assert line.startswith("dev/connectors.d/larkspur.yaml:") and f"```text\n{line}\n```" in text, line


def _commands(text: str) -> list[list[str]]:
    """The tutorial's ``syncd`` commands, in order, as argument lists."""
    out = []
    for block in blocks(text, "bash"):
        for line in block.splitlines():
            if line.startswith("syncd "):
                out.append(shlex.split(line)[1:])
    return out


def test_the_tutorial_runs_as_written(tmp_path: Path, fake_api: Callable[..., Any],
                                      sample_app: Callable[..., SampleApp]) -> None:
    larkspur: FakeLarkspur = fake_api(FakeLarkspur, api_key=API_KEY, contacts=3)
    app = sample_app(n=3, auth=AuthMode.BEARER, token=SAMPLE_TOKEN)
    text = tutorial_part()

    def here(s: str) -> str:  # the tutorial's addresses, made the stand-ins'
        return s.replace(LARKSPUR_URL, larkspur.base_url).replace(SAMPLE_URL, app.url)

    cwd = _dev(tmp_path, whole_spec())
    [integration] = [b for b in blocks(text, "yaml") if b.startswith("# yaml-language-server") and
                     "\nintegration:" in b]
    (cwd / "dev" / "integrations.d" / "larkspur-sample.yaml").write_text(here(integration))
    commands = _commands(text)
    assert [c[:1] for c in commands] == [["validate"], ["check"], ["validate"], ["check"], ["once"], ["once"],
                                         ["once"]]
    # A 429 on the way is waited out (Retry-After) and retried, as step 5 says.
    larkspur.throttled = 1
    outputs = []
    for command in commands:
        result = syncd(*[here(arg) for arg in command], cwd=cwd, env=ENV)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert API_KEY not in result.stdout + result.stderr and SAMPLE_TOKEN not in result.stdout + result.stderr
        outputs.append(result.stdout)
        if command[:2] == ["once", "-c"] and "--dry-run" in command:
            # nothing written by the dry run, on either side
            assert {r.method for r in larkspur.requests} == {"GET"}
            assert all(r.method == "GET" for r in app.requests.all())
    assert larkspur.throttled_seen == 1
    check = outputs[1]
    assert "read 3 record(s) in 1 page(s)" in check and "company=Larkspur Labs" in check
    assert "tags=[customer]" in check and "ok: 1 side(s) authenticated and read" in check
    # the dry run prints what the tutorial shows (but the time taken)
    shown = text.split("syncd once -c dev --dry-run\n```\n```text\n", 1)[1].split("```", 1)[0]
    assert len(shown.splitlines()) == 6
    for line in shown.splitlines():
        if line.strip() != "…":
            assert re.sub(r" \([0-9.]+ s\)$", "", line) in outputs[4], line
    assert "created 3 left, 3 right" in outputs[5]
    assert "created 0 left, 0 right; updated 0 left, 0 right" in outputs[6]
    # every contact on both sides, fields carried across
    lark_emails = sorted(c["email"] for c in larkspur.records.values())
    assert lark_emails == sorted(c["email"].lower() for c in app.store.all())
    assert len(lark_emails) == 6
    ada = app.store.find_by_email("contact1@larkspur.example")
    assert ada is not None and ada["first_name"] == "Contact1" and ada["tags"] == ["customer"]
    first = app.store.all()[0]
    copied = larkspur.by_email(first["email"].lower())
    assert copied["first_name"] == first["first_name"] and copied["labels"] == sorted(first["tags"])

    # "Edit a contact in either app and run it again: the edit goes across."
    larkspur.edit(larkspur.by_email("contact2@larkspur.example")["id"], last_name="Larkin")
    app.store.update(first["id"], first_name="Renamed")
    result = syncd("once", "-c", "dev", cwd=cwd, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "updated 1 left, 1 right" in result.stdout
    moved = app.store.find_by_email("contact2@larkspur.example")
    assert moved is not None and moved["last_name"] == "Larkin"
    assert larkspur.by_email(first["email"].lower())["first_name"] == "Renamed"


def test_a_wrong_key_fails_as_the_tutorial_shows(tmp_path: Path, fake_api: Callable[..., Any]) -> None:
    larkspur: FakeLarkspur = fake_api(FakeLarkspur, api_key=API_KEY, contacts=1)
    cwd = _dev(tmp_path, whole_spec())
    [command] = [c for c in _commands(tutorial_part()) if c[:2] == ["check", "dev/connectors.d/larkspur.yaml"]]
    command = [arg.replace(LARKSPUR_URL, larkspur.base_url) for arg in command]
    result = syncd(*command, cwd=cwd, env={**ENV, "LARKSPUR_API_KEY": "lk_test_wrong_key"})
    assert result.returncode == 1
    failed = result.stdout.splitlines()[1].replace(larkspur.base_url, LARKSPUR_URL)
    assert failed.startswith("  FAILED: larkspur.contacts.list: GET ")
    assert f"```text\nlarkspur.contacts\n{failed}\n```" in tutorial_part()
    assert "lk_test_wrong_key" not in result.stdout + result.stderr


def test_the_larkspur_stand_in_runs_by_hand_as_the_tutorial_says() -> None:
    """The first bash block's stand-in: ``python tests/tutorial/fake_larkspur.py``
    (here on a free port) serves the contacts with the tutorial's key."""
    [start] = [line for line in blocks(tutorial_part(), "bash")[0].splitlines() if "fake_larkspur" in line]
    args = shlex.split(start.rstrip(" &"))[1:]
    args[args.index("--port") + 1] = "0"
    process = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        base_url = banner.split(" on ", 1)[1].split()[0]
        answer = httpx.get(base_url + "/contacts", headers={"X-Api-Key": API_KEY}, timeout=30)
        assert answer.status_code == 200 and len(answer.json()["data"]) == 3
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def test_the_inline_snippets_are_valid_spec_parts(tmp_path: Path) -> None:
    """The tables' `auth` and `pagination` values, the per-account
    `base_url` and the `read`/`write` field: each put in a spec that loads."""
    text = tutorial_part()
    inline = re.findall(r"`((?:\{type|\{read|base_url: \")[^`]*)`", text)
    auths = [s for s in inline if s.startswith("{type") and re.search(r"type: (api_key|bearer|basic)\b", s)]
    paginations = [s for s in inline if s.startswith("{type") and s not in auths]
    [field] = [s for s in inline if s.startswith("{read")]
    [base_url] = [s for s in inline if s.startswith("base_url")]
    assert len(auths) == 5 and len(paginations) == 8
    settings = {name: {"description": name, "secret": True} for name in ("api_key", "token")}
    settings.update(account={"description": "account"}, workspace={"description": "workspace"},
                    base_url={"description": "base", "required": False})
    for i, (auth, pagination) in enumerate(zip([*auths, *auths[:3]], paginations, strict=True)):
        method = {"method": "POST"} if "body_field" in pagination else {}
        spec = {"connector": f"inline{i}", "title": "Inline", "settings": settings,
                **yaml.safe_load(base_url), "auth": yaml.safe_load(auth),
                "objects": {"contacts": {"id": "id", "fields": {"phone": yaml.safe_load(field)},
                                         "list": {"path": "/contacts", **method,
                                                  "pagination": yaml.safe_load(pagination)}}}}
        path = tmp_path / f"inline{i}.yaml"
        path.write_text(yaml.safe_dump(spec))
        loaded = load_connector_file(path)
        assert loaded.base_url.render_text({"settings": {"workspace": "acme", "base_url": None}}) \
            == "https://acme.example.com/api"
