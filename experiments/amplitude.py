"""The amplitude range a run was trained on: standard deviation of its non-seizure training windows.

``python -m experiments.amplitude RUN_DIR`` prints, per source and over all, the 1st / 50th / 99th
percentile of the standard deviation (µV) of every non-seizure training window (window_samples at
the model rate, hop train_hop_samples), and the daemon's ``[signal]`` amplitude bounds derived from
them (half the 1st percentile, twice the 99th). ``--write-card EXPORT_DIR`` also writes those
bounds into the export's ``model_card.json`` as ``settings.signal`` (with the command and date in
``derived_by``; :mod:`evaluation.model_settings`), which the daemon reads for that model: how the
shipped model's bounds (8.7-465 µV) were set. Needs the run's data sources (../shared/data for
Bonn / New Delhi).
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


def amplitude_summary(stds: dict[str, np.ndarray]) -> dict:
    """``{source: {p01, p50, p99, n}, "all": ..., "daemon_bounds_uv": {amplitude_low_uv, amplitude_high_uv}}``
    from :func:`background_window_std`'s ``{source: std [n_windows]}`` (µV, rounded to 0.1)."""
    given = {k: int(np.size(v)) for k, v in stds.items()}
    stds = {k: np.asarray(v, dtype=np.float64) for k, v in stds.items() if np.size(v)}
    if not stds:
        raise ValueError(f"no non-seizure training windows to take percentiles of: got {given!r} windows per source")
    stds["all"] = np.concatenate(list(stds.values()))
    rows = {
        k: dict(zip(("p01", "p50", "p99"), np.percentile(v, [1, 50, 99]).round(1).tolist(), strict=True), n=int(v.size))
        for k, v in stds.items()
    }
    q = rows["all"]
    rows["daemon_bounds_uv"] = {"amplitude_low_uv": round(q["p01"] / 2, 1), "amplitude_high_uv": round(q["p99"] * 2, 1)}
    return rows


def main(argv=None) -> int:
    import shlex
    import sys

    ap = argparse.ArgumentParser(prog="python -m experiments.amplitude", description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument(
        "--write-card",
        metavar="EXPORT_DIR",
        default=None,
        help="write the bounds into EXPORT_DIR/model_card.json as settings.signal",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(argv)
    from train.datasets.records import run_records
    from train.hparams import from_dict

    run = Path(args.run_dir)
    hp = from_dict(json.loads((run / "hparams.json").read_text()))
    train_ids = set(json.loads((run / "split.json").read_text())["train"])
    recs = [r for r in run_records(hp, args.data_root) if r.recording_id in train_ids]
    rows = amplitude_summary(background_window_std(recs, hp.signal.window_samples, hp.signal.train_hop_samples))
    if args.write_card:
        from evaluation.model_settings import derived_by, signal_settings, write_card_settings

        b = rows["daemon_bounds_uv"]
        command = "python -m experiments.amplitude " + " ".join(shlex.quote(a) for a in argv)
        rows["written"] = write_card_settings(
            args.write_card,
            "signal",
            signal_settings(b["amplitude_low_uv"], b["amplitude_high_uv"], derived_by(command)),
        )
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
