"""read_recording on real EDF/BDF files written by edfio, NPZ files, sidecars and the shipped excerpts."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import edfio
import numpy as np
import pytest

from realtime.recordings import RecordingError, read_recording, write_npz

REPO = Path(__file__).resolve().parents[2]
CHBMIT = REPO / "realtime" / "data" / "chbmit"


def sine(rate: float, seconds: float, freq: float, amp: float) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)


def test_edf_units_annotations_and_non_voltage_channels(tmp_path, caplog):
    sigs = [
        edfio.EdfSignal(sine(256, 10, 5, 100), 256, label="Fp1", physical_dimension="uV"),
        edfio.EdfSignal(sine(256, 10, 5, 0.1), 256, label="Fp2", physical_dimension="mV"),
        edfio.EdfSignal(sine(256, 10, 5, 50), 256, label="Cz", physical_dimension=""),
        edfio.EdfSignal(np.full(2560, 97.0), 256, label="SpO2", physical_dimension="%"),
    ]
    path = tmp_path / "rec.edf"
    edfio.Edf(
        sigs, annotations=[edfio.EdfAnnotation(2.5, 3.0, "seizure"), edfio.EdfAnnotation(9.0, None, "note")]
    ).write(path)
    with caplog.at_level(logging.WARNING, logger="realtime.recordings"):
        rec = read_recording(path)
    assert rec.ch_names == ["Fp1", "Fp2", "Cz"] and rec.sfreq == 256.0 and rec.data.shape == (3, 2560)
    assert rec.data.dtype == np.float64
    np.testing.assert_allclose(rec.data[1], sine(256, 10, 5, 100), atol=0.05)  # 0.1 mV -> 100 µV
    assert np.abs(rec.data[0]).max() == pytest.approx(100, abs=0.05)
    assert rec.annotations == [(2.5, 5.5, "seizure"), (9.0, 9.0, "note")]
    assert rec.left_out == {"SpO2": "unit '%' is not a voltage"}
    assert any("signals left out: SpO2 (unit '%' is not a voltage)" in w for w in rec.warnings)
    assert [(c.label, c.unit) for c in rec.channels] == [("Fp1", "uV"), ("Fp2", "mV"), ("Cz", "")]
    assert any("'Cz' has no physical dimension; assuming microvolts" in w for w in rec.warnings)
    lg = logging.getLogger("realtime.recordings")  # what the logging looked like if this fails
    state = (lg.disabled, lg.propagate, lg.level, logging.getLogger().level, logging.getLogger().handlers)
    assert "SpO2" in caplog.text, state


def test_mixed_rates_are_resampled_to_the_most_common(tmp_path):
    sigs = [edfio.EdfSignal(sine(256, 8, 3, 80), 256, label=f"E{i}", physical_dimension="uV") for i in range(3)]
    sigs.append(edfio.EdfSignal(sine(512, 8, 3, 80), 512, label="Fast", physical_dimension="uV"))
    path = tmp_path / "mixed.edf"
    edfio.Edf(sigs).write(path)
    rec = read_recording(path)
    assert rec.sfreq == 256.0 and rec.data.shape == (4, 2048)
    np.testing.assert_allclose(rec.data[3, 100:-100], rec.data[0, 100:-100], atol=1.0)
    assert any("'Fast' (512 Hz)" in w for w in rec.warnings)


def test_the_eeg_rate_is_chosen_among_eeg_signals_and_others_are_left_out_or_kept(tmp_path):
    """Three DC inputs at 500 Hz outnumber the two EEG channels at 250 Hz: the EEG rate is still 250 Hz.
    At another rate, what is not EEG by its label, or is under 100 Hz, is left out with the reason; an
    EEG channel at 500 Hz is resampled; an ECG at the EEG rate is kept for the pipeline to judge."""
    sigs = [edfio.EdfSignal(sine(250, 8, 3, 80), 250, label=f"EEG C{i}-REF", physical_dimension="uV") for i in (3, 4)]
    sigs += [edfio.EdfSignal(sine(500, 8, 1, 0.5), 500, label=f"DC{i}-DC", physical_dimension="mV") for i in (1, 2, 3)]
    sigs += [
        edfio.EdfSignal(sine(500, 8, 3, 80), 500, label="EEG Cz-REF", physical_dimension="uV"),
        edfio.EdfSignal(sine(250, 8, 1, 300), 250, label="EEG EKG-REF", physical_dimension="uV"),
        edfio.EdfSignal(sine(50, 8, 3, 80), 50, label="Pz", physical_dimension="uV"),
    ]
    path = tmp_path / "rates.edf"
    edfio.Edf(sigs).write(path)
    rec = read_recording(path)
    assert rec.sfreq == 250.0 and rec.ch_names == ["EEG C3-REF", "EEG C4-REF", "EEG Cz-REF", "EEG EKG-REF"]
    assert rec.left_out == {
        "DC1-DC": "label 'DC1-DC' names a DC-coupled auxiliary input",
        "DC2-DC": "label 'DC2-DC' names a DC-coupled auxiliary input",
        "DC3-DC": "label 'DC3-DC' names a DC-coupled auxiliary input",
        "Pz": "sampled at 50 Hz (the EEG at 250 Hz)",
    }
    assert [c.rate_hz for c in rec.channels] == [250.0, 250.0, 500.0, 250.0]
    np.testing.assert_allclose(rec.data[2, 100:-100], rec.data[0, 100:-100], atol=1.0)
    assert any("'EEG Cz-REF' (500 Hz)" in w for w in rec.warnings)
    # what the pipeline would score, for readers without one (training)
    sel = rec.select()
    assert [rec.ch_names[i] for i in sel.scored] == ["EEG C3-REF", "EEG C4-REF", "EEG Cz-REF"]
    assert sel.left_out == {"EEG EKG-REF": "label 'EEG EKG-REF' names an ECG lead"}


def test_bdf(tmp_path):
    path = tmp_path / "rec.bdf"
    edfio.Bdf([edfio.BdfSignal(sine(512, 4, 7, 1e-4), 512, label="O1", physical_dimension="V")]).write(path)
    rec = read_recording(path)
    assert rec.sfreq == 512.0 and rec.ch_names == ["O1"]
    assert np.abs(rec.data).max() == pytest.approx(100, abs=0.1)


def test_shipped_chbmit_excerpts():
    for name in ("chb01_03_Seizure.edf", "chb01_03_NonSeizure.edf"):
        rec = read_recording(CHBMIT / name)
        assert rec.sfreq == 256.0 and rec.data.shape == (23, 41 * 256)
        assert rec.ch_names[0] == "FP1-F7" and rec.ch_names.count("T8-P8") == 2
        assert 20 < np.median(rec.data.std(axis=1)) < 200 and np.abs(rec.data).max() <= 800


def test_npz_round_trip_units_and_sidecars(tmp_path):
    data = np.vstack([sine(200, 5, 4, 1e-4), sine(200, 5, 4, 2e-4)])
    path = write_npz(tmp_path / "rec.npz", data, 200, ["A", "B"], unit="V")
    (tmp_path / "rec.csv").write_text("onset_s,offset_s,label\n1.0,2.5,seizure\n3,4,\n")
    (tmp_path / "rec.tsv").write_text("onset_s\toffset_s\n0.5\t0.75\n")
    rec = read_recording(path)
    assert rec.ch_names == ["A", "B"] and rec.sfreq == 200.0
    np.testing.assert_allclose(rec.data, data * 1e6)
    assert rec.annotations == [(1.0, 2.5, "seizure"), (3.0, 4.0, "seizure"), (0.5, 0.75, "seizure")]
    # default unit is µV; per-channel units are accepted
    np.savez(tmp_path / "b.npz", data=data, sfreq=200.0, ch_names=np.array(["A", "B"]), unit=np.array(["V", "mV"]))
    np.testing.assert_allclose(read_recording(tmp_path / "b.npz").data, data * [[1e6], [1e3]])
    np.savez(tmp_path / "c.npz", data=data.astype(np.float32), sfreq=200, ch_names=np.array(["A", "B"]))
    assert read_recording(tmp_path / "c.npz").data.dtype == np.float64


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"data": np.zeros((2, 10)), "sfreq": 200.0}, r"lacks array\(s\) \['ch_names'\]"),
        ({"data": np.zeros((2, 10)), "sfreq": 200.0, "ch_names": np.array(["A", None], dtype=object)}, "pickle"),
        ({"data": np.zeros((2, 10)), "sfreq": 200.0, "ch_names": np.array(["A"])}, "'ch_names' must be 2 strings"),
        ({"data": np.zeros(10), "sfreq": 200.0, "ch_names": np.array(["A"])}, "got shape \\(10,\\)"),
        (
            {"data": np.zeros((1, 10)), "sfreq": -5.0, "ch_names": np.array(["A"])},
            "'sfreq' must be one positive number",
        ),
        (
            {"data": np.zeros((1, 10)), "sfreq": 200.0, "ch_names": np.array(["A"]), "unit": np.array("kV")},
            "unknown channel unit 'kV'",
        ),
    ],
)
def test_bad_npz_files(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(RecordingError, match=message):
        read_recording(tmp_path / "bad.npz")


def test_missing_unsupported_and_corrupt_files(tmp_path):
    with pytest.raises(RecordingError, match="does not exist"):
        read_recording(tmp_path / "nope.edf")
    (tmp_path / "x.fif").write_bytes(b"0")
    with pytest.raises(RecordingError, match=r"unsupported extension '.fif'"):
        read_recording(tmp_path / "x.fif")
    (tmp_path / "junk.edf").write_bytes(b"not an edf at all" * 20)
    with pytest.raises(RecordingError, match="is not a readable EDF file"):
        read_recording(tmp_path / "junk.edf")
    (tmp_path / "junk.npz").write_bytes(b"PK nope")
    with pytest.raises(RecordingError, match="is not a readable NPZ file"):
        read_recording(tmp_path / "junk.npz")


def test_bad_sidecar(tmp_path):
    path = write_npz(tmp_path / "r.npz", np.zeros((1, 400)), 200, ["A"])
    (tmp_path / "r.csv").write_text("start,stop\n1,2\n")
    with pytest.raises(RecordingError, match=r"header must have onset_s and offset_s .* got \['start', 'stop'\]"):
        read_recording(path)
    (tmp_path / "r.csv").write_text("onset_s,offset_s\n1,soon\n")
    with pytest.raises(RecordingError, match="line 2: offset_s must be a number of seconds, got 'soon'"):
        read_recording(path)


# ----------------------------------------------------------------------------- EDF headers as archives ship them
LABELS = [f"EEG {e}-REF" for e in ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2")] + ["EEG EKG1-REF"]


def archive_edf(tmp_path: Path, name: str, patch=None) -> tuple[Path, np.ndarray]:
    """A valid EDF (edfio: 11 signals at 256 Hz, 20 one-second records, µV), then ``patch(raw, field)`` changes
    its bytes (``field(offset, width, i)``: where signal ``i``'s field of that width starts, ``offset`` the field's
    place per signal as the EDF specification lists it). Returns the path and the signals as written, µV."""
    rng = np.random.default_rng(3)
    x = rng.normal(0, 20, (len(LABELS), 20 * 256))
    sigs = [
        edfio.EdfSignal(row, 256, label=lb, physical_dimension="uV", physical_range=(-3000, 3000))
        for row, lb in zip(x, LABELS, strict=True)
    ]
    path = tmp_path / name
    edfio.Edf(sigs).write(path)
    raw = bytearray(path.read_bytes())
    n = len(LABELS)

    def field(offset: int, width: int, i: int) -> slice:
        start = 256 + offset * n + width * i
        return slice(start, start + width)

    if patch is not None:
        patch(raw, field)
    path.write_bytes(bytes(raw))
    return path, x


CP1252_LABEL = "EEG Fp2\u2013R\u00e9f"  # an en dash and an e acute: bytes 0x96 and 0xE9 in Windows-1252


def test_a_latin1_micro_sign_in_the_dimension_reads_as_microvolts(tmp_path):
    """'µV' written as the Latin-1 byte 0xB5 (the EDF standard asks for ASCII; Windows-era writers did this): the
    same microvolts as 'uV', where before every signal was left out ('\\ufffdV' is not a voltage); a label in
    Windows-1252 (an en dash, an accent) reads as written, not with replacement characters."""

    def micro(raw, field):
        for i in range(len(LABELS)):
            raw[field(96, 8, i)] = b"\xb5V".ljust(8)
        raw[field(0, 16, 1)] = CP1252_LABEL.encode("cp1252").ljust(16)

    path, x = archive_edf(tmp_path, "latin1.edf", micro)
    rec = read_recording(path)
    assert rec.ch_names == [LABELS[0], CP1252_LABEL, *LABELS[2:]] and {c.unit for c in rec.channels} == {"µV"}
    np.testing.assert_allclose(rec.data, x, atol=0.1)


def test_a_header_length_that_disagrees_with_its_signals_is_an_error(tmp_path):
    """The samples would be read from the wrong offset: noise scored as EEG (it raised a seizure onset)."""

    def length(raw, field):
        raw[184:192] = b"999".ljust(8)

    path, _ = archive_edf(tmp_path, "length.edf", length)
    with pytest.raises(RecordingError, match=r"the header says it is 999 bytes long, but a header of 11 signals is"):
        read_recording(path)


def test_a_signal_that_cannot_be_calibrated_is_left_out_with_its_reason(tmp_path):
    """An empty digital range (edfio returns the raw digital values, with a Python warning only) or an empty
    physical range: left out by the reader, named with the reason, the other signals read as written."""

    def empty_ranges(raw, field):
        raw[field(120, 8, 0)] = raw[field(128, 8, 0)] = b"0".ljust(8)  # FP1: digital min = max
        raw[field(104, 8, 10)] = raw[field(112, 8, 10)] = b"0".ljust(8)  # the ECG: physical min = max

    path, x = archive_edf(tmp_path, "ranges.edf", empty_ranges)
    rec = read_recording(path)
    assert rec.ch_names == LABELS[1:10]
    assert rec.left_out == {
        "EEG FP1-REF": "digital minimum equals digital maximum (0): its values cannot be calibrated",
        "EEG EKG1-REF": "physical minimum equals physical maximum (0): its values cannot be calibrated",
    }
    np.testing.assert_allclose(rec.data, x[1:10], atol=0.1)


def test_a_digital_range_upside_down_is_left_out_and_a_physical_one_inverts_the_polarity(tmp_path):
    """The standard asks for digital maximum > minimum: swapped, edfio would read the signal negated with no word
    (a channel of unknown sign in the common average); a physical range upside down is an inverted polarity, read
    as written."""

    def swapped(raw, field):
        raw[field(120, 8, 0)], raw[field(128, 8, 0)] = bytes(raw[field(128, 8, 0)]), bytes(raw[field(120, 8, 0)])
        raw[field(104, 8, 1)], raw[field(112, 8, 1)] = bytes(raw[field(112, 8, 1)]), bytes(raw[field(104, 8, 1)])

    path, x = archive_edf(tmp_path, "swapped.edf", swapped)
    rec = read_recording(path)
    assert (
        rec.left_out["EEG FP1-REF"]
        == "digital minimum 32767 above digital maximum -32768: a broken header, its polarity unknown"
    )
    assert rec.ch_names[0] == LABELS[1]
    np.testing.assert_allclose(rec.data[0], -x[1], atol=0.1)


def test_header_text_padded_with_nul_bytes_reads_as_padded_with_spaces(tmp_path):
    """Some writers pad a field with NUL bytes where the standard asks for spaces (MNE's reader cuts a field at the
    first NUL): the labels still name their electrodes and the dimension is still microvolts."""

    def nul(raw, field):
        for i in range(len(LABELS)):
            raw[field(0, 16, i)] = LABELS[i].encode().ljust(16, b"\x00")
            raw[field(96, 8, i)] = b"uV".ljust(8, b"\x00")

    path, x = archive_edf(tmp_path, "nul.edf", nul)
    rec = read_recording(path)
    assert rec.ch_names == LABELS and not rec.left_out and {c.unit for c in rec.channels} == {"uV"}
    np.testing.assert_allclose(rec.data, x, atol=0.1)


def test_a_signal_whose_calibration_fields_cannot_be_read_is_left_out_and_the_others_read(tmp_path):
    """A physical minimum written with a decimal comma, a physical maximum 'nan', an empty digital minimum, a
    digital maximum that is not an integer: edfio reads such a field only when the signal is used, and the
    whole file failed with "could not convert string to float: '1,5'", the field and the signal unnamed. Now
    that signal is left out, the field and its value named, and the others are read as written."""

    def unreadable(raw, field):
        raw[field(104, 8, 0)] = b"-3000,5".ljust(8)  # FP1: physical minimum
        raw[field(112, 8, 3)] = b"nan".ljust(8)  # physical maximum
        raw[field(120, 8, 4)] = b"".ljust(8)  # digital minimum
        raw[field(128, 8, 10)] = b"32767.0".ljust(8)  # the ECG: digital maximum

    path, x = archive_edf(tmp_path, "fields.edf", unreadable)
    rec = read_recording(path)
    assert rec.ch_names == [LABELS[i] for i in (1, 2, 5, 6, 7, 8, 9)]
    assert rec.left_out == {
        LABELS[0]: "its physical minimum '-3000,5' is not a finite number: its values cannot be calibrated",
        LABELS[3]: "its physical maximum 'nan' is not a finite number: its values cannot be calibrated",
        LABELS[4]: "its digital minimum '' is not an integer: its values cannot be calibrated",
        LABELS[10]: "its digital maximum '32767.0' is not an integer: its values cannot be calibrated",
    }
    np.testing.assert_allclose(rec.data, x[[1, 2, 5, 6, 7, 8, 9]], atol=0.1)


@pytest.mark.parametrize(
    ("offset", "value", "said"),
    [
        (252, b"1 1", "its number of signals '1 1' is not an integer"),
        (184, b"3072 1", "its number of bytes in the header '3072 1' is not an integer"),
        (236, b"", "its number of data records '' is not an integer (-1 when unknown)"),
        (236, b"1e3", "its number of data records '1e3' is not an integer (-1 when unknown)"),
        (244, b"0", "its data record duration '0' is not a positive number of seconds"),
        (244, b"nan", "its data record duration 'nan' is not a positive number of seconds"),
        (244, b"1,0", "its data record duration '1,0' is not a positive number of seconds"),
    ],
)
def test_an_unreadable_record_count_or_duration_is_an_error_naming_the_field(tmp_path, offset, value, said):
    """edfio's own errors named neither field nor value ("invalid literal for int() with base 10: ''"), and a
    record duration of 0 surfaced as "cannot access local variable 'sampling_frequency'"."""

    def patch(raw, field):
        width = 4 if offset == 252 else 8
        raw[offset : offset + width] = value.ljust(width)

    path, _ = archive_edf(tmp_path, "header.edf", patch)
    with pytest.raises(RecordingError, match=re.escape(f"is not a readable EDF file: {said}")):
        read_recording(path)


def test_unreadable_samples_per_record_name_the_signal(tmp_path):
    def patch(raw, field):
        raw[field(216, 8, 2)] = b"256 .".ljust(8)

    path, _ = archive_edf(tmp_path, "spr.edf", patch)
    with pytest.raises(RecordingError, match=re.escape("signal 3 ('EEG F3-REF') has '256 .' samples per data record")):
        read_recording(path)


def test_edf_annotations_that_cannot_be_read_fail_the_file_only_where_annotations_are_wanted(tmp_path):
    """A data record whose annotation bytes are not UTF-8 (or not a valid TAL): edfio's error failed the whole
    file, for scoring too, which uses no annotations. Now scoring and replay (``annotations=False``) do not read
    them and score the file (a real ``realtime-detect --file``); training and evaluation, whose seizure labels
    they may be, get an error naming the file."""
    from realtime.recordings import open_recording

    rng = np.random.default_rng(5)
    x = rng.normal(0, 20, (4, 30 * 256))
    sigs = [
        edfio.EdfSignal(row, 256, label=f"EEG {e}", physical_dimension="uV", physical_range=(-3000, 3000))
        for row, e in zip(x, ("Fp1", "Fp2", "O1", "O2"), strict=True)
    ]
    path = tmp_path / "annotated.edf"
    edfio.Edf(sigs, annotations=[edfio.EdfAnnotation(2.0, 1.0, "seizure")]).write(path)
    raw = bytearray(path.read_bytes())
    header = int(raw[184:192])
    record = (len(raw) - header) // 30
    at = header + 2 * record + 4 * 256 * 2  # record 2's annotation signal, after the 4 signals' 256 samples
    raw[at : at + 12] = b"+2\x14\x14\x00+2\x14\xff\xfe\x14\x00"  # its TAL text: bytes that are not UTF-8
    path.write_bytes(bytes(raw))

    with pytest.raises(RecordingError, match=r"annotated\.edf'\: its EDF\+ annotations cannot be read"):
        read_recording(path)
    rec = open_recording(path, annotations=False)
    assert rec.annotations == [] and rec.ch_names == ["EEG Fp1", "EEG Fp2", "EEG O1", "EEG O2"]
    np.testing.assert_allclose(rec.read(0, rec.n_samples), x, atol=0.1)
    run = subprocess.run(
        [sys.executable, "-m", "realtime", "detect", "--file", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads(run.stdout.splitlines()[-1])
    assert (summary["type"], summary["files"], summary["failed"]) == ("summary", 1, 0)


def test_a_record_duration_that_makes_an_impossible_rate_is_refused_quoting_it(tmp_path):
    """1e-9 s records of 256 samples: 2.56e11 Hz, which reached scipy's filter design ("Invalid cutoff
    frequency") before any check of the rate."""
    from realtime.preprocess import Resampler, half_periods_for

    def patch(raw, field):
        raw[244:252] = b"1e-9".ljust(8)

    path, _ = archive_edf(tmp_path, "fast.edf", patch)
    rec = read_recording(path)
    for make in (lambda: half_periods_for("short", rec.sfreq), lambda: Resampler(rec.sfreq)):
        with pytest.raises(
            ValueError, match=r"sampling rate 25\d+\.?\d* Hz is above the supported maximum of 100000 Hz"
        ):
            make()


@pytest.mark.parametrize(
    ("case", "records", "said"),
    [
        ("truncated", 19, ["Incomplete data record at the end", "indicates 20 data records, but file contains 19"]),
        ("unknown count", 20, ["indicates -1 data records, but file contains 20"]),
    ],
)
def test_a_truncated_file_or_an_unknown_record_count_is_read_and_said(tmp_path, caplog, case, records, said):
    """A recording cut short (a copy interrupted, a disk full) or one whose writer never filled in the record
    count (-1: still recording): the whole records are read, and what the reader found is a warning of the
    recording's (logged, in ``warnings``), not a Python warning on stderr."""

    def patch(raw, field):
        if case == "unknown count":
            raw[236:244] = b"-1".ljust(8)

    path, x = archive_edf(tmp_path, f"{case}.edf", patch)
    if case == "truncated":
        path.write_bytes(path.read_bytes()[:-3000])  # most of the last record gone
    with caplog.at_level(logging.WARNING, logger="realtime.recordings"):
        rec = read_recording(path)
    assert rec.n_samples == records * 256
    np.testing.assert_allclose(rec.data, x[:, : records * 256], atol=0.1)
    for text in said:
        assert any(text in w for w in rec.warnings), rec.warnings
        assert text in caplog.text
