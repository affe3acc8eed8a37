"""RingBuffer against a naive np.concatenate reference (property-based) plus edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.ring_buffer import RingBuffer


class NaiveBuffer:
    def __init__(self, n_channels: int, capacity: int):
        self.data = np.zeros((n_channels, 0))
        self.times = np.zeros(0)
        self.capacity = capacity

    def append(self, samples, timestamps):
        self.data = np.concatenate([self.data, samples.T], axis=1)[:, -self.capacity :]
        self.times = np.concatenate([self.times, timestamps])[-self.capacity :]


@settings(max_examples=60, deadline=None)
@given(
    n_channels=st.integers(1, 4),
    capacity=st.integers(1, 40),
    chunks=st.lists(st.integers(0, 90), min_size=1, max_size=12),
    data=st.data(),
)
def test_matches_naive_concatenate(n_channels, capacity, chunks, data):
    rb, ref = RingBuffer(n_channels, capacity), NaiveBuffer(n_channels, capacity)
    t = 0
    for size in chunks:
        samples = np.arange(t, t + size, dtype=float)[:, None] * 10 + np.arange(n_channels)
        times = np.arange(t, t + size, dtype=float) / 7
        rb.append(samples, times)
        ref.append(samples, times)
        t += size
        assert rb.total_samples == t
        assert rb.available_samples == ref.times.size
        assert rb.fill_ratio == pytest.approx(ref.times.size / capacity)
        avail = rb.available_samples
        n = data.draw(st.integers(0, avail), label="n")
        skip = data.draw(st.integers(0, avail - n), label="skip")
        d, ts = rb.latest(n, skip_newest=skip)
        stop = ref.times.size - skip
        np.testing.assert_array_equal(d, ref.data[:, stop - n : stop])
        np.testing.assert_array_equal(ts, ref.times[stop - n : stop])


def test_latest_is_a_read_only_view_not_a_copy():
    rb = RingBuffer(3, 8)
    rb.append(np.ones((6, 3)), np.arange(6.0))
    rb.append(2 * np.ones((5, 3)), np.arange(6.0, 11.0))  # wraps around
    d, ts = rb.latest(8)
    assert np.shares_memory(d, rb._data) and np.shares_memory(ts, rb._times)
    assert d.shape == (3, 8) and not d.flags.writeable and not ts.flags.writeable
    np.testing.assert_array_equal(ts, np.arange(3.0, 11.0))
    with pytest.raises(ValueError, match="read-only"):
        d[0, 0] = 5.0


def test_chunk_longer_than_capacity_keeps_newest():
    rb = RingBuffer(1, 4)
    rb.append(np.arange(10.0)[:, None], np.arange(10.0))
    d, _ts = rb.latest(4)
    np.testing.assert_array_equal(d[0], [6, 7, 8, 9])
    assert rb.total_samples == 10 and rb.fill_ratio == 1.0


def test_errors_quote_values_and_clear_resets():
    rb = RingBuffer(2, 5)
    with pytest.raises(ValueError, match=r"\[n, 2\], got \(3, 3\)"):
        rb.append(np.zeros((3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"timestamps must have shape \[3\]"):
        rb.append(np.zeros((3, 2)), np.zeros(4))
    rb.append(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="only 3 are available"):
        rb.latest(4)
    rb.clear()
    assert rb.total_samples == 0 and rb.fill_ratio == 0.0
    with pytest.raises(ValueError, match="capacity_samples must be >= 1, got 0"):
        RingBuffer(2, 0)


def test_integer_input_is_stored_as_float():
    rb = RingBuffer(2, 4)
    rb.append(np.array([[1, 2], [3, 4]], dtype=np.int16), np.array([0.0, 1.0]))
    d, _ = rb.latest(2)
    assert d.dtype == np.float64
    np.testing.assert_array_equal(d, [[1, 3], [2, 4]])
