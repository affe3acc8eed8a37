"""The amplitude range a run was trained on: standard deviation of its non-seizure training windows.

``python -m experiments.amplitude RUN_DIR`` prints, per source and over all, the 1st / 50th / 99th
percentile of the standard deviation (µV) of every non-seizure training window (window_samples at
the model rate, hop train_hop_samples), and the daemon's ``[signal]`` amplitude bounds derived from
them (half the 1st percentile, twice the 99th): how the shipped defaults in realtime/config.py were
set. Needs the run's data sources (../shared/data for Bonn / New Delhi).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def background_window_std(records, window_samples: int, hop_samples: int) -> dict[str, np.ndarray]:
    """``{source: std [n_windows]}`` of the windows lying wholly outside seizure annotations."""
    from train.datasets.records import windows

    out: dict[str, list] = {}
    for r in records:
        x = windows(r.signal_uv, window_samples, hop_samples)
        y = windows(r.labels.astype(np.float32), window_samples, hop_samples)
        if len(x):
            out.setdefault(r.source, []).append(x[y.max(axis=1) == 0].std(axis=1))
    return {k: np.concatenate(v) for k, v in out.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.amplitude", description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--data-root", default="../shared/data")
    args = ap.parse_args(argv)
    from train.datasets.records import run_records
    from train.hparams import from_dict

    run = Path(args.run_dir)
    hp = from_dict(json.loads((run / "hparams.json").read_text()))
    train_ids = set(json.loads((run / "split.json").read_text())["train"])
    recs = [r for r in run_records(hp, args.data_root)
            if r.recording_id in train_ids]
    stds = background_window_std(recs, hp.signal.window_samples, hp.signal.train_hop_samples)
    stds["all"] = np.concatenate(list(stds.values()))
    rows = {k: dict(zip(("p01", "p50", "p99"), np.percentile(v, [1, 50, 99]).round(1).tolist()), n=int(v.size))
            for k, v in stds.items()}
    q = rows["all"]
    rows["daemon_bounds_uv"] = {"amplitude_low_uv": round(q["p01"] / 2, 1), "amplitude_high_uv": round(q["p99"] * 2, 1)}
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
