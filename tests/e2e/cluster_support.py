"""Several real ``syncd run`` daemons over one PostgreSQL database, sharing
thirty integrations between them (``cluster:`` in syncd.yaml), and the
evidence a test needs to prove they never run one integration twice at once.

The apps: a pair of sample apps for each integration, sixty app servers in
the test process (about 5 % of a core when idle). Measured on two loaded
cores, that is far cheaper than sharing a few pairs between integrations
that skip each other's records by a rule: each integration then reads and
keeps a snapshot of every other's records too, and the first sync of thirty
took 33 s instead of 2 s. An integration's contacts are still named after
it (``i07-3@example.com``), so a failure message says whose they are.

Who wrote what, from the APPS' side: the connector spec written into the
config dir sends two headers with every request, the integration's name
and the daemon's label, the latter read from the daemon's environment
(``settings.daemon: ${env:SYNCD_E2E_DAEMON}``). So an app's request log says,
for every write request, which daemon sent it for which integration, and
when it arrived.

Who held what, from the DATABASE's side: triggers installed by the test (not
by syncd) log every change of a ``leases`` row (token, holder, expiry) and
every committed change of the state rows of a cycle (``cycles``,
``side_states``, ``links``) into ``e2e_history``, with the database's clock
and the connection's ``application_name`` (each daemon's ``PGAPPNAME`` is its
label). A row of a transaction that rolled back (a lost fence) is rolled back
with it: the history holds only what was committed.

:func:`violations` crosses the two: every write request and every committed
state change of a daemon for an integration falls inside a tenure of that
daemon's lease on it (acquired, then renewed with the same token, until
released or expired), and along each integration the tokens of its writes
never go back (no interleaving of two holders).
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml
from daemon_support import Daemon
from e2e_support import LEFT_TOKEN, REPO, RIGHT_TOKEN, WRITES, Pair

from syncd.sampleapp import AuthMode, SampleApp, sample_integration, write_sample_config

LEASE_SECONDS = 3.0
# The bound issue 14 names: a lease, plus the renew interval, plus at most one
# checkpoint (the slack: a cycle's checkpoint, and a loaded machine's delay in
# noticing, polled every POLL seconds).
FAILOVER_SLACK = 2.0
FAILOVER_BOUND = LEASE_SECONDS + LEASE_SECONDS / 3 + FAILOVER_SLACK
BALANCE_BOUND = 60.0  # seconds for the leases to settle to a fair share
DAEMON_ENV = "SYNCD_E2E_DAEMON"
DAEMON_HEADER = "x-e2e-daemon"  # header names as the app's log keeps them (lower case)
INTEGRATION_HEADER = "x-e2e-integration"
POLL = 0.05

HISTORY_SQL = """
CREATE TABLE e2e_history (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    tab text NOT NULL,
    op text NOT NULL,
    integration text,
    app text NOT NULL DEFAULT current_setting('application_name'),
    daemon_id text,
    pid integer,
    token bigint,
    acquired_at timestamptz,
    expires_at timestamptz
);
CREATE FUNCTION e2e_leases_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO e2e_history (tab, op, integration, token) VALUES ('leases', TG_OP, OLD.integration, OLD.token);
        RETURN OLD;
    END IF;
    INSERT INTO e2e_history (tab, op, integration, daemon_id, pid, token, acquired_at, expires_at)
        VALUES ('leases', TG_OP, NEW.integration, NEW.daemon_id, NEW.pid, NEW.token, NEW.acquired_at,
                NEW.expires_at);
    RETURN NEW;
END $$;
CREATE FUNCTION e2e_state_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO e2e_history (tab, op, integration) VALUES (TG_TABLE_NAME, TG_OP, OLD.integration);
        RETURN OLD;
    END IF;
    INSERT INTO e2e_history (tab, op, integration) VALUES (TG_TABLE_NAME, TG_OP, NEW.integration);
    RETURN NEW;
END $$;
CREATE FUNCTION e2e_attach(tab text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER e2e_%s AFTER INSERT OR UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION %s()',
                   tab, tab, CASE WHEN tab = 'leases' THEN 'e2e_leases_log' ELSE 'e2e_state_log' END);
END $$;
-- On a database without syncd's tables yet, the first daemon creates them:
-- the triggers are attached in the same transaction, before any lease is taken.
CREATE FUNCTION e2e_attach_new() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE created record;
BEGIN
    FOR created IN SELECT split_part(object_identity, '.', 2) AS tab FROM pg_event_trigger_ddl_commands()
                   WHERE command_tag = 'CREATE TABLE' LOOP
        IF created.tab IN ('leases', 'cycles', 'side_states', 'links') THEN
            PERFORM e2e_attach(created.tab);
        END IF;
    END LOOP;
END $$;
CREATE EVENT TRIGGER e2e_attach_new ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
    EXECUTE FUNCTION e2e_attach_new();
"""
STATE_TABLES = ("cycles", "side_states", "links")


@dataclass(frozen=True, slots=True)
class Write:
    """One write request an app received."""

    at: float  # when it arrived (time.time(): the same clock as the database's, one machine)
    integration: str
    daemon: str
    method: str
    path: str
    status: int | None
    body: Any


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change of a cycle's state rows (``e2e_history``)."""

    at: float
    table: str
    integration: str
    daemon: str  # the connection's application_name


@dataclass(slots=True)
class Tenure:
    """One daemon's hold of one integration's lease: one token."""

    integration: str
    token: int
    daemon_id: str
    pid: int
    start: float  # acquired_at (database clock)
    expires: float  # the last expiry it was renewed to
    released: float | None = None  # when the row went to another holder or was freed, if it did

    @property
    def end(self) -> float:
        return self.expires if self.released is None else min(self.expires, self.released)


class Fleet:
    """Thirty integrations, each joining two sample apps of its own, one config directory,
    one database, and the daemons started on them (by label: ``d1``, ``d2``…).

    *daemon* is the e2e ``daemon`` fixture (it kills what is left and scans
    the logs for secrets at the end), *sample_app* the apps' fixture.
    """

    def __init__(self, *, sample_app: Callable[..., SampleApp], daemon: Callable[..., Daemon], tmp_path: Path,
                 url: str, integrations: int = 30, left_n: int = 20, right_n: int = 5,
                 schedule: str = "every 2 seconds", lease_seconds: float = LEASE_SECONDS,
                 state_timeout: float | None = None) -> None:
        self.url = url
        self.lease_seconds = lease_seconds
        self.state_timeout = state_timeout  # state.timeout (None: the default)
        self._start_daemon = daemon
        self.config = tmp_path / "config"
        self.names = [f"i{k:02d}" for k in range(integrations)]
        self.pairs = [Pair(sample_app(n=0, auth=AuthMode.BEARER, token=LEFT_TOKEN),
                           sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN), self.config, name=name)
                      for name in self.names]
        self.daemons: dict[str, Daemon] = {}
        self._next_contact: Counter[str] = Counter()
        for name in self.names:
            p = self.pair(name)
            p.left.store.create_many([self.contact(name) for _ in range(left_n)])
            p.right.store.create_many([self.contact(name) for _ in range(right_n)])
        self._write_config(schedule)
        with self.connect() as conn:
            install_history(conn)

    # --- the config ------------------------------------------------------------

    def pair(self, name: str) -> Pair:
        """The app pair integration *name* lives on."""
        return self.pairs[self.names.index(name)]

    def contact(self, name: str) -> dict[str, Any]:
        """A new contact of integration *name* (not stored anywhere yet)."""
        k = self._next_contact[name]
        self._next_contact[name] += 1
        return {"email": f"{name}-{k}@example.com", "first_name": f"F{k}", "last_name": name.upper()}

    def _write_config(self, schedule: str) -> None:
        integrations = []
        for name in self.names:
            p = self.pair(name)
            integration = sample_integration(p.left.url, p.right.url, name=name, schedule=schedule)
            for side in ("left", "right"):
                integration[side]["settings"].update(daemon=f"${{env:{DAEMON_ENV}}}", integration=name)
            integrations.append(integration)
        state: dict[str, Any] = {"url": "${env:SYNCD_DATABASE_URL}"}
        if self.state_timeout is not None:
            state["timeout"] = self.state_timeout
        daemon = {"log": {"level": "info"}, "state": state,
                  "cluster": {"lease_seconds": self.lease_seconds, "name": f"${{env:{DAEMON_ENV}}}"}}
        write_sample_config(self.config, *integrations, daemon=daemon, header=False)
        # The shipped spec, sending who asks, and for what, with every request.
        spec = yaml.safe_load((REPO / "connectors.d" / "sampleapp.yaml").read_text())
        spec["settings"].update(
            daemon={"description": "Which test daemon sends the request (its label)."},
            integration={"description": "Which integration the request is for."})
        spec["headers"] = {DAEMON_HEADER: "{{ settings.daemon }}", INTEGRATION_HEADER: "{{ settings.integration }}"}
        folder = self.config / "connectors.d"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "sampleapp.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))

    # --- the daemons -------------------------------------------------------------

    def start(self, *labels: str, timeout: float = 60.0) -> list[Daemon]:
        """Start a daemon per label at the same moment, then wait until each has started."""
        started = [self._start_daemon(self.pairs[0], ready=False,
                                      env={"SYNCD_DATABASE_URL": self.url, DAEMON_ENV: label, "PGAPPNAME": label})
                   for label in labels]
        self.daemons.update(zip(labels, started))
        return [d.ready(timeout) for d in started]

    def label_of(self, pid: int | None) -> str | None:
        return next((label for label, d in self.daemons.items() if d.proc.pid == pid), None)

    def kill(self, label: str) -> float:
        """kill -9; when (time.monotonic())."""
        self.daemons[label].send(signal.SIGKILL)
        self.daemons[label].proc.wait(10)
        return time.monotonic()

    def alive(self) -> list[str]:
        return [label for label, d in self.daemons.items() if d.proc.poll() is None]

    # --- the database ------------------------------------------------------------

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def owners(self) -> dict[str, str | None]:
        """Integration -> the label of the daemon holding its lease now (None: free or expired)."""
        with self.connect() as conn:
            rows = conn.execute("SELECT integration, pid, daemon_id IS NOT NULL AND expires_at > clock_timestamp()"
                                " FROM leases").fetchall()
        found = {name: (self.label_of(pid) if live else None) for name, pid, live in rows}
        return {name: found.get(name) for name in self.names}

    def counts(self) -> dict[str, int]:
        """How many integrations each running daemon holds now."""
        held = Counter(label for label in self.owners().values() if label is not None)
        return {label: held[label] for label in self.alive()}

    def tokens(self) -> dict[str, int]:
        with self.connect() as conn:
            return dict(conn.execute("SELECT integration, token FROM leases").fetchall())

    def tenures(self) -> list[Tenure]:
        with self.connect() as conn:
            return read_tenures(conn)

    def changes(self) -> list[Change]:
        with self.connect() as conn:
            return read_changes(conn)

    def cycles_since(self, since: float) -> dict[str, list[str]]:
        """Integration -> the outcomes of the cycles that ended after *since* (epoch seconds)."""
        out: dict[str, list[str]] = {name: [] for name in self.names}
        with self.connect() as conn:
            for name, outcome in conn.execute("SELECT integration, outcome FROM cycles WHERE ended_at > "
                                              "to_timestamp(%s) ORDER BY id", (since,)):
                out.setdefault(name, []).append(outcome)
        return out

    # --- the apps ------------------------------------------------------------------

    def writes(self) -> list[Write]:
        """Every write request the apps received, oldest first."""
        out = []
        for p in self.pairs:
            for app in (p.left, p.right):
                for r in app.requests.all():
                    if r.method in WRITES and r.path != "/search/contacts":
                        out.append(Write(r.time, r.headers.get(INTEGRATION_HEADER, "?"),
                                         r.headers.get(DAEMON_HEADER, "?"), r.method, r.path, r.status, r.body))
        return sorted(out, key=lambda w: w.at)

    def side(self, name: str, side: str) -> dict[str, dict[str, Any]]:
        """Integration *name*'s contacts on one side, by email."""
        app = getattr(self.pair(name), side)
        return {c["email"]: c for c in app.store.all() if str(c.get("email") or "").startswith(f"{name}-")}

    def add(self, name: str, side: str) -> str:
        """A new contact of *name* on one side; its email."""
        record = self.contact(name)
        getattr(self.pair(name), side).store.create(record)
        return str(record["email"])

    def edit(self, name: str, side: str, email: str, **changes: Any) -> None:
        app = getattr(self.pair(name), side)
        app.store.update(app.store.find_by_email(email)["id"], **changes)

    def differences(self, names: Iterable[str] | None = None) -> list[str]:
        """What still differs between the two sides of each integration."""
        out = []
        for name in self.names if names is None else names:
            left, right = self.side(name, "left"), self.side(name, "right")
            if left.keys() != right.keys():
                out.append(f"{name}: only left {sorted(left.keys() - right.keys())}, "
                           f"only right {sorted(right.keys() - left.keys())}")
                continue
            for email, l in left.items():
                r = right[email]
                for field in ("first_name", "last_name"):
                    if l.get(field) != r.get(field):
                        out.append(f"{name} {email} {field}: {l.get(field)!r} / {r.get(field)!r}")
        return out

    def duplicates(self) -> list[str]:
        """Emails a side holds more than once, or an app accepted the creation of more than once."""
        out = []
        for p in self.pairs:
            for app in (p.left, p.right):
                seen = Counter(str(c.get("email")).lower() for c in app.store.all())
                out += [f"{app.url} holds {email} {n} times" for email, n in seen.items() if n > 1]
        created: Counter[tuple[str, str]] = Counter()
        for p in self.pairs:
            for app in (p.left, p.right):
                for r in app.requests.all():
                    if r.method == "POST" and r.status is not None and r.status < 300:
                        body = r.body if isinstance(r.body, dict) else {}
                        items = body.get("inputs") if r.path == "/contacts/batch/create" else (
                            [body] if r.path == "/contacts" else [])
                        for item in items or []:
                            created[(app.url, str(item.get("email")).lower())] += 1
        out += [f"{url} created {email} {n} times" for (url, email), n in created.items() if n > 1]
        return out

    # --- waiting ------------------------------------------------------------------

    def wait(self, check: Callable[[], bool], *, timeout: float, what: str,
             describe: Callable[[], object] = lambda: "") -> float:
        """Poll *check* until true; the seconds it took. Fails naming *what*
        (and *describe*'s answer) after *timeout*, or when a daemon that
        should run has exited."""
        start = time.monotonic()
        while not check():
            for label, d in self.daemons.items():
                if d.proc.poll() is not None and d.proc.returncode not in (-signal.SIGKILL, 0):
                    raise AssertionError(f"daemon {label} exited ({d.proc.returncode}):\n{d.text()[-5000:]}")
            if time.monotonic() - start > timeout:
                raise AssertionError(f"no {what} within {timeout} s: {describe()}")
            time.sleep(POLL)
        return time.monotonic() - start

    def fair(self) -> bool:
        """Every integration held, by the running daemons, ⌊N/D⌋ or ⌈N/D⌉ each."""
        owners = self.owners()
        labels = self.alive()
        if any(owner not in labels for owner in owners.values()):
            return False
        counts = sorted(Counter(owners.values()).values(), reverse=True)
        return counts == fair_share(len(self.names), len(labels))

    def wait_fair(self, timeout: float = BALANCE_BOUND) -> float:
        return self.wait(self.fair, timeout=timeout, what="fair share of the leases",
                         describe=lambda: (self.counts(), self.owners()))

    def wait_in_sync(self, timeout: float = 60.0, names: Sequence[str] | None = None) -> float:
        return self.wait(lambda: not self.differences(names), timeout=timeout, what="agreement of the apps",
                         describe=lambda: self.differences(names)[:20])


def install_history(conn: psycopg.Connection[Any]) -> None:
    """The triggers of ``e2e_history`` (see the module's doc), in the
    database *conn* is connected to: on syncd's tables there now, and on
    those a daemon creates later (an event trigger; the test's user is a
    superuser)."""
    conn.execute(HISTORY_SQL)
    for table in ("leases", *STATE_TABLES):
        if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone() == (True,):
            conn.execute("SELECT e2e_attach(%s)", (table,))


def read_tenures(conn: psycopg.Connection[Any]) -> list[Tenure]:
    """Every hold of every lease, from ``e2e_history``, oldest first."""
    rows = conn.execute("SELECT integration, daemon_id, pid, token, acquired_at, expires_at, at"
                        " FROM e2e_history WHERE tab = 'leases' ORDER BY seq").fetchall()
    current: dict[str, Tenure] = {}
    out: list[Tenure] = []
    for name, daemon_id, pid, token, acquired_at, expires_at, at in rows:
        held = current.get(name)
        if held is not None and (daemon_id, token) != (held.daemon_id, held.token):
            held.released = at.timestamp()  # taken over (after expiry) or freed
            del current[name]
            held = None
        if daemon_id is None or expires_at is None:
            continue
        if held is None:
            # acquired_at, not the row's time: a hold begun before the
            # triggers were installed is first seen at a renewal
            held = current[name] = Tenure(name, token, daemon_id, pid, (acquired_at or at).timestamp(),
                                          expires_at.timestamp())
            out.append(held)
        held.expires = max(held.expires, expires_at.timestamp())
    return out


def read_changes(conn: psycopg.Connection[Any]) -> list[Change]:
    """The committed changes of cycles' state rows, by daemon, oldest first."""
    rows = conn.execute("SELECT at, tab, integration, app FROM e2e_history WHERE tab <> 'leases'"
                        " ORDER BY seq").fetchall()
    return [Change(at.timestamp(), tab, name, app) for at, tab, name, app in rows]


def fair_share(n: int, d: int) -> list[int]:
    """The counts of a fair share of *n* among *d*, largest first: ⌊n/d⌋ or ⌈n/d⌉."""
    return [n // d + (1 if rank < n % d else 0) for rank in range(d)]


def violations(writes: Sequence[Write], changes: Sequence[Change], tenures: Sequence[Tenure],
               label_of: Callable[[int], str | None]) -> list[str]:
    """What contradicts "one holder at a time": a write request or a committed
    state change by a daemon outside every tenure of its lease on that
    integration, or an integration whose writes go back to an older token
    (two holders interleaved)."""
    by_holder: dict[tuple[str, str], list[Tenure]] = {}
    for t in tenures:
        label = label_of(t.pid)
        if label is not None:
            by_holder.setdefault((t.integration, label), []).append(t)

    def tenure_at(name: str, label: str, at: float) -> Tenure | None:
        held = [t for t in by_holder.get((name, label), []) if t.start <= at]
        return held[-1] if held else None

    out = []
    last_token: dict[str, int] = {}
    for w in writes:
        t = tenure_at(w.integration, w.daemon, w.at)
        what = f"{w.method} {w.path} for {w.integration} by {w.daemon} at {w.at:.3f}"
        if t is None:
            out.append(f"{what}: it never held the lease before")
            continue
        if w.at > t.end:
            out.append(f"{what}: after its lease (token {t.token}) ended at {t.end:.3f}")
        if t.token < last_token.get(w.integration, 0):
            out.append(f"{what}: token {t.token} after a write with token {last_token[w.integration]}")
        last_token[w.integration] = max(t.token, last_token.get(w.integration, 0))
    for c in changes:
        t = tenure_at(c.integration, c.daemon, c.at)
        what = f"{c.table} of {c.integration} changed by {c.daemon} at {c.at:.3f}"
        if t is None:
            out.append(f"{what}: it never held the lease before")
        elif c.at > t.end:
            out.append(f"{what}: after its lease (token {t.token}) ended at {t.end:.3f}")
    return out


def handovers(tenures: Sequence[Tenure], label_of: Callable[[int], str | None]) -> list[str]:
    """Readable lease history, for a failure message."""
    return [f"{t.integration} token {t.token} {label_of(t.pid)} {t.start:.3f}..{t.end:.3f}" for t in tenures]
