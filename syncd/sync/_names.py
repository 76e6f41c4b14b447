"""Person names: one full name to and from a first and a last name.

Apps disagree on how they hold a name: a CRM has ``first_name`` and
``last_name``, a newsletter tool one ``full_name``.  Joining is easy;
splitting has to guess, and the guess must respect how names are built:

- a particle (``van``, ``de``, ``von``, ``da``, …) belongs to the family
  name: "Ludwig van Beethoven" is ("Ludwig", "van Beethoven"), "Anna de
  la Cruz" is ("Anna", "de la Cruz"), "Jean-Claude Van Damme" is
  ("Jean-Claude", "Van Damme");
- without a particle, the last word is the family name and the rest the
  given names ("Anna Maria Svensson" is ("Anna Maria", "Svensson"));
- one word is a first name only.

Guessing again on every change would undo what a user set on the side
with two fields ("Anna Maria" / "Berg" is not ("Anna", "Maria Berg")), so
:func:`update_name` keeps whichever part is still there verbatim and
changes only the other one; it guesses only when neither part survives.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PARTICLES", "join_name", "split_name", "update_name"]

# Lower-case words that start a family name when they follow a given name.
PARTICLES = frozenset({
    "van", "von", "vom", "zu", "zum", "zur", "der", "den", "ter", "ten",
    "de", "del", "della", "dei", "degli", "di", "da", "das", "dos", "do", "du", "des",
    "la", "le", "lo", "st", "st.", "san", "santa", "af", "av", "bin", "ibn", "al", "el",
})


def _words(text: Any) -> list[str]:
    return str(text).split() if text is not None else []


def _clean(text: Any) -> str | None:
    """Surrounding and repeated white space removed; blank is None."""
    words = _words(text)
    return " ".join(words) if words else None


def join_name(*parts: Any) -> str | None:
    """The parts joined by single spaces; blank parts are left out.

    >>> join_name("Ada", None, " Lovelace ")
    'Ada Lovelace'
    """
    words = [w for part in parts for w in _words(part)]
    return " ".join(words) if words else None


def split_name(full: Any) -> tuple[str | None, str | None]:
    """A full name as (first, last), keeping particles with the family name."""
    words = _words(full)
    if not words:
        return None, None
    if len(words) == 1:
        return words[0], None
    start = len(words) - 1
    # The first particle after the first word starts the family name,
    # as long as a word that is not a particle follows it.
    for i in range(1, len(words) - 1):
        if words[i].lower() in PARTICLES:
            start = i
            break
    return " ".join(words[:start]), " ".join(words[start:])


def update_name(first: Any, last: Any, full: Any) -> tuple[str | None, str | None]:
    """(first, last) for a new *full* name, changing only the part that changed.

    - the same name (ignoring spacing): (first, last) as they are;
    - the full name still starts with *first*: first is kept, the rest is
      the last name ("Anna Maria" / "Berg" → "Anna Maria Svensson" gives
      ("Anna Maria", "Svensson"));
    - it still ends with *last*: last is kept, the rest is the first name;
    - both (a word was added between them): both are kept and the new
      words join the first name, or the last name if they start with a
      particle ("Anna" / "Berg" → "Anna van Berg" gives ("Anna", "van Berg"));
    - neither: :func:`split_name`.
    """
    new = _clean(full)
    old_first, old_last = _clean(first), _clean(last)
    if new is None:
        return None, None
    if new == join_name(old_first, old_last):
        return old_first, old_last
    keeps_first = old_first is not None and (new == old_first or new.startswith(old_first + " "))
    keeps_last = old_last is not None and (new == old_last or new.endswith(" " + old_last))
    if keeps_first and keeps_last and old_first is not None and old_last is not None \
            and len(old_first) + len(old_last) + 1 < len(new):
        middle = new[len(old_first) + 1:len(new) - len(old_last) - 1]
        if middle.split()[0].lower() in PARTICLES:
            return old_first, f"{middle} {old_last}"
        return f"{old_first} {middle}", old_last
    if keeps_first and old_first is not None:
        return old_first, _clean(new[len(old_first):])
    if keeps_last and old_last is not None:
        rest = _clean(new[: len(new) - len(old_last)])
        if rest is not None:
            return rest, old_last
    return split_name(new)
