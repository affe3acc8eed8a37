"""One-off sanity check of an export on the shipped CHB-MIT excerpts (TEST data: never tune on it).

    python -m experiments.sanity_chbmit [EXPORT_DIR] [--backend tensorflow|litert]

Each of the 23 channels is resampled to the model rate (scipy resample_poly), cut into
``window_samples`` windows every 1 s, and scored through ``realtime.model.load_detector``.
Prints, per file and channel, the mean p(seizure), the fraction of windows above 0.5 in the windows
that start after 10 s, and the max; then one JSON line with the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
FILES = [
    REPO / "realtime" / "data" / "chbmit" / "chb01_03_Seizure.edf",
    REPO / "realtime" / "data" / "chbmit" / "chb01_03_NonSeizure.edf",
]


def channel_probabilities(detector, path: Path, hop_s: float = 1.0) -> dict:
    from realtime.recordings import read_recording
    from train.datasets.records import resample_to, windows

    rec = read_recording(path)
    fs, n = detector.sample_rate_hz, detector.window_samples
    hop = int(round(hop_s * fs))
    out = {}
    for i, name in enumerate(rec.ch_names):
        x = resample_to(rec.data[i], rec.sfreq, fs)
        w = windows(x, n, hop)
        p = detector.predict(w)
        starts_s = np.arange(len(w)) * hop / fs
        key = name if name not in out else f"{name}#{i}"
        out[key] = {
            "mean": float(p.mean()),
            "max": float(p.max()),
            "frac_above_0.5_after_10s": float((p[starts_s >= 10] > 0.5).mean()),
            "p": [round(float(v), 3) for v in p],
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export", nargs="?", default=str(REPO / "realtime" / "models" / "default"))
    ap.add_argument("--backend", default="tensorflow")
    ap.add_argument("--json", default=None, help="write the full per-window probabilities here")
    args = ap.parse_args(argv)
    from realtime.model import load_detector

    det = load_detector(args.export, backend=args.backend)
    summary, full = {}, {}
    for f in FILES:
        res = channel_probabilities(det, f)
        full[f.name] = res
        print(f"\n{f.name}  ({det.model_version})")
        print(f"{'channel':<12} {'mean':>6} {'>0.5 after 10s':>15} {'max':>6}")
        for ch, r in res.items():
            print(f"{ch:<12} {r['mean']:6.3f} {r['frac_above_0.5_after_10s']:15.2f} {r['max']:6.3f}")
        means = np.array([r["mean"] for r in res.values()])
        fracs = np.array([r["frac_above_0.5_after_10s"] for r in res.values()])
        summary[f.name] = {
            "channels": len(res),
            "median_channel_mean": float(np.median(means)),
            "channels_mean_above_0.5": int((means > 0.5).sum()),
            "channels_majority_windows_above_0.5_after_10s": int((fracs > 0.5).sum()),
            "max_channel_mean": float(means.max()),
        }
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "channels": full}, indent=1))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
