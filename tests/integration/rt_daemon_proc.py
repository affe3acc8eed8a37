"""A daemon subprocess for tests: started with `python -m realtime detect`, its stderr collected, its
endpoints parsed from the "ready:" log line, a ZeroMQ subscriber and a sd_notify socket attached."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import zmq
from rt_helpers import REPO, scrape
from rt_helpers import env as base_env

READY = re.compile(r"ready: alerts=(\S+) replay=(\S+) metrics=(\S+)")


class Notifications:
    """A real AF_UNIX datagram socket to pass as NOTIFY_SOCKET; a thread collects what arrives."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.items: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                self.items.append(self.sock.recv(4096).decode())
            except (TimeoutError, OSError):
                continue

    def wait(self, predicate, timeout_s: float, what: str) -> str:
        """The first item that satisfies ``predicate``, waiting up to ``timeout_s``: a datagram sent just after an
        alert (the daemon publishes first) may not have been collected when the test reads the alert."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = next((n for n in self.items if predicate(n)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} in {timeout_s} s; notifications: {self.items[-10:]}")
            time.sleep(0.05)

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()


class DaemonProc:
    def __init__(self, args: list[str], tmp: Path, *, notify: bool = True, watchdog_usec: int | None = None):
        env = base_env()
        self.notify = Notifications(tmp / "notify.sock") if notify else None
        if self.notify:
            env["NOTIFY_SOCKET"] = self.notify.path
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "realtime", "detect", *args],
            cwd=str(tmp),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.ctx = zmq.Context()
        self.sub = None
        self.messages: list[dict] = []
        self._sub_thread = None
        self._stop = False

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def log_text(self) -> str:
        return "\n".join(ln for ln in self.lines if not ln.startswith(("I0000", "W0000", "E0000")))

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = READY.search(line)
                if m:
                    self.endpoint, self.replay_endpoint, self.metrics_url = m.groups()
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"daemon not ready (exit {self.proc.poll()}):\n{self.log_text()[-3000:]}")

    def subscribe(self) -> None:
        """Collect every message on the PUB socket in a thread (SUB with a receive timeout)."""
        from realtime.messages import decode

        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVTIMEO, 200)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(self.endpoint)

        def run():
            while not self._stop:
                try:
                    self.messages.append(decode(self.sub.recv_multipart()))
                except zmq.Again:
                    continue
                except zmq.ZMQError:
                    return

        self._sub_thread = threading.Thread(target=run, daemon=True)
        self._sub_thread.start()

    def wait_message(self, predicate, timeout_s: float, what: str) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for msg in list(self.messages):
                if predicate(msg):
                    return msg
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        seen = [(m["seq"], m["type"], m.get("state")) for m in self.messages]
        raise AssertionError(f"no {what} within {timeout_s} s; got {seen}\n{self.log_text()[-2500:]}")

    def scrape(self) -> dict[tuple[str, tuple], float]:
        return scrape(self.metrics_url)

    def close(self) -> None:
        self._stop = True
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self._sub_thread is not None:
            self._sub_thread.join(timeout=2)
        if self.sub is not None:
            self.sub.close(linger=0)
        self.ctx.term()
        self._reader.join(timeout=2)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        if self.notify:
            self.notify.close()


def toy_daemon(
    tmp: Path,
    toy_export: Path,
    log_path: Path,
    *args: str,
    config: Path | None = None,
    replay_endpoint: str = "tcp://127.0.0.1:0",
) -> DaemonProc:
    """A daemon process on the toy model (LiteRT) with its alert log at ``log_path``, alerts on a random loopback
    port, replay on ``replay_endpoint`` ("": none), no sd_notify socket; ``args``: the stream and any other flag
    (``--stream NAME``, ``--metrics-port 0``). Not yet ready: call :meth:`DaemonProc.wait_ready`."""
    return DaemonProc(
        [
            *(("--config", str(config)) if config is not None else ()),
            *args,
            *("--model", str(toy_export), "--backend", "litert"),
            *("--endpoint", "tcp://127.0.0.1:*", "--replay-endpoint", replay_endpoint),
            *("--alert-log", str(log_path)),
        ],
        tmp,
        notify=False,
    )


def metric(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def start_replay(path: Path, name: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "realtime", "replay", str(path), "--name", name, *extra],
        cwd=str(REPO),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=base_env(),
    )
