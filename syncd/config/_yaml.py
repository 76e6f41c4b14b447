"""YAML loading that remembers where every key and value is.

PyYAML's composer gives a node graph with marks; one walk turns it into
plain dicts, lists and scalars (the shapes JSON Schema knows) and fills a
side table from key path to ``(line, column)`` (1-based) of the key and of
the value.  Every later stage (schema validation, building, cross-file
checks) names a key path; :meth:`YamlDoc.problem` turns it into a position.

Choices, and why:

- Mapping keys are always strings, taken from the source text (``on:`` is
  the key ``"on"``, not ``True``): config keys are names, and JSON Schema
  only knows string keys.
- Timestamps stay strings: JSON has no dates, and a setting default such
  as ``2024-01-01`` means the text.
- Duplicate keys are errors (PyYAML silently keeps the last one, which
  hides typos), but not fatal ones: the later value is kept, as PyYAML,
  JSON parsers and jq do and as someone who appended an override expects,
  and the document stays checkable, so the file's other mistakes are
  reported in the same run.  Anchors, aliases and ``<<`` merges are fine,
  up to a bound: a document whose aliases would add more than 100,000
  nodes (an alias bomb) is refused before it is expanded, at the alias
  that crossed it (:mod:`syncd.config._yaml_aliases`).
- Tags other than the standard JSON-like ones are errors: nothing in a
  config file may construct Python objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from syncd.config._errors import KeyPath, Problem
from syncd.config._files import read_config_text
from syncd.config._yaml_aliases import MAX_ALIAS_NODES, expanded_size, first_alias_over

__all__ = ["Position", "YamlDoc", "load_yaml", "load_yaml_file"]

Position = tuple[int, int]

# The C loader is several times faster; fall back where libyaml is missing.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
# The walk stops here whatever the document (aliases are bounded before
# it starts, by _yaml_aliases.MAX_ALIAS_NODES).
_MAX_NODES = 1_000_000
# Deeper than any config (a spec's request body nests a dozen levels): the
# walk below, the schema validator and the builders recurse once per level,
# and Python's stack ends near 1,000 frames.
_MAX_DEPTH = 100


@dataclass(frozen=True, slots=True)
class YamlDoc:
    """One loaded document: plain data plus where each key path is."""

    file: str  # as shown in messages
    data: Any
    key_positions: Mapping[KeyPath, Position] = field(default_factory=dict)
    value_positions: Mapping[KeyPath, Position] = field(default_factory=dict)
    # False when a problem loading it makes the data something other than
    # what the file says (a syntax error, a tag, a key that is not a name):
    # later stages would report mistakes that are not there, so they must
    # not look at it.  A duplicate key leaves it checkable.
    checkable: bool = True
    walked: int = 0  # nodes the walk visited, each alias expanded: what loading it cost

    def get(self, path: KeyPath) -> Any:
        """The value at a key path, or None where the path does not exist."""
        node = self.data
        for step in path:
            if isinstance(step, int):
                if not isinstance(node, list) or not 0 <= step < len(node):
                    return None
            elif not isinstance(node, dict) or step not in node:
                return None
            node = node[step]
        return node

    def position(self, path: KeyPath, *, at_key: bool | None = None) -> Position:
        """Where to point for a key path.

        By default a scalar is pointed at by its value and a mapping or list
        by its key (the value of a block mapping starts on the next line,
        at its first child, which reads as the wrong line).  A path with no
        position of its own (a missing key) falls back to its nearest
        ancestor's key.
        """
        path = tuple(path)
        if at_key is None:
            # An empty value (`control:`) has its mark after the colon: point at the key.
            at_key = isinstance(self.get(path), (dict, list, type(None)))
        if at_key and path in self.key_positions:
            return self.key_positions[path]
        if path in self.value_positions:  # a list item has no key: its value
            return self.value_positions[path]
        while path:
            path = path[:-1]
            if path in self.key_positions:
                return self.key_positions[path]
        return self.value_positions.get((), (1, 1))

    def problem(self, path: KeyPath, message: str, *, at_key: bool | None = None) -> Problem:
        line, col = self.position(path, at_key=at_key)
        return Problem(self.file, line, col, message, tuple(path))


def read_yaml_text(path: Path, file: str) -> tuple[str | None, list[Problem]]:
    """One file's text, or the problem reading it (see :mod:`syncd.config._files`)."""
    return read_config_text(path, file)


def load_yaml_file(path: Path, file: str) -> tuple[YamlDoc, list[Problem]]:
    """Read and load one file; problems instead of exceptions."""
    text, problems = read_yaml_text(path, file)
    if text is None:
        return YamlDoc(file, None, checkable=False), problems
    return load_yaml(text, file)


def load_yaml(text: str, file: str) -> tuple[YamlDoc, list[Problem]]:
    """Load one YAML document; a syntax error is a problem at its position."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except RecursionError:  # PyYAML's own composer, where libyaml is missing
        return YamlDoc(file, None, checkable=False), [
            Problem(file, 1, 1, f"the document nests more than {_MAX_DEPTH} levels deep")]
    except yaml.MarkedYAMLError as e:
        return YamlDoc(file, None, checkable=False), [_syntax_problem(e, text, file)]
    except yaml.reader.ReaderError as e:  # a control character, say
        pos = max(0, min(e.position, len(text)))
        line, col = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        char = e.character if isinstance(e.character, int) else ord(str(e.character)[:1] or "\0")
        return YamlDoc(file, None, checkable=False), [
            Problem(file, line, col, f"invalid YAML: character #x{char:04x}: {e.reason}")]
    except yaml.YAMLError as e:
        return YamlDoc(file, None, checkable=False), [Problem(file, 1, 1, f"invalid YAML: {e}")]
    if root is not None and "*" in text and (bomb := _alias_bomb(root, text, file)) is not None:
        return YamlDoc(file, None, checkable=False), [bomb]
    walker = _Walker(file)
    data = walker.walk(root, ()) if root is not None else None
    doc = YamlDoc(file, data, walker.keys, walker.values, checkable=not walker.fatal, walked=walker.count)
    return doc, walker.problems


def _alias_bomb(root: Node, text: str, file: str) -> Problem | None:
    """The problem of a document whose aliases would add more than
    :data:`MAX_ALIAS_NODES` nodes to the walk, at the alias that crossed
    the bound; None for any other. Measured on the composed graph, each
    node once: a bomb is refused before it is expanded."""
    total, own, _ = expanded_size(root, cap=_MAX_NODES + 1, max_depth=_MAX_DEPTH)
    if total - own <= MAX_ALIAS_NODES:
        return None
    found = first_alias_over(text, _Loader, MAX_ALIAS_NODES)
    line, col, anchor, size = found if found is not None else (1, 1, "", total - own)
    return Problem(file, line, col,
                   f"the alias *{anchor} expands to {size:,} nodes, and with the aliases before it the document's "
                   f"aliases add more than {MAX_ALIAS_NODES:,} (an alias bomb?): repeat less through aliases")


def _syntax_problem(e: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    mark = e.problem_mark or e.context_mark
    line, col = (mark.line, mark.column) if mark is not None else (0, 0)
    problem = (e.problem or "syntax error").strip()
    lines = text.splitlines()
    cm = e.context_mark
    context = (e.context or "").strip().removeprefix("while ")
    opened = cm is not None and context and (cm.line, cm.column) != (line, col)
    if 0 <= line < len(lines) and col < len(lines[line]) and lines[line][col] == "\t":
        message = "tab character: YAML indentation must use spaces"
    elif isinstance(e, yaml.composer.ComposerError) and "another document" in problem:
        message = "a file holds one YAML document: remove the second '---'"
    elif opened and cm is not None and _nothing_after(lines, line, col):
        # The file ended inside a quote or bracket: the mistake is where it
        # was opened, not at the end of the file the parser reached.
        thing = context.split(" ", 1)[-1].removeprefix("a ")  # "scanning a quoted scalar" -> "quoted scalar"
        line, col = cm.line, cm.column
        message = f"invalid YAML: {problem}: the {thing} that starts here is never closed"
    elif (opened and cm is not None and "did not find expected ','" in problem and cm.line < line
          and not lines[line][:col].replace("-", "").strip()
          and (end := _previous_line(lines, line, cm.line))):
        # A flow mapping or list missing its ',' or closing bracket at the
        # end of a line: the parser notices only at the next line's first
        # token (after a list's '-'); the comma or bracket belongs where
        # the line before ends.
        line, col = end
        message = f"invalid YAML: {problem} at the end of this line ({context} that starts at line {cm.line + 1})"
    else:
        message = f"invalid YAML: {problem}"
        if opened and cm is not None:
            message += f" ({context} that starts at line {cm.line + 1})"
    return Problem(file, line + 1, col + 1, message)


def _nothing_after(lines: list[str], line: int, col: int) -> bool:
    """Only blanks from (*line*, *col*) to the end: the parser hit the end of the file."""
    rest = [lines[line][col:]] if line < len(lines) else []
    return not "".join(rest + lines[line + 1:]).strip()


def _previous_line(lines: list[str], line: int, first: int) -> tuple[int, int] | None:
    """(line, column) just past the end of the last line with text before
    *line*, at *first* or after; comment-only lines are passed over."""
    for i in range(line - 1, first - 1, -1):
        stripped = lines[i].rstrip()
        if stripped and not stripped.lstrip().startswith("#"):
            return i, len(stripped)
    return None


class _Walker:
    """Turns composed nodes into plain values, recording positions."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.keys: dict[KeyPath, Position] = {}
        self.values: dict[KeyPath, Position] = {}
        self.problems: list[Problem] = []
        self.fatal = False  # a problem other than a duplicate key: see YamlDoc.checkable
        self._constructor = SafeConstructor()
        self._active: set[int] = set()  # nodes on the current path: an alias cycle
        self.count = 0
        self._too_deep = False

    def _error(self, node: Node, message: str, path: KeyPath, *, fatal: bool = True) -> None:
        m = node.start_mark
        self.problems.append(Problem(self.file, m.line + 1, m.column + 1, message, path))
        self.fatal = self.fatal or fatal

    def _forget(self, path: KeyPath) -> None:
        """Drop the positions below *path*: a replaced value's keys must not
        be pointed at (a key missing from the kept value would otherwise
        point into the ignored one)."""
        n = len(path)
        for table in (self.keys, self.values):
            for stale in [p for p in table if len(p) > n and p[:n] == path]:
                del table[stale]

    def walk(self, node: Node, path: KeyPath) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            if self.count == _MAX_NODES + 1:
                self._error(node, "the document is too large (too many aliases?)", path)
            return None
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if len(path) > _MAX_DEPTH and not isinstance(node, ScalarNode):
            if not self._too_deep:  # once: the position says where, not a key path of 100 steps
                self._too_deep = True
                self._error(node, f"the document nests more than {_MAX_DEPTH} levels deep", ())
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._active:
            self._error(node, "an alias refers to a node that contains it", path)
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _TAG + "seq":
                    self._bad_tag(node, path)
                return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                if node.tag != _TAG + "map":
                    self._bad_tag(node, path)
                return self._mapping(node, path)
        finally:
            self._active.discard(id(node))
        return None  # pragma: no cover - PyYAML has no other node kinds

    def _mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        seen: dict[str, int] = {}  # how many times each key was written here
        # `<<: *base` first, so that the keys written here override the
        # merged ones (YAML 1.1) and their positions are the ones kept.
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                self._merge(value_node, path, out)
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                continue
            if not isinstance(key_node, ScalarNode):
                self._error(key_node, "a key must be a plain name, not a mapping or a list", path)
                continue
            key = key_node.value
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                values = "value is" if seen[key] == 2 else "values are"
                self._error(
                    key_node,
                    f"duplicate key '{key}' (first at line {first_line[key]}); "
                    f"the earlier {values} ignored",
                    (*path, key), fatal=False)
            else:
                first_line[key] = key_node.start_mark.line + 1
            if isinstance(out.get(key), (dict, list)):  # a duplicate, or over a `<<` merge
                self._forget((*path, key))
            self.keys[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.walk(value_node, (*path, key))
        return out

    def _merge(self, node: Node, path: KeyPath, out: dict[str, Any]) -> None:
        # `<<: *base` or `<<: [*a, *b]` (the first listed wins); merged keys
        # point at the anchored text.
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in reversed(sources):
            if not isinstance(source, MappingNode):
                self._error(source, "'<<' merges a mapping (or a list of mappings) only", path)
                continue
            if id(source) in self._active:  # `&a {<<: *a}`: merging it would never end
                self._error(source, "an alias refers to a node that contains it", path)
                continue
            self._active.add(id(source))
            try:
                out.update(self._mapping(source, path))
            finally:
                self._active.discard(id(source))

    def _scalar(self, node: ScalarNode, path: KeyPath) -> Any:
        tag = node.tag
        c = self._constructor
        if tag in (_TAG + "str", _TAG + "timestamp", _TAG + "value"):
            return node.value
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return c.construct_yaml_bool(node)
        if tag == _TAG + "int":
            return c.construct_yaml_int(node)
        if tag == _TAG + "float":
            return c.construct_yaml_float(node)
        self._bad_tag(node, path)
        return node.value

    def _bad_tag(self, node: Node, path: KeyPath) -> None:
        tag = node.tag
        shown = "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag
        self._error(node, f"tag '{shown}' is not supported in syncd config", path)

