"""What a daemon that falls behind does to the alarms (not a test): the soak's stitched recording
through the pipeline in chunks of one hop and in bursty chunks of random length.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/soak_skipping.py [--cycles 12] [--seed 0]
        [--backend auto|tensorflow|litert|openvino] [--model EXPORT]

The recording is benchmarks/soak_faults.py's cycle (the CHB-MIT non-seizure excerpt, then the seizure
excerpt: 82 s, one seizure from 42 s to 82 s), repeated ``--cycles`` times, pushed into one
:class:`realtime.pipeline.Pipeline` per pass, with the daemon's settings (the model card's):

- ``one hop``: chunks of one hop (256 samples): one window due per chunk;
- ``bursts``: chunks of random length (64 to 2048 samples): several windows due at once, as in a daemon
  that fell behind (what the soak's ``windows scored / due`` measured).

Until 2026-12-01 a live pipeline scored only the newest due window when several were due: with bursts,
8 of 12 seizures alarmed (277 of 980 windows scored) against 12 of 12 scoring every window. Since then
every due window still buffered is scored, in one batched call, and both passes must give the same onsets.

Per pass: windows scored, seizures with an onset (between the seizure's start and 10 s past its end),
seizures with two or more onsets (an event split in two), seizures without one. Pure pipeline, no
processes; prints a table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from realtime.config import MODEL_BACKENDS  # noqa: E402

CYCLE_S, SEIZURE_S = 82.0, (42.0, 82.0)
RANDOM_CHUNKS = (64, 128, 256, 512, 1024, 2048)


def one_pass(detector, cfg, data: np.ndarray, fs: float, names: list[str], chunks, seed: int) -> dict:
    """Push ``data [n_samples, n_channels]`` in chunks drawn from ``chunks``; the onsets (seconds) and windows."""
    from realtime.pipeline import Pipeline

    pipe = Pipeline(
        detector,
        sfreq=fs,
        ch_names=names,
        units=None,
        window=cfg.window,
        decision=cfg.decision,
        signal=cfg.signal,
    )
    rng = np.random.default_rng(seed)
    onsets: list[float] = []
    i = 0
    while i < data.shape[0]:
        n = min(int(rng.choice(chunks)), data.shape[0] - i)
        pipe.push(data[i : i + n], np.arange(i, i + n) / fs)
        i += n
        for res in pipe.step():
            onsets += [res.window_end for ev in res.events if ev.kind == "onset"]
    return {"onsets": onsets, "windows": pipe.windows_total, "skipped": pipe.skipped_windows_total}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", choices=MODEL_BACKENDS, default="auto")
    ap.add_argument("--model", default=None)
    args = ap.parse_args(argv)
    if args.cycles < 2:
        ap.error(f"--cycles must be at least 2, got {args.cycles!r}")
    from realtime.config import apply_model_settings, build_config
    from realtime.demo import DATA
    from realtime.model import load_detector
    from realtime.recordings import read_recording

    det = load_detector(args.model, backend=args.backend)
    cfg, _ = apply_model_settings(build_config({}), det.settings, window_s=det.window_samples / det.sample_rate_hz)
    a = read_recording(DATA / "chbmit" / "chb01_03_NonSeizure.edf")
    b = read_recording(DATA / "chbmit" / "chb01_03_Seizure.edf")
    data = np.ascontiguousarray(np.tile(np.concatenate([a.data, b.data], axis=1), (1, args.cycles)).T)
    passes = {"one hop": (round(cfg.window.hop_s * a.sfreq),), "bursts": RANDOM_CHUNKS}
    rows = []
    for label, chunks in passes.items():
        r = one_pass(det, cfg, data, a.sfreq, list(a.ch_names), chunks, args.seed)
        per = [
            sum(k * CYCLE_S + SEIZURE_S[0] <= t <= k * CYCLE_S + SEIZURE_S[1] + 10 for t in r["onsets"])
            for k in range(args.cycles)
        ]
        missed = [k for k, n in enumerate(per) if n == 0]
        rows.append(
            f"{label:<17} {r['windows']:>5} scored, {r['skipped']:>5} skipped  seizures alarmed "
            f"{sum(n > 0 for n in per)} / {args.cycles}, split {sum(n > 1 for n in per)}, missed {missed}"
        )
    print(f"model {det.model_version} on {det.backend}; {args.cycles} cycles of {CYCLE_S:g} s, seed {args.seed}")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
