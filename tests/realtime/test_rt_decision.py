"""Aggregation and the onset/offset state machine: table-driven, plus hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.config import DecisionConfig
from realtime.decision import DecisionMachine, aggregate

NAN = math.nan


@pytest.mark.parametrize(
    "probs, method, k, p, channels",
    [
        ([0.1, 0.9, 0.5], "max", 1, 0.9, (1,)),
        ([0.1, 0.9, 0.5], "max", 3, 0.9, (1,)),  # k is ignored by max
        ([0.1, 0.9, 0.5], "k_of_n", 1, 0.9, (1,)),
        ([0.1, 0.9, 0.5], "k_of_n", 2, 0.5, (1, 2)),
        ([0.1, 0.9, 0.5], "k_of_n", 3, 0.1, (1, 2, 0)),
        ([0.1, 0.9, 0.5], "k_of_n", 5, 0.1, (1, 2, 0)),  # fewer channels than k: min(k, n)
        ([NAN, 0.9, 0.5], "k_of_n", 2, 0.5, (1, 2)),  # NaN = flagged channel, ignored
        ([NAN, 0.9, NAN], "k_of_n", 2, 0.9, (1,)),
        ([NAN, NAN], "max", 1, NAN, ()),  # nothing usable: no probability
        ([0.7], "k_of_n", 3, 0.7, (0,)),
    ],
)
def test_aggregate_table(probs, method, k, p, channels):
    got_p, got_channels = aggregate(np.array(probs), method, k)
    assert (math.isnan(got_p) and math.isnan(p)) or got_p == pytest.approx(p)
    assert got_channels == channels


def test_aggregate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="got 'mean'"):
        aggregate(np.array([0.1]), "mean", 1)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        aggregate(np.array([0.1]), "k_of_n", 0)


def cfg(**kw) -> DecisionConfig:
    base = {
        "aggregation": "max",
        "k_channels": 1,
        "smoothing_windows": 1,
        "on_threshold": 0.8,
        "off_threshold": 0.5,
        "min_duration_s": 0.0,
        "merge_gap_s": 0.0,
    }
    base.update(kw)
    return DecisionConfig(**base)


def run(machine: DecisionMachine, probs: list[float], hop: float = 1.0, flush: bool = False):
    """Feed one single-channel probability per window (time = index * hop); returns (kind, id, time, publish)."""
    out = []
    for i, p in enumerate(probs):
        for ev in machine.step(i * hop, i * hop - 4, i * hop, np.array([p])):
            out.append((ev.kind, ev.event_id, ev.time, ev.publish_time))
    if flush:
        for ev in machine.flush(len(probs) * hop):
            out.append((ev.kind, ev.event_id, ev.time, ev.publish_time))
    return out


@pytest.mark.parametrize(
    "config, probs, expected",
    [
        # plain crossing: onset at the first window >= on, offset at the first window < off
        (cfg(), [0.1, 0.9, 0.9, 0.4, 0.1], [("onset", 1, 1, 1), ("offset", 1, 3, 3)]),
        # hysteresis: 0.6 is between off and on, the event goes on
        (cfg(), [0.1, 0.9, 0.6, 0.6, 0.3], [("onset", 1, 1, 1), ("offset", 1, 4, 4)]),
        # below on never starts an event
        (cfg(), [0.1, 0.79, 0.79, 0.1], []),
        # min_duration: onset time = first crossing, published 2 s later
        (cfg(min_duration_s=2.0), [0.1, 0.9, 0.9, 0.9, 0.1], [("onset", 1, 1, 3), ("offset", 1, 4, 4)]),
        # min_duration not reached: no event
        (cfg(min_duration_s=2.0), [0.1, 0.9, 0.9, 0.7, 0.9, 0.1], []),
        # merge gap: a re-crossing within 3 s continues event 1; offset published 3 s after the final fall
        (cfg(merge_gap_s=3.0), [0.9, 0.2, 0.2, 0.9, 0.2, 0.2, 0.2, 0.2], [("onset", 1, 0, 0), ("offset", 1, 4, 7)]),
        # beyond the merge gap: two events, ids increment
        (
            cfg(merge_gap_s=1.0),
            [0.9, 0.2, 0.2, 0.9, 0.2, 0.2],
            [("onset", 1, 0, 0), ("offset", 1, 1, 2), ("onset", 2, 3, 3), ("offset", 2, 4, 5)],
        ),
        # smoothing over 3 windows delays the crossing
        (cfg(smoothing_windows=3), [0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0], [("onset", 1, 3, 3), ("offset", 1, 5, 5)]),
    ],
)
def test_state_machine_table(config, probs, expected):
    assert run(DecisionMachine(config, hop_s=1.0), probs) == expected


def test_onset_carries_channels_probability_and_window():
    m = DecisionMachine(cfg(aggregation="k_of_n", k_channels=2), hop_s=1.0)
    assert m.step(0.0, -4.0, 0.0, np.array([0.1, 0.2, 0.3])) == []
    (ev,) = m.step(1.0, -3.0, 1.0, np.array([0.95, 0.1, 0.85]))
    assert ev.kind == "onset" and ev.channels == (0, 2) and ev.probability == pytest.approx(0.85)
    assert (ev.window_start, ev.window_end, ev.onset_time, ev.duration_s) == (-3.0, 1.0, None, None)
    assert m.alarm_active and m.open_event_id == 1
    (off,) = m.step(2.0, -2.0, 2.0, np.array([0.1, 0.1, 0.1]))
    assert (off.kind, off.onset_time, off.duration_s, off.channels) == ("offset", 1.0, 1.0, ())


def test_flush_closes_open_event_and_drops_unconfirmed_onset():
    assert run(DecisionMachine(cfg(), 1.0), [0.9, 0.9], flush=True) == [("onset", 1, 0, 0), ("offset", 1, 2, 2)]
    # an offset held back by the merge gap is published at flush with its own time
    assert run(DecisionMachine(cfg(merge_gap_s=10), 1.0), [0.9, 0.1], flush=True) == [
        ("onset", 1, 0, 0),
        ("offset", 1, 1, 2),
    ]
    assert run(DecisionMachine(cfg(min_duration_s=5), 1.0), [0.9, 0.9], flush=True) == []


def test_all_flagged_window_holds_state():
    m = DecisionMachine(cfg(smoothing_windows=2), 1.0)
    assert m.step(0, -4, 0, np.array([0.7])) == []
    assert m.step(1, -3, 1, np.array([NAN])) == [] and math.isnan(m.last_probability)
    assert m.step(2, -2, 2, np.array([0.9]))[0].kind == "onset"  # mean(0.7, 0.9): NaN never entered the history


def test_reset_forgets_smoothing_and_pending_but_keeps_published_event():
    m = DecisionMachine(cfg(min_duration_s=2), 1.0)
    run_ = [m.step(t, t - 4, t, np.array([0.9])) for t in (0, 1)]
    assert run_ == [[], []] and m.state == "pending"
    m.reset()
    assert m.state == "idle"
    for t in (10, 11, 12):
        events = m.step(t, t - 4, t, np.array([0.9]))
    assert [e.kind for e in events] == ["onset"] and events[0].time == 10
    m.reset()
    assert m.alarm_active  # never invent an offset
    (off,) = m.step(20, 16, 20, np.array([0.1]))
    assert off.kind == "offset" and off.event_id == 1


def test_reconfigure_applies_new_thresholds():
    m = DecisionMachine(cfg(), 1.0)
    assert m.step(0, -4, 0, np.array([0.7])) == []
    m.reconfigure(cfg(on_threshold=0.6, off_threshold=0.3))
    assert m.step(1, -3, 1, np.array([0.7]))[0].kind == "onset"
    with pytest.raises(ValueError, match=r"off=0.9 on=0.6"):
        m.reconfigure(cfg(on_threshold=0.6, off_threshold=0.9))


configs = st.builds(
    lambda agg, k, sm, on, off_frac, dur, gap: cfg(
        aggregation=agg,
        k_channels=k,
        smoothing_windows=sm,
        on_threshold=on,
        off_threshold=on * off_frac,
        min_duration_s=dur,
        merge_gap_s=gap,
    ),
    st.sampled_from(["max", "k_of_n"]),
    st.integers(1, 4),
    st.integers(1, 4),
    st.floats(0.05, 1.0),
    st.floats(0.0, 1.0),
    st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    st.sampled_from([0.0, 1.0, 2.5, 10.0]),
)
prob = st.one_of(st.floats(0.0, 1.0), st.just(NAN), st.sampled_from([0.0, 1.0]))


@settings(max_examples=150, deadline=None)
@given(
    config=configs,
    series=st.lists(st.lists(prob, min_size=3, max_size=3), max_size=60),
    resets=st.sets(st.integers(0, 59), max_size=3),
)
def test_events_alternate_and_offsets_match_their_onset(config, series, resets):
    m = DecisionMachine(config, hop_s=0.5)
    events = []
    for i, probs in enumerate(series):
        if i in resets:
            m.reset()
        events += m.step(i * 0.5, i * 0.5 - 4, i * 0.5, np.array(probs))
    events += m.flush(len(series) * 0.5)
    open_id = None
    last_id = 0
    for ev in events:
        assert ev.publish_time >= ev.time
        if ev.kind == "onset":
            assert open_id is None, "two onsets in a row"
            assert ev.event_id == last_id + 1
            assert ev.publish_time - ev.time >= config.min_duration_s - 1e-9
            open_id = last_id = ev.event_id
        else:
            assert ev.kind == "offset" and ev.event_id == open_id, "offset without its onset"
            assert ev.duration_s == pytest.approx(ev.time - ev.onset_time) and ev.duration_s >= 0
            open_id = None
    assert open_id is None and not m.alarm_active  # flush closed everything
