"""The shipped default model (realtime/models/default): loads on both backends, the two backends agree,
and, with the shipped decision settings, it does the product's job on the shipped CHB-MIT excerpts
(test data, never trained or tuned on): an onset for the seizure, none for the non-seizure excerpt."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

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


def _events(path, config=None):
    buf = io.StringIO()
    assert run_offline([path], config or load_config(SHIPPED_CONFIG), out=buf) == 0
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


def test_a_seizure_that_goes_on_is_one_event_to_its_end(tmp_path):
    """The seizure's ictal seconds 5-30 repeated 8 times (a 200 s seizure from 30 s, evaluation.recordings): the
    shipped settings keep one event to its end, because the background scaler holds its history during the
    seizure; without the hold the seizure fills it, is scaled by its own level and the event is closed about 110 s
    into it, then reopened again and again (docs/background.md "A seizure that goes on"). With decision.prolonged_s
    at 120 s the event also publishes its seizure.prolonged 120 s after the onset."""
    import dataclasses

    from evaluation.recordings import chbmit_long_seizure

    rec = chbmit_long_seizure(tmp_path, repeats=8)
    (onset, offset), *more = rec.seizures
    assert not more and round(offset - onset) == 200
    shipped = load_config(SHIPPED_CONFIG)
    # decision.prolonged_s 120 (shipped: 300, longer than this recording's seizure): one seizure.prolonged as well
    early = dataclasses.replace(shipped, decision=dataclasses.replace(shipped.decision, prolonged_s=120.0))
    kinds = [(e["type"], e["time"]) for e in _events(rec.path, early) if e["type"].startswith("seizure.")]
    assert [k for k, _ in kinds] == ["seizure.onset", "seizure.prolonged", "seizure.offset"]
    assert kinds[0][1] - onset <= 10 and kinds[2][1] >= offset
    assert kinds[1][1] - kinds[0][1] == pytest.approx(120.0, abs=1.0)
    unheld = dataclasses.replace(shipped, signal=dataclasses.replace(shipped.signal, background_hold_max_s=0.0))
    kinds = [(e["type"], e["time"]) for e in _events(rec.path, unheld) if e["type"].startswith("seizure.")]
    assert kinds[1][0] == "seizure.offset" and kinds[1][1] < offset - 60
    assert sum(k == "seizure.onset" for k, _ in kinds) > 2
