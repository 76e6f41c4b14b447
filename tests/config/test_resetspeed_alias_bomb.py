"""An alias bomb ("billion laughs") is refused before it is expanded, at the
alias that crossed the bound, and a mapping that merges itself is refused
(it was a RecursionError). Before, a bomb was walked up to the loader's
node limit (1,000,000 nodes: 3 to 9 s of CPU on every reload) and reported
at the anchor's list with a key path into the expansion. The work is
counted (nodes walked, nodes measured), not timed."""

from __future__ import annotations

import yaml

from syncd.config._yaml import _MAX_DEPTH, load_yaml
from syncd.config._yaml_aliases import MAX_ALIAS_NODES, expanded_size

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_at_the_alias_without_being_walked() -> None:
    doc, problems = load_yaml(laughs(), "bomb.yaml")
    [problem] = problems
    # The aliases of a1..a4's lists add 74,718 nodes; the first alias of
    # a5's list adds a4's 66,430 and crosses 100,000.
    line = laughs().splitlines()[5]
    assert (problem.file, problem.line) == ("bomb.yaml", 6)
    assert problem.col == line.index("*a4") + 1
    assert problem.message.startswith("the alias *a4 expands to 66,430 nodes")
    assert f"aliases add more than {MAX_ALIAS_NODES:,} (an alias bomb?)" in problem.message
    assert not doc.checkable and doc.data is None
    assert doc.walked == 0  # before: 1,000,001 nodes walked
    # Its measure looks at each of its 9 lists once at each depth it is
    # found at (and at the root), whatever they expand to.
    total, own, measured = expanded_size(yaml.compose(laughs(), Loader=LOADER), cap=10**12, max_depth=_MAX_DEPTH)
    sizes = [10]  # a0: a list of 9; each next list: 9 of the one before
    for _ in range(8):
        sizes.append(1 + 9 * sizes[-1])
    assert total == 1 + sum(sizes) == 490_329_055  # what the walk would have visited
    assert own == 1 + 9 * 2 + 9  # the root, 9 keys, 9 lists and a0's 9 lols
    assert measured <= 1 + 9 * 9


def aliased(uses: int) -> str:
    # An anchor of 10 nodes (a list of 9) and a list of *uses* aliases of it: they add 10 nodes each.
    return "base: &b [1, 2, 3, 4, 5, 6, 7, 8, 9]\nuses:\n" + "".join("  - *b\n" for _ in range(uses))


def test_aliases_up_to_the_bound_load_and_one_more_is_refused_at_its_line() -> None:
    fits = MAX_ALIAS_NODES // 10
    doc, problems = load_yaml(aliased(fits), "many.yaml")
    assert problems == [] and len(doc.data["uses"]) == fits
    assert doc.walked == 1 + 10 + 1 + 10 * fits
    doc, problems = load_yaml(aliased(fits + 1), "many.yaml")
    [problem] = problems
    assert (problem.line, problem.col) == (2 + fits + 1, 5)  # the last `- *b`
    assert problem.message.startswith("the alias *b expands to 10 nodes")
    assert doc.walked == 0


def test_merges_count_as_the_walk_expands_them() -> None:
    # A merge bomb: each level merges the one before nine times over (as a list).
    lines = ["m0: &m0 {" + ", ".join(f"k{i}: {i}" for i in range(9)) + "}"]
    for i in range(1, 9):
        lines.append(f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 9) + "]}")
    doc, problems = load_yaml("\n".join(lines) + "\n", "merge.yaml")
    assert len(problems) == 1 and "alias bomb" in problems[0].message
    assert doc.walked == 0
    # Defaults merged into a few hundred entries, as configs do: loaded, walked once each.
    text = "defaults: &d {retries: 3, timeout: 10}\nitems:\n" + "".join(
        f"  - {{<<: *d, name: n{i}}}\n" for i in range(300))
    doc, problems = load_yaml(text, "defaults.yaml")
    assert problems == [] and doc.data["items"][299] == {"retries": 3, "timeout": 10, "name": "n299"}


def test_a_mapping_that_merges_itself_is_refused_not_a_recursion_error() -> None:
    doc, problems = load_yaml("a: &a {x: 1, <<: *a}\nb: 2\n", "self.yaml")
    assert [(p.line, p.message) for p in problems] == [(1, "an alias refers to a node that contains it")]
    assert not doc.checkable
