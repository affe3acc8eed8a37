"""Confidence intervals, classification metrics and the SzCORE wrapper (evaluation/metrics.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.metrics import (DetectedEvent, auroc, binary_metrics, clopper_pearson, combine_scores,
                                contrast_metrics, events_from_messages, poisson_rate_interval, roc_curve,
                                score_events, wilson_interval)


# ------------------------------------------------------------------ intervals (known values)
def test_clopper_pearson_known_values():
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.30850, abs=1e-4)
    lo, hi = clopper_pearson(10, 10)
    assert lo == pytest.approx(0.69150, abs=1e-4) and hi == 1.0
    lo, hi = clopper_pearson(5, 10)
    assert (lo, hi) == (pytest.approx(0.18709, abs=1e-4), pytest.approx(0.81291, abs=1e-4))
    assert all(math.isnan(v) for v in clopper_pearson(0, 0))


def test_wilson_known_values():
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == (pytest.approx(0.23659, abs=1e-4), pytest.approx(0.76341, abs=1e-4))
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.16113, abs=1e-4)


def test_poisson_rate_interval_zero_and_one():
    lo, hi = poisson_rate_interval(0, 2.0)  # 0 events in 2 hours: upper bound ~3.0 / 2
    assert lo == 0.0 and hi == pytest.approx(-math.log(0.05) / 2.0) and hi == pytest.approx(1.4979, abs=1e-3)
    lo, hi = poisson_rate_interval(1, 1.0)  # exact Garwood interval for one event
    assert (lo, hi) == (pytest.approx(0.025318, abs=1e-5), pytest.approx(5.571643, abs=1e-5))


@pytest.mark.parametrize("bad", [(-1, 5), (6, 5)])
def test_interval_refuses_bad_counts_quoting_them(bad):
    with pytest.raises(ValueError, match=str(bad[0])):
        clopper_pearson(*bad)


def test_poisson_refuses_zero_exposure():
    with pytest.raises(ValueError, match="exposure"):
        poisson_rate_interval(0, 0.0)


# ------------------------------------------------------------------ classification metrics
def test_binary_metrics_confusion_and_rates():
    y = [1, 1, 1, 0, 0, 0, 0, 0]
    p = [1, 1, 0, 0, 0, 0, 1, 0]
    m = binary_metrics(y, p)
    assert m["confusion"] == [[4, 1], [1, 2]]
    assert m["sensitivity"] == pytest.approx(2 / 3) and m["specificity"] == pytest.approx(4 / 5)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["sensitivity_ci"] == pytest.approx(clopper_pearson(2, 3))


def test_binary_metrics_refuses_other_labels():
    with pytest.raises(ValueError, match="2"):
        binary_metrics([0, 2], [0, 1])


def test_auroc_known_value_and_ties():
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auroc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(auroc([1, 1], [0.2, 0.3]))


def test_roc_curve_matches_auroc_by_trapezoid():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + y
    fpr, tpr, thr = roc_curve(y, s)
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1 and thr[0] == np.inf
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auroc(y, s))


def test_contrast_metrics_by_segment_mean():
    class R:
        def __init__(self, rid, source, subset, label):
            self.recording_id, self.source, self.subset, self.label = rid, source, subset, label

    recs = [R("s1", "bonn", "S", 1), R("n1", "bonn", "N", 0), R("z1", "bonn", "Z", 0), R("i1", "nscnd", "ictal", 1)]
    probs = {"s1": np.array([0.9, 0.3, 0.8]), "n1": np.array([0.6, 0.2]), "z1": np.array([0.1]), "i1": np.array([])}
    m = contrast_metrics(recs, probs)
    assert m["bonn_s_vs_all"]["segment"]["confusion"] == [[2, 0], [0, 1]]  # means 0.667, 0.4, 0.1
    assert m["bonn_s_vs_all"]["window"]["confusion"] == [[2, 1], [1, 2]]
    assert m["bonn_s_vs_nf"]["segment"]["n"] == 2
    assert m["nscnd_ictal_vs_rest"]["no_windows"] == 1


# ------------------------------------------------------------------ SzCORE wrapper
def test_score_events_hit_miss_false_alarm():
    ref = [(100.0, 150.0), (500.0, 560.0)]
    dets = [DetectedEvent(105.0, 140.0, 107.0),  # hit, alarm 7 s after onset
            DetectedEvent(800.0, 810.0, 802.0)]  # false alarm, far from both seizures; 2nd seizure missed
    s = score_events(ref, dets, 1000.0)
    assert (s.n_seizures, s.tp, s.fp, s.fn) == (2, 1, 1, 1)
    assert s.sensitivity == 0.5 and s.precision == 0.5 and s.f1 == pytest.approx(0.5)
    assert s.latencies_s == [pytest.approx(7.0), None] and s.strict_latencies_s == [pytest.approx(7.0), None]
    assert s.alarms_outside == 1 and s.n_alarms == 2
    assert s.fp_per_24h == pytest.approx(86.4)
    lo, hi = s.fp_per_24h_ci()
    assert lo < 86.4 < hi


def test_score_events_early_alarm_within_tolerance_is_a_hit_with_negative_latency():
    s = score_events([(100.0, 150.0)], [DetectedEvent(80.0, 120.0, 82.0)], 600.0)
    assert (s.tp, s.fp) == (1, 0)
    assert s.latencies_s == [pytest.approx(-18.0)]
    # the strict count: an alarm published before the onset was decided on pre-ictal data
    assert s.alarms_outside == 1 and s.strict_latencies_s == [None]


def test_score_events_nothing_detected_on_background():
    s = score_events([], [], 3600.0)
    assert (s.tp, s.fp, s.n_seizures) == (0, 0, 0) and math.isnan(s.sensitivity)
    assert s.fp_per_hour_ci() == (0.0, pytest.approx(2.9957, abs=1e-3))


def test_combine_and_messages_to_events():
    msgs = [{"type": "window"},
            {"type": "seizure.onset", "event_id": 1, "time": 10.0, "publish_time": 12.0},
            {"type": "seizure.offset", "event_id": 1, "time": 30.0},
            {"type": "seizure.onset", "event_id": 2, "time": 50.0, "publish_time": 52.0}]
    ev = events_from_messages(msgs, 60.0)
    assert ev == [DetectedEvent(10.0, 30.0, 12.0), DetectedEvent(50.0, 60.0, 52.0)]
    a = score_events([(9.0, 20.0)], ev[:1], 60.0)
    b = score_events([], [], 120.0)
    c = combine_scores([a, b])
    assert (c.tp, c.n_seizures, c.fp, c.duration_s) == (1, 1, 0, 180.0)
