"""Training leaves out the examples whose window the daemon would leave out (flat, clipped, implausible,
non-finite: ``realtime.quality.channel_quality``, one rule for both), counts them by reason in the split's
summary, and keeps the balancing counts exact (the corpus' selection gives the same counts without reading a
sample again). Clipping is marked before resampling: after it a clipped stretch rings and no longer sits at
the window's extremes."""

from __future__ import annotations

import collections

import edfio
import numpy as np
import tensorflow as tf

from realtime.quality import channel_quality
from train.datasets.background import file_examples, list_files
from train.datasets.edf import list_edf
from train.datasets.records import (
    Record,
    example_quality,
    example_starts,
    loaded,
    rail_mask,
    resample_to,
    training_examples,
)
from train.tfrecords import corpus_split, read_examples, shard_files, write_background_shards, write_corpus, write_split

EX, HOP = 1280, 512
FS_IN, FS = 256.0, 250.0
RAIL_UV = 5000.0


def _stretches(rng, seconds_each: int = 20) -> tuple[np.ndarray, list[str | None]]:
    """Native µV at FS_IN: EEG, a flat line, EEG clipped at the rails, an electrode off the skin (3400 µV), EEG;
    and what the daemon says of a window inside each stretch."""
    n = int(seconds_each * FS_IN)
    eeg = lambda: rng.normal(0, 30, n)  # noqa: E731
    # the converter's rails at +-5000 µV: a saturated amplifier sits on them; an electrode off the skin swings
    # wide (3400 µV) and only now and then reaches them
    clipped = np.clip(rng.normal(0, 6000, n), -RAIL_UV, RAIL_UV)  # 40 % of the samples on the rails
    off_skin = np.clip(rng.normal(0, 2500, n), -RAIL_UV, RAIL_UV)  # 5 %
    parts = [eeg(), np.full(n, 12.5), clipped, off_skin, eeg()]
    return np.concatenate(parts), [None, "flat", "railed", "implausible", None]


def _native_windows(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The native window of each model-rate example, as the daemon would check it."""
    first = np.rint(starts * FS_IN / FS).astype(int)
    length = int(round(EX * FS_IN / FS))
    return np.stack([x[f : f + length] for f in first])


def test_examples_are_left_out_where_the_daemons_rule_leaves_their_windows_out():
    native, _ = _stretches(np.random.default_rng(0))
    x = resample_to(native, FS_IN, FS)
    rails = np.flatnonzero(rail_mask(native, FS_IN, FS, len(x)))
    starts = example_starts(len(x), EX, HOP)
    want = channel_quality(_native_windows(native, starts))[0]  # the daemon, on the samples as recorded
    got = example_quality(x, rails, starts, EX)
    assert got == want
    # 47 examples of 5.12 s every 2.048 s over five 20-s stretches (those across two: the rule's first finding)
    assert collections.Counter(got) == {None: 19, "flat": 8, "railed": 11, "implausible": 9}
    # clipping cannot be judged after resampling: the clipped stretch rings, off its extremes
    assert "railed" not in example_quality(x, None, starts, EX)


def test_rail_mask_marks_the_clipped_samples_only():
    rng = np.random.default_rng(1)
    native = rng.normal(0, 30, 2560)
    free = rail_mask(native, FS_IN, FS, 2500)
    assert free.sum() <= 2  # an unclipped recording: its one maximum and one minimum
    native[1000:1300] = native.max()
    mask = rail_mask(native, FS_IN, FS, 2500)
    assert mask[int(1010 * FS / FS_IN) : int(1290 * FS / FS_IN)].all() and mask.sum() < 310
    assert not rail_mask(np.zeros(0), FS_IN, FS, 3).any()


def _edf(path, rng) -> None:
    """Two channels: C3 with the stretches (flat, clipped, off the skin), C4 clean; the physical range is the
    converter's: the clipped stretch sits exactly on it as written."""
    native, _ = _stretches(rng)
    clean = rng.normal(0, 30, native.size)
    edfio.Edf(
        [
            edfio.EdfSignal(
                native, FS_IN, label="EEG C3-REF", physical_dimension="uV", physical_range=(-RAIL_UV, RAIL_UV)
            ),
            edfio.EdfSignal(
                clean, FS_IN, label="EEG C4-REF", physical_dimension="uV", physical_range=(-RAIL_UV, RAIL_UV)
            ),
        ]
    ).write(path)
    path.with_suffix(".csv").write_text("onset_s,offset_s\n85,100\n")  # the last stretch: seizure


def test_a_split_of_real_edf_files_leaves_them_out_counted_and_a_corpus_selects_the_same(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(2):
        _edf(tmp_path / f"r{i}.edf", rng)
    listed = [c for i in range(2) for c in list_edf(tmp_path / f"r{i}.edf", sample_rate_hz=FS)]
    own = write_split(listed, tmp_path / "own", "train", example_samples=EX, hop_samples=HOP, shard_examples=8)
    assert set(own["left_out"]) == {"flat", "railed", "implausible"}  # C3's; C4 is clean
    written = read_examples(shard_files(tmp_path / "own", "train"), EX)
    kept = {(r.recording_id, off) for r in loaded(listed) for off, _, _ in training_examples(r, EX, HOP)}
    assert {(e["recording_id"], int(e["offset"])) for e in written} == kept
    total = sum(len(example_starts(c.n_samples, EX, HOP)) for c in listed)
    assert own["examples"] == len(written) == total - sum(own["left_out"].values())
    for e in written:  # every example written is one the daemon would score
        assert channel_quality(np.asarray(e["signal_uv"], np.float64)[None])[0] == [None]
    corpus = write_corpus(listed, tmp_path / "cache", example_samples=EX, hop_samples=HOP, shard_examples=8)
    sel = corpus_split(listed, corpus, "train")
    for key in ("examples", "per_source_label", "left_out"):
        assert sel[key] == own[key], key
    assert sum(1 for _ in tf.data.TFRecordDataset(corpus["files"], compression_type="GZIP")) == own["examples"]


def test_a_bipolar_derivation_of_a_clipped_input_is_left_out_as_the_daemon_leaves_it(tmp_path):
    rng = np.random.default_rng(3)
    n = int(40 * FS_IN)
    fp1 = np.clip(rng.normal(0, 300, n), -250, 250)  # clipped throughout
    sigs = [edfio.EdfSignal(fp1, FS_IN, label="Fp1", physical_dimension="uV", physical_range=(-250, 250))]
    for label in ("F7", "T3", "F3", "C3"):
        sigs.append(
            edfio.EdfSignal(
                rng.normal(0, 30, n), FS_IN, label=label, physical_dimension="uV", physical_range=(-500, 500)
            )
        )
    edfio.Edf(sigs).write(tmp_path / "b.edf")
    listed = list_edf(tmp_path / "b.edf", sample_rate_hz=FS, montage="bipolar")
    kept = collections.Counter(r.recording_id for r in loaded(listed) for _ in training_examples(r, EX, HOP))
    assert {c.recording_id.split("#")[1] for c in listed} == {"Fp1-F7", "F7-T7", "Fp1-F3", "F3-C3"}
    assert all(kept[c.recording_id] == 0 for c in listed if "Fp1" in c.recording_id)  # every window railed
    assert all(kept[c.recording_id] > 0 for c in listed if "Fp1" not in c.recording_id)


def test_background_examples_the_daemon_would_leave_out_are_not_written(tmp_path):
    rng = np.random.default_rng(4)
    root = tmp_path / "background"
    (root / "eegmmidb" / "S001").mkdir(parents=True)
    n = int(30 * 160)
    flat_half = np.concatenate([rng.normal(0, 30, n // 2), np.full(n - n // 2, 5.0)])
    edfio.Edf(
        [
            edfio.EdfSignal(flat_half, 160.0, label="C3..", physical_dimension="uV", physical_range=(-500, 500)),
            edfio.EdfSignal(
                rng.normal(0, 30, n), 160.0, label="C4..", physical_dimension="uV", physical_range=(-500, 500)
            ),
        ]
    ).write(root / "eegmmidb" / "S001" / "S001R01.edf")
    f = list_files(root)[0]
    x, rids, _, left_out = file_examples(f, sample_rate_hz=FS, example_samples=EX, hop_samples=HOP)
    per_channel = (int(30 * FS) - EX) // HOP + 1
    assert set(left_out) == {"flat"} and len(x) == 2 * per_channel - left_out["flat"]
    assert all(channel_quality(xi[None].astype(np.float64))[0] == [None] for xi in x)
    assert rids.count("eegmmidb/S001/S001R01.edf#C4..") == per_channel  # the clean channel whole
    index = write_background_shards(root, tmp_path / "cache", sample_rate_hz=FS, example_samples=EX, hop_samples=HOP)
    assert index["persons"]["S001"]["left_out"] == left_out and index["persons"]["S001"]["examples"] == len(x)


def test_a_record_refuses_rail_samples_outside_it():
    import pytest

    with pytest.raises(ValueError, match=r"rail_samples must be sorted positions in \[0, 4\), got array\(\[2, 4\]\)"):
        Record("r", "r", np.zeros(4, np.float32), np.zeros(4, np.int8), "edf", "s", rail_samples=np.array([2, 4]))


def test_test_scoring_leaves_out_the_windows_the_daemon_leaves_out():
    """The test split's window probabilities: NaN (not predicted, not scored) where the daemon would not score."""
    from train.scoring import finite_lists, score, window_probabilities, window_starts

    rng = np.random.default_rng(5)
    native, _ = _stretches(rng)
    x = resample_to(native, FS_IN, FS).astype(np.float32)
    rails = np.flatnonzero(rail_mask(native, FS_IN, FS, len(x)))
    sz = Record("edf/a.edf#C3", "a", x, np.ones(len(x), np.int8), "edf", "seizure", rail_samples=rails)
    clean = rng.normal(0, 30, len(x)).astype(np.float32)
    bg = Record("edf/b.edf#C3", "b", clean, np.zeros(len(x), np.int8), "edf", "background")
    shown: list[int] = []

    def predict(w):
        shown.append(len(w))
        return np.full(len(w), 0.7)

    probs = window_probabilities(predict, [sz, bg], 1024, 256)
    starts = window_starts(len(x), 1024, 256)
    left = [why is not None for why in example_quality(x, rails, starts, 1024)]
    assert np.isnan(probs[sz.recording_id][left]).all() and (probs[sz.recording_id][~np.array(left)] == 0.7).all()
    assert not np.isnan(probs[bg.recording_id]).any()
    assert sum(shown) == 2 * len(starts) - sum(left)  # the windows left out were never predicted
    m = score([sz, bg], probs, 1024, 256)["edf_seizure_vs_rest"]
    assert m["windows_left_out"] == sum(left) and m["window"]["n"] == 2 * len(starts) - sum(left)
    assert finite_lists(probs)[sz.recording_id].count(None) == sum(left)  # JSON: null, not NaN
