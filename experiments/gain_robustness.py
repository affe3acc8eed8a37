"""Test-split metrics of an export when every window is multiplied by a gain (calibration error).

    python -m experiments.gain_robustness EXPORT_DIR [--data-root ../shared/data] [--gains 0.5 1 2] [--json OUT]
        [--split test|validation|train]

The test recordings are the ones listed in the export's card (``training.split.test``; ``--split``
another part of the card's split, e.g. ``validation`` to study a model without its test split), loaded from
``--data-root`` (needs ``/work/shared/data``); windows as in the test split; scored through
``realtime.model.load_detector``. Prints one markdown table: segment-level accuracy (sensitivity /
specificity) per gain and contrast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONTRASTS = ("bonn_S_vs_all", "bonn_S_vs_NF", "nscnd_ictal_vs_rest")


def gain_metrics(predict, records, gains, window_samples: int, hop_samples: int) -> dict[float, dict]:
    """``{gain: train.scoring.score(...)}`` with every window multiplied by ``gain`` before ``predict``.

    ``predict``: ``[n, window_samples]`` float32 µV -> ``[n]`` p(seizure). A gain <= 0 or not finite is refused.
    """
    from train.scoring import score, window_probabilities

    out = {}
    for g in gains:
        g = float(g)
        if not np.isfinite(g) or g <= 0:
            raise ValueError(f"gain must be a finite number > 0, got {g!r}")
        probs = window_probabilities(
            lambda w, g=g: predict((w * g).astype(np.float32)), records, window_samples, hop_samples
        )
        out[g] = score(records, probs, window_samples, hop_samples)
    return out


def table(res: dict[float, dict], contrasts=CONTRASTS) -> str:
    def cell(m):
        return f"{100 * m['accuracy']:.1f} % ({100 * m['sensitivity']:.0f} / {100 * m['specificity']:.0f})"

    present = [c for c in contrasts if any(c in r for r in res.values())]
    lines = ["| gain | " + " | ".join(present) + " |", "|---" * (len(present) + 1) + "|"]
    for g, r in res.items():
        lines.append(f"| {g:g}x | " + " | ".join(cell(r[c]["segment"]) if c in r else "n/a" for c in present) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export")
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--gains", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    ap.add_argument("--json", default=None)
    ap.add_argument("--split", choices=("test", "validation", "train"), default="test")
    args = ap.parse_args(argv)
    from realtime.model import ModelLoadError, load_detector
    from train.datasets.records import load_sources

    try:
        det = load_detector(args.export)
    except (ModelLoadError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    card = det.card
    test_ids = set(card.get("training", {}).get("split", {}).get(args.split, []))
    # the records the split names (Bonn, New Delhi); the background corpus is split by person, elsewhere
    sources = [s for s in card.get("training", {}).get("data_sources", []) if s != "background"]
    if not test_ids or not sources:
        print(f"error: the card of {args.export!r} lists no {args.split} split or no data sources", file=sys.stderr)
        return 2
    hop = int(card.get("hyperparameters", {}).get("signal", {}).get("eval_hop_samples", det.window_samples // 4))
    recs = [
        r
        for r in load_sources(sources, args.data_root, sample_rate_hz=det.sample_rate_hz)
        if r.recording_id in test_ids
    ]
    try:
        res = gain_metrics(det.predict, recs, args.gains, det.window_samples, hop)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).write_text(json.dumps({str(g): r for g, r in res.items()}, indent=2))
    print(table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
