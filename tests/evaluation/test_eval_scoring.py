"""Confidence intervals, classification metrics, contrasts (evaluation/metrics.py, the project's one metrics
module, also behind train/scoring.py) and the SzCORE wrapper (evaluation/events.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.events import DetectedEvent, combine_scores, events_from_decisions, events_from_messages, score_events
from evaluation.metrics import (
    CONTRASTS,
    Contrast,
    auroc,
    binary_metrics,
    clopper_pearson,
    contrast_metrics,
    json_ready,
    level_metrics,
    poisson_rate_interval,
    roc_curve,
    wilson_interval,
)


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
    assert m["confusion_matrix"] == [[4, 1], [1, 2]]
    assert (m["tp"], m["fn"], m["tn"], m["fp"], m["n_positive"], m["n_negative"]) == (2, 1, 4, 1, 3, 5)
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
    assert m["bonn_S_vs_all"]["segment"]["confusion_matrix"] == [[2, 0], [0, 1]]  # means 0.667, 0.4, 0.1
    assert m["bonn_S_vs_all"]["window"]["confusion_matrix"] == [[2, 1], [1, 2]]
    assert m["bonn_S_vs_NF"]["segment"]["n"] == 2
    assert m["nscnd_ictal_vs_rest"]["no_windows"] == 1
    # a window left out (NaN: flat, clipped, implausible, as the daemon leaves it out) is not scored
    left = contrast_metrics(recs, {**probs, "s1": np.array([0.9, np.nan, 0.8]), "z1": np.array([np.nan])})
    assert left["bonn_S_vs_all"]["window"]["confusion_matrix"] == [[1, 1], [0, 2]]  # z1 and s1's 0.3 gone
    assert left["bonn_S_vs_all"]["windows_left_out"] == 2 and left["bonn_S_vs_all"]["no_windows"] == 1
    assert m["all"]["segment"]["n"] == 3 and "edf_seizure_vs_rest" not in m
    # train's form: only contrasts with a positive and a negative record that has windows
    both = contrast_metrics(recs, probs, both_classes=True)
    assert sorted(both) == ["all", "bonn_S_vs_NF", "bonn_S_vs_ZO", "bonn_S_vs_all"]


# ------------------------------------------------------------------ SzCORE wrapper
def test_score_events_hit_miss_false_alarm():
    ref = [(100.0, 150.0), (500.0, 560.0)]
    dets = [
        DetectedEvent(105.0, 140.0, 107.0),  # hit, alarm 7 s after onset
        DetectedEvent(800.0, 810.0, 802.0),
    ]  # false alarm, far from both seizures; 2nd seizure missed
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
    msgs = [
        {"type": "window"},
        {"type": "seizure.onset", "event_id": 1, "time": 10.0, "publish_time": 12.0},
        {"type": "seizure.offset", "event_id": 1, "time": 30.0},
        {"type": "seizure.onset", "event_id": 2, "time": 50.0, "publish_time": 52.0},
    ]
    ev = events_from_messages(msgs, 60.0)
    assert ev == [DetectedEvent(10.0, 30.0, 12.0), DetectedEvent(50.0, 60.0, 52.0)]
    a = score_events([(9.0, 20.0)], ev[:1], 60.0)
    b = score_events([], [], 120.0)
    c = combine_scores([a, b])
    assert (c.tp, c.n_seizures, c.fp, c.duration_s) == (1, 1, 0, 180.0)


def test_events_from_decisions_equal_events_from_messages():
    from realtime.decision import DecisionEvent

    on = DecisionEvent("onset", 1, 10.0, 0.9, (0,), None, None, 6.0, 10.0, 11.0)
    off = DecisionEvent("offset", 1, 30.0, 0.1, (), 10.0, 20.0, 26.0, 30.0, 30.0)
    assert events_from_decisions([on, off], 60.0) == [DetectedEvent(10.0, 30.0, 11.0)]
    assert events_from_decisions([on], 60.0) == [DetectedEvent(10.0, 60.0, 11.0)]


# ------------------------------------------------------------------ contrasts, JSON, one definition
def test_contrast_picks_by_subset_or_label():
    class Rec:
        def __init__(self, source, subset, label):
            self.source, self.subset, self.label = source, subset, label

    s, z, n, ictal, inter = (
        Rec("bonn", "S", 1),
        Rec("bonn", "Z", 0),
        Rec("bonn", "N", 0),
        Rec("nscnd", "ictal", 1),
        Rec("nscnd", "interictal", 0),
    )
    nf = CONTRASTS["bonn_S_vs_NF"]
    assert (nf.is_positive(s), nf.is_negative(n), nf.is_negative(z), nf.is_positive(ictal)) == (
        True,
        True,
        False,
        False,
    )
    nd = CONTRASTS["nscnd_ictal_vs_rest"]
    assert (nd.is_positive(ictal), nd.is_negative(inter), nd.is_negative(z)) == (True, True, False)
    every = Contrast("all")
    assert [every.is_positive(r) for r in (s, z, ictal, inter)] == [True, False, True, False]


def test_level_metrics_threshold_is_strict_and_json_ready_turns_nan_into_null():
    m = level_metrics([0, 1, 1], [0.5, 0.5, 0.9])
    assert m["confusion_matrix"] == [[1, 0], [1, 1]] and m["auroc"] == pytest.approx(0.75)
    one_class = json_ready(level_metrics([1, 1], [0.2, 0.9]))
    assert one_class["specificity"] is None and one_class["auroc"] is None
    assert one_class["specificity_ci"] == [None, None] and one_class["sensitivity"] == 0.5
    assert json_ready({"x": np.float32(0.25), "y": (np.int64(2), math.nan)}) == {"x": 0.25, "y": [2, None]}


def test_one_definition_of_the_metrics_in_the_project():
    """train.scoring and the experiments use evaluation.metrics: no CONTRASTS, auroc or binary_metrics of their own."""
    import evaluation.metrics as em
    import experiments.transfer as transfer
    import train.scoring as ts

    assert ts.CONTRASTS is em.CONTRASTS
    for name in ("auroc", "binary_metrics"):
        assert not hasattr(ts, name) or getattr(ts, name) is getattr(em, name)
    own = [n for n, v in vars(ts).items() if callable(v) and getattr(v, "__module__", "") == "train.scoring"]
    assert sorted(own) == [
        "finite_lists",
        "keras_predict",
        "record_windows",
        "score",
        "window_labels",
        "window_probabilities",
        "window_starts",
    ]
    assert not hasattr(transfer, "CONTRASTS") and not hasattr(transfer, "binary_metrics")


def test_train_scoring_writes_the_run_directory_keys():
    """test_metrics.json keeps its keys: contrast names, confusion_matrix, null for an undefined rate."""
    import json

    from train.scoring import score

    class Rec:
        def __init__(self, rid, source, subset, label, n_samples):
            self.recording_id, self.source, self.subset, self.label = rid, source, subset, label
            self.labels = np.full(n_samples, label, np.int8)

    recs = [Rec("s", "bonn", "S", 1, 8), Rec("z", "bonn", "Z", 0, 4), Rec("i", "nscnd", "ictal", 1, 4)]
    res = score(recs, {"s": np.array([0.9, 0.8]), "z": np.array([0.2]), "i": np.array([0.7])}, 4, 4)
    assert sorted(k for k, v in res.items() if isinstance(v, dict)) == ["all", "bonn_S_vs_ZO", "bonn_S_vs_all"]
    seg = res["bonn_S_vs_all"]["segment"]
    assert seg["confusion_matrix"] == [[1, 0], [0, 1]] and seg["auroc"] == 1.0 and seg["n_positive"] == 1
    assert res["segment_decision"] == "seizure when the mean window probability > 0.5"
    assert json.loads(json.dumps(res, allow_nan=False)) == res  # strict JSON: no NaN anywhere


def test_metrics_and_the_command_import_no_tensorflow_or_matplotlib():
    """A fresh interpreter: the metrics (and training's scoring, and the evaluate command's module) load
    neither TensorFlow nor matplotlib nor timescoring until a function needs them."""
    import subprocess
    import sys

    code = (
        "import sys, evaluation.metrics, evaluation.events, train.scoring, evaluation.evaluate; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib', 'timescoring') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
    project = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, evaluation.metrics; print(sorted(m for m in "
            "sys.modules if m.split('.')[0] in ('realtime', 'train', 'experiments')))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert project.stdout.strip() == "[]"
