"""What a process holds, read from /proc (Linux): the tests' view of a daemon from outside."""

from __future__ import annotations

import os
from pathlib import Path


def tcp_connections(pid: int, port: int) -> set[int]:
    """The local ports of process *pid*'s TCP sockets to 127.0.0.1:*port*, in any state (one the
    peer closed and the process did not is there too, CLOSE_WAIT): its sockets' inodes among the
    connections of its network namespace. Empty once the process is gone."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
        rows = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except FileNotFoundError:  # it exited
        return set()
    found = set()
    for row in rows:
        fields = row.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if inode in inodes and int(remote.split(":")[1], 16) == port:
            found.add(int(local.split(":")[1], 16))
    return found
