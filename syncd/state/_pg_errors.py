"""PostgreSQL failures as :class:`StateError`, and the URL as it may be shown.

Every message names the store by its URL with the password replaced by
``***`` (:func:`shown_url`); a psycopg message that happens to hold the
password is masked too. The SQLSTATE decides the class: a serialization
failure, a deadlock or a lock wait that timed out is transient
(:class:`StateLockedError`), anything else a plain :class:`StateError`.
The psycopg exception is kept as ``__cause__``; its message as
``sqlite_message`` (the attribute every store's errors carry the driver's
message in).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import psycopg

from syncd.state._errors import StateError, StateLockedError, StateUnreachable

SCHEMES = ("postgresql", "postgres")

# SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_TRANSIENT = {"40001", "40P01", "55P03", "57014"}  # serialization, deadlock, lock not available, timeout
_DISK_FULL = "53100"
_NO_PRIVILEGE = "42501"
# connection exceptions; the server shutting down, crashed, or the backend terminated by an administrator
_CONNECTION_LOST = ("08", "57P01", "57P02", "57P03")


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and urlsplit(target).scheme in SCHEMES and "://" in target


def _passwords(url: str) -> list[str]:
    """The URL's passwords (in the user part, or as a ``password`` parameter), raw and decoded."""
    parts = urlsplit(url)
    raw = [parts.password or ""]
    raw += [value for key, value in parse_qsl(parts.query, keep_blank_values=True) if key == "password"]
    raw += [piece.partition("=")[2] for piece in parts.query.split("&") if piece.startswith("password=")]
    found = {value for value in raw if value} | {unquote(value) for value in raw if value}
    return sorted(found, key=len, reverse=True)  # the longest first: one may hold another


def shown_url(url: str) -> str:
    """The URL with its password, if any, as ``***`` (``postgresql://user:***@host/db``)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostinfo}"
    query = "&".join("password=***" if piece.startswith("password=") else piece
                     for piece in parts.query.split("&")) if parts.query else ""
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def masked(text: str, url: str) -> str:
    """*text* with the URL's password, raw and as written in the URL, replaced by ``***``."""
    for value in _passwords(url):
        text = text.replace(value, "***")
    return text


# What a server that runs but cannot take a connection now answers (libpq has no SQLSTATE for a
# failed connection, only the server's text: English, unless the server's lc_messages says otherwise;
# a translated one is then taken as a refusal, which is what every refusal was before).
_NOT_NOW = ("the database system is starting up", "the database system is shutting down",
            "the database system is in recovery mode", "the database system is not yet accepting",
            "too many clients already", "remaining connection slots are reserved")


def cannot_connect(url: str, exc: BaseException) -> StateError:
    """The error of a connection that failed: :class:`StateUnreachable` when the server never
    answered (refused, no answer in time, a name that does not resolve) or answered "not now";
    a plain StateError when it refused syncd (a password, a database or a role that is wrong)."""
    detail = " ".join(masked(str(exc), url).split())  # libpq's message spans lines, with tabs
    fatal = "FATAL:" in detail and not any(reason in detail for reason in _NOT_NOW)
    kind = StateError if fatal else StateUnreachable
    return kind(
        f"state store {shown_url(url)}: cannot connect: {detail}: check that the server runs and that "
        "state.url (host, port, database, user, password) is right", path=shown_url(url),
        sqlite_message=detail)


def from_postgres(url: str, exc: psycopg.Error, doing: str) -> StateError:
    """The :class:`StateError` for a psycopg exception raised while ``doing``."""
    shown = shown_url(url)
    msg = " ".join(masked(str(exc), url).split())
    code = getattr(exc, "sqlstate", None) or ""
    if code in _TRANSIENT:
        return StateLockedError(
            f"state store {shown}: {doing} gave way to another transaction ({msg}): retry later",
            path=shown, sqlite_message=msg)
    if code == _DISK_FULL:
        return StateError(f"state store {shown}: disk full while {doing} ({msg}): free space on the "
                          "database server and retry", path=shown, sqlite_message=msg)
    if code == _NO_PRIVILEGE:
        return StateError(f"state store {shown}: permission denied while {doing} ({msg}): the database "
                          "user needs to own the syncd tables (or CREATE on the schema to make them)",
                          path=shown, sqlite_message=msg)
    if code.startswith(_CONNECTION_LOST) or (isinstance(exc, psycopg.OperationalError) and not code):
        return StateError(f"state store {shown}: connection lost while {doing} ({msg}): the next "
                          "use reconnects", path=shown, sqlite_message=msg)
    return StateError(f"state store {shown}: {doing} failed: {msg}", path=shown, sqlite_message=msg)
