"""The sample clock (realtime/clock.py) and the pipeline's decisions on it: pure, no I/O.

Timestamps that jump back an hour, forward an hour, freeze, run at another rate, arrive in bursts or
lose samples; the decision must be timed by the samples whatever they do.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from realtime.clock import ClockEvent, SampleClock, jump_tolerance_s

FS = 256.0
N = int(120 * FS)
IDX = np.arange(N)
AT = int(30 * FS)  # where the trouble starts


def clock(hop_s: float = 1.0) -> SampleClock:
    return SampleClock(FS, jump_tolerance_s=jump_tolerance_s(hop_s))


def feed(c: SampleClock, ts: np.ndarray, chunks, seed: int = 0) -> list[ClockEvent]:
    """Observe ``ts`` in chunks: a fixed size, or sizes drawn from ``range(*chunks)``."""
    rng = np.random.default_rng(seed)
    events, i = [], 0
    while i < len(ts):
        n = chunks if isinstance(chunks, int) else int(rng.integers(*chunks))
        events += c.observe(i, ts[i : i + n])
        i += n
    return events


CHUNKS = [(1, 60), 4096]  # live pulls of a few samples, and one backlog


def test_tolerance_is_a_second_or_three_hops():
    assert jump_tolerance_s(0.25) == 1.0 and jump_tolerance_s(1.0) == 3.0 and jump_tolerance_s(2.0) == 6.0


@pytest.mark.parametrize("chunks", CHUNKS)
@pytest.mark.parametrize(
    "name, ts",
    [
        ("regular", 100 + IDX / FS),
        ("a replay at --speed 4", 100 + IDX / (4 * FS)),
        ("a 1 % clock-rate error", 100 + 1.01 * IDX / FS),
        # a radio device: packets of 51 samples, each stamped when it arrives
        ("bursts", 100 + (np.floor(IDX / 51) * 51 + 50) / FS + 0.002),
    ],
)
def test_ordinary_streams_raise_nothing_and_decide_on_the_sample_count(name, ts, chunks):
    c = clock()
    assert feed(c, ts, chunks) == []
    assert c.decision_time(N - 1) == pytest.approx(ts[0] + (N - 1) / FS, abs=1e-9)  # first timestamp + count / rate


def test_push_jitter_of_tens_of_ms_is_no_event():
    rng = np.random.default_rng(1)
    c, i, events = clock(0.25), 0, []
    while i < 600 * FS:  # ten minutes; each chunk stamped at its push, up to ~150 ms late
        n = int(rng.integers(1, 40))
        last = 100 + (i + n - 1) / FS + abs(rng.normal(0, 0.05))
        events += c.observe(i, last - np.arange(n)[::-1] / FS)
        i += n
    assert events == [] and c.jumps_total == c.gaps_total == c.steps_total == 0


@pytest.mark.parametrize("chunks", CHUNKS)
@pytest.mark.parametrize("jump", [-3600.0, 3600.0, -5.0])
def test_a_jump_is_reported_once_and_the_sample_clock_goes_on(jump, chunks):
    c = clock()
    (ev,) = feed(c, 100 + IDX / FS + jump * (IDX >= AT), chunks)
    assert (ev.kind, ev.index, ev.abrupt) == ("jump", AT, True)
    assert ev.offset_s == pytest.approx(jump) and ev.received_time - ev.expected_time == pytest.approx(jump)
    assert c.decision_time(N - 1) == pytest.approx(100 + (N - 1) / FS)  # no time lost or added
    assert c.offset_total_s == pytest.approx(jump) and c.jumps_total == 1
    # the stream's clock from the jump on: samples before it are extrapolated back in that clock
    assert c.anchor is not None and c.anchor.time_of(AT - FS) == pytest.approx(100 + AT / FS + jump - 1)
    way = "back" if jump < 0 else "forward"
    assert f"timestamps jumped {way} by {abs(jump):.3f} s" in ev.describe()


@pytest.mark.parametrize("chunks", CHUNKS)
def test_missing_samples_are_a_gap_that_adds_their_time(chunks):
    c = clock()
    (ev,) = feed(c, 100 + IDX / FS + 0.5 * (IDX >= AT), chunks)
    assert (ev.kind, ev.index) == ("gap", AT) and ev.offset_s == pytest.approx(0.5)
    assert c.decision_time(AT - 1) == pytest.approx(100 + (AT - 1) / FS)
    assert c.decision_time(AT) == pytest.approx(100 + AT / FS + 0.5)  # the window across it spans 0.5 s more
    assert c.anchor is None and c.offset_total_s == 0  # the stream's clock did not move
    assert "about 0.50 s of samples lost" in ev.describe()


def test_a_small_step_back_is_re_anchored_without_time_added():
    c = clock()
    (ev,) = feed(c, 100 + IDX / FS - 0.5 * (IDX >= AT), (1, 60))
    assert (ev.kind, ev.index) == ("step", AT) and ev.offset_s == pytest.approx(-0.5)
    assert c.decision_time(N - 1) == pytest.approx(100 + (N - 1) / FS) and c.anchor.index == AT


def test_a_frozen_clock_keeps_being_reported():
    c = clock()
    events = feed(c, np.where(IDX < AT, 100 + IDX / FS, 100 + AT / FS), (1, 60))
    assert len(events) >= 20 and {e.kind for e in events} == {"jump"}  # about one per 3 s of samples
    assert not events[0].abrupt and events[0].offset_s < -3.0 and events[0].index > AT
    assert "drifted" in events[0].describe()
    assert c.decision_time(N - 1) == pytest.approx(100 + (N - 1) / FS)


def test_a_reconnect_adds_the_outage_and_a_clock_set_back_is_a_jump():
    c = clock()
    c.observe(0, 100 + np.arange(2560) / FS)
    c.restart()
    assert c.observe(2560, 100 + 10.0 + np.arange(2560, 3000) / FS) == []  # 10 s without samples
    assert c.decision_time(2560) == pytest.approx(100 + 2560 / FS + 10.0)
    c.restart()
    (ev,) = c.observe(3000, 100 + 10.0 - 3600 + np.arange(3000, 3100) / FS)
    assert (ev.kind, ev.at_restart) == ("jump", True) and ev.offset_s == pytest.approx(-3600)
    assert c.decision_time(3000) == pytest.approx(100 + 2999 / FS + 10.0 + 1 / FS)  # no time taken away
    assert "after a reconnect" in ev.describe()


def test_bad_timestamps_are_refused_quoting_the_value():
    c = clock()
    with pytest.raises(ValueError, match=r"finite, got nan at position 1"):
        c.observe(0, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"finite, got inf"):
        c.observe(0, np.array([np.inf]))
    c.observe(0, np.arange(10) / FS)
    with pytest.raises(ValueError, match="expected index 10, got 12"):
        c.observe(12, np.arange(3) / FS)
    with pytest.raises(ValueError, match="got nan"):
        SampleClock(float("nan"), jump_tolerance_s=1.0)


# ------------------------------------------------------------------------------------ the pipeline


@pytest.fixture(scope="module")
def detector(toy_export):
    from realtime.model import load_detector

    return load_detector(toy_export, backend="litert")


def seizure_like(seconds: float, high_from_s: float, high_to_s: float = 1e9, n_channels: int = 4) -> np.ndarray:
    """``[n_samples, n_channels]`` µV: 15 µV sines, 300 µV between ``high_from_s`` and ``high_to_s``."""
    t = np.arange(int(seconds * FS)) / FS
    amp = np.where((t >= high_from_s) & (t < high_to_s), 300.0, 15.0)
    return amp[:, None] * np.sin(2 * np.pi * (5.0 + np.arange(n_channels))[None, :] * t[:, None])


def run(detector, x: np.ndarray, ts: np.ndarray, chunk: int = 64, **decision):
    from realtime.config import DecisionConfig, SignalConfig, WindowConfig
    from realtime.pipeline import Pipeline

    pipe = Pipeline(
        detector,
        sfreq=FS,
        ch_names=[f"C{i}" for i in range(x.shape[1])],
        units=None,
        window=WindowConfig(hop_s=1.0, buffer_s=30.0),
        decision=dataclasses.replace(DecisionConfig(aggregation="max", merge_gap_s=3.0), **decision),
        signal=SignalConfig(montage="as_recorded"),
    )
    results, clock_events = [], []
    for i in range(0, len(ts), chunk):
        clock_events += pipe.push(x[i : i + chunk], ts[i : i + chunk])
        results += pipe.step()
    return pipe, results, clock_events


def test_a_clock_set_back_an_hour_during_a_seizure_still_raises_the_onset(detector):
    """The fault: timestamps frozen (or sent back) while min_duration_s was counting; no onset ever came."""
    x = seizure_like(30.0, high_from_s=10.0)
    t = 5000 + np.arange(len(x)) / FS
    t[int(12 * FS) :] -= 3600.0  # just after the crossing, before min_duration_s (2 s) has passed
    pipe, results, clock_events = run(detector, x, t)
    assert [(e.kind, round(e.offset_s)) for e in clock_events] == [("jump", -3600)]
    onsets = [e for r in results for e in r.events if e.kind == "onset"]
    assert len(onsets) == 1 and pipe.alarm_active
    (on,) = onsets
    # every time in the message in the stream's clock now in force: the crossing, moved by the jump
    assert on.window_start < on.window_end < 5000
    assert on.publish_time - on.time == pytest.approx(2.0, abs=1.01)  # min_duration_s on the sample clock
    assert on.window_end - on.window_start == pytest.approx(1023 / 250, abs=0.01)
    assert pipe.clock.offset_total_s == pytest.approx(-3600)


def test_a_clock_set_forward_an_hour_during_a_seizure_gives_an_event_of_its_real_length(detector):
    x = seizure_like(50.0, high_from_s=10.0, high_to_s=30.0)
    t = 5000 + np.arange(len(x)) / FS
    t[int(20 * FS) :] += 3600.0  # in the middle of the event
    pipe, results, clock_events = run(detector, x, t)
    assert [(e.kind, round(e.offset_s)) for e in clock_events] == [("jump", 3600)]
    events = [e for r in results for e in r.events]
    assert [e.kind for e in events] == ["onset", "offset"] and not pipe.alarm_active  # the alarm ends
    onset, offset = events
    assert offset.duration_s == pytest.approx(20.0, abs=3.0)  # the 20 s of high amplitude, not an hour
    assert offset.onset_time == pytest.approx(onset.time + 3600.0)  # in the clock of the offset
    assert offset.time - offset.onset_time == pytest.approx(offset.duration_s)
    # no window spans the jump: each is one window long
    assert all(r.window_end - r.window_start == pytest.approx(1023 / 250, abs=0.01) for r in results)


def test_a_gap_in_the_samples_settles_again_but_a_jump_does_not(detector):
    x = seizure_like(40.0, high_from_s=24.0)
    t = np.arange(len(x)) / FS

    def onset(ts):
        _, results, clock_events = run(detector, x, ts, settle_s=6.0)
        (on,) = [e for r in results for e in r.events if e.kind == "onset"]
        return on.time, [e.kind for e in clock_events]

    plain, _ = onset(t)
    after_gap, found = onset(t + 1.5 * (t >= 22.0))  # 1.5 s of samples lost at 22 s
    assert found == ["gap"] and after_gap - 1.5 > plain + 0.5  # settled again: armed later
    after_jump, found = onset(t + 3600 * (t >= 22.0))
    assert found == ["jump"] and after_jump - 3600 == pytest.approx(plain)  # no settling, nothing lost


def test_a_large_chunk_after_a_short_hiccup_is_observed_whatever_its_size():
    """A 0.16 s stretch stamped 0.3 s late across a pull's boundary leaves the fit's reference sample between two
    integers; a backlog of 716-4096 samples pulled in one chunk then made a residual array one element too long (a
    float np.arange) and the whole burst of EEG was dropped as a bad chunk."""
    import copy

    ts = 1000.0 + np.arange(int(10 * FS) + 4096) / FS
    ts[1660:1700] += 0.3
    c, i = clock(), 0
    while i < int(10 * FS):
        c.observe(i, ts[i : i + 32])
        i += 32
    for size in range(700, 1300, 3):
        copy.deepcopy(c).observe(i, ts[i : i + size])  # raised ValueError for about a third of the sizes
