"""Where the control socket is, and what a message about it names (docs/daemon.md)."""

from __future__ import annotations

from pathlib import Path

from syncd.config import DaemonSettings, load_daemon_settings
from syncd.daemon import ControlSocket, control_socket


def test_control_socket_in_syncd_yaml_wins_and_is_named_in_messages(tmp_path: Path) -> None:
    env = {"RUNTIME_DIRECTORY": "/run/syncd"}
    (tmp_path / "syncd.yaml").write_text("log: {level: info}\ncontrol:\n  socket: run/ctl.sock\n")
    settings = load_daemon_settings(tmp_path, environ={})
    where = control_socket(tmp_path, settings, env)
    assert where == ControlSocket(tmp_path / "run" / "ctl.sock", tmp_path, f"{tmp_path}/syncd.yaml:3:11")
    assert where.setting() == f"control.socket in {tmp_path}/syncd.yaml:3:11"
    # where the key is written is not a setting: moving it needs no restart
    (tmp_path / "syncd.yaml").write_text("control: {socket: run/ctl.sock}\n")
    assert load_daemon_settings(tmp_path, environ={}) == settings


def test_without_the_key_the_message_says_which_file_to_put_it_in(tmp_path: Path) -> None:
    where = control_socket(tmp_path, DaemonSettings(state_path=tmp_path / "state.db"), {"XDG_RUNTIME_DIR": "/x"})
    assert where.setting() == (f"control.socket in {tmp_path}/syncd.yaml "
                               "(a new file: `control: {socket: PATH}`)")
    (tmp_path / "syncd.yml").write_text("log: {level: info}\n")
    assert where.setting() == f"control.socket in {tmp_path}/syncd.yml"
