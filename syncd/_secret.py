"""The secret value type: a string that prints as ``***`` everywhere."""

from __future__ import annotations

from typing import Any

MASK = "***"


class Secret:
    """A resolved secret (``${env:…}``, ``${file:…}``, ``${cred:…}``).

    ``str()``, ``repr()`` and ``format()`` all give ``***`` so that a secret
    passed by mistake to a log line, an error message or ``print`` stays
    hidden; only :meth:`reveal` gives the value, and only the HTTP layer
    calls it.
    """

    __slots__ = ("_value", "reference")

    def __init__(self, value: str, reference: str = "") -> None:
        self._value = value
        self.reference = reference  # "${env:NAME}": safe to show

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({self.reference or MASK!s})"

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:  # never pickle the value into a state file
        raise TypeError("a Secret cannot be pickled")


class SecretUnavailable(Exception):
    """A secret that could not be resolved was asked for its value."""


class UnresolvedSecret(Secret):
    """A reference that could not be resolved where nothing needs its value:
    a command that only reads the state store (``syncd status`` in a shell
    without the daemon's credentials). :meth:`reveal` raises
    :class:`SecretUnavailable` with why it could not be resolved."""

    __slots__ = ("why",)

    def __init__(self, reference: str, why: str) -> None:
        super().__init__("", reference)
        self.why = why  # names the reference, never a value

    def reveal(self) -> str:
        raise SecretUnavailable(self.why)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnresolvedSecret) and other.reference == self.reference

    def __hash__(self) -> int:
        return hash(("UnresolvedSecret", self.reference))


def reveal(value: Any) -> Any:
    """The plain value behind a Secret; any other value unchanged."""
    return value.reveal() if isinstance(value, Secret) else value
