"""The real ``syncd run`` process, driven and watched through its JSON log.

The daemon's stderr goes to a file (JSON lines, since it is not a
terminal); tests wait for events in it rather than sleeping blindly.  A
file another process appends to gives no event to block on, so waiting
polls it every few milliseconds, reading only what was appended since.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from e2e_support import REPO, Pair

from syncd.daemon import call_daemon

Event = dict[str, Any]
POLL = 0.01  # seconds between two looks at the log (or another check) while waiting


def _parse(line: str) -> Event:
    try:
        event: Event = json.loads(line)
    except ValueError:
        return {"event": "(not json)", "text": line}
    return event


class Daemon:
    """``syncd run -c DIR`` started; :meth:`stop` (or the fixture) ends it.

    *cwd*: run it there, with DIR relative to it, as a user who types
    ``syncd run -c config`` does (by default, DIR is absolute). *env*: more
    environment; a name given None is taken out of it.
    """

    def __init__(self, pair: Pair, *, env: Mapping[str, str | None] | None = None,
                 args: tuple[str, ...] = (), cwd: Path | None = None) -> None:
        self.pair = pair
        # The socket in a short private directory, as systemd's
        # RuntimeDirectory= gives one: a Unix socket path holds 107 bytes at
        # most, and pytest's tmp_path can be longer. A test of the rule
        # outside systemd gives RUNTIME_DIRECTORY=None.
        given = dict(env or {})
        self._own_runtime = "RUNTIME_DIRECTORY" not in given
        if self._own_runtime:
            given["RUNTIME_DIRECTORY"] = tempfile.mkdtemp(prefix="syncd-rt-")
        runtime = given["RUNTIME_DIRECTORY"]
        self.runtime = Path(runtime) if runtime else None
        # where it listens (until `syncd started` says, where it should)
        self.socket = self.runtime / "control.sock" if self.runtime else None
        self.log_path = pair.config.parent / f"daemon-{time.monotonic_ns()}.log"
        self.env = {k: v for k, v in {**pair.env(), **given}.items() if v is not None}
        self._log = open(self.log_path, "wb")
        config = os.path.relpath(pair.config, cwd) if cwd is not None else str(pair.config)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syncd", "run", "-c", config, *args],
            stdout=subprocess.DEVNULL, stderr=self._log, env=self.env, cwd=cwd or REPO)
        self._seen = 0  # bytes of the log parsed into _parsed
        self._parsed: list[Event] = []  # its complete lines

    # --- the log -------------------------------------------------------------

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self) -> list[Event]:
        with open(self.log_path, "rb") as f:
            f.seek(self._seen)
            new = f.read()
        complete = new.rfind(b"\n") + 1  # a line still being written is parsed again next time
        self._parsed.extend(_parse(line) for line in new[:complete].decode(errors="replace").splitlines())
        self._seen += complete
        return self._parsed + [_parse(line) for line in new[complete:].decode(errors="replace").splitlines()]

    def named(self, event: str, **match: Any) -> list[Event]:
        return [e for e in self.events()
                if e.get("event") == event and all(e.get(k) == v for k, v in match.items())]

    def wait_for(self, event: str, *, count: int = 1, timeout: float = 20.0, **match: Any) -> list[Event]:
        """Wait until *event* (with *match*) has been logged *count* times."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.named(event, **match)
            if len(found) >= count:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"syncd exited ({self.proc.returncode}) before {event!r}:\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count} x {event!r} {match} within {timeout} s:\n{self.text()}")
            time.sleep(POLL)

    def wait_until(self, check: Callable[[], bool], *, timeout: float = 20.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or check}:\n{self.text()}")
            time.sleep(POLL)

    def ready(self, timeout: float = 20.0) -> Daemon:
        [started] = self.wait_for("syncd started", timeout=timeout)
        self.socket = Path(started["socket"])
        return self

    # --- talking to it -------------------------------------------------------

    def status(self) -> dict[str, Any]:
        assert self.socket is not None, "not ready: where it listens is not known yet"
        code, body = call_daemon(self.socket, "GET", "/v1/status", timeout=10)
        assert code == 200, body
        return body

    def integration(self, name: str) -> dict[str, Any]:
        [entry] = [i for i in self.status()["integrations"] if i["name"] == name]
        return entry

    def cli(self, *args: str, timeout: float = 60, secrets: bool = True) -> subprocess.CompletedProcess[str]:
        """``syncd ARGS -c CONFIG``; *secrets* False: in a shell without the
        daemon's credentials, as an operator's usually is."""
        env = self.env if secrets else {k: v for k, v in self.env.items() if k not in ("LEFT_TOKEN", "RIGHT_TOKEN")}
        return subprocess.run([sys.executable, "-m", "syncd", *args, "-c", str(self.pair.config)],
                              capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 40.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()
        if self._own_runtime and self.runtime is not None:
            shutil.rmtree(self.runtime, ignore_errors=True)


def edit(path: Path, old: str, new: str) -> None:
    """Change a config file the way an editor saving by rename does."""
    text = path.read_text()
    assert old in text, (old, text)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text.replace(old, new, 1))
    os.replace(tmp, path)
