"""The peer wrapper (evaluation/peer.py): causal windows, the real brainmaze model when installed, our decision code."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.peer import causal_window_bounds, peer_available, run_decision
from realtime.config import DecisionConfig


def test_causal_windows_end_on_the_hop_grid_and_never_look_ahead():
    b = causal_window_bounds(n_samples=2560, sfreq=256.0, hop_s=1.0, window_s=5.0, min_window_s=4.0)
    ends = [e for _, e in b]
    assert ends[0] == 1024 and ends[-1] == 2560 and np.all(np.diff(ends) == 256)
    assert all(0 <= s < e <= 2560 for s, e in b)
    assert max(e - s for s, e in b) == 1280  # capped at window_s
    assert b[0] == (0, 1024)  # growing from the start until window_s is reached


def test_causal_windows_fractional_hop_and_short_input():
    b = causal_window_bounds(n_samples=1000, sfreq=173.61, hop_s=1.0, window_s=300.0, min_window_s=4.0)
    assert [e for _, e in b] == [round(k * 173.61) for k in range(4, 6)]
    assert causal_window_bounds(100, 250.0, 1.0, 300.0, 4.0) == []
    with pytest.raises(ValueError, match="min_window_s"):
        causal_window_bounds(100, 250.0, 1.0, 3.0, 4.0)


def test_run_decision_uses_the_realtime_decision_machine():
    times = np.arange(4.0, 30.0)
    probs = np.where((times >= 10) & (times < 20), 0.95, 0.05)[:, None]
    cfg = DecisionConfig(
        aggregation="max", smoothing_windows=1, on_threshold=0.8, off_threshold=0.5, min_duration_s=2.0, merge_gap_s=0.0
    )
    smoothed, events = run_decision(times, times - 4.0, probs, cfg, hop_s=1.0)
    assert [e.kind for e in events] == ["onset", "offset"]
    assert events[0].time == 10.0 and events[0].publish_time == 12.0 and events[1].time == 20.0
    np.testing.assert_allclose(smoothed, probs[:, 0])


@pytest.mark.skipif(not peer_available()[0], reason=f"brainmaze-eeg-models not installed: {peer_available()[1]}")
def test_peer_scores_only_from_the_past():
    from evaluation.peer import PeerScorer

    rng = np.random.default_rng(0)
    fs = 256.0
    x = rng.normal(0, 30, (2, int(20 * fs)))
    y = x.copy()
    y[:, int(12 * fs) :] *= 8  # change the "future" after 12 s
    scorer = PeerScorer("modelA", window_s=8.0, min_window_s=4.0, hop_s=1.0)
    a, b = scorer.score(x, fs), scorer.score(y, fs)
    assert a.channel_probabilities.shape == (17, 2) and np.all(
        (a.channel_probabilities >= 0) & (a.channel_probabilities <= 1)
    )
    past = a.times < 12.0
    np.testing.assert_allclose(a.channel_probabilities[past], b.channel_probabilities[past], atol=1e-6)
    assert not np.allclose(a.channel_probabilities[~past], b.channel_probabilities[~past])
    np.testing.assert_allclose(a.times, np.arange(4, 21) - 1 / fs)


@pytest.mark.skipif(not peer_available()[0], reason=f"brainmaze-eeg-models not installed: {peer_available()[1]}")
def test_peer_resamples_a_rate_it_does_not_accept():
    from evaluation.peer import PeerScorer

    x = np.random.default_rng(1).normal(0, 30, (1, int(173.61 * 6)))
    res = PeerScorer("modelA", window_s=6.0, min_window_s=4.0).score(x, 173.61)
    assert res.sfreq == 256.0 and res.channel_probabilities.shape == (3, 1)
