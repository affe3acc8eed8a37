"""Background negatives (issue #11): the corpus read per person, split by person, written to TFRecord
shards once and streamed into training without a cache.

The corpus here is a tiny fake one written by edfio in the layouts the real one ships (no ../shared):
``eegmmidb/S00N/S00NR0K.edf`` with BCI2000 labels (``Fp1.``, ``Cz..``) at 160 Hz and EDF+ ``T0``
annotations, and ``sleep-edf/SC4011E0-PSG.edf`` with ``EEG Fpz-Cz`` / ``EEG Pz-Oz`` at 100 Hz beside an
EOG lead and a 1 Hz temperature signal, next to its annotation-only hypnogram.

How "no cache" is checked: the dataset's serialized graph (``Dataset._as_serialized_graph()``, a
``GraphDef`` whose nodes and library functions name every tf.data op) has no ``CacheDataset*`` op; the
same check finds ``CacheDatasetV2`` in today's default pipeline, so it can fail.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import edfio
import numpy as np
import pytest
import tensorflow as tf

from train.augment import augment
from train.datasets.background import file_examples, list_files, read_eeg, split_persons
from train.datasets.records import Record
from train.fit import prepare_data
from train.hparams import HParams, load
from train.tfrecords import (
    background_every,
    background_files,
    background_steps_per_epoch,
    make_dataset,
    read_examples,
    write_background_shards,
    write_split,
)

EEG_LABELS = ["Fp1.", "Cz..", "O2.."]
EX, WIN = 1088, 1024  # example samples (window + crop margin) and window, as tiny.toml


def _sig(x, fs, label, unit="uV"):
    return edfio.EdfSignal(x, fs, label=label, physical_dimension=unit, physical_range=(-2000, 2000))


def _eegmmidb_file(path, seed, seconds=20):
    rng = np.random.default_rng(seed)
    t = np.arange(160 * seconds) / 160.0
    sigs = [_sig(20 * rng.normal(size=t.size) + 50 * np.sin(2 * np.pi * 10 * t), 160.0, lab) for lab in EEG_LABELS]
    path.parent.mkdir(parents=True, exist_ok=True)
    edfio.Edf(sigs, annotations=[edfio.EdfAnnotation(0.0, float(seconds), "T0")]).write(path)


def _sleep_files(folder, seconds=20):
    rng = np.random.default_rng(9)
    folder.mkdir(parents=True, exist_ok=True)
    sigs = [_sig(60 * rng.normal(size=100 * seconds), 100.0, lab) for lab in ("EEG Fpz-Cz", "EEG Pz-Oz")]
    sigs.append(_sig(30 * rng.normal(size=100 * seconds), 100.0, "EOG horizontal"))
    sigs.append(_sig(np.full(seconds, 37.0), 1.0, "Temp rectal", unit="DegC"))
    edfio.Edf(sigs).write(folder / "SC4011E0-PSG.edf")
    edfio.Edf([], annotations=[edfio.EdfAnnotation(0.0, 30.0, "Sleep stage W")]).write(
        folder / "SC4011EH-Hypnogram.edf"
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A fake background corpus: 3 eegmmidb persons (2 runs of 20 s each), one Sleep-EDF person."""
    root = tmp_path_factory.mktemp("data") / "background"
    for p in (1, 2, 3):
        for run in (1, 2):
            _eegmmidb_file(root / "eegmmidb" / f"S00{p}" / f"S00{p}R0{run}.edf", seed=10 * p + run)
    _sleep_files(root / "sleep-edf")
    return root


def _ops(ds: tf.data.Dataset) -> set[str]:
    """Every op of a dataset's graph, library functions (interleave, map bodies) included."""
    g = tf.compat.v1.GraphDef()
    g.ParseFromString(ds._as_serialized_graph().numpy())
    return {n.op for n in g.node} | {n.op for f in g.library.function for n in f.node_def}


def _has_cache(ds) -> bool:
    return any(op.startswith("CacheDataset") for op in _ops(ds))


def test_files_persons_windows_labels(corpus):
    files = list_files(corpus)
    assert [(f.source, f.person) for f in files] == [
        ("eegmmidb", "S001"),
        ("eegmmidb", "S001"),
        ("eegmmidb", "S002"),
        ("eegmmidb", "S002"),
        ("eegmmidb", "S003"),
        ("eegmmidb", "S003"),
        ("sleep-edf", "SC401"),  # the hypnogram (annotations only) is not a recording
    ]
    # EEG only, resampled 160 -> 250 Hz: 20 s = 5000 samples, the 10 Hz rhythm still at 10 Hz
    names, data, _ = read_eeg(files[0].path, 250.0)
    assert names == EEG_LABELS and data.shape == (3, 5000) and data.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(data[0] - data[0].mean()))
    assert np.fft.rfftfreq(5000, 1 / 250.0)[spectrum.argmax()] == pytest.approx(10.0, abs=0.1)
    # Sleep-EDF: the two EEG signals at 100 Hz -> 250 Hz; EOG and the 1 Hz temperature left out
    names, data, _ = read_eeg(files[-1].path, 250.0)
    assert names == ["EEG Fpz-Cz", "EEG Pz-Oz"] and data.shape == (2, 5000)
    # examples: every channel, hop 512 -> (5000 - 1088) // 512 + 1 = 8 per channel
    x, rids, offs, left_out = file_examples(files[0], sample_rate_hz=250.0, example_samples=EX, hop_samples=512)
    assert x.shape == (3 * 8, EX) and len(rids) == len(offs) == 24 and left_out == {}
    assert sorted(set(rids)) == sorted(f"eegmmidb/S001/S001R01.edf#{c}" for c in EEG_LABELS)
    _, full, _ = read_eeg(files[0].path, 250.0)
    for xi, rid, off in zip(x, rids, offs, strict=True):  # each example is its channel at its offset
        np.testing.assert_array_equal(xi, full[EEG_LABELS.index(rid.split("#")[1]), off : off + EX])


def test_person_split_and_folds_never_put_a_person_on_two_sides(corpus):
    persons = {f.person: f.source for f in list_files(corpus)}
    # the real corpus' shape: 20 eegmmidb persons and one Sleep-EDF person
    real = {f"S{i:03d}": "eegmmidb" for i in range(1, 21)} | {"SC401": "sleep-edf"}
    for ps in (persons, real):
        split = split_persons(ps, (0.6, 0.2, 0.2), seed=5)
        sides = [set(v) for v in split.values()]
        assert set().union(*sides) == set(ps) and sum(map(len, sides)) == len(ps)
        assert all(split.values()) and split == split_persons(ps, (0.6, 0.2, 0.2), seed=5)
        tested = []
        for fold in range(3):
            f = split_persons(ps, n_folds=3, fold=fold, seed=5)
            assert sum(map(len, f.values())) == len(set().union(*map(set, f.values()))) == len(ps)
            tested += f["test"]
        assert sorted(tested) == sorted(ps)  # every person out of fold exactly once


def test_shards_round_trip_and_are_written_once(corpus, tmp_path):
    kw: dict[str, Any] = {"sample_rate_hz": 250.0, "example_samples": EX, "hop_samples": 512, "shard_examples": 20}
    index = write_background_shards(corpus, tmp_path, **kw)
    assert sorted(index["persons"]) == ["S001", "S002", "S003", "SC401"] and index["skipped"] == []
    s001 = index["persons"]["S001"]
    assert s001["examples"] == 2 * 24 and len(s001["shards"]) == 3  # 48 examples in shards of 20
    written = read_examples(background_files(index, ["S001"]), EX)
    assert len(written) == 48
    expected: dict[tuple[str, int], np.ndarray] = {}
    for f in [f for f in list_files(corpus) if f.person == "S001"]:
        x, rids, offs, _ = file_examples(f, sample_rate_hz=250.0, example_samples=EX, hop_samples=512)
        expected |= {(r, int(o)): xi for xi, r, o in zip(x, rids, offs, strict=True)}
    for ex in written:
        assert (ex["label"], ex["repeat"], ex["source"], ex["group_id"]) == (0, 1, "eegmmidb", "S001")
        np.testing.assert_array_equal(ex["signal_uv"], expected.pop((ex["recording_id"], int(ex["offset"]))))
    assert expected == {}
    sleep = read_examples(background_files(index, ["SC401"]), EX)
    assert {(e["source"], e["group_id"]) for e in sleep} == {("sleep-edf", "SC401")}
    # the same corpus and settings: reused, nothing rewritten; other settings: another folder
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert write_background_shards(corpus, tmp_path, **kw) == index
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == stamp
    other = write_background_shards(corpus, tmp_path, **{**kw, "hop_samples": 1024})
    assert other["dir"] != index["dir"] and other["persons"]["S001"]["examples"] == 2 * 3 * 4
    # each written into a hidden folder of its own and renamed into place: none is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Path(d).name for d in (index["dir"], other["dir"]))


def _seizure_split(tmp_path, n_records=4, n_samples=3000):
    """A training split of seizure-only synthetic records (label 1), so background = label 0."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 50, (n_records, n_samples)).astype(np.float32), np.ones(n_samples, np.int8)
    recs = [Record(f"edf/r{i}", f"g{i}", x[i], y, "edf", "s") for i in range(n_records)]
    summ = write_split(recs, tmp_path, "train", example_samples=EX, hop_samples=128)
    return sorted(str(p) for p in tmp_path.glob("train-*.tfrecord.gz")), summ["examples"]


def test_streaming_pipeline_mixes_at_the_share_without_cache(corpus, tmp_path):
    index = write_background_shards(
        corpus, tmp_path / "cache", sample_rate_hz=250.0, example_samples=EX, hop_samples=256, shard_examples=40
    )
    bg = background_files(index, ["S001", "S002", "SC401"])
    files, n = _seizure_split(tmp_path, n_records=8, n_samples=6000)  # 312 examples: share +- 0.02 (1 sd)
    common: dict[str, Any] = {"example_samples": EX, "window_samples": WIN, "batch_size": 16}
    common |= {"training": True, "seed": 3}
    ds = make_dataset(files, **common, cache=False, background_files=bg, background_share=0.3, drop_remainder=True)
    assert not _has_cache(ds) and "DirectedInterleaveDataset" in _ops(ds)  # sample_from_datasets
    assert _has_cache(make_dataset(files, **common))  # today's pipeline caches: the check can fail
    # endless (neither the stream nor its shuffle buffer restarts each epoch): Keras gets steps per epoch
    assert ds.cardinality() == tf.data.INFINITE_CARDINALITY
    steps = background_steps_per_epoch(n, 0.3, 16)
    assert steps == -(-n * 10 // 7 // 16)  # one pass of the split on average, plus 30 % background
    ys = []
    for x, y in ds.take(steps):
        assert x.shape == (16, WIN) and y["probabilities"].shape == (16, 2)  # drop_remainder: static
        ys.append(y["probabilities"].numpy())
    y = np.concatenate(ys)
    assert y[:, 0].mean() == pytest.approx(0.3, abs=0.06), y[:, 0].mean()
    with pytest.raises(ValueError, match="background_share must be in"):
        make_dataset(files, **common, cache=False, background_files=bg, background_share=1.0)


def test_validation_appends_every_kth_background_example(corpus, tmp_path):
    index = write_background_shards(corpus, tmp_path / "c", sample_rate_hz=250.0, example_samples=EX, hop_samples=512)
    bg = background_files(index, ["S003"])
    n_bg = index["persons"]["S003"]["examples"]
    files, n = _seizure_split(tmp_path, n_records=2)
    every = background_every(n_bg, n, 0.25)
    kw: dict[str, Any] = {"example_samples": EX, "window_samples": WIN, "batch_size": 7}
    kw |= {"training": False, "cache": False}
    ds = make_dataset(files, **kw, background_files=bg, background_every=every)
    y1, y2 = ([y["probabilities"].numpy() for _, y in ds] for _ in range(2))
    y = np.concatenate(y1)
    assert y[:, 1].sum() == n and y[:, 0].sum() == -(-n_bg // every)
    assert y[:, 0].sum() / len(y) == pytest.approx(0.25, abs=0.05)
    np.testing.assert_array_equal(y, np.concatenate(y2))  # a fixed sample, the same every epoch
    assert not _has_cache(ds)


def test_negative_gain_is_wider_than_positive_and_off_by_default(tiny_hp):
    hp = dataclasses.replace(
        tiny_hp.augment,
        enabled=True,
        polarity_flip_prob=0.0,
        noise_std_uv=0.0,
        amplitude_min=0.8,
        amplitude_max=1.25,
        negative_amplitude_min=0.5,
        negative_amplitude_max=4.0,
    )

    def gains(aug_hp, label):
        ds = tf.data.Dataset.from_tensors(tf.ones(WIN + 8)).repeat(300)
        ds = ds.map(lambda x: augment(x, WIN, aug_hp, seed=11, label=tf.constant(label)))  # graph mode
        return np.array([float(x.numpy()[0]) for x in ds])

    neg, pos = gains(hp, 0), gains(hp, 1)
    assert 0.5 - 1e-6 <= neg.min() < 0.7 and 3.0 < neg.max() <= 4.0 + 1e-5
    assert pos.min() >= 0.8 - 1e-6 and pos.max() <= 1.25 + 1e-5
    off = dataclasses.replace(hp, negative_amplitude_min=0.0, negative_amplitude_max=0.0)
    assert gains(off, 0).max() <= 1.25 + 1e-5  # off: negatives get the positives' range


def test_defaults_leave_current_training_unchanged(tiny_hp, synth_records, tmp_path):
    d = HParams()
    assert (d.data.background, d.augment.negative_amplitude_min, d.augment.negative_amplitude_max) == (False, 0, 0)
    assert load(None) == d
    for hp in (d, tiny_hp):  # both off in the default and the tests' configuration
        assert not hp.data.background and hp.augment.negative_amplitude_max == 0
    data = prepare_data(tiny_hp, tmp_path / "no-data-root", tmp_path, records=synth_records)
    assert "background" not in data and "background" not in json.loads((tmp_path / "split.json").read_text())
    assert not (tmp_path / "data" / "background").exists()
    files = sorted(str(p) for p in (tmp_path / "data").glob("train-*.tfrecord.gz"))
    ex = tiny_hp.signal.window_samples + tiny_hp.signal.crop_margin_samples
    ds = make_dataset(files, example_samples=ex, window_samples=WIN, batch_size=8, training=True)
    assert _has_cache(ds) and "DirectedInterleaveDataset" not in _ops(ds)  # cached, nothing mixed in
    # with the negative range off, augment ignores the label: same draws, same output
    x = tf.random.stateless_normal([ex], seed=[1, 2])
    out = []
    for label in (None, 0, 1):
        tf.random.set_seed(4)
        f = tf.function(lambda v, lab=label: augment(v, WIN, tiny_hp.augment, seed=8, label=lab))
        out.append(f(x).numpy())
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])


def test_delta_boost_makes_a_recordings_own_delta_dominant_up_to_the_target():
    """A slow background (docs/background.md "A slow background"; experiments.scaling --slow-background and
    data.background_slow_uv): the recording's own 0.5-4 Hz activity times the
    factor that brings the median channel's 0.5-40 Hz standard deviation to the target; the rest untouched."""
    import scipy.signal

    from train.datasets.background import BROAD_HZ, delta_boost

    rate = 160.0
    t = np.arange(int(60 * rate)) / rate
    rng = np.random.default_rng(1)
    x = np.stack([10 * np.sin(2 * np.pi * 2 * t + k) + 20 * np.sin(2 * np.pi * 10 * t) for k in range(5)])
    x += rng.normal(0, 2, x.shape)
    added, factor = delta_boost(x, rate, 60.0)
    broad = scipy.signal.butter(4, BROAD_HZ, "bandpass", fs=rate, output="sos")
    std = scipy.signal.sosfiltfilt(broad, x + added).std(axis=1)
    assert np.median(std) == pytest.approx(60.0, rel=1e-3)
    # the 2 Hz wave grows to sqrt(60^2 - 20^2 / 2) = 58.3 µV rms beside the 10 Hz rhythm, which is kept as it was
    assert factor == pytest.approx(np.sqrt(60**2 - 20**2 / 2) / (10 / np.sqrt(2)), rel=0.02)
    spectrum = np.abs(np.fft.rfft(added[0]))
    freqs = np.fft.rfftfreq(added.shape[1], 1 / rate)
    assert spectrum[freqs > 6].max() < 0.01 * spectrum.max()  # only the delta is made larger
    none, one = delta_boost(x, rate, 5.0)  # already that large: nothing added
    assert one == 1.0 and not none.any()
    with pytest.raises(ValueError, match=r"0.5-4 Hz activity would have to grow more than 1024x to reach 60.0 uV"):
        delta_boost(np.zeros((2, t.size)), rate, 60.0)  # a flat recording: no delta to make larger, no endless search


def test_a_slow_background_adds_each_file_again_with_its_delta_made_dominant(corpus, tmp_path):
    """data.background_slow_uv: every file once more, its own 0.5-4 Hz activity made larger to the target; the file as
    it comes is still there, unchanged; the shards of the corpus as it comes keep their key."""
    f = list_files(corpus)[0]
    kw: dict[str, Any] = {"sample_rate_hz": 250.0, "example_samples": EX, "hop_samples": 512}
    x, rids, offs, _ = file_examples(f, **kw)
    xs, rids_s, offs_s, _ = file_examples(f, **kw, slow_uv=(150.0,))
    plain = {(r, int(o)): xi for xi, r, o in zip(x, rids, offs, strict=True)}
    slow = {(r, int(o)): xi for xi, r, o in zip(xs, rids_s, offs_s, strict=True) if "@slow150#" in r}
    assert len(xs) == 2 * len(x) and len(slow) == len(x)
    for (rid, off), xi in plain.items():  # the originals, as without it
        np.testing.assert_array_equal(dict(zip(zip(rids_s, offs_s, strict=True), xs, strict=True))[(rid, off)], xi)
    freqs, taper = np.fft.rfftfreq(EX, 1 / 250.0), np.hanning(EX)
    delta, high = (freqs >= 0.5) & (freqs < 4), freqs > 8
    for (rid, off), xi in slow.items():
        before = plain[(rid.replace("@slow150", ""), off)]
        power = [np.abs(np.fft.rfft((v - v.mean()) * taper)) ** 2 for v in (before, xi)]
        assert power[1][delta].sum() > 10 * power[0][delta].sum()  # the delta made dominant
        assert power[1][high].sum() == pytest.approx(power[0][high].sum(), rel=0.1)  # the rest as it was
    plain_index = write_background_shards(corpus, tmp_path, **kw)
    slow_index = write_background_shards(corpus, tmp_path, **kw, slow_uv=[150.0])
    assert slow_index["dir"] != plain_index["dir"] and slow_index["slow_uv"] == [150.0] and "slow_uv" not in plain_index
    assert slow_index["persons"]["S001"]["examples"] == 2 * plain_index["persons"]["S001"]["examples"]
    assert load(None, {"data.background_slow_uv": [100, 150.0]}).data.background_slow_uv == [100, 150.0]
    # a file with nothing to make larger (flat): its slow copy is refused, said so, the file as it comes is kept
    flat = tmp_path / "flat" / "eegmmidb" / "S009" / "S009R01.edf"
    flat.parent.mkdir(parents=True)
    t = np.arange(160 * 20) / 160.0
    sigs = [_sig(np.full(t.size, 1e-3 * k), 160.0, lab) for k, lab in enumerate(EEG_LABELS)]
    edfio.Edf(sigs).write(flat)
    (ff,) = list_files(tmp_path / "flat")
    x, _, _, left_out = file_examples(ff, **kw, slow_uv=(150.0,))
    assert len(x) == 0 and left_out == {"flat": 24}


def test_hparams_refuse_bad_background_settings():
    from train.hparams import HParamsError

    with pytest.raises(HParamsError, match=r"background_share must be in \(0, 1\), got 1.5"):
        load(None, {"data.background": True, "data.background_share": 1.5})
    with pytest.raises(HParamsError, match=r"negative amplitude range .* got 2.0..1.0"):
        load(None, {"augment.negative_amplitude_min": 2.0, "augment.negative_amplitude_max": 1.0})
    with pytest.raises(HParamsError, match="background needs at least one seizure source"):
        load(None, {"data.background": True, "data.sources": []})
    for bad in ([0.0], [-50], ["100"], [float("nan")], 100.0):
        with pytest.raises(HParamsError, match=r"data.background_slow_uv must be a list of positive µV values, got"):
            load(None, {"data.background_slow_uv": bad})


def test_unreadable_background_file_is_skipped_and_listed(corpus, tmp_path):
    root = tmp_path / "background"
    _eegmmidb_file(root / "eegmmidb" / "S001" / "S001R01.edf", seed=1)
    (root / "eegmmidb" / "S002").mkdir()
    (root / "eegmmidb" / "S002" / "S002R01.edf").write_bytes(b"not an EDF")
    index = write_background_shards(root, tmp_path / "c", sample_rate_hz=250.0, example_samples=EX, hop_samples=512)
    assert list(index["persons"]) == ["S001"]
    assert [s["file"] for s in index["skipped"]] == ["eegmmidb/S002/S002R01.edf"]
    assert "not a readable EDF" in index["skipped"][0]["reason"]


def _background_hp(tiny_hp):
    return tiny_hp.replace(
        **{
            "data.background": True,
            "data.background_share": 0.3,
            "data.background_hop_samples": 512,
            "augment.negative_amplitude_min": 0.5,
            "augment.negative_amplitude_max": 4.0,
            "fit.positive_loss_weight": 1.3 / 0.7,  # (1 + s) / (1 - s): the prior kept
        }
    )


def test_prepare_data_splits_background_by_person(tiny_hp, synth_records, corpus, tmp_path):
    """The run's data as run_fit prepares it: split.json names the persons per side, each side's shards."""
    data = prepare_data(_background_hp(tiny_hp), corpus.parent, tmp_path, records=synth_records)
    split = json.loads((tmp_path / "split.json").read_text())["background"]
    sides = {k: set(split[k]) for k in ("train", "validation", "test")}
    assert set().union(*sides.values()) == {"S001", "S002", "S003", "SC401"} and sum(map(len, sides.values())) == 4
    bg = data["background"]
    assert bg["index"]["dir"].startswith(str(tmp_path / "data" / "background"))  # default cache: in the run
    for side in ("train", "validation"):  # each side's shards hold its persons only
        groups = {e["group_id"] for e in read_examples(bg["files"][side], EX)}
        assert groups == sides[side] and len(groups) >= 1


@pytest.mark.slow  # the first step traces the model: ~10-20 s on 2 cores
def test_one_training_step_on_the_mixed_stream(tiny_hp, synth_records, corpus, tmp_path):
    from train.fit import compile_model
    from train.models import build

    hp = _background_hp(tiny_hp)
    bg = prepare_data(hp, corpus.parent, tmp_path, records=synth_records)["background"]
    train_model, _ = build(hp)
    names = compile_model(train_model, hp)
    files = sorted(str(p) for p in (tmp_path / "data").glob("train-*.tfrecord.gz"))
    ds = make_dataset(
        files,
        example_samples=EX,
        window_samples=WIN,
        batch_size=8,
        training=True,
        output_names=names,
        augment_hp=hp.augment,
        cache=False,
        background_files=bg["files"]["train"],
        background_share=hp.data.background_share,
        positive_weight=hp.fit.positive_loss_weight,
    )
    logs = train_model.fit(ds, steps_per_epoch=1, epochs=1, verbose=0, shuffle=False).history
    assert np.isfinite(logs["loss"][0])
