"""realtime.sdnotify against real AF_UNIX datagram sockets."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from realtime import sdnotify


@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    try:
        yield path, sock
    finally:
        sock.close()


def test_sends_every_state_to_a_filesystem_socket(notify_socket):
    path, sock = notify_socket
    env = {"NOTIFY_SOCKET": path}
    for state in ("READY=1", "STATUS=waiting for stream EEG", "WATCHDOG=1", "STOPPING=1"):
        assert sdnotify.notify(state, env) is True
        assert sock.recv(4096).decode() == state


def test_abstract_socket_names_start_with_at():
    name = f"rt-notify-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2.0)
    try:
        assert sdnotify.notify("READY=1", {"NOTIFY_SOCKET": "@" + name}) is True
        assert sock.recv(64) == b"READY=1"
    finally:
        sock.close()


def test_uses_the_environment_by_default(notify_socket, monkeypatch):
    path, sock = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert sdnotify.notify("STATUS=ok") is True
    assert sock.recv(64) == b"STATUS=ok"


def test_no_op_without_systemd_and_never_raises(tmp_path, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.notify("READY=1", {}) is False
    # A socket path nobody listens on, an abstract name nobody bound, and a non-socket file.
    (tmp_path / "plain").write_text("x")
    for addr in (str(tmp_path / "gone.sock"), "@" + uuid.uuid4().hex, str(tmp_path / "plain"), "relative\0bad"):
        assert sdnotify.notify("WATCHDOG=1", {"NOTIFY_SOCKET": addr}) is False


def test_watchdog_interval_is_half_of_watchdog_usec():
    assert sdnotify.watchdog_interval_s({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert sdnotify.watchdog_interval_s({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}) == 5.0
    assert sdnotify.watchdog_interval_s({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None
    assert sdnotify.watchdog_interval_s({}) is None
    assert sdnotify.watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None
    assert sdnotify.watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
