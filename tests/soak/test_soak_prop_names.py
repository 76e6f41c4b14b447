"""Name split and join round trips, over names Hypothesis makes up.

``split_name`` guesses (first, last) from one full name; ``join_name`` and
``update_name`` go back and forth.  What must round trip, exactly:

- one full name: ``join_name(*split_name(x)) == norm(x)``, where ``norm``
  collapses white space (any Unicode space: ``str.split()``) to single
  spaces and a blank name is None.  Nothing else changes: no letter, case,
  mark, hyphen or apostrophe, in any script;
- two fields: ``update_name(f, l, join_name(f, l)) == (clean(f), clean(l))``:
  a full name made from the two fields gives them back (white space
  cleaned) when the other side still holds them, which is how a sync sees
  them.  Without them (``split_name`` of the joined name) the guess need
  not give them back: ("Anna", "Maria Berg") joins to a name that splits as
  ("Anna Maria", "Berg");
- any change: ``join_name(*update_name(f, l, x)) == norm(x)``: whatever
  parts are kept, they spell the new full name;
- a particle (``van``, ``de``, ``bin``, ...) after the first word and
  before the last starts the family name.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from soak.props_support import examples
from syncd.sync._names import PARTICLES, join_name, split_name, update_name

# Words as names are built: Latin with hyphens and apostrophes, particles in
# any case, scripts without spaces between words (CJK), right-to-left
# (Arabic), Cyrillic, Devanagari, and combining marks (a decomposed é).
WORDS = [
    "Ada", "Lovelace", "Jean-Claude", "O'Brien", "D'Angelo", "Anne-Marie", "ʻOlelo",
    "山田太郎", "김민준", "محمد", "عبد", "Иван", "Петров-Водкин", "देवनागरी", "José",
    "Jose\u0301", "Zoë", "Ǆemal", "ß", "İlkay", "X Æ A-12"[:1],
]
particle = st.sampled_from(sorted(PARTICLES)).flatmap(
    lambda p: st.sampled_from([p, p.capitalize(), p.upper()]))
word = st.one_of(
    st.sampled_from(WORDS), particle,
    st.text(st.characters(blacklist_categories=("Zs", "Cc")), min_size=1, max_size=6),
)
space = st.sampled_from([" ", "  ", "\t", "\u00a0", "\u3000", "\n", "\u2009"])


@st.composite
def full_names(draw: st.DrawFn) -> str:
    words = draw(st.lists(word, max_size=6))
    gaps = draw(st.lists(space, min_size=len(words) + 1, max_size=len(words) + 1))
    out = gaps[0] if draw(st.booleans()) else ""
    for w, gap in zip(words, gaps[1:]):
        out += w + gap
    return out if draw(st.booleans()) else out.rstrip()


names = st.one_of(full_names(), st.text(max_size=20))
parts = st.one_of(st.none(), full_names())


def norm(text: str | None) -> str | None:
    return " ".join(text.split()) or None if text is not None else None


@examples(150)
@given(full=names)
@example(full="Ludwig van Beethoven")
@example(full="  María   de la  Cruz ")
@example(full="山田太郎")
@example(full="")
def test_a_full_name_splits_and_joins_back_to_itself(full: str) -> None:
    first, last = split_name(full)
    assert join_name(first, last) == norm(full)
    for part in (first, last):
        assert part is None or part == norm(part)  # each part clean, never blank
    words = full.split()
    assert (first is None) == (not words)
    assert (last is None) == (len(words) < 2)
    # A full name that did not change keeps the parts it split into.
    assert update_name(first, last, full) == (first, last)


@examples(150)
@given(full=names)
@example(full="Anna Maria van der Berg")
def test_a_particle_inside_the_name_starts_the_family_name(full: str) -> None:
    words = full.split()
    inner = [i for i in range(1, len(words) - 1) if words[i].lower() in PARTICLES]
    first, last = split_name(full)
    if inner:
        assert last == " ".join(words[inner[0]:])
    elif len(words) > 1:
        assert last == words[-1]


@examples(150)
@given(first=parts, last=parts)
@example(first="Anna", last="Maria Berg")  # split_name alone would not give this back
@example(first="Anna van", last="Berg")
@example(first=None, last="van Berg")
def test_two_fields_come_back_through_their_full_name(first: str | None, last: str | None) -> None:
    full = join_name(first, last)
    assert update_name(first, last, full) == (norm(first), norm(last))


@examples(150)
@given(first=parts, last=parts, full=names)
@example(first="Anna", last="Berg", full="Anna van Berg")
@example(first="a b", last="b c", full="a b c")
def test_whatever_is_kept_the_parts_spell_the_new_name(
        first: str | None, last: str | None, full: str) -> None:
    new_first, new_last = update_name(first, last, full)
    assert join_name(new_first, new_last) == norm(full)
    for part in (new_first, new_last):
        assert part is None or part == norm(part)
