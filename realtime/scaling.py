"""A patient's high-amplitude background, scaled down to a level the network was seen quiet at.

The network reads µV on a fixed scale (``fixed_uv``), so it is partly an amplitude meter: healthy
background EEG multiplied by 4 raises false alarms that the same EEG at 3x does not (docs/background.md,
"Stress test"), and some patients' background is that large (high-voltage delta, hypsarrhythmia). Seizure
detectors of the field judge a window against the patient's own background (Gotman's detector compares an
epoch with the EEG before it). :class:`BackgroundScaler` does so at the input: it keeps, per channel, the
band-limited standard deviation of each scored window (:func:`band_std_uv`, 1.5-40 Hz: the band the
network's filter bank passes) over ``span_windows``, and once it has ``min_windows`` of them, a channel
whose background level (the ``quantile`` of that history, the lower quartile by default) exceeds
``limit_uv`` is multiplied by ``limit_uv / level`` before the model: its background then reaches the
network at ``limit_uv``, and a seizure on it keeps its size relative to that background. A channel at or
below the limit is untouched (factor 1), so EEG of ordinary amplitude is scored exactly as without it.

A large background whose power is mostly delta (a patient's high-voltage slow background) can sit under the broad
limit and still be read as seizure: the network is not quiet on delta as large as a healthy spectrum's broad level
(docs/background.md "A slow background"). With ``delta_limit_uv`` a window's level is the larger of its broad level
and its 1.5-4 Hz level times ``limit_uv / delta_limit_uv`` (:meth:`BackgroundScaler.window_level_uv`), so such a
background is scaled until its delta is at ``delta_limit_uv``; on a healthy spectrum (delta about half the broad
level) the broad limit binds first, as before.

A lower quantile over minutes is the background, not a seizure: a seizure must fill three quarters of the
span (225 of 300 s) before it moves the lower quartile; a short artefact does not move it. The daemon's
``min_windows`` (``signal.background_min_s``, 20 s) is twice the 10 s within which a seizure must be alarmed: one
under way when the stream connects is scored unscaled that long, and must fill 15 of those 20 windows to be scaled.
Left-out windows (NaN) do not count.

A seizure that goes on would fill the history all the same (status epilepticus: a seizure of 5 min or more), be
scaled by its own level and, read by its size, be closed while it lasts (docs/background.md "A seizure that goes on").
So, as Gotman's detectors hold their background during a detection, the scaler **holds** each channel's level while
the bed's alarm is published (``update(..., in_seizure=True)``; the pipeline passes ``DecisionMachine.alarm_active``,
from the onset message to the offset message): it may fall but not rise above its level before the seizure, which so
scales the seizure. A crossing of ``on_threshold`` not yet published is not held, so the hold can keep an event open
but never confirm one (docs/background.md "The hold from the published onset"). The windows are still recorded (not
recording them would keep out every window the network found seizure-like, the louder ones, and bias the background
low: docs/background.md), so when the event ends the level is what it would have been. A channel without a level
before the seizure (a connection's first seconds) is held from its first level within the seizure on. For at most
``hold_max_windows`` windows of one seizure (``signal.background_hold_max_s``, 600 s): an alarm that a rise of the
background raised (no seizure) would otherwise stay unscaled and open; after the bound the level follows its history
at once.

A loss of the stream (``reset``) empties the history. When the same device comes back with the same channels after a
short outage (``reset(keep_prior=True)``; the bed and the offline feed decide: docs/background.md "A reconnect of the
same device"), each channel's last level stays as a **prior**: its windows are scaled by it until the channel has
``min_windows`` of new history, so a reconnect does not open another unscaled start, and a seizure under way at the
reconnect is scaled by the patient's background, not by its own level. Offline, a file that continues the one before
it (same folder, patient, channels; it starts where that one ended: :mod:`realtime.offline`) takes that file's last
levels as its prior (``set_prior``).

Pure: no I/O, no clock. ``update`` takes ``level_uv [n_channels]`` (NaN for channels not scored), ``factors``
returns ``[n_channels]`` in (0, 1].
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.signal

from realtime.amplitude import ChannelHistory

BAND_HZ = (1.5, 40.0)  # the shipped network's filter bank: 1.5-40 Hz (docs/training.md)
DELTA_HZ = (1.5, 4.0)  # the delta band as far as the filter bank passes it (BackgroundScaler's delta_limit_uv)


def band_std_uv(x: np.ndarray, rate_hz: float, band_hz: tuple[float, float] = BAND_HZ) -> np.ndarray:
    """Standard deviation (µV) of each row of ``x [n_channels, n_samples]`` within ``band_hz``: its linear
    trend removed, a Hann taper (so that a slow wave below the band does not leak into it), Parseval over the
    real FFT's bins in the band, corrected for the taper's power. Returns ``[n_channels]``."""
    return band_stds_uv(x, rate_hz, (band_hz,))[0]


def band_stds_uv(x: np.ndarray, rate_hz: float, bands_hz: tuple[tuple[float, float], ...]) -> np.ndarray:
    """:func:`band_std_uv` of ``x [n_channels, n_samples]`` in each of ``bands_hz`` from one FFT: ``[n_bands,
    n_channels]``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"x must have shape [n_channels, n_samples >= 2], got {x.shape}")
    for band in bands_hz:
        if len(band) != 2 or not 0 <= band[0] < band[1]:
            raise ValueError(f"band_hz must be (low, high) with 0 <= low < high, got {band!r}")
    n = x.shape[1]
    taper, ramp = _taper(n)
    # the least-squares line is the mean plus the slope along the centred ramp (scipy.signal.detrend solves the
    # same by a general least-squares fit, 150x slower on [23, 1024])
    detrended = x - x.mean(axis=1, keepdims=True) - np.outer(x @ ramp / (ramp @ ramp), ramp)
    bins = [_bins(n, float(rate_hz), float(low), float(high)) for low, high in bands_hz]
    spectrum = np.fft.rfft(detrended * taper, axis=1)[:, : max(b.stop for b in bins)]  # the bands' bins only
    power = spectrum.real**2 + spectrum.imag**2
    scale = 2.0 / (n * float(taper @ taper))
    return np.sqrt(np.stack([scale * power[:, b].sum(axis=1) for b in bins]))


@functools.lru_cache(maxsize=8)
def _taper(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The Hann taper and the centred ramp of ``n`` samples, once per window length."""
    return scipy.signal.get_window("hann", n), np.arange(n) - (n - 1) / 2.0


@functools.lru_cache(maxsize=16)
def _bins(n: int, rate_hz: float, low: float, high: float) -> slice:
    """The real FFT's bins in ``[low, high]`` Hz (a slice: they are contiguous), once per length, rate and band."""
    freqs = np.fft.rfftfreq(n, 1.0 / rate_hz)
    idx = np.flatnonzero((freqs >= low) & (freqs <= high) & (freqs > 0) & (freqs < rate_hz / 2))
    return slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else slice(0, 0)


class BackgroundScaler:
    def __init__(
        self,
        n_channels: int,
        *,
        limit_uv: float,
        quantile: float,
        span_windows: int,
        min_windows: int,
        hold_max_windows: int = 0,
        delta_limit_uv: float = 0.0,
    ):
        if not (np.isfinite(limit_uv) and limit_uv > 0):
            raise ValueError(f"limit_uv must be a finite number > 0, got {limit_uv!r}")
        if not (np.isfinite(delta_limit_uv) and delta_limit_uv >= 0):
            raise ValueError(f"delta_limit_uv must be a finite number >= 0 (0: off), got {delta_limit_uv!r}")
        if not 0 < quantile < 1:
            raise ValueError(f"quantile must lie in (0, 1), got {quantile!r}")
        if int(hold_max_windows) != hold_max_windows or hold_max_windows < 0:
            raise ValueError(f"hold_max_windows must be an integer >= 0, got {hold_max_windows!r}")
        self.limit_uv, self.quantile = float(limit_uv), float(quantile)
        self.delta_limit_uv = float(delta_limit_uv)
        self.hold_max_windows = int(hold_max_windows)
        self.held_windows = 0  # windows of the current seizure whose level was held (reset when it ends)
        self._cap_uv: np.ndarray | None = None  # [n_channels] the level before the current seizure, while held
        self._history = ChannelHistory(n_channels, span_windows=span_windows, min_windows=min_windows)
        self._fast = functools.partial(np.quantile, q=self.quantile)
        self._masked = functools.partial(np.nanquantile, q=self.quantile)
        self.level_uv = np.full(int(n_channels), np.nan)  # per channel background level, after the last update
        self._prior_uv = np.full(int(n_channels), np.nan)  # the level before a loss, until the history is ready again
        self._factors = np.ones(int(n_channels))

    def window_level_uv(self, x: np.ndarray, rate_hz: float) -> np.ndarray:
        """One window's level ``[n_channels]`` (µV) of ``x [n_channels, n_samples]`` at ``rate_hz``, for
        :meth:`update`: its :data:`BAND_HZ` standard deviation or, with ``delta_limit_uv``, the larger of that and
        its :data:`DELTA_HZ` standard deviation times ``limit_uv / delta_limit_uv``, so that the factor is
        ``min(limit_uv / broad, delta_limit_uv / delta)`` on a steady background: one whose delta is above its own
        limit is scaled down to it even where its broad level is not (docs/background.md "A limit for delta")."""
        if not self.delta_limit_uv:
            return band_std_uv(x, rate_hz)
        broad, delta = band_stds_uv(x, rate_hz, (BAND_HZ, DELTA_HZ))
        return np.maximum(broad, delta * (self.limit_uv / self.delta_limit_uv))

    def update(self, level_uv: np.ndarray, in_seizure: bool = False) -> None:
        """Record one window's band-limited ``level_uv [n_channels]`` (NaN: the channel was not scored).
        ``in_seizure``: the bed's alarm is published after this window; while it is, no channel's level rises
        above its level before the seizure (the seizure is scaled by the background before it), for at most
        ``hold_max_windows`` windows of one seizure. The window is recorded either way."""
        self._history.push(level_uv, "level_uv")
        if not in_seizure:
            self.held_windows, self._cap_uv = 0, None
        elif self.held_windows < self.hold_max_windows:
            # level_uv is still the level before this window: each channel's level before the seizure; a channel
            # that had none (a connection's first seconds) is held from its first level within the seizure on
            held = self.level_uv
            self._cap_uv = (
                held.copy() if self._cap_uv is None else np.where(np.isfinite(self._cap_uv), self._cap_uv, held)
            )
            self.held_windows += 1
        else:  # past the bound: the level follows the history until the seizure ends
            self._cap_uv = None
        self._set_level()

    def _set_level(self) -> None:
        own = self._history.reduce(self._fast, self._masked)
        self.level_uv[:] = np.where(np.isfinite(own), own, self._prior_uv)
        if self._cap_uv is not None:  # an alarm open: no higher than before it (fmin: a channel without one is free)
            self.level_uv[:] = np.fmin(self.level_uv, self._cap_uv)
        self._set_factors()

    def set_prior(self, level_uv: np.ndarray) -> None:
        """The same patient's recording on the same device and channels just ended (offline: a file that continues
        the one before it): its last ``level_uv [n_channels]`` (NaN: none) is each channel's prior, as after
        ``reset(keep_prior=True)``, until the channel has ``min_windows`` of history here."""
        level = np.asarray(level_uv, dtype=np.float64)
        if level.shape != self._prior_uv.shape:
            raise ValueError(f"level_uv must have shape {self._prior_uv.shape}, got {level.shape}")
        self._prior_uv[:] = level
        self._set_level()

    def _set_factors(self) -> None:
        over = np.isfinite(self.level_uv) & (self.level_uv > self.limit_uv)
        self._factors[:] = 1.0
        self._factors[over] = self.limit_uv / self.level_uv[over]

    def factors(self) -> np.ndarray:
        """``[n_channels]`` factors in (0, 1] to multiply each channel's next window by (a copy)."""
        return self._factors.copy()

    def reset(self, keep_prior: bool = False) -> None:
        """Stream lost: the history starts over. ``keep_prior`` (the same device, channels and patient come back):
        each channel's current level scales its windows until it has ``min_windows`` of new history; otherwise the
        next device, electrodes or patient may differ: factors 1 until then."""
        self._prior_uv[:] = self.level_uv if keep_prior else np.nan
        self._history.reset()
        self.held_windows, self._cap_uv = 0, None
        self._set_level()
