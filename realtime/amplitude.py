"""Is a channel's amplitude in the range the model was trained on? A gain check that needs no truth.

The network reads µV on a fixed scale, so a device whose gain is off (a wrong unit, an amplifier
setting, a calibration error) gives it a signal it was never shown: it then misses seizures or raises
false ones without any error. The true amplitude of one patient is unknown, but EEG background is
not arbitrary: the model's non-seizure training windows have standard deviations of 17-233 µV (1st to
99th percentile; ``python -m experiments.amplitude RUN``). :class:`AmplitudeMonitor` keeps, per channel,
the standard deviation of each scored window over the last ``span_windows`` windows and, once it has
``min_windows``, flags a channel whose **median** lies outside ``[low_uv, high_uv]`` (by default half
the 1st and twice the 99th percentile). The median over minutes ignores a seizure's own amplitude
rise and short artefacts. A flagged channel is still scored (a seizure raises amplitude too): the flag
says that its scores cannot be trusted until the gain is checked. The pipeline judges the inputs as recorded,
before any montage (the training windows' levels were of channels as recorded, and a derivation's size is the
montage's: a common average or a bipolar pair of healthy electrodes can sit under the low bound), and names them by
their own labels.

Pure: no I/O, no clock. ``update`` takes ``std_uv [n_channels]`` (NaN for channels left out of the
window: they do not count).
"""

from __future__ import annotations

import numpy as np

LOW, HIGH = "amplitude_low", "amplitude_high"


class ChannelHistory:
    """Each channel's value in the last ``span_windows`` windows (NaN: not scored in that window) and a statistic of
    it per channel, NaN for a channel with fewer than ``min_windows`` values: the amplitude monitor's medians and
    :class:`realtime.scaling.BackgroundScaler`'s lower quartiles."""

    def __init__(self, n_channels: int, *, span_windows: int, min_windows: int):
        if not 1 <= min_windows <= span_windows:
            raise ValueError(f"need 1 <= min_windows <= span_windows, got {min_windows!r}, {span_windows!r}")
        self.min_windows = int(min_windows)
        # [n_channels, span_windows]: each channel's history contiguous, for the partition of a median or quantile
        self._values = np.full((int(n_channels), int(span_windows)), np.nan)
        self._next = 0

    def push(self, values: np.ndarray, name: str = "values") -> None:
        """Record one window's ``values [n_channels]`` (``name``: how an error calls them)."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != self._values.shape[:1]:
            raise ValueError(f"{name} must have shape {self._values.shape[:1]}, got {values.shape}")
        self._values[:, self._next % self._values.shape[1]] = values
        self._next += 1

    def reduce(self, fast, masked) -> np.ndarray:
        """``[n_channels]``: ``fast(values, axis=1)`` (e.g. ``np.median``) when every channel was scored in every
        recorded window (the steady state, and a bed's first span: several times faster), else ``masked`` (e.g.
        ``np.nanmedian``) over the channels with ``min_windows`` values; NaN for the others."""
        counts = np.count_nonzero(np.isfinite(self._values), axis=1)
        filled = min(self._next, self._values.shape[1])  # windows recorded: columns [0, filled) until the span is full
        out = np.full(self._values.shape[0], np.nan)
        if counts.min() == filled >= self.min_windows:
            out[:] = fast(self._values[:, :filled], axis=1)
        elif (ready := counts >= self.min_windows).any():
            out[ready] = masked(self._values[ready], axis=1)
        return out

    def reset(self) -> None:
        self._values[:] = np.nan
        self._next = 0


class AmplitudeMonitor:
    def __init__(self, n_channels: int, *, low_uv: float, high_uv: float, span_windows: int, min_windows: int):
        if not 0 < low_uv < high_uv:
            raise ValueError(f"need 0 < low_uv < high_uv, got {low_uv!r}, {high_uv!r}")
        self.low_uv, self.high_uv = float(low_uv), float(high_uv)
        self._history = ChannelHistory(n_channels, span_windows=span_windows, min_windows=min_windows)
        self.median_uv = np.full(int(n_channels), np.nan)  # per channel, after the last update

    def update(self, std_uv: np.ndarray) -> list[str | None]:
        """Record one window's ``std_uv [n_channels]``; per channel ``None``, ``"amplitude_low"`` or
        ``"amplitude_high"``."""
        self._history.push(std_uv, "std_uv")
        self.median_uv[:] = self._history.reduce(np.median, np.nanmedian)
        return self.flags()

    def flags(self) -> list[str | None]:
        """Per channel, from the current medians: ``None`` (in range, or not judged yet), ``"amplitude_low"``
        or ``"amplitude_high"``."""
        return [
            None if not np.isfinite(m) else LOW if m < self.low_uv else HIGH if m > self.high_uv else None
            for m in self.median_uv
        ]

    def reset(self) -> None:
        """Stream lost: the next device (or electrode set) may differ; start over."""
        self._history.reset()
        self.median_uv[:] = np.nan
