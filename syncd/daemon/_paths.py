"""Where the control socket lives, and making its directory safely.

The socket is the daemon's whole control surface (reload, status, and
later retries and bulk syncs), so only its owner may reach it: it is
created 0600 inside a directory that only the owner can enter.

Order: ``control.socket`` in syncd.yaml; ``$RUNTIME_DIRECTORY`` (systemd's
``RuntimeDirectory=``, made for us, 0700 in the shipped unit);
``$XDG_RUNTIME_DIR/syncd`` (a user's login session); ``/run/syncd`` for
root; else ``/tmp/syncd-UID``, which must be ours and private.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

__all__ = ["SOCKET_NAME", "ControlPathError", "control_socket_path", "prepare_socket_dir"]

SOCKET_NAME = "control.sock"
# sun_path holds 108 bytes on Linux, the terminating NUL included.
_MAX_SOCKET_PATH = 107


class ControlPathError(Exception):
    """The control socket cannot be placed where asked, and why."""


def control_socket_path(configured: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """The control socket's path (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    if configured is not None:
        return configured
    runtime = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if runtime:
        return Path(runtime) / SOCKET_NAME
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if xdg:
        return Path(xdg) / "syncd" / SOCKET_NAME
    if os.geteuid() == 0:
        return Path("/run/syncd") / SOCKET_NAME
    return Path(f"/tmp/syncd-{os.geteuid()}") / SOCKET_NAME


def prepare_socket_dir(path: Path) -> None:
    """Make the socket's directory (0700) if missing; refuse one that
    another user could write to, or a path too long for a Unix socket."""
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        raise ControlPathError(
            f"control socket path {path} is {len(os.fsencode(path))} bytes, more than the "
            f"{_MAX_SOCKET_PATH} a Unix socket allows: set control.socket in syncd.yaml to a shorter path")
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
