"""A preallocated multi-channel ring buffer whose newest samples are always one contiguous view.

Storage is *mirrored*: every sample is written twice, at position ``i`` and ``i + capacity`` of an
array twice the capacity long. Any run of the newest ``capacity`` samples is then contiguous in
memory, so :meth:`RingBuffer.latest` returns numpy views (no copy, no ``np.concatenate``) at the
cost of writing each sample twice. Writes happen once per pulled chunk; reads happen once per
window per channel, and a window is hundreds of times longer than a hop, so the trade favours reads.

Pure: numpy only, no I/O.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """``n_channels`` x ``capacity_samples`` samples plus one timestamp per sample.

    ``append(samples [n, n_channels], timestamps [n])`` stores a chunk (a chunk longer than the
    capacity keeps its newest ``capacity_samples``); ``latest(n)`` returns read-only views
    ``data [n_channels, n]`` and ``timestamps [n]`` of the newest ``n`` samples. The views alias
    the buffer: they are valid until the next :meth:`append` or :meth:`clear`.
    """

    def __init__(self, n_channels: int, capacity_samples: int, dtype=np.float64):
        if int(n_channels) < 1:
            raise ValueError(f"n_channels must be >= 1, got {n_channels!r}")
        if int(capacity_samples) < 1:
            raise ValueError(f"capacity_samples must be >= 1, got {capacity_samples!r}")
        self.n_channels = int(n_channels)
        self.capacity_samples = int(capacity_samples)
        self.dtype = np.dtype(dtype)
        self._data = np.zeros((self.n_channels, 2 * self.capacity_samples), dtype=self.dtype)
        self._times = np.zeros(2 * self.capacity_samples, dtype=np.float64)
        self._write = 0  # next write position, 0 <= _write < capacity
        self.total_samples = 0  # samples appended since construction or clear()

    # ------------------------------------------------------------------ state
    @property
    def available_samples(self) -> int:
        """How many samples can be read back (at most the capacity)."""
        return min(self.total_samples, self.capacity_samples)

    @property
    def fill_ratio(self) -> float:
        """available_samples / capacity_samples, in [0, 1]."""
        return self.available_samples / self.capacity_samples

    def clear(self) -> None:
        """Forget every sample (storage is kept, not reallocated)."""
        self._write = 0
        self.total_samples = 0

    # ------------------------------------------------------------------ write
    def append(self, samples: np.ndarray, timestamps: np.ndarray) -> None:
        """Store ``samples [n, n_channels]`` with ``timestamps [n]`` (oldest first)."""
        samples = np.asarray(samples)
        timestamps = np.asarray(timestamps, dtype=np.float64)
        if samples.ndim != 2 or samples.shape[1] != self.n_channels:
            raise ValueError(f"samples must have shape [n, {self.n_channels}], got {samples.shape}")
        if timestamps.shape != (samples.shape[0],):
            raise ValueError(f"timestamps must have shape [{samples.shape[0]}], got {timestamps.shape}")
        n = samples.shape[0]
        if n == 0:
            return
        cap = self.capacity_samples
        self.total_samples += n
        if n > cap:  # only the newest capacity samples can survive
            samples = samples[n - cap :]
            timestamps = timestamps[n - cap :]
            n = cap
        w = self._write
        first = min(n, cap - w)  # samples before the physical end of the first copy
        # Transposed write: data is stored [channel, time].
        for offset in (0, cap):
            self._data[:, offset + w : offset + w + first] = samples[:first].T
            self._times[offset + w : offset + w + first] = timestamps[:first]
            if first < n:
                rest = n - first
                self._data[:, offset : offset + rest] = samples[first:].T
                self._times[offset : offset + rest] = timestamps[first:]
        self._write = (w + n) % cap

    # ------------------------------------------------------------------ read
    def latest(self, n_samples: int, skip_newest: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Views of ``n_samples`` consecutive samples ending ``skip_newest`` samples before the newest.

        Returns ``(data [n_channels, n_samples], timestamps [n_samples])``, oldest first, read-only,
        without copying. Raises ``ValueError`` when fewer than ``n_samples + skip_newest`` samples are
        available.
        """
        n_samples, skip_newest = int(n_samples), int(skip_newest)
        if n_samples < 0 or skip_newest < 0:
            raise ValueError(f"n_samples and skip_newest must be >= 0, got {n_samples!r}, {skip_newest!r}")
        if n_samples + skip_newest > self.available_samples:
            raise ValueError(
                f"asked for {n_samples} samples ending {skip_newest} before the newest, but only "
                f"{self.available_samples} are available (capacity {self.capacity_samples})"
            )
        stop = self._write + self.capacity_samples - skip_newest
        start = stop - n_samples
        data = self._data[:, start:stop]
        times = self._times[start:stop]
        data.flags.writeable = False
        times.flags.writeable = False
        return data, times
