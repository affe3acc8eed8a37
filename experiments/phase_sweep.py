"""Onset latency over window phases: the shipped CHB-MIT seizure scored with its window grid shifted.

    python -m experiments.phase_sweep [--model EXPORT] [--backend auto|tensorflow|litert|openvino] [--phases 8]
        [--stitched --cycles 4] [--channels N] [--json OUT]

A live daemon starts its window grid when its stream connects, so where the windows fall in a seizure is an
accident of that moment; an offline pass (``realtime-detect --file``, the evaluation) always starts it at the
first sample. This scores the shipped seizure excerpt (TEST data: a measurement, never a tuning target) with
the first ``k * hop / phases`` samples dropped, for k = 0 .. phases - 1, through the offline pipeline
(:func:`realtime.offline.run_offline`; the default configuration, so the model card's decision settings), and
reports each phase's onsets as latencies from the annotated seizure onset (the deciding window's end minus the
onset, seconds; the excerpt's seizure starts 1 s into it). ``--stitched`` scores the non-seizure excerpt then
the seizure excerpt, ``--cycles`` times over (as the soak plays them: the seizure follows 41 s of signal, no
start-up settling in the way); ``--channels N`` scores only the first N channels.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from evaluation.recordings import CHBMIT_NONSEIZURE as NONSEIZURE
from evaluation.recordings import CHBMIT_SEIZURE as SEIZURE
from evaluation.recordings import CHBMIT_SEIZURE_SPAN
from realtime.config import MODEL_BACKENDS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ONSET_IN_EXCERPT_S = CHBMIT_SEIZURE_SPAN[0]  # the seizure starts 1 s into the excerpt, lasts to its end


def phase_offsets(hop_samples: int, phases: int) -> list[int]:
    """Samples dropped from the start for each phase: ``round(k * hop_samples / phases)``, k = 0 .. phases - 1."""
    if phases < 1 or hop_samples < 1:
        raise ValueError(f"phases and hop_samples must be >= 1, got {phases!r} and {hop_samples!r}")
    return [round(k * hop_samples / phases) for k in range(phases)]


def latencies(onset_window_ends_s: list[float], seizure_onsets_s: list[float], seizure_s: float) -> list[list[float]]:
    """Per seizure (onset times in the scored file, each lasting ``seizure_s``), the latencies of the onsets
    whose deciding window ends within it: ``window_end - seizure onset``, in order; onsets elsewhere are
    left out (an onset outside every seizure is a false alarm, reported apart by the caller)."""
    return [[round(t - s, 3) for t in sorted(onset_window_ends_s) if s <= t <= s + seizure_s] for s in seizure_onsets_s]


def sweep(detector, config, *, phases: int, stitched: bool, cycles: int, channels: int | None) -> dict:
    from realtime.offline import run_offline
    from realtime.recordings import read_recording, write_npz

    sz = read_recording(SEIZURE)
    parts = [read_recording(NONSEIZURE).data, sz.data] if stitched else [sz.data]
    data = np.tile(np.concatenate(parts, axis=1), (1, cycles if stitched else 1))
    period_s = sum(p.shape[1] for p in parts) / sz.sfreq
    first_onset_s = (period_s - sz.duration_s if stitched else 0.0) + ONSET_IN_EXCERPT_S
    seizure_s = sz.duration_s - ONSET_IN_EXCERPT_S
    names = sz.ch_names[:channels] if channels else sz.ch_names
    hop = round(config.window.hop_s * sz.sfreq)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="phase-sweep-") as tmp:
        paths = []
        for off in phase_offsets(hop, phases):
            p = write_npz(Path(tmp) / f"phase-{off:04d}.npz", data[: len(names), off:], sz.sfreq, names)
            paths.append((off, p))
        out = io.StringIO()
        rc = run_offline([p for _, p in paths], config, model=detector, out=out)
        if rc != 0:
            raise RuntimeError(f"scoring failed: {out.getvalue()[-2000:]}")
        msgs = [json.loads(line) for line in out.getvalue().splitlines()]
    for off, p in paths:
        shift_s = off / sz.sfreq
        onsets = [m["window_end"] for m in msgs if m.get("file") == str(p) and m.get("type") == "seizure.onset"]
        seizures = [first_onset_s + c * period_s - shift_s for c in range(cycles if stitched else 1)]
        lat = latencies(onsets, seizures, seizure_s)
        inside = sum(len(x) for x in lat)
        rows.append(
            {
                "dropped_samples": off,
                "latencies_s": lat,
                "first_latency_s": [x[0] if x else None for x in lat],
                "onsets_outside_seizures": len(onsets) - inside,
            }
        )
    firsts = [x for r in rows for x in r["first_latency_s"]]
    found = [x for x in firsts if x is not None]
    return {
        "recording": "stitched" if stitched else "seizure excerpt",
        "cycles": cycles if stitched else 1,
        "channels": len(names),
        "phases": rows,
        "seizures": len(firsts),
        "seizures_missed": len(firsts) - len(found),
        "first_latency_s": None
        if not found
        else {"min": min(found), "median": float(np.median(found)), "max": max(found)},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="an export (default: the shipped model)")
    ap.add_argument("--backend", choices=MODEL_BACKENDS, default="auto")
    ap.add_argument("--phases", type=int, default=8)
    ap.add_argument("--stitched", action="store_true")
    ap.add_argument("--cycles", type=int, default=4)
    ap.add_argument("--channels", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from realtime.config import load_config
    from realtime.model import ModelLoadError, load_detector

    if args.phases < 1 or args.cycles < 1 or (args.channels is not None and not 1 <= args.channels <= 23):
        ap.error(
            f"--phases and --cycles must be >= 1 and --channels 1-23, got {args.phases}, {args.cycles}, {args.channels}"
        )
    try:
        det = load_detector(args.model, backend=args.backend)
    except (ModelLoadError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    res = sweep(
        det, load_config(None), phases=args.phases, stitched=args.stitched, cycles=args.cycles, channels=args.channels
    )
    res["model_version"] = det.model_version
    for r in res["phases"]:
        print(
            f"dropped {r['dropped_samples']:4d} samples: onsets at {r['latencies_s']} s after the seizure's onset"
            + (f"; {r['onsets_outside_seizures']} outside" if r["onsets_outside_seizures"] else "")
        )
    print(json.dumps({k: v for k, v in res.items() if k != "phases"}))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
