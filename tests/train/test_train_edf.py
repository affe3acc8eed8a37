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
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert fit.returncode == 0, fit.stderr[-3000:]
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
    out = tmp_path / "export"
    exp = subprocess.run(
        [*env_cmd, "export", str(run), str(out)], cwd=REPO, capture_output=True, text=True, timeout=240
    )
    assert exp.returncode == 0, exp.stderr[-3000:]
    card = json.loads((out / "model_card.json").read_text())
    assert card["training"]["split"]["test"] == split["test"]
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
