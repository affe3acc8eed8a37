"""A corpus of shards written once (``--shard-cache``; cross-validation's default): every recording's examples
in one set of shards, each split a selection of it (its recording groups, its balancing repeats) applied as
the shards are read. The same examples, the same repeats and counts as a split's own shards; written once
for every fold and run of the same recordings and settings, again when a recording changes."""

from __future__ import annotations

import collections
import hashlib

import edfio
import numpy as np
import tensorflow as tf

from train.datasets.edf import list_edf
from train.datasets.records import Record, split_records
from train.tfrecords import (
    corpus_key,
    corpus_split,
    make_dataset,
    parse_serialized,
    shard_files,
    write_corpus,
    write_split,
)

EX, HOP = 1280, 256
BALANCE = {"balance": True, "balance_classes": True, "source_share": {"edf": 0.5, "nscnd": 0.5}, "max_repeat": 40}


def _multiset(files, select=None) -> collections.Counter:
    """``(sha of the samples, label, repeat)`` of every example the shards give (with ``select``: its selection)."""
    ds = parse_serialized(tf.data.TFRecordDataset(files, compression_type="GZIP"), EX, select=select)
    return collections.Counter((hashlib.sha1(x.numpy().tobytes()).hexdigest(), int(y), int(r)) for x, y, r in ds)


def test_a_corpus_split_gives_the_examples_and_repeats_of_the_splits_own_shards(synth_records, tmp_path):
    split = split_records(synth_records, (0.6, 0.2, 0.2), seed=3)
    by_id = {r.recording_id: r for r in synth_records}
    corpus = write_corpus(synth_records, tmp_path / "cache", example_samples=EX, hop_samples=HOP, shard_examples=16)
    assert corpus["examples"] == sum(1 for _ in tf.data.TFRecordDataset(corpus["files"], compression_type="GZIP"))
    for name, balance in (("train", BALANCE), ("validation", {})):
        recs = [by_id[i] for i in split[name]]
        own = write_split(
            recs, tmp_path / "own", name, example_samples=EX, hop_samples=HOP, shard_examples=16, **balance
        )
        sel = corpus_split(recs, corpus, name, **balance)
        for key in ("examples", "examples_per_epoch", "per_source_label"):
            assert sel[key] == own[key], key
        assert sel["shards"] == corpus["files"] and sel["select"]["groups"] == sorted({r.group_id for r in recs})
        want = _multiset(shard_files(tmp_path / "own", name))
        assert _multiset(corpus["files"], sel["select"]) == want and sum(want.values()) == own["examples"]
        if name == "train":  # the balancing repeats are the split's, not the corpus' (1)
            assert {r for _, _, r in want} != {1}
    # the training pipeline draws each example its repeat times per epoch, as from the split's own shards
    recs = [by_id[i] for i in split["train"]]
    sel = corpus_split(recs, corpus, "train", **BALANCE)
    ds = make_dataset(
        sel["shards"], example_samples=EX, window_samples=1024, batch_size=7, training=True, select=sel["select"]
    )
    labels = np.concatenate([y["probabilities"].numpy().argmax(axis=1) for _, y in ds])
    per = sel["per_source_label"]
    assert len(labels) == sel["examples_per_epoch"]
    assert int(labels.sum()) == sum(v["per_epoch"] for k, v in per.items() if k.endswith("/1"))
    empty = corpus_split([], corpus, "validation")
    assert empty["examples"] == 0 and not _multiset(corpus["files"], empty["select"])


def test_the_corpus_is_written_once_and_again_when_a_recording_changes(synth_records, tmp_path):
    kw = {"example_samples": EX, "hop_samples": HOP, "shard_examples": 16}
    first = write_corpus(synth_records, tmp_path, **kw)
    stamps = {f: tf.io.gfile.stat(f).mtime_nsec for f in first["files"]}
    again = write_corpus(synth_records, tmp_path, **kw)
    assert again["dir"] == first["dir"] and {f: tf.io.gfile.stat(f).mtime_nsec for f in again["files"]} == stamps
    r0 = synth_records[0]
    changed = [
        Record(r0.recording_id, r0.group_id, r0.signal_uv * 2, r0.labels, r0.source, r0.subset),
        *synth_records[1:],
    ]
    assert write_corpus(changed, tmp_path, **kw)["dir"] != first["dir"]
    assert write_corpus(synth_records, tmp_path, **{**kw, "hop_samples": 512})["dir"] != first["dir"]
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("corpus-")]) == 3  # one per content


def test_an_edf_file_listed_without_its_samples_is_known_by_its_size_and_time(tmp_path):
    """Lazy EDF channels are keyed by the file as listed (size, modification time), not by reading it."""
    path = tmp_path / "rec.edf"

    def write(scale: float) -> None:
        x = np.random.default_rng(0).normal(0, 20, 256 * 12) * scale
        edfio.Edf([edfio.EdfSignal(x, 256, label="EEG C3-REF", physical_dimension="uV")]).write(path)

    write(1.0)
    settings = {"example_samples": EX, "hop_samples": HOP}
    key = corpus_key(list_edf(path), settings)
    assert corpus_key(list_edf(path), settings) == key
    write(3.0)  # the same layout, other samples: another modification time
    assert corpus_key(list_edf(path), settings) != key


def test_two_runs_writing_one_corpus_at_once_do_not_mix_their_shards(synth_records, tmp_path, monkeypatch):
    """Each writes into a hidden folder of its own and renames it into place; the one that finishes second
    finds the corpus there, drops its copy and uses the first's. Here the other run finishes while this one
    writes (write_split, wrapped to let it write the same corpus into place first)."""
    import train.tfrecords as tfr

    kw = {"example_samples": EX, "hop_samples": HOP, "shard_examples": 16}
    real = tfr.write_split
    stamps: dict[str, int] = {}
    final = tmp_path / f"corpus-{corpus_key(synth_records, {**kw, 'quality': tfr.QUALITY})}"

    def other_run_first(records, out_dir, split, **opts):
        if not final.exists():
            real(records, final, split, **opts)  # the other run's corpus, complete, in place
            (final / "written-by").write_text("the other run")
            stamps.update({f.name: f.stat().st_mtime_ns for f in final.iterdir()})
        return real(records, out_dir, split, **opts)

    monkeypatch.setattr(tfr, "write_split", other_run_first)
    corpus = write_corpus(synth_records, tmp_path, **kw)
    assert corpus["dir"] == str(final)
    assert {f.name: f.stat().st_mtime_ns for f in final.iterdir()} == stamps  # the first's, not rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == [final.name]  # this run's hidden copy is gone
    assert sum(_multiset(corpus["files"]).values()) == corpus["examples"]
    monkeypatch.setattr(tfr, "write_split", real)
    again = write_corpus(synth_records, tmp_path / "alone", **kw)  # alone: renamed into place, nothing hidden left
    assert [p.name for p in (tmp_path / "alone").iterdir()] == [final.name] and again["examples"] == corpus["examples"]
