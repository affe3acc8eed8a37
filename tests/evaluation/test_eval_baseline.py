"""The line-length baseline (evaluation/baseline.py): fit, export, reload, and the daemon's pipeline on it."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from evaluation.baseline import (
    BaselineParams,
    band_filters,
    export_baseline,
    features,
    fit_baseline,
    params_from_card,
    predict,
)
from realtime.config import Config, DecisionConfig, SignalConfig, WindowConfig
from realtime.model import load_detector
from realtime.offline import run_offline
from realtime.pipeline import Pipeline
from realtime.recordings import write_npz

FS = 250.0
N = 1024


def _synthetic(n_each: int, seed: int = 0):
    """Non-seizure: 20 µV noise; seizure: a 3 Hz, 150 µV rhythm on top (amplitude and line length rise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(N) / FS
    neg = rng.normal(0, 20, (n_each, N))
    pos = rng.normal(0, 20, (n_each, N)) + 150 * np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6, (n_each, 1)))
    return np.vstack([neg, pos]), np.r_[np.zeros(n_each), np.ones(n_each)]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    x, y = _synthetic(60)
    params = fit_baseline(x, y)
    path = export_baseline(params, tmp_path_factory.mktemp("baseline"), training={"note": "synthetic"})
    return params, path


def test_band_filters_pass_their_band():
    h = band_filters(FS, ((4.0, 8.0), (13.0, 30.0)), 251)
    freqs = np.fft.rfftfreq(4096, 1 / FS)
    gain = np.abs(np.fft.rfft(h, 4096, axis=0))
    at = lambda f: gain[np.argmin(np.abs(freqs - f))]  # noqa: E731
    assert at(6.0)[0] > 0.9 and at(20.0)[0] < 0.05
    assert at(20.0)[1] > 0.9 and at(6.0)[1] < 0.05
    with pytest.raises(ValueError, match="250"):
        band_filters(FS, ((1.0, 4.0),), 250)


def test_features_shape_and_amplitude_order():
    x, _ = _synthetic(5)
    f = features(x, BaselineParams())
    assert f.shape == (10, 6) and np.isfinite(f).all()
    assert f[5:, 1].min() > f[:5, 1].max() + 2  # 0.5-4 Hz power: far higher with the 3 Hz rhythm
    assert np.isfinite(features(np.zeros((1, N)), BaselineParams())).all()  # a flat window is not NaN


def test_fit_separates_and_refuses_one_class():
    x, y = _synthetic(60, seed=1)
    p = fit_baseline(x, y)
    assert p.fit_info["converged"] and p.fit_info["train_window_accuracy"] > 0.95
    xt, yt = _synthetic(30, seed=2)
    assert np.mean((predict(xt, p) >= 0.5) == (yt == 1)) > 0.95
    with pytest.raises(ValueError, match="both classes"):
        fit_baseline(x[:10], np.zeros(10))


def test_export_reloads_and_matches_numpy(fitted):
    params, path = fitted
    card = json.loads((path / "model_card.json").read_text())
    assert card["architecture"] == "linelength" and card["window_samples"] == N
    assert set(card["files"]) >= {"model.tflite", "saved_model/saved_model.pb"}
    x, _ = _synthetic(10, seed=3)
    ref = predict(x, params)
    for backend in ("tensorflow", "litert"):
        det = load_detector(path, backend=backend)
        np.testing.assert_allclose(det.predict(x.astype(np.float32)), ref, atol=1e-4)
    p2 = params_from_card(card)
    np.testing.assert_allclose(predict(x, p2), ref)


def test_baseline_runs_through_the_realtime_pipeline(fitted, tmp_path):
    _, path = fitted
    det = load_detector(path)
    rng = np.random.default_rng(4)
    fs = 256.0
    t = np.arange(int(40 * fs)) / fs
    data = rng.normal(0, 20, (2, t.size))
    data[:, t >= 20] += 150 * np.sin(2 * np.pi * 3 * t[t >= 20])  # "seizure" from 20 s on both channels
    decision = DecisionConfig(
        aggregation="k_of_n",
        k_channels=2,
        smoothing_windows=2,
        on_threshold=0.8,
        off_threshold=0.5,
        min_duration_s=2.0,
        merge_gap_s=5.0,
    )
    pipe = Pipeline(
        det,
        sfreq=fs,
        ch_names=["C3", "C4"],
        units=None,
        window=WindowConfig(hop_s=1.0),
        decision=decision,
        # the filter its card asks for (the short one lowers its line length: alarmed at 29.1 s, not 22.1 s)
        signal=SignalConfig(montage="as_recorded", resample_filter=det.settings["signal"]["resample_filter"]),
    )
    events = []
    for start in range(0, t.size, 256):
        pipe.push(data[:, start : start + 256].T, t[start : start + 256])
        for r in pipe.step():
            events.extend(r.events)
    onsets = [e for e in events if e.kind == "onset"]
    assert len(onsets) == 1 and 20.0 <= onsets[0].time <= 26.0 and onsets[0].publish_time >= onsets[0].time + 2.0
    # and through run_offline, the daemon's --file path
    rec = write_npz(tmp_path / "syn.npz", data, fs, ["C3", "C4"])
    buf = io.StringIO()
    cfg = Config(window=WindowConfig(hop_s=1.0), decision=decision)
    assert run_offline([rec], cfg, model=det, windows=True, out=buf) == 0
    lines = [json.loads(s) for s in buf.getvalue().splitlines()]
    assert [m["type"] for m in lines if m["type"].startswith("seizure")] == ["seizure.onset", "seizure.offset"]
