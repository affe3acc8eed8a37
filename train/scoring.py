"""Test-split scoring of a training run: window- and segment-level metrics per contrast.

(The evaluation's own scoring, with confidence intervals and SzCORE events, is evaluation/metrics.py.)

Window level: every ``window_samples`` window at ``eval_hop_samples`` of a test recording (plus one
aligned to its end), labelled with its recording's label. Segment level: a segment is called
seizure when the MEAN of its window probabilities exceeds 0.5. AUROC is the Mann-Whitney statistic
(ties count one half). Confusion matrices: rows true [non_seizure, seizure], columns predicted.
"""

from __future__ import annotations

import numpy as np

from train.datasets.records import Record, windows

# name -> (predicate for positives, predicate for negatives), on records
CONTRASTS = {
    "bonn_S_vs_all": (lambda r: r.source == "bonn" and r.subset == "S",
                      lambda r: r.source == "bonn" and r.subset in ("Z", "O", "N", "F")),
    "bonn_S_vs_NF": (lambda r: r.source == "bonn" and r.subset == "S",
                     lambda r: r.source == "bonn" and r.subset in ("N", "F")),
    "bonn_S_vs_ZO": (lambda r: r.source == "bonn" and r.subset == "S",
                     lambda r: r.source == "bonn" and r.subset in ("Z", "O")),
    "nscnd_ictal_vs_rest": (lambda r: r.source == "nscnd" and r.label == 1,
                            lambda r: r.source == "nscnd" and r.label == 0),
    "edf_seizure_vs_rest": (lambda r: r.source == "edf" and r.label == 1,
                            lambda r: r.source == "edf" and r.label == 0),
    "all": (lambda r: r.label == 1, lambda r: r.label == 0),
}


def auroc(y, p) -> float | None:
    """Area under the ROC curve (Mann-Whitney U / (n_pos n_neg)); None when a class is absent."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=np.float64)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return None
    from scipy.stats import rankdata
    ranks = rankdata(p)  # average ranks over ties
    return float((ranks[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def binary_metrics(y, p, threshold: float = 0.5) -> dict:
    y = np.asarray(y).astype(int)
    pred = (np.asarray(p) > threshold).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    n = len(y)
    return {
        "n": n, "n_positive": int(y.sum()), "n_negative": int(n - y.sum()),
        "accuracy": (tp + tn) / n if n else None,
        "sensitivity": tp / (tp + fn) if tp + fn else None,
        "specificity": tn / (tn + fp) if tn + fp else None,
        "auroc": auroc(y, p),
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }


def record_windows(r: Record, window_samples: int, hop_samples: int) -> np.ndarray:
    """``[n_windows, window_samples]``: windows every hop, plus one aligned to the record's end."""
    w = windows(r.signal_uv, window_samples, hop_samples)
    n = len(r.signal_uv)
    if n >= window_samples and (n - window_samples) % hop_samples:
        w = np.concatenate([w, r.signal_uv[None, n - window_samples:].astype(np.float32)])
    return w


def keras_predict(infer_model, batch_windows: int = 512):
    """``predict`` for :func:`window_probabilities` from a Keras inference model ``[n, window] -> [n, 2]``."""
    import tensorflow as tf

    infer = tf.function(lambda x: infer_model(x, training=False))

    def predict(w: np.ndarray) -> np.ndarray:
        out = [infer(tf.constant(w[i:i + batch_windows]))[:, 1].numpy() for i in range(0, len(w), batch_windows)]
        return np.concatenate(out) if out else np.zeros(0)
    return predict


def window_probabilities(predict, records: list[Record], window_samples: int, hop_samples: int) -> dict[str, np.ndarray]:
    """``predict``: ``[n, window_samples]`` float32 -> ``[n]`` p(seizure). Returns id -> ``[n_windows]``."""
    out = {}
    for r in records:
        w = record_windows(r, window_samples, hop_samples)
        out[r.recording_id] = np.asarray(predict(w), dtype=np.float64).reshape(-1) if len(w) else np.zeros(0)
    return out


def score(records: list[Record], probs: dict[str, np.ndarray]) -> dict:
    """Metrics per contrast (only contrasts with both classes present)."""
    res = {"segment_decision": "seizure when the mean window probability > 0.5",
           "window_decision": "seizure when the window probability > 0.5",
           "confusion_matrix": "rows true [non_seizure, seizure], columns predicted [non_seizure, seizure]"}
    for name, (is_pos, is_neg) in CONTRASTS.items():
        sel = [r for r in records if (is_pos(r) or is_neg(r)) and len(probs.get(r.recording_id, ()))]
        if not any(is_pos(r) for r in sel) or not any(is_neg(r) for r in sel):
            continue
        seg_y = np.array([1 if is_pos(r) else 0 for r in sel])
        seg_p = np.array([probs[r.recording_id].mean() for r in sel])
        win_y = np.concatenate([np.full(len(probs[r.recording_id]), 1 if is_pos(r) else 0) for r in sel])
        win_p = np.concatenate([probs[r.recording_id] for r in sel])
        res[name] = {"segment": binary_metrics(seg_y, seg_p), "window": binary_metrics(win_y, win_p)}
    return res
