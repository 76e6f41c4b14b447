"""End-to-end helpers: two sample apps joined by an integration, and the real ``syncd``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from syncd.sampleapp import AuthMode, RequestRecord, SampleApp, sample_integration, write_sample_config

REPO = Path(__file__).resolve().parents[2]
LEFT_TOKEN = "left-secret-token-0123"
RIGHT_TOKEN = "right-secret-token-4567"


@dataclass
class Run:
    """One ``syncd`` run: its exit code and its summary (None if it printed none)."""

    returncode: int
    summary: dict[str, Any] | None
    stdout: str
    stderr: str


@dataclass
class Pair:
    """Two fake apps joined by one integration in a config directory."""

    left: SampleApp
    right: SampleApp
    config: Path
    name: str = "pair"
    # more of syncd.yaml; debug logs, so that the secret scan of daemon logs sees everything
    daemon_settings: str = "log: {level: debug}\n"

    def beside(self, sample_app: Any, *, name: str, n: int, seed: int) -> Pair:
        """A second integration in the same config directory, joining two new
        apps (``n`` contacts on the left, none on the right); ``sample_app``
        is the fixture that starts them."""
        return Pair(sample_app(n=n, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=seed),
                    sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=seed + 1),
                    self.config, name=name)

    def write(self, extra: str | Mapping[str, Any] = "", fields: str | Sequence[Mapping[str, Any]] | None = None,
              create: str = "both", conflict: str = "newest_wins") -> None:
        """Write the config dir: ``syncd.yaml`` and ``integrations.d/NAME.yaml``.

        ``fields`` (default: the sample fields) and ``extra`` (more top-level
        keys, written after the fields) are YAML text or the same as data.
        No schema header: tests name the lines of errors in these files.
        """
        if isinstance(fields, str):
            fields = yaml.safe_load(fields)
        if isinstance(extra, str):
            extra = yaml.safe_load(extra) or {}
        integration = sample_integration(self.left.url, self.right.url, name=self.name, fields=fields,
                                         create=create, conflict=conflict, extra=extra)
        daemon = {"state": {"path": "state/syncd.db"}, **(yaml.safe_load(self.daemon_settings) or {})}
        write_sample_config(self.config, integration, daemon=daemon, header=False)

    @staticmethod
    def env() -> dict[str, str]:
        env = {**os.environ, "LEFT_TOKEN": LEFT_TOKEN, "RIGHT_TOKEN": RIGHT_TOKEN}
        env.pop("SYNCD_CONFIG", None)
        return env

    def syncd(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "syncd", *args, "-c", str(self.config)],
                              capture_output=True, text=True, env=self.env(), timeout=timeout, cwd=REPO)

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """``syncd once`` (or ``args``) started, not waited for: a test may kill it."""
        return subprocess.Popen([sys.executable, "-m", "syncd", *(args or ("once",)), "-c", str(self.config)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env(), cwd=REPO)

    def run(self, *args: str) -> Run:
        """``syncd once --json`` (or ``syncd ARGS --json``), whatever its exit code."""
        result = self.syncd(*(args or ("once",)), "--json")
        output = result.stdout + result.stderr
        assert LEFT_TOKEN not in output and RIGHT_TOKEN not in output
        summaries = json.loads(result.stdout) if result.stdout.strip() else []
        if isinstance(summaries, dict):  # reset prints one summary
            summaries = [summaries]
        summary = summaries[0] if len(summaries) == 1 else None
        return Run(result.returncode, summary, result.stdout, result.stderr)

    def connector(self, name: str = "sampleapp", fields: dict[str, Any] | None = None,
                  drop: tuple[str, ...] = (), **top: Any) -> dict[str, Any]:
        """Write ``connectors.d/NAME.yaml``: the shipped sample app spec, with
        extra ``fields`` on its contacts, the contacts operations named in
        ``drop`` left out (if it has them) and top-level keys replaced
        (``timeout``, ``retry``, …); it overrides the shipped one when NAME
        is ``sampleapp``.  Returns the spec written."""
        spec = yaml.safe_load((REPO / "connectors.d" / "sampleapp.yaml").read_text())
        spec.update(top, connector=name)
        contacts = spec["objects"]["contacts"]
        contacts["fields"].update(fields or {})
        for operation in drop:
            contacts.pop(operation, None)
        folder = self.config / "connectors.d"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        return spec

    def clear_requests(self) -> None:
        self.left.requests.clear()
        self.right.requests.clear()

    def once(self, *args: str) -> dict[str, Any]:
        """``syncd once --json``; the one integration's summary."""
        result = self.syncd("once", "--json", *args)
        assert result.returncode == 0, result.stdout + result.stderr
        [summary] = json.loads(result.stdout)
        assert LEFT_TOKEN not in result.stdout + result.stderr
        assert RIGHT_TOKEN not in result.stdout + result.stderr
        return summary


def emails(app: SampleApp) -> list[str]:
    return sorted(c["email"].lower() for c in app.store.all() if c.get("email"))


def by_email(app: SampleApp) -> dict[str, dict[str, Any]]:
    return {c["email"].lower(): c for c in app.store.all() if c.get("email")}




WRITES = ("POST", "PATCH", "PUT", "DELETE")


def write_requests(*apps: SampleApp) -> list[Any]:
    """The requests that changed something (a search by POST only reads)."""
    return [r for app in apps for r in app.requests.all()
            if r.method in WRITES and r.path != "/search/contacts"]


def duplicates(app: SampleApp) -> list[str]:
    """Emails held by more than one contact."""
    seen = emails(app)
    return sorted({e for e in seen if seen.count(e) > 1})


# How a test has syncd write: the shipped spec as it is (batch operations,
# where it declares them), or record by record (its batch operations left out).
WRITE_MODES = {"in_batches": (), "one_by_one": ("create_batch", "update_batch")}


# The connector timeout of a test that kills syncd while it writes: a create the kill cut short
# (its intent open, no error) is looked up only once the app has had the timeout to finish it
# (syncd.sync._context's waiting_lookups), so a test waits that long; long enough for any request
# to the sample app on a loaded machine.
CUT_SHORT_TIMEOUT = 1.5


def after_a_kill(p: Pair) -> dict[str, Any]:
    """The run after a kill (with ``timeout: CUT_SHORT_TIMEOUT``), then the wait for the lookups of
    the creates it cut short: that run gives each its error and holds its source back (exit 1
    while they wait). Its summary."""
    run = p.run()
    assert run.summary is not None, run.stdout + run.stderr
    time.sleep(CUT_SHORT_TIMEOUT + 0.2)
    return run.summary


def kill_at(p: Pair, n: int, counts: Callable[[RequestRecord], bool]) -> int:
    """Run ``syncd once`` and kill -9 it when the apps have received the
    ``n``th request that ``counts``; how many they received in all."""
    lock = threading.Lock()
    seen = 0
    proc = p.spawn()

    def listener(record: RequestRecord) -> None:
        nonlocal seen
        if not counts(record):
            return
        with lock:
            seen += 1
            if seen == n:
                proc.kill()  # SIGKILL, before the app answers

    p.left.requests.listener = p.right.requests.listener = listener
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        p.left.requests.listener = p.right.requests.listener = None
    assert proc.returncode == -signal.SIGKILL, (n, seen, out, err)
    return seen


def written(*apps: SampleApp) -> list[dict[str, Any]]:
    """What the write requests asked for, one dict a record, whatever their
    shape: a batch's inputs one by one, without their ids; a DELETE is {}."""
    out: list[dict[str, Any]] = []
    for record in sorted(write_requests(*apps), key=lambda r: r.time):
        body = record.body if isinstance(record.body, dict) else {}
        inputs = body.get("inputs") if record.path.endswith(("/batch/create", "/batch/update")) else None
        for item in inputs if isinstance(inputs, list) else [body]:
            out.append({k: v for k, v in item.items() if k != "id"})
    return out
