"""Reload when a config file changes (watchfiles: inotify, debounced).

Only the files the loader reads count: ``syncd.yaml`` and the ``*.yaml`` /
``*.yml`` files of ``connectors.d/`` and ``integrations.d/``; editor swap and
backup files, hidden files and the state database (which may sit in the
config directory) are ignored. A save by rename (write ``x.yaml.tmp``,
rename it over ``x.yaml``) shows up as a change of ``x.yaml``; a new file is
picked up like an edited one. Changes are grouped: a reload starts once the
directory has been quiet for ``step`` ms, or at most ``debounce`` ms after
the first change of a burst, so saving several files reloads once
(``reload:`` in syncd.yaml sets both; a change needs a restart).

A change made between loading the config and the watcher starting would
make no event: :func:`config_fingerprint` is taken before the load, and
compared once the watcher is live.

A config directory that is a Kubernetes ConfigMap volume is updated by the
kubelet's atomic writer: the new files go into a new hidden folder and the
``..data`` symlink is renamed over to point at it; ``syncd.yaml`` and the
folders are symlinks through ``..data`` that never change themselves. So a
change of ``..data`` itself (at the top of the directory) counts as a
change of every config file.

A ``${file:…}`` secret outside these folders is not watched: after
changing one, send SIGHUP or run ``syncd reload``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import structlog
from watchfiles import Change, awatch

from syncd.config import is_config_file

__all__ = ["DEBOUNCE_MS", "STEP_MS", "Fingerprint", "config_filter", "config_fingerprint", "watch_config"]

log = structlog.get_logger("syncd.daemon")

# The kubelet's atomic writer swaps this symlink to publish a ConfigMap's new files.
KUBELET_DATA = "..data"

DEBOUNCE_MS = 1000  # a burst of changes is grouped for at most this long
STEP_MS = 200  # and ends after this long without a change


Fingerprint = frozenset[tuple[str, int, int]]


def config_fingerprint(directory: Path) -> Fingerprint:
    """Every config file's (path, mtime, size): equal means nothing was saved."""
    root = directory.absolute()
    out = set()
    for folder in (root, root / "connectors.d", root / "integrations.d"):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for path in entries:
            if is_config_file(root, path) and not path.is_dir():
                try:
                    info = path.stat()
                except OSError:
                    continue
                out.add((str(path), info.st_mtime_ns, info.st_size))
    return frozenset(out)


def config_filter(directory: Path) -> Callable[[Change, str], bool]:
    root = directory.absolute()

    def relevant(change: Change, path: str) -> bool:
        p = Path(path)
        return is_config_file(root, p) or (p.name == KUBELET_DATA and p.parent == root)

    return relevant


async def watch_config(directory: Path, reload: Callable[[str], Awaitable[object]],
                       stop: anyio.Event, loaded: Fingerprint | None = None, *,
                       quiet_ms: int = STEP_MS, max_ms: int = DEBOUNCE_MS) -> None:
    """Call ``reload(trigger)`` after each burst of changes, until *stop* is set.

    *loaded*: the fingerprint taken before the running config was loaded.
    *quiet_ms*, *max_ms*: a burst ends after this long without a change, or
    this long after its first (``reload:`` in syncd.yaml).
    """
    async with anyio.create_task_group() as tg:
        if loaded is not None:
            tg.start_soon(_changed_meanwhile, directory, reload, loaded)
        await _watch(directory, reload, stop, quiet_ms, max(max_ms, quiet_ms))


async def _changed_meanwhile(directory: Path, reload: Callable[[str], Awaitable[object]],
                             loaded: Fingerprint) -> None:
    # watchfiles sets its watches synchronously when the loop below first
    # asks for changes; by the time this wakes, they are in place, and any
    # later save makes an event.
    await anyio.sleep(0.1)
    if config_fingerprint(directory) != loaded:
        await reload("file change before the watcher started")


async def _watch(directory: Path, reload: Callable[[str], Awaitable[object]], stop: anyio.Event,
                 quiet_ms: int, max_ms: int) -> None:
    # Watching must outlive a config directory that goes away and comes
    # back (a deploy that swaps it): after an error, start again shortly.
    while not stop.is_set():
        try:
            await _watch_once(directory, reload, stop, quiet_ms, max_ms)
        except Exception:
            log.exception("watching the config directory failed; retrying in 5 s", directory=str(directory))
            with anyio.move_on_after(5):
                await stop.wait()


async def _watch_once(directory: Path, reload: Callable[[str], Awaitable[object]], stop: anyio.Event,
                      quiet_ms: int, max_ms: int) -> None:
    async for changes in awatch(directory, watch_filter=config_filter(directory), debounce=max_ms,
                                step=quiet_ms, stop_event=stop, ignore_permission_denied=True):
        names = sorted({str(Path(path).relative_to(directory.absolute())) for _, path in changes})
        if KUBELET_DATA in names:
            names[names.index(KUBELET_DATA)] = f"{KUBELET_DATA} (a ConfigMap update)"
        await reload(f"file change: {', '.join(names)}")
