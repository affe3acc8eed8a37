"""experiments.activation: photic trains follow their flash rates on the back of the head, hyperventilation's delta
builds up, slows and resolves on every channel, recordings are joined without a step, and the study counts a bed's
onsets during a procedure through the daemon's own pipeline (the toy amplitude export on LiteRT)."""

from __future__ import annotations

import numpy as np
import pytest
from eegmmidb_layout import FS, LABELS, TEN_TWENTY, noise_npz

from experiments.activation import (
    FIRST_RUN,
    FLASH_HZ,
    HV_S,
    KINDS,
    START_S,
    TRAIN_S,
    activity_s,
    count,
    gains,
    joined,
    person_files,
    study,
    table,
    train_starts_s,
    waveform,
    with_procedure,
)
from realtime.recordings import open_recording, write_npz


def test_each_photic_train_is_a_rhythm_at_its_flash_rate_with_the_given_peak_and_nothing_between_trains():
    t = np.arange(int(activity_s("photic") * FS) + int(FS)) / FS
    x = waveform("photic", 80.0, t)
    for start, rate in zip(train_starts_s(), FLASH_HZ, strict=True):
        a, b = int(start * FS), int((start + TRAIN_S) * FS)
        assert np.abs(x[a : b + int(0.3 * FS)]).max() == pytest.approx(80.0, rel=1e-9)  # its last potential's tail too
        if rate <= 14:  # faster, the potentials partly cancel: the rhythm is smaller than the train's first or last
            assert np.abs(x[a + int(FS) : b - int(FS)]).max() == pytest.approx(80.0, rel=0.01)
        if (FS / rate).is_integer():  # one evoked potential per flash, the same each time
            p, m = int(FS / rate), a + int(2 * FS)
            np.testing.assert_allclose(x[m : m + p], x[m + p : m + 2 * p], atol=1e-9)
        assert not x[b + int(0.5 * FS) : int((start + TRAIN_S + 6.5) * FS)].any()
    assert not x[int(activity_s("photic") * FS) + int(0.5 * FS) :].any()


def test_hyperventilation_builds_up_slows_and_resolves():
    t = np.arange(int(activity_s("hyperventilation") * FS) + int(10 * FS)) / FS
    x = waveform("hyperventilation", 200.0, t)
    assert np.abs(x).max() == pytest.approx(200.0, rel=1e-9)
    assert not x[: int(60 * FS)].any() and not x[int(activity_s("hyperventilation") * FS) :].any()

    def part(a_s, b_s):
        return x[int(a_s * FS) : int(b_s * FS)]

    levels = [part(a, a + 16).std() for a in (64, 100, 134, 160, 200)]
    assert levels[0] < levels[1] < levels[2] < levels[3] and levels[4] < levels[3]  # full at the breathing's end

    def peak_hz(y):
        spectrum = np.abs(np.fft.rfft(y))
        return np.fft.rfftfreq(y.size, 1 / FS)[spectrum.argmax()]

    assert peak_hz(part(64, 80)) == pytest.approx(3.5, abs=0.15)
    assert peak_hz(part(HV_S - 20, HV_S)) == pytest.approx(2.5, abs=0.1)
    with pytest.raises(ValueError, match="got 'spindles'"):
        waveform("spindles", 1.0, t)


def test_photic_is_at_the_back_of_the_head_hyperventilation_everywhere_largest_at_the_front():
    photic = dict(zip(TEN_TWENTY, gains(LABELS, "photic"), strict=True))
    assert {e for e, g in photic.items() if g == 1} == {"O1", "O2"}
    assert {e for e, g in photic.items() if g == 0.5} == {"P7", "P3", "Pz", "P4", "P8"}
    assert sum(g == 0 for g in photic.values()) == 12
    hv = dict(zip(TEN_TWENTY, gains(LABELS, "hyperventilation"), strict=True))
    assert hv["Fp1"] == hv["Fz"] == 1.0 > hv["Cz"] == hv["T7"] > hv["Pz"] > hv["O2"] == 0.5
    with pytest.raises(ValueError, match="got 'spindles'"):
        gains(LABELS, "spindles")


@pytest.fixture
def person(tmp_path):
    return [noise_npz(tmp_path / f"S001R0{i}.npz", 50.0, mean_uv=100.0 * i, seed=i) for i in (3, 4, 6)]


def test_recordings_are_joined_in_order_each_without_its_offset(person, tmp_path):
    parts = [open_recording(p, annotations=False) for p in person]
    r = joined(parts)
    assert r.n_samples == 3 * int(50 * FS) and r.ch_names == parts[0].ch_names and r.sfreq == FS
    np.testing.assert_allclose(r.data.mean(axis=1), 0.0, atol=1e-9)
    second = parts[1].read(0, parts[1].n_samples)
    np.testing.assert_allclose(r.data[:, int(50 * FS) : int(100 * FS)], second - second.mean(axis=1, keepdims=True))
    other = write_npz(tmp_path / "other.npz", np.zeros((2, 100)), FS, ["Fp1.", "Fp2."])
    with pytest.raises(ValueError, match="other channels or rate"):
        joined([parts[0], open_recording(other, annotations=False)])


def test_the_procedure_is_added_from_its_start_where_it_lies(person):
    r = joined([open_recording(p, annotations=False) for p in person])
    diff = with_procedure(r, "photic", 100.0).read(0, r.n_samples) - r.data
    assert not diff[:, : int(START_S * FS)].any()
    assert (np.abs(diff).max(axis=1) > 0).sum() == 7  # O1, O2 and five parietal
    assert with_procedure(r, None, 100.0) is r


def test_each_persons_first_recordings_from_r03_are_joined_and_a_person_with_too_few_is_left_out(tmp_path):
    for name, runs in {"S001": (1, 3, 4, 5, 6), "S002": (3, 4, 6, 7), "S003": (3,), "S004": (3, 11, 12)}.items():
        (tmp_path / "eegmmidb" / name).mkdir(parents=True)
        for run in runs:
            (tmp_path / "eegmmidb" / name / f"{name}R{run:02d}.edf").touch()
    people = person_files(tmp_path, 5)
    assert [[f.name for f in files] for files in people] == [
        ["S001R03.edf", "S001R04.edf", "S001R05.edf"],
        ["S002R03.edf", "S002R04.edf", "S002R06.edf"],
        ["S004R03.edf", "S004R11.edf", "S004R12.edf"],
    ]
    assert FIRST_RUN == 3 and len(person_files(tmp_path, 1)) == 1


def test_onsets_are_counted_during_the_procedure_with_the_flash_rate_of_their_train():
    end = START_S + activity_s("photic") + 5.0
    c = count([10.0, START_S + 3.0, START_S + 17.0 + 12.0, end - 0.1, end], "photic")
    assert c == {"during": 3, "elsewhere": 2, "flash_hz": [1.0, 2.0, 30.0]}
    assert count([59.9, 200.0, 300.0, 305.0], "hyperventilation") == {"during": 2, "elsewhere": 2}
    assert count([200.0], None) == {"during": 1, "elsewhere": 0}


def test_the_study_counts_a_beds_onsets_during_a_procedure(person, toy_export):
    from realtime.config import build_config
    from realtime.model import load_detector

    det = load_detector(toy_export, backend="litert")  # p(seizure) rises with a window's amplitude (60 µV: 0.5)
    config = build_config(
        {
            "decision": {"on_threshold": 0.8, "min_duration_s": 2.0},
            "signal": {"background_limit_uv": 0.0, "montage": "as_recorded"},
        }
    )
    res = study([person], det, config, kinds=("photic",), amplitudes={"photic": (5.0, 1000.0)})
    assert res["none"]["recordings_alarmed"] == 0 == res["photic"]["5"]["recordings_alarmed"]
    loud = res["photic"]["1000"]
    assert loud["recordings_alarmed"] == 1 and loud["elsewhere"] == 0 and len(loud["flash_hz"]) == loud["during"]
    assert set(KINDS) >= set(res) - {"recordings", "seconds", "none"}
    assert f"| photic | 1000 | 1/1 | {loud['during']} | 0 |" in table(res)
