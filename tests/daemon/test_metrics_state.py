"""Gauges read from the status at scrape time: the keys other parts of the
daemon add (budgets, bulk sync, open errors, paused) become series as soon
as the status has them, and an account two integrations share is one series.

The supervisor here is a stand-in holding a status dict of the shared
contract: the parts that fill those keys are built beside this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from syncd.daemon._metrics import Metrics


@dataclass
class _Config:
    directory: Path
    shown_directory: str = ""


@dataclass
class _Supervisor:
    config: _Config
    entries: list[dict[str, Any]]
    last_reload: Any = None
    last_good_load: float = 1_800_000_000.0
    store: Any = None
    on_cycle_end: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def status(self) -> dict[str, Any]:
        return {"integrations": self.entries, **self.extra}


def _scrape(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.expose().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_budget_bulk_and_open_errors_from_the_status(tmp_path: Path) -> None:
    (tmp_path / "syncd.yaml").write_text("{}\n")
    account = {"account": "hubspot@https://api.hubapi.com#ab12", "connector": "hubspot", "used": 850,
               "limit": 1000, "percent": 85.0, "window_resets_at": None, "source": "api"}
    entries = [
        {"name": "a", "state": "waiting", "open_errors": 3, "paused": "API budget of hubspot at 85%",
         "budget": [account], "bulk": {"state": "running", "done": 40, "total": 100, "failed": 1, "rate": 12.5}},
        {"name": "b", "state": "running", "open_errors": 0, "paused": None, "budget": [account], "bulk": None},
    ]
    metrics = Metrics(_Supervisor(_Config(tmp_path, "cfg"), entries))
    samples = _scrape(metrics)
    labels = frozenset({"connector": "hubspot", "account": account["account"]}.items())
    assert samples[("syncd_budget_used_requests", labels)] == 850
    assert samples[("syncd_budget_limit_requests", labels)] == 1000
    assert samples[("syncd_budget_used_ratio", labels)] == 0.85
    assert sum(1 for name, _ in samples if name == "syncd_budget_used_requests") == 1  # shared: once
    a, b = frozenset({("integration", "a")}), frozenset({("integration", "b")})
    assert samples[("syncd_record_errors_open", a)] == 3 and samples[("syncd_record_errors_open", b)] == 0
    assert samples[("syncd_integration_paused", a)] == 1 and samples[("syncd_integration_paused", b)] == 0
    assert samples[("syncd_integration_running", b)] == 1
    assert samples[("syncd_bulk_running", a)] == 1 and samples[("syncd_bulk_done_records", a)] == 40
    assert samples[("syncd_bulk_total_records", a)] == 100
    assert samples[("syncd_bulk_rate_records_per_second", a)] == 12.5
    assert ("syncd_bulk_running", b) not in samples  # no bulk sync yet
    assert samples[("syncd_config_file_valid", frozenset({("file", "cfg/syncd.yaml")}))] == 1


def test_without_those_keys_the_families_are_there_without_series(tmp_path: Path) -> None:
    metrics = Metrics(_Supervisor(_Config(tmp_path), [{"name": "a", "state": "waiting"}]))
    text = metrics.expose().decode()
    families = {f.name: f.samples for f in text_string_to_metric_families(text)}
    for name in ("syncd_budget_used_requests", "syncd_bulk_running", "syncd_record_errors_open",
                 "syncd_integration_paused"):
        assert families[name] == [], name
