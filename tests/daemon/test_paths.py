"""Where the control socket is: one per config directory, found the same
way by ``syncd run`` and by ``syncd status``/``reload`` (docs/daemon.md)."""

from __future__ import annotations

import os
from pathlib import Path

from syncd.config import DaemonSettings, load_daemon_settings
from syncd.daemon import ControlSocket, control_socket


def test_the_system_config_directory_keeps_the_plain_name(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    assert control_socket(Path("/etc/syncd"), None, env).path == tmp_path / "syncd" / "control.sock"
    assert control_socket(Path("/etc/syncd/"), None, env).path == tmp_path / "syncd" / "control.sock"


def test_any_other_directory_has_its_own_socket_however_it_is_spelt(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/1000"}
    (tmp_path / "crm").mkdir()
    (tmp_path / "other" / "crm").mkdir(parents=True)
    os.symlink(tmp_path / "crm", tmp_path / "link")
    path = control_socket(tmp_path / "crm", None, env).path
    assert path.parent == Path("/run/user/1000/syncd")
    assert path.name.startswith("control-crm-") and path.name.endswith(".sock") and len(path.name) == 29
    # the same directory by a symlink, or relative to the working directory: the same socket
    assert control_socket(tmp_path / "link", None, env).path == path
    assert control_socket(Path(os.path.relpath(tmp_path / "crm")), None, env).path == path
    # another directory of the same name: another socket
    assert control_socket(tmp_path / "other" / "crm", None, env).path != path
    # an odd name is made safe for a file name
    assert control_socket(Path("/srv/my syncd!"), None, env).path.name.startswith("control-my_syncd_-")


def test_under_systemd_the_unit_runtime_directory_holds_control_sock(tmp_path: Path) -> None:
    # RuntimeDirectory= belongs to one service; `ExecReload=syncd reload`
    # (no -c) finds the daemon whatever -c a drop-in gives ExecStart=.
    env = {"RUNTIME_DIRECTORY": "/run/syncd:/run/other", "XDG_RUNTIME_DIR": "/run/user/0"}
    assert control_socket(tmp_path, None, env).path == Path("/run/syncd/control.sock")


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


def test_the_command_line_also_looks_for_the_units_socket_for_the_system_config(tmp_path: Path,
                                                                               monkeypatch) -> None:
    # A root shell has XDG_RUNTIME_DIR=/run/user/0; the unit's daemon listens
    # in its RuntimeDirectory, /run/syncd: `sudo syncd status` must find it.
    import argparse

    from syncd.cli._daemon_client import UNIT_SOCKET, socket_paths

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    system = argparse.Namespace(socket=None, config_dir="/etc/syncd")
    assert socket_paths(system) == [tmp_path / "syncd" / "control.sock", UNIT_SOCKET]
    unit = (Path(__file__).resolve().parents[2] / "systemd" / "syncd.service").read_text()
    assert "\nRuntimeDirectory=syncd\n" in unit and UNIT_SOCKET == Path("/run/syncd/control.sock")
    other = argparse.Namespace(socket=None, config_dir=str(tmp_path))  # a unit for it would say -c
    assert len(socket_paths(other)) == 1
    named = argparse.Namespace(socket=str(tmp_path / "x.sock"), config_dir="/etc/syncd")
    assert socket_paths(named) == [tmp_path / "x.sock"]
    monkeypatch.setenv("RUNTIME_DIRECTORY", "/run/syncd")  # under the unit itself: one place
    assert socket_paths(system) == [UNIT_SOCKET]
