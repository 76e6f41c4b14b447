"""Hot reload: on save, on SIGHUP and on ``syncd reload``; a bad tree changes
nothing; a good one restarts only the integrations it changes."""

from __future__ import annotations

import signal

from daemon_support import edit
from e2e_support import by_email


NAMES_ONLY = """\
  - {left: email, right: email}
  - {left: first_name, right: first_name}
"""
WITH_LAST_NAME = NAMES_ONLY + "  - {left: last_name, right: last_name}\n"


def test_saving_a_file_applies_the_new_config(pair, daemon) -> None:
    p = pair(left_n=4)
    p.write(fields=NAMES_ONLY, extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    assert all(c.get("last_name") in (None, "") for c in p.right.store.all())
    file = p.config / "integrations.d" / "pair.yaml"
    edit(file, "  - {left: first_name, right: first_name}\n", WITH_LAST_NAME.split("\n", 1)[1])
    [applied] = d.wait_for("reload applied")
    assert applied["restarted"] == ["pair"] and applied["trigger"] == "file change: integrations.d/pair.yaml"
    d.wait_for("cycle finished", count=2)  # the new config runs at once, not in an hour
    left = by_email(p.left)
    assert {e: c["last_name"] for e, c in by_email(p.right).items()} == {e: c["last_name"] for e, c in left.items()}
    assert d.stop() == 0


def test_editor_droppings_and_unrelated_files_do_not_reload(pair, daemon) -> None:
    p = pair(left_n=2)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    folder = p.config / "integrations.d"
    (folder / ".pair.yaml.swp").write_text("junk")
    (folder / "pair.yaml~").write_text("junk: [")
    (folder / "notes.txt").write_text("hello")
    (p.config / "README").write_text("hello")
    (folder / "new.yaml").write_text("")  # a new file counts (and is invalid: empty)
    [failed] = d.wait_for("reload failed: the previous config keeps running")
    assert failed["trigger"] == "file change: integrations.d/new.yaml"
    assert failed["errors"] == [f"{folder / 'new.yaml'}:1:1: error: the file is empty: expected an integration"]
    assert len(d.named("reload started")) == 1
    assert d.stop() == 0


def test_sighup_reloads(pair, daemon) -> None:
    p = pair(left_n=2)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    d.send(signal.SIGHUP)
    [applied] = d.wait_for("reload applied", trigger="SIGHUP")
    assert applied["restarted"] == applied["started"] == applied["stopped"] == []  # nothing changed
    assert d.integration("pair")["cycles"] == 1  # and nothing restarted
    assert d.stop() == 0


def test_syncd_reload_reports_success_and_failure_and_a_bad_tree_changes_nothing(pair, daemon) -> None:
    p = pair(left_n=3)
    p.write(extra="schedule: every 1 second\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    ok = d.cli("reload")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("reloaded in ") and "nothing changed" in ok.stdout
    # A bad edit: the daemon keeps the old config and says exactly where.
    file = p.config / "integrations.d" / "pair.yaml"
    edit(file, "match: {left: email, right: email}", "match: {left: emial, right: email}")
    bad = d.cli("reload")
    assert bad.returncode == 78
    assert f"{file}:10:15: error: sampleapp.contacts has no field 'emial'; did you mean 'email'? (match.left)" \
        in bad.stderr
    assert "reload failed: the daemon keeps running its previous config" in bad.stderr
    status = d.status()
    assert status["last_reload"]["ok"] is False and "pair.yaml:10:15" in status["last_reload"]["errors"][0]
    assert "last reload FAILED" in status["summary"]
    assert status["config"]["valid"] is False and status["config"]["errors"] == status["last_reload"]["errors"]
    assert status["integrations"][0]["config_errors"] == status["last_reload"]["errors"]  # its own file
    assert f"  config: {file}:10:15: error:" in d.cli("status").stdout
    cycles = len(d.named("cycle finished"))
    d.wait_for("cycle finished", count=cycles + 2)  # the old config keeps syncing
    p.left.store.update(p.left.store.all()[0]["id"], first_name="StillSyncing")
    d.wait_until(lambda: "StillSyncing" in [c["first_name"] for c in p.right.store.all()], what="a sync")
    assert "pair: waiting" in d.cli("status").stdout or "pair: running" in d.cli("status").stdout
    # fixed: the reload goes through and the failure is forgotten
    edit(file, "emial", "email")
    d.wait_until(lambda: d.status()["last_reload"]["ok"], what="a good reload")
    assert "FAILED" not in d.status()["summary"]
    assert d.status()["config"] == {"valid": True, "errors": []}
    assert d.status()["integrations"][0]["config_errors"] == []
    assert d.stop() == 0


def test_only_the_changed_integration_restarts_and_a_long_cycle_goes_on(pair, sample_app, daemon) -> None:
    slow = pair(left_n=30)
    slow.write(extra="schedule: every 1 hour\n")
    other = slow.beside(sample_app, name="other", n=3, seed=3)
    other.write(extra="schedule: every 1 hour\n")
    slow.right.faults.add(delay=4.0, method="GET", path_prefix="/cursor/contacts")  # its first read takes 4 s
    d = daemon(slow)
    [started] = d.wait_for("cycle started", integration="pair")
    edit(other.config / "integrations.d" / "other.yaml", "every 1 hour", "every 2 hours")
    [applied] = d.wait_for("reload applied")
    assert applied["restarted"] == ["other"]
    [finished] = d.wait_for("cycle finished", integration="pair", timeout=30)
    assert finished["cycle"] == started["cycle"]  # the same cycle, not a restarted one
    assert started["timestamp"] < applied["timestamp"] < finished["timestamp"]
    assert not d.named("cycle stopped at a checkpoint", integration="pair")
    assert d.integration("pair")["cycles"] == 1 and d.integration("other")["schedule"] == "every 2 hours"
    assert len(slow.right.store.all()) == 30
    assert d.stop() == 0


def test_a_setting_that_needs_a_restart_is_reported(pair, daemon) -> None:
    p = pair(left_n=2)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    p.daemon_settings = "metrics: {listen: '127.0.0.1:9999'}\nlog: {level: debug}\n"
    p.write(extra="schedule: every 1 hour\n")
    result = d.cli("reload")
    assert result.returncode == 0, result.stderr
    assert "changed settings need a restart to apply: metrics_listen" in result.stderr
    assert d.status()["restart_needed"] == ["metrics_listen"]
    assert "restart needed for metrics_listen" in d.status()["summary"]
    assert d.stop() == 0


def test_a_bad_file_added_then_removed_restarts_nothing(pair, sample_app, daemon) -> None:
    # Issue 11, as a new user met it: `syncd run -c config` (a relative
    # path), a broken file added (the reload fails, the running config
    # goes on), then removed (the reload succeeds). No integration's config
    # changed, so none restarts: each keeps its runner, mid-schedule.
    a = pair(left_n=3)
    a.write(extra="schedule: every 1 hour\n")
    b = a.beside(sample_app, name="other", n=2, seed=3)
    b.write(extra="schedule: every 1 hour\n")
    d = daemon(a, cwd=a.config.parent)
    d.wait_for("cycle finished", count=2)
    runners = {i["name"]: (i["cycles"], i["last_start"], i["next_run"]) for i in d.status()["integrations"]}
    broken = a.config / "integrations.d" / "broken.yaml"
    broken.write_text("integration: broken\nleft: [\n")
    [failed] = d.wait_for("reload failed: the previous config keeps running")
    # named as the user spelled the directory, as at start
    assert failed["errors"][0].startswith("config/integrations.d/broken.yaml:3:1: error: "), failed["errors"]
    broken.unlink()
    [applied] = d.wait_for("reload applied")
    assert applied["trigger"] == "file change: integrations.d/broken.yaml"
    assert applied["restarted"] == applied["started"] == applied["stopped"] == []
    again = d.cli("reload")
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout + again.stderr
    # the same runners: none stopped at a checkpoint, none started over
    assert {i["name"]: (i["cycles"], i["last_start"], i["next_run"]) for i in d.status()["integrations"]} \
        == runners
    assert not d.named("cycle stopped at a checkpoint") and len(d.named("cycle started")) == 2
    assert d.stop() == 0
