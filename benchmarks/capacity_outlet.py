"""The capacity benchmark's LSL outlets (run as one process by benchmarks/capacity.py): N beds of
23-channel 256 Hz EEG from one process, in real time.

    python benchmarks/capacity_outlet.py --beds N --prefix PREFIX --t0 LSL_TIME --stats PATH
        [--chunk-s 0.03125] [--seed 0] REC [REC ...]

The recordings (EDF/BDF/NPZ with the same channels and rate; capacity.py passes the shipped CHB-MIT
non-seizure then seizure excerpts, 23 channels at 256 Hz, an 82 s cycle with one seizure) are
concatenated into one cycle that repeats for ever. Bed ``b`` is the LSL stream ``PREFIX-bedNNN``
(source id ``PREFIX-srcNNN``, type ``EEG``, float32 microvolts with labels and units in its metadata,
as ``realtime-replay`` makes it); it plays the cycle from its own random place (``--seed``), so the
beds' seizures do not fall at the same moment. Sample ``g`` of every bed is due at LSL time
``t0 + g / sfreq`` and is stamped with that time: the stream's timestamps are the moments a device
would have made the samples, so a window's newest sample stamp is when its signal existed.

Chunks of ``--chunk-s`` (8 samples at the default 1/32 s: a device's packet) are pushed as soon as
their last sample is due, every bed in the same pass. The process records how late each pass came
against that due time (a starved outlet would show up as latency of the daemon) and, on SIGTERM,
writes ``--stats`` (JSON: passes, chunks pushed per bed, push lateness p50/p99/max in seconds, its
own CPU seconds) and exits 0. It prints ``ready`` on stdout once every outlet exists.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.soak_outlet import load_cycle  # noqa: E402


def stream_name(prefix: str, bed: int) -> str:
    return f"{prefix}-bed{bed:03d}"


def source_id(prefix: str, bed: int) -> str:
    return f"{prefix}-src{bed:03d}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recordings", nargs="+")
    ap.add_argument("--beds", type=int, required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--t0", type=float, required=True, help="LSL clock at which sample 0 of every bed is due")
    ap.add_argument("--chunk-s", type=float, default=1 / 32, help="seconds of signal per pushed chunk")
    ap.add_argument("--seed", type=int, default=0, help="where in the cycle each bed starts")
    ap.add_argument("--stats", required=True, help="JSON written at exit")
    a = ap.parse_args(argv)
    if a.beds < 1 or not (math.isfinite(a.t0) and math.isfinite(a.chunk_s) and a.chunk_s > 0):
        ap.error("--beds must be >= 1, --t0 finite, --chunk-s finite and > 0")
    import pylsl

    from realtime.replay import make_outlet

    data, sfreq, ch_names = load_cycle(a.recordings)
    n_cycle = data.shape[0]
    chunk = max(1, round(a.chunk_s * sfreq))
    starts = np.random.default_rng(a.seed).integers(0, n_cycle, size=a.beds)
    rec = SimpleNamespace(ch_names=ch_names, sfreq=sfreq)
    outlets = [
        make_outlet(rec, stream_name(a.prefix, b), "EEG", source_id(a.prefix, b), chunk, Path(a.recordings[0]))
        for b in range(a.beds)
    ]
    # Twice the cycle, so that any chunk is one slice (no modulo per sample).
    doubled = np.ascontiguousarray(np.concatenate([data, data], axis=0))
    flags = {"stop": False}

    def on_term(signum, frame):
        flags["stop"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print("ready", flush=True)

    lateness: list[float] = []
    pushed = 0  # chunks per bed
    sent: int | None = None  # next sample index (the same for every bed)
    while not flags["stop"]:
        now = pylsl.local_clock()
        due = math.floor((now - a.t0) * sfreq) + 1  # samples 0 .. due-1 are due
        if sent is None:
            sent = max(0, due - due % chunk)  # start on the chunk grid
        while sent + chunk <= due and not flags["stop"]:
            stamps = (a.t0 + np.arange(sent, sent + chunk) / sfreq).tolist()
            for b, outlet in enumerate(outlets):
                i = (int(starts[b]) + sent) % n_cycle
                outlet.push_chunk(doubled[i : i + chunk], stamps)
            lateness.append(pylsl.local_clock() - stamps[-1])
            pushed += 1
            sent += chunk
        next_due = a.t0 + (sent + chunk - 1) / sfreq
        time.sleep(max(0.0005, min(0.05, next_due - pylsl.local_clock())))
    time.sleep(0.1)  # let the last chunks leave before the outlets go away
    ru = resource.getrusage(resource.RUSAGE_SELF)
    lat = np.asarray(lateness) if lateness else np.zeros(1)
    stats = {
        "beds": a.beds,
        "chunk_samples": chunk,
        "sfreq": sfreq,
        "channels": len(ch_names),
        "cycle_s": n_cycle / sfreq,
        "bed_start_in_cycle_s": [round(float(s) / sfreq, 3) for s in starts],
        "passes": len(lateness),
        "chunks_per_bed": pushed,
        "push_lateness_s": {
            "p50": float(np.percentile(lat, 50)),
            "p99": float(np.percentile(lat, 99)),
            "max": float(lat.max()),
        },
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "pid": os.getpid(),
    }
    Path(a.stats).write_text(json.dumps(stats, indent=1))
    del outlets
    return 0


if __name__ == "__main__":
    sys.exit(main())
