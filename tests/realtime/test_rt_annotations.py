"""Seizure annotations in the archive formats: this project's CSV, BIDS/SzCORE events, CHB-MIT summaries;
found beside real EDF files (edfio), used by read_recording, the EDF training loader and evaluate."""

from __future__ import annotations

import edfio
import numpy as np
import pytest

from realtime.annotations import (
    AnnotationError,
    is_seizure_label,
    read_annotations,
    read_chbmit_summary,
    sidecar_annotations,
)
from realtime.recordings import RecordingError, read_recording

SUMMARY = """Data Sampling Rate: 256 Hz
*************************

Channels in EDF Files:
**********************
Channel 1: FP1-F7

File Name: chb01_01.edf
File Start Time: 11:42:54
File End Time: 12:42:54
Number of Seizures in File: 0

File Name: chb01_03.edf
File Start Time: 13:43:04
File End Time: 14:43:04
Number of Seizures in File: 1
Seizure Start Time: 2996 seconds
Seizure End Time: 3036 seconds

File Name: chb06_01.edf
Number of Seizures in File: 2
Seizure 1 Start Time: 1724 seconds
Seizure 1 End Time: 1738 seconds
Seizure 2 Start Time: 7461 seconds
Seizure 2 End Time: 7476 seconds
"""

EVENTS = (
    "onset\tduration\teventType\tconfidence\tchannels\tdateTime\trecordingDuration\n"
    "0.0\t12.0\tbckg\tn/a\tn/a\t2026-01-01 00:00:00\t60.0\n"
    "12.0\t20.5\tsz_foc_ia\tn/a\tn/a\t2026-01-01 00:00:00\t60.0\n"
    "40.0\tn/a\tbckg\tn/a\tn/a\t2026-01-01 00:00:00\t60.0\n"
    "50.0\t5\tsz\tn/a\tn/a\t2026-01-01 00:00:00\t60.0\n"
)


def _edf(path, seconds=60, rate=256):
    sig = np.sin(2 * np.pi * 5 * np.arange(seconds * rate) / rate) * 50
    edfio.Edf([edfio.EdfSignal(sig, rate, label="FP1-F7", physical_dimension="uV")]).write(path)
    return path


@pytest.mark.parametrize(
    "label, yes",
    [
        ("seizure", True),
        ("Seizure 2", True),
        ("sz", True),
        ("SZ_FOC_A", True),
        ("ictal", True),
        ("seiz", True),  # TUSZ: seizure, and its types
        ("fnsz", True),
        ("gnsz", True),
        ("cpsz", True),
        ("tcsz", True),
        ("absz", True),
        ("bckg", False),
        ("preictal", False),
        ("interictal", False),
        ("artifact", False),
        ("", False),
    ],
)
def test_seizure_labels(label, yes):
    assert is_seizure_label(label) is yes


def test_chbmit_summary(tmp_path):
    path = tmp_path / "chb01-summary.txt"
    path.write_text(SUMMARY)
    assert read_chbmit_summary(path, "chb01_03.edf") == [(2996.0, 3036.0, "seizure")]
    assert read_chbmit_summary(path, "/data/chb06/chb06_01.edf") == [
        (1724.0, 1738.0, "seizure"),
        (7461.0, 7476.0, "seizure"),
    ]
    assert read_chbmit_summary(path, "chb01_01.edf") == []  # listed, no seizure
    with pytest.raises(AnnotationError, match=r"does not list 'chb01_99.edf'"):
        read_chbmit_summary(path, "chb01_99.edf")
    with pytest.raises(AnnotationError, match="needs the recording"):
        read_annotations(path)
    bad = tmp_path / "bad-summary.txt"
    bad.write_text("File Name: x.edf\nSeizure Start Time: 10 seconds\n")
    with pytest.raises(AnnotationError, match=r"'x.edf' has a seizure start 10.0 s without an end"):
        read_chbmit_summary(bad, "x.edf")
    bad.write_text("File Name: x.edf\nSeizure Start Time: 10 seconds\nSeizure End Time: 5 seconds\n")
    with pytest.raises(AnnotationError, match=r"line 3: seizure end 5.0 s is before its start 10.0 s"):
        read_chbmit_summary(bad, "x.edf")


def test_bids_szcore_events(tmp_path):
    path = tmp_path / "sub-01_run-00_events.tsv"
    path.write_text(EVENTS)
    # background rows are skipped (their 'n/a' duration is no error); seizures become onset, onset + duration
    assert read_annotations(path) == [(12.0, 32.5, "sz_foc_ia"), (50.0, 55.0, "sz")]
    path.write_text("onset\tduration\ttrial_type\n3\tn/a\tseizure\n")
    with pytest.raises(AnnotationError, match="line 2: duration must be a number of seconds, got 'n/a'"):
        read_annotations(path)
    path.write_text("onset\tduration\n3\t4\n")
    with pytest.raises(AnnotationError, match="eventType, trial_type or value column"):
        read_annotations(path)
    (tmp_path / "a.json").write_text("{}")
    with pytest.raises(AnnotationError, match=r"unsupported extension '.json'"):
        read_annotations(tmp_path / "a.json")


def test_sidecars_found_beside_real_edf_files(tmp_path):
    (tmp_path / "chb01").mkdir()
    chb = _edf(tmp_path / "chb01" / "chb01_03.edf")
    (tmp_path / "chb01" / "chb01-summary.txt").write_text(SUMMARY.replace("2996", "20").replace("3036", "31"))
    assert read_recording(chb).annotations == [(20.0, 31.0, "seizure")]
    other = _edf(tmp_path / "chb01" / "chb01_42.edf")  # not in the summary: no annotation, no error
    assert read_recording(other).annotations == [] and sidecar_annotations(other) == []

    bids = _edf(tmp_path / "sub-01_ses-01_task-szMonitoring_run-00_eeg.edf")
    (tmp_path / "sub-01_ses-01_task-szMonitoring_run-00_events.tsv").write_text(EVENTS)
    assert read_recording(bids).annotations == [(12.0, 32.5, "sz_foc_ia"), (50.0, 55.0, "sz")]

    (tmp_path / "sub-01_ses-01_task-szMonitoring_run-00_events.tsv").write_text(
        "onset\tduration\teventType\nx\t1\tsz\n"
    )
    with pytest.raises(RecordingError, match="line 2: onset must be a number of seconds, got 'x'"):
        read_recording(bids)


def test_training_loader_and_evaluate_read_every_format(tmp_path):
    from evaluation.recordings import user_recordings
    from train.datasets.edf import load_edf

    (tmp_path / "chb01").mkdir()
    chb = _edf(tmp_path / "chb01" / "chb01_03.edf")
    (tmp_path / "chb01" / "chb01-summary.txt").write_text(SUMMARY.replace("2996", "20").replace("3036", "31"))
    (rec,) = load_edf(chb, sample_rate_hz=250.0)
    labels = rec.labels
    assert labels[: 19 * 250].max() == 0 and labels[21 * 250 : 30 * 250].min() == 1 and labels[32 * 250 :].max() == 0

    events = tmp_path / "ev.tsv"
    events.write_text(EVENTS)
    summary = tmp_path / "chb01" / "chb01-summary.txt"
    a, b, c = user_recordings([str(chb), str(chb), str(chb)], [str(events), str(summary), "-"])
    assert a.seizures == [(12.0, 32.5), (50.0, 55.0)]
    assert b.seizures == c.seizures == [(20.0, 31.0)]  # explicit summary, and the sidecar found by name


# TUSZ v2 (TUH EEG Seizure Corpus): the term-based and per-channel CSVs as the corpus ships them
TUSZ_BI = """# version = csv_v1.0.0
# bname = aaaaaaac_s001_t000
# duration = 60.00 secs
# montage_file = $NEDC_NFC/lib/nedc_eas_default_montage.txt
#
channel,start_time,stop_time,label,confidence
TERM,0.0000,12.0000,bckg,1.0000
TERM,12.0000,31.5000,cpsz,1.0000
TERM,31.5000,60.0000,bckg,1.0000
"""
TUSZ_CHANNELS = """# version = csv_v1.0.0
# bname = aaaaaaac_s001_t000
# duration = 60.00 secs
#
channel,start_time,stop_time,label,confidence
FP1-F7,0.0000,13.0000,bckg,1.0000
FP1-F7,13.0000,30.0000,fnsz,1.0000
F7-T3,0.0000,12.0000,bckg,1.0000
F7-T3,12.0000,31.5000,fnsz,1.0000
T3-T5,40.0000,44.0000,gnsz,1.0000
T3-T5,0.0000,40.0000,bckg,1.0000
T5-O1,43.0000,46.0000,tcsz,1.0000
"""
TUSZ_TSE = """version = tse_v1.0.0

0.0000 12.0000 bckg 1.0000
12.0000 31.5000 seiz 1.0000
31.5000 60.0000 bckg 1.0000
"""


def test_tusz_files_read_as_the_corpus_ships_them(tmp_path):
    (tmp_path / "a.csv_bi").write_text(TUSZ_BI)
    assert read_annotations(tmp_path / "a.csv_bi") == [(0.0, 12.0, "bckg"), (12.0, 31.5, "cpsz"), (31.5, 60.0, "bckg")]
    (tmp_path / "a.csv").write_text(TUSZ_CHANNELS)  # seizures of any channel, overlapping ones as one event
    merged = read_annotations(tmp_path / "a.csv")
    assert merged == [(12.0, 31.5, "fnsz"), (40.0, 46.0, "seiz (gnsz+tcsz)")]
    assert all(is_seizure_label(label) for _, _, label in merged)
    for name in ("a.tse_bi", "a.tse"):
        (tmp_path / name).write_text(TUSZ_TSE)
        assert read_annotations(tmp_path / name) == [(0.0, 12.0, "bckg"), (12.0, 31.5, "seiz"), (31.5, 60.0, "bckg")]
    (tmp_path / "b.csv_bi").write_text(TUSZ_BI.replace("TERM,12.0000,31.5000", "TERM,12.0000,x"))
    with pytest.raises(AnnotationError, match=r"b.csv_bi' line 8: stop_time must be a number of seconds, got 'x'"):
        read_annotations(tmp_path / "b.csv_bi")
    (tmp_path / "c.csv_bi").write_text(TUSZ_BI.replace("channel,start_time", "chan,start"))
    with pytest.raises(AnnotationError, match="expected the header 'channel,start_time,stop_time,label,confidence'"):
        read_annotations(tmp_path / "c.csv_bi")


def test_tusz_sidecars_beside_a_real_edf_one_file_of_each_recording(tmp_path):
    """TUSZ ships ``<stem>.csv`` (per channel) beside ``<stem>.csv_bi`` (term-based): the recording used to be
    refused (its ``.csv`` was read as this project's CSV); now the term-based file is read, and only it (both
    describe the same seizures), or the per-channel one when it is alone."""
    edf = _edf(tmp_path / "aaaaaaac_s001_t000.edf")
    (tmp_path / "aaaaaaac_s001_t000.csv").write_text(TUSZ_CHANNELS)
    assert read_recording(edf).annotations == [(12.0, 31.5, "fnsz"), (40.0, 46.0, "seiz (gnsz+tcsz)")]
    (tmp_path / "aaaaaaac_s001_t000.csv_bi").write_text(TUSZ_BI)
    rec = read_recording(edf)
    assert [(a, b) for a, b, label in rec.annotations if is_seizure_label(label)] == [(12.0, 31.5)]
