"""Resident memory and time of the model under batches of changing size (not a test): prints a table,
writes benchmarks/results/batch-memory-<host>-<date>.json (``--name`` to choose; an existing file is
never overwritten).

    .venv/bin/python benchmarks/batch_memory.py [--backend tensorflow] [--batches 200] [--max-batch 480]
        [--shapes 32:pow2,32,64,128,256] [--no-baselines] [--bed-passes 2] [--name NAME]

A daemon that falls behind scores every window still buffered in one pass (all beds' due windows
together), so the runtime sees batches of every size from 1 to hundreds. Each new input shape costs
memory the runtime keeps (and time: kernels are planned per shape). Each way below runs in a fresh
process, on the same random sequence of batch sizes (uniform in 1..--max-batch):

- ``as given``: one runtime call per batch, whatever its size (the naive way, and the daemon before
  ``model.batch_windows``);
- ``chunks of 64``: split into chunks of at most 64 windows, not padded (65 shapes at most);
- ``fixed B``, one per ``--shapes`` entry: ``ExportedDetector.predict`` as the daemon runs it with
  ``model.batch_windows = B``: chunks of at most B windows, the last one zero-padded to the next size of
  ``realtime.model.batch_sizes(B)``; ``B:pow2`` pads to the next of 1, 2, 4 ... B instead (the shape set
  before 2026-12-01 evening, ``batch_sizes(B, steps_per_octave=1)``).

The first two are skipped with ``--no-baselines``. Columns: the number of shapes, seconds from the start
of ``load_detector`` to the end of the warm-up (the daemon's model start-up: load, checks, one run per
shape) and of the warm-up alone; RSS after the first window, after the warm-up, at the end and its peak
(VmHWM); milliseconds of wall time per window over the random batches; and per window over
``--bed-passes`` passes of 23 k windows for k = 1 .. --max-batch / 23 (k 23-channel beds due at once:
what a daemon with that many beds scores per hop; padding included).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
BASELINES = ("as given", "chunks of 64")
N_CH = 23  # channels of one bed


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, backend: str, batches: int, max_batch: int, seed: int, bed_passes: int) -> dict:
    """Run one mode (a baseline, or ``B`` / ``B:pow2``) in this process; returns its numbers."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from realtime.model import BATCH_WINDOWS, batch_sizes, load_detector

    fixed = mode not in BASELINES
    batch_windows = int(mode.split(":")[0]) if fixed else BATCH_WINDOWS
    t_load = time.perf_counter()
    det = load_detector(None, backend=backend, batch_windows=batch_windows)
    if fixed and mode.endswith(":pow2"):
        det.batch_sizes = batch_sizes(batch_windows, steps_per_octave=1)
    w = det.window_samples
    t_warm = time.perf_counter()
    det.predict(np.zeros((1, w), np.float32))
    first = _status_mib("VmRSS")
    warmup_s = ready_s = None
    if fixed:
        det.warmup()  # as the daemon's start-up does
        warmup_s = time.perf_counter() - t_warm
        ready_s = time.perf_counter() - t_load
    warm = _status_mib("VmRSS")
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_batch + 1, batches)
    pool = rng.normal(0.0, 30.0, (max_batch + 1, w)).astype(np.float32)  # drawn before the clock starts
    n_windows, t0 = 0, time.perf_counter()
    for i, n in enumerate(sizes):
        x = pool[i % 2 : i % 2 + int(n)]  # the values do not change the cost
        if mode == "as given":
            det._run(x)  # the runtime called once with the batch as it came (what predict did before)
        elif mode == "chunks of 64":
            for s in range(0, len(x), 64):
                det._run(np.ascontiguousarray(x[s : s + 64]))
        else:
            det.predict(x)
        n_windows += int(n)
    seconds = time.perf_counter() - t0
    beds_ms = None
    if fixed and bed_passes > 0:
        x = pool
        beds = [k for k in range(1, max_batch // N_CH + 1) for _ in range(bed_passes)]
        t0 = time.perf_counter()
        for k in beds:
            det.predict(x[: k * N_CH])
        beds_ms = 1000 * (time.perf_counter() - t0) / (N_CH * sum(beds))
    return {
        "mode": mode if not fixed else f"fixed {mode}",
        "backend": det.backend,
        "batch_windows": det.batch_windows if fixed else None,
        "shapes": list(det.batch_sizes) if fixed else None,
        "ready_s": round(ready_s, 2) if ready_s is not None else None,
        "warmup_s": round(warmup_s, 2) if warmup_s is not None else None,
        "rss_first_mib": round(first),
        "rss_warm_mib": round(warm),
        "rss_end_mib": round(_status_mib("VmRSS")),
        "hwm_mib": round(_status_mib("VmHWM")),
        "windows": n_windows,
        "ms_per_window": round(1000 * seconds / n_windows, 3),
        "bed_passes_ms_per_window": round(beds_ms, 3) if beds_ms is not None else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="tensorflow", choices=("tensorflow", "litert"))
    ap.add_argument("--batches", type=int, default=200, help="random batches per mode (default 200)")
    ap.add_argument("--max-batch", type=int, default=480, help="largest batch (default 480: 20 beds x 23 channels)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--shapes",
        default="",
        help="fixed-shape configurations, comma-separated: B (model.batch_windows = B, the daemon's shape set) "
        "or B:pow2 (powers of two up to B); default: the daemon's default batch_windows",
    )
    ap.add_argument("--no-baselines", action="store_true", help="skip 'as given' and 'chunks of 64'")
    ap.add_argument("--bed-passes", type=int, default=2, help="passes of 23 k windows per k (default 2; 0: none)")
    ap.add_argument("--name", default="", help="result file name (default: batch-memory-<host>-<date>.json)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.backend, args.batches, args.max_batch, args.seed, args.bed_passes)))
        return 0
    sys.path.insert(0, str(REPO))
    from realtime.model import BATCH_WINDOWS

    date = _dt.date.today().isoformat()
    path = REPO / "benchmarks" / "results" / (args.name or f"batch-memory-{platform.node() or 'host'}-{date}.json")
    if path.exists():
        ap.error(f"{path} exists: choose another --name")
    modes = ([] if args.no_baselines else list(BASELINES)) + (
        args.shapes.split(",") if args.shapes else [str(BATCH_WINDOWS)]
    )
    load_start = list(os.getloadavg())
    rows = []
    for mode in modes:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--backend",
            args.backend,
            "--bed-passes",
            str(args.bed_passes),
        ]
        cmd += ["--batches", str(args.batches), "--max-batch", str(args.max_batch), "--seed", str(args.seed)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(f"  {rows[-1]['mode']}: done", flush=True)
    load_end = list(os.getloadavg())
    print(f"{args.batches} random batches of 1-{args.max_batch} windows, backend {rows[0]['backend']}")
    print(
        f"{'mode':<16} {'shapes':>6} {'ready s':>8} {'warm-up s':>9} {'first':>6} {'warm':>6} {'end':>6} {'peak':>6} "
        f"{'ms/window':>10} {'beds ms/w':>10}   (RSS, MiB)"
    )

    def fmt(v, spec: str) -> str:
        return "-" if v is None or v != v else format(v, spec)

    for r in rows:
        print(
            f"{r['mode']:<16} {fmt(len(r['shapes']) if r['shapes'] else None, 'd'):>6} {fmt(r['ready_s'], '.2f'):>8} "
            f"{fmt(r['warmup_s'], '.2f'):>9} {fmt(r['rss_first_mib'], 'd'):>6} {r['rss_warm_mib']:>6} "
            f"{r['rss_end_mib']:>6} {r['hwm_mib']:>6} {r['ms_per_window']:>10} "
            f"{fmt(r['bed_passes_ms_per_window'], '.3f'):>10}"
        )
    print(f"load average: start {load_start}, end {load_end}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "command": " ".join(["benchmarks/batch_memory.py", *(argv if argv is not None else sys.argv[1:])]),
                "date": date,
                "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average_at_start": load_start,
                "load_average_at_end": load_end,
                "rows": rows,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
