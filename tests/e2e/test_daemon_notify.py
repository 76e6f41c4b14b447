"""The systemd notify protocol, against a fake ``$NOTIFY_SOCKET``: READY,
RELOADING/READY around a reload, STATUS, STOPPING and the watchdog."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_support import edit


FLUSH = "X-TEST-FLUSH="  # a line of the test's own, never the daemon's


class FakeSystemd:
    """An AF_UNIX datagram socket collecting what the daemon sends."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="syncd-notify-"))
        self.path = self.dir / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, list[str]]] = []
        self._received = threading.Condition()  # notified for each message
        self._flushes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue  # a look at _stop
            except OSError:
                return
            with self._received:
                self.messages.append((time.monotonic(), data.decode().split("\n")))
                self._received.notify_all()

    def lines(self) -> list[str]:
        with self._received:
            return [line for _, lines in self.messages for line in lines if not line.startswith(FLUSH)]

    def wait_for(self, line: str, count: int = 1, timeout: float = 20.0) -> float:
        """Wait until ``line`` (a prefix if it ends with ``=``) was received
        ``count`` times; returns when (``time.monotonic()``) the last came."""
        def found() -> list[float]:
            return [t for t, lines in self.messages for l in lines
                    if l == line or (line.endswith("=") and l.startswith(line))]

        with self._received:
            if not self._received.wait_for(lambda: len(found()) >= count, timeout):
                raise AssertionError(f"no {count} x {line!r} in {timeout} s; got {self.lines()}")
            return found()[count - 1]

    def flush(self) -> None:
        """Return once every message sent to the socket so far was received:
        a datagram socket's queue is in order, so a marker sent now comes last."""
        self._flushes += 1
        marker = f"{FLUSH}{self._flushes}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(marker.encode(), str(self.path))
        with self._received:
            assert self._received.wait_for(lambda: any(marker in lines for _, lines in self.messages), 10)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def systemd() -> Iterator[FakeSystemd]:
    fake = FakeSystemd()
    yield fake
    fake.close()


def test_ready_reloading_status_stopping_and_the_watchdog(pair, daemon, systemd: FakeSystemd) -> None:
    p = pair(left_n=2)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p, env={"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "400000"})
    systemd.wait_for("READY=1")
    ready = next(lines for _, lines in systemd.messages if "READY=1" in lines)
    assert "STATUS=1 integration running, 0 failing, 0 disabled" in ready
    systemd.wait_for("WATCHDOG=1", count=4)  # every 0.2 s: half of WATCHDOG_USEC
    beats = [t for t, lines in systemd.messages if "WATCHDOG=1" in lines]
    assert all(0.1 < b - a < 0.6 for a, b in zip(beats, beats[1:])), beats
    # a reload: RELOADING=1 with the monotonic clock, then READY=1 again
    d.wait_for("cycle finished")
    edit(p.config / "integrations.d" / "pair.yaml", "every 1 hour", "every 2 hours")
    systemd.wait_for("READY=1", count=2)
    reloading = next(lines for _, lines in systemd.messages if "RELOADING=1" in lines)
    [usec] = [l for l in reloading if l.startswith("MONOTONIC_USEC=")]
    assert abs(int(usec.split("=")[1]) / 1e6 - time.monotonic()) < 30  # CLOCK_MONOTONIC, in µs
    order = [l for l in systemd.lines() if l in ("READY=1", "RELOADING=1")]
    assert order == ["READY=1", "RELOADING=1", "READY=1"]
    # a bad reload: still READY=1 after it, and STATUS= says what is wrong
    edit(p.config / "integrations.d" / "pair.yaml", "every 2 hours", "every 2 hourz")
    systemd.wait_for("READY=1", count=3)
    status = [l for l in systemd.lines() if l.startswith("STATUS=")][-1]
    assert "last reload FAILED (" in status and "pair.yaml:18:" in status and "previous config running" in status
    d.send(signal.SIGTERM)
    assert d.proc.wait(30) == 0
    systemd.wait_for("STOPPING=1")


def test_no_watchdog_when_it_is_meant_for_another_process(pair, daemon, systemd: FakeSystemd) -> None:
    p = pair(left_n=1)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p, env={"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "200000",
                       "WATCHDOG_PID": str(os.getpid())})  # the test's pid, not syncd's
    ready = systemd.wait_for("READY=1")
    # Not synchronisation: the behaviour is an absence. systemd expects a
    # ping within WATCHDOG_USEC (0.2 s); a watchdog meant for syncd would
    # have pinged within that, and half of it more, after READY=1.
    time.sleep(max(0.0, ready + 0.3 - time.monotonic()))
    systemd.flush()
    assert "WATCHDOG=1" not in systemd.lines()
    assert d.stop() == 0


def test_a_stop_right_after_ready_is_graceful(pair, daemon, systemd: FakeSystemd) -> None:
    p = pair(left_n=1)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p, env={"NOTIFY_SOCKET": str(systemd.path)}, ready=False)
    systemd.wait_for("READY=1")
    d.send(signal.SIGTERM)  # the moment systemd considers it started
    assert d.proc.wait(30) == 0
    assert d.named("syncd stopped")
    systemd.wait_for("STOPPING=1")
