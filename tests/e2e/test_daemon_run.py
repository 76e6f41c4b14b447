"""``syncd run``: the daemon starts, runs each integration on its schedule,
answers ``syncd status``, and refuses a bad start with a precise message."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from daemon_support import Daemon
from e2e_support import REPO, emails

from syncd.daemon._schedule import jitter_for
from syncd.state import Intent, open_store


def at(event: dict) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


def test_cycles_follow_the_schedule_and_never_overlap(pair, daemon) -> None:
    p = pair(left_n=5)
    p.write(extra="schedule: every 1 second\n")
    d = daemon(p)
    d.wait_for("cycle finished", count=4)
    assert emails(p.left) == emails(p.right)
    cycle_events = [e for e in d.events() if e["event"] in ("cycle started", "cycle finished")]
    kinds = [e["event"] for e in cycle_events]
    assert kinds[:8] == ["cycle started", "cycle finished"] * 4  # one at a time
    starts = [at(e) for e in cycle_events if e["event"] == "cycle started"]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # The second on the integration's slot (the one nearest to a second after the first),
    # the later ones on it too. A start the machine wakes late shortens the gap after it
    # (the slot stays): the bounds leave a loaded CI machine up to 0.45 s of lateness.
    assert 0.5 <= gaps[0] < 2.0, gaps
    assert all(0.5 <= g < 1.5 for g in gaps[1:]), gaps
    slot = jitter_for("pair")  # its fraction of the interval, past each whole second
    assert all((t - slot) % 1.0 < 0.45 for t in starts[1:]), [(t - slot) % 1.0 for t in starts]
    # every event of a cycle says which integration and which cycle
    assert all(e["integration"] == "pair" and e["cycle"].startswith("pair-") for e in cycle_events)
    assert d.stop() == 0


def test_status_shows_each_integration_and_its_last_cycle(pair, daemon) -> None:
    p = pair(left_n=3)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    entry = d.integration("pair")
    assert entry["last_result"] == "ok" and entry["cycles"] == 1 and entry["state"] == "waiting"
    assert entry["last_summary"]["created"] == {"left": 0, "right": 3}
    # On its slot (the one nearest to an hour after this first cycle), rounded up to the tick.
    assert 1800 <= entry["next_run"] - entry["last_start"] <= 5401
    assert (entry["next_run"] - jitter_for("pair") * 3600) % 3600 < 1.0
    assert entry["next_run"] % 1.0 == 0  # on the tick (a second, for an hourly schedule): see _schedule
    shown = d.cli("status")
    assert shown.returncode == 0, shown.stderr
    assert "1 integration running, 0 failing, 0 disabled" in shown.stdout
    assert "pair: waiting, every 1 hour; cycles 1; last ok at " in shown.stdout
    assert "(read 3/0, created 0/3 (left/right))" in shown.stdout and "  next " in shown.stdout
    as_json = d.cli("status", "--json")
    assert '"name": "pair"' in as_json.stdout
    assert d.stop() == 0


def test_a_restarted_daemon_goes_on_with_the_slot_of_its_last_cycle(pair, daemon) -> None:
    """A restart (an upgrade, `systemctl restart`) does not run every
    integration in its first seconds: one whose last cycle ran through less
    than an interval ago waits for its slot, as if the daemon had not
    stopped. A crash that left a write open is resolved at once."""
    p = pair(left_n=3)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    d.wait_until(lambda: d.integration("pair")["next_run"] is not None, what="the next run")
    before = d.integration("pair")
    assert d.stop() == 0

    again = daemon(p)
    again.wait_until(lambda: again.integration("pair")["next_run"] is not None, what="the next run")
    entry = again.integration("pair")
    assert entry["cycles"] == 0 and entry["state"] == "waiting"
    assert entry["next_run"] == before["next_run"]  # the slot an hour after the last cycle, on the tick
    assert abs(entry["last_start"] - before["last_start"]) < 0.01 and entry["last_result"] == "ok"
    [resumed] = again.named("schedule resumed from the last cycle")
    assert resumed["integration"] == "pair"
    assert again.stop() == 0

    # A write the daemon died in the middle of (its intent open): the first cycle runs soon.
    with open_store(p.config / "state" / "syncd.db") as store:
        [(left_id, right_id)] = list(store.linked("pair", "left", [c["id"] for c in p.left.store.all()]).items())[:1]
        with store.transaction("pair") as t:
            t.add_intent(Intent(side="right", kind="update", source_id=left_id, target_id=right_id, fields={}))
    third = daemon(p)
    third.wait_for("cycle finished", timeout=30)  # within the first-run spread (10 s), not an hour
    assert third.named("schedule resumed from the last cycle") == []
    assert third.stop() == 0


def test_an_invalid_config_at_start_exits_78_with_file_and_line(pair) -> None:
    p = pair()
    p.write(extra="schedule: every 0 minutes\n")
    result = subprocess.run([sys.executable, "-m", "syncd", "run", "-c", str(p.config)],
                            capture_output=True, text=True, env=p.env(), timeout=60, cwd=REPO)
    assert result.returncode == 78
    assert f"{p.config}/integrations.d/pair.yaml:18:11: error: invalid schedule" in result.stderr
    assert "(schedule)" in result.stderr


def test_reload_without_a_daemon_says_so(pair, tmp_path) -> None:
    p = pair()
    result = subprocess.run(
        [sys.executable, "-m", "syncd", "reload", "-c", str(p.config), "--socket", str(tmp_path / "none.sock")],
        capture_output=True, text=True, env=p.env(), timeout=60, cwd=REPO)
    assert result.returncode == 1
    assert f"no syncd daemon answers at {tmp_path / 'none.sock'} (no such socket)" in result.stderr


def test_status_without_a_daemon_shows_what_the_state_store_kept(pair, tmp_path) -> None:
    p = pair(left_n=2)
    p.write()
    before = p.syncd("status")
    assert before.returncode == 0, before.stderr
    assert "no syncd daemon runs for" in before.stdout
    assert "pair: stopped, every 5 minutes; last not run yet" in before.stdout
    assert not (p.config / "state").exists()  # status never creates a state store

    p.once()
    after = p.syncd("status")
    as_json = json.loads(p.syncd("status", "--json").stdout)

    assert "pair: stopped, every 5 minutes; last ok at " in after.stdout
    assert "(read 2/0, created 0/2 (left/right))" in after.stdout
    [entry] = as_json["integrations"]
    assert as_json["daemon"] is None and entry["last_origin"] == "once" and entry["next_run"] is None
    assert entry["last_summary"]["created"] == {"left": 0, "right": 2}


def test_commands_that_only_read_need_no_credentials(pair) -> None:
    # An operator's shell rarely has the daemon's secrets (systemd gives them
    # to the service alone): what reads the state store must not need them.
    p = pair(left_n=2)
    p.write()
    p.once()
    bare = {k: v for k, v in p.env().items() if k not in ("LEFT_TOKEN", "RIGHT_TOKEN")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "syncd", *args, "-c", str(p.config)],
                              capture_output=True, text=True, env=bare, timeout=60, cwd=REPO)

    for command in (["status"], ["errors", "pair"], ["conflicts", "pair"], ["bulk", "pair", "status"]):
        result = run(*command)
        assert result.returncode == 0, (command, result.stderr)
    assert "pair: stopped, every 5 minutes; last ok at " in run("status").stdout
    # what writes still needs them, and says which is missing, where
    for command in (["sync", "pair"], ["errors", "pair", "--retry-all"], ["bulk", "pair", "start"]):
        result = run(*command)
        assert result.returncode == 78, (command, result.stderr)
        assert "environment variable LEFT_TOKEN is not set (left.settings.token)" in result.stderr


def test_status_without_a_daemon_and_an_invalid_config_names_file_and_line(pair) -> None:
    p = pair()
    p.write(extra="schedule: every 0 minutes\n")
    result = p.syncd("status")
    assert result.returncode == 1
    assert "and its config is invalid: the errors above" in result.stderr
    assert f"{p.config}/integrations.d/pair.yaml:18:11: error: invalid schedule" in result.stderr


def test_a_second_daemon_on_the_same_socket_is_refused_and_a_stale_one_replaced(pair, daemon) -> None:
    p = pair(left_n=2)
    p.write(extra="schedule: every 1 hour\n")
    first = daemon(p)
    second = Daemon(p, env={"RUNTIME_DIRECTORY": str(first.runtime)})
    try:
        assert second.proc.wait(30) == 1
        assert (f"syncd is already running for the config directory {p.config} (pid {first.proc.pid}, "
                f"control socket {first.socket}): see `syncd status -c {p.config}`, or stop that daemon "
                f"first") in second.text()
    finally:
        second.close()
    first.send(signal.SIGTERM)
    assert first.proc.wait(30) == 0
    assert not first.socket.exists() and first.runtime.exists()  # the socket is removed on the way out
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(first.socket))  # bound, never listening: what a killed daemon leaves
    stale.close()
    third = daemon(p, env={"RUNTIME_DIRECTORY": str(first.runtime)})
    assert third.status()["integrations"][0]["name"] == "pair"
    assert oct(first.socket.stat().st_mode & 0o777) == "0o600"
    assert third.stop() == 0
    first.close()


def test_daemons_of_two_config_directories_each_have_their_own_socket(pair, daemon, tmp_path) -> None:
    # Issue 11: outside systemd, with no control.socket, two daemons of
    # different config directories met on one default socket, and the
    # second could not start. Each has its own now, beside the other, and
    # `syncd status -c DIR` finds DIR's by the same rule, however DIR is spelt.
    session = Path(tempfile.mkdtemp(prefix="syncd-xdg-"))  # a login session's $XDG_RUNTIME_DIR
    try:
        env = {"RUNTIME_DIRECTORY": None, "XDG_RUNTIME_DIR": str(session)}
        one, two = pair(left_n=2, config="one"), pair(left_n=3, config="two")
        for p in (one, two):
            p.write(extra="schedule: every 1 hour\n")
        first, second = daemon(one, env=env), daemon(two, env=env)
        assert first.socket is not None and second.socket is not None
        assert re.fullmatch(r"control-one-[0-9a-f]{12}\.sock", first.socket.name), first.socket
        assert re.fullmatch(r"control-two-[0-9a-f]{12}\.sock", second.socket.name), second.socket
        assert first.socket.parent == second.socket.parent == session / "syncd"
        for d, p in ((first, one), (second, two)):
            shown = d.cli("status")
            assert shown.returncode == 0, shown.stderr
            assert shown.stdout.startswith(f"syncd pid {d.proc.pid}, config {p.config}, "), shown.stdout
        relative = subprocess.run([sys.executable, "-m", "syncd", "status", "-c", "two"], capture_output=True,
                                  text=True, env=second.env, timeout=60, cwd=tmp_path)
        assert relative.stdout.startswith(f"syncd pid {second.proc.pid}, "), relative.stdout + relative.stderr
        assert first.stop() == 0 and second.stop() == 0
    finally:
        shutil.rmtree(session, ignore_errors=True)


def test_a_second_daemon_on_a_shared_control_socket_is_told_which_setting_to_change(pair, daemon) -> None:
    shared = Path(tempfile.mkdtemp(prefix="syncd-sh-")) / "control.sock"
    try:
        one, two = pair(left_n=2, config="one"), pair(left_n=2, config="two")
        for p in (one, two):  # a syncd.yaml copied from one config to the other
            p.daemon_settings += f"control: {{socket: {shared}}}\n"
            p.write(extra="schedule: every 1 hour\n")
        first = daemon(one)
        assert first.socket == shared
        second = daemon(two, ready=False)
        assert second.proc.wait(30) == 1
        message = second.text()
        assert (f"syncd: error: the control socket {shared} is taken: another syncd (pid {first.proc.pid}, "
                f"config {one.config}) is running on it, and two daemons cannot share one. Give this one "
                f"(config {two.config}) its own: set control.socket in {two.config}/syncd.yaml:3:19 to "
                f"another path; `syncd status -c {two.config}` then finds it (or `syncd status --socket "
                f"PATH`)") in message, message
        assert first.status()["config_dir"] == str(one.config)  # the first goes on, on its socket
        assert first.stop() == 0
    finally:
        shutil.rmtree(shared.parent, ignore_errors=True)


def test_a_failing_integration_never_holds_up_a_healthy_one(pair, sample_app, daemon) -> None:
    healthy = pair(left_n=3)
    healthy.write(extra="schedule: every 1 second\n")
    down = healthy.beside(sample_app, name="down", n=2, seed=5)
    down.write(extra="schedule: every 1 second\n")
    down.right.faults.add(status=503, method="GET", times=None)  # the right app is down for good
    d = daemon(healthy)
    [aborted] = d.wait_for("cycle aborted", integration="down", timeout=60)
    assert "HTTP 503" in aborted["reason"]
    healthy_cycles = d.named("cycle finished", integration="pair")
    assert len(healthy_cycles) >= 2  # it went on while the other was retrying
    entry = d.integration("down")
    assert entry["last_result"] == "aborted" and entry["failures_in_a_row"] >= 1
    assert "1 failing" in d.status()["summary"]
    down.right.faults.clear()  # the app is back: the next cycle just works
    d.wait_until(lambda: d.integration("down")["last_result"] == "ok", timeout=30, what="recovery")
    assert "0 failing" in d.status()["summary"]
    assert d.stop() == 0


def test_connector_events_say_which_integration_cycle_and_side(pair, daemon) -> None:
    p = pair(left_n=3)
    p.write(extra="schedule: every 1 hour\n")
    p.left.faults.add(status=503, method="GET", path_prefix="/cursor/contacts")  # a read retried
    p.right.faults.add(status=503, method="POST", path_prefix="/contacts")  # a write retried (503: safe)
    d = daemon(p)
    d.wait_for("cycle finished")
    retried = d.named("request retried")
    assert {(e["side"], e["why"]) for e in retried} == {("left", "HTTP 503"), ("right", "HTTP 503")}
    [cycle] = {e["cycle"] for e in d.named("cycle started")}
    assert all(e["integration"] == "pair" and e["cycle"] == cycle for e in retried)
    assert emails(p.left) == emails(p.right)
    assert d.stop() == 0
