"""TFRecord shards (GZIP) of training examples and the tf.data input pipeline.

Schema (one ``tf.train.Example`` per example; see docs/training.md):

| feature | type | meaning |
|---|---|---|
| ``signal_uv`` | float list, length ``example_samples`` | µV at the model rate (window + crop margin) |
| ``label`` | int64 | 0 non_seizure, 1 seizure; anything else is an error when parsed |
| ``repeat`` | int64 >= 1 | how often the example is drawn per epoch (class/source balancing) |
| ``source`` | bytes | ``bonn``, ``nscnd``, ``edf`` |
| ``recording_id`` | bytes | the recording the example was cut from |
| ``offset`` | int64 | first sample of the example in the recording |

Shards: ``<dir>/<split>-00000-of-00003.tfrecord.gz``; ``<dir>/<split>.json`` records the count,
``example_samples`` and the schema version. ``<dir>`` is a local path or any URL that
``tf.io.gfile`` reads and writes (``gs://...``, ``ram://...``): it is kept as a string and every
file goes through ``tf.io.gfile`` / TensorFlow's record I/O. Defaults come from train/hparams.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from train.augment import augment, center_crop, mixup
from train.datasets.records import Record, check_label, training_examples
from train.hparams import AugmentHP, DataHP, FitHP

_DATA = DataHP()

SCHEMA_VERSION = 1


def _example(signal_uv: np.ndarray, label: int, repeat: int, source: str, recording_id: str, offset: int) -> bytes:
    check_label(label)
    if int(repeat) < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat!r}")
    f = {
        "signal_uv": tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(signal_uv, np.float32))),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        "repeat": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(repeat)])),
        "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[source.encode()])),
        "recording_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[recording_id.encode()])),
        "offset": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(offset)])),
    }
    return tf.train.Example(features=tf.train.Features(feature=f)).SerializeToString()


def balance_repeats(examples, *, balance_classes: bool, source_share: dict, max_repeat: int) -> list[int]:
    """Repeat counts per example: equal class weight within each source, then source shares.

    ``examples``: list of ``(source, label)``. Returns ints in [1, max_repeat].
    """
    counts: dict[tuple, int] = {}
    for s, y in examples:
        counts[(s, y)] = counts.get((s, y), 0) + 1
    cls_rep = {}
    for (s, y), n in counts.items():
        biggest = max(m for (s2, _), m in counts.items() if s2 == s)
        cls_rep[(s, y)] = max(1, round(biggest / n)) if balance_classes else 1
    totals: dict[str, int] = {}
    for (s, y), n in counts.items():
        totals[s] = totals.get(s, 0) + n * cls_rep[(s, y)]
    src_rep = dict.fromkeys(totals, 1.0)
    shares = {s: float(source_share.get(s, 0.0)) for s in totals}
    if all(v > 0 for v in shares.values()) and len(totals) > 1:
        # Scale every source up to the one that is largest relative to its share.
        ref = max(totals[s] / shares[s] for s in totals)
        src_rep = {s: ref * shares[s] / totals[s] for s in totals}
    return [int(min(max_repeat, max(1, round(cls_rep[(s, y)] * src_rep[s])))) for s, y in examples]


def join(base: Path | str, *parts: str) -> str:
    """``base/part/...`` as a string; ``base`` may be a URL (``gs://b/run``), which ``pathlib`` would mangle."""
    return "/".join([str(base).rstrip("/"), *parts])


def write_split(
    records: list[Record],
    out_dir: Path | str,
    split: str,
    *,
    example_samples: int,
    hop_samples: int,
    shard_examples: int = _DATA.shard_examples,
    balance: bool = False,
    balance_classes: bool = _DATA.balance_classes,
    source_share: dict | None = None,
    max_repeat: int = _DATA.max_repeat,
) -> dict:
    """Cut examples from ``records`` and write GZIP shards into ``out_dir`` (a local path or a
    ``tf.io.gfile`` URL); returns the split's summary dict. ``source_share`` None = ``DataHP``'s default."""
    if source_share is None:
        source_share = _DATA.source_share
    out_dir = str(out_dir)
    tf.io.gfile.makedirs(out_dir)
    items = []
    for r in records:
        for off, x, y in training_examples(r, example_samples, hop_samples):
            items.append((x, y, r.source, r.recording_id, off))
    if balance:
        reps = balance_repeats(
            [(s, y) for _, y, s, _, _ in items],
            balance_classes=balance_classes,
            source_share=source_share,
            max_repeat=max_repeat,
        )
    else:
        reps = [1] * len(items)
    n_shards = max(1, -(-len(items) // shard_examples))
    names = [f"{split}-{i:05d}-of-{n_shards:05d}.tfrecord.gz" for i in range(n_shards)]
    opts = tf.io.TFRecordOptions(compression_type="GZIP")
    writers = [tf.io.TFRecordWriter(join(out_dir, n), opts) for n in names]
    try:
        for i, ((x, y, s, rid, off), rep) in enumerate(zip(items, reps, strict=False)):
            writers[i % n_shards].write(_example(x, y, rep, s, rid, off))
    finally:
        for w in writers:
            w.close()
    per: dict[str, list[int]] = {}
    for (_, y, s, _, _), rep in zip(items, reps, strict=False):
        k = f"{s}/{y}"
        per.setdefault(k, [0, 0])
        per[k][0] += 1
        per[k][1] += rep
    summary = {
        "schema_version": SCHEMA_VERSION,
        "split": split,
        "examples": len(items),
        "examples_per_epoch": int(sum(reps)),
        "example_samples": example_samples,
        "per_source_label": {k: {"examples": v[0], "per_epoch": v[1]} for k, v in sorted(per.items())},
        "shards": names,
    }
    with tf.io.gfile.GFile(join(out_dir, f"{split}.json"), "w") as f:
        f.write(json.dumps(summary, indent=2))
    return summary


def shard_files(data_dir: Path | str, split: str) -> list[str]:
    """The sorted shard paths of ``split`` in ``data_dir`` (a local path or a ``tf.io.gfile`` URL)."""
    return sorted(tf.io.gfile.glob(join(data_dir, f"{split}-*.tfrecord.gz")))


def parse_fn(example_samples: int):
    spec = {
        "signal_uv": tf.io.FixedLenFeature([example_samples], tf.float32),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "repeat": tf.io.FixedLenFeature([], tf.int64, default_value=1),
        "source": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "recording_id": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "offset": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }

    def parse(serialized):
        ex = tf.io.parse_single_example(serialized, spec)
        label = ex["label"]
        tf.debugging.assert_greater_equal(label, tf.constant(0, tf.int64), message="unknown label (expected 0 or 1)")
        tf.debugging.assert_less_equal(label, tf.constant(1, tf.int64), message="unknown label (expected 0 or 1)")
        return ex["signal_uv"], tf.cast(label, tf.int32), ex["repeat"]

    return parse


def make_dataset(
    files,
    *,
    example_samples: int,
    window_samples: int,
    batch_size: int,
    training: bool,
    output_names=("probabilities",),
    augment_hp=None,
    seed: int = FitHP.seed,
    shuffle_buffer: int = 20000,
    drop_remainder: bool = False,
    cache: bool = True,
) -> tf.data.Dataset:
    """GZIP shards -> batches of ``(x [batch, window_samples], {name: y [batch, 2]})``, ``y`` one-hot
    (soft when mixed up).

    ``files``: local paths or ``tf.io.gfile`` URLs. Parallel reads and parsing, cache, (training)
    per-example repeat + shuffle + augmentation,
    batch, (training, ``augment_hp.mixup_alpha > 0``) mixup within the batch, prefetch.
    """
    files = [str(f) for f in files]
    if not files:
        raise ValueError("make_dataset: no TFRecord files given")
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE)
    ds = ds.map(parse_fn(example_samples), num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.flat_map(lambda x, y, r: tf.data.Dataset.from_tensors((x, y)).repeat(r))
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        hp = augment_hp if augment_hp is not None else AugmentHP(enabled=False)

        def aug(x, y):
            return augment(x, window_samples, hp), y

        ds = ds.map(aug, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y, r: (center_crop(x, window_samples), y), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(lambda x, y: (tf.ensure_shape(x, [window_samples]), tf.one_hot(y, 2)))
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if training and hp.mixup_alpha > 0:
        ds = ds.map(lambda x, y: mixup(x, y, hp.mixup_alpha, seed), num_parallel_calls=tf.data.AUTOTUNE)
    names = tuple(output_names)
    ds = ds.map(lambda x, y: (x, dict.fromkeys(names, y)))
    opts = tf.data.Options()
    # Shard by example under multi-worker strategies: works with any number of shard files.
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(opts).prefetch(tf.data.AUTOTUNE)
