"""The user's own recordings: a real EDF written by edfio + a CSV sidecar, and EDF+ annotations;
then the whole command line on them (fit -> export -> reload)."""

import json
import subprocess
import sys
from pathlib import Path

import edfio
import numpy as np
import pytest

from train.datasets.edf import load_edf_paths, seizure_mask
from train.datasets.records import split_records
from train.hparams import HParamsError

REPO = Path(__file__).resolve().parents[2]
TINY_TOML = REPO / "config" / "train" / "tiny.toml"


def _write_edf(path, seizure_s=None, fs=256.0, seconds=40, edf_plus_annotation=None, seed=0, unit="uV"):
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    t = np.arange(n) / fs
    chans = []
    for k, name in enumerate(["FP1-F7", "F7-T7"]):
        x = rng.normal(0, 20, n)
        if seizure_s:
            a, b = (int(s * fs) for s in seizure_s)
            x[a:b] += 150 * np.sin(2 * np.pi * 4 * t[a:b] + k)
        scale = 1e-3 if unit == "mV" else 1.0
        chans.append(
            edfio.EdfSignal(
                x * scale, fs, label=name, physical_dimension=unit, physical_range=(-1000 * scale, 1000 * scale)
            )
        )
    ann = [edfio.EdfAnnotation(*edf_plus_annotation)] if edf_plus_annotation else None
    edfio.Edf(chans, annotations=ann).write(path)
    return path


def test_edf_with_csv_sidecar_and_edf_plus_annotations(tmp_path):
    a = _write_edf(tmp_path / "pat1_a.edf", seizure_s=(10, 25))
    (tmp_path / "pat1_a.csv").write_text("onset_s,offset_s,label\n10.0,25.0,seizure\n")
    _write_edf(tmp_path / "pat1_b.edf", seizure_s=(5, 12), edf_plus_annotation=(5.0, 7.0, "Seizure onset"), unit="mV")
    _write_edf(tmp_path / "pat1_c.edf", edf_plus_annotation=(3.0, 1.0, "eyes closed"))
    recs = load_edf_paths([tmp_path])
    assert [r.recording_id for r in recs] == [
        "edf/pat1_a.edf#FP1-F7",
        "edf/pat1_a.edf#F7-T7",
        "edf/pat1_b.edf#FP1-F7",
        "edf/pat1_b.edf#F7-T7",
        "edf/pat1_c.edf#FP1-F7",
        "edf/pat1_c.edf#F7-T7",
    ]
    ra = recs[0]
    assert ra.sample_rate_hz == 250.0 and len(ra.signal_uv) == 40 * 250
    assert (
        ra.labels[: 10 * 250].sum() == 0 and ra.labels[10 * 250 : 25 * 250].all() and ra.labels[25 * 250 :].sum() == 0
    )
    assert recs[0].group_id == recs[1].group_id != recs[2].group_id
    rb = recs[2]
    assert rb.labels.sum() == 7 * 250  # EDF+ annotation: onset 5 s, duration 7 s ("Seizure onset")
    assert 100 < np.abs(rb.signal_uv[int(6 * 250) : int(11 * 250)]).max() < 400  # mV file read as µV
    assert recs[4].label == 0 and recs[4].subset == "background"  # "eyes closed" is not a seizure
    with pytest.raises(ValueError, match="'Cz'"):
        load_edf_paths([a], channels=["Cz"])
    with pytest.raises(FileNotFoundError, match=r"nope.edf"):
        load_edf_paths([tmp_path / "nope.edf"])
    with pytest.raises(ValueError, match=r"-2.0"):
        seizure_mask([(5.0, -2.0, "seizure")], 100, 250.0)


@pytest.mark.slow
def test_cli_fit_and_export_on_edf(tmp_path):
    data = tmp_path / "edf"
    data.mkdir()
    for i in range(6):
        _write_edf(data / f"rec{i}.edf", seizure_s=(8, 30) if i % 2 else None, seed=i, seconds=36)
        if i % 2:
            (data / f"rec{i}.csv").write_text("onset_s,offset_s\n8,30\n")
    run = tmp_path / "run"
    env_cmd = [sys.executable, "-m", "train.cli"]
    fit = subprocess.run(
        [
            *env_cmd,
            "fit",
            "--config",
            str(TINY_TOML),
            "--out",
            str(run),
            "--verbose",
            "0",
            "--set",
            f'data.edf_paths=["{data}"]',
            "--set",
            "fit.epochs=1",
            "--set",
            "fit.steps_per_epoch=3",
            "--set",
            "data.in_memory_examples_max=64",  # the training split (about 130 examples per epoch) streams
            "--shard-cache",  # from a corpus of every recording's examples, selected as it is read
            str(tmp_path / "cache"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert "streamed from its shards (shuffle buffer 64), not cached" in fit.stderr
    for f in (
        "hparams.json",
        "split.json",
        "history.csv",
        "best.weights.h5",
        "curves.png",
        "test_metrics.json",
        "run.json",
    ):
        assert (run / f).exists(), f
    split = json.loads((run / "split.json").read_text())
    files = {k: {i.split("#")[0] for i in v} for k, v in split.items() if k in ("train", "validation", "test")}
    assert not files["train"] & files["test"] and files["test"]
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert "edf_seizure_vs_rest" in metrics
    (corpus,) = (tmp_path / "cache").iterdir()
    assert json.loads((run / "data" / "train.json").read_text())["corpus"] == str(corpus)
    run_json = json.loads((run / "run.json").read_text())
    assert run_json["cached_in_memory"] == {"train": False, "validation": True}, run_json["cached_in_memory"]
    out = tmp_path / "export"
    exp = subprocess.run(
        [*env_cmd, "export", str(run), str(out)], cwd=REPO, capture_output=True, text=True, timeout=240
    )
    assert exp.returncode == 0, exp.stderr[-3000:]
    card = json.loads((out / "model_card.json").read_text())
    assert card["training"]["split"]["test"] == split["test"]
    assert card["montage"] == "as_recorded"  # multichannel recordings trained on: the daemon's default montage
    assert card["metrics"] == metrics
    assert json.loads(exp.stdout.strip().splitlines()[-1])["max_abs_error"]["tflite"] < 1e-4
    bad = subprocess.run(
        [*env_cmd, "fit", "--config", str(TINY_TOML), "--set", "scaling.method=zscore"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "'zscore'" in bad.stderr


def test_patient_folders_stay_on_one_side_of_the_split(tmp_path):
    """data.edf_group_by = "folder": every recording of a patient folder (CHB-MIT's layout) in one split."""
    from train.datasets.records import run_records
    from train.hparams import load

    for patient in range(6):
        folder = tmp_path / f"chb{patient:02d}"
        folder.mkdir()
        for rec in range(2):
            _write_edf(folder / f"chb{patient:02d}_{rec:02d}.edf", seizure_s=None, seed=patient * 2 + rec, seconds=12)
    hp = load(None, {"data.sources": ["edf"], "data.edf_paths": [str(tmp_path)], "data.edf_group_by": "folder"})
    recs = run_records(hp, tmp_path)
    assert len({r.group_id for r in recs}) == 6
    split = split_records(recs, (0.5, 0.25, 0.25), seed=1)
    side = {}
    for name, ids in split.items():
        for i in ids:
            side.setdefault(next(r.group_id for r in recs if r.recording_id == i), set()).add(name)
    assert all(len(s) == 1 for s in side.values())
    by_file = run_records(load(None, {"data.sources": ["edf"], "data.edf_paths": [str(tmp_path)]}), tmp_path)
    assert len({r.group_id for r in by_file}) == 12
    with pytest.raises(HParamsError, match="'patient'"):
        load(None, {"data.edf_group_by": "patient"})


def _sig(label: str, rate: float, x_uv: np.ndarray, unit: str = "uV") -> edfio.EdfSignal:
    scale = {"uV": 1.0, "mV": 1e-3}.get(unit, 1.0)
    return edfio.EdfSignal(x_uv * scale, rate, label=label, physical_dimension=unit)


def test_only_eeg_channels_become_training_records_as_the_daemon_scores_them(tmp_path, caplog):
    """A clinical file as archives ship it (TUH-style referential EEG beside an ECG lead labelled EEG, DC
    inputs in mV, a photic lead and 1 Hz trend signals), with a seizure annotated over all of it: only the
    EEG is trained on, so no ECG or DC window is ever labelled seizure; what is left out is logged."""
    fs, seconds = 250.0, 20
    rng = np.random.default_rng(0)
    noise = lambda std: rng.normal(0, std, int(fs * seconds))  # noqa: E731
    eeg = ["FP1", "F7", "T3", "C3", "O1"]
    sigs = [_sig(f"EEG {e}-LE", fs, noise(20.0)) for e in eeg]
    sigs += [
        _sig("EEG EKG-LE", fs, noise(400.0)),
        _sig("PHOTIC-LE", fs, noise(900.0)),
        _sig("DC1-DC", fs, noise(300.0), unit="mV"),
        _sig("DC2-DC", fs, noise(300.0), unit="mV"),
        edfio.EdfSignal(rng.normal(0, 1, seconds), 1, label="IBI", physical_dimension="s"),
    ]
    path = tmp_path / "tuh.edf"
    edfio.Edf(sigs).write(path)
    (tmp_path / "tuh.csv").write_text("onset_s,offset_s,label\n5.0,15.0,seizure\n")
    with caplog.at_level("INFO", logger="train.datasets.edf"):
        recs = load_edf_paths([path])
    assert [r.recording_id for r in recs] == [f"edf/tuh.edf#EEG {e}-LE" for e in eeg]
    assert all(r.labels.sum() == 10 * 250 for r in recs)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "train.datasets.edf"]
    assert "5 channel(s) left out" in line
    for name in ("EEG EKG-LE", "PHOTIC-LE", "DC1-DC", "DC2-DC", "IBI"):
        assert f"{name}: " in line
    assert "names an ECG lead" in line and "names a DC-coupled auxiliary input" in line
    # named on purpose, a lead the rule leaves out is used (the user's choice), in the order given
    forced = load_edf_paths([path], channels=["EEG EKG-LE", "EEG C3-LE"])
    assert [r.recording_id for r in forced] == ["edf/tuh.edf#EEG EKG-LE", "edf/tuh.edf#EEG C3-LE"]


def test_a_file_without_eeg_is_skipped_with_a_warning_and_none_at_all_is_an_error(tmp_path, caplog):
    fs, n = 256.0, 256 * 12
    rng = np.random.default_rng(1)
    chb = ["FP1-F7", "F7-T7", "T7-P7", "T8-P8", "T8-P8"]  # CHB-MIT repeats T8-P8
    edfio.Edf([_sig(c, fs, rng.normal(0, 20, n)) for c in chb] + [_sig("ECG", fs, rng.normal(0, 500, n))]).write(
        tmp_path / "chb01_01.edf"
    )
    edfio.Edf([_sig("ECG ECG", fs, rng.normal(0, 500, n), unit="mV"), _sig("EMG", fs, rng.normal(0, 50, n))]).write(
        tmp_path / "poly.edf"
    )
    with caplog.at_level("WARNING", logger="train.datasets.edf"):
        recs = load_edf_paths([tmp_path])
    assert [r.recording_id.split("#", 1)[1] for r in recs] == ["FP1-F7", "F7-T7", "T7-P7", "T8-P8", "T8-P8#2"]
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "train.datasets.edf"]
    assert "poly.edf" in warning and "no channel to train on" in warning and "ECG ECG" in warning
    with pytest.raises(ValueError, match=r"no EEG channel to train on in the 1 EDF"):
        load_edf_paths([tmp_path / "poly.edf"])
