"""Offline scoring of files that continue one another (docs/background.md "Files that continue one another"): the
background scaler of a file that starts where the previous file of the same folder, patient and channels ended
starts from that file's last levels; any other file starts without them. Real EDF files (edfio), the toy export (an
amplitude detector)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import edfio
import numpy as np
import pytest

from realtime.config import Config, DecisionConfig, ModelConfig, SignalConfig, build_config
from realtime.model import load_detector
from realtime.offline import run_offline
from realtime.recordings import write_npz

RATE = 250.0
NAMES = ["C3", "C4", "Cz", "Pz"]
LARGE = ["EEG C3", "EEG C4", "EEG Cz"]  # a background of 200 µV: above the limit of 15 µV; Pz's 20 µV is under it
START = dt.datetime(2026, 3, 2, 23, 59, 30)  # the second file starts on the next day
SECONDS = 40.0
REPO = Path(__file__).resolve().parents[2]
CHBMIT = REPO / "realtime" / "data" / "chbmit"


@pytest.fixture(scope="module")
def detector(toy_export):
    return load_detector(toy_export, backend="litert")


def config(toy_export) -> Config:
    return Config(
        signal=SignalConfig(
            amplitude_span_s=60.0,  # a file may start at most this long after the previous one's end
            amplitude_min_s=50.0,
            background_min_s=20.0,
            background_limit_uv=15.0,
            montage="as_recorded",
        ),
        decision=DecisionConfig(aggregation="k_of_n", k_channels=2, on_threshold=0.8, off_threshold=0.5),
        model=ModelConfig(path=str(toy_export), backend="litert"),
    )


def eeg(names=NAMES, seed: int = 0) -> np.ndarray:
    """``[len(names), n]``: ``SECONDS`` of a patient's EEG, 200 µV on every channel but Pz's 20 µV (white noise)."""
    rng = np.random.default_rng(seed)
    std_uv = np.array([[20.0 if n == "Pz" else 200.0] for n in names])
    return rng.normal(size=(len(names), int(SECONDS * RATE))) * std_uv


def write_edf(path: Path, start: dt.datetime, *, patient: str = "MCH-0234567", names=NAMES, seed: int = 0) -> Path:
    """:func:`eeg` as an EDF starting at ``start``, the patient field ``patient`` (an EDF+ code, "X": not known; with
    a space, the whole field as written)."""
    signals = [
        edfio.EdfSignal(
            x,
            sampling_frequency=RATE,
            label=f"EEG {name}",
            physical_dimension="uV",
            physical_range=(-3000.0, 3000.0),
        )
        for name, x in zip(names, eeg(names, seed), strict=True)
    ]
    edf = edfio.Edf(
        signals,
        patient=edfio.Patient(code="X" if " " in patient else patient),
        recording=edfio.Recording(startdate=start.date()),
        starttime=start.time(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    edf.write(path)
    if " " in patient:  # not an EDF+ code (CHB-MIT's "Surrogate Name"): the header's field as written
        raw = bytearray(path.read_bytes())
        raw[8:88] = patient.ljust(80).encode("ascii")
        path.write_bytes(bytes(raw))
    return path


def score(paths, cfg, detector) -> list[dict]:
    out = io.StringIO()
    assert run_offline([str(p) for p in paths], cfg, model=detector, windows=True, out=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def of(lines: list[dict], path: Path, kind: str) -> list[dict]:
    return [x for x in lines if x["type"] == kind and x["file"] == str(path)]


def test_a_file_that_continues_the_one_before_it_is_scaled_from_its_first_window(detector, toy_export, tmp_path):
    first = write_edf(tmp_path / "s001_t000.edf", START)
    second = write_edf(tmp_path / "s001_t001.edf", START + dt.timedelta(seconds=SECONDS + 5), seed=1)
    lines = score([first, second], config(toy_export), detector)
    (one,), (two,) = of(lines, first, "channels"), of(lines, second, "channels")
    assert one["continues"] is None and two["continues"] == str(first)
    # the first file waits for its 20 s of history (the toy alarms on the unscaled start); the second is scaled by
    # the first file's levels from its first window, and stays quiet
    windows_one, windows_two = of(lines, first, "window"), of(lines, second, "window")
    assert windows_one[0]["scaled_channels"] == {} and sorted(windows_one[-1]["scaled_channels"]) == LARGE
    assert all(sorted(w["scaled_channels"]) == LARGE for w in windows_two)
    assert of(lines, first, "seizure.onset") and not of(lines, second, "seizure.onset")
    # the same file scored alone, or first: unscaled at its start, and the toy alarms
    alone = score([second], config(toy_export), detector)
    assert of(alone, second, "channels")[0]["continues"] is None
    assert of(alone, second, "window")[0]["scaled_channels"] == {} and of(alone, second, "seizure.onset")


@pytest.mark.parametrize(
    "case",
    ["too long after", "starts before the end", "another patient", "another folder", "other channels", "npz"],
)
def test_a_file_that_does_not_continue_the_one_before_it_starts_without_its_levels(
    detector, toy_export, tmp_path, case
):
    first = write_edf(tmp_path / "a" / "t000.edf", START)
    after = START + dt.timedelta(seconds=SECONDS)  # right at the first file's end
    if case in ("too long after", "starts before the end"):  # a header that names no patient: time alone decides
        first = write_edf(tmp_path / "a" / "t000.edf", START, patient="X")
    second = {
        "too long after": lambda: write_edf(tmp_path / "a" / "t001.edf", after + dt.timedelta(seconds=61), patient="X"),
        "starts before the end": lambda: write_edf(
            tmp_path / "a" / "t001.edf", after - dt.timedelta(seconds=2), patient="X"
        ),
        "another patient": lambda: write_edf(tmp_path / "a" / "t001.edf", after, patient="MCH-0234568"),
        "another folder": lambda: write_edf(tmp_path / "b" / "t001.edf", after),
        "other channels": lambda: write_edf(tmp_path / "a" / "t001.edf", after, names=["C3", "C4", "Cz", "Oz"]),
        "npz": lambda: write_npz(tmp_path / "a" / "t001.npz", eeg(), RATE, NAMES),  # a format without a start time
    }[case]()
    lines = score([first, second], config(toy_export), detector)
    assert of(lines, second, "channels")[0]["continues"] is None
    assert of(lines, second, "channels")[0]["same_patient"] is None
    assert of(lines, second, "window")[0]["scaled_channels"] == {}


@pytest.mark.parametrize("gap_h", [0.5, 23.9, -23.9, -SECONDS / 3600.0])
def test_a_file_that_names_the_same_patient_takes_the_earlier_files_levels(detector, toy_export, tmp_path, gap_h):
    """Beyond the continuation's span, a header that names the same patient (an EDF+ code) gives the next file of the
    same folder and channels the previous file's levels as its prior when it starts within a day of that file's end,
    before or after it (an anonymised header may give every file one start: -SECONDS h)."""
    first = write_edf(tmp_path / "t000.edf", START)
    second = write_edf(tmp_path / "t001.edf", START + dt.timedelta(seconds=SECONDS, hours=gap_h), seed=1)
    lines = score([first, second], config(toy_export), detector)
    (channels,) = of(lines, second, "channels")
    assert channels["continues"] is None and channels["same_patient"] == str(first)
    assert lines[-1]["type"] == "summary" and lines[-1]["files_levels_carried"] == 1
    assert all(sorted(w["scaled_channels"]) == LARGE for w in of(lines, second, "window"))
    assert not of(lines, second, "seizure.onset")


@pytest.mark.parametrize(
    "case", ["a day and more", "no patient named", "a surrogate", "another patient", "another folder", "other channels"]
)
def test_without_the_same_named_patient_a_later_file_starts_without_the_levels(detector, toy_export, tmp_path, case):
    """30 min after the first file's end (beyond the continuation's span), only the same named patient, in the same
    folder and channels, within a day, carries the levels."""
    later = START + dt.timedelta(seconds=SECONDS, minutes=30)
    patient = {"no patient named": "X", "a surrogate": "Surrogate Name"}.get(case, "MCH-0234567")
    first = write_edf(tmp_path / "a" / "t000.edf", START, patient=patient)
    second = {
        "a day and more": lambda: write_edf(tmp_path / "a" / "t001.edf", later + dt.timedelta(hours=24)),
        "no patient named": lambda: write_edf(tmp_path / "a" / "t001.edf", later, patient="X"),
        "a surrogate": lambda: write_edf(tmp_path / "a" / "t001.edf", later, patient="Surrogate Name"),
        "another patient": lambda: write_edf(tmp_path / "a" / "t001.edf", later, patient="MCH-0234568"),
        "another folder": lambda: write_edf(tmp_path / "b" / "t001.edf", later),
        "other channels": lambda: write_edf(tmp_path / "a" / "t001.edf", later, names=["C3", "C4", "Cz", "Oz"]),
    }[case]()
    lines = score([first, second], config(toy_export), detector)
    (channels,) = of(lines, second, "channels")
    assert channels["continues"] is None and channels["same_patient"] is None
    assert of(lines, second, "window")[0]["scaled_channels"] == {}


def test_another_patients_files_between_do_not_break_the_carry(detector, toy_export, tmp_path):
    """A folder sorted by time, two patients' files interleaved: each file takes the levels of its own patient's last
    file (continuing it, or the same named patient 30 min later), never those of the other patient's file between."""
    a0 = write_edf(tmp_path / "1_a.edf", START)
    b0 = write_edf(tmp_path / "2_b.edf", START, patient="MCH-0234568", seed=2)
    a1 = write_edf(tmp_path / "3_a.edf", START + dt.timedelta(seconds=SECONDS + 5), seed=1)
    b1 = write_edf(tmp_path / "4_b.edf", START + dt.timedelta(seconds=SECONDS, minutes=30), patient="MCH-0234568")
    lines = score([a0, b0, a1, b1], config(toy_export), detector)
    carried = {Path(c["file"]).name: (c["continues"], c["same_patient"]) for c in lines if c["type"] == "channels"}
    assert carried == {
        "1_a.edf": (None, None),
        "2_b.edf": (None, None),
        "3_a.edf": (str(a0), None),
        "4_b.edf": (None, str(b0)),
    }
    assert all(sorted(w["scaled_channels"]) == LARGE for w in of(lines, a1, "window") + of(lines, b1, "window"))
    assert lines[-1]["files_levels_carried"] == 2


@pytest.mark.parametrize(("carry", "expected"), [("patient", (1, 1)), ("continuing", (1, 0)), ("none", (0, 0))])
def test_carry_chooses_which_files_take_an_earlier_files_levels(detector, toy_export, tmp_path, carry, expected):
    """``--carry``: a file that continues the one before it (5 s after) and one of the same named patient (30 min
    after): both take the levels ("patient", the default), only the continuing one ("continuing"), neither ("none")."""
    first = write_edf(tmp_path / "t000.edf", START)
    second = write_edf(tmp_path / "t001.edf", START + dt.timedelta(seconds=SECONDS + 5), seed=1)
    third = write_edf(tmp_path / "t002.edf", START + dt.timedelta(seconds=2 * SECONDS + 5, minutes=30), seed=2)
    out = io.StringIO()
    files = [str(p) for p in (first, second, third)]
    assert run_offline(files, config(toy_export), model=detector, windows=True, out=out, carry=carry) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    took = tuple(int(bool(of(lines, p, "window")[0]["scaled_channels"])) for p in (second, third))
    assert took == expected
    assert lines[-1]["files_levels_carried"] == sum(expected)


def test_carry_is_for_file_scoring_and_takes_only_its_choices(toy_export, tmp_path):
    from realtime.cli import detect_main

    with pytest.raises(SystemExit) as exc:
        detect_main(["--carry", "none"])  # no --file
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        detect_main(["--file", str(tmp_path), "--carry", "all"])
    assert exc.value.code == 2
    with pytest.raises(ValueError, match=r"carry must be one of .* got 'all'"):
        run_offline([str(tmp_path)], config(toy_export), model=object(), out=io.StringIO(), carry="all")


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("MCH-0234567 F 02-MAY-1951 Haagse_Harry", True),
        ("MCH-0234567 X X X", True),
        ("X M X Haagse_Harry", True),
        ("aaaaamye F 01-JAN-1951 aaaaamye Age:63", True),  # TUH's code, sex, birth date, code and age
        ("S001", True),
        ("X X X X", False),  # EDF+ with nothing known
        ("X F 01-JAN-1951 X Age:63", False),  # a sex and a birth date name no one
        ("Surrogate Name", False),  # CHB-MIT's
        ("anonymous", False),
        ("", False),
        ("---", False),
        ("00000000", False),  # a blank code
        ("XXXXXXXX X X X", False),
        ("0012345 M X X", True),
    ],
)
def test_which_patient_fields_name_a_patient(field, names):
    from realtime.offline import names_patient

    assert names_patient(field) is names


@pytest.mark.parametrize("gap_s", [-1.0, 0.0, 60.0])
def test_the_start_may_be_a_second_early_and_up_to_the_span_late(detector, toy_export, tmp_path, gap_s):
    """An EDF header's start has whole seconds, so a file that starts up to 1 s before the previous one's end (as
    written) continues it; so does one that starts amplitude_span_s (60 s here) after it."""
    first = write_edf(tmp_path / "t000.edf", START)
    second = write_edf(tmp_path / "t001.edf", START + dt.timedelta(seconds=SECONDS + gap_s))
    lines = score([first, second], config(toy_export), detector)
    assert of(lines, second, "channels")[0]["continues"] == str(first)
    assert sorted(of(lines, second, "window")[0]["scaled_channels"]) == LARGE


def test_the_shipped_excerpts_do_not_continue_one_another(detector, toy_export):
    """The CHB-MIT excerpts (the same patient field and channels) start 49 min apart: in either order, neither is
    continued with the shipped settings (amplitude_span_s 5 min), and their patient field (CHB-MIT's surrogate,
    ``Surrogate Name``) names no patient, so neither takes the other's levels as the same patient's either."""
    files = [CHBMIT / "chb01_03_NonSeizure.edf", CHBMIT / "chb01_03_Seizure.edf"]
    cfg = build_config({"model": {"path": str(toy_export), "backend": "litert"}})
    for order in (files, files[::-1]):
        out = io.StringIO()
        run_offline([str(p) for p in order], cfg, model=detector, out=out)
        channels = [json.loads(s) for s in out.getvalue().splitlines() if '"type":"channels"' in s]
        assert [c["continues"] for c in channels] == [None, None]
        assert [c["same_patient"] for c in channels] == [None, None]


def test_the_header_gives_the_start_and_the_patient_and_an_unreadable_start_is_a_warning(tmp_path):
    from realtime.recordings import open_recording

    path = write_edf(tmp_path / "t000.edf", START)
    rec = open_recording(path)
    assert rec.start == START and rec.patient == "MCH-0234567 X X X"
    raw = bytearray(path.read_bytes())
    raw[168:176] = b"31.02.26"  # the start date field: no 31 February
    path.write_bytes(bytes(raw))
    rec = open_recording(path)  # still read and scored; it just cannot continue another file
    assert rec.start is None
    assert rec.warnings == ["the header's start date and time cannot be read: '31.02.2623.59.30'"]


def test_without_an_edf_plus_start_date_the_edf_header_fields_give_the_start(tmp_path):
    """EDF+ may say "Startdate X" (unknown): the EDF header's own date and time fields are read then, with the
    standard's two-digit years (85-99: 19yy, 00-84: 20yy)."""
    from realtime.recordings import _legacy_start, open_recording

    path = tmp_path / "x.edf"
    edfio.Edf([edfio.EdfSignal(eeg(["Cz"])[0], sampling_frequency=RATE, label="EEG Cz")]).write(path)
    raw = bytearray(path.read_bytes())
    raw[168:184] = b"06.11.7614.32.59"
    path.write_bytes(bytes(raw))
    assert open_recording(path).start == dt.datetime(2076, 11, 6, 14, 32, 59)
    assert _legacy_start("01.01.8500.00.00") == dt.datetime(1985, 1, 1)
    assert _legacy_start("31.12.8423.59.59") == dt.datetime(2084, 12, 31, 23, 59, 59)
    assert _legacy_start("yy.mm.ddhh.mm.ss") is None


def test_start_dates_that_disagree_are_a_warning_of_the_recording_not_a_python_warning(tmp_path, recwarn):
    from realtime.recordings import open_recording

    path = write_edf(tmp_path / "t000.edf", START)
    raw = bytearray(path.read_bytes())
    raw[168:176] = b"03.03.26"  # the EDF date field a day after the EDF+ recording field's 02-MAR-2026
    path.write_bytes(bytes(raw))
    rec = open_recording(path)
    assert rec.start is not None and rec.start.time() == START.time()
    assert [w for w in rec.warnings if "Different values in startdate fields" in w]
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_the_evaluation_scores_continued_files_as_the_command_does(detector, toy_export, tmp_path):
    """evaluation.runs.pipeline_window_scores, given the recording before, scores a file that continues it as
    ``realtime-detect --file`` scores the two files in that order (train-detector evaluate passes it so)."""
    from evaluation.runs import pipeline_window_scores

    first = write_edf(tmp_path / "t000.edf", START)
    second = write_edf(tmp_path / "t001.edf", START + dt.timedelta(seconds=SECONDS), seed=1)
    cfg = config(toy_export)
    lines = score([first, second], cfg, detector)
    before = pipeline_window_scores(first, cfg, detector, SECONDS)
    after = pipeline_window_scores(second, cfg, detector, SECONDS, before.end)
    alone = pipeline_window_scores(second, cfg, detector, SECONDS)
    expected = [[w["channel_probabilities"][n] for n in [*LARGE, "EEG Pz"]] for w in of(lines, second, "window")]
    np.testing.assert_allclose(after.channel_probs, expected, rtol=1e-6)
    assert not np.allclose(alone.channel_probs, expected, rtol=1e-6)  # without it: the unscaled start
    assert not after.events and alone.events
    # and the evaluation's loop over its test recordings passes each the one before
    from evaluation.evaluate import score_test_recordings
    from evaluation.recordings import EvalRecording

    recs = [EvalRecording(p.stem, p, [], "", duration_s=SECONDS, n_channels=4) for p in (first, second)]
    results, _ = score_test_recordings(recs, cfg, {"network": detector}, None, {}, tmp_path, tmp_path)
    np.testing.assert_allclose(results["t001"]["network"].channel_probs, expected, rtol=1e-6)
