"""Two real LSL outlets with one name (two amplifiers, or a replay left running): the ambiguity is
named in a warning, the choice is the same every time, the device connected first is kept
(``stream.lock_source``), and every message names the device whose samples raised it."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pylsl
import pytest
from rt_helpers import unique

import realtime.inlet
from realtime.config import build_config
from realtime.daemon import Daemon
from realtime.inlet import Inlet, StreamSpec

pytestmark = pytest.mark.integration

FS = 256.0


class Outlet:
    """An in-process outlet sending 20 µV sines when :meth:`push` is called; :meth:`close` = the cable pulled."""

    def __init__(self, name: str, source_id: str, n_channels: int = 4, unit: str = "microvolts"):
        info = pylsl.StreamInfo(name, "EEG", n_channels, FS, pylsl.cf_float32, source_id)
        info.set_channel_labels([f"C{i}" for i in range(n_channels)])
        info.set_channel_types("eeg")
        info.set_channel_units(unit)
        self.outlet: pylsl.StreamOutlet | None = pylsl.StreamOutlet(info, chunk_size=0)
        self.source_id = source_id
        self.sent = 0

    def push(self, n: int = 32) -> None:
        if self.outlet is not None:
            t = np.arange(self.sent, self.sent + n) / FS
            x = 20 * np.sin(2 * np.pi * (5 + np.arange(4))[None, :] * t[:, None])
            self.outlet.push_chunk(np.ascontiguousarray(x, dtype=np.float32))
            self.sent += n

    def close(self) -> None:
        self.outlet = None  # liblsl destroys the outlet: the inlet's connection breaks


def step_until(inlet: Inlet, event: str | None, outlets, timeout_s: float = 15.0):
    """Step ``inlet`` (pushing ``outlets``) until a step has ``event``; every other event fails."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for o in outlets:
            o.push()
        step = inlet.step(0.05)
        if step.event == event:
            return step
        assert step.event is None, (step.event, step.detail)
    raise AssertionError(f"no {event!r} event within {timeout_s} s")


def test_two_streams_of_one_name_are_named_and_the_device_connected_first_is_kept(caplog, monkeypatch):
    name, sid_a, sid_b = unique("twin"), unique("amp-a"), unique("amp-b")
    a = Outlet(name, sid_a)
    b = Outlet(name, sid_b)  # created later: the older one, a, is taken
    # Both answer before the daemon looks (as two amplifiers running when it starts), and its resolver's
    # settling time (0.5 s in service) is the whole resolve timeout here: on a loaded test machine one
    # outlet may answer the new resolver late.
    assert len(pylsl.resolve_bypred(f"name='{name}'", minimum=2, timeout=10.0)) == 2
    monkeypatch.setattr(realtime.inlet, "RESOLVER_SETTLE_S", 1.0)
    inlet = Inlet(StreamSpec(name=name), resolve_timeout_s=1.0, stale_after_s=1.0)  # lock_source by default
    try:
        with caplog.at_level(logging.WARNING, logger="realtime.inlet"):
            step_until(inlet, "connected", [a, b])
            assert inlet.meta.source_id == sid_a
            (warning,) = [r.getMessage() for r in caplog.records if "streams match" in r.getMessage()]
            assert f"2 streams match name={name!r}" in warning
            assert f"source_id {sid_a!r} on host" in warning and f"source_id {sid_b!r} on host" in warning
            assert warning.count(f"taking {name!r} (type 'EEG', source_id {sid_a!r}") == 1
            a.close()
            step_until(inlet, "lost", [b])
            deadline = time.monotonic() + 2.0  # b is there, sending, and matches the name: it is not taken
            while time.monotonic() < deadline:
                b.push()
                assert inlet.step(0.05).event is None and not inlet.is_open
            ignored = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ignoring stream")]
            assert len(ignored) == 1 and sid_b in ignored[0] and "locked to the device" in ignored[0]
            assert "stream.lock_source = true" in ignored[0]
            a = Outlet(name, sid_a)  # the same device again: restored
            step_until(inlet, "restored", [a, b])
            assert inlet.meta.source_id == sid_a and inlet.reconnects == 1
    finally:
        inlet.close()


def test_a_second_stream_of_the_name_heard_while_connected_is_named_once(caplog, monkeypatch):
    monkeypatch.setattr(realtime.inlet, "AMBIGUITY_CHECK_S", 0.5)  # 10 s in service
    name, sid_a, sid_b = unique("late-twin"), unique("amp-a"), unique("amp-b")
    a = Outlet(name, sid_a)
    inlet = Inlet(StreamSpec(name=name), resolve_timeout_s=1.0, stale_after_s=1.0)

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if "streams match" in r.getMessage()]

    try:
        with caplog.at_level(logging.WARNING, logger="realtime.inlet"):
            step_until(inlet, "connected", [a])
            for _ in range(20):  # alone: nothing to say
                a.push()
                assert inlet.step(0.05).event is None
            assert warnings() == []
            b = Outlet(name, sid_b)  # a second amplifier given the same name, started later
            deadline = time.monotonic() + 10.0
            while not warnings() and time.monotonic() < deadline:
                a.push()
                b.push()
                assert inlet.step(0.05).event is None
            (warning,) = warnings()
            assert f"2 streams match name={name!r}" in warning and f"source_id {sid_b!r} on host" in warning
            assert f"taking {name!r} (type 'EEG', source_id {sid_a!r}" in warning
            assert "(the device being read)" in warning
            for _ in range(30):  # once per set of streams, and the device read stays the same
                a.push()
                b.push()
                assert inlet.step(0.05).event is None
            assert len(warnings()) == 1 and inlet.meta.source_id == sid_a
    finally:
        inlet.close()


def test_streams_without_a_source_id_are_called_ambiguous(caplog, monkeypatch):
    name = unique("nameless")
    outlets = [Outlet(name, ""), Outlet(name, "")]
    # both answer before the inlet looks, and its resolver waits the whole timeout for them (as above: on a loaded
    # machine one outlet answered the new resolver late, and the inlet saw one stream)
    assert len(pylsl.resolve_bypred(f"name='{name}'", minimum=2, timeout=10.0)) == 2
    monkeypatch.setattr(realtime.inlet, "RESOLVER_SETTLE_S", 1.0)
    inlet = Inlet(StreamSpec(name=name), resolve_timeout_s=1.0)
    try:
        with caplog.at_level(logging.WARNING, logger="realtime.inlet"):
            step_until(inlet, "connected", outlets)
        assert "2 of them have no source id and cannot be told apart" in caplog.text
        assert f"stream {name!r} has no source id" in caplog.text  # and the lock cannot keep it
    finally:
        inlet.close()


def daemon(name: str, log_path, toy_export, **stream) -> Daemon:
    return Daemon(
        build_config(
            {
                "stream": {"name": name, "resolve_timeout_s": 0.5, "stale_after_s": 1.0, **stream},
                "model": {"path": str(toy_export), "backend": "litert"},
                "alerts": {"endpoint": "tcp://127.0.0.1:*", "replay_endpoint": "", "log_path": str(log_path)},
                "metrics": {"enabled": False},
            }
        ),
        env={},
    )


def iterate_until(d: Daemon, predicate, outlets, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        for o in outlets:
            o.push()
        d.iterate()
    assert predicate()


def test_a_stream_refused_at_the_first_connection_does_not_lock_the_daemon(toy_export, tmp_path):
    name, log_path = unique("refused"), tmp_path / "alerts.jsonl"
    bad = Outlet(name, unique("amp-bad"), unit="furlongs")  # the older one: taken first, then refused
    good = Outlet(name, unique("amp-good"))
    d = daemon(name, log_path, toy_export)
    try:
        d.start()
        iterate_until(d, lambda: d.pipeline is not None, [bad, good])
        assert d.envelope.stream["source_id"] == good.source_id
    finally:
        d.shutdown()


def test_without_the_lock_another_device_takes_over_and_the_messages_name_it(toy_export, tmp_path, caplog):
    name, sid_a, sid_b, log_path = unique("unlocked"), unique("amp-a"), unique("amp-b"), tmp_path / "alerts.jsonl"
    a = Outlet(name, sid_a)
    d = daemon(name, log_path, toy_export, lock_source=False)

    def signals() -> list[dict]:
        return [m for m in map(json.loads, log_path.read_text().splitlines()) if m["type"] == "status.signal"]

    try:
        d.start()
        # the second device appears once the daemon reads the first (were both there, the resolver could
        # hear either first: which one a daemon takes is not what this test is about)
        iterate_until(d, lambda: d.pipeline is not None, [a])
        assert d.envelope.stream["source_id"] == sid_a
        b = Outlet(name, sid_b)
        for _ in range(20):
            a.push()
            b.push()
            d.iterate()
        a.close()
        with caplog.at_level(logging.WARNING):
            iterate_until(d, lambda: any(m["state"] == "restored" for m in signals()), [b])
        restored = next(m for m in signals() if m["state"] == "restored")
        assert restored["stream"]["source_id"] == sid_b  # the device whose samples come now
        assert f"another device: source_id {sid_b!r}" in restored["detail"] and f"(was {sid_a!r})" in restored["detail"]
        assert f"is now another device: source_id {sid_b!r}" in caplog.text
        lost = next(m for m in signals() if m["state"] == "lost")
        assert lost["stream"]["source_id"] == sid_a
    finally:
        d.shutdown()
