"""Scalp-transfer proxy: score a model on every New Delhi segment (a source it never saw).

    python -m experiments.transfer TARGET [--data-root ../shared/data] [--json OUT.json]

TARGET is a run directory (``hparams.json`` + best weights, rebuilt by ``train.fit.load_run``) or an
export directory (``model_card.json``, loaded by ``realtime.model.load_detector``). Needs
``/work/shared/data`` (research-use data); not part of the test run except through synthetic files.

Protocol (docs/training.md, "Scalp-transfer proxy (pre-registered)"): the model is trained on Bonn
only; all 120 New Delhi segments are scored, windows as in the test split (``eval_hop_samples``
plus one aligned to the end), a segment is called seizure when its MEAN window probability > 0.5;
ictal (positive) vs interictal + preictal (negative): sensitivity, specificity, balanced accuracy,
AUROC; and per probe threshold the share of segments whose highest window reaches it. For a run
directory, the segment metrics of the run's own validation split are added (the selection rule's
last tie-breaker).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# thresholds at which the share of segments with a window at or above them is reported: how
# confident the model is on a source it never saw (the decision threshold's headroom)
PROBE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _scored(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    return p[np.isfinite(p)]


def transfer_metrics(records, probs: dict[str, np.ndarray], threshold: float = 0.5) -> dict:
    """Segment- and window-level metrics of label-1 vs label-0 ``records``.

    ``records``: ``train.datasets.records.Record`` list; ``probs``: recording id -> ``[n_windows]``
    p(seizure). Adds ``balanced_accuracy`` ((sensitivity + specificity) / 2) and the mean segment
    probability per subset. A record without windows is refused (it cannot be scored).
    """
    from evaluation.metrics import json_ready, level_metrics

    if not records:
        raise ValueError("no records to score")
    # the windows scored (NaN: left out as the daemon leaves it out)
    scored = {r.recording_id: _scored(probs.get(r.recording_id, ())) for r in records}
    missing = [rid for rid, p in scored.items() if p.size == 0]
    if missing:
        raise ValueError(f"no window probabilities for {len(missing)} records, e.g. {missing[:3]!r}")
    y = np.array([r.label for r in records])
    seg_p = np.array([float(np.mean(scored[r.recording_id])) for r in records])
    win_y = np.concatenate([np.full(len(scored[r.recording_id]), r.label) for r in records])
    win_p = np.concatenate([scored[r.recording_id] for r in records])
    out: dict[str, Any] = {"segment_decision": f"seizure when the mean window probability > {threshold}"}
    for level, yy, pp in (("segment", y, seg_p), ("window", win_y, win_p)):
        m = json_ready(level_metrics(yy, pp, threshold))  # NaN -> None
        if m["sensitivity"] is None or m["specificity"] is None:
            raise ValueError(
                f"both classes are needed, got {m['n_positive']} positive and {m['n_negative']} negative {level}s"
            )
        m["balanced_accuracy"] = (m["sensitivity"] + m["specificity"]) / 2
        out[level] = m
    top = np.array([float(np.max(scored[r.recording_id])) for r in records])
    out["highest_window_p"] = {
        "meaning": "share of positive / negative segments with at least one window p >= threshold",
        "negative_max": float(top[y == 0].max()),
        "by_threshold": {
            f"{t:g}": {"positive": float(np.mean(top[y == 1] >= t)), "negative": float(np.mean(top[y == 0] >= t))}
            for t in PROBE_THRESHOLDS
        },
    }
    subsets = sorted({r.subset for r in records})
    out["mean_segment_p_by_subset"] = {
        s: float(np.mean([p for r, p in zip(records, seg_p, strict=True) if r.subset == s])) for s in subsets
    }
    return out


def _predictor(target: Path):
    """(predict ``[n, window] -> [n]``, window_samples, hop_samples, sample_rate_hz, hp or None)."""
    if (target / "hparams.json").exists():
        from train.fit import load_run

        hp, _, infer = load_run(target)

        def predict(w):
            return np.asarray(infer.predict(w, batch_size=256, verbose=0))[:, 1]

        return predict, hp.signal.window_samples, hp.signal.eval_hop_samples, hp.signal.sample_rate_hz, hp
    if (target / "model_card.json").exists():
        from realtime.model import load_detector

        det = load_detector(target)
        hop = int(
            det.card.get("hyperparameters", {}).get("signal", {}).get("eval_hop_samples", det.window_samples // 4)
        )
        return det.predict, det.window_samples, hop, det.sample_rate_hz, None
    raise FileNotFoundError(
        f"{str(target)!r} is neither a run directory (hparams.json) nor an export (model_card.json)"
    )


def validation_metrics(run_dir: Path, hp, predict, data_root: Path) -> dict:
    """Segment/window metrics per contrast on the run's validation split (its own sources)."""
    from train.datasets.records import run_records
    from train.scoring import score, window_probabilities

    split = json.loads((run_dir / "split.json").read_text())
    ids = set(split["validation"])
    recs = [r for r in run_records(hp, data_root) if r.recording_id in ids]
    probs = window_probabilities(predict, recs, hp.signal.window_samples, hp.signal.eval_hop_samples)
    return score(recs, probs, hp.signal.window_samples, hp.signal.eval_hop_samples)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", help="run directory or export directory")
    ap.add_argument("--data-root", default="../shared/data", help="folder holding nscnd/ (and the run's sources)")
    ap.add_argument(
        "--json",
        default=None,
        help="write the metrics here (default: TARGET/transfer_nscnd.json for a run directory, else stdout only)",
    )
    args = ap.parse_args(argv)
    from train.datasets.nscnd import load_nscnd
    from train.scoring import window_probabilities

    target = Path(args.target)
    try:
        predict, window, hop, fs, hp = _predictor(target)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if hp is not None and "nscnd" in hp.data.sources:
        print(
            f"error: run {str(target)!r} was trained on New Delhi (data.sources = {hp.data.sources!r}); "
            "the proxy needs a model that never saw it",
            file=sys.stderr,
        )
        return 2
    records = load_nscnd(Path(args.data_root) / "nscnd", sample_rate_hz=fs)
    probs = window_probabilities(predict, records, window, hop)
    res: dict[str, Any] = {"target": str(target), "nscnd": transfer_metrics(records, probs)}
    if hp is not None:
        val = validation_metrics(target, hp, predict, Path(args.data_root))
        res["validation"] = {k: v for k, v in val.items() if isinstance(v, dict)}
    text = json.dumps(res, indent=2)
    out = args.json or (str(target / "transfer_nscnd.json") if hp is not None else None)
    if out:
        Path(out).write_text(text)
    s = res["nscnd"]["segment"]
    line = {
        "target": str(target),
        "n": s["n"],
        "sensitivity": s["sensitivity"],
        "specificity": s["specificity"],
        "balanced_accuracy": s["balanced_accuracy"],
        "auroc": s["auroc"],
        "mean_p": res["nscnd"]["mean_segment_p_by_subset"],
    }
    if hp is not None and "all" in res["validation"]:
        line["validation_segment_accuracy"] = res["validation"]["all"]["segment"]["accuracy"]
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
