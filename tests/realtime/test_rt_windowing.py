"""WindowScheduler: table-driven."""

from __future__ import annotations

import pytest

from realtime.windowing import DueWindows, WindowScheduler


@pytest.mark.parametrize(
    "window, hop, totals, expected",
    [
        # not enough for one window yet, then exactly one
        (10, 5, [9, 10], [DueWindows((), 0), DueWindows((10,), 0)]),
        # one hop at a time
        (
            10,
            5,
            [10, 14, 15, 20],
            [DueWindows((10,), 0), DueWindows((), 0), DueWindows((15,), 0), DueWindows((20,), 0)],
        ),
        # a big jump (a burst, a slow tick) hands out every hop, oldest first: none is skipped
        (10, 5, [27], [DueWindows((10, 15, 20, 25), 0)]),
        # fractional hop (1 s at 173.61 Hz): ends rounded from exact multiples, no drift
        (
            100,
            173.61,
            [100, 274, 447, 100 + 17361],
            [
                DueWindows((100,), 0),
                DueWindows((274,), 0),
                DueWindows((447,), 0),
                DueWindows(tuple(100 + round(k * 173.61) for k in range(3, 101)), 0),
            ],
        ),
    ],
)
def test_due_table(window, hop, totals, expected):
    s = WindowScheduler(window, hop)
    assert [s.due(t) for t in totals] == expected


def test_overwritten_windows_are_skipped_not_scored():
    s = WindowScheduler(10, 5)
    # samples [0, 12) are gone: windows ending at 10, 15, 20 start at 0, 5, 10 -> first two unreadable
    assert s.due(22, oldest_available=8) == DueWindows((20,), 2)
    assert s.due(30, oldest_available=16) == DueWindows((30,), 1)  # 25 starts at 15


def test_reset_starts_over():
    s = WindowScheduler(10, 5)
    assert s.due(20).ends == (10, 15, 20)
    s.reset()
    assert s.due(12).ends == (10,)


def test_an_offset_shifts_every_window_and_stays_after_a_reset():
    """A bed's phase (docs/daemon.md "Several beds"): every window ends offset_samples later, a reconnect too."""
    s = WindowScheduler(10, 5, offset_samples=3)
    assert s.due(12).ends == () and s.next_end == 13
    assert s.due(23).ends == (13, 18, 23)
    s.reset()
    assert s.due(13).ends == (13,)


@pytest.mark.parametrize(
    "window, hop, offset, message",
    [
        (0, 5, 0, "window_samples"),
        (10.5, 5, 0, "window_samples"),
        (10, 0, 0, "hop_samples must be > 0, got 0"),
        (10, 5, 5, r"offset_samples must be an integer in \[0, hop_samples\), got 5"),
        (10, 5, -1, "got -1"),
        (10, 5, 1.5, "got 1.5"),
    ],
)
def test_bad_arguments(window, hop, offset, message):
    with pytest.raises(ValueError, match=message):
        WindowScheduler(window, hop, offset)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=100, deadline=None)
@given(
    window=st.integers(1, 50),
    hop=st.floats(0.5, 30.0),
    increments=st.lists(st.integers(0, 120), max_size=30),
)
def test_every_window_is_scored_exactly_once_in_order(window, hop, increments):
    s = WindowScheduler(window, hop)
    total, scored, skipped = 0, [], 0
    for inc in increments:
        total += inc
        due = s.due(total)
        assert list(due.ends) == sorted(due.ends) and all(e <= total for e in due.ends)
        scored += due.ends
        skipped += due.skipped
    expected = [s.end_of(k) for k in range(10_000) if s.end_of(k) <= total]
    assert scored == expected and skipped == 0


@settings(max_examples=100, deadline=None)
@given(window=st.integers(1, 50), hop=st.floats(0.5, 30.0), increments=st.lists(st.integers(0, 120), max_size=30))
def test_next_end_is_the_count_at_which_the_next_window_comes_due(window, hop, increments):
    """A daemon of several beds pulls a bed when ``next_end - total`` more samples wait: not one sample early
    (no window would come of it) and none late (the window would wait)."""
    s = WindowScheduler(window, hop)
    total = 0
    for inc in increments:
        total += inc
        s.due(total)
        assert s.next_end > total  # nothing due is left behind
        probe = WindowScheduler(window, hop)
        probe._next_k = s._next_k
        assert probe.due(s.next_end - 1).ends == () and probe.due(s.next_end).ends[0] == s.next_end
