"""A real LSL stream whose metadata types one channel ECG and labels another ``EEG EKG-LE`` (as TUH
labels its ECG): the in-process daemon scores neither, logs both with their reasons, and names them in
its ``status.signal`` ``connected`` message."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pylsl
import pytest
from rt_helpers import unique

from realtime.config import build_config
from realtime.daemon import Daemon

pytestmark = pytest.mark.integration

LABELS = ["C3", "C4", "EEG EKG-LE", "AUX1"]
TYPES = ["EEG", "EEG", "EEG", "ECG"]  # many LSL apps type every channel EEG; AUX1's type says ECG
RATE = 250.0


def _logged(log_path, topic: str) -> list[dict]:
    lines = log_path.read_text().splitlines() if log_path.exists() else []
    return [m for m in map(json.loads, lines) if m["type"] == topic]


def test_the_daemon_leaves_out_an_ecg_typed_and_an_ecg_labelled_channel_and_says_why(toy_export, tmp_path, caplog):
    name, log_path = unique("channels"), tmp_path / "alerts.jsonl"
    info = pylsl.StreamInfo(name, "EEG", len(LABELS), RATE, pylsl.cf_float32, name)
    info.set_channel_labels(LABELS)
    info.set_channel_types(TYPES)
    info.set_channel_units("microvolts")
    outlet = pylsl.StreamOutlet(info)
    cfg = build_config(
        {
            "stream": {"name": name, "resolve_timeout_s": 0.2},
            "model": {"path": str(toy_export), "backend": "litert"},
            "alerts": {"endpoint": "tcp://127.0.0.1:*", "replay_endpoint": "", "log_path": str(log_path)},
            "metrics": {"enabled": False},
            "signal": {"montage": "as_recorded"},
        }
    )
    d = Daemon(cfg, env={})
    rng = np.random.default_rng(0)
    try:
        d.start()
        with caplog.at_level(logging.WARNING, logger="realtime.daemon"):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (d.pipeline is None or d.windows_total < 1):
                outlet.push_chunk(rng.normal(0, 15, (25, len(LABELS))).astype(np.float32))
                d.iterate()
        assert d.pipeline is not None and d.windows_total >= 1
        assert d.inlet.meta.types == tuple(TYPES)
        assert d.pipeline.ch_names == ["C3", "C4"]
        assert d.pipeline.left_out_channels == {
            "EEG EKG-LE": "label 'EEG EKG-LE' names an ECG lead",
            "AUX1": "type 'ECG' in the stream metadata",
        }
        (connected,) = [m for m in _logged(log_path, "status.signal") if m["state"] == "connected"]
        detail = connected["detail"]
        assert name in detail and "scoring 2 of 4 channels" in detail
        assert "EEG EKG-LE (label 'EEG EKG-LE' names an ECG lead)" in detail
        assert "AUX1 (type 'ECG' in the stream metadata)" in detail
        metric = d.metrics.registry.get_sample_value
        assert metric("realtime_detect_channels_excluded", {"stream": name}) == 2
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("'EEG EKG-LE' left out: label 'EEG EKG-LE' names an ECG lead" in w for w in warned)
        assert any("'AUX1' left out: type 'ECG' in the stream metadata" in w for w in warned)
    finally:
        d.shutdown()
        del outlet
