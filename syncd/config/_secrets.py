"""Secret references: ``${env:NAME}``, ``${file:PATH}``, ``${cred:NAME}``.

A reference is the whole value of a string or nothing: ``"Bearer
${env:TOKEN}"`` is an error, because a half-resolved string would put the
secret inside a larger value that may be logged as a whole (and the
connector spec's templates are where a value is put in context).

- ``${env:NAME}`` reads an environment variable; ``${env:NAME:-default}``
  uses *default* when the variable is unset or empty (as the shell does).
- ``${file:PATH}`` reads a file (a relative PATH is relative to the config
  directory); trailing newlines are stripped, since ``echo`` and editors add
  one.  A secret is a regular file of at most 1 MiB: a path to a device
  (``/dev/zero``), a pipe or a log file by mistake is an error, not a read
  that never ends or fills the memory.
- ``${cred:NAME}`` reads ``$CREDENTIALS_DIRECTORY/NAME``, which systemd
  fills from ``LoadCredential=``/``SetCredential=``.

Error messages name the reference (safe to show), never a value.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from pathlib import Path

from syncd._secret import Secret

__all__ = ["SecretRefError", "has_reference", "is_reference", "resolve_reference"]

_WHOLE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*):(.*)\}$", re.S)
# Anything that looks like the start of a reference, inside other text.
_ANY = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:")
_ENV = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.S)
KINDS = ("env", "file", "cred")
_MAX_SECRET_BYTES = 1 << 20  # a PEM key or a service account's JSON is a few kB


class SecretRefError(ValueError):
    """A reference cannot be resolved; the message is safe to show."""


def is_reference(value: object) -> bool:
    """True for a string that is exactly one ``${kind:…}`` reference."""
    return isinstance(value, str) and _WHOLE.match(value) is not None


def has_reference(value: object) -> bool:
    """True for a string that holds a ``${kind:…}`` reference anywhere."""
    return isinstance(value, str) and _ANY.search(value) is not None


def resolve_reference(
    value: str, config_dir: Path, environ: Mapping[str, str], shown_dir: str | None = None
) -> Secret | None:
    """The Secret a string refers to, or None when it is plain text.

    *shown_dir* is the config directory as the user gave it, used to name a
    relative ``${file:…}`` in messages.

    Raises SecretRefError for a reference that cannot be resolved and for a
    reference embedded in other text.
    """
    m = _WHOLE.match(value)
    if m is None:
        if _ANY.search(value):
            raise SecretRefError(
                "a ${env:…}, ${file:…} or ${cred:…} reference must be the whole value, "
                "not part of a longer string")
        return None
    kind, arg = m.group(1), m.group(2)
    ref = _shown(kind, arg)
    if kind == "env":
        return Secret(_env(arg, environ), reference=ref)
    if kind == "file":
        return Secret(_file(arg, config_dir, shown_dir), reference=ref)
    if kind == "cred":
        return Secret(_cred(arg, environ), reference=ref)
    raise SecretRefError(
        f"unknown reference kind '{kind}': use ${{env:NAME}}, ${{file:PATH}} or ${{cred:NAME}}")


def _shown(kind: str, arg: str) -> str:
    # An env default may be a real value (`${env:TOKEN:-abc}`): never echo it.
    if kind == "env" and ":-" in arg:
        return "${env:" + arg.split(":-", 1)[0] + ":-…}"
    return "${" + kind + ":" + arg + "}"


def _env(arg: str, environ: Mapping[str, str]) -> str:
    m = _ENV.match(arg)
    if m is None:
        raise SecretRefError(
            f"${{env:{arg}}}: not a variable name (letters, digits and '_', not starting with a digit)")
    name, default = m.group(1), m.group(2)
    value = environ.get(name)
    if default is not None and not value:
        return default
    if value is None:
        raise SecretRefError(f"${{env:{name}}}: environment variable {name} is not set")
    return value


def _read(path: Path, ref: str, shown: str) -> str:
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError
        if not stat.S_ISREG(mode):  # checked before opening: a pipe's open waits for a writer
            raise SecretRefError(f"{ref}: {shown} is not a regular file")
        with path.open("rb") as f:
            data = f.read(_MAX_SECRET_BYTES + 1)
        if len(data) > _MAX_SECRET_BYTES:
            raise SecretRefError(f"{ref}: {shown} is larger than 1 MiB, too large for a secret")
        # As text mode read it: universal newlines (a PEM saved with CRLF).
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except FileNotFoundError:
        raise SecretRefError(f"{ref}: no such file {shown}") from None
    except IsADirectoryError:
        raise SecretRefError(f"{ref}: {shown} is a directory") from None
    except PermissionError:
        raise SecretRefError(f"{ref}: permission denied reading {shown}") from None
    except UnicodeDecodeError:
        raise SecretRefError(f"{ref}: {shown} is not UTF-8 text") from None
    except OSError as e:
        raise SecretRefError(f"{ref}: cannot read {shown}: {e.strerror}") from None
    return text.rstrip("\r\n")


def _file(arg: str, config_dir: Path, shown_dir: str | None) -> str:
    if not arg:
        raise SecretRefError("${file:}: the file path is empty")
    path = Path(arg).expanduser()
    shown = str(path)
    if not path.is_absolute():
        shown = str(Path(shown_dir) / path) if shown_dir is not None else str(config_dir / path)
        path = config_dir / path
    return _read(path, f"${{file:{arg}}}", shown)


def _cred(arg: str, environ: Mapping[str, str]) -> str:
    ref = f"${{cred:{arg}}}"
    if not arg or "/" in arg or arg in (".", ".."):
        raise SecretRefError(f"{ref}: a credential name is a plain file name")
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise SecretRefError(
            f"{ref}: $CREDENTIALS_DIRECTORY is not set (systemd sets it for a unit "
            "with LoadCredential=; run syncd under systemd or use ${env:…})")
    path = Path(directory) / arg
    if not path.exists():
        raise SecretRefError(f"{ref}: no credential '{arg}' in $CREDENTIALS_DIRECTORY")
    return _read(path, ref, f"$CREDENTIALS_DIRECTORY/{arg}")
