"""The shipped default model (realtime/models/default), when it exists: loads on both backends, the two
backends agree, and offline scoring of the CHB-MIT excerpts yields valid lines. Skips cleanly without it
(the toy-export tests cover every feature; this checks the shipped artefact)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from realtime.config import build_config
from realtime.model import default_model_path, load_detector
from realtime.offline import run_offline
from realtime.preprocess import Resampler
from realtime.recordings import read_recording

REPO = Path(__file__).resolve().parents[2]
SEIZURE = REPO / "realtime" / "data" / "chbmit" / "chb01_03_Seizure.edf"

pytestmark = pytest.mark.skipif(not (default_model_path() / "model_card.json").is_file(),
                                reason="realtime/models/default is not there yet")


def test_backends_agree_on_chbmit_windows():
    tf_det = load_detector(None, backend="tensorflow")
    card = tf_det.card
    assert card["positive_class"] in card["classes"] and tf_det.window_samples == card["window_samples"]
    rec = read_recording(SEIZURE)
    rs = Resampler(rec.sfreq, tf_det.sample_rate_hz)
    n = rs.native_samples_needed(tf_det.window_samples)
    windows = np.vstack([rs.to_model_rate(rec.data[:, s - n:s], tf_det.window_samples)
                         for s in (n, rec.data.shape[1])])
    p_tf = tf_det.predict(windows)
    assert p_tf.shape == (windows.shape[0],) and ((p_tf >= 0) & (p_tf <= 1)).all()
    if (default_model_path() / "model.tflite").is_file():
        p_lite = load_detector(None, backend="litert").predict(windows)
        np.testing.assert_allclose(p_lite, p_tf, atol=1e-3)


def test_offline_lines_with_the_default_model():
    buf = io.StringIO()
    assert run_offline([SEIZURE], build_config({}), windows=True, out=buf) == 0
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    windows = [line for line in lines if line["type"] == "window"]
    assert len(windows) == 37 and all(0 <= w["probability"] <= 1 for w in windows)
    assert all(line["file"] == str(SEIZURE) for line in lines)
