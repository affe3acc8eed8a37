"""experiments.clinical_patterns: each imitated pattern has its rhythm, peak and place on the head, lands over its
timing's span, and the study counts a bed's onsets during it through the daemon's own pipeline (the toy amplitude
export on LiteRT)."""

from __future__ import annotations

import numpy as np
import pytest
from eegmmidb_layout import FS, LABELS, TEN_TWENTY, noise_npz

from experiments.clinical_patterns import (
    BURST_EVERY_S,
    BURST_S,
    EPISODE_S,
    EPISODE_START_S,
    FIRDA_HZ,
    GPD_HZ,
    KINDS,
    LPD_HZ,
    SUPPRESSED,
    count,
    electrode,
    gains,
    record_gain,
    study,
    table,
    waveform,
    with_pattern,
)
from realtime.recordings import open_recording


@pytest.mark.parametrize(("kind", "rhythm_hz"), [("gpd", GPD_HZ), ("lpd", LPD_HZ), ("firda", FIRDA_HZ)])
def test_each_periodic_or_rhythmic_pattern_repeats_at_its_rate_with_its_peak(kind, rhythm_hz):
    t = np.arange(int(30 * FS)) / FS
    x = waveform(kind, 100.0, t)
    assert np.abs(x).max() == pytest.approx(100.0, rel=0.01)
    if kind == "firda":  # a 2.5 Hz rhythm in 4 s bursts every 15 s
        spectrum = np.abs(np.fft.rfft(x))
        assert np.fft.rfftfreq(t.size, 1 / FS)[spectrum.argmax()] == pytest.approx(rhythm_hz, abs=0.1)
        assert not x[int(5 * FS) : int(14.9 * FS)].any()
    else:  # one discharge per period, the same each time
        period = int(FS / rhythm_hz) if (FS / rhythm_hz).is_integer() else None
        peaks = np.flatnonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:]) & (x[1:-1] > 50.0))
        assert len(peaks) == pytest.approx(30 * rhythm_hz, abs=1)
        if period:
            np.testing.assert_allclose(x[:period], x[period : 2 * period], atol=1e-9)
    with pytest.raises(ValueError, match="got 'spindles'"):
        waveform("spindles", 1.0, t)


def test_burst_suppression_suppresses_the_record_between_bursts_that_carry_a_slow_wave():
    t = np.arange(int(18 * FS)) / FS
    g, x = record_gain("burst_suppression", t), waveform("burst_suppression", 150.0, t)
    in_burst = t % BURST_EVERY_S < BURST_S
    assert (g[in_burst] == 1).all() and (g[~in_burst] == SUPPRESSED).all()
    assert not x[~in_burst].any() and np.abs(x).max() == pytest.approx(150.0, rel=0.01)
    assert (record_gain("gpd", t) == 1).all()


def test_each_pattern_lies_where_it_does_on_the_head():
    named = [electrode(x) for x in ("Fp1.", "T7..", "EEG Fp1-REF", "EEG T3-LE", "Cz")]
    assert named == ["Fp1", "T7", "Fp1", "T7", "Cz"]
    rng = np.random.default_rng(0)
    gpd = dict(zip(TEN_TWENTY, gains(LABELS, "gpd", rng), strict=True))
    assert gpd["Fp1"] == gpd["Fz"] == 1.0 > gpd["Cz"] > gpd["Pz"] > gpd["O1"] == 0.6
    lpd = [e for e, v in zip(TEN_TWENTY, gains(LABELS, "lpd", rng), strict=True) if v > 0]
    assert lpd == ["Fp1", "F7", "F3", "T7", "C3", "P7", "P3", "O1"]
    firda = [e for e, v in zip(TEN_TWENTY, gains(LABELS, "firda", rng), strict=True) if v > 0]
    assert firda == ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8"]
    assert (gains(LABELS, "burst_suppression", rng) == 1).all()
    with pytest.raises(ValueError, match="got 'spindles'"):
        gains(LABELS, "spindles", rng)


@pytest.fixture
def recording(tmp_path):
    return noise_npz(tmp_path / "S001R03.npz", 125.0)


def test_the_pattern_is_added_over_its_timings_span_to_the_recording_as_read(recording):
    r = open_recording(recording, annotations=False)
    episode = with_pattern(r, "firda", 200.0, "episode", seed=0)
    assert episode.n_samples == int(90 * FS) and episode.ch_names == r.ch_names
    diff = episode.read(0, episode.n_samples) - r.read(0, episode.n_samples)
    a, b = int(EPISODE_START_S * FS), int((EPISODE_START_S + EPISODE_S) * FS)
    assert not diff[:, :a].any() and not diff[:, b:].any()
    assert (np.abs(diff[:, a:b]).max(axis=1) > 0).sum() == 7  # the frontal seven
    whole = with_pattern(r, "burst_suppression", 100.0, "from_start", seed=0)
    assert whole.n_samples == int(120 * FS)
    quiet = whole.read(int(3 * FS), int(5 * FS))  # between the first two bursts: a tenth of the record
    np.testing.assert_allclose(quiet, SUPPRESSED * r.read(int(3 * FS), int(5 * FS)))
    assert np.array_equal(with_pattern(r, None, 200.0, "episode", seed=0).read(0, 10), r.read(0, 10))


def test_onsets_are_counted_during_the_episode_or_in_the_first_seconds():
    assert count([10.0, 31.0, 74.9, 75.0], "episode") == {"during": 2, "elsewhere": 2}
    assert count([7.1, 23.9, 60.0], "from_start") == {"during": 3, "first_s": 2, "after_first_s": 1}


def test_the_study_counts_a_beds_onsets_during_the_pattern(recording, toy_export):
    from realtime.config import build_config
    from realtime.model import load_detector

    det = load_detector(toy_export, backend="litert")  # p(seizure) rises with a window's amplitude (60 µV: 0.5)
    config = build_config(
        {
            "decision": {"on_threshold": 0.8, "min_duration_s": 2.0},
            "signal": {"background_limit_uv": 0.0, "montage": "as_recorded"},
        }
    )
    res = study([recording], det, config, kinds=("gpd",), amplitudes=(5.0, 400.0))
    assert res["episode"]["clean"]["recordings_alarmed"] == 0 == res["from_start"]["clean"]["recordings_alarmed"]
    assert res["episode"]["gpd"]["5"]["recordings_alarmed"] == 0
    assert res["episode"]["gpd"]["400"]["recordings_alarmed"] == 1 == res["from_start"]["gpd"]["400"]["first_s"]
    assert set(KINDS) >= set(res["episode"]) - {"clean"}
    assert "| gpd | 400 | 1/1 (1) | 1/1 (1; 1 in the first 24 s) |" in table(res)
