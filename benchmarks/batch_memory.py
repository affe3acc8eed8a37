"""Resident memory and time of the model under batches of changing size (not a test): prints a table,
writes benchmarks/results/batch-memory-<host>-<date>.json.

    .venv/bin/python benchmarks/batch_memory.py [--backend tensorflow] [--batches 200] [--max-batch 480]

A daemon that falls behind scores every window still buffered in one pass (all beds' due windows
together), so the runtime sees batches of every size from 1 to hundreds. Each new input shape costs
memory the runtime keeps (and time: kernels are planned per shape). Three ways, each in a fresh
process, on the same random sequence of batch sizes (uniform in 1..--max-batch):

- ``as given``: one runtime call per batch, whatever its size (the naive way, and the daemon before
  ``model.batch_windows``);
- ``chunks of B``: split into chunks of at most B windows, not padded (B + 1 shapes at most);
- ``fixed shapes``: ``ExportedDetector.predict`` as the daemon runs it: chunks of at most
  ``batch_windows``, each zero-padded to the next of 1, 2, 4 ... ``batch_windows``.

Columns: RSS after the first window, after warm-up (the fixed shapes run every size once, as the
daemon does at start-up), at the end and its peak (VmHWM); milliseconds of wall time per window.
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
MODES = ("as given", "chunks of 64", "fixed shapes")


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, backend: str, batches: int, max_batch: int, seed: int) -> dict:
    """Run one mode in this process; returns its numbers."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from realtime.model import load_detector

    det = load_detector(None, backend=backend)
    w = det.window_samples
    det.predict(np.zeros((1, w), np.float32))
    first = _status_mib("VmRSS")
    if mode == "fixed shapes":
        det.warmup()
    warm = _status_mib("VmRSS")
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_batch + 1, batches)
    n_windows, t0 = 0, time.perf_counter()
    for n in sizes:
        x = rng.normal(0.0, 30.0, (int(n), w)).astype(np.float32)
        if mode == "as given":
            det._run(x)  # the runtime called once with the batch as it came (what predict did before)
        elif mode == "chunks of 64":
            for s in range(0, len(x), 64):
                det._run(np.ascontiguousarray(x[s : s + 64]))
        else:
            det.predict(x)
        n_windows += int(n)
    seconds = time.perf_counter() - t0
    return {
        "mode": mode,
        "backend": det.backend,
        "batch_windows": det.batch_windows,
        "rss_first_mib": round(first),
        "rss_warm_mib": round(warm),
        "rss_end_mib": round(_status_mib("VmRSS")),
        "hwm_mib": round(_status_mib("VmHWM")),
        "windows": n_windows,
        "ms_per_window": round(1000 * seconds / n_windows, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="tensorflow", choices=("tensorflow", "litert"))
    ap.add_argument("--batches", type=int, default=200, help="random batches per mode (default 200)")
    ap.add_argument("--max-batch", type=int, default=480, help="largest batch (default 480: 20 beds x 23 channels)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.backend, args.batches, args.max_batch, args.seed)))
        return 0
    rows = []
    for mode in MODES:
        cmd = [sys.executable, __file__, "--child", mode, "--backend", args.backend]
        cmd += ["--batches", str(args.batches), "--max-batch", str(args.max_batch), "--seed", str(args.seed)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{args.batches} random batches of 1-{args.max_batch} windows, backend {rows[0]['backend']}")
    print(f"{'mode':<14} {'first':>7} {'warm':>7} {'end':>7} {'peak':>7} {'ms/window':>10}   (RSS, MiB)")
    for r in rows:
        print(
            f"{r['mode']:<14} {r['rss_first_mib']:>7} {r['rss_warm_mib']:>7} {r['rss_end_mib']:>7} "
            f"{r['hwm_mib']:>7} {r['ms_per_window']:>10}"
        )
    date = _dt.date.today().isoformat()
    path = REPO / "benchmarks" / "results" / f"batch-memory-{platform.node() or 'host'}-{date}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "command": " ".join(["benchmarks/batch_memory.py", *(argv if argv is not None else sys.argv[1:])]),
                "date": date,
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
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
