"""The systemd notify protocol, against real AF_UNIX datagram sockets."""

from __future__ import annotations

import fcntl
import os
import re
import select
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncd.daemon import Notifier

_SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[Path]:
    """Where systemd's socket would be: in tmp_path unless that is too long an address."""
    path = tmp_path / "notify.sock"
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="sd") as short:  # a long $TMPDIR
        yield Path(short) / "notify.sock"


@pytest.fixture
def listener(socket_path: Path) -> Iterator[socket.socket]:
    """What systemd listens on: a bound datagram socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(os.fspath(socket_path))
        sock.settimeout(5)
        yield sock


@pytest.fixture
def notifier(socket_path: Path, listener: socket.socket) -> Iterator[Notifier]:
    with Notifier.from_environ({"NOTIFY_SOCKET": os.fspath(socket_path)}) as n:
        yield n


def _nothing_waiting(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0.05)
    return not readable


@pytest.mark.parametrize(("send", "expected"), [
    (lambda n: n.ready("3 integrations running"), b"READY=1\nSTATUS=3 integrations running"),
    (lambda n: n.stopping(), b"STOPPING=1"),
    (lambda n: n.status("syncing crm-to-newsletter"), b"STATUS=syncing crm-to-newsletter"),
    (lambda n: n.status("reload failed:\na.yaml:3:1: error\r\nb.yaml:4:2: error"),
     b"STATUS=reload failed:; a.yaml:3:1: error; b.yaml:4:2: error"),
    (lambda n: n.watchdog(), b"WATCHDOG=1"),
    (lambda n: n.notify("READY=1", "STATUS=3 integrations running"),
     b"READY=1\nSTATUS=3 integrations running"),
    (lambda n: n.notify("STATUS=caf\u00e9 \u2713"), "STATUS=caf\u00e9 \u2713".encode()),
    (lambda n: n.ready("two\nlines"), b"READY=1\nSTATUS=two; lines"),
], ids=["ready", "stopping", "status", "status-multiline", "watchdog", "notify", "utf8",
        "ready-multiline"])
def test_each_message_arrives_as_exact_bytes(notifier: Notifier, listener: socket.socket,
                                             send: Callable[[Notifier], None], expected: bytes) -> None:
    assert notifier.enabled
    send(notifier)
    assert listener.recv(4096) == expected
    assert _nothing_waiting(listener)  # one datagram per call
    assert notifier.last_error is None


def test_reloading_carries_the_monotonic_clock(notifier: Notifier, listener: socket.socket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    match = re.fullmatch(rb"RELOADING=1\nMONOTONIC_USEC=(\d+)", listener.recv(4096))
    assert match, "RELOADING=1 then MONOTONIC_USEC=<µs>"
    assert before <= int(match[1]) <= after


def test_a_reload_is_bracketed(notifier: Notifier, listener: socket.socket) -> None:
    notifier.reloading()
    notifier.ready("2 integrations running")
    assert listener.recv(4096).startswith(b"RELOADING=1\n")
    assert listener.recv(4096) == b"READY=1\nSTATUS=2 integrations running"


def test_notify_without_lines_sends_nothing(notifier: Notifier, listener: socket.socket) -> None:
    notifier.notify()
    assert _nothing_waiting(listener)


def test_abstract_socket() -> None:
    name = f"syncd-test-{os.getpid()}-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        with Notifier.from_environ({"NOTIFY_SOCKET": "@" + name}) as n:
            assert n.enabled
            n.ready("up")
            assert sock.recv(4096) == b"READY=1\nSTATUS=up"
            n.watchdog()
            assert sock.recv(4096) == b"WATCHDOG=1"
        assert n.last_error is None


def test_the_default_environment_is_os_environ(socket_path: Path, listener: socket.socket,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", os.fspath(socket_path))
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    with Notifier.from_environ() as n:
        n.stopping()
        assert listener.recv(4096) == b"STOPPING=1"
        assert n.watchdog_interval() == 2.0


def _every_call(n: Notifier) -> None:
    n.notify("READY=1", "STATUS=x")
    n.ready("x")
    n.reloading()
    n.stopping()
    n.status("x")
    n.watchdog()


@pytest.mark.parametrize("environ", [{}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "relative/notify.sock"}],
                         ids=["unset", "empty", "relative"])
def test_without_a_notify_socket_every_call_is_a_noop(environ: dict[str, str]) -> None:
    n = Notifier.from_environ(environ)
    assert not n.enabled
    _every_call(n)
    assert n.last_error is None
    assert n.watchdog_interval() is None
    n.close()
    n.close()


def test_the_socket_is_non_blocking_and_close_on_exec(notifier: Notifier) -> None:
    sock = notifier._sock
    assert sock is not None
    assert sock.type == socket.SOCK_DGRAM and sock.family == socket.AF_UNIX
    assert not sock.getblocking()
    assert fcntl.fcntl(sock.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC


def test_a_removed_socket_never_raises(socket_path: Path, listener: socket.socket,
                                       notifier: Notifier) -> None:
    notifier.status("before")
    assert listener.recv(4096) == b"STATUS=before"
    listener.close()  # systemd gone: nobody listens, the file stays
    _every_call(notifier)
    assert isinstance(notifier.last_error, ConnectionRefusedError)
    socket_path.unlink()  # and then the file goes too
    _every_call(notifier)
    assert isinstance(notifier.last_error, FileNotFoundError)


def test_a_socket_back_after_a_failure_is_used_again(socket_path: Path, listener: socket.socket,
                                                     notifier: Notifier) -> None:
    listener.close()
    socket_path.unlink()
    notifier.watchdog()
    assert isinstance(notifier.last_error, FileNotFoundError)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as again:  # systemd re-executed
        again.bind(os.fspath(socket_path))
        again.settimeout(5)
        notifier.watchdog()
        assert again.recv(4096) == b"WATCHDOG=1"


def test_a_full_queue_drops_instead_of_blocking(notifier: Notifier, listener: socket.socket) -> None:
    start = time.monotonic()
    for _ in range(20_000):  # nobody reads: the receiver's queue fills up
        notifier.status("x" * 512)
        if isinstance(notifier.last_error, BlockingIOError):
            break
    assert isinstance(notifier.last_error, BlockingIOError)
    assert time.monotonic() - start < 5
    assert listener.recv(4096) == b"STATUS=" + b"x" * 512  # what got through is intact


def test_after_close_calls_are_noops(notifier: Notifier, listener: socket.socket) -> None:
    notifier.close()
    assert not notifier.enabled
    _every_call(notifier)
    assert _nothing_waiting(listener)
    notifier.close()


@pytest.mark.parametrize(("environ", "expected"), [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),
    ({"WATCHDOG_USEC": "1500", "WATCHDOG_PID": "4242"}, 0.00075),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4243"}, None),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "pid"}, None),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": ""}, None),
    ({"WATCHDOG_USEC": "30s"}, None),
    ({"WATCHDOG_USEC": ""}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "-30000000"}, None),
    ({"WATCHDOG_USEC": "1e6"}, None),
    ({"WATCHDOG_PID": "4242"}, None),
    ({}, None),
], ids=["usec", "own-pid", "short", "init-pid", "other-pid", "garbage-pid", "empty-pid",
        "garbage-usec", "empty-usec", "zero", "negative", "float-usec", "pid-only", "unset"])
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    n = Notifier.from_environ(environ, pid=4242)
    assert n.watchdog_interval() == expected


def test_watchdog_interval_defaults_to_our_pid() -> None:
    own = {"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_environ(own).watchdog_interval() == 5.0
    parent = {"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getppid())}
    assert Notifier.from_environ(parent).watchdog_interval() is None
