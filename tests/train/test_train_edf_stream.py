"""A corpus larger than memory: the ``edf`` source listed from headers (``EdfChannel``), its samples read one
file at a time when the split is written (``write_split``'s two passes) and scored, the shards dealt so that
each mixes many recordings (``shard_plan``), and the training split streamed from them, never cached.

Real EDF files written by edfio; memory measured with tracemalloc (numpy reports its buffers to it)."""

from __future__ import annotations

import gc
import subprocess
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

import edfio
import numpy as np
import pytest
import tensorflow as tf

from train.datasets.edf import EdfChannel, list_edf, load_edf_paths
from train.datasets.records import (
    Record,
    example_labels,
    example_starts,
    loaded,
    resample_to,
    resampled_length,
    training_examples,
)
from train.scoring import window_probabilities
from train.tfrecords import make_dataset, read_examples, shard_plan, write_split

EX, WIN = 1280, 1024


def _edf(path, *, seconds=60, fs=256.0, n_eeg=4, seizure_s=None, seed=0):
    """``n_eeg`` EEG channels and an ECG lead (never a training record), a CSV sidecar for ``seizure_s``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fs)
    sigs = [
        edfio.EdfSignal(
            rng.normal(0, 30, n), fs, label=f"EEG C{k}-REF", physical_dimension="uV", physical_range=(-500, 500)
        )
        for k in range(n_eeg)
    ]
    sigs.append(
        edfio.EdfSignal(rng.normal(0, 0.5, n), fs, label="ECG EKG", physical_dimension="mV", physical_range=(-5, 5))
    )
    edfio.Edf(sigs).write(path)
    if seizure_s:
        path.with_suffix(".csv").write_text(f"onset_s,offset_s\n{seizure_s[0]},{seizure_s[1]}\n")
    return path


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    for i in range(6):
        _edf(root / f"p{i}.edf", seizure_s=(12.5, 41.0) if i % 2 else None, seed=i)
    return root


@pytest.mark.parametrize("fs_in", [100.0, 160.0, 173.61, 200.0, 250.0, 256.0, 500.0])
@pytest.mark.parametrize("n", [1, 999, 4097, 15360])
def test_resampled_length_is_the_length_resample_to_gives(fs_in, n):
    assert resampled_length(n, fs_in, 250.0) == len(resample_to(np.zeros(n), fs_in, 250.0))


def test_example_labels_are_the_majority_of_each_examples_samples():
    rng = np.random.default_rng(0)
    labels = (rng.random(5000) < 0.5).astype(np.int8)
    labels[1000:2600] = 1
    starts = example_starts(len(labels), 400, 128)
    assert starts[0] == 0 and starts[-1] == len(labels) - 400  # the end-aligned last example
    want = [int(labels[s : s + 400].mean() >= 0.5) for s in starts]
    assert example_labels(labels, starts, 400).tolist() == want
    assert example_starts(399, 400, 128).size == 0 and example_starts(4520, 400, 128)[-1] == 4096  # 24 left


def test_listing_reads_no_samples_and_loading_gives_the_eager_records(corpus):
    (ch,) = list_edf(corpus / "p1.edf", channels=["EEG C2-REF"])
    assert isinstance(ch, EdfChannel) and ch.n_samples == 60 * 250 and ch.label == 1 and ch.subset == "seizure"
    assert ch.labels[: int(12.5 * 250)].sum() == 0 and ch.labels[int(12.5 * 250) : 41 * 250].all()
    lazy = load_edf_paths([corpus], lazy=True)
    eager = load_edf_paths([corpus])
    assert all(isinstance(c, EdfChannel) for c in lazy) and len(lazy) == 6 * 4  # the ECG lead is left out
    assert [c.recording_id for c in lazy] == [r.recording_id for r in eager]
    for r, e in zip(loaded(lazy), eager, strict=True):
        assert (r.recording_id, r.group_id, r.source, r.subset, r.label) == (
            e.recording_id,
            e.group_id,
            e.source,
            e.subset,
            e.label,
        )
        assert np.array_equal(r.signal_uv, e.signal_uv) and np.array_equal(r.labels, e.labels)


def test_lazy_records_write_the_same_shards_as_records_in_memory(corpus, tmp_path):
    kw = {"example_samples": EX, "hop_samples": 512, "shard_examples": 20, "balance": True}
    kw |= {"source_share": {"edf": 1.0}}
    a = write_split(load_edf_paths([corpus], lazy=True), tmp_path / "lazy", "train", **kw)
    b = write_split(load_edf_paths([corpus]), tmp_path / "eager", "train", **kw)
    assert a == b and a["per_source_label"]["edf/1"]["per_epoch"] > a["per_source_label"]["edf/1"]["examples"]
    for name in a["shards"]:
        ra, rb = (read_examples([str(tmp_path / d / name)], EX) for d in ("lazy", "eager"))
        assert len(ra) == len(rb) > 0
        for x, y in zip(ra, rb, strict=True):
            assert np.array_equal(x["signal_uv"], y["signal_uv"]) and x["recording_id"] == y["recording_id"]


def test_shard_plan_deals_every_example_once_in_chunks_of_open_writers():
    assert shard_plan(0, 10) == [(0, 0, 0, 1)]  # one empty shard
    assert shard_plan(95, 10, open_shards_max=256) == [(0, 95, 0, 10)]  # a small split: one chunk, as before
    plan = shard_plan(95, 10, open_shards_max=3)
    assert plan == [(0, 30, 0, 3), (30, 30, 3, 3), (60, 30, 6, 3), (90, 5, 9, 1)]
    shard_of = {i: first_shard + (i - first) % k for first, n, first_shard, k in plan for i in range(first, first + n)}
    assert sorted(shard_of) == list(range(95))
    sizes = Counter(shard_of.values())
    assert sorted(sizes) == list(range(10)) and max(sizes.values()) <= 10
    with pytest.raises(ValueError, match="must be >= 1, got 0"):
        shard_plan(5, 0)


def test_a_split_written_in_chunks_holds_every_example_once_and_each_shard_mixes_recordings(corpus, tmp_path):
    recs = load_edf_paths([corpus], lazy=True)
    # 112 examples per file; chunks of 48 shards x 4 = 192 examples, a shard's 4 examples 48 apart
    summ = write_split(
        recs, tmp_path, "train", example_samples=EX, hop_samples=512, shard_examples=4, open_shards_max=48
    )
    want = Counter((r.recording_id, off, y) for r in loaded(recs) for off, _, y in training_examples(r, EX, 512))
    assert summ["examples"] == sum(want.values()) == 672 and len(summ["shards"]) == 672 // 4
    got: Counter = Counter()
    for j, name in enumerate(summ["shards"]):
        ex = read_examples([str(tmp_path / name)], EX)
        assert len(ex) == 4
        got.update((e["recording_id"], int(e["offset"]), int(e["label"])) for e in ex)
        if j < 48:  # the first chunk's shards span 144 examples: each holds two files (round robin)
            assert len({e["recording_id"].split("#")[0] for e in ex}) == 2, j
    assert got == want


def test_writing_a_lazy_split_holds_one_channel_not_the_file_nor_the_corpus(tmp_path):
    """Peak traced memory while a split is written: lazily it does not grow with the channels of a file
    (2 or 8), nor with the corpus; with the records in memory it holds the corpus."""

    def peak_mb(n_eeg: int, lazy: bool) -> float:
        root = tmp_path / f"c{n_eeg}"
        if not root.exists():
            root.mkdir()
            for i in range(5):
                _edf(root / f"b{i}.edf", seconds=90, n_eeg=n_eeg, seed=i)
        gc.collect()
        tracemalloc.start()
        try:
            recs = load_edf_paths([root], lazy=lazy)
            out = tmp_path / f"out-{n_eeg}-{lazy}-{len(list(tmp_path.glob('out-*')))}"
            write_split(recs, out, "train", example_samples=EX, hop_samples=512)
            return tracemalloc.get_traced_memory()[1] / 1e6
        finally:
            tracemalloc.stop()

    peak_mb(2, True)  # the first write allocates once what later ones reuse (TensorFlow's writers, caches)
    two, eight, eager = peak_mb(2, True), peak_mb(8, True), peak_mb(8, False)
    corpus_mb = 5 * 8 * 90 * 250 * 4 / 1e6  # float32 at the model rate: 3.6 MB
    # a file read at once would add 6 more channels' reads (float64, about 3x 0.18 MB each) to the 8-channel peak
    assert eight < 1.5 * two, (two, eight)
    assert eager > corpus_mb and eight < eager / 3, (eight, eager)


def test_a_file_changed_after_listing_is_an_error_not_a_wrong_example(corpus, tmp_path):
    recs = list_edf(corpus / "p0.edf")
    _edf(corpus / "p0.edf", seconds=30, seed=9)  # rewritten, shorter
    with pytest.raises(ValueError, match="changed since it was listed"):
        write_split(recs, tmp_path, "train", example_samples=EX, hop_samples=512)


def test_two_files_of_one_name_are_refused(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        _edf(tmp_path / d / "rec.edf")
    with pytest.raises(ValueError, match=r"two files named 'rec\.edf'"):
        load_edf_paths([tmp_path], lazy=True)


def test_scoring_reads_lazy_records_one_file_at_a_time(corpus):
    lazy, eager = load_edf_paths([corpus], lazy=True), load_edf_paths([corpus])

    def predict(w):
        return np.abs(w).mean(axis=1) / 100.0

    a, b = window_probabilities(predict, lazy, WIN, 256), window_probabilities(predict, eager, WIN, 256)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    blocks = window_probabilities(predict, lazy, WIN, 256, block_windows=7)  # 56 windows each, in 8 blocks
    assert all(np.array_equal(blocks[k], a[k]) for k in a) and len(a[lazy[0].recording_id]) == 56


def test_a_streamed_training_split_reads_every_shard_each_epoch_in_a_new_order_without_cache(tmp_path):
    ripple = 0.3 * np.sin(np.arange(EX))  # not flat: a flat line is left out, as the daemon leaves it out
    recs = [
        Record(f"r{i}", f"g{i}", (i + ripple).astype(np.float32), np.zeros(EX, np.int8), "edf", "s") for i in range(60)
    ]
    write_split(recs, tmp_path, "train", example_samples=EX, hop_samples=512, shard_examples=6)
    files = sorted(str(p) for p in tmp_path.glob("train-*.tfrecord.gz"))
    kw = {"example_samples": EX, "window_samples": WIN, "batch_size": 60, "training": True, "seed": 1}
    ds = make_dataset(files, **kw, cache=False, shuffle_buffer=8)
    assert not any(op.startswith("CacheDataset") for op in _ops_of(ds))
    assert any(op.startswith("CacheDataset") for op in _ops_of(make_dataset(files, **kw)))  # the check can fail
    epochs = [np.round(x.numpy()[:, 0]).astype(int).tolist() for x, _ in ds.repeat(2).take(2)]
    assert all(sorted(e) == list(range(60)) for e in epochs)  # each example once per epoch
    assert epochs[0] != epochs[1]  # shard order and buffer reshuffled every epoch


def _ops_of(ds) -> set[str]:
    g = tf.compat.v1.GraphDef()
    g.ParseFromString(ds._as_serialized_graph().numpy())
    return {n.op for n in g.node} | {n.op for f in g.library.function for n in f.node_def}


def test_seizure_labels_of_an_edf_d_follow_each_stretchs_own_start(tmp_path):
    """An EDF+D: 8 s of signal, a 12.5 s pause, 12 s more. Annotation times are recording times (the pause
    included): a seizure at 22-25 s is in the second stretch, 1.5-4.5 s after it resumed, not past the end."""
    from tests.realtime.test_rt_edf_discontinuous import make_discontinuous, shifted, write_edf_c

    src = write_edf_c(tmp_path / "c.edf", 20)
    path = make_discontinuous(src, tmp_path / "d.edf", shifted(8, 12.5))
    path.with_suffix(".csv").write_text("onset_s,offset_s\n6,14\n22,25\n")
    lazy = list_edf(path)
    assert lazy[0].segments == ((0, 0.0), (2000, 20.5)) and lazy[0].n_samples == 5000
    want = np.zeros(5000, np.int8)
    want[6 * 250 : 8 * 250] = 1  # 6-8 s; 8-14 s fell in the pause
    want[int(9.5 * 250) : int(12.5 * 250)] = 1  # 22-25 s = 1.5-4.5 s into the second stretch
    (eager,) = [r for r in load_edf_paths([path]) if r.recording_id == lazy[0].recording_id]
    assert np.array_equal(lazy[0].labels, want) and np.array_equal(eager.labels, want)
    assert lazy[0].label == 1 and lazy[0].subset == "seizure"
    # a seizure wholly in the pause, and one after the last sample (32.5 s): no seizure sample at all
    path.with_suffix(".csv").write_text("onset_s,offset_s\n9,20\n33,40\n")
    (quiet, *_) = list_edf(path)
    assert quiet.label == 0 and quiet.subset == "background" and not quiet.labels.any()


def test_windows_of_a_long_recording_are_labelled_by_its_annotations_not_by_the_file(corpus):
    """Test-split window metrics of EDF runs: a window is seizure where the annotations say so (12.5-41 s
    of p1's 60 s), not wherever its file holds a seizure."""
    from train.scoring import score, window_labels, window_starts

    lazy = load_edf_paths([corpus], lazy=True)
    p1 = next(c for c in lazy if c.recording_id.startswith("edf/p1.edf"))
    starts = window_starts(p1.n_samples, WIN, 256)
    labels = window_labels(p1, WIN, 256)
    assert len(labels) == len(starts) == len(window_probabilities(lambda w: w[:, 0], [p1], WIN, 256)[p1.recording_id])
    middle = (starts + WIN / 2) / 250.0  # each window's middle, s
    assert labels[(middle > 13.5) & (middle < 40)].all() and not labels[(middle < 11.5) | (middle > 42)].any()
    # a detector that is right about every window scores 100 %; labelled by file it would be wrong about p1's
    # windows before and after the seizure
    probs = {c.recording_id: window_labels(c, WIN, 256).astype(float) for c in lazy}
    m = score(lazy, probs, WIN, 256)["edf_seizure_vs_rest"]["window"]
    assert m["accuracy"] == 1.0 and m["n_positive"] == 3 * 4 * int(labels.sum())


def test_a_full_disk_while_the_shards_are_written_is_an_error_not_a_short_split(tmp_path):
    """The shards are written by threads beside the caller (ShardWriters): a write that fails there (here the
    file size limit, as a full disk) is raised in the caller, in a real process under RLIMIT_FSIZE."""
    script = """
import resource, signal, sys
import numpy as np
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
from train.datasets.records import Record
from train.tfrecords import write_split
x = np.random.default_rng(0).normal(0, 30, (10, 20000)).astype(np.float32)
recs = [Record(f"r{i}", f"g{i}", x[i], np.zeros(20000, np.int8), "edf", "s") for i in range(10)]
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
try:
    write_split(recs, sys.argv[1], "train", example_samples=1280, hop_samples=512, shard_examples=50)
except Exception as exc:
    print("raised:", type(exc).__name__, exc)
    sys.exit(3)
"""
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "shards")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert out.returncode == 3, (out.stdout, out.stderr[-2000:])
    assert "raised: OutOfRangeError" in out.stdout and "File too large" in out.stdout, out.stdout


def test_hparams_refuse_a_split_bound_or_shard_size_below_one():
    from train.hparams import HParamsError, load

    with pytest.raises(HParamsError, match=r"in_memory_examples_max must be >= 1, got 2048 and 0"):
        load(None, {"data.in_memory_examples_max": 0})
    with pytest.raises(HParamsError, match=r"got 0 and 131072"):
        load(None, {"data.shard_examples": 0})
