"""Names: a CRM's first and last name against a newsletter's one full name."""

from __future__ import annotations

import pytest

from syncd.sync._names import join_name, split_name, update_name


@pytest.mark.parametrize(("full", "parts"), [
    ("Ludwig van Beethoven", ("Ludwig", "van Beethoven")),
    ("Anna de la Cruz", ("Anna", "de la Cruz")),
    ("Jean-Claude Van Damme", ("Jean-Claude", "Van Damme")),
    ("Ursula von der Leyen", ("Ursula", "von der Leyen")),
    ("Leonardo da Vinci", ("Leonardo", "da Vinci")),
    ("Anna Maria Svensson", ("Anna Maria", "Svensson")),
    ("Ada Lovelace", ("Ada", "Lovelace")),
    ("Madonna", ("Madonna", None)),
    ("  Ada   Lovelace  ", ("Ada", "Lovelace")),  # extra spaces trimmed
    ("Da Silva", ("Da", "Silva")),  # a particle first is a given name
    ("Maria de", ("Maria", "de")),  # a particle last is the family name itself
    ("Jan van", ("Jan", "van")),
    ("Maria da Graça dos Santos", ("Maria", "da Graça dos Santos")),
    ("", (None, None)),
    ("   ", (None, None)),
    (None, (None, None)),
])
def test_a_full_name_splits_with_particles_kept_with_the_family_name(
        full: str | None, parts: tuple[str | None, str | None]) -> None:
    assert split_name(full) == parts


@pytest.mark.parametrize(("parts", "full"), [
    (("Ada", "Lovelace"), "Ada Lovelace"),
    (("Ludwig", "van Beethoven"), "Ludwig van Beethoven"),
    (("Ada", None), "Ada"),
    ((None, "Lovelace"), "Lovelace"),
    (("", "Lovelace"), "Lovelace"),
    (("  Ada ", "   "), "Ada"),
    (("Anna  Maria", "Berg"), "Anna Maria Berg"),
    ((None, None), None),
    (("", " "), None),
])
def test_join_name_skips_blank_parts(parts: tuple[str | None, str | None], full: str | None) -> None:
    assert join_name(*parts) == full


@pytest.mark.parametrize(("story", "current", "full", "expected"), [
    ("she marries and takes a new family name",
     ("Anna Maria", "Berg"), "Anna Maria Svensson", ("Anna Maria", "Svensson")),
    ("a typo in the first name is fixed",
     ("Ann", "van der Berg"), "Anna van der Berg", ("Anna", "van der Berg")),
    ("a two-word first name keeps its shape when the last name changes",
     ("Mary Ann", "Smith"), "Mary Ann Jones", ("Mary Ann", "Jones")),
    ("a two-word last name keeps its shape when the first name changes",
     ("Anna", "Berg Svensson"), "Annika Berg Svensson", ("Annika", "Berg Svensson")),
    ("nothing changed but spacing",
     ("Ada", "Lovelace"), "  Ada  Lovelace ", ("Ada", "Lovelace")),
    ("a middle name is added: it joins the first name",
     ("Anna", "Berg"), "Anna Maria Berg", ("Anna Maria", "Berg")),
    ("a particle is added: it joins the family name",
     ("Anna", "Berg"), "Anna van Berg", ("Anna", "van Berg")),
    ("the family name is dropped",
     ("Anna", "Berg"), "Anna", ("Anna", None)),
    ("a whole new name falls back to the particle-aware split",
     ("Anna", "Berg"), "Ludwig van Beethoven", ("Ludwig", "van Beethoven")),
    ("there was no name before",
     (None, None), "Ludwig van Beethoven", ("Ludwig", "van Beethoven")),
    ("only a last name before, a first name arrives",
     (None, "Berg"), "Anna Berg", ("Anna", "Berg")),
    ("the name is blanked",
     ("Anna", "Berg"), "", (None, None)),
    ("the first name is only a prefix of a word, not a word",
     ("Ann", "Berg"), "Annika Svensson", ("Annika", "Svensson")),
])
def test_a_changed_full_name_changes_only_the_part_that_changed(
        story: str, current: tuple[str | None, str | None], full: str,
        expected: tuple[str | None, str | None]) -> None:
    assert update_name(*current, full) == expected, story


def test_split_then_join_gives_back_the_name() -> None:
    for full in ("Ludwig van Beethoven", "Anna de la Cruz", "Anna Maria Svensson", "Cher"):
        assert join_name(*split_name(full)) == full
