"""Metrics and health: ``metrics: {enabled: true}`` and the daemon listens.

An operator points Prometheus at ``metrics.listen``: the counts scraped
after a cycle are the counts of what happened (the cycle's summary, the
requests the fake apps saw), a bad reload flips the config gauges and a good
one flips them back, and ``/-/healthy`` and ``/-/ready`` say what a
load balancer or systemd needs. Every metric exposed is documented.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import httpx
import pytest
from daemon_support import Daemon, edit
from e2e_support import REPO, Pair
from prometheus_client.parser import text_string_to_metric_families

METRICS = "metrics: {enabled: true, listen: '127.0.0.1:0'}\n"  # port 0: a free one, logged at start
QUICK_RETRIES = {"max_attempts": 3, "backoff_initial": 0.05, "backoff_max": 0.1}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def listening(p: Pair, daemon) -> tuple[Daemon, str]:
    """The daemon started with metrics on; (it, its base URL)."""
    d = daemon(p)
    [started] = d.named("syncd started")
    return d, started["metrics"]


def scrape(base: str) -> tuple[Samples, dict[str, str]]:
    """Every sample of ``/metrics`` by (name, labels), and each family's type."""
    response = httpx.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of *name* with these labels (and any others)."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)


def test_a_scrape_after_a_cycle_counts_what_happened(pair, daemon) -> None:
    p = pair(left_n=6, right_n=2)
    p.daemon_settings += METRICS
    p.write(extra="schedule: every 1 hour\n")
    p.connector(retry=QUICK_RETRIES, drop=("create_batch", "update_batch"))
    p.left.faults.add(status=500, method="GET", path_prefix="/cursor/contacts", times=1)  # retried
    p.right.faults.add(status=422, method="POST", path_prefix="/contacts", times=2)  # two records fail
    d, base = listening(p, daemon)
    d.wait_for("cycle finished")
    entry = d.integration("pair")
    summary = entry["last_summary"]
    assert summary["errors"] == 2 and summary["created"]["right"] == 4, summary
    samples, types = scrape(base)

    # one cycle, with the outcome the status gives it
    assert value(samples, "syncd_cycles_total", integration="pair", outcome=entry["last_result"]) == 1
    assert total(samples, "syncd_cycles_total") == 1
    # records, by side, as the cycle's summary counts them
    for side in ("left", "right"):
        assert value(samples, "syncd_records_read_total", integration="pair", side=side) == summary["read"][side]
        assert value(samples, "syncd_records_created_total", integration="pair", side=side) == \
            summary["created"][side]
        assert value(samples, "syncd_records_updated_total", integration="pair", side=side) == \
            summary["updated"][side]
    assert summary["read"] == {"left": 6, "right": 2}
    # the two refused writes, by class
    assert value(samples, "syncd_record_errors_total", integration="pair", **{"class": "http_4xx"}) == 2
    assert total(samples, "syncd_record_errors_total") == 2
    # every request either app saw, by status; the 500 was retried
    seen = len(p.left.requests) + len(p.right.requests)
    assert total(samples, "syncd_http_requests_total", connector="sampleapp") == seen
    assert value(samples, "syncd_http_requests_total", connector="sampleapp", status="500") == 1
    assert value(samples, "syncd_http_requests_total", connector="sampleapp", status="422") == 2
    assert value(samples, "syncd_http_retries_total", connector="sampleapp") == 1
    # gauges read from the daemon's state at scrape time
    assert value(samples, "syncd_integration_last_success_timestamp_seconds", integration="pair") == \
        entry["last_end"]
    assert value(samples, "syncd_integration_up", integration="pair") == 1
    assert value(samples, "syncd_config_last_reload_successful") == 1
    assert types["syncd_cycles"] == "counter" and types["syncd_config_file_valid"] == "gauge"
    assert d.stop() == 0


def test_reload_gauges_flip_with_a_bad_then_a_good_reload(pair, daemon) -> None:
    p = pair(left_n=2)
    p.daemon_settings += METRICS
    p.write(extra="schedule: every 1 hour\n")
    d, base = listening(p, daemon)
    d.wait_for("cycle finished")
    integration_file = f"{p.config}/integrations.d/pair.yaml"
    samples, _ = scrape(base)
    assert value(samples, "syncd_config_last_reload_successful") == 1
    first_success = value(samples, "syncd_config_last_reload_success_timestamp_seconds")
    assert first_success == d.status()["started_at"]  # the start-up load
    assert value(samples, "syncd_config_file_valid", file=integration_file) == 1
    assert value(samples, "syncd_config_file_valid", file=f"{p.config}/syncd.yaml") == 1

    edit(p.config / "integrations.d" / "pair.yaml", "every 1 hour", "every 0 minutes")
    assert d.cli("reload").returncode == 78
    samples, _ = scrape(base)
    assert value(samples, "syncd_config_last_reload_successful") == 0
    assert value(samples, "syncd_config_last_reload_success_timestamp_seconds") == first_success
    assert value(samples, "syncd_config_file_valid", file=integration_file) == 0
    assert value(samples, "syncd_config_file_valid", file=f"{p.config}/syncd.yaml") == 1

    edit(p.config / "integrations.d" / "pair.yaml", "every 0 minutes", "every 2 hours")
    reloaded = d.cli("reload")
    assert reloaded.returncode == 0, reloaded.stderr
    samples, _ = scrape(base)
    assert value(samples, "syncd_config_last_reload_successful") == 1
    assert value(samples, "syncd_config_last_reload_success_timestamp_seconds") == d.status()["last_reload"]["at"]
    assert value(samples, "syncd_config_file_valid", file=integration_file) == 1
    assert d.stop() == 0


def test_healthy_while_it_runs_ready_until_it_stops(pair, daemon) -> None:
    p = pair(left_n=3)
    p.daemon_settings += METRICS
    p.write(extra="schedule: every 1 hour\n")
    d, base = listening(p, daemon)
    d.wait_for("cycle finished")
    assert httpx.get(f"{base}/-/healthy", timeout=10).status_code == 200
    assert httpx.get(f"{base}/-/ready", timeout=10).status_code == 200
    # a cycle that takes a while to reach its checkpoint keeps the daemon stopping
    p.left.faults.add(delay=3.0, method="GET", path_prefix="/cursor/contacts")
    edit(p.config / "integrations.d" / "pair.yaml", "every 1 hour", "every 1 second")
    d.wait_until(lambda: d.integration("pair")["state"] == "running", what="a cycle running")
    d.send(signal.SIGTERM)
    d.wait_for("stopping: running cycles end at their next checkpoint")
    ready = httpx.get(f"{base}/-/ready", timeout=10)
    assert (ready.status_code, ready.text) == (503, "syncd is not ready (starting or stopping)\n")
    assert httpx.get(f"{base}/-/healthy", timeout=10).status_code == 200
    assert d.stop() == 0


@pytest.mark.parametrize("key", ["metrics", "webhooks"])
def test_a_port_in_use_stops_the_start_naming_the_listen_key(pair, key: str) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    try:
        p = pair()
        p.daemon_settings += f"{key}: {{enabled: true, listen: '127.0.0.1:{port}'}}\n"
        p.write()
        result = subprocess.run([sys.executable, "-m", "syncd", "run", "-c", str(p.config)],
                                capture_output=True, text=True, env=p.env(), timeout=60, cwd=REPO)
    finally:
        taken.close()
    assert result.returncode == 78, result.stderr
    lines = (p.config / "syncd.yaml").read_text().splitlines()
    [(line, col)] = [(n, text.index(f"'127.0.0.1:{port}'") + 1)
                     for n, text in enumerate(lines, 1) if text.startswith(f"{key}:")]
    assert result.stderr == (
        f"{p.config}/syncd.yaml:{line}:{col}: error: cannot listen on 127.0.0.1:{port} for {key}: the port is "
        f"already in use by another process; set {key}.listen in syncd.yaml to a free host:port (or stop what "
        f"listens there), then start syncd again ({key}.listen)\n")
    # nothing half-started: no state database, no control socket
    assert not (p.config / "state" / "syncd.db").exists()


def test_every_metric_exposed_is_documented(pair, daemon) -> None:
    p = pair(left_n=2)
    p.daemon_settings += METRICS
    p.write(extra="schedule: every 1 hour\n")
    d, base = listening(p, daemon)
    d.wait_for("cycle finished")
    _, types = scrape(base)
    exposed = {f"{name}_total" if kind == "counter" else name for name, kind in types.items()}
    text = (REPO / "docs" / "daemon.md").read_text()
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(syncd_[a-z_]+)`", section, re.M))
    assert exposed == documented, (sorted(exposed - documented), sorted(documented - exposed))
    assert d.stop() == 0
