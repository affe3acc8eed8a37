"""The project's one set of detection metrics: intervals, window/segment metrics, ROC, test-split contrasts.

Pure functions on arrays (numpy and scipy.stats); no I/O, no TensorFlow, nothing of the project.
Used by the evaluation (:mod:`evaluation.evaluate`, :mod:`evaluation.events`) and by training
(:mod:`train.scoring` writes ``test_metrics.json`` with :func:`contrast_metrics`; cross-validation
pools folds with it).

Confidence intervals (two-sided, ``confidence`` = 0.95 unless told):

- proportions (sensitivity, specificity, accuracy): Clopper-Pearson exact interval
  (:func:`clopper_pearson`), and Wilson score interval (:func:`wilson_interval`);
- event rates (false alarms per hour / per 24 h): exact Poisson (Garwood) interval
  (:func:`poisson_rate_interval`). With **zero** events observed it is the one-sided upper bound
  ``-ln(1 - confidence) / T`` (about ``3.0 / T`` at 95 %), as is customary for "none observed".

Test-split contrasts (:data:`CONTRASTS`, :func:`contrast_metrics`): a segment's probability is the
MEAN of its windows' probabilities, seizure when it exceeds 0.5 (a window: when its probability
does); every window carries its segment's label. AUROC is the Mann-Whitney statistic (ties count
one half). Confusion matrices: rows true [non_seizure, seizure], columns predicted. A rate whose
denominator is zero is NaN (:func:`json_ready` turns NaN into JSON ``null``).

SzCORE event scoring of continuous recordings is :mod:`evaluation.events`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


# --------------------------------------------------------------------------- intervals
def _binomial_interval(k: int, n: int, confidence: float, method: str) -> tuple[float, float]:
    k, n = int(k), int(n)
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k!r}, n={n!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if n == 0:
        return math.nan, math.nan
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method=method)
    return float(ci.low), float(ci.high)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for ``k`` successes in ``n`` trials; ``(nan, nan)`` when ``n == 0``."""
    return _binomial_interval(k, n, confidence, "exact")


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials; ``(nan, nan)`` when ``n == 0``."""
    return _binomial_interval(k, n, confidence, "wilson")


def poisson_rate_interval(k: int, exposure: float, confidence: float = 0.95) -> tuple[float, float]:
    """Interval for a Poisson rate: ``k`` events in ``exposure`` units of time -> events per unit.

    ``k > 0``: exact two-sided (Garwood) interval. ``k == 0``: ``(0, -ln(1 - confidence) / exposure)``,
    the one-sided upper bound (2.996 / T at 95 %).
    """
    k = int(k)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k!r}")
    if not exposure > 0:
        raise ValueError(f"exposure must be > 0, got {exposure!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if k == 0:
        return 0.0, -math.log(1.0 - confidence) / exposure
    alpha = 1.0 - confidence
    lo = float(stats.chi2.ppf(alpha / 2, 2 * k)) / 2
    hi = float(stats.chi2.ppf(1 - alpha / 2, 2 * k + 2)) / 2
    return lo / exposure, hi / exposure


# --------------------------------------------------------------------------- classification metrics
def binary_metrics(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, confidence: float = 0.95
) -> dict:
    """``y_true [n]``, ``y_pred [n]`` in {0, 1} (1 = seizure) -> counts, rates and Clopper-Pearson CIs.

    Returns ``{"n", "n_positive", "n_negative", "tp", "fn", "tn", "fp", "confusion_matrix": [[tn, fp],
    [fn, tp]], "accuracy", "sensitivity", "specificity", "accuracy_ci", "sensitivity_ci",
    "specificity_ci"}`` (rows of the confusion matrix: true class 0, 1; columns: predicted 0, 1). A
    rate whose denominator is zero is NaN, its interval ``(nan, nan)``.
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of the same length, got {t.shape} and {p.shape}")
    for name, a in (("y_true", t), ("y_pred", p)):
        bad = np.setdiff1d(np.unique(a), [0, 1])
        if bad.size:
            raise ValueError(f"{name} must contain only 0 and 1, got {bad[:5].tolist()}")
    t, p = t.astype(bool), p.astype(bool)
    tp, fn = int(np.sum(t & p)), int(np.sum(t & ~p))
    tn, fp = int(np.sum(~t & ~p)), int(np.sum(~t & p))
    n = tp + fn + tn + fp

    def rate(k: int, m: int) -> float:
        return k / m if m else math.nan

    return {
        "n": n,
        "n_positive": tp + fn,
        "n_negative": tn + fp,
        "tp": tp,
        "fn": fn,
        "tn": tn,
        "fp": fp,
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "accuracy": rate(tp + tn, n),
        "sensitivity": rate(tp, tp + fn),
        "specificity": rate(tn, tn + fp),
        "accuracy_ci": clopper_pearson(tp + tn, n, confidence),
        "sensitivity_ci": clopper_pearson(tp, tp + fn, confidence),
        "specificity_ci": clopper_pearson(tn, tn + fp, confidence),
    }


def level_metrics(
    y_true: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    threshold: float = 0.5,
    confidence: float = 0.95,
) -> dict:
    """``y_true [n]`` in {0, 1}, ``scores [n]`` p(seizure) -> :func:`binary_metrics` of ``scores > threshold``
    plus ``"auroc"`` (NaN when a class is absent)."""
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    m = binary_metrics(y, (s > threshold).astype(int), confidence)
    m["auroc"] = auroc(y, s)
    return m


def _check_scores(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    if t.shape != s.shape or t.ndim != 1:
        raise ValueError(f"y_true and scores must be 1-D of the same length, got {t.shape} and {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf")
    bad = np.setdiff1d(np.unique(t), [0, 1])
    if bad.size:
        raise ValueError(f"y_true must contain only 0 and 1, got {bad[:5].tolist()}")
    return t, s


def auroc(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos * n_neg), ties counted half); NaN if a class is absent."""
    t, s = _check_scores(y_true, scores)
    n_pos, n_neg = int(t.sum()), int((1 - t).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = stats.rankdata(s)  # average ranks for ties
    u = ranks[t == 1].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def roc_curve(
    y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)``, thresholds decreasing, starting at +inf (nothing positive).

    Point ``i`` is the classifier ``score >= thresholds[i]``.
    """
    t, s = _check_scores(y_true, scores)
    n_pos, n_neg = int(t.sum()), int((1 - t).sum())
    order = np.argsort(-s, kind="mergesort")
    s_sorted, t_sorted = s[order], t[order]
    distinct = np.flatnonzero(np.diff(s_sorted)) if s.size else np.array([], dtype=int)
    idx = np.r_[distinct, s.size - 1] if s.size else np.array([], dtype=int)
    tps = np.cumsum(t_sorted)[idx] if s.size else np.array([])
    fps = (idx + 1) - tps
    tpr = np.r_[0.0, tps / n_pos if n_pos else np.full(tps.shape, np.nan)]
    fpr = np.r_[0.0, fps / n_neg if n_neg else np.full(fps.shape, np.nan)]
    thr = np.r_[np.inf, s_sorted[idx]]
    return fpr, tpr, thr


# --------------------------------------------------------------------------- test-split contrasts
@dataclass(frozen=True)
class Contrast:
    """Positive vs negative records of one ``source`` (``None``: every source).

    ``positive_subsets`` / ``negative_subsets`` pick records by subset (e.g. Bonn set ``"S"``);
    ``None`` picks them by label (1 positive, 0 negative). Records are objects with ``source``,
    ``subset`` and ``label`` (e.g. :class:`train.datasets.records.Record`).
    """

    description: str
    source: str | None = None
    positive_subsets: tuple[str, ...] | None = None
    negative_subsets: tuple[str, ...] | None = None

    def _picks(self, r, subsets: tuple[str, ...] | None, label: int) -> bool:
        if self.source is not None and r.source != self.source:
            return False
        return r.subset in subsets if subsets is not None else int(r.label) == label

    def is_positive(self, r) -> bool:
        return self._picks(r, self.positive_subsets, 1)

    def is_negative(self, r) -> bool:
        return self._picks(r, self.negative_subsets, 0)


# The names are the keys of test_metrics.json, cv_metrics.json and the model card's test metrics.
CONTRASTS: dict[str, Contrast] = {
    "bonn_S_vs_all": Contrast("Bonn S vs Z, O, N, F", "bonn", ("S",), ("Z", "O", "N", "F")),
    "bonn_S_vs_NF": Contrast("Bonn S vs N, F (intracranial only: the fair contrast)", "bonn", ("S",), ("N", "F")),
    "bonn_S_vs_ZO": Contrast("Bonn S vs Z, O (confounded: intracranial vs scalp)", "bonn", ("S",), ("Z", "O")),
    "nscnd_ictal_vs_rest": Contrast("New Delhi ictal vs interictal, preictal (scalp)", "nscnd"),
    "edf_seizure_vs_rest": Contrast("EDF seizure vs rest", "edf"),
    "all": Contrast("every source: seizure vs non-seizure"),
}
# the contrasts `train-detector evaluate` reports (its data are Bonn and New Delhi)
EVALUATION_CONTRASTS: dict[str, Contrast] = {
    k: CONTRASTS[k] for k in ("bonn_S_vs_all", "bonn_S_vs_NF", "bonn_S_vs_ZO", "nscnd_ictal_vs_rest")
}
SEGMENT_THRESHOLD = 0.5  # a segment (window) is called seizure when the mean of its window probabilities > this


def segment_probability(window_probs: np.ndarray) -> float:
    """A segment's seizure probability: the mean of its windows' probabilities (NaN if it has none)."""
    w = np.asarray(window_probs, dtype=np.float64)
    return float(w.mean()) if w.size else math.nan


def contrast_metrics(
    records: Sequence,
    probs: dict[str, np.ndarray],
    threshold: float = SEGMENT_THRESHOLD,
    contrasts: dict[str, Contrast] = CONTRASTS,
    *,
    both_classes: bool = False,
    window_labels: dict[str, np.ndarray] | None = None,
) -> dict:
    """Segment- and window-level metrics per contrast.

    ``records``: objects with ``recording_id``, ``source``, ``subset``, ``label``; ``probs``:
    ``{recording_id: [n_windows] p(seizure)}``, NaN for a window left out (``windows_left_out`` counts them; a
    record with none scored is one of ``no_windows``). A window is labelled with its segment's label (every
    Bonn/New Delhi segment is wholly ictal or not), or, where ``window_labels`` gives a recording's
    ``[n_windows]`` 0/1 (a long recording with a seizure in it), with those: then a window is
    positive where its label is 1 and the record is a positive of the contrast. Returns ``{contrast:
    {"description", "no_windows", "segment": {...}, "window": {...}}}`` where each level is
    :func:`level_metrics`. Records without
    windows are counted in ``"no_windows"`` and left out. A contrast with no record is left out; with
    ``both_classes``, so is one without a positive and a negative record that has windows.
    """
    out: dict = {}
    for name, contrast in contrasts.items():
        sel = [r for r in records if contrast.is_positive(r) or contrast.is_negative(r)]
        if not sel:
            continue
        seg_y, seg_p, win_y, win_p, empty, left_out = [], [], [], [], 0, 0
        for r in sel:
            w = np.asarray(probs.get(r.recording_id, []), dtype=np.float64)
            scored = np.isfinite(w)  # NaN: a window left out (flat, clipped, implausible), not scored
            left_out += int(w.size - np.count_nonzero(scored))
            if not scored.any():
                empty += 1
                continue
            y = 1 if contrast.is_positive(r) else 0
            seg_y.append(y)
            seg_p.append(segment_probability(w[scored]))
            if window_labels is not None and r.recording_id in window_labels:
                own = np.asarray(window_labels[r.recording_id], dtype=int)
                if own.shape != w.shape:
                    raise ValueError(f"{r.recording_id!r}: {own.size} window labels for {w.size} window probabilities")
                win_y.extend((own[scored] * y).tolist())
            else:
                win_y.extend([y] * int(np.count_nonzero(scored)))
            win_p.extend(w[scored].tolist())
        if both_classes and not (any(seg_y) and not all(seg_y)):
            continue
        entry = {"description": contrast.description, "no_windows": empty, "windows_left_out": left_out}
        for level, ys, ps in (("segment", seg_y, seg_p), ("window", win_y, win_p)):
            entry[level] = level_metrics(np.asarray(ys, dtype=int), np.asarray(ps, dtype=np.float64), threshold)
        out[name] = entry
    return out


def json_ready(value):
    """A metrics structure with NaN as ``None`` (JSON ``null``), tuples as lists and numpy scalars as Python's."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
