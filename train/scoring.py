"""Test-split scoring of a training run: windows of records, predictions of a Keras model, metrics per contrast.

The numbers (contrasts, AUROC, confusion matrices, intervals) are :mod:`evaluation.metrics`, the
project's one metrics module; this module cuts the windows and predicts them.

Window level: every ``window_samples`` window at ``eval_hop_samples`` of a test recording (plus one
aligned to its end), but those the daemon would leave out (flat, clipped, implausible: left out of training
too), labelled with the majority of its samples' labels (:func:`window_labels`: a Bonn or New Delhi segment's
label for each of its windows; within an EDF recording, seizure only where the annotations say so). Segment
level: a segment is called seizure when the MEAN of its window probabilities exceeds 0.5. AUROC is the
Mann-Whitney statistic (ties count one half). Confusion matrices: rows true [non_seizure, seizure], columns
predicted.
"""

from __future__ import annotations

import numpy as np

from evaluation.metrics import CONTRASTS, SEGMENT_THRESHOLD, contrast_metrics, json_ready
from train.datasets.records import Record, example_labels, example_quality, loaded


def window_starts(n_samples: int, window_samples: int, hop_samples: int) -> np.ndarray:
    """First samples (int64 ``[n_windows]``) of the scored windows of an ``n_samples`` record: every hop,
    plus one aligned to the record's end."""
    if n_samples < window_samples:
        return np.zeros(0, np.int64)
    starts = np.arange(0, n_samples - window_samples + 1, hop_samples, dtype=np.int64)
    if (n_samples - window_samples) % hop_samples:
        starts = np.append(starts, n_samples - window_samples)
    return starts


def record_windows(r: Record, window_samples: int, hop_samples: int, starts: np.ndarray | None = None) -> np.ndarray:
    """``[n_windows, window_samples]`` float32: the windows at :func:`window_starts` (or at ``starts``)."""
    if starts is None:
        starts = window_starts(len(r.signal_uv), window_samples, hop_samples)
    return np.asarray(r.signal_uv, dtype=np.float32)[starts[:, None] + np.arange(window_samples)[None, :]]


def window_labels(r, window_samples: int, hop_samples: int) -> np.ndarray:
    """int ``[n_windows]``: the majority of each window's per-sample labels (a tie is seizure, as for
    training examples), for a :class:`Record` or a lazy record (its ``labels``, no samples read)."""
    labels = r.labels
    return example_labels(labels, window_starts(len(labels), window_samples, hop_samples), window_samples)


def keras_predict(infer_model, batch_windows: int = 512):
    """``predict`` for :func:`window_probabilities` from a Keras inference model ``[n, window] -> [n, 2]``."""
    import tensorflow as tf

    infer = tf.function(lambda x: infer_model(x, training=False))

    def predict(w: np.ndarray) -> np.ndarray:
        out = [infer(tf.constant(w[i : i + batch_windows]))[:, 1].numpy() for i in range(0, len(w), batch_windows)]
        return np.concatenate(out) if out else np.zeros(0)

    return predict


def window_probabilities(
    predict, records, window_samples: int, hop_samples: int, *, block_windows: int = 4096
) -> dict[str, np.ndarray]:
    """``predict``: ``[n, window_samples]`` float32 -> ``[n]`` p(seizure). Returns id -> ``[n_windows]``, NaN for
    a window the daemon would leave out (flat, clipped, implausible, non-finite: ``records.example_quality``,
    the rule training leaves its examples out by): it is not predicted, and not scored.

    ``records``: :class:`Record` s or lazy records, read one channel at a time (:func:`records.loaded`);
    their windows are cut and predicted ``block_windows`` at a time (16 MB), so that a day-long
    recording's windows (a 75 % overlap: four copies of the signal) are never all in memory."""
    out = {}
    for r in loaded(records):
        starts = window_starts(len(r.signal_uv), window_samples, hop_samples)
        kept = starts[[why is None for why in example_quality(r.signal_uv, r.rail_samples, starts, window_samples)]]
        parts = [
            np.asarray(predict(record_windows(r, window_samples, hop_samples, kept[i : i + block_windows])))
            for i in range(0, len(kept), block_windows)
        ]
        p = np.full(len(starts), np.nan)
        p[np.isin(starts, kept)] = np.concatenate(parts).astype(np.float64).reshape(-1) if parts else []
        out[r.recording_id] = p
    return out


def finite_lists(probs: dict[str, np.ndarray], decimals: int = 5) -> dict[str, list]:
    """``probs`` for JSON: rounded, a window left out (NaN) as ``null``."""
    return {k: [None if not np.isfinite(x) else x for x in np.round(v, decimals).tolist()] for k, v in probs.items()}


def score(records, probs: dict[str, np.ndarray], window_samples: int, hop_samples: int) -> dict:
    """Metrics per contrast of :data:`evaluation.metrics.CONTRASTS`, JSON-ready (``null`` for NaN).

    ``probs``: recording id -> ``[n_windows]`` p(seizure), the windows of ``window_samples`` at
    ``hop_samples`` (:func:`window_probabilities`; NaN: left out, as the daemon leaves it out), each labelled by
    :func:`window_labels`. Only contrasts
    with a positive and a negative record that have windows. Returns the three description keys and
    ``{contrast: {"segment": {...}, "window": {...}, "windows_left_out": n}}``, each level
    :func:`evaluation.metrics.level_metrics`.
    """
    res = {
        "segment_decision": f"seizure when the mean window probability > {SEGMENT_THRESHOLD}",
        "window_decision": f"seizure when the window probability > {SEGMENT_THRESHOLD}",
        "confusion_matrix": "rows true [non_seizure, seizure], columns predicted [non_seizure, seizure]",
    }
    labels = {r.recording_id: window_labels(r, window_samples, hop_samples) for r in records}
    metrics = contrast_metrics(records, probs, SEGMENT_THRESHOLD, CONTRASTS, both_classes=True, window_labels=labels)
    for name, m in metrics.items():
        res[name] = json_ready(
            {"segment": m["segment"], "window": m["window"], "windows_left_out": m["windows_left_out"]}
        )
    return res
