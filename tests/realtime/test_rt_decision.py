"""Aggregation and the onset/offset state machine: table-driven, plus hypothesis properties."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.config import DecisionConfig
from realtime.decision import DecisionMachine, aggregate, binomial_k, channels_at_or_above

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
    with pytest.raises(ValueError, match=r"got None, 0\.001"):
        aggregate(np.array([0.1]), "binomial", 2, bed_false_rate=1e-3)
    with pytest.raises(ValueError, match=r"got 1\.5, 0\.001"):
        aggregate(np.array([0.1]), "binomial", 2, channel_false_rate=1.5, bed_false_rate=1e-3)


def cfg(**kw) -> DecisionConfig:
    base: dict[str, Any] = {
        "aggregation": "max",
        "k_channels": 1,
        "smoothing_windows": 1,
        "on_threshold": 0.8,
        "off_threshold": 0.5,
        "min_duration_s": 0.0,
        "merge_gap_s": 0.0,
        "settle_s": 0.0,  # the default (10 s) is tested on its own below
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


def test_an_event_open_prolonged_s_publishes_one_prolonged_event():
    """Status epilepticus: once the event has been open ``prolonged_s`` (through a merged dip too), one ``prolonged``
    event with its onset time and duration; none for a shorter event, none when 0; a new event gets its own."""
    seizure = [0.1] + [0.9] * 5 + [0.3] + [0.9] * 3 + [0.1] * 5 + [0.9] * 6 + [0.1] * 4
    m = DecisionMachine(cfg(prolonged_s=7.0, merge_gap_s=2.0), hop_s=1.0)
    events = [e for i, p in enumerate(seizure) for e in m.step(i, i - 4, i, np.array([p]))]
    assert [(e.kind, e.event_id, e.time) for e in events] == [
        ("onset", 1, 1),
        ("prolonged", 1, 8),  # 7 s after the onset at 1 s; the dip at 6 s was merged
        ("offset", 1, 10),
        ("onset", 2, 15),  # 6 s: shorter than prolonged_s
        ("offset", 2, 21),
    ]
    assert events[1].onset_time == 1 and events[1].duration_s == 7.0 and events[1].channels == (0,)
    assert events[1].probability == 0.9 and events[1].publish_time == 8
    m = DecisionMachine(cfg(prolonged_s=0.0, merge_gap_s=2.0), hop_s=1.0)
    assert "prolonged" not in [e.kind for i, p in enumerate(seizure) for e in m.step(i, i - 4, i, np.array([p]))]


def test_onset_carries_channels_probability_and_window():
    m = DecisionMachine(cfg(aggregation="k_of_n", k_channels=2), hop_s=1.0)
    assert m.step(0.0, -4.0, 0.0, np.array([0.1, 0.2, 0.3])) == []
    (ev,) = m.step(1.0, -3.0, 1.0, np.array([0.95, 0.1, 0.85]))
    assert ev.kind == "onset" and ev.channels == (0, 2) and ev.probability == pytest.approx(0.85)
    assert (ev.window_start, ev.window_end, ev.onset_time, ev.duration_s) == (-3.0, 1.0, None, None)
    assert m.alarm_active and m.open_event_id == 1
    (off,) = m.step(2.0, -2.0, 2.0, np.array([0.1, 0.1, 0.1]))
    assert (off.kind, off.onset_time, off.duration_s, off.channels) == ("offset", 1.0, 1.0, ())


def test_durations_are_reported_to_the_nanosecond():
    """The same seizure timed on the sample clock and on interpolated timestamps differs in the last bit
    (0.1 + 0.2 != 0.3): its duration is rounded to 1e-9 s, so a replay of recorded scores gives the same events."""
    m = DecisionMachine(cfg(), hop_s=0.1)
    times = [0.1, 0.1 + 0.2]  # 0.30000000000000004
    (on,) = m.step(times[0], times[0] - 4, times[0], np.array([0.9]))
    (off,) = m.step(times[1], times[1] - 4, times[1], np.array([0.1]))
    assert times[1] - times[0] != 0.2 and (on.kind, off.kind, off.duration_s) == ("onset", "offset", 0.2)


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
    lambda agg, k, sm, on, off_frac, dur, gap, settle, prolonged: cfg(
        aggregation=agg,
        k_channels=k,
        smoothing_windows=sm,
        on_threshold=on,
        off_threshold=on * off_frac,
        min_duration_s=dur,
        merge_gap_s=gap,
        settle_s=settle,
        prolonged_s=prolonged,
    ),
    st.sampled_from(["max", "k_of_n", "binomial"]),
    st.integers(1, 4),
    st.integers(1, 4),
    st.floats(0.05, 1.0),
    st.floats(0.0, 1.0),
    st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    st.sampled_from([0.0, 1.0, 2.5, 10.0]),
    st.sampled_from([0.0, 0.0, 2.5, 10.0]),
    st.sampled_from([0.0, 1.0, 3.0, 300.0]),
)
prob = st.one_of(st.floats(0.0, 1.0), st.just(NAN), st.sampled_from([0.0, 1.0]))


@settings(max_examples=150, deadline=None)
@given(
    config=configs,
    series=st.lists(st.lists(prob, min_size=3, max_size=3), max_size=60),
    resets=st.sets(st.integers(0, 59), max_size=3),
    gaps=st.sets(st.integers(0, 59), max_size=3),
)
def test_events_alternate_and_offsets_match_their_onset(config, series, resets, gaps):
    m = DecisionMachine(config, hop_s=0.5, window_s=4.0)
    events = []
    for i, probs in enumerate(series):
        if i in resets:
            m.reset()
        span = 6.0 if i in gaps else 4.0
        events += m.step(i * 0.5, i * 0.5 - span, i * 0.5, np.array(probs))
    events += m.flush(len(series) * 0.5)
    open_id = None
    last_id = 0
    prolonged: set[int] = set()
    for ev in events:
        assert ev.publish_time >= ev.time
        if ev.kind == "onset":
            assert open_id is None, "two onsets in a row"
            assert ev.event_id == last_id + 1
            assert ev.publish_time - ev.time >= config.min_duration_s - 1e-9
            open_id = last_id = ev.event_id
        elif ev.kind == "prolonged":  # once per open event, once it is prolonged_s old
            assert config.prolonged_s > 0 and ev.event_id == open_id and open_id not in prolonged
            assert ev.duration_s == pytest.approx(ev.time - ev.onset_time)
            assert ev.duration_s >= config.prolonged_s - 1e-9
            prolonged.add(open_id)
        else:
            assert ev.kind == "offset" and ev.event_id == open_id, "offset without its onset"
            assert ev.onset_time is not None and ev.duration_s is not None
            assert ev.duration_s == pytest.approx(ev.time - ev.onset_time) and ev.duration_s >= 0
            open_id = None
    assert open_id is None and not m.alarm_active  # flush closed everything


# ---------------------------------------------------------------------------------------------- settling


def steps(machine: DecisionMachine, times, p: float, *, n_channels: int = 1, span: float = 4.0):
    """Step windows ending at ``times`` (span ``span`` s) with every channel at ``p``; returns (kind, time, publish)."""
    out = []
    for t in times:
        for ev in machine.step(t, t - span, t, np.full(n_channels, p)):
            out.append((ev.kind, ev.time, ev.publish_time))
    return out


def test_no_onset_while_settling_even_at_certainty_then_one():
    m = DecisionMachine(cfg(settle_s=10), 1.0, window_s=4.0)
    assert m.settling  # before any window
    assert steps(m, range(6), 1.0) == [] and m.settling
    assert m.last_probability == 1.0  # still scored and reported
    # the first window started at -4: 10 s of signal have passed at the window ending at 6
    assert steps(m, [6], 1.0) == [("onset", 6, 6)] and not m.settling


def test_default_settle_s_holds_the_first_windows_of_a_real_bed():
    assert DecisionConfig().settle_s == 6.0
    m = DecisionMachine(DecisionConfig(), 1.0, window_s=4.0)  # on 0.6, min_duration 2 s
    events = steps(m, range(12), 1.0, n_channels=19)
    assert events == [("onset", 2, 4)]  # armed at 2 (6 s after the first window's start at -4), confirmed 2 s later


def test_reset_settles_again():
    m = DecisionMachine(cfg(settle_s=10), 1.0, window_s=4.0)
    assert steps(m, range(20), 0.1) == [] and not m.settling
    m.reset()
    assert m.settling
    assert steps(m, range(30, 40), 1.0) == [("onset", 36, 36)]  # first window after the reset starts at 26


def test_gap_settles_again_and_drops_an_unconfirmed_onset():
    m = DecisionMachine(cfg(settle_s=10, min_duration_s=5), 1.0, window_s=4.0)
    assert steps(m, range(20), 0.1) == []
    assert steps(m, [20, 21], 1.0) == [] and m.state == "pending"
    # a window 1 s longer than the others holds a gap: the signal after it begins at 26 - 4 = 22
    assert steps(m, [26], 1.0, span=5.0) == [] and m.gaps_total == 1
    assert m.state == "idle" and m.settling
    events = steps(m, range(27, 45), 1.0)
    assert events == [("onset", 32, 37)]  # arms at 32 (10 s after 22), confirmed 5 s later


def test_a_span_within_the_tolerance_is_no_gap():
    m = DecisionMachine(cfg(settle_s=10), 1.0, window_s=4.0)
    steps(m, range(20), 0.1)
    span = 4.0 + 0.9 * DecisionMachine.GAP_TOLERANCE_S
    assert steps(m, [20], 1.0, span=span) == [("onset", 20, 20)] and m.gaps_total == 0


def test_without_window_s_no_gap_is_looked_for():
    m = DecisionMachine(cfg(settle_s=10), 1.0)
    steps(m, range(20), 0.1)
    assert steps(m, [25], 1.0, span=9.0) == [("onset", 25, 25)] and m.gaps_total == 0


def test_all_flagged_windows_do_not_start_settling():
    m = DecisionMachine(cfg(settle_s=10), 1.0, window_s=4.0)
    assert steps(m, range(10), NAN) == [] and m.settling
    assert steps(m, range(10, 20), 1.0) == [("onset", 16, 16)]  # the first scored window starts at 6


def test_open_event_ends_and_merges_while_settling():
    m = DecisionMachine(cfg(settle_s=20, merge_gap_s=5), 1.0, window_s=4.0)
    assert steps(m, range(17), 1.0) == [("onset", 16, 16)]
    m.reset()  # stream lost with the seizure open; the signal comes back at 36
    assert steps(m, [40], 0.1) == [] and m.alarm_active and m.settling  # ending
    assert steps(m, [41], 0.9) == [] and m.state == "active"  # merged: the same event goes on
    assert steps(m, range(42, 48), 0.1) == [("offset", 42, 47)]
    assert steps(m, [48, 49, 50], 0.9) == [] and m.settling  # no new onset before 56
    assert steps(m, [56], 0.9) == [("onset", 56, 56)]  # 20 s after 36: a new event


def test_flush_settles_the_next_input_anew():
    m = DecisionMachine(cfg(settle_s=10), 1.0, window_s=4.0)
    steps(m, range(20), 0.1)
    m.flush()
    assert m.settling and steps(m, range(5), 1.0) == []


@settings(max_examples=100, deadline=None)
@given(
    config=st.builds(
        lambda dur, gap, sm: cfg(min_duration_s=dur, merge_gap_s=gap, smoothing_windows=sm),
        st.sampled_from([0.0, 1.0, 3.0]),
        st.sampled_from([0.0, 2.5]),
        st.integers(1, 3),
    ),
    series=st.lists(st.tuples(prob, st.sampled_from([4.0, 4.0, 4.0, 6.0])), max_size=40),
)
def test_settle_zero_is_todays_behaviour_whatever_the_gaps(config, series):
    """settle_s = 0: a machine told the window span (and seeing gaps) decides exactly as one that is not."""
    told, blind = DecisionMachine(config, 1.0, window_s=4.0), DecisionMachine(config, 1.0)
    for t, (p, span) in enumerate(series):
        assert told.step(t, t - span, t, np.array([p])) == blind.step(t, t - span, t, np.array([p]))
        assert not told.settling
    assert told.flush() == blind.flush()


# ---------------------------------------------------------------------------------------------- bed rule


def exact_tail(n: int, k: int, p: float) -> float:
    """P[Binomial(n, p) >= k], summed exactly (independent of scipy)."""
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


def test_bed_rule_k_grows_with_the_channel_count_as_the_binomial_tail_says():
    p0, alpha = 0.01, 1e-4
    m = DecisionMachine(cfg(aggregation="binomial", k_channels=2, channel_false_rate=p0, bed_false_rate=alpha), 1.0)
    got = {n: m.k_for(n) for n in (1, 2, 19, 23, 64)}
    assert got == {1: 1, 2: 2, 19: 4, 23: 4, 64: 6}
    for n, k in got.items():
        assert k == n or exact_tail(n, k, p0) <= alpha  # k is enough (or capped at n)
        assert k == min(2, n) or exact_tail(n, k - 1, p0) > alpha  # and the least that is
    assert exact_tail(2, 2, p0) == pytest.approx(p0**2)  # the floor with 2 channels
    assert DecisionMachine(cfg(aggregation="k_of_n", k_channels=2), 1.0).k_for(64) == 2
    assert DecisionMachine(cfg(aggregation="max"), 1.0).k_for(64) == 1
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        m.k_for(0)


def test_bed_rule_cannot_go_below_its_floor():
    # 2 channels at p0 = 0.01 cannot reach 1e-5 (both firing at once is 1e-4): all of them must agree
    assert binomial_k(2, 2, 0.01, 1e-5) == 2
    assert binomial_k(3, 5, 0.01, 1e-4) == 3  # fewer channels than k_channels: all of them


def test_binomial_aggregate_counts_only_usable_channels():
    rates = {"channel_false_rate": 0.01, "bed_false_rate": 1e-4}
    three_high = np.array([0.9, 0.9, 0.9] + [0.1] * 16)  # 19 channels: k = 4
    assert aggregate(three_high, "binomial", 2, **rates)[0] == pytest.approx(0.1)
    four_high = np.array([0.9] * 4 + [0.1] * 15)
    p, channels = aggregate(four_high, "binomial", 2, **rates)
    assert p == pytest.approx(0.9) and channels == (0, 1, 2, 3)
    # 17 of them flagged: 2 usable channels, k = 2
    p, channels = aggregate(np.array([0.9, 0.7] + [NAN] * 17), "binomial", 2, **rates)
    assert p == pytest.approx(0.7) and channels == (0, 1)


def background(rng: np.random.Generator, n_windows: int, n: int, p0: float, on: float) -> np.ndarray:
    """Independent channels ``[n_windows, n]`` whose probability reaches ``on`` with probability ``p0``:
    u ** a with a = log(on) / log(1 - p0), so P[u ** a >= on] = P[u >= 1 - p0] = p0."""
    return rng.random((n_windows, n)) ** (math.log(on) / math.log(1 - p0))


def test_bed_false_rate_holds_whatever_the_channel_count_and_k_of_n_grows():
    # p0 and alpha larger than the defaults so that 20000 windows resolve the rates
    p0, alpha, on, n_windows = 0.1, 0.02, 0.6, 20_000
    rates = {"channel_false_rate": p0, "bed_false_rate": alpha}
    rng = np.random.default_rng(11)
    sigma = math.sqrt(alpha * (1 - alpha) / n_windows)
    k2 = {}
    for n in (2, 19, 23, 64):
        probs = background(rng, n_windows, n, p0, on)
        assert np.mean(probs >= on) == pytest.approx(p0, abs=0.01)
        bed = np.array([aggregate(row, "binomial", 2, **rates)[0] for row in probs])
        rate = float(np.mean(bed >= on))
        assert rate <= alpha + 3 * sigma, f"{n} channels: {rate}"
        assert rate == pytest.approx(exact_tail(n, binomial_k(n, 2, p0, alpha), p0), abs=4 * sigma)
        k2[n] = float(np.mean([aggregate(row, "k_of_n", 2)[0] >= on for row in probs]))
    assert k2[2] < k2[19] < k2[23] < k2[64] and k2[64] > 40 * alpha  # 2 of n: grows with n, to ~every window


def correlated_background(rng: np.random.Generator, n_windows: int, n: int, p0: float, rho: float, on: float):
    """Channels ``[n_windows, n]`` that err together: each window draws q ~ Beta(a, b) (mean p0, pairwise
    correlation rho = 1 / (a + b + 1)) and each channel reaches ``on`` with probability q, so the count of
    channels at ``on`` is BetaBinomial(n, a, b)."""
    size = 1 / rho - 1
    q = rng.beta(p0 * size, (1 - p0) * size, size=(n_windows, 1))
    return np.where(rng.random((n_windows, n)) < q, rng.uniform(on, 1.0, (n_windows, n)), on / 2)


def test_channels_at_or_above_is_the_binomial_or_the_beta_binomial():
    from scipy.stats import betabinom, binom

    ks = np.arange(1, 20)
    np.testing.assert_allclose(channels_at_or_above(ks, 19, 0.01), binom.sf(ks - 1, 19, 0.01))
    size = 1 / 0.05 - 1
    np.testing.assert_allclose(
        channels_at_or_above(ks, 19, 0.01, 0.05), betabinom.sf(ks - 1, 19, 0.01 * size, 0.99 * size)
    )
    # the same mean, a fatter tail: more channels must agree for the same rate, and more so the more channels
    assert binomial_k(19, 2, 1.4e-3, 1e-4, 0.03) > binomial_k(19, 2, 1.4e-3, 1e-4) == 3
    assert binomial_k(64, 2, 1.4e-3, 1e-4, 0.03) - binomial_k(64, 2, 1.4e-3, 1e-4) >= 4
    assert binomial_k(19, 2, 1.4e-3, 1e-4, 0.0) == binomial_k(19, 2, 1.4e-3, 1e-4)
    for bad in (-0.1, 1.0, math.nan):
        with pytest.raises(ValueError, match=f"channel_correlation must be in \\[0, 1\\), got {bad!r}"):
            binomial_k(19, 2, 0.01, 1e-4, bad)
        with pytest.raises(ValueError, match="channel_correlation"):
            DecisionMachine(DecisionConfig(channel_correlation=bad), 1.0)


def test_correlated_channels_keep_the_bed_rate_only_with_their_correlation():
    """Channels that err together: the independent rule's rate grows with the channel count past its target; the
    rule told their correlation keeps it at every count (p0, alpha and rho large so 20000 windows resolve them)."""
    p0, alpha, rho, on, n_windows = 0.05, 0.01, 0.1, 0.6, 20_000
    rng = np.random.default_rng(3)
    sigma = math.sqrt(alpha * (1 - alpha) / n_windows)
    independent_rule = {}
    for n in (4, 19, 64):
        probs = correlated_background(rng, n_windows, n, p0, rho, on)
        assert np.mean(probs >= on) == pytest.approx(p0, abs=0.01)
        told = DecisionConfig(channel_false_rate=p0, bed_false_rate=alpha, channel_correlation=rho)
        rates = {"channel_false_rate": p0, "bed_false_rate": alpha}
        bed = np.array([aggregate(row, "binomial", 2, **rates, channel_correlation=rho)[0] for row in probs])
        rate = float(np.mean(bed >= on))
        assert rate <= alpha + 3 * sigma, f"{n} channels: {rate}"
        k = DecisionMachine(told, 1.0).k_for(n)
        assert rate == pytest.approx(float(channels_at_or_above(k, n, p0, rho)), abs=4 * sigma)
        independent_rule[n] = float(np.mean([aggregate(row, "binomial", 2, **rates)[0] >= on for row in probs]))
    assert independent_rule[4] < independent_rule[19] < independent_rule[64] and independent_rule[64] > 3 * alpha


@pytest.mark.parametrize("n, n_seizure", [(19, 6), (64, 20)])
def test_a_seizure_on_a_realistic_share_of_channels_still_alarms(n, n_seizure):
    config = DecisionConfig(aggregation="binomial", channel_false_rate=0.01, settle_s=0.0)  # alpha 1e-4, on 0.6
    m = DecisionMachine(config, 1.0, window_s=4.0)
    rng = np.random.default_rng(5)
    quiet = background(rng, 30, n, config.channel_false_rate, config.on_threshold)
    seizure = background(rng, 10, n, config.channel_false_rate, config.on_threshold)
    seizure[:, :n_seizure] = rng.uniform(0.85, 1.0, size=(10, n_seizure))
    events = []
    for t, probs in enumerate(np.vstack([quiet, seizure])):
        events += m.step(t, t - 4, t, probs)
    assert [(e.kind, e.time) for e in events] == [("onset", 30)]
    assert set(range(n_seizure)) <= set(events[0].channels)


def test_a_seizure_on_fewer_channels_than_k_is_not_the_bed_alarm():
    """The price of the rule: with 19 channels, 3 agreeing channels are not enough (k = 4)."""
    config = DecisionConfig(aggregation="binomial", channel_false_rate=0.01, settle_s=0.0)
    m = DecisionMachine(config, 1.0, window_s=4.0)
    probs = np.array([0.95] * 3 + [0.1] * 16)
    assert m.k_for(19) == 4
    assert [e for t in range(10) for e in m.step(t, t - 4, t, probs)] == []


def test_an_event_started_by_k_n_channels_is_held_by_k_channels():
    """k(19) = 3 channels start the event; 2 (k_channels) keep it: a seizure whose spread drops to 2
    channels for 15 s is one event, where holding it by 3 channels would end it and start another."""
    config = DecisionConfig(aggregation="binomial", channel_false_rate=1.4e-3, settle_s=0.0, merge_gap_s=10.0)
    m = DecisionMachine(config, 1.0, window_s=4.0)
    assert m.k_for(19) == 3 and config.k_channels == 2

    def probs(n_high: int) -> np.ndarray:
        return np.array([0.95] * n_high + [0.05] * (19 - n_high))

    spread = [4] * 5 + [2] * 15 + [4] * 5 + [0] * 20
    events = [e for t, n in enumerate(spread) for e in m.step(t, t - 4, t, probs(n))]
    assert [(e.kind, e.time) for e in events] == [("onset", 0), ("offset", 25)]
    # while idle, two channels are not enough to start one
    assert [e for t in range(50, 60) for e in m.step(t, t - 4, t, probs(2))] == []
    assert m.last_probability == pytest.approx(0.05)  # the onset aggregate: the 3rd highest channel


def test_the_whole_beds_channel_counts_as_the_bed_not_as_one_of_n():
    """``whole_bed`` (average_common's AVG, the last channel here): left out of the bed rule's n, and the bed is at
    least as high as it, to start an event and to hold it; without it, one high channel of 5 is not the bed."""
    rule = cfg(aggregation="binomial", k_channels=2, channel_false_rate=0.01, bed_false_rate=1e-4)
    low = [0.1, 0.1, 0.1, 0.1]
    with_avg = DecisionMachine(rule, 1.0, whole_bed=(4,))
    without = DecisionMachine(rule, 1.0)
    for i, p_avg in enumerate([0.9, 0.9, 0.6, 0.2]):
        probs = np.array([*low, p_avg])
        events = with_avg.step(float(i), i - 4.0, float(i), probs)
        assert without.step(float(i), i - 4.0, float(i), probs) == []  # AVG as one of 5: 1 of k(5) = 2
        if i == 0:
            (onset,) = events
            assert onset.kind == "onset" and onset.channels == (4,) and onset.probability == pytest.approx(0.9)
            assert with_avg.last_raw_probability == pytest.approx(0.9)
        elif i == 2:
            assert events == [] and with_avg.alarm_active  # held by AVG above off_threshold
        elif i == 3:
            assert [e.kind for e in events] == ["offset"]
    # n counts the other channels: the same k as a bed of 4, and the rule's own channels still start an event
    both = DecisionMachine(rule, 1.0, whole_bed=(4,))
    assert both.k_for(4) == 3
    assert both.step(0.0, -4.0, 0.0, np.array([0.95, 0.9, 0.85, 0.1, 0.2]))[0].channels == (0, 1, 2)
    assert both.last_raw_probability == pytest.approx(0.85)  # the rule's 3rd highest, above AVG's 0.2
    # AVG left out of a window (NaN): the rule alone; only AVG usable: AVG is the bed
    alone = DecisionMachine(rule, 1.0, whole_bed=(1,))
    alone.step(0.0, -4.0, 0.0, np.array([np.nan, 0.3]))
    assert alone.last_raw_probability == pytest.approx(0.3)
    alone.step(1.0, -3.0, 1.0, np.array([0.4, np.nan]))
    assert alone.last_raw_probability == pytest.approx(0.4)
    with pytest.raises(ValueError, match=r"whole_bed \[4\] is not among the window's 2 channels"):
        DecisionMachine(rule, 1.0, whole_bed=(4,)).step(0.0, -4.0, 0.0, np.array([0.1, 0.2]))
    for bad in (-1, 4, (2, -1)):
        with pytest.raises(ValueError, match=f"got {bad!r}".replace("(", r"\(").replace(")", r"\)")):
            DecisionMachine(rule, 1.0, whole_bed=bad)


def test_several_whole_bed_channels_each_count_as_the_bed():
    """``whole_bed`` with two channels (average_hemispheres' AVG-L and AVG-R, the last two here): both out of the bed
    rule's n, and the bed is the highest of the rule's and theirs: either side's mean alone starts and holds an event,
    named as the onset's channel; NaN on one side leaves the other."""
    rule = cfg(aggregation="binomial", k_channels=2, channel_false_rate=0.01, bed_false_rate=1e-4)
    m = DecisionMachine(rule, 1.0, whole_bed=(4, 5))
    assert m.k_for(4) == 3
    (onset,) = m.step(0.0, -4.0, 0.0, np.array([0.1, 0.1, 0.1, 0.1, 0.3, 0.9]))
    assert onset.kind == "onset" and onset.channels == (5,) and m.last_raw_probability == pytest.approx(0.9)
    assert m.step(1.0, -3.0, 1.0, np.array([0.1, 0.1, 0.1, 0.1, 0.7, np.nan])) == [] and m.alarm_active  # held by L
    assert m.last_raw_probability == pytest.approx(0.7)
    (offset,) = m.step(2.0, -2.0, 2.0, np.array([0.1, 0.1, 0.1, 0.1, 0.2, 0.3]))
    assert offset.kind == "offset"
    both_nan = DecisionMachine(rule, 1.0, whole_bed=(4, 5))
    both_nan.step(0.0, -4.0, 0.0, np.array([0.95, 0.9, 0.85, 0.1, np.nan, np.nan]))
    assert both_nan.last_raw_probability == pytest.approx(0.85)  # the rule alone: its 3rd highest of 4
