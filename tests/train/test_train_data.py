"""Data: hyper-parameter files, split by recording (no leakage), TFRecord schema, unknown labels, balancing."""

import functools
import json
import math
import operator
import re

import numpy as np
import pytest
import tensorflow as tf

from train.datasets.records import Record, split_records, windows
from train.hparams import HParams, HParamsError, describe, load, parse_override
from train.tfrecords import _example, make_dataset, repeat_table, write_split


def test_hparams_defaults_files_overrides_and_errors(tmp_path):
    hp = load("config/train/default.toml")
    assert hp.signal.sample_rate_hz == 250.0 and hp.signal.window_samples == 1024
    assert hp.scaling.method == "fixed_uv"  # the scalp-transfer proxy's winner (docs/training.md)
    assert (hp.augment.amplitude_min, hp.augment.amplitude_max) == (0.8, 1.25)
    assert HParams().to_dict() == load(None).to_dict()
    hp2 = load(
        "config/train/default.toml", dict([parse_override("fit.epochs=3"), parse_override("scaling.method=asinh_uv")])
    )
    assert hp2.fit.epochs == 3 and hp2.scaling.method == "asinh_uv"
    assert json.loads(json.dumps(hp2.to_dict()))["fit"]["epochs"] == 3
    rows = describe()
    assert all(r.get("unit") and r.get("meaning") for r in rows)
    with pytest.raises(HParamsError, match=r"'fit.epoch'"):
        load(None, {"fit.epoch": 3})
    with pytest.raises(HParamsError, match="'zscore'"):
        load(None, {"scaling.method": "zscore"})
    with pytest.raises(HParamsError, match="'ten'"):
        load(None, {"fit.epochs": "ten"})
    with pytest.raises(HParamsError, match=r"mixup_alpha.*-0.2"):
        load(None, {"augment.mixup_alpha": -0.2})
    # what used to pass, or end in a traceback: a string for a list, a number too large for a float, a list of
    # the wrong elements, no epochs, a learning rate of nan
    with pytest.raises(HParamsError, match=r"band_edges_hz must be a list like \[1.5, .*got 'abc'"):
        load(None, dict([parse_override("filterbank.band_edges_hz=abc")]))
    with pytest.raises(HParamsError, match=r"data\.sources must be a list like"):
        load(None, dict([parse_override("data.sources=edf")]))
    with pytest.raises(HParamsError, match=r"kernel_sizes must be a list like \[9, 25\], got \['x'\]"):
        load(None, {"inception.kernel_sizes": ["x"]})
    with pytest.raises(HParamsError, match=r"scaling.scale_uv must be a finite number, got 1000"):
        load(None, dict([parse_override("scaling.scale_uv=1" + "0" * 400)]))
    with pytest.raises(HParamsError, match=r"fit.epochs, fit.batch_size and fit.val_batch_size must be >= 1, got 0"):
        load(None, {"fit.epochs": 0})
    with pytest.raises(HParamsError, match=r"fit.learning_rate .* got nan"):
        load(None, {"fit.learning_rate": math.nan})
    bad = tmp_path / "bad.toml"
    bad.write_text("[fit]\nepochs = [\n")
    with pytest.raises(HParamsError, match="not valid TOML"):
        load(bad)


def _records(n_groups=30, dup_every=5):
    rng = np.random.default_rng(1)
    recs = []
    for g in range(n_groups):
        label = g % 3 == 0
        src = "bonn" if g % 2 else "nscnd"
        n_members = 2 if g % dup_every == 0 else 1  # duplicates / multi-channel groups
        for m in range(n_members):
            x = rng.normal(0, 20, 3000).astype(np.float32)
            recs.append(
                Record(
                    f"{src}/g{g:02d}_{m}",
                    f"group{g:02d}",
                    x,
                    np.full(3000, int(label), np.int8),
                    src,
                    "S" if label else "Z",
                )
            )
    return recs


def test_split_is_by_group_stratified_and_leak_free(tmp_path):
    recs = _records()
    split = split_records(recs, (0.6, 0.2, 0.2), seed=11)
    assert split == split_records(recs, (0.6, 0.2, 0.2), seed=11)  # fixed seed: reproducible
    assert sorted(functools.reduce(operator.iadd, split.values(), [])) == sorted(r.recording_id for r in recs)
    group_of = {r.recording_id: r.group_id for r in recs}
    groups = {k: {group_of[i] for i in v} for k, v in split.items()}
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["validation"]
    assert not groups["validation"] & groups["test"]
    for part in ("train", "validation", "test"):  # every stratum in every part
        ids = split[part]
        assert {(i.split("/")[0], any(r.label for r in recs if r.recording_id == i)) for i in ids} == {
            ("bonn", True),
            ("bonn", False),
            ("nscnd", True),
            ("nscnd", False),
        }
    # No window of a test recording is in the training shards.
    by_id = {r.recording_id: r for r in recs}
    write_split([by_id[i] for i in split["train"]], tmp_path, "train", example_samples=1280, hop_samples=256)
    seen = set()
    for raw in tf.data.TFRecordDataset(sorted(map(str, tmp_path.glob("train-*.tfrecord.gz"))), compression_type="GZIP"):
        ex = tf.train.Example.FromString(raw.numpy())
        seen.add(ex.features.feature["recording_id"].bytes_list.value[0].decode())
        sig = np.array(ex.features.feature["signal_uv"].float_list.value, np.float32)
        off = ex.features.feature["offset"].int64_list.value[0]
        rid = ex.features.feature["recording_id"].bytes_list.value[0].decode()
        np.testing.assert_array_equal(sig, by_id[rid].signal_uv[off : off + 1280])
    assert seen == set(split["train"])
    test_windows = np.concatenate([windows(by_id[i].signal_uv, 1024, 256) for i in split["test"]])
    train_examples = np.concatenate([windows(by_id[i].signal_uv, 1024, 64) for i in split["train"]])
    assert not ({w.tobytes() for w in test_windows} & {w.tobytes() for w in train_examples})


def test_unknown_label_is_an_error_never_class_0(tmp_path):
    with pytest.raises(ValueError, match="unknown label 2"):
        _example(np.zeros(8, np.float32), 2, 1, "edf", "r", 0)
    # a record whose labels are not 0/1 cannot be made, so it cannot reach the shards either
    with pytest.raises(ValueError, match="unknown label 3"):
        Record("r", "r", np.zeros(3000, np.float32), np.full(3000, 3, np.int8), "edf", "x")
    # a shard written by someone else with label 5: parsing fails loudly
    path = tmp_path / "bad-00000-of-00001.tfrecord.gz"
    feat = {
        "signal_uv": tf.train.Feature(float_list=tf.train.FloatList(value=[0.0] * 1100)),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[5])),
    }
    with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type="GZIP")) as w:
        w.write(tf.train.Example(features=tf.train.Features(feature=feat)).SerializeToString())
    ds = make_dataset([path], example_samples=1100, window_samples=1024, batch_size=1, training=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="unknown label"):
        next(iter(ds))


def test_pipeline_augments_and_balances(tmp_path, tiny_hp):
    rng = np.random.default_rng(2)
    recs = [
        Record(
            f"edf/r{i}",
            f"g{i}",
            rng.normal(0, 20, 2000).astype(np.float32),
            np.full(2000, int(i == 0), np.int8),
            "edf",
            "s",
        )
        for i in range(4)
    ]
    summ = write_split(
        recs,
        tmp_path,
        "train",
        example_samples=1088,
        hop_samples=512,
        balance=True,
        balance_classes=True,
        source_share={},
        max_repeat=10,
    )
    assert summ["per_source_label"]["edf/1"]["per_epoch"] == summ["per_source_label"]["edf/0"]["per_epoch"]
    ds = make_dataset(
        sorted(tmp_path.glob("train-*.tfrecord.gz")),
        example_samples=1088,
        window_samples=1024,
        batch_size=4,
        training=True,
        output_names=("probabilities", "aux_0"),
        augment_hp=tiny_hp.augment,
        seed=1,
    )
    xs, ys = [], []
    for x, y in ds:
        assert x.shape[1] == 1024 and set(y) == {"probabilities", "aux_0"}
        xs.append(x.numpy())
        ys.append(y["probabilities"].numpy())
    y = np.concatenate(ys)  # one-hot [n, 2]
    assert len(y) == summ["examples_per_epoch"] and y[:, 1].sum() * 2 == len(y) and (y.sum(axis=1) == 1).all()
    # augmentation: no example equals a raw crop of its source record (gain, noise, flip applied)
    raw = {w.tobytes() for r in recs for w in windows(r.signal_uv, 1024, 1)}
    assert not any(row.tobytes() in raw for row in np.concatenate(xs))


def test_mixup_mixes_signals_and_labels_alike():
    from train.augment import mixup

    n = 256
    y = tf.one_hot(np.arange(n) % 2, 2)
    # column 0 carries the label, column 1 is 1 everywhere: any mix keeps x[:, 0] == y[:, 1], x[:, 1] == 1
    x = tf.stack([tf.cast(np.arange(n) % 2, tf.float32), tf.ones(n)], axis=1)
    xm, ym = (v.numpy() for v in mixup(x, y, 1.0, seed=3))
    assert xm.shape == (n, 2) and ym.shape == (n, 2)
    np.testing.assert_allclose(xm[:, 0], ym[:, 1], atol=1e-6)
    np.testing.assert_allclose(xm[:, 1], 1.0, atol=1e-6)
    np.testing.assert_allclose(ym.sum(axis=1), 1.0, atol=1e-6)
    assert ((ym[:, 1] > 0.05) & (ym[:, 1] < 0.95)).sum() > n // 4  # Beta(1, 1): mostly real mixes
    # a small alpha keeps most examples close to one of the two
    _, ys = mixup(x, y, 0.05, seed=3)
    assert (np.minimum(ys.numpy()[:, 1], 1 - ys.numpy()[:, 1]) < 0.05).mean() > 0.6


def _alternating_split(tmp_path, *, n_records: int, hop_samples: int, seed: int) -> list:
    """The shard files of a training split of ``n_records`` noise records whose labels alternate 0, 1, 0 ..."""
    rng = np.random.default_rng(seed)
    recs = [
        Record(
            f"edf/r{i}", f"g{i}", rng.normal(0, 20, 2000).astype(np.float32), np.full(2000, i % 2, np.int8), "edf", "s"
        )
        for i in range(n_records)
    ]
    kw = {"balance": False, "balance_classes": False, "source_share": {}, "max_repeat": 1}
    write_split(recs, tmp_path, "train", example_samples=1088, hop_samples=hop_samples, **kw)
    return sorted(tmp_path.glob("train-*.tfrecord.gz"))


def _mixup_labels(tmp_path, tiny_hp, *, training: bool, n_records: int, hop_samples: int, batch_size: int):
    """One-hot labels ``[n, 2]`` of a split of alternating-label records through make_dataset, mixup alpha 1."""
    import dataclasses

    files = _alternating_split(tmp_path, n_records=n_records, hop_samples=hop_samples, seed=3)
    hp = dataclasses.replace(tiny_hp.augment, mixup_alpha=1.0)
    ds = make_dataset(
        files,
        example_samples=1088,
        window_samples=1024,
        batch_size=batch_size,
        training=training,
        augment_hp=hp,
        seed=1,
    )
    return np.concatenate([y["probabilities"].numpy() for _, y in ds])


def test_pipeline_mixup_only_in_training(tmp_path, tiny_hp):
    labels = {
        t: _mixup_labels(tmp_path / str(t), tiny_hp, training=t, n_records=4, hop_samples=512, batch_size=8)
        for t in (True, False)
    }
    soft = lambda y: ((y > 1e-3) & (y < 1 - 1e-3)).any(axis=1)  # noqa: E731
    assert soft(labels[True]).any() and not soft(labels[False]).any()


def test_pipeline_mixup_draws_a_weight_per_example(tmp_path, tiny_hp):
    """Through make_dataset (graph mode), not eagerly: the two gamma draws of Beta(alpha, alpha) must
    differ, else every mix weight is 0.5 and labels are only 0, 0.5 and 1."""
    y1 = _mixup_labels(tmp_path, tiny_hp, training=True, n_records=16, hop_samples=128, batch_size=16)[:, 1]
    soft = y1[(y1 > 1e-3) & (y1 < 1 - 1e-3)]
    assert len(soft) > len(y1) // 4
    assert len(np.unique(np.round(soft, 4))) > len(soft) // 2, np.unique(np.round(y1, 4))


def test_repeat_table_follows_source_shares():
    counts = {("bonn", 0): 400, ("bonn", 1): 100, ("nscnd", 0): 20, ("nscnd", 1): 10}
    table = repeat_table(counts, balance_classes=True, source_share={"bonn": 0.75, "nscnd": 0.25}, max_repeat=100)
    tot = {k: n * table[k] for k, n in counts.items()}
    assert tot[("bonn", 0)] == tot[("bonn", 1)] == 400
    nscnd = tot[("nscnd", 0)] + tot[("nscnd", 1)]
    assert nscnd / (nscnd + 800) == pytest.approx(0.25, abs=0.03)


def test_seeded_augment_draws_are_independent(tiny_hp):
    """augment(seed=...) inside tf.data: the flip, the gain and the crop must not share one draw."""
    import dataclasses

    from train.augment import augment

    hp = dataclasses.replace(
        tiny_hp.augment, enabled=True, polarity_flip_prob=0.5, amplitude_min=0.5, amplitude_max=2.0, noise_std_uv=0.0
    )
    ds = tf.data.Dataset.from_tensors(tf.ones(1024)).repeat(400)
    ds = ds.map(lambda x: augment(x, 1024, hp, seed=5))
    v = np.array([float(x.numpy()[0]) for x in ds])
    gain, flipped = np.abs(v), v < 0
    assert 0.3 < flipped.mean() < 0.7
    low = gain < np.median(gain)
    # both signs at low and at high gains (one shared uniform draw flips only the low gains)
    assert 0.25 < flipped[low].mean() < 0.75 and 0.25 < flipped[~low].mean() < 0.75


def _weighted_batches(tmp_path, tiny_hp, *, training: bool, positive_weight: float, mixup_alpha: float = 0.0):
    import dataclasses

    ds = make_dataset(
        _alternating_split(tmp_path, n_records=8, hop_samples=256, seed=5),
        example_samples=1088,
        window_samples=1024,
        batch_size=8,
        training=training,
        output_names=("probabilities", "aux_0"),
        augment_hp=dataclasses.replace(tiny_hp.augment, mixup_alpha=mixup_alpha),
        seed=1,
        positive_weight=positive_weight,
    )
    return list(ds)


@pytest.mark.parametrize("mixup_alpha", [0.0, 1.0])
def test_positive_loss_weight_weighs_seizure_examples_in_training_only(tmp_path, tiny_hp, mixup_alpha):
    batches = _weighted_batches(tmp_path, tiny_hp, training=True, positive_weight=5 / 3, mixup_alpha=mixup_alpha)
    for _, y, w in batches:  # one weight per example and head, in proportion to the (soft) seizure label
        assert set(w) == set(y) == {"probabilities", "aux_0"}
        for name in y:
            np.testing.assert_allclose(w[name].numpy(), 1 + (2 / 3) * y[name].numpy()[:, 1], rtol=1e-6)
    w = np.concatenate([b[2]["probabilities"].numpy() for b in batches])
    assert 1 - 1e-6 <= w.min() < 1.1 and 1.55 < w.max() <= 5 / 3 + 1e-6  # both classes drawn
    for t, pw in ((False, 5 / 3), (True, 1.0)):  # validation, and the default weight 1: no weights at all
        assert all(
            len(b) == 2 for b in _weighted_batches(tmp_path / f"{t}{pw}", tiny_hp, training=t, positive_weight=pw)
        )


def test_positive_loss_weight_is_validated():
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(HParamsError, match=r"positive_loss_weight.*" + re.escape(repr(bad))):
            load(None, {"fit.positive_loss_weight": bad})
    assert load("config/train/default.toml").fit.positive_loss_weight == 1.0


def test_keras_applies_the_weights_per_head_as_the_loss_expects(tmp_path, tiny_hp):
    """The training loss is sum over heads of head weight x mean over the batch of w x crossentropy."""
    import keras

    (x, y, w), *_ = _weighted_batches(tmp_path, tiny_hp, training=True, positive_weight=3.0)
    x = x.numpy() / 1000.0  # µV at this scale would saturate the random heads' softmax (log 0)
    keras.utils.set_random_seed(0)
    inp = keras.Input((1024,))
    heads = {n: keras.layers.Dense(2, activation="softmax", name=n)(inp) for n in ("probabilities", "aux_0")}
    model = keras.Model(inp, heads)
    model.compile(
        loss=dict.fromkeys(heads, "categorical_crossentropy"), loss_weights={"probabilities": 1.0, "aux_0": 0.3}
    )
    loss = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)["loss"]
    pred = model.predict(x, verbose=0)
    ce = {n: -np.sum(y[n].numpy() * np.log(pred[n]), axis=1) for n in heads}
    expect = sum(lw * np.mean(w[n].numpy() * ce[n]) for n, lw in (("probabilities", 1.0), ("aux_0", 0.3)))
    assert loss == pytest.approx(expect, rel=1e-4)
    assert loss != pytest.approx(
        sum(lw * np.mean(ce[n]) for n, lw in (("probabilities", 1.0), ("aux_0", 0.3))), rel=1e-3
    )
