"""Damage in a SQLite state file's ``-wal``, found before SQLite would silently drop commits.

SQLite reads a WAL up to its first frame whose checksum or salt does not
match, and ignores everything after it: right for a write torn by a power
loss (it can only be the tail), but a damaged frame in the middle (a bad
disk, a stray write, a copy gone wrong) would lose every commit after it, with
no error: the state would go back in time, links and cursors with it. So
before opening, :func:`wal_damage` walks the frames as SQLite does and,
past the first bad one, looks for later frames of the same WAL generation
(its salts) that end a transaction (a commit frame): if there is one, the
WAL is damaged, not torn, and the store is refused. A header that is not a
WAL header (bad magic, version or checksum) is damage too: SQLite would
ignore the whole file.

Frames written by a daemon running meanwhile are not damage: only a WAL
whose header reads the same before and after the walk is judged (a daemon
that restarted its WAL during the walk changed the header's salts). The
format: https://www.sqlite.org/fileformat2.html#walformat.
"""

from __future__ import annotations

import struct
from pathlib import Path

_MAGIC = {0x377F0682: "<", 0x377F0683: ">"}  # the checksums' byte order
_VERSION = 3007000
_HEADER = 32
_FRAME_HEADER = 24
# Walked at most (bytes): the checksum is computed in Python, about 10 MB/s (a WAL after a crash is
# about 4 MB: SQLite checkpoints every 1,000 pages, so about 0.4 s). A larger one only grows while
# checkpoints are held back; it is not judged (3 s is too long to hold up every open).
_LARGEST = 32 * 1024 * 1024


def _checksum(data: bytes, order: str, s1: int, s2: int) -> tuple[int, int]:
    words = iter(struct.unpack(f"{order}{len(data) // 4}I", data))
    for a, b in zip(words, words):
        s1 = (s1 + a + s2) & 0xFFFFFFFF
        s2 = (s2 + b + s1) & 0xFFFFFFFF
    return s1, s2


def _judge(wal: bytes) -> str | None:
    magic, version, page_size, _, salt1, salt2, c1, c2 = struct.unpack(">8I", wal[:_HEADER])
    order = _MAGIC.get(magic)
    if order is None or version != _VERSION or page_size < 512 or page_size & (page_size - 1):
        return "its header is not a WAL header"
    s1, s2 = _checksum(wal[:24], order, 0, 0)
    if (s1, s2) != (c1, c2):
        return "its header's checksum does not match"
    size = _FRAME_HEADER + page_size
    frames = (len(wal) - _HEADER) // size
    frame = 0
    while frame < frames:
        at = _HEADER + frame * size
        page, _, f1, f2, k1, k2 = struct.unpack(">6I", wal[at:at + _FRAME_HEADER])
        if (f1, f2) != (salt1, salt2) or page == 0:
            break
        s1, s2 = _checksum(wal[at:at + 8], order, s1, s2)
        s1, s2 = _checksum(wal[at + _FRAME_HEADER:at + size], order, s1, s2)
        if (s1, s2) != (k1, k2):
            break
        frame += 1
    later_commits = 0
    for later in range(frame + 1, frames):
        at = _HEADER + later * size
        page, commit_size, f1, f2 = struct.unpack(">4I", wal[at:at + 16])
        if (f1, f2) == (salt1, salt2) and page and commit_size:
            later_commits += 1
    if later_commits:
        return (f"frame {frame + 1} of {frames} is damaged, and {later_commits} committed "
                f"transaction{'' if later_commits == 1 else 's'} after it would be dropped")
    return None


def wal_damage(path: Path) -> str | None:
    """What is wrong with ``PATH-wal``, or None (absent, empty, sound, torn only at its end, or too large)."""
    wal_path = Path(f"{path}-wal")
    for _ in range(3):
        try:
            with open(wal_path, "rb") as f:
                header = f.read(_HEADER)
                if len(header) < _HEADER:
                    return None  # empty (a new WAL), or a header never written: SQLite starts afresh
                f.seek(0, 2)
                if f.tell() > _LARGEST:
                    return None
                f.seek(0)
                wal = f.read()
        except OSError:
            return None  # none, or unreadable: opening the store says why
        found = _judge(wal)
        if found is None:
            return None
        try:
            with open(wal_path, "rb") as f:
                if f.read(_HEADER) == header:
                    return found  # the same WAL generation throughout: damage, not a writer at work
        except OSError:
            return None
    return None
