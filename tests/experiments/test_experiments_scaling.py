"""experiments.scaling: the rule's statistic and limit, and the seizure scoring it reports, through the daemon's
pipeline (the toy amplitude export on LiteRT)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from evaluation.recordings import EvalRecording
from experiments.scaling import (
    at_connection,
    channel_levels,
    extra_onsets,
    limit_from,
    quiet_gain,
    score_seizures,
    within,
)
from realtime.config import Config, DecisionConfig, SignalConfig
from realtime.model import load_detector
from realtime.recordings import read_recording, write_npz


def test_channel_levels_are_the_lower_quartile_of_the_band_limited_window_std():
    rate = 160.0
    t = np.arange(int(30 * rate)) / rate
    quiet, loud = 20 * np.sin(2 * np.pi * 10 * t), 20 * np.sin(2 * np.pi * 10 * t)
    loud[t >= 20] *= 10  # the last third ten times larger: above the lower quartile
    levels = channel_levels(np.stack([quiet, loud, 300 * np.sin(2 * np.pi * 0.5 * t)]), rate)
    assert levels[0] == pytest.approx(20 / np.sqrt(2), rel=0.02)
    assert levels[1] == pytest.approx(20 / np.sqrt(2), rel=0.02)
    assert levels[2] < 2.0  # below the band
    assert channel_levels(np.zeros((2, 100)), rate).size == 0  # shorter than a window


def test_the_limit_is_three_times_the_loudest_person_rounded_down_to_ten():
    assert limit_from({"a": 12.0, "b": 34.3, "c": 7.2}) == 100.0
    assert limit_from({"a": 40.0}) == 120.0
    assert limit_from({"a": 12.0, "b": 34.3}, 2.0) == 60.0  # the corrected rule's measured gain


def test_the_corrected_rule_takes_the_largest_gain_with_at_most_one_alarm():
    runs = {"2.5": {"alarms": 4}, "2": {"alarms": 1}, "1.5": {"alarms": 0}}
    assert quiet_gain(runs) == 2.0
    assert quiet_gain({**runs, "2.5": {"alarms": 1}}) == 2.5
    assert quiet_gain({"2": {"alarms": 2}, "1.5": {"alarms": 3}}) is None


def test_seizures_are_counted_with_scaling_off_and_on(toy_export, tmp_path: Path):
    rate, rng = 250.0, np.random.default_rng(0)
    n = int(200 * rate)
    t = np.arange(n) / rate
    x = rng.normal(size=(2, n)) * 30.0  # under the toy's 60 µV: quiet
    x[:, (t >= 150) & (t < 170)] *= 8  # a seizure: 240 µV for 20 s
    path = write_npz(tmp_path / "rec.npz", x, rate, ["C3", "C4"])
    rec = EvalRecording("rec", path, [(150.0, 170.0)], "a burst", duration_s=200.0, n_channels=2)
    det = load_detector(toy_export, backend="litert")
    base = Config(
        signal=SignalConfig(montage="as_recorded"),
        decision=DecisionConfig(aggregation="k_of_n", k_channels=1, on_threshold=0.8, off_threshold=0.5),
    )
    off = score_seizures([rec], base, det, 1.0)
    assert (off["seizures"], off["detected"], off["false_alarms"]) == (1, 1, 0)
    assert off["per_recording"]["rec"]["windows_scaled"] == 0
    # x4: a 120 µV background the toy alarms on; scaled down to 10 µV (the limit) after its minute of history
    on_cfg = dataclasses.replace(base, signal=dataclasses.replace(base.signal, background_limit_uv=10.0))
    loud_off, loud_on = score_seizures([rec], base, det, 4.0), score_seizures([rec], on_cfg, det, 4.0)
    assert loud_on["detected"] == 1 and loud_on["per_recording"]["rec"]["windows_scaled"] > 100
    assert loud_off["latency_median_s"] < 0 < loud_on["latency_median_s"]  # without: an event open long before


def test_write_card_without_the_corrected_rule_is_refused_before_any_data_is_read(capsys, tmp_path):
    from experiments.scaling import main

    with pytest.raises(SystemExit) as info:
        main(["--data-root", str(tmp_path / "absent"), "--write-card", "EXP"])
    assert info.value.code == 2
    assert "--write-card 'EXP' needs --limit-gains (the corrected rule's limit) or --delta-levels with one UV" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):  # the delta limit comes from one size of the slow background
        main(["--data-root", str(tmp_path / "absent"), "--delta-levels", "70", "100", "--write-card", "EXP"])


def test_a_rising_background_needs_sessions_and_rises_from_2_to_12_min(capsys, tmp_path):
    from experiments.scaling import main, rising_gain

    with pytest.raises(SystemExit) as info:
        main(["--data-root", str(tmp_path / "absent"), "--rise-to", "4"])
    assert info.value.code == 2
    assert "--rise-to 4 needs --sessions PAUSE_S" in capsys.readouterr().err
    np.testing.assert_allclose(rising_gain(np.array([0.0, 120.0, 420.0, 720.0, 3600.0]), 4.0), [1, 1, 2.5, 4, 4])


def test_seizures_at_connection_are_cut_from_a_second_before_each_onset(tmp_path: Path):
    rate = 100.0
    x = np.arange(int(200 * rate), dtype=np.float64)[None, :]  # the sample index: where each cut starts shows
    path = write_npz(tmp_path / "test_sz.npz", x, rate, ["EEG"])
    recs = [
        EvalRecording("test_sz", path, [(100.0, 110.0), (20.0, 30.0), (150.0, 175.0)], "three", 200.0),
        EvalRecording("test_bg", path, [], "background", 200.0, background_only=True),
        EvalRecording("chbmit_seizure", path, [(1.0, 41.0)], "kept as it is", 41.0),
        EvalRecording("chbmit_stitched", path, [(50.0, 90.0)], "the same seizure again: not cut", 91.0),
        EvalRecording("chbmit_long_seizure", path, [(30.0, 190.0)], "--long-seizures: cut too", 200.0),
    ]
    out = at_connection(recs, tmp_path)
    names = ["chbmit_seizure", "test_sz_at_00", "test_sz_at_01", "test_sz_at_02", "chbmit_long_seizure_at_00"]
    assert [r.name for r in out] == names
    assert out[-1].seizures == [(1.0, 61.0)] and out[-1].duration_s == 61.0  # 60 s of a seizure that goes on
    out = out[:-1]
    # in onset order; each from 1 s before its onset to 60 s after it, the next seizure's 1 s before, or the end
    spans = [(19.0, 80.0), (99.0, 149.0), (149.0, 200.0)]
    for rec, (start, stop), (onset, offset) in zip(out[1:], spans, [(20, 30), (100, 110), (150, 175)], strict=True):
        data = read_recording(rec.path).data[0]
        assert data[0] == start * rate and data.size == round((stop - start) * rate)
        assert rec.seizures == [(onset - start, offset - start)] and rec.duration_s == stop - start


def test_within_counts_an_alarm_up_to_ten_seconds_after_the_onset():
    per = {"a": [3.0], "b": [10.0], "c": [10.5], "d": [None], "e": [-2.0]}
    assert within({"per_recording": {k: {"latencies_s": v} for k, v in per.items()}}) == 3


def test_a_seizure_split_into_two_events_counts_one_extra_onset():
    seizures = [(1.0, 41.0), (100.0, 120.0)]
    assert extra_onsets(seizures, [8.1]) == 0
    assert extra_onsets(seizures, [8.1, 28.1]) == 1  # the CHB-MIT excerpt with a 10 s history
    assert extra_onsets(seizures, [-20.0, 8.1, 105.0, 110.0, 300.0]) == 2  # 30 s before counts; after does not
    assert extra_onsets([], [5.0]) == 0


def test_alarm_cover_is_the_share_of_seizure_time_alarmed_and_the_first_offset_inside():
    from evaluation.events import DetectedEvent
    from experiments.scaling import alarm_cover

    seizures = [(100.0, 500.0)]
    # "seizure over" 110 s into it, then short events: the status epilepticus split by the unheld scaler
    split = [DetectedEvent(103.0, 210.0, 105.0), DetectedEvent(225.0, 236.0, 227.0), DetectedEvent(480.0, 520.0, 482.0)]
    assert alarm_cover(seizures, split) == {
        "alarm_share": round((107 + 11 + 20) / 400, 3),
        "first_offset_s": 110.0,
        "alarmed": 1,
        "annotated": 1,
    }
    whole = alarm_cover(seizures, [DetectedEvent(90.0, 503.0, 95.0)])
    assert whole == {"alarm_share": 1.0, "first_offset_s": None, "alarmed": 1, "annotated": 1}
    assert alarm_cover([], split) == {"alarm_share": None, "first_offset_s": None, "alarmed": 0, "annotated": 0}
    # a cluster: the second seizure has no event over it
    assert alarm_cover([(10.0, 20.0), (40.0, 50.0)], [DetectedEvent(12.0, 25.0, 13.0)])["alarmed"] == 1


def test_a_persons_files_as_one_session_take_the_levels_of_the_file_before(toy_export, tmp_path: Path):
    """alarms_in_sessions: two eegmmidb-like files of one person, both headers giving the same start (as the corpus'
    do): the experiment makes the second follow the first, and with the carry its start is scaled and quiet."""
    import edfio

    from experiments.scaling import alarms_in_sessions

    rate, rng = 250.0, np.random.default_rng(0)
    for run in ("R01", "R02"):
        signals = [
            edfio.EdfSignal(
                rng.normal(size=int(40 * rate)) * 50.0,  # x2 below: 100 µV, which the toy alarms on unscaled
                sampling_frequency=rate,
                label=f"{name}.",
                physical_dimension="uV",
                physical_range=(-3000.0, 3000.0),
            )
            for name in ("C3", "C4", "Cz")
        ]
        path = tmp_path / "eegmmidb" / "S001" / f"S001{run}.edf"
        path.parent.mkdir(parents=True, exist_ok=True)
        edfio.Edf(signals).write(path)
    det = load_detector(toy_export, backend="litert")
    cfg = Config(
        signal=SignalConfig(montage="as_recorded", background_limit_uv=10.0, background_min_s=20.0),
        decision=DecisionConfig(aggregation="k_of_n", k_channels=2, on_threshold=0.8, off_threshold=0.5),
    )
    out = alarms_in_sessions(tmp_path, cfg, det, gain=2.0, pause_s=5.0)
    assert out["none"]["first_files"] == 1 and out["none"]["later_files"] == 1 and out["none"]["continued"] == 0
    carry = dict(out["carry"])
    (onset_s,) = carry.pop("onset_times_s")  # session time: in the first file, before its scaler had a level
    assert 0 < onset_s < 24
    assert carry == {
        "alarms": 1,
        "first_files": 1,
        "later_files": 0,
        "continued": 1,
        "per_person": {"S001": 1},
    }


def test_the_rise_probe_is_the_non_seizure_excerpt_looped_with_a_rising_gain(tmp_path: Path):
    from experiments.scaling import RISE_S, rise_probe

    (rec,) = rise_probe(tmp_path, 4.0, minutes=13.0)
    assert rec.seizures == [] and rec.duration_s >= 13 * 60
    data = read_recording(rec.path)
    first = data.data[:, : int(60 * data.sfreq)].std()
    last = data.data[:, -int(60 * data.sfreq) :].std()
    assert RISE_S[1] < rec.duration_s and last / first == pytest.approx(4.0, rel=0.35)  # the same EEG, 4x larger


def slow_corpus(root: Path) -> Path:
    """``root/eegmmidb/S00k/S00kR01.edf`` for two persons: 60 s of three channels, a 2 Hz rhythm of 7 µV rms and
    5 µV of noise (the ``background`` folder's layout)."""
    import edfio

    rate, rng = 160.0, np.random.default_rng(3)
    t = np.arange(int(60 * rate)) / rate
    for person in ("S001", "S002"):
        signals = [
            edfio.EdfSignal(
                10 * np.sin(2 * np.pi * 2 * t + k) + rng.normal(size=t.size) * 5.0,
                sampling_frequency=rate,
                label=f"{name}.",
                physical_dimension="uV",
                physical_range=(-3000.0, 3000.0),
            )
            for k, name in enumerate(("C3", "C4", "Cz"))
        ]
        path = root / "eegmmidb" / person / f"{person}R01.edf"
        path.parent.mkdir(parents=True, exist_ok=True)
        edfio.Edf(signals).write(path)
    return root


def test_the_delta_limit_is_the_highest_persons_delta_level_on_the_slow_background(tmp_path: Path, capsys):
    """--delta-levels: each person's 1.5-4 Hz level (median of the channels' lower quartiles of window std) as the
    files come (0) and with their delta made dominant; the limit is the highest rounded down to 5 µV."""
    import json

    from experiments.scaling import main, person_levels
    from realtime.scaling import DELTA_HZ

    corpus = slow_corpus(tmp_path / "background")
    as_recorded = person_levels(corpus, DELTA_HZ)
    assert set(as_recorded) == {"eegmmidb/S001", "eegmmidb/S002"}
    assert all(6.0 < v < 8.0 for v in as_recorded.values())  # the 2 Hz rhythm's 7.1 µV rms, a little noise
    slow = person_levels(corpus, DELTA_HZ, slow_uv=100.0)
    assert all(80.0 < v < 100.0 for v in slow.values())  # nearly all of the 100 µV is delta now
    out = tmp_path / "levels.json"
    assert main(["--data-root", str(tmp_path), "--delta-levels", "0", "100", "--json", str(out)]) == 0
    got = json.loads(out.read_text())["delta_levels_uv"]
    assert got["0"]["highest"] == pytest.approx(max(as_recorded.values()), abs=0.05)
    assert got["100"]["limit_uv"] == 5.0 * (max(slow.values()) // 5.0)
    capsys.readouterr()


def test_the_slow_background_is_scored_by_the_detector_that_held_each_person_out(toy_export, tmp_path: Path):
    """alarms_on_slow_background: eegmmidb-like files with a delta rhythm made dominant to the target (the toy, an
    amplitude detector, alarms on it with scaling off); a person -> detector mapping scores only the persons a fold
    held out (--cv-run), one detector scores them all."""
    from experiments.scaling import alarms_on_slow_background

    slow_corpus(tmp_path)
    det = load_detector(toy_export, backend="litert")
    off = Config(
        signal=SignalConfig(montage="as_recorded", background_limit_uv=0.0),
        decision=DecisionConfig(aggregation="k_of_n", k_channels=2, on_threshold=0.8, off_threshold=0.5),
    )
    everyone = alarms_on_slow_background(tmp_path, lambda d: {"off": off}, det, 100.0)
    assert everyone["persons"] == ["S001", "S002"] and everyone["hours"] == pytest.approx(2 / 60, rel=0.01)
    assert everyone["off"]["alarms"] >= 2 and set(everyone["off"]["per_person"]) == {"S001", "S002"}
    assert everyone["factors"]["min"] > 5  # 7 µV rms of delta made 100 µV
    held_out = alarms_on_slow_background(tmp_path, lambda d: {"off": off}, {"S002": det}, 100.0)
    assert held_out["persons"] == ["S002"] and set(held_out["off"]["per_person"]) == {"S002"}
    with pytest.raises(ValueError, match="no eegmmidb file of the persons scored"):
        alarms_on_slow_background(tmp_path, lambda d: {"off": off}, {"S009": det}, 100.0)


def test_cv_run_is_refused_without_its_exports_or_the_slow_background(capsys):
    from experiments.scaling import main

    for argv in (["--cv-run", "runs/cv"], ["--cv-run", "runs/cv", "--cv-exports", "artifacts/cv"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert "--cv-run and --cv-exports go together, with --slow-background" in capsys.readouterr().err
