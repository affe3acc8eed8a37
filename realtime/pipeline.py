"""One tick of the detector: ring buffer -> due windows -> preprocess -> model -> decision.

A :class:`Pipeline` is stepped by hand: ``push`` chunks of samples as they arrive, then ``step``
scores the windows now due. No threads, no I/O, no clocks: the daemon calls it from its run loop with
LSL chunks, :mod:`realtime.offline` with slices of a recording, tests with synthetic arrays.

Per window (every ``window.hop_s`` seconds of signal, once a full window is buffered):

1. the newest ``native_window_samples`` of every selected channel (a view of the ring buffer; the
   window plus the resampler's filter margin) are checked: a channel with a NaN/inf sample, a
   flat line (standard deviation below ``flat_std_uv``) or a railed signal (at least
   ``rail_fraction`` of its samples sitting exactly at the window's minimum or maximum, i.e.
   clipped) or an implausible amplitude (standard deviation above ``max_std_uv``: not EEG in µV,
   e.g. a stream without unit metadata sending nV or raw counts, or an electrode off the skin) is
   **flagged** and left out of this window;
2. the remaining channels are resampled together to the model rate (:class:`Resampler`);
3. one batched ``detector.predict`` scores all of them;
4. the per-channel probabilities (NaN for flagged channels) go to the :class:`DecisionMachine`.
   If every channel is flagged the window has no probability (NaN) and the decision state holds.
5. the scored channels' standard deviations go to the :class:`AmplitudeMonitor`, which reports a
   channel whose median over minutes is outside the range the model was trained on
   (``amplitude_flags``: probably a wrong gain or unit; the channel stays scored).

``mode="live"`` scores only the newest due window when the caller fell behind (the others are
counted in ``skipped_windows_total`` and in the result's ``skipped_before``); ``mode="offline"``
scores every hop. Units are converted to µV on ``push`` (``units`` per channel of the stream, see
:mod:`realtime.preprocess`; ``None`` = already µV). With no channel selection, channels whose unit is
not a voltage (a trigger, SpO2...) are left out with a warning (``excluded_channels``); a channel
selected by name with such a unit is an error.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from realtime.amplitude import AmplitudeMonitor
from realtime.config import DecisionConfig, SignalConfig, WindowConfig
from realtime.decision import DecisionEvent, DecisionMachine
from realtime.preprocess import Resampler, UnitError, resolve_unit
from realtime.ring_buffer import RingBuffer
from realtime.windowing import WindowScheduler

log = logging.getLogger(__name__)

MODES = ("live", "offline")
FLAT_STD_UV = 0.1
RAIL_FRACTION = 0.1
# 7x the largest 4.096-s window standard deviation in the training data (705 µV, a Bonn intracranial
# seizure); scalp EEG, seizures included, stays within a few hundred µV. The network was never shown
# anything near this and would answer at random; leaving the channel out (and saying so) is safer.
MAX_STD_UV = 5000.0


@dataclass(frozen=True)
class StreamIdentity:
    name: str
    type: str
    source_id: str


@dataclass(frozen=True)
class WindowResult:
    window_start: float  # timestamp of the window's first sample (LSL clock, or seconds offline)
    window_end: float  # timestamp of its last sample
    newest_sample_time: float  # same as window_end; for end-to-end latency
    probability: float  # aggregated, smoothed bed probability (NaN: every channel flagged)
    channel_probabilities: np.ndarray  # [n_channels] raw per-channel p(seizure), NaN where flagged
    events: list[DecisionEvent]  # onsets/offsets decided at this window
    raw_probability: float = math.nan  # aggregated before smoothing
    # unique name -> "non-finite" | "flat" | "railed" | "implausible" (left out of this window)
    flagged_channels: dict[str, str] = field(default_factory=dict)
    # unique name -> "amplitude_low" | "amplitude_high" (still scored)
    amplitude_flags: dict[str, str] = field(default_factory=dict)
    skipped_before: int = 0  # due windows skipped (live mode, or overwritten) just before this one


def unique_names(names: Sequence[str]) -> list[str]:
    """Names made unique by suffixing repeats: ``["A", "B", "A"] -> ["A", "B", "A#2"]``."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


def channel_quality(
    x: np.ndarray,
    *,
    flat_std_uv: float = FLAT_STD_UV,
    rail_fraction: float = RAIL_FRACTION,
    max_std_uv: float = MAX_STD_UV,
) -> tuple[list[str | None], np.ndarray]:
    """Per row of ``x [n_channels, n_samples]`` (µV): ``None`` when usable, else why not
    (``"non-finite"``, ``"flat"``, ``"railed"``, ``"implausible"``, checked in that order); and the
    rows' standard deviations ``[n_channels]`` (µV), which the amplitude monitor reuses."""
    finite = np.isfinite(x).all(axis=1)
    with np.errstate(invalid="ignore"):
        std = x.std(axis=1)
        lo, hi = x.min(axis=1), x.max(axis=1)
        at_rails = np.count_nonzero((x == lo[:, None]) | (x == hi[:, None]), axis=1)
    reasons: list[str | None] = []
    for i in range(x.shape[0]):
        if not finite[i]:
            reasons.append("non-finite")
        elif std[i] < flat_std_uv:
            reasons.append("flat")
        elif at_rails[i] >= rail_fraction * x.shape[1]:
            reasons.append("railed")
        elif std[i] > max_std_uv:
            reasons.append("implausible")
        else:
            reasons.append(None)
    return reasons, std


class Pipeline:
    """Buffer, schedule, preprocess, score and decide for one stream (one bed)."""

    def __init__(
        self,
        detector,
        *,
        sfreq: float,
        ch_names: Sequence[str],
        units: Sequence[str] | None,
        window: WindowConfig,
        decision: DecisionConfig,
        channels: Sequence[str] = (),
        mode: str = "live",
        flat_std_uv: float = FLAT_STD_UV,
        rail_fraction: float = RAIL_FRACTION,
        max_std_uv: float = MAX_STD_UV,
        signal: SignalConfig | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        all_names = [str(n) for n in ch_names]
        if not all_names:
            raise ValueError("the stream has no channels")
        if units is not None and len(units) != len(all_names):
            raise ValueError(f"got {len(units)} units for {len(all_names)} channels")
        self.excluded_channels: dict[str, str] = {}  # channels left out for good (all-channel mode), name -> why
        if channels:
            missing = [c for c in channels if c not in all_names]
            if missing:
                raise ValueError(f"channel(s) {missing} not in the stream; it has {all_names}")
            index = [all_names.index(c) for c in channels]
        else:
            index = list(range(len(all_names)))
        scales, assumed, kept = [], [], []
        for i in index:
            try:
                scale, was_assumed = (1.0, False) if units is None else resolve_unit(units[i], all_names[i])
            except UnitError as exc:
                if channels:  # asked for by name: refusing is the only honest answer
                    raise
                self.excluded_channels[all_names[i]] = str(exc)  # e.g. a trigger or SpO2 channel
                log.warning("leaving out channel %r: %s", all_names[i], exc)
                continue
            kept.append(i)
            scales.append(scale)
            if was_assumed:
                assumed.append(all_names[i])
        if not kept:
            raise ValueError(f"no channel of the stream has a voltage unit: {self.excluded_channels}")
        self._index = np.array(kept, dtype=np.intp)
        self._scale = np.array(scales, dtype=np.float64)
        self.assumed_uv_channels: list[str] = assumed  # channels whose empty unit was taken as µV
        self.n_stream_channels = len(all_names)
        self.ch_names: list[str] = [all_names[i] for i in self._index]
        self.unique_ch_names: list[str] = unique_names(self.ch_names)  # keys of flagged_channels

        self.detector = detector
        self.mode = mode
        self.sfreq = float(sfreq)
        self.window_samples = int(detector.window_samples)
        self.resampler = Resampler(self.sfreq, float(detector.sample_rate_hz))
        self.native_window_samples = self.resampler.native_samples_needed(self.window_samples)
        self.hop_samples = float(window.hop_s) * self.sfreq
        capacity = math.ceil(window.buffer_s * self.sfreq)
        if capacity < self.native_window_samples + math.ceil(self.hop_samples):
            raise ValueError(
                f"window.buffer_s={window.buffer_s!r} s is too short for a "
                f"{self.native_window_samples / self.sfreq:.2f} s window plus a {window.hop_s!r} s hop"
            )
        self.window = window
        self._first, self._last = self.resampler.window_positions(self.window_samples)
        self.buffer = RingBuffer(len(self._index), capacity)
        self.scheduler = WindowScheduler(self.native_window_samples, self.hop_samples)
        self.decision = DecisionMachine(decision, window.hop_s)
        sig = signal or SignalConfig()
        self.amplitude = AmplitudeMonitor(
            len(self.ch_names),
            low_uv=sig.amplitude_low_uv,
            high_uv=sig.amplitude_high_uv,
            span_windows=max(1, math.ceil(sig.amplitude_span_s / window.hop_s)),
            min_windows=max(1, math.ceil(sig.amplitude_min_s / window.hop_s)),
        )
        self.flat_std_uv, self.rail_fraction = float(flat_std_uv), float(rail_fraction)
        self.max_std_uv = float(max_std_uv)
        self.samples_total = 0  # every sample pushed, across resets
        self.windows_total = 0  # windows scored
        self.skipped_windows_total = 0
        self.flagged_total = 0  # channel-windows left out
        self._pending_skipped = 0
        self._last_time: float | None = None

    # ------------------------------------------------------------------ properties
    @property
    def buffer_fill_ratio(self) -> float:
        return self.buffer.fill_ratio

    @property
    def alarm_active(self) -> bool:
        return self.decision.alarm_active

    # ------------------------------------------------------------------ input
    def push(self, samples: np.ndarray, timestamps: np.ndarray) -> None:
        """Append ``samples [n_samples, n_stream_channels]`` (any real dtype, stream units) with
        ``timestamps [n_samples]``."""
        samples = np.asarray(samples)
        timestamps = np.asarray(timestamps, dtype=np.float64)
        if samples.ndim != 2 or samples.shape[1] != self.n_stream_channels:
            raise ValueError(f"samples must have shape [n, {self.n_stream_channels}], got {samples.shape}")
        if timestamps.shape != (samples.shape[0],):
            raise ValueError(f"timestamps must have shape [{samples.shape[0]}], got {timestamps.shape}")
        if samples.shape[0] == 0:
            return
        if not (np.issubdtype(samples.dtype, np.integer) or np.issubdtype(samples.dtype, np.floating)):
            raise ValueError(f"samples must be integers or floats, got dtype {samples.dtype}")
        uv = samples[:, self._index].astype(np.float64) * self._scale
        self.buffer.append(uv, timestamps)
        self.samples_total += samples.shape[0]
        self._last_time = float(timestamps[-1])

    # ------------------------------------------------------------------ scoring
    def step(self) -> list[WindowResult]:
        """Score the windows now due, oldest first (live: the newest only)."""
        total = self.buffer.total_samples
        due = self.scheduler.due(
            total, latest_only=self.mode == "live", oldest_available=total - self.buffer.available_samples
        )
        self._pending_skipped += due.skipped
        self.skipped_windows_total += due.skipped
        results = []
        for end in due.ends:
            results.append(self._score(total - end))
        return results

    def _score(self, skip_newest: int) -> WindowResult:
        x, ts = self.buffer.latest(self.native_window_samples, skip_newest=skip_newest)
        idx = np.arange(ts.size)
        t_start = float(np.interp(self._first, idx, ts))
        t_end = float(np.interp(self._last, idx, ts))
        reasons, std = channel_quality(
            x, flat_std_uv=self.flat_std_uv, rail_fraction=self.rail_fraction, max_std_uv=self.max_std_uv
        )
        good = np.array([r is None for r in reasons])
        flagged = {self.unique_ch_names[i]: r for i, r in enumerate(reasons) if r is not None}
        probs = np.full(len(self.ch_names), np.nan)
        if good.any():
            windows = self.resampler.to_model_rate(x[good], self.window_samples)
            probs[good] = self.detector.predict(windows)
        if flagged:
            self.flagged_total += len(flagged)
            log.debug("window ending %.3f: channels left out %s", t_end, flagged)
        events = self.decision.step(t_end, t_start, t_end, probs)
        levels = self.amplitude.update(np.where(good, std, np.nan))  # left-out channels do not count
        amplitude = {self.unique_ch_names[i]: r for i, r in enumerate(levels) if r is not None}
        self.windows_total += 1
        skipped, self._pending_skipped = self._pending_skipped, 0
        return WindowResult(
            window_start=t_start,
            window_end=t_end,
            newest_sample_time=t_end,
            probability=self.decision.last_probability,
            channel_probabilities=probs,
            events=events,
            raw_probability=self.decision.last_raw_probability,
            flagged_channels=flagged,
            amplitude_flags=amplitude,
            skipped_before=skipped,
        )

    # ------------------------------------------------------------------ lifecycle
    def flush(self) -> list[DecisionEvent]:
        """End of input (offline, shutdown): publish the offset of an open seizure."""
        return self.decision.flush(self._last_time)

    def reset(self) -> None:
        """Stream lost: drop buffered samples and the window schedule; the decision machine forgets its
        smoothing and any unconfirmed onset but keeps a published seizure open (see decision.py)."""
        self.buffer.clear()
        self.scheduler.reset()
        self.decision.reset()
        self.amplitude.reset()
        self._pending_skipped = 0

    def quality_detail(self, flagged: Mapping[str, str], amplitude: Mapping[str, str]) -> str:
        """The signal-quality report (:func:`realtime.messages.quality_detail`) with this pipeline's
        channel count, amplitude medians and bounds: the daemon's ``status.signal`` detail, offline's warning."""
        from realtime.messages import quality_detail

        amp = self.amplitude
        return quality_detail(
            flagged,
            amplitude,
            n_channels=len(self.ch_names),
            median_uv=dict(zip(self.unique_ch_names, (float(v) for v in amp.median_uv), strict=False)),
            low_uv=amp.low_uv,
            high_uv=amp.high_uv,
            max_std_uv=self.max_std_uv,
        )

    def reconfigure(self, decision: DecisionConfig) -> None:
        """New decision settings (SIGHUP); buffers and the open event are kept."""
        self.decision.reconfigure(decision)
