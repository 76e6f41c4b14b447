"""Load a whole config tree into a :class:`Config`, or say everything wrong.

::

    DIR/syncd.yaml              optional; missing means every default
    DIR/connectors.d/*.yaml     extra specs; same `connector:` name overrides a shipped one
    DIR/integrations.d/*.yaml   one integration per file

Each file goes through the same stages: YAML (with positions) → JSON Schema
→ typed objects; integrations then meet the connector specs they name.  A
file's problems never stop the other files from being checked, so one run
of ``syncd validate`` lists everything.  Messages name a file as
``DIR/integrations.d/x.yaml`` with DIR spelled as the user gave it; shipped
specs are named by their real path.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from syncd._resources import shipped_connectors_dir
from syncd.config._checks import check_integration
from syncd.config._connector_spec import build_connector
from syncd.config._daemon_settings import (
    build_daemon_settings,
    cluster_problems,
    default_daemon_settings,
    resolve_references,
)
from syncd.config._errors import ConfigError, Problem
from syncd.config._integration import build_integration
from syncd.config._model import Config, ConnectorSpec, DaemonSettings, Integration, Side
from syncd.config._validate import validate_document
from syncd.config._yaml import YamlDoc, load_yaml, load_yaml_file, read_yaml_text

__all__ = ["DEFAULT_CONFIG_DIR", "ConnectorFile", "config_directory", "connector_files", "is_config_file", "load_config", "load_connector_file", "load_daemon_settings"]

DEFAULT_CONFIG_DIR = "/etc/syncd"
# Editor backups and swap files sit next to the real files; never load them.
_IGNORED_SUFFIXES = ("~", ".swp", ".swo", ".bak", ".orig", ".rej", ".tmp")


def config_directory(
    directory: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Path, str]:
    """The config directory (argument, else $SYNCD_CONFIG, else /etc/syncd).

    Returns the path and the spelling to show in messages.
    """
    env = os.environ if environ is None else environ
    given = str(directory) if directory is not None else env.get("SYNCD_CONFIG") or DEFAULT_CONFIG_DIR
    shown = given.rstrip("/") or ("/" if given.startswith("/") else ".")
    return Path(shown).expanduser(), shown


def _loadable_name(name: str) -> bool:
    return (name.endswith((".yaml", ".yml")) and not name.startswith(".")
            and not name.endswith(_IGNORED_SUFFIXES))


def _yaml_files(folder: Path) -> list[Path]:
    # Every entry with a loadable name, file or not: a directory or a broken
    # symbolic link there is reported when read, not skipped without a word.
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _loadable_name(p.name))


def is_config_file(config_dir: Path, path: Path) -> bool:
    """Whether :func:`load_config` of *config_dir* reads *path* (or would,
    were it there): what a change must touch to matter."""
    try:
        relative = path.relative_to(config_dir)
    except ValueError:
        return False
    parts = relative.parts
    if len(parts) == 1:  # a folder itself counts: one renamed into place holds new files
        return parts[0] in ("syncd.yaml", "syncd.yml", "connectors.d", "integrations.d")
    return len(parts) == 2 and parts[0] in ("connectors.d", "integrations.d") and _loadable_name(parts[1])


def _shown(shown_dir: str, *parts: str) -> str:
    return os.path.join(shown_dir, *parts)


def _document(path: Path, file: str, kind: str) -> tuple[YamlDoc, list[Problem], bool]:
    """One file through YAML and schema: the document, its problems, and
    whether the later stages (building, cross-file checks) may read it."""
    text, problems = read_yaml_text(path, file)
    if text is None:
        return YamlDoc(file, None, checkable=False), problems, False
    doc, found, buildable = _checked(kind, file, text)
    return doc, list(found), buildable


# The daemon loads the whole tree again on every reload; parsing and schema
# validation are most of that time (about 85 % at 1,000 integrations), and
# an unchanged file gives the same result. Keyed by the text itself, so an
# edit (or a file put back as it was) can never hit a stale entry. The
# documents are never mutated downstream. Memory: about 12 kB a file (the
# key positions kept for messages), 12 MB at 1,000 integrations.
@functools.lru_cache(maxsize=4096)
def _checked(kind: str, file: str, text: str) -> tuple[YamlDoc, tuple[Problem, ...], bool]:
    doc, problems = load_yaml(text, file)
    if not doc.checkable:
        return doc, tuple(problems), False
    if doc.data is None:
        noun = {"connector": "a connector spec", "integration": "an integration"}[kind]
        return doc, (*problems, Problem(file, 1, 1, f"the file is empty: expected {noun}")), False
    # A duplicate key is a problem, but the document (the later value
    # kept) is still checked: one typo must not hide the file's others.
    schema_problems = validate_document(kind, doc)
    return doc, (*problems, *schema_problems), not schema_problems


def _name(doc: YamlDoc, key: str) -> str | None:
    value = doc.data.get(key) if isinstance(doc.data, dict) else None
    return value if isinstance(value, str) else None


def _connector(path: Path, file: str) -> tuple[ConnectorSpec | None, YamlDoc, list[Problem]]:
    doc, problems, buildable = _document(path, file, "connector")
    if not buildable:
        return None, doc, problems
    spec, errors = build_connector(doc.data, source=file)
    problems += [doc.problem(e.key_path, e.message) for e in errors]
    return (None if problems else spec), doc, problems


def load_connector_file(path: Path | str, shown: str | None = None) -> ConnectorSpec:
    """One connector spec on its own (``syncd check`` of a spec being written)."""
    spec, _, problems = _connector(Path(path), shown or str(path))
    if problems or spec is None:
        raise ConfigError(_sorted(problems))
    return spec


@dataclass(frozen=True)
class ConnectorFile:
    """One connector spec file as read: its spec, or why there is none."""

    file: str  # as named in messages
    shipped: bool  # from syncd's own connectors.d, not the config directory's
    name: str | None  # its `connector:`, when the file says
    spec: ConnectorSpec | None  # None when the file has problems
    problems: tuple[Problem, ...] = ()
    duplicate: bool = False  # a second file of its folder with the same `connector:`


def _owners(named: Iterable[tuple[str | None, str]], keep: Mapping[str, str]) -> dict[str, str]:
    """For each name that (name, file) pairs define, the file that holds it:
    the one *keep* gives (where a running daemon has it) when it still does,
    else the first. Every other file defining the name is the one in error:
    while a daemon runs, that is the file just saved, not the one whose
    integration has been running all along."""
    files: dict[str, list[str]] = {}
    for name, file in named:
        if name is not None:
            files.setdefault(name, []).append(file)
    return {name: keep[name] if keep.get(name) in found else found[0] for name, found in files.items()}


def _read_folder(files: Iterable[tuple[Path, str]], shipped: bool,
                 keep: Mapping[str, str] | None = None) -> list[ConnectorFile]:
    # Names clash within one folder only: a user spec overriding a
    # shipped one is the intended way to change a shipped connector.
    read = []
    for path, file in files:
        spec, doc, problems = _connector(path, file)
        read.append((file, _name(doc, "connector"), spec, doc, problems))
    owners = _owners(((name, file) for file, name, *_ in read), keep or {})
    out = []
    for file, name, spec, doc, problems in read:
        duplicate = name is not None and owners[name] != file
        if name is not None and duplicate:
            problems.append(doc.problem(
                ("connector",), f"connector '{name}' is already defined in {owners[name]}"))
        out.append(ConnectorFile(file, shipped, name, None if problems else spec, tuple(problems), duplicate))
    return out


@dataclass
class _Connectors:
    """Connector specs by name, with where each name was defined."""

    specs: dict[str, ConnectorSpec] = field(default_factory=dict)
    unusable: set[str] = field(default_factory=set)  # defined, but the file is broken
    problems: list[Problem] = field(default_factory=list)

    def add_folder(self, files: Iterable[ConnectorFile]) -> None:
        for f in files:
            self.problems += f.problems
            if f.name is None or f.duplicate:
                continue
            if f.spec is None:
                self.specs.pop(f.name, None)
                self.unusable.add(f.name)
            else:
                self.specs[f.name] = f.spec
                self.unusable.discard(f.name)


def _local_files(config_dir: Path, shown_dir: str, keep: Mapping[str, str] | None = None) -> list[ConnectorFile]:
    return _read_folder(((p, _shown(shown_dir, "connectors.d", p.name))
                         for p in _yaml_files(config_dir / "connectors.d")), shipped=False, keep=keep)


def connector_files(
    directory: Path | str | None = None, *, environ: Mapping[str, str] | None = None, local: bool = True,
) -> list[ConnectorFile]:
    """Every connector spec file, shipped ones first, then the config
    directory's (*local* False: the shipped ones only), each with its spec
    or its problems: what ``syncd connectors`` lists, where one broken file
    must not hide the others. Raises FileNotFoundError or
    NotADirectoryError when the config directory is missing."""
    files = _read_folder(_shipped_files(), shipped=True)
    if local:
        config_dir, shown_dir = _existing_directory(directory, os.environ if environ is None else environ)
        files += _local_files(config_dir, shown_dir)
    return files


def _shipped_files() -> list[tuple[Path, str]]:
    try:
        folder = shipped_connectors_dir()
    except FileNotFoundError:
        return []
    return [(p, str(p)) for p in _yaml_files(folder)]


def _daemon(
    config_dir: Path, shown_dir: str, environ: Mapping[str, str]
) -> tuple[DaemonSettings | None, list[Problem]]:
    for name in ("syncd.yaml", "syncd.yml"):
        path = config_dir / name
        if os.path.lexists(path):  # a directory or a broken link there is a problem, not "no file"
            break
    else:
        return default_daemon_settings(config_dir, environ), []
    doc, problems = load_yaml_file(path, _shown(shown_dir, name))
    if not doc.checkable:
        return None, problems
    doc, unresolved = resolve_references(doc, config_dir, environ, shown_dir)
    # A reference that did not resolve is still its own text: the schema
    # would also call that text an invalid value, a second message for one mistake.
    missing = {p.key_path for p in unresolved}
    problems += unresolved + [p for p in validate_document("syncd", doc) if p.key_path not in missing]
    problems += cluster_problems(doc) if not problems else []
    if problems:
        return None, problems
    return build_daemon_settings(doc, config_dir, environ), []


def _with_defaults(integration: Integration, specs: Mapping[str, ConnectorSpec]) -> Integration:
    """Fill in settings the integration left out that the spec gives a default."""
    def side(s: Side) -> Side:
        spec = specs[s.connector]
        defaults = {n: d.default for n, d in spec.settings.items()
                    if d.default is not None and n not in s.settings}
        return replace(s, settings={**defaults, **s.settings}) if defaults else s

    return replace(integration, left=side(integration.left), right=side(integration.right))


def _sorted(problems: Iterable[Problem]) -> list[Problem]:
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (p.file, p.line, p.col, p.message))


def _existing_directory(directory: Path | str | None, env: Mapping[str, str]) -> tuple[Path, str]:
    path, shown_dir = config_directory(directory, env)
    if not path.exists():
        raise FileNotFoundError(f"config directory {shown_dir} does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"config directory {shown_dir} is not a directory")
    return path.absolute(), shown_dir


def load_daemon_settings(
    directory: Path | str | None = None, *, environ: Mapping[str, str] | None = None,
) -> DaemonSettings:
    """Only ``syncd.yaml``: where the running daemon listens, for the
    commands that talk to it, even while the rest of the tree is broken.
    Raises :class:`ConfigError` when syncd.yaml itself is invalid."""
    env = os.environ if environ is None else environ
    config_dir, shown_dir = _existing_directory(directory, env)
    daemon, problems = _daemon(config_dir, shown_dir, env)
    if problems or daemon is None:
        raise ConfigError(_sorted(problems))
    return daemon


def load_config(
    directory: Path | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    shipped: bool = True,
    defer_secrets: bool = False,
    running: Config | None = None,
) -> Config:
    """Load and check the whole tree; raise :class:`ConfigError` listing every problem.

    *environ* (default ``os.environ``) is where ``${env:…}`` and
    ``$CREDENTIALS_DIRECTORY`` are read; *shipped* False leaves out the
    connector specs that ship with syncd.  *defer_secrets*: an integration
    setting whose reference cannot be resolved is not a problem but an
    :class:`~syncd._secret.UnresolvedSecret`, which raises when used: for a
    command that only reads the state store, run where the daemon's
    credentials are not (``syncd status`` in an operator's shell). Raises
    FileNotFoundError or NotADirectoryError when the directory itself is
    missing. *running*: the config a daemon runs now, which it reloads; a
    name two files define stays with the file that defines it there, and
    the other file (the one just saved) is the one in error.
    """
    env = os.environ if environ is None else environ
    config_dir, shown_dir = _existing_directory(directory, env)
    daemon, problems = _daemon(config_dir, shown_dir, env)

    connectors = _Connectors()
    if shipped:
        connectors.add_folder(_read_folder(_shipped_files(), shipped=True))
    connectors.add_folder(_local_files(
        config_dir, shown_dir, {n: c.source for n, c in running.connectors.items()} if running else None))
    problems += connectors.problems

    integrations: dict[str, Integration] = {}
    documents = []
    for p in _yaml_files(config_dir / "integrations.d"):
        file = _shown(shown_dir, "integrations.d", p.name)
        documents.append((p, file, *_document(p, file, "integration")))
    owners = _owners(((_name(doc, "integration"), file) for _, file, doc, *_ in documents),
                     {n: i.source for n, i in running.integrations.items()} if running else {})
    for p, file, doc, file_problems, buildable in documents:
        problems += file_problems
        name = _name(doc, "integration")
        if name is not None and owners[name] != file:
            problems.append(doc.problem(
                ("integration",), f"integration '{name}' is already defined in {owners[name]}"))
            name = None  # still check the rest of the file, but keep the other
        if not buildable:
            continue
        integration, built = build_integration(doc, config_dir, env, shown_dir, defer_secrets=defer_secrets)
        checked = check_integration(doc, connectors.specs, connectors.unusable)
        problems += built + checked
        if integration is not None and name is not None and not file_problems:
            integrations[name] = integration

    if problems or daemon is None:
        raise ConfigError(_sorted(problems))
    return Config(
        directory=config_dir,
        daemon=daemon,
        connectors=dict(connectors.specs),
        integrations={n: _with_defaults(i, connectors.specs) for n, i in integrations.items()},
        shown_directory=shown_dir,
    )
