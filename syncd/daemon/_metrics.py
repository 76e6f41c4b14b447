"""The daemon's Prometheus metrics, on a registry of its own.

Two kinds, as Prometheus means them:

- counters, incremented where the event happens: a cycle's end (the
  runner's ``on_cycle_end`` hook: cycles by outcome, records read, written,
  skipped, errors by class) and every HTTP request any account makes
  (:meth:`~syncd.connector.AccountRegistry.listen`);
- gauges, read from the supervisor's state at scrape time by a collector
  (:class:`_StateCollector`), so they can never drift from what
  ``syncd status`` says: config reloads, open errors, budgets, bulk
  progress. Keys of the status that another part adds later (``budget``,
  ``bulk``, ``open_errors``, ``paused``) are read with ``.get()``: absent,
  the family is still exposed, without samples.

Not the global registry: a test or a library in the same process must
not see (or add to) the daemon's series. Every name is documented in
``docs/daemon.md``; a test checks the list against a real scrape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import structlog
from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from syncd.config import Config
from syncd.connector import Account
from syncd.sync import CycleSummary

if TYPE_CHECKING:
    from syncd.daemon._runner import RunnerStatus
    from syncd.daemon._supervisor import Supervisor

__all__ = ["CONTENT_TYPE", "Metrics"]

log = structlog.get_logger("syncd.daemon")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SIDES = ("left", "right")
# "FILE:LINE:COL: message": the file a reload error is in
_FILE_OF_ERROR = re.compile(r"^(?P<file>.+?):\d+:\d+: ")
# answers a connector retries (syncd/connector/_http.py): 429, 5xx, none at all
_RETRIED = frozenset({429})


def _status_label(status: int | None) -> str:
    return "none" if status is None else str(status)


def _error_class(status: int | None) -> str:
    """A record error's class: the HTTP status class the app answered, or
    ``no_answer`` (a timeout, a refused connection, an unreadable answer)."""
    return "no_answer" if status is None else f"http_{status // 100}xx"


class Metrics:
    """Every metric of one daemon; :meth:`expose` is the body of ``/metrics``."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        # No `_created` series beside each counter: in the text format they
        # are gauges of their own (syncd_records_created_created…) that no
        # one alerts on. A switch of the library's, for the process: the
        # daemon's process is the daemon's.
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cycles = Counter("syncd_cycles", "Cycles ended, by integration and outcome (the status's "
                              "last_result: ok, errors, aborted, stopped, failed).",
                              ["integration", "outcome"], registry=r)
        self.read = Counter("syncd_records_read", "Records read, by integration and side.",
                            ["integration", "side"], registry=r)
        self.created = Counter("syncd_records_created", "Records created, by integration and the side "
                               "written to.", ["integration", "side"], registry=r)
        self.updated = Counter("syncd_records_updated", "Records updated, by integration and the side "
                               "written to.", ["integration", "side"], registry=r)
        self.deleted = Counter("syncd_records_deleted", "Records deleted, by integration and the side "
                               "written to.", ["integration", "side"], registry=r)
        self.skipped = Counter("syncd_records_skipped", "Records not written, by integration and reason: "
                               "rules (a rule's then: skip), create_policy (create: does not allow it), "
                               "no_match_key (no value to match on).", ["integration", "reason"], registry=r)
        self.unchanged = Counter("syncd_records_unchanged", "Records read that needed no write.",
                                 ["integration"], registry=r)
        self.conflicts = Counter("syncd_conflicts", "Conflicts settled, by integration.",
                                 ["integration"], registry=r)
        self.errors = Counter("syncd_record_errors", "Records that could not be read or written, by "
                              "integration and class (http_4xx, http_5xx, no_answer).",
                              ["integration", "class"], registry=r)
        self.requests = Counter("syncd_http_requests", "HTTP requests to the apps, by connector and the "
                                "status answered (none: no answer, e.g. a timeout).",
                                ["connector", "status"], registry=r)
        self.retries = Counter("syncd_http_retries", "Answers the connector retries after a backoff "
                               "(429, 5xx, none), by connector: the last attempt of a request counts too.",
                               ["connector"], registry=r)
        self.webhooks = Counter("syncd_webhooks", "Webhook calls received, by integration, side and outcome: "
                                "accepted (202), not_found (404), too_large (413), bad_signature and stale "
                                "(401), malformed (400), unavailable (503: starting or stopping). A path naming no integration of the config counts "
                                "as integration and side \"(unknown)\".", ["integration", "side", "outcome"],
                                registry=r)
        self.webhook_rounds = Counter("syncd_webhook_rounds", "Webhook rounds (the records webhooks named, "
                                      "synced together), by integration and outcome: ok, failed (the app "
                                      "refused or could not be reached), dropped (the integration stopped).",
                                      ["integration", "outcome"], registry=r)
        self.webhook_records = Counter("syncd_webhook_records", "Records synced by webhook rounds (after "
                                       "coalescing), by integration.", ["integration"], registry=r)
        self.last_success: dict[str, float] = {}
        r.register(_StateCollector(self))

    # --- events --------------------------------------------------------------

    def on_request(self, account: Account, status: int | None, headers: httpx.Headers | None) -> None:
        connector = account.connector
        self.requests.labels(connector, _status_label(status)).inc()
        if status is None or status in _RETRIED or status >= 500:
            self.retries.labels(connector).inc()

    def on_webhook(self, integration: str, side: str, outcome: str) -> None:
        self.webhooks.labels(integration, side, outcome).inc()

    def on_webhook_round(self, integration: str, outcome: str, records: int) -> None:
        self.webhook_rounds.labels(integration, outcome).inc()
        if outcome == "ok":
            self.webhook_records.labels(integration).inc(records)

    def on_cycle_end(self, name: str, status: RunnerStatus, summary: CycleSummary | None) -> None:
        """After every cycle of a runner; never raises (a metric must not break a cycle)."""
        try:
            self._count_cycle(name, status, summary)
        except Exception:  # a bug here is logged, and the daemon goes on
            log.exception("could not count the cycle in the metrics", integration=name)

    def _count_cycle(self, name: str, status: RunnerStatus, summary: CycleSummary | None) -> None:
        outcome = status.last_result or "failed"
        self.cycles.labels(name, outcome).inc()
        if outcome in ("ok", "errors") and status.last_end is not None:
            self.last_success[name] = status.last_end
        if summary is None:
            return
        for side in _SIDES:
            self.read.labels(name, side).inc(summary.read.get(side, 0))
            self.created.labels(name, side).inc(summary.created.get(side, 0))
            self.updated.labels(name, side).inc(summary.updated.get(side, 0))
            self.deleted.labels(name, side).inc(summary.deleted.get(side, 0))
        self.skipped.labels(name, "rules").inc(summary.skipped)
        self.skipped.labels(name, "create_policy").inc(summary.not_created)
        self.skipped.labels(name, "no_match_key").inc(summary.no_match_key)
        self.unchanged.labels(name).inc(summary.unchanged)
        self.conflicts.labels(name).inc(summary.conflicts)
        if summary.errors:
            for cls, n in self._error_classes(name, summary.errors, status.last_start).items():
                self.errors.labels(name, cls).inc(n)

    def _error_classes(self, name: str, count: int, since: float | None) -> dict[str, int]:
        """The classes of the cycle's *count* record errors, from the state
        store (the summary only counts them); what the store cannot say is
        ``unknown``."""
        classes: dict[str, int] = {}
        # resolved ones too: a later step of the same cycle may have resolved one already
        rows = self.supervisor.store.errors(name, unresolved=False, limit=max(count, 1) * 2)
        for row in rows:
            if since is not None and row.at is not None and row.at.timestamp() < since - 1:
                continue  # an older error, not failed again in this cycle
            cls = _error_class(row.status)
            classes[cls] = classes.get(cls, 0) + 1
            if sum(classes.values()) >= count:
                break
        missing = count - sum(classes.values())
        if missing > 0:
            classes["unknown"] = classes.get("unknown", 0) + missing
        return classes

    # --- scrape --------------------------------------------------------------

    def expose(self) -> bytes:
        return generate_latest(self.registry)


def _config_files(config: Config) -> list[str]:
    """Every YAML file of the running tree, named as in error messages."""
    shown = config.shown_directory or str(config.directory)
    files = [f"{shown}/{p.name}" for p in (config.directory / n for n in ("syncd.yaml", "syncd.yml"))
             if p.is_file()]
    for folder in ("connectors.d", "integrations.d"):
        path = config.directory / folder
        if path.is_dir():
            files += [f"{shown}/{folder}/{p.name}" for p in sorted(path.iterdir())
                      if p.suffix in (".yaml", ".yml") and not p.name.startswith(".")]
    return files


class _StateCollector(Collector):
    """Gauges read from the supervisor at each scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Any]:
        return []  # unknown until a scrape: nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        supervisor = self.metrics.supervisor
        status = supervisor.status()
        yield from self._config(supervisor)
        entries: list[dict[str, Any]] = status.get("integrations", [])

        def family(name: str, doc: str, labels: list[str],
                   values: Callable[[dict[str, Any]], Iterable[tuple[list[str], float]]]) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=labels)
            for entry in entries:
                for label_values, value in values(entry):
                    g.add_metric(label_values, value)
            return g

        def one(key: str) -> Callable[[dict[str, Any]], Iterable[tuple[list[str], float]]]:
            def values(entry: dict[str, Any]) -> Iterable[tuple[list[str], float]]:
                value = entry.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    yield [entry["name"]], float(value)
            return values

        yield family("syncd_integration_up", "1 while the integration is enabled and its runner "
                     "not stopped, else 0.", ["integration"],
                     lambda e: [([e["name"]], float(e.get("state") in ("waiting", "running")))])
        yield family("syncd_integration_running", "1 while a cycle of the integration runs.", ["integration"],
                     lambda e: [([e["name"]], float(e.get("state") == "running"))])
        yield family("syncd_integration_failures_in_a_row", "Cycles failed or aborted since the last "
                     "one that completed.", ["integration"], one("failures_in_a_row"))
        yield family("syncd_integration_paused", "1 while scheduled cycles are held back by the API "
                     "budget (status paused), else 0.", ["integration"],
                     lambda e: [([e["name"]], float(bool(e.get("paused"))))] if "paused" in e else [])
        success = GaugeMetricFamily("syncd_integration_last_success_timestamp_seconds",
                                    "When the integration's last completed cycle ended (Unix time).",
                                    labels=["integration"])
        for name, at in sorted(self.metrics.last_success.items()):
            success.add_metric([name], at)
        yield success
        yield family("syncd_record_errors_open", "Record errors not yet resolved (syncd errors).",
                     ["integration"], one("open_errors"))
        yield from self._bulk(entries)
        yield from self._budget(entries)
        yield from self._owners(supervisor, status)

    def _owners(self, supervisor: Supervisor, status: dict[str, Any]) -> Iterator[GaugeMetricFamily]:
        """Who runs each integration (several daemons; on SQLite this daemon runs them all)."""
        owned = GaugeMetricFamily("syncd_integration_owned", "1 when this daemon runs the integration (holds "
                                  "its lease), else 0.", labels=["integration"])
        info = GaugeMetricFamily("syncd_integration_owner_info", "1, labelled with the host and pid of the "
                                 "daemon that runs the integration (absent while nobody holds it).",
                                 labels=["integration", "host", "pid"])
        expires = GaugeMetricFamily("syncd_integration_lease_expires_timestamp_seconds", "When the "
                                    "integration's lease runs out unless renewed (Unix time, the database's "
                                    "clock; absent on SQLite or while nobody holds it).", labels=["integration"])
        for entry in status.get("integrations", []):
            name, owner = entry["name"], entry.get("owner")
            owned.add_metric([name], float(entry.get("enabled", False) and supervisor.owner.owns(name)))
            if owner is not None:
                info.add_metric([name, str(owner["host"]), str(owner["pid"])], 1.0)
                if owner.get("lease_expires") is not None:
                    expires.add_metric([name], float(owner["lease_expires"]))
        yield owned
        yield info
        yield expires
        cluster = status.get("cluster")
        daemons = GaugeMetricFamily("syncd_cluster_daemons", "Live daemons sharing the integrations (1 on "
                                    "SQLite).")
        daemons.add_metric([], float(len(cluster["members"])) if cluster is not None else 1.0)
        yield daemons

    def _config(self, supervisor: Supervisor) -> Iterator[GaugeMetricFamily]:
        reload = supervisor.last_reload
        ok = reload is None or reload.ok
        yield GaugeMetricFamily("syncd_config_last_reload_successful",
                                "1 when the last config load (at start-up or a reload) was valid, else 0.",
                                value=float(ok))
        yield GaugeMetricFamily("syncd_config_last_reload_success_timestamp_seconds",
                                "When the config was last loaded successfully (Unix time).",
                                value=supervisor.last_good_load)
        broken = set()
        if reload is not None and not reload.ok:
            for error in reload.errors:
                match = _FILE_OF_ERROR.match(error)
                if match:
                    broken.add(match["file"])
        valid = GaugeMetricFamily("syncd_config_file_valid", "Per config file: 0 when the last reload "
                                  "found an error in it, else 1.", labels=["file"])
        for file in sorted(set(_config_files(supervisor.config)) | broken):
            valid.add_metric([file], float(file not in broken))
        yield valid

    def _bulk(self, entries: list[dict[str, Any]]) -> Iterator[GaugeMetricFamily]:
        families = {key: GaugeMetricFamily(f"syncd_bulk_{key}", doc, labels=["integration"]) for key, doc in (
            ("running", "1 while a bulk sync of the integration runs."),
            ("done_records", "Records the current or last bulk sync has done."),
            ("total_records", "Records the current or last bulk sync has to do."),
            ("failed_records", "Records the current or last bulk sync could not write."),
            ("rate_records_per_second", "The current or last bulk sync's rate."),
        )}
        for entry in entries:
            bulk = entry.get("bulk")
            if not isinstance(bulk, dict):
                continue
            name = [entry["name"]]
            families["running"].add_metric(name, float(bulk.get("state") == "running"))
            for key, field in (("done_records", "done"), ("total_records", "total"),
                               ("failed_records", "failed"), ("rate_records_per_second", "rate")):
                value = bulk.get(field)
                if isinstance(value, (int, float)):
                    families[key].add_metric(name, float(value))
        yield from families.values()

    def _budget(self, entries: list[dict[str, Any]]) -> Iterator[GaugeMetricFamily]:
        used = GaugeMetricFamily("syncd_budget_used_requests", "Requests counted against an account's "
                                 "API budget in its current window.", labels=["connector", "account"])
        limit = GaugeMetricFamily("syncd_budget_limit_requests", "An account's API budget per window "
                                  "(accounts with a limit only).", labels=["connector", "account"])
        ratio = GaugeMetricFamily("syncd_budget_used_ratio", "The share of an account's API budget used "
                                  "(0 to 1; accounts with a limit only).", labels=["connector", "account"])
        seen: set[str] = set()  # an account two integrations share is one series
        for entry in entries:
            for account in entry.get("budget") or []:
                if not isinstance(account, dict) or account.get("account") in seen:
                    continue
                seen.add(str(account.get("account")))
                labels = [str(account.get("connector", "")), str(account.get("account", ""))]
                if isinstance(account.get("used"), (int, float)):
                    used.add_metric(labels, float(account["used"]))
                if isinstance(account.get("limit"), (int, float)):
                    limit.add_metric(labels, float(account["limit"]))
                if isinstance(account.get("percent"), (int, float)):
                    ratio.add_metric(labels, float(account["percent"]) / 100)
        yield from (used, limit, ratio)

