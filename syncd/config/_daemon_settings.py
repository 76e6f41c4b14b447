"""Build :class:`DaemonSettings` from a schema-valid ``syncd.yaml``.

Any string in syncd.yaml may be a ``${env:…}``/``${file:…}``/``${cred:…}``
reference (a state path from the environment, say).  The settings are
typed (paths, addresses), so a reference resolves to its plain value here
rather than to a :class:`Secret`; and references are resolved *before*
schema validation, so that the schema checks the value (a listen address
read from the environment must still look like one). The one secret,
``state.url`` with ``state.password``, becomes a :class:`Secret` once
built; its schema marks it ``writeOnly``, so no schema message quotes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from urllib.parse import quote, urlsplit, urlunsplit

from syncd._secret import Secret
from syncd.config._defaults import schema_defaults
from syncd.config._errors import KeyPath, Problem
from syncd.config._model import BudgetTiers, DaemonSettings
from syncd.config._secrets import SecretRefError, resolve_reference
from syncd.config._yaml import YamlDoc

__all__ = ["build_daemon_settings", "cluster_problems", "default_daemon_settings", "default_state_path", "resolve_references"]

# Keys syncd.yaml leaves out take the schema's defaults (see _defaults).
_DEFAULTS = schema_defaults("syncd")


def default_state_path(config_dir: Path, environ: Mapping[str, str]) -> Path:
    """``$STATE_DIRECTORY/state.db`` under systemd (StateDirectory=; the
    config directory is read-only there), else ``state.db`` in the config dir."""
    state_dirs = environ.get("STATE_DIRECTORY", "")
    first = state_dirs.split(":")[0]
    return Path(first) / "state.db" if first else config_dir / "state.db"


def default_daemon_settings(config_dir: Path, environ: Mapping[str, str]) -> DaemonSettings:
    return DaemonSettings(state_path=default_state_path(config_dir, environ))


def resolve_references(
    doc: YamlDoc, config_dir: Path, environ: Mapping[str, str], shown_dir: str
) -> tuple[YamlDoc, list[Problem]]:
    """The document with every reference replaced by its plain value."""
    problems: list[Problem] = []
    data = _resolve(doc, doc.data, (), config_dir, environ, shown_dir, problems)
    return dataclasses.replace(doc, data=data), problems


def build_daemon_settings(doc: YamlDoc, config_dir: Path, environ: Mapping[str, str]) -> DaemonSettings:
    """Typed daemon settings from a resolved, schema-valid document.

    Relative paths are resolved against *config_dir*.
    """
    data: dict[str, Any] = doc.data or {}

    def section(name: str) -> dict[str, Any]:
        return _DEFAULTS.fill(f"/properties/{name}", data.get(name) or {})

    def path(value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else config_dir / p

    state, control = section("state"), section("control")
    metrics, webhooks, log = section("metrics"), section("webhooks"), section("log")
    socket_at = _at(doc, ("control", "socket")) if "socket" in control else ""
    raw_metrics = data.get("metrics") or {}
    metrics_at = _at(doc, ("metrics", "listen" if "listen" in raw_metrics else "enabled")) \
        if raw_metrics else ""
    raw_webhooks = data.get("webhooks") or {}
    webhooks_at = _at(doc, ("webhooks", "listen" if "listen" in raw_webhooks else "enabled")) \
        if raw_webhooks else ""
    budgets, cluster, reload = section("budgets"), section("cluster"), section("reload")
    return DaemonSettings(
        state_path=path(state["path"]) if "path" in state else default_state_path(config_dir, environ),
        control_socket=path(control["socket"]) if "socket" in control else None,
        control_socket_at=socket_at,
        metrics_listen=metrics["listen"],
        metrics_listen_at=metrics_at,
        metrics_enabled=bool(metrics["enabled"]),
        webhooks_listen=webhooks["listen"],
        webhooks_enabled=bool(webhooks["enabled"]),
        webhooks_listen_at=webhooks_at,
        webhooks_max_body_bytes=int(webhooks["max_body_bytes"]),
        log_level=log["level"],
        log_format=log["format"],
        budgets=BudgetTiers(bulk_below_percent=float(budgets["bulk_below_percent"]),
                            scheduled_below_percent=float(budgets["scheduled_below_percent"])),
        state_url=_state_url(state["url"], state.get("password")) if "url" in state else None,
        token_key=Secret(state["token_key"], reference="state.token_key") if "token_key" in state else None,
        state_timeout=float(state["timeout"]),
        cluster_lease_seconds=float(cluster["lease_seconds"]),
        cluster_name=cluster.get("name"),
        reload_quiet_seconds=float(reload["quiet_seconds"]),
        reload_max_seconds=max(float(reload["max_seconds"]), float(reload["quiet_seconds"])),
    )


def cluster_problems(doc: YamlDoc) -> list[Problem]:
    """``cluster:`` beside a SQLite state: the leases live in PostgreSQL, and
    a SQLite file is one daemon's (said here, where the key is known, rather
    than by the schema, which could only point at the document's start)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    state = data.get("state") if isinstance(data.get("state"), dict) else {}
    if "cluster" in data and "url" not in (state or {}):
        return [doc.problem(("cluster",), "cluster: needs state.url (PostgreSQL); a SQLite state file "
                                          "serves one daemon")]
    return []


def _state_url(url: str, password: str | None) -> Secret:
    """state.url with state.password put in (percent-encoded): after the URL's
    user, or as libpq's ``password`` parameter when the URL names no user;
    a password the URL holds already wins."""
    parts = urlsplit(url)
    if password is not None and parts.password is None and "password=" not in parts.query:
        userinfo, at, host = parts.netloc.rpartition("@")
        if at:
            url = urlunsplit(parts._replace(netloc=f"{userinfo}:{quote(password, safe='')}@{host}"))
        else:
            query = "&".join(q for q in (parts.query, f"password={quote(password, safe='')}") if q)
            url = urlunsplit(parts._replace(query=query))
    return Secret(url, reference="state.url")


def _at(doc: YamlDoc, path: KeyPath) -> str:
    line, col = doc.position(path)
    return f"{doc.file}:{line}:{col}"


def _resolve(
    doc: YamlDoc, value: Any, path: KeyPath, config_dir: Path,
    environ: Mapping[str, str], shown_dir: str, problems: list[Problem],
) -> Any:
    if isinstance(value, str):
        try:
            secret = resolve_reference(value, config_dir, environ, shown_dir)
        except SecretRefError as e:
            problems.append(doc.problem(path, str(e)))
            return value
        return value if secret is None else secret.reveal()
    if isinstance(value, dict):
        return {
            k: _resolve(doc, v, (*path, k), config_dir, environ, shown_dir, problems)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _resolve(doc, v, (*path, i), config_dir, environ, shown_dir, problems)
            for i, v in enumerate(value)
        ]
    return value
