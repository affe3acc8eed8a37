"""Does the training input pipeline keep up? (not a test): prints a table, writes benchmarks/results/<name>.json.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/train_input.py [--examples 4096] [--steps 12]
        [--config config/train/default.toml] [--background ../shared/data/background [--persons 2]]

Three ways to feed the same examples (``--examples`` in all, half of them background negatives) to
the seed's architecture (``--config``, default config/train/default.toml: the shipped inception):

1. ``numpy``: every example in one numpy array in memory, ``from_tensor_slices`` -> shuffle over all
   -> augment -> batch -> prefetch (the naive way);
2. ``cache``: today's ``make_dataset`` over TFRecord shards of all the examples, with ``cache()``
   (the examples end up in memory after the first epoch);
3. ``stream``: issue #11's pipeline: the split's shards uncached, the background streamed from its
   per-person shards (interleave, bounded shuffle buffer) and mixed in with ``sample_from_datasets``
   at ``data.background_share`` (``make_dataset(cache=False, background_files=...)``);
4. ``corpus``: the same, the split read as a selection of a corpus that holds it and 40 % more of other
   recordings (``--shard-cache``: ``write_corpus``, ``corpus_split``; every shard read, the other
   recordings' examples dropped as they are parsed): what a fold of a cross-validation pays for reading
   the shared corpus instead of its own shards.

For each: the pipeline alone (windows/s over ``--pipeline-batches`` batches after one epoch of
warm-up), then ``--steps`` training steps (``train_on_batch``) fed by it: windows/s and the share of
wall time spent waiting for the next batch (``stall``: time in ``next()`` / (that + step time)), the
growth of the process' resident memory while the pipeline ran (the stream is measured first, in a
process that has freed nothing yet; the others' figures may reuse memory freed before them) and
during the timed batches alone (after warm-up: a way that kept what it read would grow here; with
``--background DIR --persons 21 --pipeline-batches 5000`` the stream reads the whole corpus), and the
examples each way holds by design (numpy and cache: all; the stream: its shuffle buffers only).

Data: by default a synthetic background corpus written as EDF files (19 channels of 10-20 at 160 Hz,
eegmmidb layout) into a temporary folder and read through ``train.datasets.background``, so the
background takes the real path (EDF -> resample -> shards); the seizure/non-seizure part is synthetic
records. ``--background DIR`` uses the real corpus instead (needs ../shared/data/background, which
is not in the repository): the first ``--persons`` persons, written once to ``--cache``; the numpy
and cache ways hold ``--examples / 2`` of their examples, the stream reads all of their shards.
Small defaults: about 2-3 minutes on a 2-core machine, most of it training steps.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

TEN_TWENTY = ["Fp1.", "Fp2.", "F7..", "F3..", "Fz..", "F4..", "F8..", "T7..", "C3..", "Cz.."]
TEN_TWENTY += ["C4..", "T8..", "P7..", "P3..", "Pz..", "P4..", "P8..", "O1..", "O2.."]


def rss_mb() -> float:
    """Resident memory of this process now (MB), from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def fake_corpus(root: Path, n_files: int, seconds: int = 60) -> Path:
    """``n_files`` one-minute EDFs of 19 channels of pink-ish noise at 160 Hz, two runs per person."""
    import edfio

    rng = np.random.default_rng(0)
    for i in range(n_files):
        person = f"S{i // 2 + 1:03d}"
        x = np.cumsum(rng.normal(0, 1, (len(TEN_TWENTY), 160 * seconds)), axis=1)
        x = 30 * (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
        sigs = [
            edfio.EdfSignal(ch, 160.0, label=lab, physical_dimension="uV", physical_range=(-500, 500))
            for ch, lab in zip(np.clip(x, -499, 499), TEN_TWENTY, strict=True)
        ]
        path = root / "eegmmidb" / person / f"{person}R{i % 2 + 1:02d}.edf"
        path.parent.mkdir(parents=True, exist_ok=True)
        edfio.Edf(sigs).write(path)
    return root


def seizure_records(n: int, example_samples: int):
    """``n`` one-example synthetic records (half seizure, like New Delhi's single segments)."""
    from train.datasets.records import Record

    rng = np.random.default_rng(1)
    t = np.arange(example_samples) / 250.0
    out = []
    for i in range(n):
        x = rng.normal(0, 20, example_samples) + (150 * np.sin(2 * np.pi * 4 * t) if i % 2 else 0)
        out.append(
            Record(
                f"synth/{i}", f"synth/{i}", x.astype(np.float32), np.full(example_samples, i % 2, np.int8), "edf", "s"
            )
        )
    return out


def measure(ds, model, *, warmup_batches: int, pipeline_batches: int, steps: int) -> dict:
    """Pipeline alone (after ``warmup_batches``), then ``steps`` training steps fed by it."""
    before = rss_mb()
    it = iter(ds.repeat())
    for _ in range(warmup_batches):
        next(it)
    warm = rss_mb()
    t0 = time.perf_counter()
    n, trace = 0, []
    for i in range(pipeline_batches):
        x, _ = next(it)
        n += int(x.shape[0])
        if i % 10 == 0:
            trace.append(round(rss_mb(), 1))
    pipe_s = time.perf_counter() - t0
    grown, grown_timed = rss_mb() - before, rss_mb() - warm
    for _ in range(2):  # the first step of the first way traces the model: not timed
        x, y = next(it)
        model.train_on_batch(x, y)
    wait, step, windows = [], [], 0
    for _ in range(steps):
        t0 = time.perf_counter()
        x, y = next(it)
        t1 = time.perf_counter()
        model.train_on_batch(x, y)
        t2 = time.perf_counter()
        wait.append(t1 - t0)
        step.append(t2 - t1)
        windows += int(x.shape[0])
    total = sum(wait) + sum(step)
    return {
        "pipeline_windows_per_s": round(n / pipe_s, 1),
        "train_windows_per_s": round(windows / total, 1),
        "step_ms_median": round(1e3 * float(np.median(step)), 1),
        "wait_ms_median": round(1e3 * float(np.median(wait)), 2),
        "wait_ms_max": round(1e3 * max(wait), 2),
        "stall_share": round(sum(wait) / total, 4),
        "rss_growth_mb": round(grown, 1),
        "rss_growth_timed_mb": round(grown_timed, 1),
        "rss_mb_every_10_batches": trace,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "config" / "train" / "default.toml"))
    ap.add_argument("--examples", type=int, default=4096, help="examples in all (half background)")
    ap.add_argument("--steps", type=int, default=12, help="timed training steps per way")
    ap.add_argument("--pipeline-batches", type=int, default=60, help="timed batches of the pipeline alone")
    ap.add_argument("--background", default=None, metavar="DIR", help="the real corpus (../shared/data/background)")
    ap.add_argument("--persons", type=int, default=2, help="with --background: how many persons' examples")
    ap.add_argument("--cache", default=None, help="with --background: shard cache folder (default: temporary)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="directory for the JSON")
    ap.add_argument("--name", default="", help="result file name (default: train-input-<date>.json)")
    args = ap.parse_args(argv)

    import tensorflow as tf

    from train import strategy as strat
    from train.datasets.background import list_files
    from train.datasets.records import Record
    from train.fit import compile_model
    from train.hparams import load
    from train.models import build
    from train.tfrecords import (
        background_files,
        corpus_split,
        make_dataset,
        read_examples,
        shard_files,
        write_background_shards,
        write_corpus,
        write_split,
    )

    hp = load(args.config)
    strat.configure_threads(hp.fit.intra_op_threads, hp.fit.inter_op_threads)
    ex, win, batch = (
        hp.signal.window_samples + hp.signal.crop_margin_samples,
        hp.signal.window_samples,
        hp.fit.batch_size,
    )
    tmp = tempfile.TemporaryDirectory()
    work = Path(tmp.name)
    t_data = time.perf_counter()
    if args.background:
        corpus = Path(args.background)
        persons = sorted({f.person for f in list_files(corpus)})[: args.persons]
    else:  # 266 examples per one-minute file at hop 1024
        corpus = fake_corpus(work / "background", n_files=max(2, -(-args.examples // 2 // 266)))
        persons = None
    index = write_background_shards(
        corpus,
        args.cache or str(work / "cache"),
        sample_rate_hz=hp.signal.sample_rate_hz,
        example_samples=ex,
        hop_samples=hp.data.background_hop_samples,
        shard_examples=hp.data.shard_examples,
        persons=persons,
    )
    bg_files = background_files(index, index["persons"])
    n_bg = min(sum(p["examples"] for p in index["persons"].values()), args.examples // 2)
    records = seizure_records(args.examples - n_bg, ex)
    write_split(records, str(work / "split"), "train", example_samples=ex, hop_samples=512)
    others = [  # 40 % of the corpus: recordings of other groups, which the selection drops as it reads
        Record(f"other/{i}", f"other/{i}", r.signal_uv, r.labels, r.source, r.subset)
        for i, r in enumerate(seizure_records(len(records) * 2 // 3, ex))
    ]
    selection = corpus_split(
        records, write_corpus(records + others, work / "corpus", example_samples=ex, hop_samples=512), "train"
    )
    # the naive and today's ways hold every example: the records' and the background's, in memory
    bg_x = np.stack([e["signal_uv"] for e in read_examples(bg_files, ex)[:n_bg]])
    all_x = np.concatenate([np.stack([r.signal_uv for r in records]), bg_x])
    all_y = np.concatenate([[r.label for r in records], np.zeros(len(bg_x), np.int64)]).astype(np.int32)
    bg_records = [
        Record(f"bg/{i}", f"bg/{i}", x, np.zeros(ex, np.int8), "background", "bg") for i, x in enumerate(bg_x)
    ]
    write_split(records + bg_records, str(work / "all"), "train", example_samples=ex, hop_samples=512)
    data_s = time.perf_counter() - t_data
    del bg_records, bg_x

    train_model, _ = build(hp)
    names = compile_model(train_model, hp)
    n_all = len(all_x)
    common = {
        "example_samples": ex,
        "window_samples": win,
        "batch_size": batch,
        "training": True,
        "output_names": names,
        "augment_hp": hp.augment,
        "seed": hp.fit.seed,
        "drop_remainder": True,
    }

    def numpy_way():
        from train.augment import augment

        ds = tf.data.Dataset.from_tensor_slices((all_x, all_y)).shuffle(n_all, seed=hp.fit.seed)
        ds = ds.map(lambda x, y: (augment(x, win, hp.augment, label=y), tf.one_hot(y, 2)), num_parallel_calls=-1)
        ds = ds.batch(batch, drop_remainder=True).map(lambda x, y: (x, dict.fromkeys(names, y)))
        return ds.prefetch(tf.data.AUTOTUNE)

    ways = {  # the stream first: its memory growth is measured in a process nothing was freed in yet
        "stream": lambda: make_dataset(
            shard_files(work / "split", "train"),
            **common,
            shuffle_buffer=len(records),
            cache=False,
            background_files=bg_files,
            background_share=hp.data.background_share,
            background_shuffle_buffer=hp.data.background_shuffle_examples,
        ),
        "corpus": lambda: make_dataset(
            selection["shards"],
            **common,
            shuffle_buffer=len(records),
            cache=False,
            background_files=bg_files,
            background_share=hp.data.background_share,
            background_shuffle_buffer=hp.data.background_shuffle_examples,
            select=selection["select"],
        ),
        "cache": lambda: make_dataset(shard_files(work / "all", "train"), **common, shuffle_buffer=n_all),
        "numpy": numpy_way,
    }
    # examples each way holds in memory by design: numpy and cache all of them (numpy twice: the array
    # and its tensor copy); the stream its two shuffle buffers (the split's, parsed; the background's,
    # serialized), whatever the size of the corpus
    held = {"stream": len(records) + hp.data.background_shuffle_examples, "cache": n_all, "numpy": 2 * n_all}
    held["corpus"] = held["stream"]
    result: dict[str, Any] = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "tensorflow": tf.__version__,
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "load_average_at_start": list(os.getloadavg()),
        },
        "config": str(args.config),
        "architecture": hp.fit.architecture,
        "batch_size": batch,
        "example_samples": ex,
        "examples": {
            "seizure_split": len(records),
            "background": n_all - len(records),
            "all": n_all,
            "corpus_others": len(others),
        },
        "background": {
            "real": bool(args.background),
            "persons": sorted(index["persons"]),
            "shards": len(bg_files),
            "examples_in_shards": sum(p["examples"] for p in index["persons"].values()),
        },
        "background_share": hp.data.background_share,
        "numpy_bytes_mb": round(all_x.nbytes / 1e6, 1),
        "data_preparation_s": round(data_s, 1),
        "ways": {},
    }
    for name, make in ways.items():
        print(f"{name} ...", flush=True)
        result["ways"][name] = {"examples_held_by_design": held[name]} | measure(
            make(),
            train_model,
            warmup_batches=-(-n_all // batch) + 2,
            pipeline_batches=args.pipeline_batches,
            steps=args.steps,
        )
    result["host"]["load_average_at_end"] = list(os.getloadavg())

    print()
    print(
        f"{result['architecture']}, batch {batch}, {n_all} examples of {ex} samples ({result['numpy_bytes_mb']} MB "
        f"as numpy; {'real' if args.background else 'synthetic'} background, share {hp.data.background_share}), "
        f"{os.cpu_count()} CPUs, load {result['host']['load_average_at_start'][0]:.1f}"
    )
    head = ("way", "pipeline alone", "training", "step", "wait", "stall", "RSS growth", "held")
    print(f"{head[0]:8} {head[1]:>16} {head[2]:>12} {head[3]:>9} {head[4]:>9} {head[5]:>7} {head[6]:>11} {head[7]:>9}")
    print(f"{'':8} {'windows/s':>16} {'windows/s':>12} {'ms':>9} {'ms':>9} {'':>7} {'MB':>11} {'examples':>9}")
    for name, r in result["ways"].items():
        print(
            f"{name:8} {r['pipeline_windows_per_s']:16.0f} {r['train_windows_per_s']:12.1f} {r['step_ms_median']:9.0f} "
            f"{r['wait_ms_median']:9.2f} {100 * r['stall_share']:6.2f}% {r['rss_growth_mb']:11.1f} "
            f"{r['examples_held_by_design']:9d}"
        )
    out = Path(args.out) / (args.name or f"train-input-{_dt.date.today().isoformat()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
