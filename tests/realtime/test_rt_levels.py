"""realtime.levels: the background scaler's levels kept in a file across a restart of the daemon."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from realtime.levels import FORMAT, LevelStore, levels_path

DEVICE = ("EEG-bed-3", "EEG", "amp-0042")
CHANNELS = ["C3", "C4", "Cz"]
T0 = 1_780_000_000.0  # unix seconds


def saved(tmp_path, levels=(120.0, 80.5, math.nan), keep_s: float = 300.0) -> LevelStore:
    store = LevelStore(tmp_path / "alerts.levels.json", keep_s)
    store.record(DEVICE, 256.0, CHANNELS, np.array(levels), T0)
    store.save(T0)
    return store


def test_levels_written_before_a_restart_are_taken_once_by_the_same_device_and_channels(tmp_path):
    saved(tmp_path)
    doc = json.loads((tmp_path / "alerts.levels.json").read_text())
    assert doc["format"] == FORMAT and doc["beds"][0]["levels_uv"] == [120.0, 80.5, None]  # NaN: null
    assert not list(tmp_path.glob("*.tmp"))  # written to a temporary file and renamed
    store = LevelStore(tmp_path / "alerts.levels.json", 300.0)  # the daemon after its restart
    assert store.load() is None
    levels, age_s = store.take(DEVICE, 256.0, CHANNELS, T0 + 42.0)
    np.testing.assert_array_equal(levels, [120.0, 80.5, np.nan])
    assert age_s == 42.0
    assert store.take(DEVICE, 256.0, CHANNELS, T0 + 43.0) is None  # taken once


@pytest.mark.parametrize(
    ("device", "sfreq", "channels", "wall_time", "refused"),
    [
        (("EEG-bed-3", "EEG", "amp-0043"), 256.0, CHANNELS, T0 + 1, ""),  # another device: none kept for it
        (DEVICE, 512.0, CHANNELS, T0 + 1, "they were measured at 256 Hz, the stream is at 512 Hz"),
        (
            DEVICE,
            256.0,
            ["C3-AVG", "C4-AVG", "Cz-AVG", "Pz-AVG"],
            T0 + 1,
            "they were measured on other channels (3 channels: C3, C4, Cz; now 4 channels: C3-AVG, C4-AVG, Cz-AVG, "
            "...): another montage or channel selection",
        ),
        (DEVICE, 256.0, CHANNELS, T0 + 301, "they are 301 s old, more than the 300 s they are kept"),
        (DEVICE, 256.0, CHANNELS, T0 - 1, "they are dated 1 s in the future: the clock was set back"),
    ],
)
def test_levels_are_not_taken_by_another_device_layout_or_time_and_say_why(
    tmp_path, device, sfreq, channels, wall_time, refused
):
    saved(tmp_path)
    store = LevelStore(tmp_path / "alerts.levels.json", 300.0)
    assert store.load() is None
    assert store.take(device, sfreq, channels, wall_time) is None
    assert store.refused == refused
    again = store.take(DEVICE, 256.0, CHANNELS, T0 + 1)
    assert (again is None and store.refused == "") if device == DEVICE else again is not None  # refused: gone


def test_a_bed_without_levels_keeps_its_older_entry_and_old_entries_are_dropped(tmp_path):
    store = saved(tmp_path)
    store.record(DEVICE, 256.0, CHANNELS, np.full(3, np.nan), T0 + 10)  # lost, or no history yet
    store.record(("other", "EEG", "amp-1"), 256.0, ["Cz"], np.array([60.0]), T0 + 200)
    store.save(T0 + 200)
    assert [b["wall_time"] for b in json.loads(store.path.read_text())["beds"]] == [T0, T0 + 200]
    store.save(T0 + 301)  # the first is older than keep_s now
    assert [b["name"] for b in json.loads(store.path.read_text())["beds"]] == ["other"]
    store.path.unlink()
    store.save(T0 + 302)  # nothing changed since the last write: not written again
    assert not store.path.exists()


def test_no_file_is_no_warning_and_a_bad_file_is_a_warning_not_an_error(tmp_path):
    path = tmp_path / "alerts.levels.json"
    store = LevelStore(path, 300.0)
    assert store.load() is None  # a first start
    path.write_text("{not json")
    assert store.load().startswith(f"cannot read the background levels {str(path)!r}: Expecting property name")
    path.write_text(json.dumps({"format": "something/else", "beds": []}))
    assert store.load() == f"{str(path)!r} is not a {FORMAT} file"
    entry = {"name": "a", "type": "EEG", "source_id": "", "sfreq": 256, "channels": ["Cz"], "wall_time": T0}
    path.write_text(json.dumps({"format": FORMAT, "beds": [entry]}))
    assert "a bed's entry cannot be read (KeyError: 'levels_uv')" in store.load()
    path.write_text(json.dumps({"format": FORMAT, "beds": [{**entry, "levels_uv": [1.0, 2.0]}]}))
    assert "(ValueError: 2 levels for 1 channels)" in store.load()
    assert store.take(("a", "EEG", ""), 256.0, ["Cz"], T0) is None  # nothing kept from a bad file
    # JSON's NaN as a time would pass every age check (a comparison with NaN is false): levels of unknown age
    path.write_text(json.dumps({"format": FORMAT, "beds": [{**entry, "levels_uv": [80.0], "wall_time": math.nan}]}))
    assert "must be finite" in store.load() and store.take(("a", "EEG", ""), 256.0, ["Cz"], T0) is None


def test_errors_quote_the_values(tmp_path):
    with pytest.raises(ValueError, match="keep_s must be a finite number >= 0, got -1"):
        LevelStore(tmp_path / "x.json", -1)
    with pytest.raises(ValueError, match="got 2 levels for 3 channels"):
        LevelStore(tmp_path / "x.json", 1.0).record(DEVICE, 256.0, CHANNELS, np.ones(2), T0)
    assert levels_path("/var/lib/realtime-detect/alerts.jsonl").name == "alerts.levels.json"


def test_a_patients_levels_are_kept_a_day_for_that_patient_and_never_for_another(tmp_path):
    """A bed whose patient is given: its levels are taken up to a day old by a bed of the same patient, never by a
    bed that names another patient or none, however recent; the file keeps the patient's digest, not the patient."""
    from realtime.levels import SAME_PATIENT_S, patient_digest

    store = LevelStore(tmp_path / "alerts.levels.json", 300.0)
    store.record(DEVICE, 256.0, CHANNELS, np.array([120.0, 80.5, 60.0]), T0, patient="MRN-0001")
    store.save(T0 + SAME_PATIENT_S - 1)  # kept beyond keep_s
    text = store.path.read_text()
    assert "MRN-0001" not in text
    assert json.loads(text)["beds"][0]["patient_sha256"] == patient_digest("MRN-0001") != patient_digest("MRN-0002")

    def after_restart() -> LevelStore:
        s = LevelStore(store.path, 300.0)
        assert s.load() is None
        return s

    def refused(**kwargs) -> str:
        s = after_restart()
        assert s.take(DEVICE, 256.0, CHANNELS, **kwargs) is None
        return s.refused

    assert refused(wall_time=T0 + 1.0, patient="MRN-0002") == "they were recorded for another patient"
    assert refused(wall_time=T0 + 1.0) == "they were recorded for a patient; the bed names none"
    assert refused(wall_time=T0 + SAME_PATIENT_S + 1, patient="MRN-0001") == (
        f"they are {SAME_PATIENT_S + 1:.0f} s old, more than the {SAME_PATIENT_S:.0f} s they are kept"
    )
    levels, age_s = after_restart().take(DEVICE, 256.0, CHANNELS, T0 + SAME_PATIENT_S - 1, patient="MRN-0001")
    np.testing.assert_array_equal(levels, [120.0, 80.5, 60.0])
    assert age_s == SAME_PATIENT_S - 1
    store.save(T0 + SAME_PATIENT_S + 1)  # a day old: dropped
    assert json.loads(store.path.read_text())["beds"] == []


def test_levels_of_no_patient_keep_the_devices_rule_and_forget_drops_an_entry(tmp_path):
    store = saved(tmp_path)  # recorded without a patient (as files written before patients were given)
    doc = json.loads(store.path.read_text())
    del doc["beds"][0]["patient_sha256"]
    store.path.write_text(json.dumps(doc))
    later = LevelStore(store.path, 300.0)
    assert later.load() is None
    assert later.take(DEVICE, 256.0, CHANNELS, T0 + 301, patient="MRN-0001") is None  # keep_s, patient or not
    later = LevelStore(store.path, 300.0)
    later.load()
    assert later.take(DEVICE, 256.0, CHANNELS, T0 + 299, patient="MRN-0001") is not None
    store.forget(DEVICE)  # the bed's patient changed
    store.save(T0 + 1)
    assert json.loads(store.path.read_text())["beds"] == []


def test_forget_matching_drops_every_device_a_beds_criteria_take(tmp_path):
    """A patient given to a bed before its stream first connected: the bed knows only its criteria (a name), so the
    levels of every device they take are dropped (before, nothing was, and the new patient got the old one's)."""
    store = saved(tmp_path)
    store.record(("other", "EEG", "amp-1"), 256.0, CHANNELS, np.ones(3), T0)
    store.forget_matching(lambda name, type_, source_id: name == DEVICE[0])
    store.save(T0 + 1)
    assert [b["name"] for b in json.loads(store.path.read_text())["beds"]] == ["other"]


def test_a_patients_digest_is_none_for_no_patient():
    from realtime.levels import patient_digest

    assert patient_digest("") is None and patient_digest("  ") is None
    assert len(patient_digest("MRN-0001") or "") == 64


def test_a_patients_levels_follow_the_patient_to_another_device_across_a_restart():
    """The amplifier swapped during a restart: a bed naming the patient takes the one entry recorded for them, from
    whichever device; a bed naming no patient or another one does not."""
    import tempfile
    from pathlib import Path

    other = ("EEG-bed-3", "EEG", "amp-0099")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alerts.levels.json"
        store = LevelStore(path, 300.0)
        store.record(DEVICE, 256.0, CHANNELS, np.array([120.0, 80.5, 60.0]), T0, patient="adm-0001")
        store.record(("EEG-bed-4", "EEG", "amp-0050"), 256.0, CHANNELS, np.array([30.0, 30.0, 30.0]), T0)
        store.save(T0)

        def after_restart() -> LevelStore:
            s = LevelStore(path, 300.0)
            assert s.load() is None
            return s

        assert after_restart().take(other, 256.0, CHANNELS, T0 + 10.0) is None
        assert after_restart().take(other, 256.0, CHANNELS, T0 + 10.0, patient="adm-0002") is None
        levels, _ = after_restart().take(other, 256.0, CHANNELS, T0 + 10.0, patient="adm-0001")
        np.testing.assert_array_equal(levels, [120.0, 80.5, 60.0])
        assert after_restart().take(other, 256.0, ["C3", "C4"], T0 + 10.0, patient="adm-0001") is None  # layout
