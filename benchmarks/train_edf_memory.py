"""Memory of writing a training split from EDF files (not a test): prints a table, writes
benchmarks/results/<name>.json.

    .venv/bin/python benchmarks/train_edf_memory.py [--files 12] [--minutes 20] [--channels 23]
        [--name train-edf-memory.json]

A corpus laid out as CHB-MIT ships it (``--files`` EDF files of ``--minutes`` minutes, ``--channels``
bipolar EEG channels at 256 Hz plus an ECG lead, every other file with a seizure in a CSV sidecar) is
written to a temporary folder, then cut into the training split's TFRecord shards three ways, each in
a fresh process (peak resident memory from ``VmHWM``; "growth" = the peak less the process' memory
once TensorFlow is imported, before any data):

1. ``naive``: the way before the EDF source could stream (commit 453ec48's parent): every channel of
   every file in memory as a ``Record``, every example cut into one list, then written;
2. ``records``: the records in memory, ``write_split`` cutting and writing one record at a time;
3. ``lazy``: ``load_edf_paths(lazy=True)`` (headers and annotations only) and ``write_split``, which
   reads one channel at a time: what ``train-detector fit`` does for ``data.sources = ["edf"]``.

All three write the same examples (checked: count and per-label summary). Defaults: 4 h of
23-channel EEG (316 MB as float32 at the model rate), about 4 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHB_MIT = ["FP1-F7", "F7-T7", "T7-P7", "P7-O1", "FP1-F3", "F3-C3", "C3-P3", "P3-O1", "FP2-F4", "F4-C4", "C4-P4"]
CHB_MIT += ["P4-O2", "FP2-F8", "F8-T8", "T8-P8", "P8-O2", "FZ-CZ", "CZ-PZ", "P7-T7", "T7-FT9", "FT9-FT10"]
CHB_MIT += ["FT10-T8", "T8-P8"]
WAYS = ("naive", "records", "lazy")
EXAMPLE_SAMPLES, HOP_SAMPLES = 1024 + 256, 512  # config/train/default.toml: window + crop margin, train hop


def peak_rss_mb() -> float:
    """The process' peak resident memory so far (``VmHWM``, MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def write_corpus(root: Path, files: int, minutes: float, channels: int) -> None:
    import edfio
    import numpy as np

    fs, n = 256.0, int(minutes * 60 * 256)
    labels = [CHB_MIT[k % len(CHB_MIT)] for k in range(channels)]
    for i in range(files):
        rng = np.random.default_rng(i)
        sigs = [
            edfio.EdfSignal(rng.normal(0, 30, n), fs, label=lab, physical_dimension="uV", physical_range=(-800, 800))
            for lab in labels
        ]
        sigs.append(edfio.EdfSignal(rng.normal(0, 0.3, n), fs, label="ECG", physical_dimension="mV"))
        path = root / f"chb{i:02d}.edf"
        edfio.Edf(sigs).write(path)
        if i % 2:
            onset = 0.4 * minutes * 60
            path.with_suffix(".csv").write_text(f"onset_s,offset_s\n{onset},{onset + 60}\n")


def naive_write(records, out: Path) -> dict:
    """The way before: every example of every record in one list, then written (round robin over shards)."""
    import tensorflow as tf

    from train.datasets.records import training_examples
    from train.tfrecords import _example

    items = [
        (x, y, r.source, r.recording_id, off, r.group_id)
        for r in records
        for off, x, y in training_examples(r, EXAMPLE_SAMPLES, HOP_SAMPLES)
    ]
    n_shards = max(1, -(-len(items) // 2048))
    opts = tf.io.TFRecordOptions(compression_type="GZIP")
    out.mkdir(parents=True, exist_ok=True)
    writers = [tf.io.TFRecordWriter(str(out / f"train-{i:05d}.tfrecord.gz"), opts) for i in range(n_shards)]
    per: dict[str, int] = {}
    for i, (x, y, s, rid, off, gid) in enumerate(items):
        writers[i % n_shards].write(_example(x, y, 1, s, rid, off, gid))
        per[f"{s}/{y}"] = per.get(f"{s}/{y}", 0) + 1
    for w in writers:
        w.close()
    return {"examples": len(items), "per_label": per}


def run_way(way: str, corpus: Path, out: Path) -> dict:
    """One way in this process; returns its measurements."""
    import tensorflow as tf  # noqa: F401  (imported first: the baseline includes it, as training would)

    from train.datasets.edf import load_edf_paths
    from train.tfrecords import write_split

    base = rss_mb()
    t0 = time.perf_counter()
    records = load_edf_paths([corpus], lazy=way == "lazy")
    if way == "naive":
        res = naive_write(records, out)
    else:
        s = write_split(records, out, "train", example_samples=EXAMPLE_SAMPLES, hop_samples=HOP_SAMPLES)
        res = {"examples": s["examples"], "per_label": {k: v["examples"] for k, v in s["per_source_label"].items()}}
    return {
        "way": way,
        "wall_s": round(time.perf_counter() - t0, 1),
        "baseline_rss_mb": round(base, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "growth_mb": round(peak_rss_mb() - base, 1),
        **res,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=12)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--channels", type=int, default=23)
    ap.add_argument("--name", default="train-edf-memory.json")
    ap.add_argument("--way", choices=WAYS, help=argparse.SUPPRESS)  # internal: one way in a child process
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.way:
        print(json.dumps(run_way(a.way, a.corpus, a.out)))
        return 0
    with tempfile.TemporaryDirectory(prefix="edf-memory-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        t0 = time.perf_counter()
        write_corpus(corpus, a.files, a.minutes, a.channels)
        print(f"corpus: {a.files} files x {a.minutes:g} min x {a.channels} channels ({time.perf_counter() - t0:.0f} s)")
        rows = []
        for way in WAYS:
            cmd = [sys.executable, __file__, "--way", way, "--corpus", str(corpus), "--out", str(Path(tmp) / way)]
            p = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if p.returncode:
                print(p.stderr[-3000:], file=sys.stderr)
                return 1
            rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
            print(f"  {way}: done in {rows[-1]['wall_s']} s")
    if len({(r["examples"], json.dumps(r["per_label"], sort_keys=True)) for r in rows}) != 1:
        print(f"the ways wrote different examples: {rows!r}", file=sys.stderr)
        return 1
    hours = a.files * a.minutes / 60
    corpus_mb = a.files * a.minutes * 60 * 250 * a.channels * 4 / 2**20
    examples_mb = rows[0]["examples"] * EXAMPLE_SAMPLES * 4 / 2**20
    print(
        f"\n{hours:.1f} h of {a.channels}-channel EEG: {corpus_mb:.0f} MB as float32 at 250 Hz; "
        f"{rows[0]['examples']} examples, {examples_mb:.0f} MB as float32"
    )
    print("| way | wall (s) | peak RSS (MB) | growth over the baseline (MB) | x lazy |\n|---|---|---|---|---|")
    lazy = rows[-1]["growth_mb"]
    for r in rows:
        print(f"| {r['way']} | {r['wall_s']} | {r['peak_rss_mb']} | {r['growth_mb']} | {r['growth_mb'] / lazy:.1f} |")
    result = {
        "benchmark": "train_edf_memory",
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()},
        "corpus": {"files": a.files, "minutes": a.minutes, "channels": a.channels, "hours": hours},
        "corpus_float32_mb": round(corpus_mb, 1),
        "examples_float32_mb": round(examples_mb, 1),
        "rows": rows,
    }
    out = REPO / "benchmarks" / "results" / a.name
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
