"""A real LSL stream whose metadata types one channel ECG and labels another ``EEG EKG-LE`` (as TUH
labels its ECG): the in-process daemon scores neither, logs both with their reasons, and names them in
its ``status.signal`` ``connected`` message. And a stream laid out as EmotivPRO publishes its EEG
(``Timestamp``, ``Counter``, ``Interpolate``, the sensors, ``HardwareMarker``, ``Markers``, no types or
units): only the sensors are scored, the counter's sawtooth is not."""

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


def _daemon(name: str, toy_export, log_path) -> Daemon:
    """An in-process daemon on the toy export (LiteRT), following the stream ``name``, montage as recorded."""
    cfg = build_config(
        {
            "stream": {"name": name, "resolve_timeout_s": 0.2},
            "model": {"path": str(toy_export), "backend": "litert"},
            "alerts": {"endpoint": "tcp://127.0.0.1:*", "replay_endpoint": "", "log_path": str(log_path)},
            "metrics": {"enabled": False},
            "signal": {"montage": "as_recorded"},
        }
    )
    return Daemon(cfg, env={})


def test_the_daemon_leaves_out_an_ecg_typed_and_an_ecg_labelled_channel_and_says_why(toy_export, tmp_path, caplog):
    name, log_path = unique("channels"), tmp_path / "alerts.jsonl"
    info = pylsl.StreamInfo(name, "EEG", len(LABELS), RATE, pylsl.cf_float32, name)
    info.set_channel_labels(LABELS)
    info.set_channel_types(TYPES)
    info.set_channel_units("microvolts")
    outlet = pylsl.StreamOutlet(info)
    d = _daemon(name, toy_export, log_path)
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


# EmotivPRO's EEG outlet (Emotiv/labstreaminglayer README.md "Data Output format"): labels only, no
# channel types or units, a sample counter that runs 0 ... rate-1 every second (a sawtooth).
EMOTIV_SENSORS = ["AF3", "T7", "Pz", "T8", "AF4"]  # Insight
EMOTIV_LABELS = ["Timestamp", "Counter", "Interpolate", *EMOTIV_SENSORS, "HardwareMarker", "Markers"]
EMOTIV_RATE = 256.0


def test_a_referential_stream_is_scored_in_common_average_and_its_gain_judged_by_input(toy_export, tmp_path):
    """The default montage (``average_hemispheres``): 19 referential electrodes and an ECG lead; the scored channels
    are the electrodes less their mean and each hemisphere's mean (AVG-L, AVG-R, each the whole bed), and a gain 20x
    too small is reported on the input's own label."""
    electrodes = ["FP1", "F7", "T3", "T5", "O1", "FP2", "F8", "T4", "T6", "O2", "F3", "C3", "P3", "F4", "C4", "P4"]
    labels = [f"EEG {e}-REF" for e in [*electrodes, "FZ", "CZ", "PZ"]] + ["EEG EKG-REF"]
    name, log_path = unique("average"), tmp_path / "alerts.jsonl"
    info = pylsl.StreamInfo(name, "EEG", len(labels), RATE, pylsl.cf_float32, name)
    info.set_channel_labels(labels)
    info.set_channel_units("microvolts")
    outlet = pylsl.StreamOutlet(info)
    cfg = build_config(
        {
            "stream": {"name": name, "resolve_timeout_s": 0.2},
            "model": {"path": str(toy_export), "backend": "litert"},
            "alerts": {"endpoint": "tcp://127.0.0.1:*", "replay_endpoint": "", "log_path": str(log_path)},
            "metrics": {"enabled": False},
            "signal": {
                "amplitude_span_s": 4.0,
                "amplitude_min_s": 2.0,
                "background_min_s": 2.0,
            },
        }
    )
    d = Daemon(cfg, env={})
    rng = np.random.default_rng(0)
    gain = np.ones(len(labels))
    gain[labels.index("EEG C3-REF")] = 0.05
    try:
        d.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (d.pipeline is None or d.windows_total < 4):
            chunk = rng.normal(0, 30, (25, 1)) + rng.normal(0, 2, (25, len(labels)))
            outlet.push_chunk((chunk * gain).astype(np.float32))
            d.iterate()
        assert d.pipeline is not None and d.windows_total >= 4
        assert d.pipeline.montage.applied == "average_hemispheres" and len(d.pipeline.ch_names) == 21
        assert all(n.endswith("-AVG") for n in d.pipeline.ch_names[:19])
        assert d.pipeline.ch_names[19:] == ["AVG-L", "AVG-R"]
        signals = _logged(log_path, "status.signal")
        (connected,) = [m for m in signals if m["state"] == "connected"]
        detail = connected["detail"]
        assert "19 scalp electrodes and each hemisphere's mean (AVG-L, AVG-R: the whole bed)" in detail
        assert "3 of 19 channels, or AVG-L or AVG-R alone" in detail
        quality = [m["detail"] for m in signals if m["state"] == "quality"]
        assert quality and "EEG C3-REF" in quality[-1] and "-AVG" not in quality[-1]
    finally:
        d.shutdown()
        del outlet


def test_the_daemon_leaves_out_the_counter_and_flags_of_an_emotiv_stream(toy_export, tmp_path):
    name, log_path = unique("emotiv"), tmp_path / "alerts.jsonl"
    info = pylsl.StreamInfo(name, "EEG", len(EMOTIV_LABELS), EMOTIV_RATE, pylsl.cf_double64, name)
    info.set_channel_labels(EMOTIV_LABELS)
    outlet = pylsl.StreamOutlet(info)
    d = _daemon(name, toy_export, log_path)
    rng = np.random.default_rng(0)
    sent = 0
    try:
        d.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (d.pipeline is None or d.windows_total < 1):
            n = np.arange(sent, sent + 32)
            chunk = np.zeros((32, len(EMOTIV_LABELS)))
            chunk[:, 0] = 1.7e9 + n / EMOTIV_RATE  # Timestamp (Unix seconds)
            chunk[:, 1] = n % EMOTIV_RATE  # Counter
            chunk[:, 3:8] = rng.normal(0, 15, (32, len(EMOTIV_SENSORS)))
            outlet.push_chunk(chunk)
            sent += 32
            d.iterate()
        assert d.pipeline is not None and d.windows_total >= 1
        assert d.pipeline.ch_names == EMOTIV_SENSORS
        assert d.pipeline.left_out_channels == {
            "Timestamp": "label 'Timestamp' names a timestamp",
            "Counter": "label 'Counter' names a sample or packet counter",
            "Interpolate": "label 'Interpolate' names a sample validity flag (interpolated or dropped samples)",
            "HardwareMarker": "label 'HardwareMarker' names an event, marker or trigger channel",
            "Markers": "label 'Markers' names an event, marker or trigger channel",
        }
        (connected,) = [m for m in _logged(log_path, "status.signal") if m["state"] == "connected"]
        detail = connected["detail"]
        assert "scoring 5 of 10 channels" in detail
        assert "Counter (label 'Counter' names a sample or packet counter)" in detail
        assert "Timestamp (label 'Timestamp' names a timestamp)" in detail
    finally:
        d.shutdown()
        del outlet


def test_include_and_exclude_on_the_command_line_reach_the_live_daemon(toy_export, tmp_path):
    """``realtime-detect --stream NAME --include 'C*' --exclude C4``, parsed and loaded as the command does: the live
    daemon scores C3 only, and names C4 and the non-EEG channels with their reasons."""
    from realtime.cli import build_detect_parser, overrides_from
    from realtime.config import load_config

    name, log_path = unique("flags"), tmp_path / "alerts.jsonl"
    argv = ["--stream", name, "--include", "C*", "--exclude", "C4", "--model", str(toy_export), "--backend", "litert"]
    argv += ["--endpoint", "tcp://127.0.0.1:*", "--replay-endpoint", "", "--alert-log", str(log_path)]
    argv += ["--metrics-port", "0"]
    overrides = overrides_from(build_detect_parser().parse_args(argv))
    info = pylsl.StreamInfo(name, "EEG", len(LABELS), RATE, pylsl.cf_float32, name)
    info.set_channel_labels(LABELS)
    info.set_channel_types(TYPES)
    info.set_channel_units("microvolts")
    outlet = pylsl.StreamOutlet(info)
    d = Daemon(load_config(None, {**overrides, "signal.montage": "as_recorded"}), env={})
    rng = np.random.default_rng(0)
    try:
        d.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (d.pipeline is None or d.windows_total < 1):
            outlet.push_chunk(rng.normal(0, 15, (25, len(LABELS))).astype(np.float32))
            d.iterate()
        assert d.pipeline is not None and d.windows_total >= 1
        assert d.pipeline.ch_names == ["C3"]
        assert d.pipeline.left_out_channels["C4"] == "excluded by pattern 'C4'"
        assert set(d.pipeline.left_out_channels) == {"C4", "EEG EKG-LE", "AUX1"}
    finally:
        d.shutdown()
        del outlet
