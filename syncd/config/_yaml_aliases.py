"""How far a YAML document's aliases expand, known before it is walked.

An alias bomb ("billion laughs": anchors of lists of aliases of anchors
of…) composes into a graph of a few dozen nodes that expands into
billions; the walk of :mod:`syncd.config._yaml` expands it, and stopping
that walk at its node limit still cost seconds of CPU per load (every
reload of a daemon). Here the graph is measured first, each node once
per depth, its expanded size summed, not walked: a bomb costs what its
text costs. Only for a refused document are its events parsed again, to
name the alias that crossed the bound (the composed graph keeps the
anchor's position, not the alias's).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["MAX_ALIAS_NODES", "expanded_size", "first_alias_over"]

# Nodes that aliases may add to a document (its expanded size less its
# own nodes): `<<: *defaults` in every one of a few hundred entries adds a
# few thousand; a walk of 100,000 takes well under a second.
MAX_ALIAS_NODES = 100_000
_MERGE = "tag:yaml.org,2002:merge"


class _Measure:
    """The number of nodes the walk of ``_yaml._Walker`` would visit from a
    node, capped at *cap*: a scalar is 1; a list 1 and its items; a mapping
    1 and its values, a ``<<`` merge the merged mappings' values; past
    *max_depth* a list or mapping is 1 (the walk stops there); an alias of
    a node that contains it is 1 (the walk refuses it). Each (node, depth)
    is measured once: *visited* counts them, the work done."""

    def __init__(self, cap: int, max_depth: int) -> None:
        self.cap, self.max_depth = cap, max_depth
        self.memo: dict[tuple[int, int], int] = {}
        self.active: set[int] = set()
        self.visited = 0

    def size(self, node: Node, depth: int) -> int:
        if isinstance(node, ScalarNode) or depth > self.max_depth or id(node) in self.active:
            return 1
        key = (id(node), depth)
        if (known := self.memo.get(key)) is not None:
            return known
        self.visited += 1
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                total = 1 + sum(self.size(item, depth + 1) for item in node.value)
            elif isinstance(node, MappingNode):
                total = 1 + self._values(node, depth)
            else:  # pragma: no cover - PyYAML has no other node kinds
                total = 1
        finally:
            self.active.discard(id(node))
        total = min(total, self.cap)
        self.memo[key] = total
        return total

    def _values(self, node: MappingNode, depth: int) -> int:
        """The nodes below a mapping: its values and its merged mappings'."""
        key = (-id(node), depth)  # apart from the mapping's own size
        if (known := self.memo.get(key)) is not None:
            return known
        self.visited += 1
        total = 0
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    if isinstance(source, MappingNode) and id(source) not in self.active:
                        self.active.add(id(source))
                        try:
                            total += self._values(source, depth)
                        finally:
                            self.active.discard(id(source))
            elif isinstance(key_node, ScalarNode):
                total += self.size(value_node, depth + 1)
            if total >= self.cap:
                total = self.cap
                break
        self.memo[key] = total
        return total


def expanded_size(root: Node, *, cap: int, max_depth: int) -> tuple[int, int, int]:
    """(nodes the walk would visit, capped at *cap*; the document's own
    lists and mappings and scalars, once each; (node, depth) pairs measured)."""
    measure = _Measure(cap, max_depth)
    total = measure.size(root, 0)
    own: set[int] = set()
    todo = [root]
    while todo:  # every node once, however many aliases lead to it
        node = todo.pop()
        if id(node) in own:
            continue
        own.add(id(node))
        if isinstance(node, SequenceNode):
            todo.extend(node.value)
        elif isinstance(node, MappingNode):
            todo.extend(n for pair in node.value for n in pair)
    return total, len(own), measure.visited


def first_alias_over(text: str, loader: Any, bound: int) -> tuple[int, int, str, int] | None:
    """(line, column (1-based), anchor, nodes it adds) of the alias at
    which the nodes the document's aliases add, summed in text order, first
    exceed *bound*; None if they never do. Sizes as the parser sees them
    (keys counted too: a little more than the walk visits)."""
    sizes: dict[str, int] = {}  # anchor -> its node's expanded size
    open_: list[tuple[str | None, int]] = []  # the lists and mappings being read: (anchor, size so far)
    added = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            size = sizes.get(event.anchor or "", 1)  # its own node, still open: the walk refuses it
            added += size
            if added > bound:
                mark = event.start_mark
                line, col = (mark.line, mark.column) if mark is not None else (0, 0)
                return line + 1, col + 1, event.anchor or "", size
            _add(open_, size)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            _add(open_, 1)
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            open_.append((event.anchor, 1))
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, size = open_.pop()
            if anchor:
                sizes[anchor] = size
            _add(open_, size)
    return None


def _add(open_: list[tuple[str | None, int]], size: int) -> None:
    if open_:
        anchor, total = open_[-1]
        open_[-1] = (anchor, total + size)
