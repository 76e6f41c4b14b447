"""The daemon at rest: N integrations polling every minute, nothing changing.

Sample apps run as their own processes on 127.0.0.1 (``--pairs`` pairs,
``--contacts`` contacts each; both apps of a pair hold the same generated
contacts, so no cycle ever writes). Each integration joins the left and the
right app of one pair, every minute; their state shares one SQLite file.
``syncd run`` runs as in production, its JSON log on stderr in a file.

Once every integration has finished its first cycle, the daemon process is
watched for ``--window`` seconds:

- CPU seconds (``/proc/PID/stat`` utime + stime) and CPU share (% of one
  core), also for each whole minute of the window (each holds one cycle of
  every integration, so CPU that grows shows there);
- RSS at the start and the end of the window and its peak in it (VmHWM,
  reset by ``/proc/PID/clear_refs`` when the window opens);
- cycles started in the window (expected about N x minutes: exactly, the
  starts an on-time schedule would make from each first start) and how late each
  started against its schedule (the integration's slot nearest to ``last
  start + interval``, on the tick; a revision before the slots: ``last
  start + interval + the name's fixed jitter``; see
  ``syncd.daemon._schedule``), from the log's timestamps.

The same measurement with ``--baseline`` integrations (default 10) runs
first, on the same apps; the table ends with per-integration increments
and the N-vs-baseline ratios. The sample apps' CPU is theirs, reported
apart, and so is how busy the whole machine was (``/proc/stat``): another
job on the machine shows there.

Against another revision (``--baseline-rev REV``, a venv of REV built
under /tmp/syncd-baseline as bench/compare.sh builds one, or
``--baseline-python PATH``, an interpreter with it installed): the same N
integrations on the same sample apps, run by one daemon of each revision in
turn, ``--rounds`` windows each (the order reversed every other round), each
daemon on a fresh state; medians and the ratio of CPU per cycle.
``--json PATH`` writes the named figures (``atrest_*``).

    .venv/bin/python bench/daemon_idle.py                                 # N = 1,000 vs 10, 5 min each
    .venv/bin/python bench/daemon_idle.py --integrations 200 --window 90  # quick
    .venv/bin/python bench/daemon_idle.py --baseline-rev 847c424 --window 120   # against 847c424, 2 rounds
    .venv/bin/python bench/daemon_idle.py --quick --json out.json         # 40 integrations every 5 s, 10 s
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from figures import compile_checkout

from syncd.sampleapp import sample_integration, write_sample_config

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Every field both ways (the sample fields send the phone left to right
# only), as the earlier runs measured.
FIELDS = [{"left": name, "right": name} for name in ("email", "first_name", "last_name", "phone")]
# The shipped spec without its 50 requests/s politeness limit: it is per
# account, and a hundred integrations on one app would share it.
SPEC_OVERRIDE = ("rate_limit: {requests_per_second: 50, max_concurrency: 4}",
                 "rate_limit: {max_concurrency: 4}")
Event = dict[str, Any]


# --- processes -----------------------------------------------------------------

def _die_with_parent() -> None:
    """In the child: SIGTERM when the benchmark dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Processes:
    """Every process the benchmark starts; :meth:`close` ends them all."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        kwargs.setdefault("cwd", REPO)
        proc = subprocess.Popen(cmd, preexec_fn=_die_with_parent, **kwargs)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 40
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM ends the benchmark like Ctrl-C does: through every ``finally``."""
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def start_apps(procs: Processes, folder: Path, apps: list[tuple[str, int, int]]) -> dict[str, str]:
    """Start sample apps (name, contacts, seed) together; their URLs by name."""
    started = {}
    for name, n, seed in apps:
        port_file = folder / f"{name}.port"
        started[name] = (procs.start([sys.executable, "-m", "syncd.sampleapp", "--n", str(n), "--seed", str(seed),
                                      "--port", "0", "--quiet", "--token", TOKEN,
                                      "--port-file", str(port_file)]), port_file)
    urls = {}
    deadline = time.monotonic() + 120
    for name, (proc, port_file) in started.items():
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the sample app {name} did not start")
            time.sleep(0.05)
        urls[name] = f"http://127.0.0.1:{port_file.read_text().strip()}"
    return urls


# --- the config directory --------------------------------------------------------

def write_config(config: Path, state: Path | dict[str, Any], integrations: list[dict[str, Any]],
                 settings: dict[str, Any] | None = None) -> None:
    """A config dir: the sample-app spec without its rate limit, and
    ``integrations.d/NAME.yaml`` for each of *integrations*. *state* is a
    SQLite file or a whole ``state:`` mapping (``url``); *settings* more
    keys of syncd.yaml (``cluster``)."""
    (config / "connectors.d").mkdir(parents=True, exist_ok=True)
    shipped = (REPO / "connectors.d" / "sampleapp.yaml").read_text()
    assert SPEC_OVERRIDE[0] in shipped, "the shipped sample-app spec changed its rate_limit line"
    (config / "connectors.d" / "sampleapp.yaml").write_text(shipped.replace(*SPEC_OVERRIDE))
    write_sample_config(config, *integrations, daemon={
        "state": state if isinstance(state, dict) else {"path": str(state)}, "log": {"level": "info"},
        **(settings or {})})


def integration(name: str, left: str, right: str, *, schedule: str, fields: list[dict[str, Any]] = FIELDS,
                create: str = "left_to_right") -> dict[str, Any]:
    return sample_integration(left, right, name=name, left_token="${env:BENCH_TOKEN}",
                              right_token="${env:BENCH_TOKEN}", fields=fields, create=create, schedule=schedule)


# --- the daemon and its log ----------------------------------------------------------

def parse_ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class Daemon:
    """``syncd run -c CONFIG``, its stderr (JSON lines) in a file read as it grows."""

    def __init__(self, procs: Processes, config: Path, folder: Path, *, python: str = sys.executable,
                 log_name: str = "daemon.log") -> None:
        """*python*: the interpreter whose ``syncd`` runs (another revision's
        venv: then run from *folder*, so that this checkout's ``syncd`` in
        the working directory does not shadow the one installed there)."""
        self.runtime = Path(tempfile.mkdtemp(prefix="syncd-rt-", dir="/tmp"))  # a short socket path
        self.socket = self.runtime / "control.sock"
        self.log_path = folder / log_name
        self.config = config
        self.python = python
        self.cwd = REPO if python == sys.executable else folder
        self.env = {**os.environ, "BENCH_TOKEN": TOKEN, "RUNTIME_DIRECTORY": str(self.runtime)}
        self.env.pop("SYNCD_CONFIG", None)
        self._log = open(self.log_path, "wb")
        self.launched = time.time()
        self.proc = procs.start([python, "-m", "syncd", "run", "-c", str(config)],
                                stderr=self._log, env=self.env, cwd=self.cwd)
        self.pid = self.proc.pid
        self.events: list[Event] = []
        self._reader = open(self.log_path, "rb")
        self._partial = b""

    def ticks(self) -> bool:
        """Whether this daemon's revision puts scheduled starts on a tick (``on_tick``)."""
        return self._has("on_tick")

    def slots(self) -> bool:
        """Whether this daemon's revision runs an interval schedule on the integration's slot
        (before it: the last start + the interval + a repeat jitter of at most 1 %)."""
        return not self._has("REPEAT_JITTER_FRACTION")

    def _has(self, name: str) -> bool:
        probe = subprocess.run([self.python, "-c", f"import syncd.daemon._schedule as s; print(hasattr(s, {name!r}))"],
                               cwd=self.cwd, capture_output=True, text=True, check=True)
        return probe.stdout.strip() == "True"

    def poll(self) -> list[Event]:
        """Events logged since the last call (also kept in :attr:`events`)."""
        data = self._partial + self._reader.read()
        lines = data.split(b"\n")
        self._partial = lines.pop()
        new = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "(not json)", "text": line.decode(errors="replace")}
            if "timestamp" in event:
                event["t"] = parse_ts(event["timestamp"])
            new.append(event)
        self.events.extend(new)
        return new

    def wait_for(self, event: str, *, timeout: float = 60, after: float = 0.0, **match: Any) -> Event:
        """The first *event* (with *match*) logged at or after *after* (epoch s)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            self.poll()
            for e in self.events[seen:]:
                if e.get("event") == event and e.get("t", 0) >= after and all(e.get(k) == v for k, v in match.items()):
                    return e
            seen = len(self.events)
            self.check_alive(event)
            if time.monotonic() > deadline:
                raise SystemExit(f"no {event!r} {match} within {timeout} s; log: {self.log_path}")
            time.sleep(0.02)

    def check_alive(self, waiting_for: str) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"syncd exited ({self.proc.returncode}) before {waiting_for!r}:\n{tail}")

    def failures(self) -> list[Event]:
        return [e for e in self.events if e.get("event") in ("cycle failed", "cycle aborted")
                or e.get("level") in ("error", "critical")]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.python, "-m", "syncd", *args, "-c", str(self.config)], cwd=self.cwd,
                              capture_output=True, text=True, env=self.env, timeout=120)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        finally:
            self._log.close()
            self._reader.close()
            with contextlib.suppress(OSError):
                for leftover in self.runtime.iterdir():
                    leftover.unlink()
                self.runtime.rmdir()


# --- /proc --------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5)


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) in kB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False if not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already in user
    return total - idle, total


def count(value: Any) -> int:
    """A summary count: a number, or a number a side."""
    if isinstance(value, dict):
        return sum(count(v) for v in value.values())
    return value if isinstance(value, int) else 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- one measurement ----------------------------------------------------------------

def start_pairs(procs: Processes, folder: Path, *, pairs: int, contacts: int) -> dict[str, str]:
    """*pairs* pairs of sample apps; both apps of a pair hold the same
    contacts (same seed): nothing to write."""
    return start_apps(procs, folder, [(f"{side}{p}", contacts, p) for p in range(pairs) for side in "lr"])


def idle_config(config: Path, state: Path, urls: dict[str, str], n: int, *, pairs: int, interval: float) -> None:
    """N integrations over the pairs of *urls*, every *interval* seconds."""
    write_config(config, state, [
        integration(f"idle-{i:04d}", urls[f"l{i % pairs}"], urls[f"r{i % pairs}"],
                    schedule="every 1 minute" if interval == 60 else f"every {interval:g} seconds")
        for i in range(n)])


def measure(n: int, window: float, *, pairs: int, contacts: int, interval: float = 60.0) -> dict[str, Any]:
    """One daemon of this checkout with N integrations, on apps of its own."""
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp, Processes() as procs:
        folder = Path(tmp)
        urls = start_pairs(procs, folder, pairs=pairs, contacts=contacts)
        apps = [p.pid for p in procs.procs]
        config = folder / "config"
        idle_config(config, folder / "state.db", urls, n, pairs=pairs, interval=interval)
        return watch(Daemon(procs, config, folder), n, window, apps=apps, pairs=pairs, interval=interval)


def watch(daemon: Daemon, n: int, window: float, *, apps: list[int], pairs: int,
          interval: float) -> dict[str, Any]:
    """Wait for *daemon*'s first round of N cycles, watch it for *window*
    seconds, stop it; *apps* are the pids of the sample apps."""
    from syncd.config import Schedule
    from syncd.daemon._schedule import jitter_for, next_run, on_tick, tick_for

    # The start a revision's schedule gives a cycle after one that started at *last*: on a
    # tick or not, on the integration's slot or at the last start + the interval + a repeat
    # jitter of at most 1 % (capped at 1 s), as revisions before the slots did.
    schedule = Schedule(f"every {interval:g} seconds", interval_seconds=interval)
    tick = tick_for(schedule) if daemon.ticks() else 0.0
    slots = daemon.slots()

    def scheduled_after(name: str, last: float) -> float:
        if slots:
            return on_tick(next_run(schedule, last_start=last, now=last, jitter=jitter_for(name)), tick)
        return on_tick(last + interval + jitter_for(name) * min(0.01 * interval, 1.0), tick)

    try:
        started = daemon.wait_for("syncd started", timeout=120)
        # The first full round: every integration has finished one cycle.
        deadline = time.monotonic() + 120 + n * 0.2
        done: set[str] = set()
        while len(done) < n:
            done.update(e["integration"] for e in daemon.poll() if e.get("event") == "cycle finished")
            if daemon.failures():
                raise SystemExit(f"cycles failed: {daemon.failures()[:3]}")
            daemon.check_alive("the first round of cycles")
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(done)} of {n} integrations finished a cycle; log: {daemon.log_path}")
            time.sleep(0.1)
        first_round = time.time() - started["t"]

        t0 = time.time()
        peak_reset = reset_peak(daemon.pid)
        cpu0, mem0, apps0, busy0 = cpu_seconds(daemon.pid), memory_kb(daemon.pid), \
            sum(cpu_seconds(p) for p in apps), machine_busy()
        minutes = [cpu0]  # CPU seconds at each whole interval into the window
        rss_samples = []
        while (now := time.time()) < t0 + window:
            if now >= t0 + len(minutes) * interval:
                minutes.append(cpu_seconds(daemon.pid))
            daemon.check_alive("the end of the window")
            rss_samples.append(memory_kb(daemon.pid)["VmRSS"])
            daemon.poll()
            time.sleep(min(1.0, max(0.0, t0 + window - now)))
        t1 = time.time()
        cpu1, mem1, apps1, busy1 = cpu_seconds(daemon.pid), memory_kb(daemon.pid), \
            sum(cpu_seconds(p) for p in apps), machine_busy()
        if len(minutes) <= window // interval:
            minutes.append(cpu1)  # the last whole interval ends with the window
        daemon.poll()
        status = json.loads(daemon.cli("status", "--json", "--socket", str(daemon.socket)).stdout)
    finally:
        code = daemon.stop()
    if code != 0:
        raise SystemExit(f"syncd run exited {code}; log: {daemon.log_path}")

    # Lateness: a cycle start against its schedule (after the previous start).
    last_start: dict[str, float] = {}
    first_start: dict[str, float] = {}
    late, in_window, seconds = [], 0, []
    for e in daemon.events:
        if e.get("event") == "cycle started":
            name, t = e["integration"], e["t"]
            first_start.setdefault(name, t)
            if t0 <= t < t1:
                in_window += 1
                if name in last_start:
                    late.append(t - scheduled_after(name, last_start[name]))
            last_start[name] = t
        elif e.get("event") == "cycle finished" and t0 <= e["t"] < t1:
            seconds.append(e["seconds"])
    # Expected: the starts an on-time schedule makes in the window, from
    # each integration's first start.
    expected = 0
    for name, first in first_start.items():
        start = first
        while (start := scheduled_after(name, start)) < t1:
            expected += start >= t0
    failures = daemon.failures()
    writes = sum(count(e.get(k)) for e in daemon.events if e.get("event") == "cycle finished"
                 for k in ("created", "updated", "deleted"))
    span = t1 - t0
    cpu = cpu1 - cpu0
    return {
        "n": n, "pairs": pairs, "window": span, "startup": started["t"] - daemon.launched,
        "first_round": first_round, "cycles": in_window, "expected": expected,
        "cpu": cpu, "cpu_pct": 100 * cpu / span,
        # one interval holds one cycle of each integration: CPU that grows shows here
        "cpu_pct_by_interval": [100 * (b - a) / interval for a, b in zip(minutes, minutes[1:])],
        "cpu_ms_per_cycle": 1000 * cpu / in_window if in_window else float("nan"),
        "rss_start": mem0["VmRSS"] / 1024, "rss_end": mem1["VmRSS"] / 1024,
        "rss_peak": (mem1["VmHWM"] if peak_reset else max(rss_samples, default=0)) / 1024,
        "rss_peak_since_start": mem1["VmHWM"] / 1024 if not peak_reset else float("nan"),
        "late_ms": [1000 * x for x in late], "cycle_s": seconds,
        "apps_cpu_pct": 100 * (apps1 - apps0) / span,
        "machine_pct": 100 * (busy1[0] - busy0[0]) / (busy1[1] - busy0[1]) * (os.cpu_count() or 1),  # % of one core
        "failures": len(failures), "writes": writes,
        "status_cycles": sum(i.get("cycles", 0) for i in status.get("integrations", [])),
        "status_not_ok": sum(1 for i in status.get("integrations", []) if i.get("last_result") != "ok"),
    }


# --- the report -------------------------------------------------------------------

def report(rows: list[dict[str, Any]], command: str) -> None:
    print(f"\n```bash\n{command}\n```\n")
    labelled = any("label" in r for r in rows)
    print("| revision " * labelled + "| N | window s | cycles in window (expected) | daemon CPU s | CPU % of one core (each interval) "
          "| CPU ms per cycle | RSS MB start → end (peak) | start lateness ms p50 / p99 / max "
          "| cycle s p50 / p99 | first round s | apps CPU % | whole machine % of one core |")
    print("| --- " * labelled + "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        late, secs = r["late_ms"], r["cycle_s"]
        print((f"| {r['label']} " if labelled else "") + f"| {r['n']:,} | {r['window']:.0f} | {r['cycles']:,} ({r['expected']:,.0f}) | {r['cpu']:.2f} "
              f"| {r['cpu_pct']:.1f} ({', '.join(f'{x:.1f}' for x in r['cpu_pct_by_interval'])}) "
              f"| {r['cpu_ms_per_cycle']:.2f} | {r['rss_start']:.1f} → {r['rss_end']:.1f} ({r['rss_peak']:.1f}) "
              f"| {percentile(late, 0.5):.0f} / {percentile(late, 0.99):.0f} / {max(late, default=float('nan')):.0f} "
              f"| {percentile(secs, 0.5):.3f} / {percentile(secs, 0.99):.3f} | {r['first_round']:.1f} "
              f"| {r['apps_cpu_pct']:.1f} | {r['machine_pct']:.0f} |")
    for r in rows:
        problems = []
        if r["failures"]:
            problems.append(f"{r['failures']} failed or aborted cycles / error events")
        if r["writes"]:
            problems.append(f"{r['writes']} writes (expected none)")
        if r["status_not_ok"]:
            problems.append(f"{r['status_not_ok']} integrations whose last cycle is not ok")
        if problems:
            print(f"\nN={r['n']:,}: " + "; ".join(problems))
    if len(rows) == 2 and not labelled:
        base, big = rows
        dn = big["n"] - base["n"]
        print(f"\nN={big['n']:,} against the baseline N={base['n']:,} ({big['n'] / base['n']:.0f}x the integrations):\n")
        print("| measure | baseline | N | N / baseline | per added integration |")
        print("| --- | ---: | ---: | ---: | ---: |")
        print(f"| CPU % of one core | {base['cpu_pct']:.2f} | {big['cpu_pct']:.2f} | {big['cpu_pct'] / base['cpu_pct']:.1f}x "
              f"| {1000 * (big['cpu_pct'] - base['cpu_pct']) / 100 * 60 / dn:.2f} ms CPU a minute |")
        print(f"| CPU ms per cycle | {base['cpu_ms_per_cycle']:.2f} | {big['cpu_ms_per_cycle']:.2f} "
              f"| {big['cpu_ms_per_cycle'] / base['cpu_ms_per_cycle']:.2f}x | |")
        print(f"| RSS MB at the end | {base['rss_end']:.1f} | {big['rss_end']:.1f} | {big['rss_end'] / base['rss_end']:.2f}x "
              f"| {1024 * (big['rss_end'] - base['rss_end']) / dn:.0f} kB |")
        print(f"| RSS growth in the window, MB | {base['rss_end'] - base['rss_start']:+.1f} "
              f"| {big['rss_end'] - big['rss_start']:+.1f} | | |")
        print(f"| start lateness p99 ms | {percentile(base['late_ms'], 0.99):.0f} | {percentile(big['late_ms'], 0.99):.0f} "
              f"| | |")
        print(f"| start-up (launch → `syncd started`) s | {base['startup']:.2f} | {big['startup']:.2f} "
              f"| {big['startup'] / base['startup']:.2f}x | |")


# --- against another revision ------------------------------------------------------

def revision_python(rev: str) -> str:
    """The interpreter of a venv with revision *rev* installed (a regular
    install, as bench/compare.sh makes), built once under
    ``$BASELINE_DIR`` (default /tmp/syncd-baseline) and kept by commit."""
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", f"{rev}^{{commit}}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    root = Path(os.environ.get("BASELINE_DIR", "/tmp/syncd-baseline")) / sha
    python = root / "venv" / "bin" / "python"
    if (root / "installed").exists():
        return str(python)
    print(f"building a venv of {rev} ({sha}) in {root} ...", file=sys.stderr, flush=True)
    subprocess.run(["rm", "-rf", str(root)], check=True)
    (root / "src").mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(REPO), "archive", sha], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(root / "src")], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"git archive {sha} failed")
    subprocess.run(["python3", "-m", "venv", str(root / "venv")], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(root / "src")],
                   check=True)
    (root / "installed").touch()
    return str(python)


def compare(n: int, window: float, rounds: int, *, pairs: int, contacts: int, interval: float,
            pythons: dict[str, str]) -> list[dict[str, Any]]:
    """N integrations run by each interpreter of *pythons* (label → python)
    in turn, *rounds* times (the order reversed every other round: ABBA),
    on the same sample apps; each daemon starts on a fresh state."""
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp, Processes() as procs:
        folder = Path(tmp)
        urls = start_pairs(procs, folder, pairs=pairs, contacts=contacts)
        apps = [p.pid for p in procs.procs]
        rows = []
        for r in range(rounds):
            labels = list(pythons) if r % 2 == 0 else list(pythons)[::-1]
            for label in labels:
                print(f"{label}, N={n:,}: {window:.0f} s window after the first round ...", file=sys.stderr,
                      flush=True)
                run = folder / f"{label}-{r}"
                idle_config(run / "config", run / "state.db", urls, n, pairs=pairs, interval=interval)
                daemon = Daemon(procs, run / "config", run, python=pythons[label])
                rows.append({"label": label, **watch(daemon, n, window, apps=apps, pairs=pairs,
                                                     interval=interval)})
        return rows


def figures(rows: list[dict[str, Any]], this: str, baseline: str | None) -> dict[str, float]:
    """The named figures of --json: medians over rounds of this checkout
    (and of the baseline revision, with their ratio)."""
    def of(label: str | None) -> list[dict[str, Any]]:
        return [r for r in rows if r.get("label", this) == label]
    mine = of(this)
    out = {
        "atrest_integrations": mine[0]["n"],
        "atrest_cpu_ms_per_cycle": round(statistics.median([r["cpu_ms_per_cycle"] for r in mine]), 3),
        "atrest_cpu_pct": round(statistics.median([r["cpu_pct"] for r in mine]), 2),
        "atrest_rss_mb": round(statistics.median([r["rss_end"] for r in mine]), 1),
        "atrest_late_p99_ms": round(statistics.median([percentile(r["late_ms"], 0.99) for r in mine]), 1),
        "atrest_cycles": sum(r["cycles"] for r in mine),
        "atrest_expected_cycles": sum(r["expected"] for r in mine),
        "atrest_failures": sum(r["failures"] for r in mine),
    }
    if baseline is not None:
        base = of(baseline)
        out["atrest_baseline_cpu_ms_per_cycle"] = round(statistics.median([r["cpu_ms_per_cycle"] for r in base]), 3)
        out["atrest_baseline_rss_mb"] = round(statistics.median([r["rss_end"] for r in base]), 1)
        out["atrest_baseline_late_p99_ms"] = round(statistics.median([percentile(r["late_ms"], 0.99) for r in base]), 1)
        out["atrest_ratio"] = round(out["atrest_cpu_ms_per_cycle"] / out["atrest_baseline_cpu_ms_per_cycle"], 3)
    return out


def report_compare(rows: list[dict[str, Any]], this: str, baseline: str) -> None:
    fig = figures(rows, this, baseline)
    base_rows = [r for r in rows if r["label"] == baseline]
    mine = [r for r in rows if r["label"] == this]
    print(f"\nThis checkout against {baseline}, medians of {len(mine)} window(s) each, alternating:\n")
    print(f"| measure | {baseline} | this checkout | this / {baseline} |")
    print("| --- | ---: | ---: | ---: |")
    for name, key in (("CPU ms per cycle", "cpu_ms_per_cycle"), ("CPU % of one core", "cpu_pct"),
                      ("RSS MB at the end", "rss_end")):
        b, m = statistics.median([r[key] for r in base_rows]), statistics.median([r[key] for r in mine])
        print(f"| {name} | {b:.2f} | {m:.2f} | {m / b:.2f}x |")
    print(f"| start lateness p99 ms | {fig['atrest_baseline_late_p99_ms']:.0f} | {fig['atrest_late_p99_ms']:.0f} | |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--integrations", type=int, default=None, help="N (default 1,000; --quick 40)")
    ap.add_argument("--window", type=float, default=None,
                    help="seconds watched after the first round (default 300; --quick 10)")
    ap.add_argument("--baseline", type=int, default=None,
                    help="the baseline's N (default 10; 0 skips it); not with a baseline revision")
    ap.add_argument("--pairs", type=int, default=None, help="pairs of sample apps (default 10; --quick 2)")
    ap.add_argument("--contacts", type=int, default=10, help="contacts in each app (default 10)")
    ap.add_argument("--interval", type=float, default=None,
                    help="each integration's schedule in seconds (default 60; --quick 5)")
    ap.add_argument("--baseline-python", metavar="PATH",
                    help="also run the daemon from this interpreter (another revision's venv), alternating")
    ap.add_argument("--baseline-rev", metavar="REV",
                    help="the same with a venv of revision REV, built under $BASELINE_DIR (/tmp/syncd-baseline)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="windows of each revision with a baseline revision, alternating (default 2; --quick 1)")
    ap.add_argument("--quick", action="store_true", help="small sizes: 40 integrations every 5 s, 10 s windows")
    ap.add_argument("--json", metavar="PATH", help="also write the named figures to PATH as JSON")
    args = ap.parse_args()
    command = shlex.join([".venv/bin/python", "bench/daemon_idle.py", *sys.argv[1:]])
    quick = args.quick

    def pick(value: Any, default: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else default)
    n = pick(args.integrations, 1000, 40)
    window = pick(args.window, 300.0, 10.0)
    pairs = pick(args.pairs, 10, 2)
    interval = pick(args.interval, 60.0, 5.0)
    rounds = pick(args.rounds, 2, 1)
    if args.baseline_python and args.baseline_rev:
        ap.error("--baseline-python and --baseline-rev name the same thing: give one")
    baseline_label = None
    try:
        with interruptible():
            if args.baseline_python or args.baseline_rev:
                if args.baseline:
                    ap.error("--baseline (a smaller N) does not go with a baseline revision")
                # absolute, not resolved: a venv's python is a symlink to the one it was made from
                python = os.path.abspath(args.baseline_python) if args.baseline_python \
                    else revision_python(args.baseline_rev)
                baseline_label = args.baseline_rev or "baseline"
                compile_checkout()  # as the baseline is (figures.compile_checkout)
                rows = compare(n, window, rounds, pairs=pairs, contacts=args.contacts, interval=interval,
                               pythons={baseline_label: python, "this checkout": sys.executable})
            else:
                rows = []
                for size in ([b] if (b := pick(args.baseline, 10, 0)) else []) + [n]:
                    print(f"N={size:,}: {window:.0f} s window after the first round ...", file=sys.stderr,
                          flush=True)
                    rows.append(measure(size, window, pairs=pairs, contacts=args.contacts, interval=interval))
    except KeyboardInterrupt:
        print("interrupted: every process it started is stopped", file=sys.stderr)
        return 130
    report(rows, command)
    if baseline_label is not None:
        report_compare(rows, "this checkout", baseline_label)
    if args.json:
        fig: dict[str, Any] = figures([r for r in rows if r["n"] == n], "this checkout", baseline_label)
        Path(args.json).write_text(json.dumps({**fig, "command": command}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
