"""AmplitudeMonitor (pure) and its use in the Pipeline: a channel whose gain is off is reported, still scored."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.amplitude import AmplitudeMonitor
from realtime.config import ConfigError, DecisionConfig, SignalConfig, WindowConfig, build_config
from realtime.pipeline import Pipeline


def test_no_judgement_before_min_windows_then_low_and_high():
    mon = AmplitudeMonitor(3, low_uv=8.0, high_uv=400.0, span_windows=10, min_windows=4)
    for _ in range(3):
        assert mon.update(np.array([2.0, 40.0, 900.0])) == [None, None, None]
    assert mon.update(np.array([2.0, 40.0, 900.0])) == ["amplitude_low", None, "amplitude_high"]
    np.testing.assert_allclose(mon.median_uv, [2.0, 40.0, 900.0])


def test_median_ignores_a_seizure_shorter_than_half_the_span_and_left_out_windows():
    mon = AmplitudeMonitor(1, low_uv=8.0, high_uv=400.0, span_windows=10, min_windows=4)
    flags = [mon.update(np.array([v])) for v in [40.0] * 6 + [1500.0] * 4]  # 4 of 10 windows at seizure level
    assert flags[-1] == [None] and mon.median_uv[0] == 40.0
    mon.reset()
    for v in (900.0, np.nan, 900.0, np.nan, 900.0):  # left out (flat, railed...): NaN, not a value
        assert mon.update(np.array([v])) == [None]
    assert np.isnan(mon.median_uv[0])  # 3 values < min_windows
    assert mon.update(np.array([900.0])) == ["amplitude_high"]


def test_medians_are_the_naive_nanmedian_of_the_last_span_windows_with_and_without_left_out_ones():
    rng = np.random.default_rng(7)
    span, n_ch = 12, 4
    mon = AmplitudeMonitor(n_ch, low_uv=8.0, high_uv=400.0, span_windows=span, min_windows=5)
    history = []
    for i in range(60):  # full spans with every channel scored (the fast path) and with NaNs in them
        std = rng.lognormal(3.5, 0.8, n_ch)
        if 20 <= i < 26 or i == 40:
            std[rng.integers(n_ch)] = np.nan
        history.append(std)
        mon.update(std)
        last = np.array(history[-span:])
        want = np.full(n_ch, np.nan)
        ready = np.count_nonzero(np.isfinite(last), axis=0) >= 5
        want[ready] = np.nanmedian(last[:, ready], axis=0)
        np.testing.assert_array_equal(mon.median_uv, want)


def test_monitor_errors_quote_the_values():
    with pytest.raises(ValueError, match=r"400.0, 8.0"):
        AmplitudeMonitor(1, low_uv=400.0, high_uv=8.0, span_windows=10, min_windows=4)
    with pytest.raises(ValueError, match="20, 10"):
        AmplitudeMonitor(1, low_uv=8.0, high_uv=400.0, span_windows=10, min_windows=20)
    with pytest.raises(ValueError, match=r"shape \(2,\), got \(3,\)"):
        AmplitudeMonitor(2, low_uv=8.0, high_uv=400.0, span_windows=10, min_windows=4).update(np.ones(3))
    # a low bound alone may be meant for a model card's high bound: checked once the card is known
    from realtime.config import apply_model_settings

    alone = build_config({"signal": {"amplitude_low_uv": 500.0}})
    with pytest.raises(ConfigError, match=r"amplitude_low_uv / amplitude_high_uv.*500.0 / 465.0"):
        apply_model_settings(alone, {})
    assert apply_model_settings(alone, {"signal": {"amplitude_high_uv": 900.0}})[0].signal.amplitude_high_uv == 900.0
    with pytest.raises(ConfigError, match=r"amplitude_low_uv / amplitude_high_uv.*500.0 / 465.0"):
        build_config({"signal": {"amplitude_low_uv": 500.0, "amplitude_high_uv": 465.0}})
    with pytest.raises(ConfigError, match=r"amplitude_min_s / amplitude_span_s.*600.0 / 300.0"):
        build_config({"signal": {"amplitude_min_s": 600.0}})


class _Constant:
    """A detector stand-in with the real contract: [n, 1024] µV -> [n] p(seizure)."""

    sample_rate_hz, window_samples, model_version = 250.0, 1024, "const"

    def predict(self, windows):
        return np.full(len(windows), 0.1)


def test_pipeline_reports_a_channel_with_a_wrong_gain_and_keeps_scoring_it():
    rate = 250.0
    t = np.arange(int(40 * rate)) / rate
    rng = np.random.default_rng(0)
    eeg = rng.normal(0, 30, (t.size, 3))  # std 30 µV: typical background
    eeg[:, 1] *= 0.05  # a 20x too-small gain (1.5 µV)
    eeg[:, 2] *= 30.0  # a 30x too-large one (900 µV; not yet "implausible")
    pipe = Pipeline(
        _Constant(),
        sfreq=rate,
        ch_names=["C3", "C4", "Cz"],
        units=None,
        window=WindowConfig(hop_s=1.0),
        decision=DecisionConfig(),
        signal=SignalConfig(amplitude_span_s=20.0, amplitude_min_s=10.0, background_min_s=10.0, montage="as_recorded"),
    )
    results = []
    for i in range(0, t.size, 250):
        pipe.push(eeg[i : i + 250], t[i : i + 250])
        results += pipe.step()
    assert all(r.amplitude_flags == {} for r in results[:9])  # under 10 s of windows: no judgement
    assert results[-1].amplitude_flags == {"C4": "amplitude_low", "Cz": "amplitude_high"}
    assert results[-1].flagged_channels == {} and np.isfinite(results[-1].channel_probabilities).all()
    pipe.reset()
    pipe.push(eeg[:1500], t[:1500] + 100)
    assert all(r.amplitude_flags == {} for r in pipe.step())  # a new connection starts over


@pytest.mark.parametrize("montage", ["average", "bipolar"])
def test_the_gain_is_judged_on_the_inputs_as_recorded_whatever_the_montage(montage):
    """19 referential inputs of 30 µV that share most of it: their derivations are small, the gain is right, and
    nothing is flagged; an input whose gain is 20x too small is flagged by its own label."""
    electrodes = ["FP1", "F7", "T3", "T5", "O1", "FP2", "F8", "T4", "T6", "O2", "F3", "C3", "P3", "F4", "C4", "P4"]
    rate, labels = 250.0, [f"EEG {e}-REF" for e in [*electrodes, "FZ", "CZ", "PZ"]]
    t = np.arange(int(30 * rate)) / rate
    rng = np.random.default_rng(1)
    eeg = rng.normal(0, 30, (t.size, 1)) + rng.normal(0, 2, (t.size, len(labels)))  # derivations: about 2-3 µV
    eeg[:, 11] *= 0.05  # C3's gain, 20x too small
    pipe = Pipeline(
        _Constant(),
        sfreq=rate,
        ch_names=labels,
        units=None,
        window=WindowConfig(hop_s=1.0),
        decision=DecisionConfig(),
        signal=SignalConfig(amplitude_span_s=20.0, amplitude_min_s=10.0, background_min_s=10.0, montage=montage),
    )
    assert pipe.montage.applied == montage
    results = []
    for i in range(0, t.size, 250):
        pipe.push(eeg[i : i + 250], t[i : i + 250])
        results += pipe.step()
    assert results[-1].amplitude_flags == {"EEG C3-REF": "amplitude_low"}
    assert "EEG C3-REF" in pipe.quality_detail({}, results[-1].amplitude_flags)


def test_training_amplitude_range_excludes_seizure_windows():
    """experiments.amplitude: the std of non-seizure training windows, which set the [signal] defaults."""
    from experiments.amplitude import background_window_std
    from train.datasets.records import Record

    x = np.concatenate([np.full(2048, 0.0), np.full(2048, 0.0)]).astype(np.float32)
    x[::2] += 10.0  # std 5 µV everywhere
    x[2048:][::2] += 90.0  # std 50 µV in the second half, which is annotated seizure
    labels = np.r_[np.zeros(2048), np.ones(2048)].astype(np.int8)
    stds = background_window_std([Record("edf/a", "a", x, labels, "edf", "s")], 1024, 512)
    np.testing.assert_allclose(stds["edf"], 5.0)  # windows touching the seizure are left out
    assert stds["edf"].size == 3


def test_offline_review_warns_about_a_recording_with_a_wrong_gain(tmp_path, caplog):
    import io
    import logging

    from realtime.offline import run_offline
    from realtime.recordings import write_npz

    t = np.arange(70 * 250) / 250
    data = np.vstack([2.0 * np.sin(2 * np.pi * 7 * t), 40.0 * np.sin(2 * np.pi * 7 * t)])  # std 1.4 and 28 µV
    path = write_npz(tmp_path / "lowgain.npz", data, 250.0, ["C3", "C4"])
    out = io.StringIO()
    with caplog.at_level(logging.WARNING, logger="realtime.offline"):
        assert (
            run_offline([path], build_config({"signal": {"montage": "as_recorded"}}), model=_Constant(), out=out) == 0
        )
    (msg,) = [r.getMessage() for r in caplog.records if "at the end" in r.getMessage()]
    assert "outside the model's training range" in msg and "C3 (1.4 uV, low)" in msg
    assert "check the device's gain and units" in msg and "C4" not in msg


def test_amplitude_command_writes_the_bounds_into_a_card(tmp_path, capsys):
    """python -m experiments.amplitude RUN --write-card EXPORT on a real run folder (the CHB-MIT excerpts
    as an 'edf' source) and a real export: settings.signal holds the printed bounds, the export stays valid."""
    import json
    import shutil
    from pathlib import Path

    from experiments.amplitude import amplitude_summary, main
    from realtime.model import default_model_path, read_card
    from train.hparams import HParams

    chbmit = Path(__file__).resolve().parents[2] / "realtime" / "data" / "chbmit"
    run = tmp_path / "run"
    run.mkdir()
    hp = HParams().replace(**{"data.sources": ["edf"], "data.edf_paths": [str(chbmit / "chb01_03_NonSeizure.edf")]})
    (run / "hparams.json").write_text(json.dumps(hp.to_dict()))
    train_ids = [f"edf/chb01_03_NonSeizure.edf#{ch}" for ch in ("FP1-F7", "F7-T7", "T7-P7")]
    (run / "split.json").write_text(json.dumps({"train": train_ids, "validation": [], "test": []}))
    export = tmp_path / "export"
    shutil.copytree(default_model_path(), export)
    assert main([str(run), "--data-root", str(tmp_path), "--write-card", str(export)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["all"]["n"] == 3 * 19  # 10250 samples at 250 Hz: 19 windows of 1024, hop 512, per channel
    bounds = printed["daemon_bounds_uv"]
    assert bounds["amplitude_low_uv"] == round(printed["all"]["p01"] / 2, 1) > 0
    signal = read_card(export)["settings"]["signal"]
    assert {k: signal[k] for k in bounds} == bounds and printed["written"] == signal
    assert signal["derived_by"].startswith(f"python -m experiments.amplitude {run} --data-root")
    assert read_card(export)["settings"]["decision"] == read_card(default_model_path())["settings"]["decision"]
    with pytest.raises(ValueError, match=r"got \{'edf': 0\} windows per source"):
        amplitude_summary({"edf": np.zeros(0)})
