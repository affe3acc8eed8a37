"""Training on re-referenced recordings (``data.montage``), as the daemon scores them (``signal.montage``):
the ``edf`` source and the background read each derivation one input at a time (``Montage.terms``), the
samples are what the daemon's ``Montage.apply`` gives, and the export's card names the montage, which the
daemon then takes as its default (tests/realtime/test_rt_model_settings.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import edfio
import numpy as np
import pytest

from realtime.montage import Montage
from realtime.recordings import read_recording
from train.datasets.background import read_eeg
from train.datasets.edf import EdfChannel, list_edf, load_edf_paths
from train.datasets.records import resample_to
from train.hparams import HParams, HParamsError, load

# TUH's 19 referential channels (old names T3-T6) against LE, an ECG lead and a DC input
TUH = [
    "FP1",
    "FP2",
    "F3",
    "F4",
    "C3",
    "C4",
    "P3",
    "P4",
    "O1",
    "O2",
    "F7",
    "F8",
    "T3",
    "T4",
    "T5",
    "T6",
    "FZ",
    "CZ",
    "PZ",
]
LABELS = [f"EEG {e}-LE" for e in TUH]


def _tuh(path: Path, *, fs: float = 256.0, seconds: int = 20, seizure_s=(5.0, 12.0)) -> Path:
    rng = np.random.default_rng(1)
    n = int(fs * seconds)
    common = 300 * np.sin(2 * np.pi * 0.7 * np.arange(n) / fs)  # the reference's own signal, on every channel
    sigs = [
        edfio.EdfSignal(rng.normal(0, 25, n) + 3 * i + common, fs, label=lab, physical_dimension="uV")
        for i, lab in enumerate(LABELS)
    ]
    sigs.append(edfio.EdfSignal(rng.normal(0, 400, n), fs, label="EEG EKG-LE", physical_dimension="uV"))
    sigs.append(edfio.EdfSignal(rng.normal(0, 0.3, n), fs, label="DC1-DC", physical_dimension="mV"))
    edfio.Edf(sigs).write(path)
    path.with_suffix(".csv").write_text(f"onset_s,offset_s\n{seizure_s[0]},{seizure_s[1]}\n")
    return path


@pytest.mark.parametrize("kind", ["bipolar", "average"])
def test_the_edf_source_trains_on_the_daemons_derivations_read_one_input_at_a_time(tmp_path, kind, caplog):
    path = _tuh(tmp_path / "tuh.edf")
    rec = read_recording(path)
    eeg = [i for i, n in enumerate(rec.ch_names) if n in LABELS]
    daemon = Montage([rec.ch_names[i] for i in eeg], kind)
    with caplog.at_level(logging.INFO, logger="train.datasets.edf"):
        listed = list_edf(path, montage=kind)
    assert [c.recording_id for c in listed] == [f"edf/tuh.edf#{n}" for n in daemon.names]
    assert [c.channel for c in listed] == daemon.names  # Fp1-F7 ... or Fp1-AVG ...
    assert f"montage: {daemon.describe()}" in caplog.text
    expected = daemon.apply(rec.data[eeg], np.ones(len(eeg), dtype=bool))
    records = list(EdfChannel.load_group(listed))
    for r, want in zip(records, expected, strict=True):
        np.testing.assert_allclose(r.signal_uv, resample_to(want, 256.0, 250.0), atol=1e-3)  # float32 of µV
        assert r.labels.sum() == 7 * 250  # the seizure annotation labels every derivation
    if kind == "average":  # the common reference is gone: the mean over derivations is zero
        np.testing.assert_allclose(np.mean([r.signal_uv for r in records], axis=0), 0.0, atol=1e-3)
    # the eager loader gives the same records
    eager = load_edf_paths([path], montage=kind)
    assert [r.recording_id for r in eager] == [r.recording_id for r in records]
    np.testing.assert_array_equal(eager[3].signal_uv, records[3].signal_uv)


def test_an_already_bipolar_recording_stays_as_recorded_and_says_why(tmp_path, caplog):
    """CHB-MIT is recorded in the double banana already: asked for bipolar, training keeps its channels, as
    the daemon does with such a stream."""
    fs, n = 256.0, 256 * 10
    labels = ["FP1-F7", "F7-T7", "T7-P7", "P7-O1"]
    rng = np.random.default_rng(0)
    edfio.Edf([edfio.EdfSignal(rng.normal(0, 20, n), fs, label=lab, physical_dimension="uV") for lab in labels]).write(
        tmp_path / "chb.edf"
    )
    with caplog.at_level(logging.INFO, logger="train.datasets.edf"):
        listed = list_edf(tmp_path / "chb.edf", montage="bipolar")
    assert [c.channel for c in listed] == labels and all(c.reference_rows == () for c in listed)
    assert "as recorded (bipolar asked: already bipolar" in caplog.text


def test_the_background_is_re_referenced_too(tmp_path):
    """eegmmidb's BCI2000 labels (``Fp1.``, ``Cz..``): the common average of what the montage reads as scalp."""
    fs, n = 160.0, 160 * 8
    rng = np.random.default_rng(2)
    labels = ["Fp1.", "Cz..", "O2..", "T7..", "F3..", "F4..", "P3..", "P4.."]
    data = rng.normal(0, 20, (8, n)) + 200 * np.sin(np.arange(n) / 30)
    edfio.Edf(
        [edfio.EdfSignal(x, fs, label=lab, physical_dimension="uV") for x, lab in zip(data, labels, strict=True)]
    ).write(tmp_path / "S001R01.edf")
    names, x, _ = read_eeg(tmp_path / "S001R01.edf", 250.0, montage="average")
    assert names == ["Fp1-AVG", "F3-AVG", "F4-AVG", "T7-AVG", "Cz-AVG", "P3-AVG", "P4-AVG", "O2-AVG"]  # 10-10 order
    np.testing.assert_allclose(x.sum(axis=0), 0.0, atol=1e-2)
    plain_names, plain, _ = read_eeg(tmp_path / "S001R01.edf", 250.0)
    assert plain_names == labels
    np.testing.assert_allclose(x[0], plain[0] - plain.mean(axis=0), atol=1e-2)


def test_hparams_refuse_an_unknown_montage_quoting_it():
    with pytest.raises(
        HParamsError, match=r"data.montage must be one of 'as_recorded', 'bipolar', 'average', got 'banana'"
    ):
        load(None, {"data.montage": "banana"})
    assert load(None, {"data.montage": "average"}).data.montage == "average"
    assert HParams().data.montage == "as_recorded"
    # the daemon's average_common and average_hemispheres add means that are a rule of the bed: nothing to train on
    for kind in ("average_common", "average_hemispheres"):
        with pytest.raises(HParamsError, match=rf"'average', got '{kind}'"):
            load(None, {"data.montage": kind})
