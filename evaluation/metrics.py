"""Scoring for the evaluation: confidence intervals, window/segment metrics, ROC, SzCORE events.

Pure functions on arrays (numpy, scipy.stats, and the ``timescoring`` package for the SzCORE event
rules); no I/O, no TensorFlow. Used by :mod:`evaluation.evaluate` (and by :mod:`train.scoring` for the test-split metrics).

Confidence intervals (two-sided, ``confidence`` = 0.95 unless told):

- proportions (sensitivity, specificity, accuracy): Clopper-Pearson exact interval
  (:func:`clopper_pearson`), and Wilson score interval (:func:`wilson_interval`);
- event rates (false alarms per hour / per 24 h): exact Poisson (Garwood) interval
  (:func:`poisson_rate_interval`). With **zero** events observed it is the one-sided upper bound
  ``-ln(1 - confidence) / T`` (about ``3.0 / T`` at 95 %), as is customary for "none observed".

SzCORE event scoring (:func:`score_events`): the reference (annotated seizures) and the hypotheses
(detected events) are turned into ``timescoring.annotations.Annotation`` objects and scored with
``timescoring.scoring.EventScoring`` and its default parameters, which are the SzCORE rules
(Dan et al., Epilepsia 2024): 30 s tolerance before and 60 s after an annotated event, any overlap
counts, events longer than 5 min are split, events closer than 90 s are merged. Onset latency is
computed here (the package does not): for each annotated seizure, the first *alarm time* (the time
the onset message is published) of a detected event overlapping the seizure's tolerance-extended
span, minus the annotated onset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import stats

SZCORE_FS_HZ = 10  # time resolution of the annotation masks (timescoring works at 10 Hz)


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
def binary_metrics(y_true: Sequence[int], y_pred: Sequence[int], confidence: float = 0.95) -> dict:
    """``y_true [n]``, ``y_pred [n]`` in {0, 1} (1 = seizure) -> counts, rates and Clopper-Pearson CIs.

    Returns ``{"n", "tp", "fn", "tn", "fp", "confusion": [[tn, fp], [fn, tp]], "accuracy",
    "sensitivity", "specificity", "accuracy_ci", "sensitivity_ci", "specificity_ci"}``
    (rows of the confusion matrix: true class 0, 1; columns: predicted 0, 1). A rate whose
    denominator is zero is NaN.
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
        "n": n, "tp": tp, "fn": fn, "tn": tn, "fp": fp, "confusion": [[tn, fp], [fn, tp]],
        "accuracy": rate(tp + tn, n), "sensitivity": rate(tp, tp + fn), "specificity": rate(tn, tn + fp),
        "accuracy_ci": clopper_pearson(tp + tn, n, confidence),
        "sensitivity_ci": clopper_pearson(tp, tp + fn, confidence),
        "specificity_ci": clopper_pearson(tn, tn + fp, confidence),
    }


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


def auroc(y_true: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos * n_neg), ties counted half); NaN if a class is absent."""
    t, s = _check_scores(y_true, scores)
    n_pos, n_neg = int(t.sum()), int((1 - t).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = stats.rankdata(s)  # average ranks for ties
    u = ranks[t == 1].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def roc_curve(y_true: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


# --------------------------------------------------------------------------- SzCORE events
@dataclass(frozen=True)
class DetectedEvent:
    """A detection: ``start_s``..``end_s`` (seconds from the recording start) and when it was alarmed."""

    start_s: float  # onset message "time": the smoothed probability first reached on_threshold
    end_s: float  # offset message "time" (or the end of the recording)
    alarm_s: float  # onset message "publish_time": when a bed would have been alerted


@dataclass
class EventScore:
    """SzCORE event scoring of one recording (or of several, summed by :func:`combine_scores`)."""

    duration_s: float
    n_seizures: int  # annotated events after SzCORE merging/splitting
    tp: int
    fp: int
    latencies_s: list[float | None] = field(default_factory=list)  # per annotated seizure; None = missed
    # stricter than SzCORE's fp (which merges detections closer than 90 s and forgives any merged
    # detection touching a seizure's tolerance window): alarms published outside every annotated
    # seizure's [onset, offset + 60 s] (an alarm published before the onset was decided on
    # pre-ictal data only)
    alarms_outside: int = 0
    n_alarms: int = 0
    strict_latencies_s: list[float | None] = field(default_factory=list)  # first alarm in [onset, offset + 60 s]

    @property
    def fn(self) -> int:
        return self.n_seizures - self.tp

    @property
    def sensitivity(self) -> float:
        return self.tp / self.n_seizures if self.n_seizures else math.nan

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if (self.tp + self.fp) else math.nan

    @property
    def f1(self) -> float:
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if (self.n_seizures + self.fp) else math.nan

    @property
    def hours(self) -> float:
        return self.duration_s / 3600.0

    @property
    def fp_per_24h(self) -> float:
        return self.fp / (self.duration_s / 86400.0)

    def fp_per_24h_ci(self, confidence: float = 0.95) -> tuple[float, float]:
        lo, hi = poisson_rate_interval(self.fp, self.duration_s / 86400.0, confidence)
        return lo, hi

    def fp_per_hour_ci(self, confidence: float = 0.95) -> tuple[float, float]:
        return poisson_rate_interval(self.fp, self.hours, confidence)

    def sensitivity_ci(self, confidence: float = 0.95) -> tuple[float, float]:
        return clopper_pearson(self.tp, self.n_seizures, confidence)

    @property
    def detected_latencies_s(self) -> list[float]:
        return [x for x in self.latencies_s if x is not None]


def szcore_parameters():
    """The SzCORE defaults of ``timescoring.scoring.EventScoring.Parameters``."""
    from timescoring.scoring import EventScoring

    return EventScoring.Parameters(toleranceStart=30, toleranceEnd=60, minOverlap=0, maxEventDuration=5 * 60,
                                   minDurationBetweenEvents=90)


def _clip_events(events: Sequence[tuple[float, float]], duration_s: float) -> list[tuple[float, float]]:
    out = []
    for start, end in events:
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise ValueError(f"event ({start!r}, {end!r}) must have finite start <= end")
        s, e = max(0.0, float(start)), min(float(duration_s), float(end))
        if e - s < 1.0 / SZCORE_FS_HZ:  # shorter than one mask sample: keep it visible
            e = min(float(duration_s), s + 1.0 / SZCORE_FS_HZ)
            s = max(0.0, e - 1.0 / SZCORE_FS_HZ)
        out.append((s, e))
    return out


def score_events(reference: Sequence[tuple[float, float]], detections: Sequence[DetectedEvent],
                 duration_s: float, params=None) -> EventScore:
    """SzCORE event scoring of one recording.

    ``reference``: annotated seizures ``[(onset_s, offset_s)]``; ``detections``: :class:`DetectedEvent`;
    ``duration_s``: the recording's length (the false-alarm rate's denominator).
    """
    from timescoring.annotations import Annotation
    from timescoring.scoring import EventScoring

    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
    params = params or szcore_parameters()
    n = int(round(duration_s * SZCORE_FS_HZ))
    ref_events = sorted(_clip_events(reference, duration_s))
    hyp_events = sorted(_clip_events([(d.start_s, d.end_s) for d in detections], duration_s))
    ref = Annotation(ref_events, SZCORE_FS_HZ, n)
    hyp = Annotation(hyp_events, SZCORE_FS_HZ, n)
    scored = EventScoring(ref, hyp, params)

    outside = sum(1 for d in detections
                  if not any(on <= d.alarm_s <= off + params.toleranceEnd for on, off in ref_events))
    strict = []
    for on, off in ref_events:
        alarms = [d.alarm_s for d in detections if on <= d.alarm_s <= off + params.toleranceEnd]
        strict.append(min(alarms) - on if alarms else None)
    latencies: list[float | None] = []
    for onset, offset in scored.ref.events:  # after SzCORE merging/splitting
        lo = max(0.0, onset - params.toleranceStart)
        hi = min(duration_s, offset + params.toleranceEnd)
        alarms = [d.alarm_s for d in detections if d.start_s < hi and max(d.end_s, d.start_s + 1e-9) > lo]
        latencies.append(min(alarms) - onset if alarms else None)
    return EventScore(duration_s=float(duration_s), n_seizures=int(scored.refTrue), tp=int(scored.tp),
                      fp=int(scored.fp), latencies_s=latencies, alarms_outside=int(outside),
                      n_alarms=len(detections), strict_latencies_s=strict)


def combine_scores(scores: Sequence[EventScore]) -> EventScore:
    """Sum several recordings' scores (events and durations add up)."""
    out = EventScore(duration_s=0.0, n_seizures=0, tp=0, fp=0, latencies_s=[])
    for s in scores:
        out.duration_s += s.duration_s
        out.n_seizures += s.n_seizures
        out.tp += s.tp
        out.fp += s.fp
        out.latencies_s.extend(s.latencies_s)
        out.alarms_outside += s.alarms_outside
        out.n_alarms += s.n_alarms
        out.strict_latencies_s.extend(s.strict_latencies_s)
    return out


def events_from_messages(messages: Sequence[dict], duration_s: float) -> list[DetectedEvent]:
    """Onset/offset messages (offline JSON lines of one file) -> :class:`DetectedEvent` per event id.

    An onset without an offset (should not happen: offline scoring flushes) ends at ``duration_s``.
    """
    onsets: dict[int, dict] = {}
    offsets: dict[int, dict] = {}
    for m in messages:
        kind = m.get("type")
        if kind == "seizure.onset":
            onsets[int(m["event_id"])] = m
        elif kind == "seizure.offset":
            offsets[int(m["event_id"])] = m
    out = []
    for eid, on in sorted(onsets.items()):
        off = offsets.get(eid)
        end = float(off["time"]) if off is not None else float(duration_s)
        out.append(DetectedEvent(start_s=float(on["time"]), end_s=max(end, float(on["time"])),
                                 alarm_s=float(on.get("publish_time", on["time"]))))
    return out


def events_from_decisions(decision_events: Sequence, duration_s: float) -> list[DetectedEvent]:
    """:class:`realtime.decision.DecisionEvent` objects -> :class:`DetectedEvent` (same rules as above)."""
    msgs = []
    for ev in decision_events:
        msgs.append({"type": "seizure." + ev.kind, "event_id": ev.event_id, "time": ev.time,
                     "publish_time": ev.publish_time})
    return events_from_messages(msgs, duration_s)


# --------------------------------------------------------------------------- test-split contrasts
# name -> (source, subsets kept (None = all), description). Positives are records whose label is 1.
CONTRASTS: dict[str, tuple[str, tuple[str, ...] | None, str]] = {
    "bonn_s_vs_all": ("bonn", None, "Bonn S vs Z, O, N, F"),
    "bonn_s_vs_nf": ("bonn", ("S", "N", "F"), "Bonn S vs N, F (intracranial only: the fair contrast)"),
    "bonn_s_vs_zo": ("bonn", ("S", "Z", "O"), "Bonn S vs Z, O (confounded: intracranial vs scalp)"),
    "nscnd_ictal_vs_rest": ("nscnd", None, "New Delhi ictal vs interictal, preictal (scalp)"),
}
SEGMENT_THRESHOLD = 0.5  # a segment (window) is called seizure when the mean of its window probabilities > this


def segment_probability(window_probs: np.ndarray) -> float:
    """A segment's seizure probability: the mean of its windows' probabilities (NaN if it has none)."""
    w = np.asarray(window_probs, dtype=np.float64)
    return float(w.mean()) if w.size else math.nan


def contrast_metrics(records: Sequence, probs: dict[str, np.ndarray], threshold: float = 0.5,
                     contrasts: dict = CONTRASTS) -> dict:
    """Segment- and window-level metrics per contrast.

    ``records``: objects with ``recording_id``, ``source``, ``subset``, ``label`` (e.g.
    :class:`train.datasets.records.Record`); ``probs``: ``{recording_id: [n_windows] p(seizure)}``.
    A window is labelled with its segment's label (every Bonn/New Delhi segment is wholly ictal or
    not). Returns ``{contrast: {"description", "segment": {...}, "window": {...}}}`` where each level
    has :func:`binary_metrics` fields plus ``"auroc"`` and ``"n_positive"``/``"n_negative"``.
    Contrasts with no record are left out; records without windows are counted in ``"no_windows"``.
    """
    out: dict = {}
    for name, (source, subsets, description) in contrasts.items():
        sel = [r for r in records if r.source == source and (subsets is None or r.subset in subsets)]
        if not sel:
            continue
        seg_y, seg_p, win_y, win_p, empty = [], [], [], [], 0
        for r in sel:
            w = np.asarray(probs.get(r.recording_id, []), dtype=np.float64)
            if w.size == 0:
                empty += 1
                continue
            seg_y.append(int(r.label))
            seg_p.append(segment_probability(w))
            win_y.extend([int(r.label)] * w.size)
            win_p.extend(w.tolist())
        entry = {"description": description, "no_windows": empty}
        for level, y, p in (("segment", seg_y, seg_p), ("window", win_y, win_p)):
            y_arr, p_arr = np.asarray(y, dtype=int), np.asarray(p, dtype=np.float64)
            m = binary_metrics(y_arr, (p_arr > threshold).astype(int))  # "> 0.5", as train/scoring.py
            m["auroc"] = auroc(y_arr, p_arr) if y_arr.size else math.nan
            m["n_positive"], m["n_negative"] = int(y_arr.sum()), int((1 - y_arr).sum())
            entry[level] = m
        out[name] = entry
    return out
