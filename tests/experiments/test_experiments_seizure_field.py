"""experiments.seizure_field: a seizure's field over the 10-20 electrodes (one side or its mirror), the seizure added
from its start at its own size on those electrodes only, and the study's scoring of each montage through the daemon's
own pipeline (the toy amplitude export on LiteRT): a field common to every electrode is gone in the average and the
double banana, a focal one is not."""

from __future__ import annotations

import numpy as np
import pytest
from eegmmidb_layout import FS, LABELS, TEN_TWENTY, noise_npz

from experiments.rhythmic import MONTAGES
from experiments.seizure_field import (
    KINDS,
    START_S,
    TAPER_S,
    Seizure,
    field_gains,
    mirror,
    study,
    table,
    with_seizure,
)
from realtime.recordings import open_recording


def test_mirror_swaps_sides_and_keeps_the_midline():
    assert [mirror(e) for e in ("F7", "Fp1", "O2", "T8", "Cz", "Fz")] == ["F8", "Fp2", "O1", "T7", "Cz", "Fz"]


def test_each_field_lies_where_it_is_said_and_the_lateral_ones_mirror():
    def where(kind, right=False):
        return dict(zip(TEN_TWENTY, field_gains(LABELS, kind, right), strict=True))

    focal = where("focal")
    assert {e for e, g in focal.items() if g == 1} == {"F7", "T7", "P7"}
    assert {e for e, g in focal.items() if g == 0.5} == {"Fp1", "F3", "C3", "P3", "O1"}
    assert {e for e, g in where("focal", right=True).items() if g == 1} == {"F8", "T8", "P8"}
    hemi = where("hemispheric", right=True)
    assert {e for e, g in hemi.items() if g == 1} == {"Fp2", "F8", "F4", "T8", "C4", "P8", "P4", "O2"}
    assert {e for e, g in hemi.items() if g == 0.5} == {"Fz", "Cz", "Pz"}
    gen = where("generalised")
    assert gen["Fp1"] == gen["Fz"] == 1.0 > gen["C3"] == gen["T8"] == 0.8 > gen["Pz"] == 0.65 > gen["O2"] == 0.5
    assert (field_gains(LABELS, "uniform") == 1).all()
    assert field_gains([*LABELS, "ECG"], "uniform")[-1] == 0  # a channel that names no electrode carries none
    with pytest.raises(ValueError, match="got 'diffuse'"):
        field_gains(LABELS, "diffuse")


@pytest.fixture
def backgrounds(tmp_path):
    return [noise_npz(tmp_path / f"S00{i}R03.npz", 75.0, seed=i) for i in (1, 2)]


def seizure(seconds=10.0, uv=600.0, hz=4.0):
    t = np.arange(int(seconds * 250)) / 250
    return Seizure(uv * np.sin(2 * np.pi * hz * t) + 30.0, 250.0, "bonn/S/S001.txt", "bonn")


def test_the_seizure_is_added_from_its_start_on_its_field_only_made_zero_mean_and_tapered(backgrounds):
    r = open_recording(backgrounds[0], annotations=False)
    edited, span = with_seizure(r, seizure(), "focal", right=False)
    assert span == pytest.approx((START_S, START_S + 10.0))
    diff = edited.read(0, r.n_samples) - r.read(0, r.n_samples)
    a, b = int(START_S * FS), int((START_S + 10.0) * FS)
    assert not diff[:, :a].any() and not diff[:, b:].any()
    gains = field_gains(LABELS, "focal")
    assert not diff[gains == 0].any()
    np.testing.assert_allclose(diff[gains == 0.5], np.repeat(diff[gains == 1][:1] * 0.5, 5, axis=0))  # one waveform
    x = diff[gains == 1][0, a:b]
    assert abs(x.mean()) < 1.0 and abs(x[0]) < 5.0 and np.abs(x).max() == pytest.approx(600.0, rel=0.01)
    assert np.abs(x[: int(TAPER_S * FS)]).max() < np.abs(x[int(TAPER_S * FS) : int(2 * TAPER_S * FS)]).max()
    assert with_seizure(r, None, "focal", False)[0] is r
    # lagged: each field electrode carries the same waveform from its own lag in [0, 0.1 s], the earliest at 0
    gains = field_gains(LABELS, "hemispheric")
    template = (with_seizure(r, seizure(), "hemispheric", False)[0].read(0, r.n_samples) - r.read(0, r.n_samples))[
        int(np.argmax(gains)), a:b
    ]  # the unlagged waveform at weight 1
    lagged, span = with_seizure(r, seizure(), "hemispheric", right=False, lag_s=0.1, seed=3)
    diff = lagged.read(0, r.n_samples) - r.read(0, r.n_samples)
    lags = []
    for j in np.flatnonzero(gains):
        (k,) = [k for k in range(int(0.1 * FS) + 1) if np.allclose(diff[j, a + k : b + k], gains[j] * template)]
        lags.append(k)
    assert min(lags) == 0 and 0 < max(lags) <= int(0.1 * FS) and len(set(lags)) > 3
    assert span[1] == pytest.approx(START_S + 10.0 + max(lags) / FS) and not diff[gains == 0].any()
    with pytest.raises(ValueError, match="does not fit"):
        with_seizure(r, seizure(seconds=40.0), "focal", False)


def test_the_study_scores_every_montage_a_common_field_vanishes_in_the_average_and_the_banana(backgrounds, toy_export):
    from realtime.config import build_config
    from realtime.model import load_detector

    det = load_detector(toy_export, backend="litert")  # p(seizure) rises with a window's amplitude (60 µV: 0.5)
    decision = {"on_threshold": 0.8, "min_duration_s": 2.0}
    config = build_config({"decision": decision, "signal": {"background_limit_uv": 0}})
    res = study(backgrounds, [seizure()], det, config, kinds=("focal", "uniform"))
    assert all(res["control"][m]["onsets"] == 0 for m in MONTAGES)
    uniform = {m: res["uniform"][m]["all"] for m in MONTAGES}
    assert uniform["as_recorded"]["detected"] == 1 and uniform["as_recorded"]["within_s"] == 1
    assert uniform["average"]["detected"] == uniform["bipolar"]["detected"] == 0
    for m in ("as_recorded", "average"):
        focal = res["focal"][m]
        assert focal["all"]["detected"] == 1 == focal["bonn"]["detected"] and focal["all"]["elsewhere"] == 0
        assert 0 < focal["per_seizure"][0]["latency_s"] <= 10 and focal["per_seizure"][0]["channels"]
    # the field's plateau (F7, T7, P7 alike) cancels along its chain: the banana carries it on Fp1-F7 and P7-O1 only,
    # two channels, where the bed rule asks 3 of 16
    assert res["focal"]["bipolar"]["all"]["detected"] == 0
    assert set(KINDS) >= set(res) - {"recordings", "seizures", "control", "montages", "lag_s"}
    assert res["montages"] == list(MONTAGES)
    assert "| uniform | all | 1/1, 1 within 10 s" in table(res)
