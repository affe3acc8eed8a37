"""An in-process daemon (LiteRT toy model) reading a real LSL outlet on loopback whose timestamps
jump: the decision keeps the sample clock, the jump is reported (log, status.signal, metric).
And the quiet conditions: a stream without unit metadata, a window with no channel scored.

The outlet is pushed from the test, chunk by chunk, with explicit timestamps, faster than real time:
the decision does not depend on how fast samples come, only on how many.
"""

from __future__ import annotations

import json
import logging
import math
import time

import numpy as np
import pylsl
import pytest
from rt_helpers import unique

from realtime.config import build_config
from realtime.daemon import Daemon

pytestmark = pytest.mark.integration

FS = 256.0
CHUNK = 64  # a quarter second of signal per push


def outlet(name: str, *, unit: str | None = "microvolts", n_channels: int = 4) -> pylsl.StreamOutlet:
    info = pylsl.StreamInfo(name, "EEG", n_channels, FS, pylsl.cf_float32, unique("sid"))
    info.set_channel_labels([f"C{i}" for i in range(n_channels)])
    info.set_channel_types("eeg")
    if unit is not None:
        info.set_channel_units(unit)
    return pylsl.StreamOutlet(info, chunk_size=0)


def daemon(name: str, log_path, **decision) -> Daemon:
    return Daemon(
        build_config(
            {
                "stream": {"name": name, "resolve_timeout_s": 0.2, "stale_after_s": 10.0},
                "model": {"path": str(decision.pop("model_path")), "backend": "litert"},
                "alerts": {"endpoint": "tcp://127.0.0.1:*", "replay_endpoint": "", "log_path": str(log_path)},
                "metrics": {"enabled": False},
                "signal": {"montage": "as_recorded"},
                "decision": {"merge_gap_s": 3.0, **decision},
            }
        ),
        env={},
    )


def connect(d: Daemon, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while d.pipeline is None and time.monotonic() < deadline:
        d.iterate()
    assert d.pipeline is not None, "the daemon did not connect"


def play(d: Daemon, out: pylsl.StreamOutlet, x: np.ndarray, ts: np.ndarray, timeout_s: float = 60.0) -> None:
    """Push ``x [n, n_channels]`` with ``ts [n]`` a chunk at a time, iterating the daemon, until it has read all."""
    deadline = time.monotonic() + timeout_s
    target = d.pipeline.samples_total + len(ts)
    for i in range(0, len(ts), CHUNK):
        out.push_chunk(np.ascontiguousarray(x[i : i + CHUNK], dtype=np.float32), ts[i : i + CHUNK].tolist())
        d.iterate()
    while d.pipeline.samples_total < target and time.monotonic() < deadline:
        d.iterate()
    assert d.pipeline.samples_total == target


def seizure_like(seconds: float, high_from_s: float, high_to_s: float = 1e9, n_channels: int = 4) -> np.ndarray:
    """``[n_samples, n_channels]`` µV: 15 µV sines, 300 µV between ``high_from_s`` and ``high_to_s``."""
    t = np.arange(int(seconds * FS)) / FS
    amp = np.where((t >= high_from_s) & (t < high_to_s), 300.0, 15.0)
    return amp[:, None] * np.sin(2 * np.pi * (5.0 + np.arange(n_channels))[None, :] * t[:, None])


def logged(log_path) -> list[dict]:
    return [json.loads(s) for s in log_path.read_text().splitlines()] if log_path.exists() else []


def test_a_clock_set_back_an_hour_during_a_seizure_still_raises_the_onset(toy_export, tmp_path, caplog):
    name, log_path = unique("clock-back"), tmp_path / "alerts.jsonl"
    out, d = outlet(name), daemon(name, log_path, model_path=toy_export)
    x = seizure_like(24.0, high_from_s=10.0)
    t0 = pylsl.local_clock()
    ts = t0 + np.arange(len(x)) / FS
    ts[int(12 * FS) :] -= 3600.0  # just after the crossing, while min_duration_s is counting
    try:
        d.start()
        connect(d)
        with caplog.at_level(logging.WARNING, logger="realtime.daemon"):
            play(d, out, x, ts)
        msgs = logged(log_path)
        onsets = [m for m in msgs if m["type"] == "seizure.onset"]
        assert len(onsets) == 1 and d.pipeline.alarm_active  # the fault: no onset at all
        on = onsets[0]
        assert on["window_end"] < t0  # reported in the stream's clock now in force
        assert on["publish_time"] - on["time"] == pytest.approx(2.0, abs=1.01)  # min_duration_s, sample clock
        (clock,) = [m for m in msgs if m["type"] == "status.signal" and m["state"] == "clock"]
        assert "timestamps jumped back by 3600.000 s" in clock["detail"]
        assert "timestamps jumped back by 3600.000 s" in caplog.text
        jumps = d.metrics.registry.get_sample_value("realtime_detect_clock_jumps_total", {"stream": name})
        assert jumps == 1
    finally:
        d.shutdown()


def test_a_clock_set_forward_an_hour_gives_an_event_of_its_real_length_that_ends(toy_export, tmp_path):
    name, log_path = unique("clock-fwd"), tmp_path / "alerts.jsonl"
    out, d = outlet(name), daemon(name, log_path, model_path=toy_export)
    x = seizure_like(42.0, high_from_s=10.0, high_to_s=30.0)
    ts = pylsl.local_clock() + np.arange(len(x)) / FS
    ts[int(20 * FS) :] += 3600.0  # in the middle of the event
    try:
        d.start()
        connect(d)
        play(d, out, x, ts)
        msgs = logged(log_path)
        assert [m["type"] for m in msgs if m["type"].startswith("seizure.")] == ["seizure.onset", "seizure.offset"]
        off = next(m for m in msgs if m["type"] == "seizure.offset")
        assert off["duration_s"] == pytest.approx(20.0, abs=3.0)  # not an hour
        assert off["window_end"] - off["window_start"] == pytest.approx(1023 / 250, abs=0.05)
        assert not d.pipeline.alarm_active  # the alarm ended
        (clock,) = [m for m in msgs if m["type"] == "status.signal" and m["state"] == "clock"]
        assert "timestamps jumped forward by 3600.000 s" in clock["detail"]
    finally:
        d.shutdown()


def test_a_stream_without_units_and_a_window_without_channels_are_not_quiet(toy_export, tmp_path, caplog):
    name, log_path = unique("quiet"), tmp_path / "alerts.jsonl"
    out, d = outlet(name, unit=None), daemon(name, log_path, model_path=toy_export)
    x = seizure_like(8.0, high_from_s=1e9)
    try:
        d.start()
        gauge = d.metrics.registry.get_sample_value
        # the pipeline's own logger: a CLI main run in-process earlier (evaluation.background) quietens it
        with caplog.at_level(logging.WARNING, logger="realtime.pipeline"):
            connect(d)
        (connected,) = [m for m in logged(log_path) if m["type"] == "status.signal"]
        expected = "no unit given for 4 of 4 scored channels, assuming microvolts (uV): C0, C1, C2, C3"
        assert expected in connected["detail"]
        assert "assuming microvolts (uV): C0" in caplog.text  # a warning, not an INFO line
        t0 = pylsl.local_clock()
        play(d, out, x, t0 + np.arange(len(x)) / FS)
        assert gauge("realtime_detect_channels_scored", {"stream": name}) == 4
        assert math.isfinite(gauge("realtime_detect_seizure_probability", {"stream": name}))
        play(d, out, np.zeros_like(x), t0 + np.arange(len(x), 2 * len(x)) / FS)  # every channel flat
        assert gauge("realtime_detect_channels_scored", {"stream": name}) == 0
        assert math.isnan(gauge("realtime_detect_seizure_probability", {"stream": name}))  # not the last value
    finally:
        d.shutdown()
