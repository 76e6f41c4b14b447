"""Reading one config file's text, or saying at FILE:LINE why it cannot be read.

Every name the loader would read (``syncd.yaml``, ``*.yaml`` in
``connectors.d/`` and ``integrations.d/``) is either a regular file of UTF-8
text or a problem naming it: a directory, a symbolic link that loops or
points nowhere, a FIFO (never opened: reading one would block the reload
for good) are mistakes the sysadmin must hear about, not files to skip
silently, since the integration or spec they were meant to hold would
otherwise just be missing. A file over :data:`MAX_FILE_BYTES` is refused
before it is parsed: the daemon loads the whole tree on every reload, and
a multi-megabyte file (a log or a dump saved under the wrong name) would
keep a core busy for minutes and stay in the parse cache. Text that is
not UTF-8 is pointed at by its first bad byte's line and column.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from syncd.config._errors import Problem

__all__ = ["MAX_FILE_BYTES", "read_config_text"]

# 64 times the largest shipped connector spec (16 kB); a file this size
# still parses in a few seconds.
MAX_FILE_BYTES = 1024 * 1024


def read_config_text(path: Path, file: str) -> tuple[str | None, list[Problem]]:
    """*path*'s text, or None and the problem (at *file*, as shown in messages)."""

    def problem(message: str, line: int = 1, col: int = 1) -> tuple[None, list[Problem]]:
        return None, [Problem(file, line, col, message)]

    try:
        info = path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            return problem("cannot read the file: it is a symbolic link that loops (too many levels of links)")
        if isinstance(e, FileNotFoundError) and path.is_symlink():
            return problem(f"cannot read the file: it is a symbolic link to {os.readlink(path)}, which does not exist")
        return problem(f"cannot read the file: {(e.strerror or type(e).__name__).lower()}")
    if stat.S_ISDIR(info.st_mode):
        return problem("cannot read the file: it is a directory")
    if not stat.S_ISREG(info.st_mode):
        return problem("cannot read the file: it is not a regular file (a FIFO, socket or device)")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        return problem(f"cannot read the file: {(e.strerror or type(e).__name__).lower()}")
    if len(data) > MAX_FILE_BYTES:
        size = max(info.st_size, len(data))
        return problem(f"the file is too large ({size / 1024 / 1024:.1f} MiB): a config file holds at most "
                       f"{MAX_FILE_BYTES // 1024 // 1024} MiB")
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as e:
        before = data[:e.start].decode("utf-8")  # valid up to the first bad byte
        line = before.count("\n") + 1
        col = len(before) - before.rfind("\n")
        return problem(f"the file is not UTF-8 text (byte 0x{data[e.start]:02x})", line, col)
