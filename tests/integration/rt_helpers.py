"""Shared helpers for the integration tests: subprocess outlets, ``python -m realtime`` commands, waiting, the
alert log and metrics as a test reads them, daemon configurations, alert messages and ZeroMQ contexts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
import zmq

from realtime.messages import Envelope, heartbeat_message

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUTLET_SCRIPT = HERE / "lsl_outlet_proc.py"
T = TypeVar("T")


def unique(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    e["PYTHONUNBUFFERED"] = "1"
    return e


def start_outlet(*args: str, timeout_s: float = 20.0) -> subprocess.Popen:
    """Start tests/integration/lsl_outlet_proc.py and wait for its "ready" line."""
    proc = subprocess.Popen(
        [sys.executable, str(OUTLET_SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env(),
    )
    line = proc.stdout.readline()  # blocks until ready or the process dies
    if line.strip() != "ready":
        stop(proc)
        raise RuntimeError(f"outlet did not start: {line!r}")
    return proc


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGKILL, timeout_s: float = 10.0) -> int | None:
    """Signal ``proc`` if it still runs, wait for it, and close its pipes (pytest turns the
    ResourceWarning of an unclosed pipe into an error)."""
    if proc is None:
        return None
    try:
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
                return proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait(timeout=timeout_s)
        return proc.returncode
    finally:
        close_pipes(proc)


def close_pipes(proc: subprocess.Popen) -> None:
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def wait_for(predicate, timeout_s: float, interval_s: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class Outlets:
    """The outlet processes of one test, every one stopped at the end (``close``), also when a later one fails
    to start::

        with Outlets() as outlets:
            a = outlets.start("--name", name, "--amplitude", "300")
    """

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        proc = start_outlet(*args)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            stop(proc)  # an outlet a test already stopped: only its pipes, again

    def __enter__(self) -> Outlets:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def in_process_outlet(name: str, rate_hz: float = 256.0) -> Any:
    """A pylsl outlet in this process (samples pushed by the test, when it wants): 4 EEG channels Fp1, Fp2, C3, C4 in
    microvolts, float32, source id ``NAME-src``."""
    import pylsl

    info = pylsl.StreamInfo(name, "EEG", 4, rate_hz, pylsl.cf_float32, f"{name}-src")
    chans = info.desc().append_child("channels")
    for label in ("Fp1", "Fp2", "C3", "C4"):
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", "microvolts")
        ch.append_child_value("type", "EEG")
    return pylsl.StreamOutlet(info)


def run_realtime(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    """``python -m realtime ARGS`` from the repository, to its end; stdout and stderr captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "realtime", *args],
        cwd=str(REPO),
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def poll(produce: Callable[[], T], done: Callable[[T], bool], timeout_s: float, interval_s: float = 0.2) -> T:
    """``produce()`` until ``done`` accepts its value or ``timeout_s`` passes; the last value either way (the
    caller asserts on it, with what it wants to show)."""
    deadline = time.monotonic() + timeout_s
    value = produce()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = produce()
    return value


# ----------------------------------------------------------------------------- the alert log and metrics
def read_log(path: str | Path) -> list[dict]:
    """Every message of an alert log (JSON lines), oldest first; [] while the file does not exist."""
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def logged(path: str | Path, topic: str) -> list[dict]:
    """The messages of ``topic`` (``"status.signal"``, ``"seizure.onset"`` ...) in an alert log, oldest first."""
    return [m for m in read_log(path) if m["type"] == topic]


def first_quality_message(daemon: Any, log_path: Path, timeout_s: float = 30.0) -> dict:
    """Iterate an in-process daemon until it logs a status.signal "quality" message; return the first one."""

    def quality():
        return [m for m in logged(log_path, "status.signal") if m["state"] == "quality"]

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not quality():
        daemon.iterate()
    (msg,) = quality()[:1]
    return msg


# a short history and a limit of 20 µV: the scaling tests see the scaler at work within seconds
SCALING_SIGNAL = {
    "amplitude_min_s": 3.0,
    "amplitude_span_s": 6.0,
    "background_min_s": 3.0,
    "background_limit_uv": 20.0,
    "montage": "as_recorded",
}


def quality_daemon(name: str, log_path: Path, **sections: Any) -> Any:
    """An in-process daemon (not started) of the toy export ``model_path`` on the stream ``name``: LiteRT, no
    metrics, the alert log at ``log_path``, channels as recorded; ``sections`` replace whole config sections."""
    from realtime.config import build_config
    from realtime.daemon import Daemon

    return Daemon(
        build_config(
            {
                "stream": {"name": name, "resolve_timeout_s": 0.2},
                "model": {"path": str(sections.pop("model_path")), "backend": "litert"},
                "alerts": {"endpoint": "tcp://127.0.0.1:*", "replay_endpoint": "", "log_path": str(log_path)},
                "metrics": {"enabled": False},
                "signal": {"montage": "as_recorded"},  # channel names as recorded in the quality reports
                **sections,
            }
        ),
        env={},
    )


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """A real scrape of a Prometheus endpoint: ``(sample name, sorted label items) -> value``."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


# ----------------------------------------------------------------------------- daemon configuration
# What the process tests of alarms set: streams re-resolved and heartbeats at 0.5 s, an onset on the first
# window over the threshold.
QUICK = {
    "stream": {"resolve_timeout_s": 0.5},
    "alerts": {"heartbeat_s": 0.5},
    "decision": {"settle_s": 0.0, "min_duration_s": 0.0},
}


def merged(*tables: Mapping[str, Any]) -> dict[str, Any]:
    """Config sections merged key by key, the later ones winning (``[[beds]]`` lists: replaced)."""
    out: dict[str, Any] = {}
    for table in tables:
        for section, values in table.items():
            if isinstance(values, Mapping):
                out[section] = {**out.get(section, {}), **values}
            else:
                out[section] = values
    return out


def toml(raw: Mapping[str, Any]) -> str:
    """The few TOML forms the test configs need: strings, numbers, booleans; ``[[beds]]``."""

    def value(v: Any) -> str:
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    out = []
    for section, table in raw.items():
        if section == "beds":
            for bed in table:
                out.append("[[beds]]")
                out += [f"{k} = {value(v)}" for k, v in bed.items()]
        else:
            out.append(f"[{section}]")
            out += [f"{k} = {value(v)}" for k, v in table.items()]
    return "\n".join(out) + "\n"


def write_config(path: Path, *tables: Mapping[str, Any]) -> Path:
    """``tables`` merged (:func:`merged`) and written to ``path`` as TOML; returns ``path``."""
    path.write_text(toml(merged(*tables)))
    return path


def toy_sections(toy_export: Path, log_path: Path, **over: Mapping[str, Any] | list) -> dict[str, Any]:
    """An in-process daemon's configuration on the toy model (LiteRT), alerts on a random loopback port and no
    replay, metrics on a random port; ``over`` replaces whole sections (or gives ``beds``)."""
    raw: dict[str, Any] = {
        "stream": {"resolve_timeout_s": 3.0, "stale_after_s": 1.0},
        "model": {"path": str(toy_export), "backend": "litert"},
        "decision": {"settle_s": 0.0, "min_duration_s": 1.0},
        "alerts": {
            "endpoint": "tcp://127.0.0.1:*",
            "replay_endpoint": "",
            "log_path": str(log_path),
            "heartbeat_s": 1.0,
        },
        "metrics": {"enabled": True, "port": 0},
    }
    raw.update(over)
    return raw


# ----------------------------------------------------------------------------- alert messages and sockets
ENV = Envelope.of({"name": "bed1", "type": "EEG", "source_id": "sid"}, host="host", model_version="toy-1")


def heartbeat(t: float) -> dict:
    """A valid ``status.heartbeat`` of :data:`ENV` at ``t``."""
    return heartbeat_message(ENV, time=t, state="connected", alarm_active=False, windows_total=3, uptime_s=t)


@pytest.fixture(name="ctx")
def zmq_context() -> Iterator[zmq.Context]:
    """The fixture ``ctx``: a ZeroMQ context of its own for one test (a test module imports ``zmq_context``)."""
    c = zmq.Context()
    yield c
    c.term()


def publish_until_received(pub: Any, sub: Any, make: Callable[[float], dict], tries: int) -> dict | None:
    """PUB/SUB slow joiner: publish ``make(i)`` for i = 0, 1, ... until the :class:`realtime.alerts.Subscriber`
    ``sub`` receives a message (0.05 s each), at most ``tries`` times; that message, or None."""
    for i in range(tries):
        pub.publish(make(float(i)))
        got = sub.receive(0.05)
        if got is not None:
            return got
    return None
