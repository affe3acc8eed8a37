"""TFRecord shards (GZIP) of training examples and the tf.data input pipeline.

Schema (one ``tf.train.Example`` per example; see docs/training.md):

| feature | type | meaning |
|---|---|---|
| ``signal_uv`` | float list, length ``example_samples`` | µV at the model rate (window + crop margin) |
| ``label`` | int64 | 0 non_seizure, 1 seizure; anything else is an error when parsed |
| ``repeat`` | int64 >= 1 | how often the example is drawn per epoch (class/source balancing) |
| ``source`` | bytes | ``bonn``, ``nscnd``, ``edf``, ``eegmmidb``, ``sleep-edf`` |
| ``recording_id`` | bytes | the recording the example was cut from (``<file>#<channel>`` for the background) |
| ``offset`` | int64 | first sample of the example in the recording |
| ``group_id`` | bytes | the split's group (schema 2; the person for the background; "" in schema-1 shards) |

Shards of a split: ``<dir>/<split>-00000-of-00003.tfrecord.gz``; ``<dir>/<split>.json`` records the
count, ``example_samples`` and the schema version. Background shards (:func:`write_background_shards`):
``<cache>/background-<key>/<source>-<subject>-00000.tfrecord.gz``, one series per person (so every
split and fold picks its persons' files, and the shards are written once per corpus and settings,
``key`` a hash of both), ``index.json`` written last. ``<dir>`` is a local path or any URL that
``tf.io.gfile`` reads and writes (``gs://...``, ``ram://...``): it is kept as a string and every
file goes through ``tf.io.gfile`` / TensorFlow's record I/O. Defaults come from train/hparams.py.

A shared corpus (:func:`write_corpus`, ``train-detector fit/cv --shard-cache DIR``; cv's default): the
examples of EVERY recording, written once as ``<cache>/corpus-<key>/corpus-*.tfrecord.gz`` (repeat 1; ``key``
a hash of the recordings as listed, the files' sizes and times, and the settings), ``corpus.json`` last. A
split (:func:`corpus_split`) is then a selection of it: its recording groups and the repeats of its balancing
by source and label, applied as the shards are read (:func:`parse_serialized`'s ``select``), so that the
folds of a cross-validation and the runs of one corpus write nothing more.

Input pipeline (:func:`make_dataset`): the split's shards, parsed, cached (unless ``cache=False``),
repeated per example, shuffled; with ``background_files`` the background streams from its shards
(file order reshuffled, ``interleave``, a bounded shuffle buffer, never cached) and
``sample_from_datasets`` mixes it in at ``background_share`` (endless: the caller sets the steps per
epoch); then augmentation, batch, prefetch.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from realtime.quality import FLAT_STD_UV, MAX_STD_UV, RAIL_FRACTION
from train.augment import augment, center_crop, mixup, op_seed
from train.datasets.records import check_label, loaded, record_examples, training_examples
from train.hparams import AugmentHP, DataHP, FitHP

log = logging.getLogger(__name__)

_DATA = DataHP()

SCHEMA_VERSION = 2  # 2: group_id added (schema-1 shards still parse: group_id "")
# the daemon's window rule (realtime.quality), part of the caches' keys: examples it leaves out are not written
QUALITY = {"flat_std_uv": FLAT_STD_UV, "rail_fraction": RAIL_FRACTION, "max_std_uv": MAX_STD_UV}
OPEN_SHARDS_MAX = 256  # shard writers open at once while a split is written (write_split, shard_plan)


def _example(
    signal_uv: np.ndarray, label: int, repeat: int, source: str, recording_id: str, offset: int, group_id: str = ""
) -> bytes:
    check_label(label)
    if int(repeat) < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat!r}")
    # from a list: the same bytes as from the array, 6x faster (upb converts a list of floats in one go)
    f = {
        "signal_uv": tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(signal_uv, np.float32).tolist())),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        "repeat": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(repeat)])),
        "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[source.encode()])),
        "recording_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[recording_id.encode()])),
        "offset": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(offset)])),
        "group_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[group_id.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=f)).SerializeToString()


def repeat_table(counts: dict, *, balance_classes: bool, source_share: dict, max_repeat: int) -> dict:
    """Repeat count per ``(source, label)``: equal class weight within each source, then source shares.

    ``counts``: ``{(source, label): examples}``. Returns ``{(source, label): int in [1, max_repeat]}``.
    """
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
    return {k: int(min(max_repeat, max(1, round(cls_rep[k] * src_rep[k[0]])))) for k in counts}


def join(base: Path | str, *parts: str) -> str:
    """``base/part/...`` as a string; ``base`` may be a URL (``gs://b/run``), which ``pathlib`` would mangle."""
    return "/".join([str(base).rstrip("/"), *parts])


class ShardWriters:
    """GZIP TFRecord writers for ``paths``, fed from the caller's thread and written by ``threads`` threads
    (``TFRecordWriter.write`` releases the GIL: compression runs beside the caller's reading and
    serializing). Shard ``j`` is written by thread ``j % threads`` alone, in the order its records were
    given, so a shard's bytes do not depend on timing. At most ``queue_records`` records wait per thread.
    The first error of a writer thread is raised by the next :meth:`write` or by :meth:`close`."""

    def __init__(self, paths: list[str], *, threads: int = 2, queue_records: int = 64):
        import queue
        import threading

        opts = tf.io.TFRecordOptions(compression_type="GZIP")
        self._writers = [tf.io.TFRecordWriter(p, opts) for p in paths]
        self._queues: list = [queue.Queue(queue_records) for _ in range(max(1, min(threads, len(paths))))]
        self._error: Exception | None = None
        self._closed = False
        self._threads = [threading.Thread(target=self._run, args=(q,), daemon=True) for q in self._queues]
        for t in self._threads:
            t.start()

    def _run(self, q) -> None:
        while (item := q.get()) is not None:
            if self._error is None:  # after an error, drain without writing: the caller must not block
                try:
                    self._writers[item[0]].write(item[1])
                except Exception as exc:  # handed to the caller's thread
                    self._error = exc

    def write(self, shard: int, record: bytes) -> None:
        if self._error is not None:
            self.close()
        self._queues[shard % len(self._queues)].put((shard, record))

    def close(self) -> None:
        """Wait for every record, close every writer; raise a writer thread's error (once: closing again
        does nothing)."""
        if self._closed:
            return
        self._closed = True
        for q, t in zip(self._queues, self._threads, strict=True):
            if t.is_alive():
                q.put(None)
                t.join()
        for w in self._writers:  # every one, even after an error: each flushes and frees its own buffers
            try:
                w.close()
            except Exception as exc:
                self._error = self._error or exc
        if self._error is not None:
            raise self._error


def shard_plan(
    n_examples: int, shard_examples: int, open_shards_max: int = OPEN_SHARDS_MAX
) -> list[tuple[int, int, int, int]]:
    """How :func:`write_split` deals ``n_examples`` into shards of about ``shard_examples``: a list of
    ``(first_example, n, first_shard, n_shards)`` chunks. Within a chunk, example ``i`` goes to shard
    ``first_shard + (i - first_example) % n_shards`` (round robin: every shard spans the whole chunk,
    so a shard mixes the chunk's recordings). A chunk has at most ``open_shards_max`` shards (the
    writers open at once); a split of up to ``open_shards_max * shard_examples`` examples is one chunk.
    No example: one empty shard."""
    if shard_examples < 1 or open_shards_max < 1:
        raise ValueError(
            f"shard_examples and open_shards_max must be >= 1, got {shard_examples!r}, {open_shards_max!r}"
        )
    chunk = shard_examples * open_shards_max
    plan, first_shard = [], 0
    for first in range(0, max(n_examples, 1), chunk):
        n = min(chunk, n_examples - first)
        k = max(1, -(-n // shard_examples))
        plan.append((first, n, first_shard, k))
        first_shard += k
    return plan


def write_split(
    records,
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
    open_shards_max: int = OPEN_SHARDS_MAX,
    per_recording: bool = False,
) -> dict:
    """Cut examples from ``records`` and write GZIP shards into ``out_dir`` (a local path or a
    ``tf.io.gfile`` URL); returns the split's summary dict. ``source_share`` None = ``DataHP``'s default.
    The summary's ``left_out`` counts, by reason, the examples not written because the daemon would leave
    their window out (flat, clipped, implausible, non-finite: ``records.example_quality``); ``per_recording``
    adds each recording's (``{recording_id: {"examples": [non-seizure, seizure], "left_out": {reason: n}}}``:
    the corpus', so that its selections count without reading a sample).

    ``records``: :class:`Record` s, or lazy records (:class:`train.datasets.edf.EdfChannel`) whose samples
    are read one channel at a time (:func:`train.datasets.records.loaded`). Two passes: the labels and
    the quality of every example (:func:`split_counts`: counts per source and label, so the balancing repeats are
    known before anything is written; the samples are read for it), then the samples again, each example
    written as it is cut, dealt to shards by :func:`shard_plan`. Memory: one
    record's samples and ``open_shards_max`` open writers, not the split.
    """
    out_dir = str(out_dir)
    tf.io.gfile.makedirs(out_dir)
    tally = split_counts(records, example_samples, hop_samples)  # pass 1: labels and the windows' quality
    counts = tally.counts
    total = sum(counts.values())
    table = _repeats(counts, balance, balance_classes, source_share, max_repeat)
    plan = shard_plan(total, shard_examples, open_shards_max)
    n_shards = plan[-1][2] + plan[-1][3]
    names = [f"{split}-{i:05d}-of-{n_shards:05d}.tfrecord.gz" for i in range(n_shards)]

    def chunk_writers(c: int) -> ShardWriters:
        _, _, first_shard, k = plan[c]
        return ShardWriters([join(out_dir, names[first_shard + j]) for j in range(k)])

    def changed(cut: str) -> ValueError:
        return ValueError(f"split {split!r}: {cut} examples cut, {total} expected from the labels (a file changed?)")

    c, i = 0, 0
    writers = chunk_writers(0)
    try:
        for r in loaded(records):  # pass 2: the samples, one channel at a time
            for off, x, y in training_examples(r, example_samples, hop_samples):
                first, n, _, k = plan[c]
                if i == first + n:
                    if c + 1 == len(plan):
                        raise changed("more")
                    writers.close()
                    c += 1
                    writers = chunk_writers(c)
                    first, n, _, k = plan[c]
                writers.write(
                    (i - first) % k, _example(x, y, table[(r.source, y)], r.source, r.recording_id, off, r.group_id)
                )
                i += 1
    finally:
        writers.close()
    if i != total:
        raise changed(str(i))
    summary = _summary(split, counts, table, example_samples, names, left_out=tally.left_out)
    if per_recording:
        summary["per_recording"] = tally.per_recording
    with tf.io.gfile.GFile(join(out_dir, f"{split}.json"), "w") as f:
        f.write(json.dumps(summary, indent=2))
    return summary


@dataclass
class Tally:
    """What :func:`split_counts` found: examples to train on by ``(source, label)`` and by recording (``[non-seizure,
    seizure]``), and the examples left out, by reason."""

    counts: dict[tuple[str, int], int] = field(default_factory=dict)
    # recording_id -> {"examples": [non-seizure, seizure], "left_out": {reason: examples}} ("left_out" when any)
    per_recording: dict[str, dict] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)

    def add(self, source: str, recording_id: str, examples: list[int], left_out: dict[str, int]) -> None:
        """Count one recording's ``examples [non-seizure, seizure]`` and ``left_out``."""
        entry = self.per_recording.setdefault(recording_id, {"examples": [0, 0]})
        for y, n in enumerate(examples):
            if n:
                self.counts[(source, y)] = self.counts.get((source, y), 0) + n
                entry["examples"][y] += n
        for why, n in left_out.items():
            self.left_out[why] = self.left_out.get(why, 0) + n
            mine = entry.setdefault("left_out", {})
            mine[why] = mine.get(why, 0) + n


def split_counts(records, example_samples: int, hop_samples: int) -> Tally:
    """The examples of ``records`` that :func:`train.datasets.records.training_examples` gives, counted (their
    samples are read, one channel at a time: whether the daemon would score a window depends on them)."""
    tally = Tally()
    for r in loaded(records):
        _, ys, reasons = record_examples(r, example_samples, hop_samples)
        kept = ys[np.array([why is None for why in reasons], dtype=bool)]
        left_out = dict(collections.Counter(filter(None, reasons)))
        tally.add(r.source, r.recording_id, [int(np.count_nonzero(kept == y)) for y in (0, 1)], left_out)
    return tally


def _repeats(counts: dict, balance: bool, balance_classes: bool, source_share: dict | None, max_repeat: int) -> dict:
    if not balance:
        return dict.fromkeys(counts, 1)
    share = _DATA.source_share if source_share is None else source_share
    return repeat_table(counts, balance_classes=balance_classes, source_share=share, max_repeat=max_repeat)


def _summary(split: str, counts: dict, table: dict, example_samples: int, shards: list[str], **extra) -> dict:
    per = {f"{s}/{y}": {"examples": n, "per_epoch": n * table[(s, y)]} for (s, y), n in sorted(counts.items())}
    return {
        "schema_version": SCHEMA_VERSION,
        "split": split,
        "examples": sum(counts.values()),
        "examples_per_epoch": int(sum(v["per_epoch"] for v in per.values())),
        "example_samples": example_samples,
        "per_source_label": per,
        "shards": shards,
        **extra,
    }


def written_once(cache_root: Path | str, name: str, index_name: str, write) -> str:
    """``<cache_root>/<name>``, a folder of shards whose ``index_name`` file is written last, made once: if the
    index exists the folder is used as it is; else ``write(folder)`` fills a hidden sibling of this run's own
    (``.<name>.tmp-<random>``), which is then renamed into place. Two runs that make one folder at once (two
    cross-validations sharing a cache) never write into the same files, and never rewrite shards another run
    may be reading: the second to finish drops its copy and uses the first's. A run killed while writing
    leaves its hidden folder behind, never a folder that looks complete. Returns the folder's path."""
    import uuid

    out_dir = join(cache_root, name)
    if tf.io.gfile.exists(join(out_dir, index_name)):
        return out_dir
    tmp_dir = join(cache_root, f".{name}.tmp-{uuid.uuid4().hex[:12]}")
    write(tmp_dir)
    try:
        tf.io.gfile.rename(tmp_dir, out_dir)
        log.info("%s: written", out_dir)
    except tf.errors.OpError:
        if not tf.io.gfile.exists(join(out_dir, index_name)):
            raise
        tf.io.gfile.rmtree(tmp_dir)
        log.info("%s: written by another run meanwhile; this run's copy dropped", out_dir)
    return out_dir


def corpus_key(records, settings: dict) -> str:
    """A short hash of ``records`` as listed (ids, groups, sources; an EDF channel's file by its size and
    modification time, a record in memory by its samples and labels) and the ``settings`` of its examples."""
    h = hashlib.sha256(json.dumps({"schema_version": SCHEMA_VERSION, "settings": settings}, sort_keys=True).encode())
    for r in records:
        h.update(repr((r.recording_id, r.group_id, r.source)).encode())
        if hasattr(r, "load_group"):  # listed from a file: the listing and the file's stat, not its samples
            st = Path(r.path).stat()
            h.update(repr((r, st.st_size, st.st_mtime_ns)).encode())
        else:
            h.update(np.ascontiguousarray(r.signal_uv).tobytes() + np.ascontiguousarray(r.labels).tobytes())
    return h.hexdigest()[:12]


def write_corpus(
    records,
    cache_root: Path | str,
    *,
    example_samples: int,
    hop_samples: int,
    shard_examples: int = _DATA.shard_examples,
) -> dict:
    """Every example of ``records`` (all of a run's or a cross-validation's recordings) as one corpus of shards,
    repeat 1, in ``<cache_root>/corpus-<key>/`` (:func:`corpus_key`): written once, reused when it exists.
    Returns ``corpus.json`` plus ``"dir"``, ``"key"`` and ``"files"`` (the shard paths).

    Written by :func:`write_split` once (:func:`written_once`: never two runs into the same files)."""
    settings = {
        "example_samples": example_samples,
        "hop_samples": hop_samples,
        "shard_examples": shard_examples,
        "quality": QUALITY,
    }
    key = corpus_key(records, settings)
    out_dir = written_once(
        cache_root,
        f"corpus-{key}",
        "corpus.json",
        lambda d: write_split(
            records,
            d,
            "corpus",
            example_samples=example_samples,
            hop_samples=hop_samples,
            shard_examples=shard_examples,
            per_recording=True,
        ),
    )
    index = join(out_dir, "corpus.json")
    with tf.io.gfile.GFile(index) as fh:
        summary = json.loads(fh.read())
    log.info("corpus %s: %d examples of %d recordings", out_dir, summary["examples"], len(records))
    return {
        **summary,
        "dir": out_dir,
        "key": key,
        "hop_samples": hop_samples,
        "files": [join(out_dir, n) for n in summary["shards"]],
    }


def corpus_split(
    records,
    corpus: dict,
    split: str,
    *,
    balance: bool = False,
    balance_classes: bool = _DATA.balance_classes,
    source_share: dict | None = None,
    max_repeat: int = _DATA.max_repeat,
) -> dict:
    """The split of ``records`` (part of the corpus) as a selection of the :func:`write_corpus` shards: the
    summary :func:`write_split` gives (the same counts and examples per epoch), its ``"shards"`` the corpus'
    files, plus ``"select"``: ``{"groups": [its recording groups], "repeats": {"source/label": repeat}}``
    for :func:`make_dataset`. Nothing is written."""
    tally = Tally()
    for r in records:  # the corpus' counts of what it holds: no sample is read again
        entry = corpus["per_recording"].get(r.recording_id, {})
        tally.add(r.source, r.recording_id, entry.get("examples", [0, 0]), entry.get("left_out", {}))
    counts = tally.counts
    table = _repeats(counts, balance, balance_classes, source_share, max_repeat)
    select = {
        "groups": sorted({r.group_id for r in records}),
        "repeats": {f"{s}/{y}": int(n) for (s, y), n in sorted(table.items())},
    }
    return _summary(
        split,
        counts,
        table,
        corpus["example_samples"],
        corpus["files"],
        left_out=tally.left_out,
        corpus=corpus["dir"],
        select=select,
    )


def shard_files(data_dir: Path | str, split: str) -> list[str]:
    """The sorted shard paths of ``split`` in ``data_dir`` (a local path or a ``tf.io.gfile`` URL)."""
    return sorted(tf.io.gfile.glob(join(data_dir, f"{split}-*.tfrecord.gz")))


def background_key(files, settings: dict) -> str:
    """A short hash of the corpus (each file's relative path and size) and the settings that shape its shards."""
    listing = [(f.relative, f.path.stat().st_size) for f in files]
    text = json.dumps({"schema_version": SCHEMA_VERSION, "settings": settings, "files": listing}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _write_person(pfiles, out_dir: str, settings: dict, skipped: list) -> dict:
    """One person's files -> ``<source>-<person>-NNNNN.tfrecord.gz`` of ``shard_examples`` each; returns the
    person's index entry. A file that cannot be read or gives no example is appended to ``skipped``."""
    from train.datasets.background import file_examples

    person, source = pfiles[0].person, pfiles[0].source
    entry: dict = {"source": source, "files": [f.relative for f in pfiles], "examples": 0, "shards": [], "left_out": {}}
    opts = tf.io.TFRecordOptions(compression_type="GZIP")
    writers: list = []
    try:
        for f in pfiles:
            try:
                x, rids, offs, left_out = file_examples(
                    f,
                    sample_rate_hz=settings["sample_rate_hz"],
                    example_samples=settings["example_samples"],
                    hop_samples=settings["hop_samples"],
                    montage=settings["montage"],
                    slow_uv=settings.get("slow_uv", ()),
                )
            except ValueError as exc:  # RecordingError, an EEG rate too low: skip the file, say so
                x, reason, left_out = np.zeros((0, 0)), str(exc), {}
            else:
                reason = "no EEG channel, or none long enough for one example"
            if left_out:  # windows the daemon would leave out (flat, clipped, implausible): not trained on
                log.info("background file %r: examples left out: %s", f.relative, left_out)
                for why, n in left_out.items():
                    entry["left_out"][why] = entry["left_out"].get(why, 0) + n
            if not len(x):
                log.warning("background file %r skipped: %s", f.relative, reason)
                skipped.append({"file": f.relative, "reason": reason})
                continue
            for xi, rid, off in zip(x, rids, offs, strict=True):
                if entry["examples"] % settings["shard_examples"] == 0:
                    if writers:
                        writers[-1].close()
                    entry["shards"].append(f"{source}-{person}-{len(entry['shards']):05d}.tfrecord.gz")
                    writers.append(tf.io.TFRecordWriter(join(out_dir, entry["shards"][-1]), opts))
                writers[-1].write(_example(xi, 0, 1, source, rid, int(off), person))
                entry["examples"] += 1
    finally:
        if writers:
            writers[-1].close()
    return entry


def write_background_shards(
    corpus_dir: Path | str,
    cache_root: Path | str,
    *,
    sample_rate_hz: float,
    example_samples: int,
    hop_samples: int,
    shard_examples: int = _DATA.shard_examples,
    montage: str = "as_recorded",
    slow_uv=(),
    persons=None,
) -> dict:
    """The background corpus -> GZIP shards, one series per person, written once per corpus and settings.
    ``slow_uv``: each file also with its own delta made dominant to each of these µV
    (:func:`train.datasets.background.file_examples`; ``data.background_slow_uv``).

    ``<cache_root>/background-<key>/`` (a local path or a ``tf.io.gfile`` URL): if its ``index.json``
    exists the shards are reused, else every file is read (:mod:`train.datasets.background`), cut and
    written one file at a time (never the corpus in memory), and ``index.json`` is written last, all once
    (:func:`written_once`: never two runs into the same files).
    ``persons``: only these persons (None = all). Returns the index: ``{"dir", "key", "example_samples",
    "persons": {person: {"source", "files", "examples", "shards", "left_out"}}, "skipped": [{"file", "reason"}]}``
    (``left_out``: examples not written, by reason, because the daemon would leave their window out).
    A file that cannot be read or has no EEG channel is skipped, logged and listed in ``skipped``.
    """
    from train.datasets.background import list_files

    files = [f for f in list_files(corpus_dir) if persons is None or f.person in set(persons)]
    if not files:
        raise ValueError(f"no background files of persons {sorted(persons or [])!r} under {str(corpus_dir)!r}")
    settings = {
        "sample_rate_hz": sample_rate_hz,
        "example_samples": example_samples,
        "hop_samples": hop_samples,
        "shard_examples": shard_examples,
        "montage": montage,
        "quality": QUALITY,
    }
    if slow_uv:  # only when asked: the shards of the corpus as it comes keep their key
        settings["slow_uv"] = [float(uv) for uv in slow_uv]
    key = background_key(files, settings)

    def write(out_dir: str) -> None:
        tf.io.gfile.makedirs(out_dir)
        index: dict = {"schema_version": SCHEMA_VERSION, "key": key, **settings, "corpus": str(corpus_dir)}
        index |= {"persons": {}, "skipped": []}
        by_person: dict[str, list] = {}
        for f in files:
            by_person.setdefault(f.person, []).append(f)
        for person, pfiles in by_person.items():
            entry = _write_person(pfiles, out_dir, settings, index["skipped"])
            if entry["examples"]:
                index["persons"][person] = entry
        with tf.io.gfile.GFile(join(out_dir, "index.json"), "w") as fh:
            fh.write(json.dumps(index, indent=2))

    out_dir = written_once(cache_root, f"background-{key}", "index.json", write)
    with tf.io.gfile.GFile(join(out_dir, "index.json")) as fh:
        return {**json.loads(fh.read()), "dir": out_dir}


def background_files(index: dict, persons) -> list[str]:
    """The shard paths of ``persons`` (those of the index; a person without examples has none)."""
    p = index["persons"]
    return [join(index["dir"], s) for person in sorted(persons) if person in p for s in p[person]["shards"]]


def background_every(n_background: int, n_other: int, share: float) -> int:
    """Keep every k-th of ``n_background`` examples so that they make ``share`` of the kept + ``n_other``."""
    if not 0 < share < 1:
        raise ValueError(f"background share must be in (0, 1), got {share!r}")
    wanted = n_other * share / (1 - share)
    return max(1, int(n_background // max(wanted, 1.0)))


def background_steps_per_epoch(split_examples: int, share: float, batch_size: int) -> int:
    """Steps of an epoch that draws the split's ``split_examples`` once on average, plus ``share`` background."""
    if not 0 < share < 1:
        raise ValueError(f"background share must be in (0, 1), got {share!r}")
    return max(1, math.ceil(split_examples / (1 - share) / batch_size))


def stream_background(files, example_samples: int, *, seed, shuffle_buffer: int, cycle_length: int = 16):
    """Background shards -> an endless stream of ``(x [example_samples], label)`` read from disk.

    Each pass reshuffles the order of the shard files; ``cycle_length`` files are read at once
    (``interleave``, one example from each in turn) into a bounded shuffle buffer of
    ``shuffle_buffer`` serialized examples. No cache: memory stays about ``shuffle_buffer`` examples.
    """
    files = [str(f) for f in files]
    if not files:
        raise ValueError("stream_background: no background shard files given")
    ds = shuffled_shards(files, seed=op_seed(seed, 9), cycle_length=cycle_length, endless=True)
    ds = ds.shuffle(shuffle_buffer, seed=op_seed(seed, 10), reshuffle_each_iteration=True)
    return parse_serialized(ds, example_samples).map(lambda x, y, r: (x, y))


def shuffled_shards(files: list[str], *, seed, cycle_length: int = 16, endless: bool = False) -> tf.data.Dataset:
    """The serialized examples of the shard ``files``, the file order reshuffled at every pass (``endless``:
    pass after pass), ``cycle_length`` files read at once (``interleave``, one example from each in turn)."""
    names = tf.data.Dataset.from_tensor_slices(files)
    names = names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    return (names.repeat() if endless else names).interleave(
        lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
        cycle_length=min(cycle_length, len(files)),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def eval_background(files, example_samples: int, *, every: int = 1):
    """Background shards -> every ``every``-th example, in a fixed order (one from each file in turn),
    as ``(x [example_samples], label, repeat)``: a deterministic validation sample spread over persons
    and time."""
    files = sorted(str(f) for f in files)
    if not files:
        raise ValueError("eval_background: no background shard files given")
    ds = tf.data.Dataset.from_tensor_slices(files).interleave(
        lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
        cycle_length=len(files),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if every > 1:
        ds = ds.shard(every, 0)
    return parse_serialized(ds, example_samples)


def example_spec(example_samples: int) -> dict:
    """The parsing spec of the schema: every feature, defaults for those older shards lack."""
    return {
        "signal_uv": tf.io.FixedLenFeature([example_samples], tf.float32),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "repeat": tf.io.FixedLenFeature([], tf.int64, default_value=1),
        "source": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "recording_id": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "offset": tf.io.FixedLenFeature([], tf.int64, default_value=0),
        "group_id": tf.io.FixedLenFeature([], tf.string, default_value=""),
    }


def read_examples(files, example_samples: int) -> list[dict]:
    """Every example of ``files`` as a dict of numpy values / str (for inspection and tests: it holds them all)."""
    spec = example_spec(example_samples)
    out = []
    for raw in tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP"):
        ex = tf.io.parse_single_example(raw, spec)
        out.append({k: (v.numpy().decode() if v.dtype == tf.string else v.numpy()) for k, v in ex.items()})
    return out


def parse_serialized(
    ds: tf.data.Dataset, example_samples: int, chunk: int = 256, select: dict | None = None
) -> tf.data.Dataset:
    """Serialized examples -> ``(signal_uv [example_samples] float32, label int32, repeat int64)`` each, in
    order, parsed ``chunk`` at a time: ``tf.io.parse_example`` is vectorised and costs about half the CPU
    of one ``parse_single_example`` per example. A label other than 0/1 fails with "unknown label".

    ``select`` (a corpus split's, :func:`corpus_split`): only the examples of its ``"groups"``, each with
    the repeat of its ``"repeats"`` (``"source/label"`` -> repeat; 1 when not listed), not the shard's."""
    spec = example_spec(example_samples)
    if select is not None:
        groups = [str(g) for g in select["groups"]] or [""]  # [""]: an empty selection keeps nothing below
        in_split = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(groups), tf.constant([int(bool(select["groups"]))] * len(groups), tf.int64)
            ),
            default_value=0,
        )
        keys = list(select["repeats"]) or [""]
        repeats = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(keys), tf.constant([int(select["repeats"].get(k, 1)) for k in keys], tf.int64)
            ),
            default_value=1,
        )

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        label = ex["label"]
        tf.debugging.assert_greater_equal(label, tf.constant(0, tf.int64), message="unknown label (expected 0 or 1)")
        tf.debugging.assert_less_equal(label, tf.constant(1, tf.int64), message="unknown label (expected 0 or 1)")
        if select is None:
            return ex["signal_uv"], tf.cast(label, tf.int32), ex["repeat"]
        keep = tf.equal(in_split.lookup(ex["group_id"]), 1)
        r = repeats.lookup(tf.strings.join([ex["source"], tf.strings.as_string(label)], separator="/"))
        return tuple(tf.boolean_mask(t, keep) for t in (ex["signal_uv"], tf.cast(label, tf.int32), r))

    return ds.batch(chunk).map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch()


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
    background_files=(),
    background_share: float = _DATA.background_share,
    background_shuffle_buffer: int = _DATA.background_shuffle_examples,
    background_every: int = 1,
    positive_weight: float = 1.0,
    select: dict | None = None,
) -> tf.data.Dataset:
    """GZIP shards -> batches of ``(x [batch, window_samples], {name: y [batch, 2]})``, ``y`` one-hot
    (soft when mixed up); training with ``positive_weight != 1`` adds ``{name: w [batch]}``, the
    sample weights ``1 + (positive_weight - 1) * y[:, 1]``.

    ``files``: local paths or ``tf.io.gfile`` URLs. Parallel reads and parsing, cache (unless
    ``cache=False``), (training) per-example repeat + shuffle + augmentation, batch, (training,
    ``augment_hp.mixup_alpha > 0``) mixup within the batch, prefetch.

    ``background_files`` (shards of :func:`write_background_shards`): training mixes the endless
    background stream (:func:`stream_background`) into the split, repeated and reshuffled every
    pass, with ``sample_from_datasets`` at ``background_share``. The result is endless, so that
    neither the stream nor its shuffle buffer restarts at every epoch (a refill of
    ``background_shuffle_buffer`` examples, and new buffers, each time): give Keras
    ``steps_per_epoch`` (:func:`background_steps_per_epoch`: one pass of the split on average).
    Validation appends every ``background_every``-th background example (:func:`eval_background`).
    ``select``: ``files`` are a corpus' (:func:`write_corpus`) and this split is its selection
    (:func:`corpus_split`'s ``"select"``: its groups, its repeats), applied as the examples are parsed.
    The background is never cached; pass ``cache=False`` to stream the split too (training: the shard
    order reshuffled every epoch, :func:`shuffled_shards`; memory: ``shuffle_buffer`` examples).
    """
    files = [str(f) for f in files]
    bg_files = [str(f) for f in background_files]
    if not files:
        raise ValueError("make_dataset: no TFRecord files given")
    if training and not cache:  # streamed: a bounded shuffle buffer alone would mix only neighbouring shards
        ds = shuffled_shards(files, seed=op_seed(seed, 11))
    else:
        ds = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE)
    ds = parse_serialized(ds, example_samples, select=select)
    if cache:
        ds = ds.cache()
    hp = augment_hp if augment_hp is not None else AugmentHP(enabled=False)
    if training:
        ds = ds.flat_map(lambda x, y, r: tf.data.Dataset.from_tensors((x, y)).repeat(r))
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        if bg_files:
            if not 0 < background_share < 1:
                raise ValueError(f"background_share must be in (0, 1), got {background_share!r}")
            bg = stream_background(bg_files, example_samples, seed=seed, shuffle_buffer=background_shuffle_buffer)
            ds = tf.data.Dataset.sample_from_datasets(
                [ds.repeat(), bg], weights=[1.0 - background_share, background_share], seed=op_seed(seed, 8)
            )

        def aug(x, y):
            return augment(x, window_samples, hp, label=y), y

        ds = ds.map(aug, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        if bg_files:
            ds = ds.concatenate(eval_background(bg_files, example_samples, every=background_every))
        ds = ds.map(lambda x, y, r: (center_crop(x, window_samples), y), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(lambda x, y: (tf.ensure_shape(x, [window_samples]), tf.one_hot(y, 2)))
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if training and hp.mixup_alpha > 0:
        ds = ds.map(lambda x, y: mixup(x, y, hp.mixup_alpha, seed), num_parallel_calls=tf.data.AUTOTUNE)
    names = tuple(output_names)
    if training and positive_weight != 1.0:

        def weighted(x, y):
            w = 1.0 + (positive_weight - 1.0) * y[:, 1]
            return x, dict.fromkeys(names, y), dict.fromkeys(names, w)

        ds = ds.map(weighted)
    else:
        ds = ds.map(lambda x, y: (x, dict.fromkeys(names, y)))
    opts = tf.data.Options()
    # Shard by example under multi-worker strategies: works with any number of shard files.
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(opts).prefetch(tf.data.AUTOTUNE)
