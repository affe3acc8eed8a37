"""An in-process daemon (LiteRT toy model): the watchdog is fed by completed loop iterations only;
a stream it cannot score is rejected and it keeps waiting."""

from __future__ import annotations

import socket
import time

import pytest
from rt_helpers import first_quality_message, logged, quality_daemon, unique

from realtime.config import build_config
from realtime.daemon import Daemon

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
            except TimeoutError:
                return out

    cfg = build_config(
        {
            "stream": {"name": unique("absent"), "resolve_timeout_s": 0.1},
            "model": {"path": str(toy_export), "backend": "litert"},
            "alerts": {
                "endpoint": "tcp://127.0.0.1:*",
                "replay_endpoint": "tcp://127.0.0.1:0",
                "log_path": str(tmp_path / "alerts.jsonl"),
            },
            "metrics": {"enabled": False},
        }
    )
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


def test_a_stream_with_an_unknown_unit_is_rejected_and_the_daemon_keeps_waiting(toy_export, tmp_path):
    from rt_helpers import start_outlet, stop

    name = unique("furlongs")
    cfg = build_config(
        {
            "stream": {"name": name, "resolve_timeout_s": 0.2},
            "model": {"path": str(toy_export), "backend": "litert"},
            "alerts": {
                "endpoint": "tcp://127.0.0.1:*",
                "replay_endpoint": "",
                "log_path": str(tmp_path / "alerts.jsonl"),
            },
            "metrics": {"enabled": False},
        }
    )
    d = Daemon(cfg, env={})
    outlet = start_outlet("--name", name, "--unit", "furlongs")
    try:
        d.start()
        deadline = time.monotonic() + 20
        errors = d.metrics.registry.get_sample_value
        while time.monotonic() < deadline and not errors("realtime_detect_errors_total", {"kind": "stream_rejected"}):
            d.iterate()
        assert errors("realtime_detect_errors_total", {"kind": "stream_rejected"}) == 1
        assert "furlongs" in d._status and "rejected" in d._status
        for _ in range(5):  # the same stream is not picked again; the loop goes on waiting
            d.iterate()
        assert errors("realtime_detect_errors_total", {"kind": "stream_rejected"}) == 1
        assert d.inlet.state == "waiting" and d.pipeline is None and not d.inlet.is_open
    finally:
        d.shutdown()
        stop(outlet)


def test_a_unitless_stream_far_too_large_is_reported_as_implausible_not_scored(toy_export, tmp_path):
    """nV sent without unit metadata are read as µV: every channel is left out and the report says why."""
    from rt_helpers import start_outlet, stop

    name, log_path = unique("nanovolts"), tmp_path / "alerts.jsonl"
    d = quality_daemon(name, log_path, model_path=toy_export)
    outlet = start_outlet("--name", name, "--unit", "", "--amplitude", "50000")
    try:
        d.start()
        msg = first_quality_message(d, log_path)
        assert "C0 (implausible)" in msg["detail"] and "0 of 4 scored" in msg["detail"]
        assert "check the stream's units" in msg["detail"]
        assert not d.pipeline.alarm_active
    finally:
        d.shutdown()
        stop(outlet)
    assert not logged(log_path, "seizure.onset")


def test_a_stream_with_a_wrong_gain_is_reported_and_still_scored(toy_export, tmp_path):
    """1.4 µV of EEG (a gain 20-30x too small): scored, and status.signal + the metric say the gain is suspect."""
    from rt_helpers import start_outlet, stop

    name, log_path = unique("lowgain"), tmp_path / "alerts.jsonl"
    d = quality_daemon(
        name,
        log_path,
        model_path=toy_export,
        signal={"amplitude_min_s": 3.0, "amplitude_span_s": 6.0, "background_min_s": 3.0, "montage": "as_recorded"},
    )
    outlet = start_outlet("--name", name, "--amplitude", "2")
    try:
        d.start()
        msg = first_quality_message(d, log_path)
        assert "every channel usable (4 of 4 scored)" in msg["detail"]
        assert "C0 (1.4 uV, low)" in msg["detail"] and "check the device's gain and units" in msg["detail"]
        gauge = d.metrics.registry.get_sample_value
        assert gauge("realtime_detect_channels_amplitude_atypical", {"stream": name}) == 4
        assert gauge("realtime_detect_channels_left_out", {"stream": name}) == 0
        assert d.windows_total >= 3 and not d.pipeline.alarm_active
    finally:
        d.shutdown()
        stop(outlet)


def test_a_seizure_open_prolonged_s_publishes_one_seizure_prolonged(toy_export, tmp_path):
    """An amplitude the toy model alarms on throughout, scaling off, decision.prolonged_s 4 s: the daemon publishes
    and logs one seizure.prolonged for the open event (the onset's event_id, duration >= 4 s), valid by the contract,
    and the event stays open."""
    from rt_helpers import start_outlet, stop

    from realtime.messages import validate

    name, log_path = unique("prolonged"), tmp_path / "alerts.jsonl"
    d = quality_daemon(
        name,
        log_path,
        model_path=toy_export,
        signal={"background_limit_uv": 0.0, "montage": "as_recorded"},
        decision={"prolonged_s": 4.0},
    )
    outlet = start_outlet("--name", name, "--amplitude", "100")
    try:
        d.start()
        deadline = time.monotonic() + 40.0
        while time.monotonic() < deadline and not logged(log_path, "seizure.prolonged"):
            d.iterate()
        for _ in range(30):  # a few windows more: still one
            d.iterate()
        assert d.pipeline.alarm_active
    finally:
        d.shutdown()
        stop(outlet)
    (onset,) = logged(log_path, "seizure.onset")
    (prolonged,) = logged(log_path, "seizure.prolonged")
    validate(prolonged)
    assert prolonged["event_id"] == onset["event_id"] and prolonged["onset_time"] == onset["time"]
    assert 4.0 <= prolonged["duration_s"] < 6.0 and prolonged["seq"] > onset["seq"]
    assert prolonged["channels"] and set(prolonged["channels"]) <= {"C0", "C1", "C2", "C3"}


def test_an_unlabelled_beds_series_follow_its_stream_and_a_rejected_layout_ends_its_alarm_gauge(toy_export, tmp_path):
    """A bed found by source id is labelled by its stream's name once connected: no series is left under the label
    it waited with (a StreamDisconnected for ever). The stream back with a layout it cannot score (another unit):
    the open event is closed, and alarm_active says so (it stayed 1, no window following to reset it)."""
    from rt_helpers import start_outlet, stop

    sid, name = unique("amp"), unique("ward")
    d = quality_daemon(
        name,
        tmp_path / "alerts.jsonl",
        model_path=toy_export,
        stream={"name": "", "source_id": sid, "resolve_timeout_s": 0.2, "stale_after_s": 1.0},
        decision={"settle_s": 0.0, "min_duration_s": 0.0},
    )
    outlet = start_outlet("--name", name, "--source-id", sid, "--amplitude", "300")
    try:
        d.start()
        gauge = d.metrics.registry.get_sample_value
        assert gauge("realtime_detect_stream_connected", {"stream": sid}) == 0  # waiting, under its criteria
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not logged(tmp_path / "alerts.jsonl", "seizure.onset"):
            d.iterate()
        assert gauge("realtime_detect_alarm_active", {"stream": name}) == 1
        assert gauge("realtime_detect_stream_connected", {"stream": sid}) is None  # no stale bed under the old label
        stop(outlet)
        outlet = start_outlet("--name", name, "--source-id", sid, "--unit", "furlongs")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not logged(tmp_path / "alerts.jsonl", "seizure.offset"):
            d.iterate()
        assert logged(tmp_path / "alerts.jsonl", "seizure.offset")
        assert gauge("realtime_detect_alarm_active", {"stream": name}) == 0
    finally:
        d.shutdown()
        stop(outlet)
