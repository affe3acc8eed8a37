"""The watchdog is fed by completed loop iterations only (in-process daemon, LiteRT toy model)."""

from __future__ import annotations

import socket
import time

import pytest

from realtime.config import build_config
from realtime.daemon import Daemon
from rt_helpers import unique

pytestmark = pytest.mark.integration


def test_watchdog_pings_only_while_iterations_complete(toy_export, tmp_path):
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.05)

    def drain() -> list[str]:
        out = []
        while True:
            try:
                out.append(sock.recv(4096).decode())
            except socket.timeout:
                return out

    cfg = build_config({"stream": {"name": unique("absent"), "resolve_timeout_s": 0.1},
                        "model": {"path": str(toy_export), "backend": "litert"},
                        "alerts": {"endpoint": "tcp://127.0.0.1:*", "replay_endpoint": "tcp://127.0.0.1:0",
                                   "log_path": str(tmp_path / "alerts.jsonl")},
                        "metrics": {"enabled": False}})
    d = Daemon(cfg, env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "100000"})
    try:
        d.start()
        notes = drain()
        assert notes[0] == "READY=1" and notes[1].startswith("STATUS=waiting for stream")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0:  # waiting for an absent stream: every iteration completes
            d.iterate()
        assert drain().count("WATCHDOG=1") >= 3
        time.sleep(0.5)  # a hung loop: no iteration completes, nothing else pings
        assert "WATCHDOG=1" not in drain()
        d.iterate()
        assert drain() == ["WATCHDOG=1"]
    finally:
        d.shutdown()
        sock.close()
    assert d.windows_total == 0
