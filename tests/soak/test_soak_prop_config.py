"""The config loader never crashes, and every rejection has a position.

Whatever is in the files, :func:`load_config` (what ``syncd validate`` and
the daemon's reload run) either loads the tree or raises
:class:`ConfigError`, never another exception; and each problem it lists
names a file of the tree, a line of that file (1 to one past its last) and
a column from 1, with a one-line message: the ``FILE:LINE:COL`` an editor
jumps to.  The inputs, each in a fresh directory:

- bytes, and text, as an integration file (beside a valid connector spec);
- YAML trees built around a valid integration, connector spec and syncd.yaml,
  with keys added, removed and retyped at random places;
- text mutations (a span cut, a span repeated, characters put in) of the
  files that ship: examples/config, connectors.d and the broken-config
  corpus of tests/config/broken.

The shipped specs are left out of the tree (``shipped=False``) and copied
into its connectors.d where a file needs one: an override by the same name
is what a user who edits a shipped spec writes, and reading all eleven on
every example would spend the time budget on files that do not change.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from soak.props_support import examples
from syncd.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO / "examples" / "config"
SAMPLEAPP = (REPO / "connectors.d" / "sampleapp.yaml").read_text(encoding="utf-8")
SHIPPED_SPECS = sorted((REPO / "connectors.d").glob("*.yaml"))
BROKEN = sorted((REPO / "tests" / "config" / "broken").glob("*/**/*.yaml"))

VALID_INTEGRATION: dict[str, Any] = {
    "integration": "pair",
    "schedule": "every 5 minutes",
    "left": {"connector": "sampleapp", "object": "contacts",
             "settings": {"url": "http://127.0.0.1:8765", "token": "${env:LEFT_TOKEN:-t}"}},
    "right": {"connector": "sampleapp", "object": "contacts",
              "settings": {"url": "http://127.0.0.1:8766", "token": "${env:RIGHT_TOKEN:-t}"}},
    "match": {"left": "email", "right": "email"},
    "create": "left_to_right",
    "conflict": "newest_wins",
    "fields": [
        {"left": "email", "right": "email"},
        {"left": ["first_name", "last_name"], "right": "first_name", "transform": "join_name"},
        {"left": "plan", "right": "plan", "direction": "left_to_right",
         "values": {"enterprise": "pro", "starter": "basic"}},
        {"left": "tags", "right": "tags"},
    ],
    "rules": [{"if": "contains(tags, 'vip')", "then": [{"add_tag": "vip"}]}],
}
VALID_SPEC: Any = yaml.safe_load(SAMPLEAPP)
VALID_DAEMON: dict[str, Any] = {
    "state": {"path": "state/syncd.db"},
    "control": {"socket": "run/control.sock"},
    "metrics": {"listen": "127.0.0.1:9464", "enabled": True},
    "webhooks": {"listen": "127.0.0.1:8080", "enabled": False, "max_body_bytes": 1048576},
    "budgets": {"bulk_below_percent": 50, "scheduled_below_percent": 90},
    "log": {"level": "info", "format": "auto"},
}


def load_tree(files: Mapping[str, bytes | str]) -> list[str]:
    """Write *files* (path in the config directory → content) into a fresh
    directory and load it: the problems' lines (empty when it loads).
    Fails the test on any other exception and on a problem without a
    position in one of the files."""
    with tempfile.TemporaryDirectory(prefix="props-config-") as tmp:
        root = Path(tmp)
        texts: dict[str, str] = {}
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                path.write_text(content, encoding="utf-8")
                texts[str(path)] = content
            else:
                path.write_bytes(content)
                texts[str(path)] = content.decode("utf-8", "replace")
        try:
            load_config(root, environ={}, shipped=False)
        except ConfigError as e:
            assert e.problems, "a ConfigError without a problem"
            for problem in e.problems:
                assert problem.file in texts, f"{problem} names no file of the tree"
                lines = texts[problem.file].splitlines() or [""]
                assert 1 <= problem.line <= len(lines) + 1, f"{problem}: line out of the file"
                assert problem.col >= 1, f"{problem}: column out of the line"
                assert problem.message.strip(), problem
                assert len(str(problem).splitlines()) == 1, f"{problem!s} is not one line"
                assert str(problem).startswith(f"{problem.file}:{problem.line}:{problem.col}: error: ")
            return [str(p) for p in e.problems]
    return []


def _with_spec(integration: bytes | str) -> dict[str, bytes | str]:
    return {"connectors.d/sampleapp.yaml": SAMPLEAPP, "integrations.d/pair.yaml": integration}


def test_the_valid_trees_load() -> None:
    # The property's starting points are valid: what fails below is the change.
    assert load_tree(_with_spec(yaml.safe_dump(VALID_INTEGRATION))) == []
    assert load_tree({"connectors.d/sampleapp.yaml": yaml.safe_dump(VALID_SPEC),
                      "integrations.d/pair.yaml": yaml.safe_dump(VALID_INTEGRATION)}) == []
    assert load_tree({"syncd.yaml": yaml.safe_dump(VALID_DAEMON), **_with_spec(yaml.safe_dump(VALID_INTEGRATION))}) == []


@examples(25)
@given(content=st.binary(max_size=300))
@example(content=b"\xff\xfeintegration: x\n")
@example(content=b"integration: x\x00\n")
@example(content=b"\xef\xbb\xbfintegration: pair\n")
def test_any_bytes_as_an_integration(content: bytes) -> None:
    load_tree(_with_spec(content))


yaml_chars = st.sampled_from(list(":-[]{},#&*!|>'\"%@`?\t \n\r\\$.~=") + ["${", "}}", "{{", "<<", "---", "..."])
yaml_text = st.lists(st.one_of(yaml_chars, st.text(max_size=4)), max_size=60).map("".join)


@examples(25)
@given(content=yaml_text)
@example(content="integration: pair\nleft: *nothere\n")
@example(content="a: &a [*a]\n")
@example(content="integration: pair\n\tleft: {}\n")
@example(content="- a\n---\n- b\n")
@example(content="integration: !!python/object:os.system x\n")
# Found by the block-list nesting below: 500 levels overflowed Python's
# stack in the loader (RecursionError) before it nested 100 levels at most.
@example(content="[" * 1000 + "]" * 1000)
@example(content="".join(" " * i + "- \n" for i in range(600)))
@example(content="a:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(600)))
def test_any_text_as_an_integration(content: str) -> None:
    load_tree(_with_spec(content))


# Random YAML values, and random edits of a valid document.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.sampled_from(["sampleapp", "contacts", "email", "both", "join_name",
                                          "every 5 minutes", "${env:NOPE}", "{{ settings.url }}",
                                          "${file:nope}", "left_to_right", "bearer", "cursor",
                                          "[", "a[?b", "contains(tags,", "{{", "0x1F", "1e999"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=8)


def _paths(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, (*path, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, (*path, i))
    return out


@st.composite
def edited(draw: st.DrawFn, document: Any) -> Any:
    """*document* with one to four edits: a value replaced, a key removed or
    added, a list item dropped."""
    tree = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(tree)))
        if not path:
            if draw(st.booleans()):
                return draw(values)
            continue
        parent = tree
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[key] = draw(values)
        elif action == "remove":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(values)
        else:
            parent.insert(key, draw(values))
    return tree


_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's: 10 times faster


def _dump(tree: Any, flow: bool) -> str:
    return yaml.dump(tree, Dumper=_Dumper, default_flow_style=flow, allow_unicode=True, sort_keys=False)


VALID_INTEGRATION_TEXT = _dump(VALID_INTEGRATION, False)


@examples(30)
@given(tree=edited(VALID_INTEGRATION), flow=st.booleans())
# Found by this property: a key "\n" (valid YAML) was quoted as it is, and
# its problem took two lines of `syncd validate`'s output.
@example(tree={**VALID_INTEGRATION, "\n": None}, flow=False)
@example(tree={**VALID_INTEGRATION, "schedule": "every\u2028minute\x85"}, flow=True)
def test_an_edited_integration(tree: Any, flow: bool) -> None:
    load_tree(_with_spec(_dump(tree, flow)))


@examples(15)
@given(tree=edited(VALID_SPEC), flow=st.booleans())
def test_an_edited_connector_spec(tree: Any, flow: bool) -> None:
    load_tree({"connectors.d/sampleapp.yaml": _dump(tree, flow),
               "integrations.d/pair.yaml": VALID_INTEGRATION_TEXT})




@examples(20)
@given(tree=edited(VALID_DAEMON), flow=st.booleans())
@example(tree={**VALID_DAEMON, "state": {"url": "${env:NOPE}", "path": "x"}}, flow=False)
@example(tree={**VALID_DAEMON, "cluster": {"lease_seconds": 1e308}}, flow=True)
def test_edited_daemon_settings(tree: Any, flow: bool) -> None:
    load_tree({"syncd.yaml": _dump(tree, flow), **_with_spec(VALID_INTEGRATION_TEXT)})


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """*text* with one to three edits at random places: a span cut or
    repeated, or characters put in."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        end = draw(st.integers(at, min(len(text), at + 40)))
        kind = draw(st.sampled_from(["cut", "repeat", "insert"]))
        if kind == "cut":
            text = text[:at] + text[end:]
        elif kind == "repeat":
            text = text[:end] + text[at:end] + text[end:]
        else:
            text = text[:at] + draw(st.one_of(yaml_chars, st.text(max_size=3))) + text[at:]
    return text


def _example_tree() -> dict[str, str]:
    return {str(p.relative_to(EXAMPLE_DIR)): p.read_text(encoding="utf-8")
            for p in EXAMPLE_DIR.rglob("*") if p.is_file()} | {"connectors.d/sampleapp.yaml": SAMPLEAPP}


EXAMPLE_TREE = _example_tree()


@examples(25)
@given(data=st.data(), name=st.sampled_from(sorted(EXAMPLE_TREE)))
def test_a_mutated_example_tree(data: st.DataObject, name: str) -> None:
    tree = dict(EXAMPLE_TREE)
    tree[name] = data.draw(mutated(tree[name]))
    load_tree(tree)


@examples(15)
@given(data=st.data(), spec=st.sampled_from(SHIPPED_SPECS))
def test_a_mutated_shipped_connector_spec(data: st.DataObject, spec: Path) -> None:
    text = data.draw(mutated(spec.read_text(encoding="utf-8")))
    load_tree({f"connectors.d/{spec.name}": text})


@examples(25)
@given(data=st.data(), broken=st.sampled_from(BROKEN))
def test_a_mutated_broken_config(data: st.DataObject, broken: Path) -> None:
    case = next(p for p in broken.parents if p.parent.name == "broken")
    tree = {str(p.relative_to(case)): p.read_text(encoding="utf-8")
            for p in case.rglob("*") if p.is_file() and p.name != "expected.txt"}
    name = str(broken.relative_to(case))
    tree[name] = data.draw(mutated(tree[name]))
    load_tree(tree)


def test_a_secret_file_that_is_no_secret_is_a_problem_at_its_reference(tmp_path: Path) -> None:
    # Failed before: a 2 MiB file was read whole as the token, and
    # ${file:/dev/zero} read until the memory ran out (MemoryError under a
    # ulimit; found by a mutation that pointed a secret at a device).
    big = tmp_path / "big.log"
    big.write_bytes(b"x" * (2 << 20))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it would wait for a writer
    for path, why in ((big, "is larger than 1 MiB"), (Path("/dev/zero"), "is not a regular file"),
                      (fifo, "is not a regular file")):
        tree = copy.deepcopy(VALID_INTEGRATION)
        tree["left"]["settings"]["token"] = f"${{file:{path}}}"
        problems = load_tree(_with_spec(_dump(tree, False)))
        assert len(problems) == 1 and why in problems[0], problems
        assert problems[0].split("integrations.d/pair.yaml:")[1].startswith("8:12: "), problems
        assert problems[0].endswith("(left.settings.token)")
