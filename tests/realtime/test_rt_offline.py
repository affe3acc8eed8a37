"""run_offline on the shipped CHB-MIT excerpts (and a broken file) with the toy export."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from realtime.config import build_config
from realtime.messages import decode
from realtime.model import load_detector
from realtime.offline import run_offline
from realtime.rates import poisson_interval
from realtime.recordings import write_npz

REPO = Path(__file__).resolve().parents[2]
SEIZURE = REPO / "realtime" / "data" / "chbmit" / "chb01_03_Seizure.edf"
NONSEIZURE = REPO / "realtime" / "data" / "chbmit" / "chb01_03_NonSeizure.edf"


@pytest.fixture(scope="module")
def detector(toy_export):
    return load_detector(toy_export, backend="litert")


def lines_of(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_chbmit_excerpts_json_lines(detector, tmp_path):
    missing = tmp_path / "missing.edf"
    buf = io.StringIO()
    # The shipped decision defaults are tuned for the shipped model; the toy amplitude model needs
    # stricter ones to stay quiet on the non-seizure excerpt.
    strict = {"decision": {"on_threshold": 0.8, "smoothing_windows": 3, "min_duration_s": 2.0}}
    rc = run_offline([SEIZURE, missing, NONSEIZURE], build_config(strict), model=detector, windows=True, out=buf)
    assert rc == 1  # one file failed, the others were still scored
    *lines, summary = lines_of(buf)
    assert {line["file"] for line in lines} == {str(SEIZURE), str(missing), str(NONSEIZURE)}
    # last, over the files scored: the onsets per hour of signal, with their exact Poisson interval
    hours = 2 * 41 / 3600  # two 41-s excerpts; the missing file is counted as failed, not as signal
    assert summary == {
        "type": "summary",
        "file": None,
        "files": 2,
        "failed": 1,
        "files_unscored": 0,
        "signal_s": 82.0,
        "onsets": 1,
        "onsets_per_hour": pytest.approx(1 / hours),
        "onsets_per_hour_ci95": pytest.approx(list(poisson_interval(1, hours))),
        # the seizure excerpt starts in its seizure: the onset comes before any channel's background is known
        "onsets_background_unknown": 1,
        "files_levels_carried": 0,  # CHB-MIT's surrogate patient field names no one; the files are 49 min apart
    }
    errors = [line for line in lines if line["type"] == "error"]
    assert len(errors) == 1 and "does not exist" in errors[0]["error"]
    # per file read, its channels first: all 23 bipolar channels, the repeated T8-P8 keyed #2
    channels = [line for line in lines if line["type"] == "channels"]
    assert [c["file"] for c in channels] == [str(SEIZURE), str(NONSEIZURE)]
    assert all(len(c["scored"]) == 23 and c["scored"][-1] == "T8-P8#2" and c["left_out"] == {} for c in channels)
    assert all(next(x for x in lines if x["file"] == str(n))["type"] == "channels" for n in (SEIZURE, NONSEIZURE))
    for name in (SEIZURE, NONSEIZURE):
        wins = [line for line in lines if line["type"] == "window" and line["file"] == str(name)]
        # 41 s at 256 Hz, a 4.12 s window (with the short filter's margin), a 1 s hop
        assert len(wins) == 37
        assert [w["time"] for w in wins] == pytest.approx(4.104 + np.arange(37))
        assert all(w["time"] == w["window_end"] and 0 <= w["probability"] <= 1 for w in wins)
        assert len(wins[0]["channel_probabilities"]) == 23 and "T8-P8#2" in wins[0]["channel_probabilities"]
    events = [line for line in lines if line["type"].startswith("seizure.")]
    # the toy amplitude model alarms on the high-amplitude ictal excerpt only
    assert [(e["type"], e["file"]) for e in events] == [
        ("seizure.onset", str(SEIZURE)),
        ("seizure.offset", str(SEIZURE)),
    ]
    onset, offset = events
    assert 0 < onset["time"] < 41 and onset["stream"]["name"] == "chb01_03_Seizure.edf"
    assert onset["model_version"] == "toy-amplitude-1" and len(onset["channels"]) >= 2
    assert offset["event_id"] == onset["event_id"] and offset["seq"] > onset["seq"]
    assert onset["background_unknown"] and set(onset["background_unknown"]) <= set(onset["channels"])
    for e in events:  # valid messages of the daemon's schema, plus "file"
        frames = [e["type"].encode(), json.dumps(e).encode()]
        assert decode(frames)["file"] == str(SEIZURE)


def test_events_only_and_channel_selection(detector, tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(40 * 200) / 200
    amp = np.where((t > 15) & (t < 30), 300.0, 15.0)
    data = rng.normal(size=(4, t.size)) * amp
    rec = write_npz(tmp_path / "synthetic.npz", data, 200.0, ["A", "B", "C", "D"])
    cfg = build_config(
        {
            "stream": {"channels": ["B", "D"]},
            "decision": {"k_channels": 2, "merge_gap_s": 2.0},
            "signal": {"montage": "as_recorded"},
        }
    )
    buf = io.StringIO()
    assert run_offline([rec], cfg, model=detector, out=buf) == 0
    channels, *lines, summary = lines_of(buf)
    assert summary["type"] == "summary" and (summary["files"], summary["failed"], summary["onsets"]) == (1, 0, 1)
    assert channels == {
        "type": "channels",
        "file": str(rec),
        "scored": ["B", "D"],
        "left_out": {"A": "not in stream.channels", "C": "not in stream.channels"},
        "montage": "as recorded",
        "gaps": [],
        "continues": None,
        "same_patient": None,
    }
    assert [line["type"] for line in lines] == ["seizure.onset", "seizure.offset"]
    assert sorted(lines[0]["channels"]) == ["B", "D"]
    assert 15 < lines[0]["time"] < 20 and 30 < lines[1]["time"] < 36
    bad = build_config({"stream": {"channels": ["Z"]}})
    buf = io.StringIO()
    assert run_offline([rec], bad, model=detector, out=buf) == 1
    assert "channel(s) ['Z'] not in the stream; it has ['A', 'B', 'C', 'D']" in lines_of(buf)[0]["error"]


def test_a_folder_stands_for_the_recordings_under_it(detector, tmp_path):
    """``--file DIR``: every EDF/BDF/NPZ under it (subfolders too, sorted, any case of the extension), other files
    ignored; a folder without any is an error line, the rest still scored, and the summary counts them all."""
    import shutil

    ward = tmp_path / "ward"
    (ward / "bed2").mkdir(parents=True)
    shutil.copy(NONSEIZURE, ward / "a_quiet.EDF")
    shutil.copy(SEIZURE, ward / "bed2" / "b_seizure.edf")
    (ward / "notes.txt").write_text("not a recording")
    (tmp_path / "empty").mkdir()
    strict = build_config({"decision": {"on_threshold": 0.8, "smoothing_windows": 3, "min_duration_s": 2.0}})
    buf = io.StringIO()
    assert run_offline([ward, tmp_path / "empty"], strict, model=detector, out=buf) == 1
    *lines, summary = lines_of(buf)
    assert [ln["file"] for ln in lines if ln["type"] == "channels"] == [
        str(ward / "a_quiet.EDF"),
        str(ward / "bed2" / "b_seizure.edf"),
    ]
    (error,) = [ln for ln in lines if ln["type"] == "error"]
    assert error["file"] == str(tmp_path / "empty") and error["error"].startswith("no recording (.edf, .bdf, .npz)")
    assert (summary["files"], summary["failed"], summary["onsets"], summary["signal_s"]) == (2, 1, 1, 82.0)


def test_signal_that_no_window_covers_is_no_time_of_the_summarys_rate(detector, tmp_path):
    """A clip shorter than one window is read and not scored: counted as a file with nothing scored, and its seconds
    are not hours of quiet EEG under the onsets per hour (a folder of such clips read as 0 per hour before)."""
    import shutil

    rng = np.random.default_rng(0)
    for i in range(3):  # 4 s at 256 Hz: under one window (4.096 s) plus the resampling filter's margin
        write_npz(tmp_path / f"clip{i}.npz", rng.normal(0, 20, (4, 1024)), 256.0, ["Fp1", "Fp2", "C3", "C4"])
    shutil.copy(NONSEIZURE, tmp_path / "quiet.edf")
    buf = io.StringIO()
    assert run_offline([tmp_path], build_config({}), model=detector, out=buf) == 0
    summary = lines_of(buf)[-1]
    assert (summary["files"], summary["files_unscored"], summary["signal_s"]) == (4, 3, 41.0)
    assert summary["onsets_per_hour_ci95"] == pytest.approx(list(poisson_interval(summary["onsets"], 41 / 3600)))


def test_unloadable_model_is_one_error_line(tmp_path):
    cfg = build_config({"model": {"path": str(tmp_path / "no-such-export")}})
    buf = io.StringIO()
    assert run_offline([SEIZURE], cfg, out=buf) == 1
    (line,) = lines_of(buf)
    assert line["type"] == "error" and line["file"] is None and "is not a directory" in line["error"]


def test_a_long_file_logs_its_progress(detector, monkeypatch, caplog):
    import logging

    from realtime import offline

    monkeypatch.setattr(offline, "PROGRESS_EVERY_S", 0.0)  # every window: a file of hours logs every 30 s
    with caplog.at_level(logging.INFO, logger="realtime.offline"):
        assert run_offline([SEIZURE], build_config({}), model=detector, out=io.StringIO()) == 0
    progress = [r.getMessage() for r in caplog.records if "s of signal scored" in r.getMessage()]
    assert len(progress) == 37  # one per window
    assert progress[0].startswith(f"{SEIZURE}: 4 of 41 s of signal scored (") and "x real time)" in progress[0]
    assert progress[-1].startswith(f"{SEIZURE}: 40 of 41 s of signal scored")


def test_an_annotation_file_it_cannot_read_does_not_keep_a_recording_from_being_scored(detector, tmp_path):
    """Scoring uses no annotations: a ``<stem>.csv`` beside the recording that is no annotation format this
    project reads (here MNE's export, with ISO times) is not read when scoring, as it is (an error) where
    the seizures are needed: evaluation and training."""
    import edfio

    from realtime.recordings import RecordingError, read_recording

    edf = tmp_path / "night.edf"
    x = np.random.default_rng(0).normal(0, 20, (4, 20 * 256))
    edfio.Edf(
        [edfio.EdfSignal(r, 256, label=n, physical_dimension="uV") for r, n in zip(x, "ABCD", strict=True)]
    ).write(edf)
    (tmp_path / "night.csv").write_text("onset,duration,description\n2026-12-02 01:00:00.000,2.0,arousal\n")
    buf = io.StringIO()
    assert run_offline([edf], build_config({"signal": {"montage": "as_recorded"}}), model=detector, out=buf) == 0
    assert lines_of(buf)[0]["type"] == "channels"
    with pytest.raises(RecordingError, match="eventType, trial_type or value column"):
        read_recording(edf)


def test_the_short_resampling_filter_ends_each_window_nearer_its_newest_sample(toy_export, tmp_path, capsys, caplog):
    """``realtime-detect --file`` (the default filter, short) against ``--resample-filter training``: at 256 Hz each
    window ends 3 model periods (12 ms) before the newest sample it needs instead of 10 (40 ms). Its filter needs
    28 ms less signal on each side, so every window comes due 56 ms of signal sooner and ends 28 ms earlier in the
    recording: 28 ms nearer the newest sample when it is scored. The same seizure is alarmed; the log says which
    filter is in force; another value is refused by the command line (exit 2), and in a config file it is a config
    error (exit 78) quoting it."""
    from realtime.cli import detect_main

    rng = np.random.default_rng(1)
    t = np.arange(40 * 256) / 256
    data = rng.normal(size=(3, t.size)) * np.where((t > 15) & (t < 30), 300.0, 15.0)
    rec = write_npz(tmp_path / "r256.npz", data, 256.0, ["A", "B", "C"])
    argv = ["--file", str(rec), "--json", "--windows", "--model", str(toy_export), "--backend", "litert"]

    def run(*extra):
        caplog.clear()
        assert detect_main([*argv, *extra]) == 0
        lines = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
        ends = [x["window_end"] for x in lines if x["type"] == "window"]
        onsets = [x["time"] for x in lines if x["type"] == "seizure.onset"]
        return ends, onsets, caplog.text

    ends3, onsets3, err3 = run()
    ends10, onsets10, err10 = run("--resample-filter", "training")
    assert "resampling filter: training, 10 periods, the window ends 40 ms before the newest sample)" in err10
    assert "resampling filter: short, 3 periods, the window ends 12 ms before the newest sample)" in err3
    assert len(ends3) == len(ends10) > 30
    np.testing.assert_allclose(np.subtract(ends3, ends10), -7 / 250, atol=1 / 256)
    assert len(onsets3) == len(onsets10) == 1 and 15 < onsets3[0] < 20
    with pytest.raises(SystemExit) as info:
        detect_main([*argv, "--resample-filter", "3"])
    assert info.value.code == 2 and "invalid choice: '3'" in capsys.readouterr().err
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[signal]\nresample_filter = "fast"\n')
    assert detect_main([*argv, "--config", str(cfg)]) == 78
    assert "signal.resample_filter: expected one of 'training', 'short', got 'fast'" in capsys.readouterr().err


def write_hypnogram(path: Path) -> Path:
    """An EDF+ of annotations only, laid out as Sleep-EDF ships its hypnograms beside each recording: one 'EDF
    Annotations' signal, 2 data records of 1 s, each a time-keeping annotation and a sleep stage."""

    def field(value, width: int) -> bytes:
        return str(value).ljust(width).encode("ascii")

    per_record = 60
    head = (
        field(0, 8)
        + field("X F X Female_33yr", 80)
        + field("Startdate 31-MAR-1989 X X X", 80)
        + b"31.03.8906.21.30"
        + field(512, 8)
        + field("EDF+C", 44)
        + field(2, 8)
        + field(1, 8)
        + field(1, 4)
    )
    sig = (
        field("EDF Annotations", 16)
        + field("", 80)
        + field("", 8)
        + field(-1, 8)
        + field(1, 8)
        + field(-32768, 8)
        + field(32767, 8)
        + field("", 80)
        + field(per_record, 8)
        + field("", 32)
    )
    records = b"".join(
        (f"+{i}\x14\x14\x00+{i}\x151\x14Sleep stage W\x14\x00".encode()).ljust(2 * per_record, b"\x00")
        for i in range(2)
    )
    path.write_bytes(head + sig + records)
    return path


def test_an_annotation_file_beside_its_recording_is_not_a_recording(detector, tmp_path, caplog):
    """A hypnogram (an EDF+ of annotations only) given by name is an error that says what it is; in a folder it is
    left out, logged, and the recording beside it is scored: no failure for the folder."""
    folder = tmp_path / "sleep"
    folder.mkdir()
    hypnogram = write_hypnogram(folder / "SC4012E0-Hypnogram.edf")
    (folder / "SC4012E0-PSG.edf").write_bytes(NONSEIZURE.read_bytes())
    buf = io.StringIO()
    assert run_offline([hypnogram], build_config({}), model=detector, out=buf) == 1
    (error,) = [line for line in lines_of(buf) if line["type"] == "error"]
    assert "holds no signal, only EDF+ annotations (1 annotation signal(s)): an annotation file" in error["error"]
    buf = io.StringIO()
    with caplog.at_level("INFO", logger="realtime.recordings"):
        assert run_offline([folder], build_config({}), model=detector, out=buf) == 0
    lines = lines_of(buf)
    assert [line["file"] for line in lines if line["type"] == "channels"] == [str(folder / "SC4012E0-PSG.edf")]
    assert lines[-1]["files"] == 1 and lines[-1]["failed"] == 0
    assert any(
        "1 file(s) without signals, annotations only (not recordings), left out: SC4012E0-Hypnogram.edf"
        in r.getMessage()
        for r in caplog.records
    )
