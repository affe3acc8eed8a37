"""Stitched recordings (evaluation/stitch.py): junction annotations, tapering, files the pipeline reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.stitch import BACKGROUND, SEIZURE, Piece, interleave, stitch, taper, write_stitched
from realtime.recordings import read_recording


def _piece(seconds, sfreq, label, source, offset=0.0, amp=20.0, seed=0):
    rng = np.random.default_rng(seed)
    return Piece(offset + amp * rng.normal(size=int(round(seconds * sfreq))), sfreq, label, source)


def test_junction_annotation_and_rates():
    pieces = [
        _piece(10.0, 200.0, BACKGROUND, "bg1", offset=500.0),
        _piece(4097 / 173.61, 173.61, SEIZURE, "sz1", amp=200.0, seed=1),
        _piece(5.12, 200.0, SEIZURE, "sz2", amp=150.0, seed=2),
        _piece(10.0, 200.0, BACKGROUND, "bg2", offset=-300.0, seed=3),
    ]
    st = stitch(pieces, sfreq=250.0, taper_s=0.25)
    assert st.data.shape == (1, 2500 + 5900 + 1280 + 2500)  # 4097 samples at 173.61 Hz -> 5900 at 250 Hz
    # the two consecutive seizure pieces form one event, from the end of bg1 to the start of bg2
    assert st.seizures == [(pytest.approx(10.0), pytest.approx((2500 + 5900 + 1280) / 250.0))]
    assert [p["source"] for p in st.pieces] == ["bg1", "sz1", "sz2", "bg2"]
    assert st.background_s == pytest.approx(20.0)


def test_taper_removes_junction_steps():
    st = stitch(
        [_piece(4.0, 250.0, BACKGROUND, "a", offset=1000.0), _piece(4.0, 250.0, BACKGROUND, "b", offset=-1000.0)],
        sfreq=250.0,
        taper_s=0.25,
    )
    x = st.data[0]
    j = 1000
    assert abs(x[j - 1]) < 1.0 and abs(x[j]) < 1.0  # both sides of the junction near zero
    assert abs(x.mean()) < 5.0  # DC offsets removed
    y = taper(np.ones(100) * 7 + np.arange(100), 10)
    assert y[0] == pytest.approx(0, abs=3) and abs(y[50]) < 50


def test_write_and_read_back_through_realtime_recordings(tmp_path):
    st = stitch([_piece(10.0, 250.0, BACKGROUND, "bg"), _piece(5.0, 250.0, SEIZURE, "sz", amp=200.0)], sfreq=250.0)
    path = write_stitched(st, tmp_path / "rec.npz")
    rec = read_recording(path)
    assert rec.sfreq == 250.0 and rec.data.shape == st.data.shape and rec.ch_names == ["EEG"]
    np.testing.assert_allclose(rec.data, st.data)
    assert [(a, b, lab) for a, b, lab in rec.annotations] == [(pytest.approx(10.0), pytest.approx(15.0), "seizure")]
    meta = json.loads((tmp_path / "rec.json").read_text())
    assert meta["seizures"] == [[10.0, 15.0]] and len(meta["pieces"]) == 2


def test_multichannel_pieces_and_bad_shapes():
    a = Piece(np.zeros((2, 500)) + np.arange(500), 250.0, BACKGROUND, "a")
    st = stitch([a, a], sfreq=250.0, ch_names=["C3", "C4"])
    assert st.data.shape == (2, 1000)
    with pytest.raises(ValueError, match=r"\(3, 500\)"):
        stitch([Piece(np.zeros((3, 500)), 250.0, BACKGROUND, "bad")], ch_names=["C3", "C4"])
    with pytest.raises(ValueError, match="'ictal'"):
        stitch([Piece(np.zeros(500), 250.0, "ictal", "bad")])


def test_interleave_gap_before_every_seizure():
    bg = [_piece(23.6, 250.0, BACKGROUND, f"bg{i}", seed=i) for i in range(3)]
    sz = [[_piece(5.12, 250.0, SEIZURE, f"sz{i}", seed=10 + i)] for i in range(2)]
    st = stitch(interleave(bg, sz, gap_s=95.0), sfreq=250.0)
    assert len(st.seizures) == 2
    assert st.seizures[0][0] >= 95.0
    assert st.seizures[1][0] - st.seizures[0][1] >= 95.0
    assert st.duration_s - st.seizures[1][1] >= 95.0


def test_long_seizures_are_every_seizure_segment_of_the_split_back_to_back(tmp_path):
    """evaluation.recordings' long kinds (docs/background.md "A seizure that goes on"): the split's Bonn S segments
    as one seizure, its New Delhi ictal segments repeated to >= 300 s as one seizure, each after >= 95 s of
    background; the evaluation's own kinds are not among them."""
    from evaluation.recordings import GAP_BEFORE_SEIZURE_S, LONG_KINDS, LONG_SEIZURE_S, build_stitched
    from train.datasets.records import Record

    rng = np.random.default_rng(0)

    def rec(source, subset, i, seconds):
        n = int(seconds * 250)
        label = int(subset in ("S", "ictal"))
        return Record(
            f"{source}/{subset}/{i}",
            f"{source}/{subset}/{i}",
            rng.normal(0, 50, n).astype(np.float32),
            np.full(n, label, np.int8),
            source,
            subset,
        )

    records = [rec("bonn", s, i, 23.6) for s in ("Z", "N", "S") for i in range(4)]
    records += [rec("nscnd", s, i, 5.12) for s in ("interictal", "ictal") for i in range(3)]
    out = build_stitched(records, {r.recording_id for r in records}, tmp_path, "t_", "test", which=LONG_KINDS)
    by = {r.name: r for r in out}
    assert sorted(by) == ["t_intracranial_long_seizure", "t_scalp_long_seizure"]
    (on, off), *more = by["t_intracranial_long_seizure"].seizures
    assert not more and on >= GAP_BEFORE_SEIZURE_S and off - on == pytest.approx(4 * 23.6, abs=0.01)
    (on, off), *more = by["t_scalp_long_seizure"].seizures
    # 3 segments of 5.12 s repeated whole: 20 times (307.2 s), the first >= 300 s
    assert not more and on >= GAP_BEFORE_SEIZURE_S and off - on == pytest.approx(3 * 5.12 * 20, abs=0.01)
    assert LONG_SEIZURE_S <= off - on < LONG_SEIZURE_S + 3 * 5.12


def test_the_chbmit_loop_and_cluster_are_cut_from_the_shipped_excerpts(tmp_path):
    from evaluation.recordings import chbmit_long_seizure

    loop = chbmit_long_seizure(tmp_path, repeats=4)
    assert loop.name == "chbmit_long_seizure" and loop.n_channels == 23
    assert [(round(a, 2), round(b, 2)) for a, b in loop.seizures] == [(30.0, 130.0)]  # 4 x 25 s after 30 s
    assert loop.duration_s == pytest.approx(30 + 100 + 31)
    cluster = chbmit_long_seizure(tmp_path, repeats=3, gap_s=8.0)
    assert cluster.name == "chbmit_cluster_8s" and cluster.path.exists()
    assert [(round(a, 2), round(b, 2)) for a, b in cluster.seizures] == [(30.0, 55.0), (63.0, 88.0), (96.0, 121.0)]
