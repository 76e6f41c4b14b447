"""Config errors, each naming a file, a position and a key.

    ConfigError            the whole tree is invalid; holds every Problem
    SpecError              raised while building one document's objects;
                           carries the key path, the loader adds the position
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

KeyPath = tuple[str | int, ...]


def format_key_path(path: Sequence[str | int]) -> str:
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return one_line(out)


# Control characters and line breaks: a key or value quoted in a message may
# hold one (a key "\n" is valid YAML), and would split the message's line.
_BREAKING = frozenset({"Cc", "Zl", "Zp"})


def one_line(text: str) -> str:
    """*text* with its control characters and line breaks escaped (``\\n``):
    each problem is one line of ``syncd validate``'s output, for editors and CI."""
    if text.isprintable():
        return text
    return "".join(ch.encode("unicode_escape").decode("ascii")
                   if unicodedata.category(ch) in _BREAKING else ch for ch in text)


@dataclass(frozen=True, slots=True)
class Problem:
    """One error in one file: ``FILE:LINE:COL: error: message (key path)``."""

    file: str
    line: int
    col: int
    message: str
    key_path: KeyPath = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", one_line(self.message))

    def __str__(self) -> str:
        where = f" ({format_key_path(self.key_path)})" if self.key_path else ""
        return f"{self.file}:{self.line}:{self.col}: error: {self.message}{where}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.col,
            "message": self.message,
            "key": format_key_path(self.key_path),
        }


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every error found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SpecError(ValueError):
    """An error at a key path of the document being built."""

    def __init__(self, key_path: KeyPath, message: str) -> None:
        self.key_path = tuple(key_path)
        self.message = message
        super().__init__(f"{format_key_path(self.key_path)}: {message}")
