"""The daemon and offline review turn a recording's windows into the same onset/offset messages.

A recording with one seizure that starts and ends inside it is scored twice with the toy model:
by ``run_offline`` (``realtime-detect --file``'s code) and by an in-process :class:`Daemon` whose
real run-loop step (``_process``: pipeline, ``window_messages``, the publisher with its ZeroMQ
socket and alert log) is fed the same samples one hop at a time with the same timestamps. The
messages in the daemon's alert log equal the offline JSON lines apart from ``seq``, ``run``, ``wall_time``
and offline's ``file``.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from realtime.config import build_config
from realtime.daemon import Daemon
from realtime.messages import Envelope
from realtime.model import load_detector
from realtime.offline import run_offline
from realtime.pipeline import Pipeline
from realtime.recordings import read_recording, write_npz

pytestmark = pytest.mark.integration

FS = 250.0
NAMES = ["Fp1", "C3", "O1", "C3"]  # a repeated label: "C3#2" on both paths


def recording(path):
    rng = np.random.default_rng(3)
    n = int(80 * FS)
    data = rng.normal(0, 15, (len(NAMES), n))
    t = np.arange(n) / FS
    ictal = (t >= 20) & (t < 40)
    data[:, ictal] += 250 * np.sin(2 * np.pi * 3 * t[ictal])
    data[0, ictal] = rng.normal(0, 15, ictal.sum())  # one channel stays quiet
    return write_npz(path, data, FS, NAMES)


def test_daemon_and_offline_publish_the_same_event_messages(toy_export, tmp_path):
    rec_path = recording(tmp_path / "bed.npz")
    model = load_detector(toy_export, backend="litert")
    cfg = build_config(
        {
            "stream": {"name": "bed.npz"},
            "signal": {"montage": "as_recorded"},
            "model": {"path": str(toy_export), "backend": "litert"},
            "decision": {"on_threshold": 0.8, "smoothing_windows": 2, "min_duration_s": 2.0, "merge_gap_s": 5.0},
            "alerts": {
                "endpoint": "tcp://127.0.0.1:*",
                "replay_endpoint": "",
                "log_path": str(tmp_path / "alerts.jsonl"),
            },
            "metrics": {"enabled": False},
        }
    )

    buf = io.StringIO()
    assert run_offline([rec_path], cfg, model=model, out=buf) == 0
    channels, *offline, summary = (json.loads(s) for s in buf.getvalue().splitlines())
    assert summary["type"] == "summary" and summary["onsets"] == 1
    assert channels == {
        "type": "channels",
        "file": str(rec_path),
        "scored": ["Fp1", "C3", "O1", "C3#2"],
        "left_out": {},
        "montage": "as recorded",
        "gaps": [],
        "continues": None,
        "same_patient": None,
    }

    rec = read_recording(rec_path)
    d = Daemon(cfg, detector=model, env={})
    try:
        d.start()
        d.pipeline = Pipeline(
            d.detector,
            sfreq=rec.sfreq,
            ch_names=rec.ch_names,
            units=None,
            window=d.config.window,
            decision=d.config.decision,
            channels=(),
            signal=d.config.signal,
        )
        d.envelope = Envelope.of(
            {"name": rec_path.name, "type": "file", "source_id": str(rec_path)}, d._host, model.model_version
        )
        hop = round(d.config.window.hop_s * rec.sfreq)
        times = np.arange(rec.data.shape[1]) / rec.sfreq
        for start in range(0, rec.data.shape[1], hop):
            d._process(rec.data[:, start : start + hop].T, times[start : start + hop])
    finally:
        d.shutdown()
    logged = [json.loads(s) for s in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    live = [m for m in logged if m["type"].startswith("seizure.")]

    assert [m["type"] for m in offline] == ["seizure.onset", "seizure.offset"]
    assert 20 < offline[0]["time"] < 30 and 40 <= offline[1]["time"] < 50
    assert "C3#2" in offline[0]["channels"] and "Fp1" not in offline[0]["channels"]
    timing = ("seq", "run", "wall_time", "file")
    strip = lambda ms: [{k: v for k, v in m.items() if k not in timing} for m in ms]  # noqa: E731
    assert strip(live) == strip(offline)
