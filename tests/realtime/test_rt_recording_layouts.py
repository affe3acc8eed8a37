"""Recordings in the layouts real archives ship, written as real EDF files with edfio, read with
``read_recording`` and scored by ``run_offline`` (the toy amplitude model): the ``channels`` line names
what is scored and why every other signal is left out, and no signal that is not EEG is scored.

The non-EEG signals are given large amplitudes (ECG, DC inputs, photic ...: hundreds of µV to mV), so
that the toy model, which alarms on amplitude, would raise an alarm on any of them that got scored;
the EEG is quiet (15 µV). Decision settings that fire on a single channel at once (``max``, no
settling, no confirmation time) make that visible as an onset.
"""

from __future__ import annotations

import io
import json

import edfio
import numpy as np
import pytest

from realtime.cli import detect_main
from realtime.config import build_config
from realtime.model import load_detector
from realtime.offline import run_offline
from realtime.recordings import read_recording

SECONDS = 10
EAGER = {"aggregation": "max", "settle_s": 0.0, "min_duration_s": 0.0, "smoothing_windows": 1, "on_threshold": 0.6}
TUH_EEG = [
    *("FP1", "FP2", "F7", "F3", "FZ", "F4", "F8", "T3", "C3", "CZ"),
    *("C4", "T4", "T5", "P3", "PZ", "P4", "T6", "O1", "O2"),
]
CHBMIT = [
    *("FP1-F7", "F7-T7", "T7-P7", "P7-O1", "FP1-F3", "F3-C3", "C3-P3", "P3-O1", "FP2-F4", "F4-C4", "C4-P4", "P4-O2"),
    *("FP2-F8", "F8-T8", "T8-P8", "P8-O2", "FZ-CZ", "CZ-PZ", "P7-T7", "T7-FT9", "FT9-FT10", "FT10-T8", "T8-P8"),
]
BCI2000 = [
    *("Fc5.", "Fc3.", "Fc1.", "Fcz.", "C3..", "Cz..", "C4..", "Cp3.", "Fp1.", "Fpz."),
    *("Fp2.", "Af3.", "F7..", "Fz..", "T7..", "P7..", "Pz..", "O1..", "Oz..", "O2.."),
]


@pytest.fixture(scope="module")
def detector(toy_export):
    return load_detector(toy_export, backend="litert")


def signal(label: str, rate: float, *, std_uv: float = 15.0, unit: str = "uV", seed: int = 0, **kw) -> edfio.EdfSignal:
    """``SECONDS`` of noise with standard deviation ``std_uv`` µV, written in ``unit``."""
    per_uv = {"uV": 1.0, "mV": 1e-3, "": 1.0}.get(unit, 1.0)
    x = np.random.default_rng(seed).normal(0.0, std_uv, int(SECONDS * rate)) * per_uv
    return edfio.EdfSignal(x, rate, label=label, physical_dimension=unit, **kw)


def write(tmp_path, name: str, signals: list[edfio.EdfSignal]) -> str:
    path = tmp_path / name
    edfio.Edf(signals).write(path)
    return str(path)


def score(path: str, detector, **stream) -> tuple[dict, list[dict]]:
    """The file's ``channels`` line and its other lines (windows and events)."""
    buf = io.StringIO()
    # channels as recorded: which channels are scored is the point here (the montage has its own tests)
    raw = (
        {"stream": stream, "decision": EAGER, "signal": {"montage": "as_recorded"}}
        if stream
        else {"decision": EAGER, "signal": {"montage": "as_recorded"}}
    )
    cfg = build_config(raw)
    assert run_offline([path], cfg, model=detector, windows=True, out=buf) == 0, buf.getvalue()
    channels, *rest = (json.loads(line) for line in buf.getvalue().splitlines())
    assert channels["type"] == "channels" and channels["file"] == path
    return channels, rest


def assert_scored_only(lines: list[dict], scored: list[str]) -> None:
    windows = [m for m in lines if m["type"] == "window"]
    assert windows and all(list(w["channel_probabilities"]) == scored for w in windows)
    assert [m for m in lines if m["type"].startswith("seizure.")] == []  # the quiet EEG raises nothing


def test_tuh_style_referential_with_ecg_photic_dc_inputs_and_trends(tmp_path, detector, caplog):
    eeg = [signal(f"EEG {e}-LE", 250, seed=i) for i, e in enumerate(TUH_EEG)]
    other = [
        signal("EEG EKG-LE", 250, std_uv=400.0),
        signal("PHOTIC-LE", 250, std_uv=2000.0),
        *(signal(f"DC{i}-DC", 250, std_uv=300.0, unit="mV") for i in range(1, 5)),
        signal("IBI", 1, std_uv=1.0, unit="s"),
        signal("BURSTS", 1, std_uv=100.0, unit=""),
        signal("SUPPR", 1, std_uv=20.0, unit="%"),
        signal("EEG 26-REF", 250, std_uv=400.0),  # a spare input, floating: no 10-20 electrode
    ]
    path = write(tmp_path, "tuh.edf", eeg + other)
    rec = read_recording(path)
    assert rec.sfreq == 250.0 and len(rec.ch_names) == 19 + 7
    assert rec.left_out == {
        "IBI": "unit 's' is not a voltage",
        "BURSTS": "label 'BURSTS' names a trend signal computed by the recorder",
        "SUPPR": "unit '%' is not a voltage",
    }
    with caplog.at_level("WARNING", logger="realtime.offline"):
        channels, lines = score(path, detector)
    scored = [f"EEG {e}-LE" for e in TUH_EEG]
    assert channels["scored"] == scored
    # the log names every channel left out with its reason too, the reader's and the pipeline's, in one warning
    (said,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"{path}: scoring 19 of")]
    assert "EEG EKG-LE (label 'EEG EKG-LE' names an ECG lead)" in said and "IBI (unit 's' is not a voltage)" in said
    assert channels["left_out"] == {
        **rec.left_out,
        "EEG EKG-LE": "label 'EEG EKG-LE' names an ECG lead",
        "PHOTIC-LE": "label 'PHOTIC-LE' names a photic stimulator",
        **{f"DC{i}-DC": f"label 'DC{i}-DC' names a DC-coupled auxiliary input" for i in range(1, 5)},
        "EEG 26-REF": "label 'EEG 26-REF' names a numbered or extra amplifier input, not a scalp electrode "
        "(the recording has 19 named ones)",
    }
    assert_scored_only(lines, scored)
    # the control: the same ECG lead, forced by stream.channels, is scored and does alarm
    forced, lines = score(path, detector, channels=["EEG EKG-LE", "EEG C3-LE"])
    assert forced["scored"] == ["EEG EKG-LE", "EEG C3-LE"]
    onsets = [m for m in lines if m["type"] == "seizure.onset"]
    assert onsets and onsets[0]["channels"] == ["EEG EKG-LE"]


def test_bci2000_eegmmidb_labels_are_all_eeg(tmp_path, detector):
    path = write(tmp_path, "S001R01.edf", [signal(n, 160, seed=i) for i, n in enumerate(BCI2000)])
    channels, lines = score(path, detector)
    assert channels["scored"] == BCI2000 and channels["left_out"] == {}
    assert_scored_only(lines, BCI2000)


def test_chbmit_bipolar_with_a_repeated_channel_a_dummy_and_ecg(tmp_path, detector):
    sigs = [signal(n, 256, seed=i) for i, n in enumerate(CHBMIT)]
    sigs.insert(18, edfio.EdfSignal(np.zeros(SECONDS * 256), 256, label="--", physical_dimension="uV"))
    sigs.append(signal("ECG", 256, std_uv=500.0))
    path = write(tmp_path, "chb01_01.edf", sigs)
    channels, lines = score(path, detector)
    scored = [*CHBMIT[:-1], "T8-P8#2"]
    assert channels["scored"] == scored
    assert channels["left_out"] == {
        "--": "label '--' names no channel (a placeholder)",
        "ECG": "label 'ECG' names an ECG lead",
    }
    assert_scored_only(lines, scored)


def test_clinical_eeg_prefix_next_to_ecg_in_millivolts_and_emg(tmp_path, detector):
    eeg = [signal(f"EEG {e}", 256, seed=i) for i, e in enumerate(("Fp1", "Fp2", "C3", "C4", "O1", "O2"))]
    path = write(
        tmp_path,
        "clinical.edf",
        [*eeg, signal("ECG ECG", 256, std_uv=800.0, unit="mV"), signal("EMG EMG", 256, std_uv=200.0)],
    )
    channels, lines = score(path, detector)
    scored = ["EEG Fp1", "EEG Fp2", "EEG C3", "EEG C4", "EEG O1", "EEG O2"]
    assert channels["scored"] == scored
    assert channels["left_out"] == {
        "ECG ECG": "label 'ECG ECG' names an ECG lead",
        "EMG EMG": "label 'EMG EMG' names an EMG lead (muscle, chin, leg)",
    }
    assert_scored_only(lines, scored)


def test_sleep_edf_polysomnography(tmp_path, detector):
    electrode = {"transducer_type": "Ag-AgCl electrodes"}
    sigs = [
        signal("EEG Fpz-Cz", 100, seed=1, **electrode),
        signal("EEG Pz-Oz", 100, seed=2, **electrode),
        signal("EOG horizontal", 100, std_uv=300.0, **electrode),
        signal("Resp oro-nasal", 1, std_uv=500.0, unit="", transducer_type="Oral-nasal thermistors"),
        signal("EMG submental", 1, std_uv=100.0, **electrode),
        signal("Temp rectal", 1, std_uv=37.0, unit="", transducer_type="Rectal thermistor"),
        signal("Event marker", 1, std_uv=900.0, unit="", transducer_type="Marker button"),
    ]
    path = write(tmp_path, "SC4012E0-PSG.edf", sigs)
    channels, lines = score(path, detector)
    assert channels["scored"] == ["EEG Fpz-Cz", "EEG Pz-Oz"]
    assert channels["left_out"] == {
        "Resp oro-nasal": "label 'Resp oro-nasal' names a respiration signal",
        "EMG submental": "label 'EMG submental' names an EMG lead (muscle, chin, leg)",
        "Temp rectal": "label 'Temp rectal' names a temperature",
        "Event marker": "label 'Event marker' names an event, marker or trigger channel",
        "EOG horizontal": "label 'EOG horizontal' names an EOG (eye) lead",
    }
    assert_scored_only(lines, ["EEG Fpz-Cz", "EEG Pz-Oz"])


def test_include_and_exclude_flags_reach_the_offline_output(tmp_path, toy_export, capsys):
    sigs = [signal(f"EEG {e}-LE", 250, seed=i) for i, e in enumerate(("FP1", "T3", "C3", "O2"))]
    sigs += [signal("PHOTIC-LE", 250, std_uv=2000.0), signal("X1-LE", 250)]
    path = write(tmp_path, "flags.edf", sigs)
    argv = ["--file", path, "--json", "--model", str(toy_export), "--backend", "litert"]
    assert detect_main([*argv, "--include", "eeg *", "--exclude", "*T3*", "--exclude", "*o2*"]) == 0
    (channels,) = [json.loads(s) for s in capsys.readouterr().out.splitlines() if '"channels"' in s]
    assert channels["scored"] == ["EEG FP1-LE", "EEG C3-LE"]
    assert channels["left_out"] == {
        "EEG T3-LE": "excluded by pattern '*T3*'",
        "EEG O2-LE": "excluded by pattern '*o2*'",
        "PHOTIC-LE": "not matched by stream.include ['eeg *']",
        "X1-LE": "not matched by stream.include ['eeg *']",
    }
    assert detect_main(argv) == 0  # without the flags: every EEG channel, X1 included
    (channels,) = [json.loads(s) for s in capsys.readouterr().out.splitlines() if '"channels"' in s]
    assert channels["scored"] == ["EEG FP1-LE", "EEG T3-LE", "EEG C3-LE", "EEG O2-LE", "X1-LE"]
    # --montage reaches what is scored: four scalp electrodes are too few for the common average
    assert detect_main([*argv, "--montage", "average"]) == 0
    (channels,) = [json.loads(s) for s in capsys.readouterr().out.splitlines() if '"channels"' in s]
    assert channels["scored"] == ["EEG FP1-LE", "EEG T3-LE", "EEG C3-LE", "EEG O2-LE", "X1-LE"]
    assert channels["montage"].startswith("as recorded (average asked: fewer than 8 scalp electrodes")
