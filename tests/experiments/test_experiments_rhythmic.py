"""experiments.rhythmic: each artefact has its rhythm and amplitude, lands where its pattern says, and the study
counts a bed's onsets during it through the daemon's own pipeline (the toy amplitude export on LiteRT)."""

from __future__ import annotations

import numpy as np
import pytest
from eegmmidb_layout import FS, LABELS, noise_npz

from experiments.rhythmic import (
    ARTEFACT_S,
    ARTEFACT_START_S,
    KINDS,
    MONTAGES,
    gains,
    study,
    table,
    waveform,
    with_artefact,
)
from realtime.recordings import open_recording


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_artefact_has_its_rhythm_and_peak(kind):
    t = np.arange(int(20 * FS)) / FS
    x = waveform(kind, 100.0, t)
    spectrum = np.abs(np.fft.rfft(x - x.mean()))
    assert np.fft.rfftfreq(t.size, 1 / FS)[spectrum.argmax()] == pytest.approx(KINDS[kind], abs=0.1)
    assert np.abs(x).max() == pytest.approx(100.0, rel=0.02) and x[0] == 0.0  # faded in
    with pytest.raises(ValueError, match="got 'snoring'"):
        waveform("snoring", 1.0, t)


def test_the_posterior_pattern_touches_parietal_and_occipital_electrodes_only():
    g = gains(LABELS, "posterior", np.random.default_rng(0))
    touched = [label.rstrip(".") for label, v in zip(LABELS, g, strict=True) if v > 0]
    assert touched == ["P7", "P3", "Pz", "P4", "P8", "O1", "O2"] and ((g == 0) | ((g >= 0.4) & (g <= 1.0))).all()
    assert (gains(LABELS, "common", np.random.default_rng(0)) == 1).all()


@pytest.fixture
def recording(tmp_path):
    return noise_npz(tmp_path / "S001R03.npz", 80.0)


def test_the_artefact_is_added_over_its_span_to_the_recording_as_read(recording):
    r = open_recording(recording, annotations=False)
    edited = with_artefact(r, 75.0, "tremor", 200.0, "posterior", seed=0)
    assert edited.n_samples == int(75 * FS) and edited.ch_names == r.ch_names
    diff = edited.read(0, edited.n_samples) - r.read(0, edited.n_samples)
    a, b = int(ARTEFACT_START_S * FS), int((ARTEFACT_START_S + ARTEFACT_S) * FS)
    assert not diff[:, :a].any() and not diff[:, b:].any()
    assert (np.abs(diff[:, a:b]).max(axis=1) > 0).sum() == 7  # the posterior seven
    assert np.array_equal(with_artefact(r, 75.0, None, 200.0, "common", seed=0).read(0, 10), r.read(0, 10))


def test_the_study_counts_a_beds_onsets_during_the_artefact(recording, toy_export):
    from realtime.config import build_config
    from realtime.model import load_detector

    det = load_detector(toy_export, backend="litert")  # p(seizure) rises with a window's amplitude (60 µV: 0.5)
    config = build_config({"decision": {"on_threshold": 0.8, "min_duration_s": 2.0}})
    montages = (*MONTAGES, "average_hemispheres")
    res = study([recording], det, config, 80.0, kinds={"tremor": 5.0}, amplitudes=(20.0, 400.0), montages=montages)
    assert res["clean"] == {m: {"during": 0, "elsewhere": 0, "recordings_alarmed": 0} for m in montages}
    common, posterior = res["tremor"]["common"], res["tremor"]["posterior"]
    assert set(common["400"]) == {"as_recorded", "average_hemispheres"}  # cancelled exactly by bipolar and average
    assert common["20"]["as_recorded"]["recordings_alarmed"] == 0
    assert common["400"]["as_recorded"]["recordings_alarmed"] == 1 == posterior["400"]["average"]["recordings_alarmed"]
    assert common["400"]["average_hemispheres"]["recordings_alarmed"] == 1  # the sides' means keep it
    assert "| tremor (5 Hz) | common | 400 | 1/1 (1) | = clean | = clean | 1/1 (1) |" in table(res)
