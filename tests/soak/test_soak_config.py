"""Soak: broken config files saved, one case at a time, into the directory of
a running ``syncd run`` that keeps a good integration syncing (issue 15).

The daemon joins two sample apps (``pair``, every second). Its config
directory also holds a disabled integration and two connector specs (the
``acme_*`` base of the broken-config corpus), a copy of the shipped
``sampleapp`` spec that ``pair`` uses, and ``syncd.yaml``. Each case saves
one or a few files (new integrations and specs, edits of existing ones, the
daemon settings; YAML mistakes, unknown keys, wrong types, bad JMESPath,
secrets that do not resolve, mappings the specs do not allow, duplicate
names, an empty file, binary garbage, a directory, a symlink loop, a huge
file, text that is not UTF-8). For each, the daemon's next reload must
fail with exactly the expected ``FILE:LINE:COL: error: … (key)`` lines, in
its log (``reload failed``) and on the control API (``syncd status``),
while ``pair`` goes on with the last good config: a change made on the left
during the broken state arrives on the right. Putting the files back (or
fixing them) is applied.

The cases of ``tests/config/broken/NN-*/`` are read from there as data
(each fixture's files that differ from the base, and its expected.txt with
the fixture's directory read as the daemon's); the other categories are
written here, their expected line found in the text the test writes.

Reloads are debounced (docs/daemon.md): the test waits for the daemon's
``reload failed`` / ``reload applied`` events, never a fixed time. One
reload per case: the next case's files replace the previous case's in one
save, and the good tree comes back every few cases (every case under
``--soak``, where each case is also saved three times, between good edits).
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncd.sampleapp import AuthMode, SampleApp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from daemon_support import Daemon  # noqa: E402  (the e2e tests' helpers, one folder over)
from e2e_support import LEFT_TOKEN, REPO, RIGHT_TOKEN, Pair  # noqa: E402

CORPUS = REPO / "tests" / "config" / "broken"
FAILED = "reload failed: the previous config keeps running"
APPLIED = "reload applied"


# --- what a case writes ---------------------------------------------------------

class Kind:
    """Something other than file contents to put at a path."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


DIRECTORY = Kind("a directory")
LOOP = Kind("a symlink to itself")
Content = bytes | Kind | None  # None: no file there


@dataclass(frozen=True)
class Case:
    name: str
    files: Mapping[str, Content]  # relative path -> what it holds in this case
    expected: tuple[str, ...]  # the reload's errors, with {dir} for the config directory
    good: bool = False  # a good tree: the reload applies it


@dataclass
class Tree:
    """The config directory, written the way editors and deploys save files."""

    root: Path
    base: dict[str, Content] = field(default_factory=dict)  # the good tree
    now: dict[str, Content] = field(default_factory=dict)

    def put(self, relative: str, content: Content) -> None:
        path = self.root / relative
        # A file is saved by rename over the old one (one change, as editors
        # do); anything else there is removed first.
        if path.is_symlink() or (path.exists() and not (path.is_file() and isinstance(content, bytes))):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
        if isinstance(content, bytes):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")  # a name the daemon ignores
            tmp.write_bytes(content)
            os.replace(tmp, path)
        elif content is DIRECTORY:
            path.mkdir()
        elif content is LOOP:
            os.symlink(path.name, path)
        self.now[relative] = content

    def show(self, case: Case) -> None:
        """Every path as *case* has it, the others as in the good tree."""
        wanted = {**self.base, **case.files}
        for relative in sorted(set(wanted) | set(self.now)):
            content = wanted.get(relative)
            if self.now.get(relative) != content:
                self.put(relative, content)


# --- the cases ------------------------------------------------------------------

def _fixture_files(case_dir: Path) -> dict[str, bytes]:
    return {p.relative_to(case_dir).as_posix(): p.read_bytes()
            for p in sorted(case_dir.rglob("*")) if p.is_file() and p.name != "expected.txt"}


def corpus_base() -> dict[str, bytes]:
    """The corpus's good files: each path's most common contents."""
    seen: dict[str, Counter[bytes]] = {}
    for case_dir in sorted(CORPUS.iterdir()):
        if case_dir.is_dir():
            for relative, data in _fixture_files(case_dir).items():
                seen.setdefault(relative, Counter())[data] += 1
    return {relative: counts.most_common(1)[0][0] for relative, counts in seen.items()
            if relative.startswith(("connectors.d/", "integrations.d/")) and counts.most_common(1)[0][1] > 10}


def corpus_cases(base: Mapping[str, bytes]) -> list[Case]:
    """Each fixture as a case: its files that differ from *base*, the base's
    files it lacks removed."""
    cases = []
    for case_dir in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        files: dict[str, Content] = {}
        fixture = _fixture_files(case_dir)
        for relative, data in fixture.items():
            if base.get(relative) != data:
                files[relative] = data
        for relative in base:
            if relative not in fixture:
                files[relative] = None
        prefix = CORPUS.relative_to(REPO).joinpath(case_dir.name).as_posix()
        expected = (case_dir / "expected.txt").read_text(encoding="utf-8").replace(prefix, "{dir}")
        cases.append(Case(f"corpus {case_dir.name}", files, tuple(expected.splitlines())))
    return cases


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the only occurrence of *needle* in *text*."""
    assert text.count(needle) == 1, (needle, text)
    return text[:text.index(needle)].count("\n") + 1


def column_of(text: str, needle: str) -> int:
    start = text.index(needle)
    return start - text.rfind("\n", 0, start)


def _replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, (old, text)
    return text.replace(old, new)


def new_cases(pair_text: str, spec_text: str, syncd_text: str) -> list[Case]:
    """The categories the corpus does not have, mostly edits of the files
    the good integration runs on: ``integrations.d/pair.yaml`` and
    ``connectors.d/sampleapp.yaml``; and ``syncd.yaml``."""
    P, S, D = "integrations.d/pair.yaml", "connectors.d/sampleapp.yaml", "syncd.yaml"
    texts = {P: pair_text, S: spec_text, D: syncd_text}
    cases: list[Case] = []

    def edit(name: str, where: str, old: str, new: str, *errors: tuple[str, str]) -> None:
        """*where* with *old* replaced by *new*; each error is (the text it
        points at, its message): the line and column are found in the text."""
        changed = _replaced(texts[where], old, new)
        cases.append(Case(name, {where: changed.encode()}, tuple(at(where, changed, *e) for e in errors)))

    def at(where: str, text: str, needle: str, message: str, col: int | None = None) -> str:
        column = column_of(text, needle) if col is None else col
        return f"{{dir}}/{where}:{line_of(text, needle)}:{column}: error: {message}"

    left = "left:\n  connector: sampleapp\n  object: contacts\n"
    items = "{left: email, right: email}"
    listing = "    list:\n      path: /cursor/contacts\n      params: {limit: 100}\n      records: results"
    flow = "(parsing a flow mapping that starts at line 14)"
    # YAML syntax, in the running integration's own file
    edit("pair: tab", P, left, left.replace("  object", "\tobject"),
         ("\tobject", "tab character: YAML indentation must use spaces"))
    edit("pair: bad indentation", P, left, left.replace("  object", "   object"),
         ("   object: contacts\n  settings", "invalid YAML: mapping values are not allowed in this context", 10))
    edit("pair: unclosed quote", P, "match: {left: email,", 'match: {left: "email,',
         ('"email', "invalid YAML: found unexpected end of stream: the quoted scalar that starts here is never closed"))
    edit("pair: unclosed bracket", P, f"  - {items}\n", f"  - {items[:-1]}\n",
         (f"{items[:-1]}\n", f"invalid YAML: did not find expected ',' or '}}' at the end of this line {flow}", 31))
    edit("pair: duplicate key", P, "create: both\n", "create: both\ncreate: left_to_right\n",
         ("create: left_to_right", "duplicate key 'create' (first at line 11); the earlier value is ignored (create)"))
    # unknown keys: in a mapping, a rule, auth, pagination
    edit("pair: unknown key in a mapping", P, "{left: first_name, right: first_name}",
         "{left: first_name, right: first_name, dirction: both}",
         ("dirction", "unknown key 'dirction'; did you mean 'direction'? (fields[1].dirction)"))
    edit("pair: unknown key in a rule", P, "schedule:", "rules:\n  - {if: '!email', then: skip, els: skip}\nschedule:",
         ("els", "unknown key 'els' (allowed: from, if, then) (rules[0].els)"))
    edit("spec: unknown key in auth", S, "auth: {type: bearer, token:", "auth: {type: bearer, tokn:",
         ("tokn", "unknown key 'tokn'; did you mean 'token'? (auth.tokn)"))
    edit("spec: unknown key in pagination", S, f"{listing}\n      pagination: {{type: cursor,",
         f"{listing}\n      pagination: {{type: cursor, size: 10,",
         ("size", "unknown key 'size' (allowed: body_field, cursor, max_pages, max_results, param, restart, type) "
                  "(objects.contacts.list.pagination.size)"))
    # wrong types
    edit("pair: wrong type", P, "create: both", "create: [both]",
         ("create: [both]", "expected a string for create, not a list (create)"),
         ("create: [both]", "invalid create '[\"both\"]': expected 'both', 'left_to_right', 'right_to_left' or "
                            "'none' (create)"))
    edit("spec: wrong type", S, "requests_per_second: 50", "requests_per_second: fifty",
         ("fifty", "expected a number for requests_per_second, not a string (rate_limit.requests_per_second)"))
    # bad JMESPath
    edit("pair: bad JMESPath", P, "schedule:", "rules:\n  - {if: 'email ==', then: skip}\nschedule:",
         ("'email ==", "invalid JMESPath 'email ==': the expression is incomplete (rules[0].if)"))
    edit("spec: bad JMESPath", S, listing, listing + "[?",
         ("results[?", "invalid JMESPath 'results[?': the expression is incomplete (objects.contacts.list.records)"))
    # secrets that do not resolve
    edit("pair: env unset", P, "${env:LEFT_TOKEN}", "${env:SYNCD_SOAK_UNSET}",
         ("'${env:SYNCD_SOAK_UNSET}'", "setting 'token': ${env:SYNCD_SOAK_UNSET}: environment variable "
                                       "SYNCD_SOAK_UNSET is not set (left.settings.token)"))
    edit("pair: file missing", P, "${env:RIGHT_TOKEN}", "${file:secrets/right_token}",
         ("'${file:", "setting 'token': ${file:secrets/right_token}: no such file {dir}/secrets/right_token "
                      "(right.settings.token)"))
    # the connector; mappings the spec does not allow
    edit("pair: unknown connector", P, left, left.replace("sampleapp", "sampleap"),
         ("sampleap\n", "unknown connector 'sampleap'; did you mean 'sampleapp'? (left.connector)"))
    edit("pair: field not in the spec", P, "{left: last_name, right: last_name}", "{left: last_name, right: lastname}",
         ("lastname}", "sampleapp.contacts has no field 'lastname'; did you mean 'last_name'? (fields[2].right)"))
    edit("pair: type mismatch", P, "{left: last_name, right: last_name}", "{left: tags, right: score}",
         ("score}", "field 'tags' of sampleapp.contacts (type: tags) holds a list, which does not fit field 'score' "
                    "of sampleapp.contacts (type: integer): add transform: first to take the list's first item "
                    "(fields[2].right)"))
    # a spec edit that makes the running integration's mapping wrong: the
    # error is in the integration's file, not in the file saved
    read_only = _replaced(spec_text, "phone:      {path: phone,", "phone:      {read: phone,")
    cases.append(Case("spec: a mapped field made read-only", {S: read_only.encode()}, (
        at(P, pair_text, "phone, direction", "field 'phone' of sampleapp.contacts is read-only (it has no write "
                                             "path), but direction: left_to_right writes it (fields[3].right)"),)))
    # the same name in two files: the file saved is the one in error
    for file in ("another.yaml", "zz.yaml"):
        cases.append(Case(f"duplicate integration in {file}", {f"integrations.d/{file}": pair_text.encode()}, (
            f"{{dir}}/integrations.d/{file}:1:14: error: integration 'pair' is already defined in {{dir}}/{P} "
            "(integration)",)))
    cases.append(Case("duplicate connector", {"connectors.d/another.yaml": spec_text.encode()}, (
        at("connectors.d/another.yaml", spec_text, "sampleapp\ntitle",
           f"connector 'sampleapp' is already defined in {{dir}}/{S} (connector)"),)))
    # emptied
    for where, kind in ((P, "an integration"), (S, "a connector spec")):
        cases.append(Case(f"{where} emptied", {where: b""},
                          (f"{{dir}}/{where}:1:1: error: the file is empty: expected {kind}",)))
    # the daemon settings
    edit("syncd.yaml: unknown key", D, "log: {level: info}", "log: {level: info, formt: json}",
         ("formt", "unknown key 'formt'; did you mean 'format'? (log.formt)"))
    edit("syncd.yaml: wrong type", D, "log: {level: info}", "log: {level: info}\nbudgets: {bulk_below_percent: lots}",
         ("lots", "expected a number for bulk_below_percent, not a string (budgets.bulk_below_percent)"))
    edit("syncd.yaml: env unset", D, "log: {level: info}", "log: {level: '${env:SYNCD_SOAK_UNSET}'}",
         ("'${env", "${env:SYNCD_SOAK_UNSET}: environment variable SYNCD_SOAK_UNSET is not set (log.level)"))
    return cases


def odd_file_cases(pair_text: str) -> list[Case]:
    """Files that are not YAML text at all, or not files."""
    rng = random.Random(15)
    garbage = b"\xff" + bytes(rng.randrange(256) for _ in range(4095))
    latin1 = _replaced(pair_text, "schedule:", "description: Caf\xe9 sync\nschedule:")
    at = f"{line_of(latin1, 'Caf')}:{column_of(latin1, 'Caf') + 3}"
    huge = "integration: huge\nfields:\n" + "  - {left: email, right: email}\n" * 70_000  # 2.1 MiB
    size = len(huge.encode()) / 1024 / 1024
    unreadable = "cannot read the file: it is"
    return [
        Case("binary garbage, a new file", {"integrations.d/garbage.yaml": garbage},
             ("{dir}/integrations.d/garbage.yaml:1:1: error: the file is not UTF-8 text (byte 0xff)",)),
        Case("binary garbage over the running spec", {"connectors.d/sampleapp.yaml": garbage},
             ("{dir}/connectors.d/sampleapp.yaml:1:1: error: the file is not UTF-8 text (byte 0xff)",)),
        Case("not UTF-8: the running integration in Latin-1", {"integrations.d/pair.yaml": latin1.encode("latin-1")},
             (f"{{dir}}/integrations.d/pair.yaml:{at}: error: the file is not UTF-8 text (byte 0xe9)",)),
        Case("not UTF-8: syncd.yaml in UTF-16", {"syncd.yaml": "log: {level: info}\n".encode("utf-16")},
             ("{dir}/syncd.yaml:1:1: error: the file is not UTF-8 text (byte 0xff)",)),
        Case("a directory for an integration", {"integrations.d/folder.yaml": DIRECTORY},
             (f"{{dir}}/integrations.d/folder.yaml:1:1: error: {unreadable} a directory",)),
        Case("a directory for a spec", {"connectors.d/folder.yaml": DIRECTORY},
             (f"{{dir}}/connectors.d/folder.yaml:1:1: error: {unreadable} a directory",)),
        Case("a directory for syncd.yaml", {"syncd.yaml": DIRECTORY},
             (f"{{dir}}/syncd.yaml:1:1: error: {unreadable} a directory",)),
        Case("a symlink loop for an integration", {"integrations.d/loop.yaml": LOOP},
             (f"{{dir}}/integrations.d/loop.yaml:1:1: error: {unreadable} a symbolic link that loops "
              "(too many levels of links)",)),
        Case("a symlink loop for syncd.yaml", {"syncd.yaml": LOOP},
             (f"{{dir}}/syncd.yaml:1:1: error: {unreadable} a symbolic link that loops (too many levels of links)",)),
        Case("a huge file", {"integrations.d/huge.yaml": huge.encode()},
             (f"{{dir}}/integrations.d/huge.yaml:1:1: error: the file is too large ({size:.1f} MiB): "
              "a config file holds at most 1 MiB",)),
    ]


# --- the daemon -----------------------------------------------------------------

@pytest.fixture
def running(sample_app: Callable[..., SampleApp], tmp_path: Path) -> Iterator[tuple[Pair, Daemon, Tree]]:
    left = sample_app(n=20, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1)
    right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
    # A short quiet time: each case is one save, and the next waits for its reload.
    pair = Pair(left, right, tmp_path / "config",
                daemon_settings="log: {level: info}\nreload: {quiet_seconds: 0.05, max_seconds: 1}\n")
    pair.write(extra="schedule: every 1 second\n")
    tree = Tree(pair.config)
    for relative, data in corpus_base().items():
        if relative == "integrations.d/a.yaml":
            # Disabled: its apps do not exist. The line added is its last,
            # so no expected line moves; a case with its own a.yaml replaces it.
            data += b"enabled: false\n"
        tree.base[relative] = data
    tree.base["connectors.d/sampleapp.yaml"] = (REPO / "connectors.d" / "sampleapp.yaml").read_bytes()
    for relative in ("syncd.yaml", "integrations.d/pair.yaml"):
        tree.base[relative] = (pair.config / relative).read_bytes()
    tree.show(Case("the good tree", {}, (), good=True))
    # The corpus's environment: no ACME_* or SYNCD_TEST_* variable, no systemd credentials.
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith(("ACME_", "SYNCD_TEST_"))}
    d = Daemon(pair, env={**unset, "CREDENTIALS_DIRECTORY": None})
    try:
        d.ready()
        d.wait_for("cycle finished", integration="pair")
        yield pair, d, tree
    finally:
        d.close()
        log = d.text()
        for secret in (LEFT_TOKEN, RIGHT_TOKEN):
            assert secret not in log


def _reloads(d: Daemon) -> list[dict[str, Any]]:
    return [e for e in d.events() if e.get("event") in (FAILED, APPLIED)]


class Driver:
    """Shows a case (or the good tree) and checks what the daemon made of it."""

    def __init__(self, pair: Pair, d: Daemon, tree: Tree, api: httpx.Client) -> None:
        self.pair, self.d, self.tree = pair, d, tree
        self.api = api  # the control API, which `syncd status` asks
        self.pending: list[str] = []  # first names set on the left, not yet seen on the right
        self.changes = 0

    def status(self) -> dict[str, Any]:
        response = self.api.get("/v1/status")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def show(self, case: Case) -> dict[str, Any]:
        """Save *case*'s files (putting back the last case's) and wait for the
        reload that says exactly its errors, or for the good tree's to apply."""
        before = len(_reloads(self.d))
        self.tree.show(case)
        want = None if case.good else [e.replace("{dir}", str(self.pair.config)) for e in case.expected]
        deadline = time.monotonic() + 30
        while True:
            done = _reloads(self.d)[before:]
            # A save split over two reloads (a busy machine) ends in the right one.
            if done and (done[-1]["event"] == APPLIED if want is None else done[-1].get("errors") == want):
                return done[-1]
            if self.d.proc.poll() is not None or time.monotonic() > deadline:
                got = done[-1] if done else "no reload"
                raise AssertionError(f"{case.name}: expected {want or 'a good reload'}, got {got}\n{self.d.text()}")
            time.sleep(0.01)

    def change_left(self) -> None:
        """A change on the left that the running integration must carry over."""
        self.changes += 1
        contacts = self.pair.left.store.all()
        contact = contacts[self.changes % len(contacts)]
        name = f"Soak{self.changes}"
        self.pair.left.store.update(contact["id"], first_name=name)
        self.pending.append(name)

    def synced(self) -> None:
        """Every change made so far arrives on the right, in the state shown now."""
        def arrived() -> bool:
            seen = {c.get("first_name") for c in self.pair.right.store.all()}
            return all(name in seen for name in self.pending)
        self.d.wait_until(arrived, timeout=20, what=f"changes {self.pending} on the right")
        self.pending.clear()
        [entry] = [i for i in self.status()["integrations"] if i["name"] == "pair"]
        assert entry["state"] in ("waiting", "running") and entry["last_result"] == "ok", entry


def good_edit(pair_text: str, n: int) -> Case:
    """The good tree, but the running integration changed (its description):
    a reload that must apply, and restart it."""
    changed = _replaced(pair_text, "schedule:", f"description: good edit {n}\nschedule:")
    return Case(f"good edit {n}", {"integrations.d/pair.yaml": changed.encode()}, (), good=True)


def test_soak_config_broken_files_never_stop_a_running_daemon(running, soak) -> None:
    pair, d, tree = running
    pair_text = tree.base["integrations.d/pair.yaml"].decode()
    spec_text = tree.base["connectors.d/sampleapp.yaml"].decode()
    syncd_text = tree.base["syncd.yaml"].decode()
    corpus = corpus_cases(corpus_base())
    # By default every category, and a fifth of the corpus (cases 01, 06,
    # 11, …); under --soak all of it, each case saved three times.
    cases = [*corpus[::soak.size(small=5, full=1)], *new_cases(pair_text, spec_text, syncd_text),
             *odd_file_cases(pair_text)]
    assert len(cases) >= 50 and len(corpus) >= 70
    rounds = soak.size(small=1, full=3)
    check_every = soak.size(small=10, full=1)
    assert d.socket is not None
    # One client for every request: a client per request (as the command
    # line makes, once) costs more than the request itself here.
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(d.socket)), base_url="http://syncd", timeout=20) as api:
        edits = run_cases(Driver(pair, d, tree, api), cases, pair_text, rounds=rounds, check_every=check_every)
    assert len(d.named("reload applied")) == edits
    assert len(d.named(FAILED)) >= len(cases) * rounds
    assert not d.named("cycle failed")
    assert d.proc.poll() is None
    assert d.stop() == 0


def run_cases(drive: Driver, cases: list[Case], pair_text: str, *, rounds: int, check_every: int) -> int:
    """Each case in turn, *rounds* times; the good tree (edited) back every
    *check_every* cases, once what changed meanwhile has arrived. Returns the
    number of good edits."""
    edits = 0
    printed = ""
    for _ in range(rounds):
        for i, case in enumerate(cases):
            failed = drive.show(case)
            assert failed["event"] == FAILED and failed["errors"], case.name
            status = drive.status()  # the control API says it too; the last good config runs
            assert status["config"] == {"valid": False, "errors": failed["errors"]}, case.name
            assert status["last_reload"]["ok"] is False and "last reload FAILED" in status["summary"], case.name
            [entry] = [e for e in status["integrations"] if e["name"] == "pair"]
            assert entry["state"] in ("waiting", "running"), case.name
            # its own file's mistakes are shown with it; once, as `syncd status` prints them
            assert entry["config_errors"] == [e for e in failed["errors"] if e.startswith(entry["source"] + ":")]
            if entry["config_errors"] and not printed:
                printed = drive.d.cli("status").stdout
                assert all(f"  config: {e}" in printed for e in entry["config_errors"]), printed
            drive.change_left()
            if (i + 1) % check_every == 0 or i == len(cases) - 1:
                drive.synced()  # while broken: the last good config syncs
                edits += 1
                applied = drive.show(good_edit(pair_text, edits))  # fixed: applied at once
                assert applied["restarted"] == ["pair"] and applied["started"] == applied["stopped"] == [], case.name
                assert drive.status()["config"] == {"valid": True, "errors": []}
    drive.change_left()
    drive.synced()
    return edits
