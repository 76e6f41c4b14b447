"""Where the control socket lives, and making its directory safely.

The socket is the daemon's whole control surface (reload, status, and
later retries and bulk syncs), so only its owner may reach it: it is
created 0600 inside a directory that only the owner can enter.

Each config directory has its own daemon, so each has its own socket: two
daemons started with different ``-c DIR`` never meet on one, and
``syncd status -c DIR`` finds DIR's daemon by the same rule. In order:

- ``control.socket`` in syncd.yaml;
- ``$RUNTIME_DIRECTORY/control.sock``: systemd's ``RuntimeDirectory=``
  (made for us, 0700 in the shipped unit) belongs to one service, so the
  name needs no more; and ``ExecReload=syncd reload`` finds it whatever
  ``-c`` a drop-in gives ``ExecStart=``;
- else a folder, ``$XDG_RUNTIME_DIR/syncd`` (a user's login session),
  ``/run/syncd`` for root, else ``/tmp/syncd-UID`` (which must be ours
  and private), holding ``control.sock`` for the system config directory
  ``/etc/syncd`` and ``control-NAME-HASH.sock`` for any other: NAME is the
  directory's last part, for a person reading ``ls``; HASH, 12 hex digits
  of the SHA-256 of its resolved path, tells apart two directories of the
  same name, and is the same however DIR is spelt (relative, a symlink).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from syncd.config import DEFAULT_CONFIG_DIR, DaemonSettings

__all__ = ["SOCKET_NAME", "ControlPathError", "ControlSocket", "control_socket", "prepare_socket_dir"]

SOCKET_NAME = "control.sock"
# sun_path holds 108 bytes on Linux, the terminating NUL included.
_MAX_SOCKET_PATH = 107
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ControlPathError(Exception):
    """The control socket cannot be placed where asked, and why."""


@dataclass(frozen=True, slots=True)
class ControlSocket:
    """One config directory's control socket, and what chose its path
    (which a message about it must name)."""

    path: Path
    config_dir: Path
    set_at: str = ""  # FILE:LINE:COL of control.socket in syncd.yaml; "": the default rule chose

    def setting(self) -> str:
        """Where to change it: ``control.socket in FILE[:LINE:COL]``."""
        if self.set_at:
            return f"control.socket in {self.set_at}"
        for name in ("syncd.yaml", "syncd.yml"):
            if (self.config_dir / name).is_file():
                return f"control.socket in {self.config_dir / name}"
        return f"control.socket in {self.config_dir / 'syncd.yaml'} (a new file: `control: {{socket: PATH}}`)"


def control_socket(config_dir: Path, settings: DaemonSettings | None,
                   environ: Mapping[str, str] | None = None) -> ControlSocket:
    """The control socket of the daemon of *config_dir* (see the module
    docstring); *settings* None when syncd.yaml cannot be read."""
    if settings is not None and settings.control_socket is not None:
        return ControlSocket(settings.control_socket, config_dir, settings.control_socket_at)
    env = os.environ if environ is None else environ
    runtime = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if runtime:
        return ControlSocket(Path(runtime) / SOCKET_NAME, config_dir)
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if xdg:
        folder = Path(xdg) / "syncd"
    elif os.geteuid() == 0:
        folder = Path("/run/syncd")
    else:
        folder = Path(f"/tmp/syncd-{os.geteuid()}")
    return ControlSocket(folder / _socket_name(config_dir), config_dir)


def _socket_name(config_dir: Path) -> str:
    real = os.path.realpath(config_dir)
    if real == os.path.realpath(DEFAULT_CONFIG_DIR):
        return SOCKET_NAME
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:12]
    name = _UNSAFE.sub("_", os.path.basename(real))[:32] or "root"
    return f"control-{name}-{digest}.sock"


def prepare_socket_dir(where: ControlSocket) -> None:
    """Make the socket's directory (0700) if missing; refuse one that
    another user could write to, or a path too long for a Unix socket."""
    path = where.path
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        raise ControlPathError(
            f"control socket path {path} is {len(os.fsencode(path))} bytes, more than the "
            f"{_MAX_SOCKET_PATH} a Unix socket allows: set {where.setting()} to a shorter path")
    folder = path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as e:
        raise ControlPathError(f"cannot create the control socket's directory {folder}: {e.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ControlPathError(f"control socket directory {folder} is not a directory")
    if info.st_uid != os.geteuid():
        raise ControlPathError(
            f"control socket directory {folder} belongs to uid {info.st_uid}, not to this user "
            f"({os.geteuid()}): refusing to listen where someone else controls the directory")
    if info.st_mode & 0o022:
        raise ControlPathError(
            f"control socket directory {folder} is writable by others (mode {stat.S_IMODE(info.st_mode):o}): "
            f"make it 0700 (chmod 700 {folder})")
