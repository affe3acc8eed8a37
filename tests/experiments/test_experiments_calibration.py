"""experiments.calibration: the calibration replaces every channel's EEG with one signal (a square wave, a sine, or
the recording's own Fp1) over its timing's span, and the study counts a bed's onsets during it through the daemon's
own pipeline (the toy amplitude export on LiteRT)."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.calibration import (
    CALIBRATION_S,
    KINDS,
    NOISE_UV,
    RECORDING_S,
    SINE_HZ,
    TIMINGS,
    calibration,
    count,
    study,
    table,
    with_calibration,
)
from realtime.recordings import open_recording, write_npz

FS = 160.0
LABELS = ["Fp1.", "Fp2.", "F7..", "Cz..", "O1..", "O2.."]


def test_the_calibrators_signals_have_their_rate_and_amplitude_peak_to_peak():
    t = np.arange(int(4 * FS)) / FS
    square = calibration("square", 50.0, t)
    assert set(np.unique(square)) == {-25.0, 25.0} and (square[: int(FS / 2)] == 25.0).all()
    assert np.count_nonzero(np.diff(square)) == 7  # a step every half second
    sine = calibration("sine", 100.0, t)
    assert sine.max() - sine.min() == pytest.approx(100.0, rel=1e-3)
    spectrum = np.abs(np.fft.rfft(sine))
    assert np.fft.rfftfreq(t.size, 1 / FS)[spectrum.argmax()] == pytest.approx(SINE_HZ)
    with pytest.raises(ValueError, match="got 'biocal'"):
        calibration("biocal", 50.0, t)


@pytest.fixture
def recording(tmp_path):
    data = np.random.default_rng(1).normal(0, 10, (len(LABELS), int(125 * FS)))
    return write_npz(tmp_path / "S001R03.npz", data, FS, LABELS)


@pytest.mark.parametrize("timing", list(TIMINGS))
def test_every_channel_carries_the_calibration_alone_over_its_span(recording, timing):
    r = open_recording(recording, annotations=False)
    a, b = int(TIMINGS[timing] * FS), int((TIMINGS[timing] + CALIBRATION_S) * FS)
    original = r.read(0, int(RECORDING_S * FS))
    sq = with_calibration(r, "square", 100.0, timing, seed=0)
    assert sq.n_samples == int(RECORDING_S * FS)
    x = sq.read(0, sq.n_samples)
    np.testing.assert_array_equal(np.delete(x, np.s_[a:b], axis=1), np.delete(original, np.s_[a:b], axis=1))
    span = x[:, a:b]
    residual = span - span.mean(axis=0)  # one signal, each channel its own noise
    assert residual.std() == pytest.approx(NOISE_UV * np.sqrt(1 - 1 / len(LABELS)), rel=0.05)
    assert span.max() - span.min() == pytest.approx(100.0, abs=10 * NOISE_UV)
    bio = with_calibration(r, "biocal", 0.0, timing, seed=0).read(0, sq.n_samples)[:, a:b]
    np.testing.assert_allclose(bio - original[0, a:b], 0.0, atol=6 * NOISE_UV)  # Fp1, on every channel
    assert np.array_equal(with_calibration(r, None, 0.0, timing, seed=0).read(0, 10), original[:, :10])
    with pytest.raises(ValueError, match="got 'spindles'"):
        with_calibration(r, "spindles", 1.0, timing, seed=0)


def test_biocal_needs_an_fp1(tmp_path):
    path = write_npz(tmp_path / "x.npz", np.zeros((2, int(40 * FS))), FS, ["Cz..", "Pz.."])
    with pytest.raises(ValueError, match="needs an Fp1 channel"):
        with_calibration(open_recording(path, annotations=False), "biocal", 0.0, "start", seed=0)


def test_onsets_are_counted_from_the_calibrations_start_to_5_s_after_it():
    assert count([0.0, 34.9, 35.0, 70.0], "start") == {"during": 2, "elsewhere": 2}
    assert count([10.0, 60.0, 94.9, 95.0], "mid") == {"during": 2, "elsewhere": 2}


def test_the_study_counts_a_beds_onsets_during_the_calibration(recording, toy_export):
    from realtime.config import build_config
    from realtime.model import load_detector

    det = load_detector(toy_export, backend="litert")  # p(seizure) rises with a window's amplitude (60 µV: 0.5)
    config = build_config(
        {
            "decision": {"on_threshold": 0.8, "min_duration_s": 2.0},
            "signal": {"background_limit_uv": 0.0, "montage": "as_recorded"},
        }
    )
    res = study([recording], det, config, kinds=("square", "biocal"), amplitudes=(5.0, 1000.0))
    for timing in TIMINGS:
        assert res[timing]["clean"]["recordings_alarmed"] == 0 == res[timing]["biocal"]["recorded"]["during"]
        assert res[timing]["square"]["5"]["recordings_alarmed"] == 0
        loud = res[timing]["square"]["1000"]
        assert loud["recordings_alarmed"] == 1 and loud["elsewhere"] == 0
    assert set(KINDS) >= set(res["mid"]) - {"clean"}
    assert "| square | 1000 | 1/1 (1; 0) | 1/1 (1; 0) |" in table(res)
