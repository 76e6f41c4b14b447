"""``reload: {quiet_seconds, max_seconds}`` in syncd.yaml: how saves are grouped into one reload."""

from __future__ import annotations

import time

import pytest

from syncd.config import ConfigError, load_config


def test_saves_within_the_quiet_time_make_one_reload(pair, daemon) -> None:
    # Two files saved half a second apart: with the default quiet time
    # (0.2 s) that is two reloads; with 2 s, one, which sees both.
    p = pair(left_n=2)
    p.daemon_settings = "log: {level: info}\nreload: {quiet_seconds: 2, max_seconds: 5}\n"
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    folder = p.config / "integrations.d"
    (folder / "a.yaml").write_text("")
    time.sleep(0.5)
    (folder / "b.yaml").write_text("")
    [failed] = d.wait_for("reload failed: the previous config keeps running")
    assert failed["trigger"] == "file change: integrations.d/a.yaml, integrations.d/b.yaml"
    assert [e.split(": error: ")[1] for e in failed["errors"]] == ["the file is empty: expected an integration"] * 2
    time.sleep(2.5)  # no second reload follows
    assert len(d.named("reload started")) == 1
    assert d.stop() == 0


def test_the_settings_and_their_bounds(tmp_path) -> None:
    (tmp_path / "syncd.yaml").write_text("reload: {quiet_seconds: 0.5, max_seconds: 0.1}\n")
    settings = load_config(tmp_path, environ={}).daemon
    # a longest wait under the quiet time counts as the quiet time
    assert (settings.reload_quiet_seconds, settings.reload_max_seconds) == (0.5, 0.5)
    (tmp_path / "syncd.yaml").write_text("log: {level: info}\n")
    settings = load_config(tmp_path, environ={}).daemon
    assert (settings.reload_quiet_seconds, settings.reload_max_seconds) == (0.2, 1.0)
    (tmp_path / "syncd.yaml").write_text("reload: {quiet_seconds: 0}\n")
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path, environ={})
    assert [str(p) for p in e.value.problems] == [
        f"{tmp_path}/syncd.yaml:1:25: error: quiet_seconds must be at least 0.05 (reload.quiet_seconds)"]
