"""The shipped default model (realtime/models/default): loads on both backends, the two backends agree,
and, with the shipped decision settings, it does the product's job on the shipped CHB-MIT excerpts
(test data, never trained or tuned on): an onset for the seizure, none for the non-seizure excerpt."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from realtime.config import build_config, load_config
from realtime.model import default_model_path, load_detector
from realtime.offline import run_offline
from realtime.preprocess import Resampler
from realtime.recordings import read_recording

REPO = Path(__file__).resolve().parents[2]
SEIZURE = REPO / "realtime" / "data" / "chbmit" / "chb01_03_Seizure.edf"

NONSEIZURE = REPO / "realtime" / "data" / "chbmit" / "chb01_03_NonSeizure.edf"
SHIPPED_CONFIG = REPO / "config" / "realtime-detect.toml"


def test_backends_agree_on_chbmit_windows():
    tf_det = load_detector(None, backend="tensorflow")
    card = tf_det.card
    assert card["positive_class"] in card["classes"] and tf_det.window_samples == card["window_samples"]
    rec = read_recording(SEIZURE)
    rs = Resampler(rec.sfreq, tf_det.sample_rate_hz)
    n = rs.native_samples_needed(tf_det.window_samples)
    windows = np.vstack(
        [rs.to_model_rate(rec.data[:, s - n : s], tf_det.window_samples) for s in (n, rec.data.shape[1])]
    )
    p_tf = tf_det.predict(windows)
    assert p_tf.shape == (windows.shape[0],) and ((p_tf >= 0) & (p_tf <= 1)).all()
    if (default_model_path() / "model.tflite").is_file():
        p_lite = load_detector(None, backend="litert").predict(windows)
        np.testing.assert_allclose(p_lite, p_tf, atol=1e-3)


def test_offline_lines_with_the_default_model():
    buf = io.StringIO()
    assert run_offline([SEIZURE], build_config({}), windows=True, out=buf) == 0
    *lines, summary = [json.loads(line) for line in buf.getvalue().splitlines()]
    windows = [line for line in lines if line["type"] == "window"]
    assert len(windows) == 37 and all(0 <= w["probability"] <= 1 for w in windows)
    assert all(line["file"] == str(SEIZURE) for line in lines)
    assert summary["type"] == "summary" and summary["onsets"] == 1 and summary["signal_s"] == 41.0


def _events(path):
    buf = io.StringIO()
    assert run_offline([path], load_config(SHIPPED_CONFIG), out=buf) == 0
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_shipped_model_and_settings_alarm_on_the_seizure_excerpt_within_10_s():
    onsets = [e for e in _events(SEIZURE) if e["type"] == "seizure.onset"]
    assert len(onsets) == 1, onsets
    # The annotated onset is 1 s into the excerpt; the bed is alerted at publish_time.
    assert onsets[0]["publish_time"] - 1.0 <= 10.0, onsets[0]
    assert len(onsets[0]["channels"]) >= 2


def test_shipped_model_and_settings_stay_quiet_on_the_non_seizure_excerpt():
    assert [e for e in _events(NONSEIZURE) if e["type"].startswith("seizure.")] == []


def test_code_defaults_match_the_shipped_config_file():
    assert load_config(SHIPPED_CONFIG) == build_config({})
