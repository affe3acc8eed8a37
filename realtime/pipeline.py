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
   **flagged** and left out of this window (:func:`realtime.quality.channel_quality`, the rule training
   applies to its examples, so the network is not trained on windows it is never shown). With
   ``signal.montage`` other than ``"as_recorded"`` (:mod:`realtime.montage`), the usable inputs are
   then re-referenced (bipolar double banana or common average; a derivation using a flagged input is
   flagged with the input's reason) and the derivations checked the same way: from here on the scored
   channels (``ch_names``) are the derivations; ``input_names`` are the buffered inputs;
2. the remaining channels are resampled together to the model rate (:class:`Resampler`);
3. one batched ``detector.predict`` scores all of them (``step``; the daemon splits it:
   ``prepare`` gives every due window's model inputs, it scores every bed's in one call,
   :func:`predict_batched`, and ``complete`` decides on each window with its probabilities);
4. the per-channel probabilities (NaN for flagged channels) go to the :class:`DecisionMachine`.
   If every channel is flagged the window has no probability (NaN) and the decision state holds.
   Before the model, a channel whose background over minutes is larger than ``signal.background_limit_uv``
   is scaled down to it (:class:`realtime.scaling.BackgroundScaler`; ``scaled_channels``: name -> factor);
5. the scored channels' standard deviations go to the :class:`AmplitudeMonitor`, which reports a
   channel whose median over minutes is outside the range the model was trained on
   (``amplitude_flags``: probably a wrong gain or unit; the channel stays scored), and their band-limited
   ones (before scaling) to the :class:`BackgroundScaler`, for the next windows' factors.

Time: windows are timed twice. The decision runs on the sample clock (:mod:`realtime.clock`: samples
counted over the nominal rate since the first sample, plus the time lost samples or a reconnect really
took), so that ``min_duration_s``, ``settle_s`` and ``merge_gap_s`` cannot be fooled by the source's
timestamps; ``push`` checks every timestamp against it and returns what it found (a jump of the
source's clock, lost samples). Results and events report the stream's timestamps (``window_start``,
``window_end``, event times), in the clock in force at the deciding window.

Every due window still in the ring buffer is scored, oldest first, live and offline alike: when the
caller fell behind (a burst of samples, a slow tick) the backlog goes to the model in one batched call.
Only windows whose samples were overwritten are skipped (``skipped_windows_total``, the result's
``skipped_before``). Scoring only the newest window lost alarms: an onset needs ``min_duration_s`` of
consecutive windows, and a left-out window can drop an armed onset (benchmarks/soak_skipping.py, before
this change: 8 of 12 seizures alarmed with bursty chunks against 12 of 12 scoring every window).
Units are converted to µV on ``push`` (``units`` per channel of the stream, see
:mod:`realtime.preprocess`; ``None`` = already µV; an empty unit is read as µV, warned about and listed
in ``assumed_uv_channels`` and :meth:`Pipeline.channels_detail`).

Which channels are scored is decided once, in the constructor, by
:func:`realtime.channels.select_channels` from each channel's label, unit, source ``types`` (LSL
channel types) and EDF ``transducers``, and the ``include``/``exclude`` patterns or the exact
``channels``: EEG only (no ECG, EMG, EOG, DC inputs, trends, triggers...). Every channel left out is
in ``left_out_channels`` (unique name -> why; :func:`realtime.channels.describe_left_out` writes it
for logs and messages); a channel named in ``channels`` that is missing or not a voltage is an
error, as is a stream with nothing left to score.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from realtime.amplitude import AmplitudeMonitor
from realtime.channels import ChannelInfo, describe_left_out, select_channels, unique_names
from realtime.clock import ClockEvent, SampleClock, jump_tolerance_s
from realtime.config import DecisionConfig, SignalConfig, WindowConfig
from realtime.decision import DecisionEvent, DecisionMachine
from realtime.montage import Montage
from realtime.preprocess import Resampler, half_periods_for, resolve_unit
from realtime.quality import FLAT_STD_UV, MAX_STD_UV, RAIL_FRACTION, channel_quality
from realtime.ring_buffer import RingBuffer
from realtime.scaling import BackgroundScaler
from realtime.windowing import WindowScheduler

log = logging.getLogger(__name__)


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
    # unique input name -> "amplitude_low" | "amplitude_high" (still scored): the gain check judges the inputs as
    # recorded, before any montage (unique_input_names; the scored channels' own names when as recorded)
    amplitude_flags: dict[str, str] = field(default_factory=dict)
    # unique name -> factor < 1 its window was multiplied by: a background above signal.background_limit_uv
    scaled_channels: dict[str, float] = field(default_factory=dict)
    skipped_before: int = 0  # due windows skipped (live mode, or overwritten) just before this one


@dataclass(frozen=True)
class DueWindow:
    """A window due for scoring, prepared up to the model (:meth:`Pipeline.prepare`)."""

    inputs: np.ndarray  # [n_good, window_samples] µV at the model rate: the usable channels, in order
    good: np.ndarray  # [n_channels] bool: the channel is in ``inputs`` (not flagged)
    # [n_inputs] standard deviation (µV) of each input's window as recorded, for the amplitude monitor (NaN: left out
    # of the window, or no scored channel uses it)
    std: np.ndarray
    # [n_channels] 1.5-40 Hz standard deviation (µV) at the model rate before scaling, NaN where not scored or
    # the scaler is off; and the factor each scored channel was multiplied by (1: not scaled)
    level: np.ndarray
    factors: np.ndarray
    flagged: dict[str, str]  # unique name -> why left out of this window
    times: tuple[float, float, float, float]  # start, end on the sample clock; start, end in the stream's clock


def predict_batched(detector, batches: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Score every ``batches[i] [n_i, window_samples]`` in one ``detector.predict`` call (none when all are
    empty); returns ``[n_i]`` p(seizure) per batch. The daemon gathers every bed's due windows this way.
    Raises ``ValueError`` when the model returns another number of probabilities than windows given."""
    sizes = [int(b.shape[0]) for b in batches]
    total = sum(sizes)
    if total == 0:
        return [np.empty(0, dtype=np.float64) for _ in sizes]
    stacked = batches[0] if len(batches) == 1 else np.concatenate([b for b in batches if b.shape[0]], axis=0)
    out = np.asarray(detector.predict(stacked), dtype=np.float64).reshape(-1)
    if out.shape != (total,):
        raise ValueError(f"the model returned {out.shape[0]} probabilities for {total} windows")
    return list(np.split(out, np.cumsum(sizes)[:-1]))


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
        types: Sequence[str] | None = None,
        transducers: Sequence[str] | None = None,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        flat_std_uv: float = FLAT_STD_UV,
        rail_fraction: float = RAIL_FRACTION,
        max_std_uv: float = MAX_STD_UV,
        signal: SignalConfig | None = None,
        phase: float = 0.0,
        montage_asked: bool = True,  # signal.montage not the built-in default (realtime.config.montage_asked)
    ):
        all_names = [str(n) for n in ch_names]
        if not all_names:
            raise ValueError("the stream has no channels")
        for what, given in (("units", units), ("types", types), ("transducers", transducers)):
            if given is not None and len(given) != len(all_names):
                raise ValueError(f"got {len(given)} {what} for {len(all_names)} channels")
        infos = [
            ChannelInfo(
                label=name,
                unit=None if units is None else units[i],
                type=str(types[i] or "") if types is not None else "",
                transducer=str(transducers[i] or "") if transducers is not None else "",
            )
            for i, name in enumerate(all_names)
        ]
        selection = select_channels(infos, include=include, exclude=exclude, channels=channels)
        # channels left out for good, unique name -> why (label conventions, type, unit, patterns)
        self.left_out_channels: dict[str, str] = dict(selection.left_out)
        if self.left_out_channels:  # the daemon and offline scoring warn, with the stream's name
            log.info("channels left out: %s", describe_left_out(self.left_out_channels))
        scales, assumed = [], []
        for i in selection.scored:
            if units is not None and not str(units[i] or "").strip():  # no unit: read as µV, reported below
                scale, was_assumed = 1.0, True
            else:
                scale, was_assumed = (1.0, False) if units is None else resolve_unit(units[i], all_names[i])
            scales.append(scale)
            if was_assumed:
                assumed.append(all_names[i])
        self._index = np.array(selection.scored, dtype=np.intp)
        self._scale = np.array(scales, dtype=np.float64)
        self.assumed_uv_channels: list[str] = assumed  # channels whose empty unit was taken as µV
        if assumed:
            log.warning("%s", self.units_detail())
        self.n_stream_channels = len(all_names)
        self.input_names: list[str] = [all_names[i] for i in self._index]  # buffered: [n_inputs]
        sig = signal or SignalConfig()
        self.montage = Montage(self.input_names, sig.montage)
        # the inputs' names unique over the whole stream, as left_out_channels: the amplitude monitor's keys
        self.unique_input_names: list[str] = [selection.keys[i] for i in self._index]
        if self.montage.applied == "as_recorded":
            self.ch_names: list[str] = list(self.input_names)
            # keys of flagged_channels: unique over the whole stream, as left_out_channels
            self.unique_ch_names: list[str] = list(self.unique_input_names)
        else:  # scored channels are the montage's derivations
            self.ch_names = list(self.montage.names)
            self.unique_ch_names = unique_names(self.ch_names)
            used = set(self.montage.used_inputs)  # keyed by unique name: a label given twice is two inputs
            for i, name in enumerate(self.unique_input_names):
                if i not in used:
                    self.left_out_channels[name] = f"not used by the {self.montage.applied} montage"
        # a montage asked for that cannot be formed (too few electrodes, mixed references) leaves the network
        # channels unlike those it was set for, or trained on (the card's montage): said as a warning
        fell_back = self.montage.fell_back and montage_asked
        (log.warning if fell_back else log.info)("montage: %s", self.montage.describe())

        self.detector = detector
        self.sfreq = float(sfreq)
        self.window_samples = int(detector.window_samples)
        rate = float(detector.sample_rate_hz)
        self.resample_filter = sig.resample_filter
        self.resampler = Resampler(self.sfreq, rate, half_periods_for(sig.resample_filter, self.sfreq, rate))
        self.native_window_samples = self.resampler.native_samples_needed(self.window_samples)
        self.resampler.prepare(self.window_samples)
        self.hop_samples = float(window.hop_s) * self.sfreq
        capacity = math.ceil(window.buffer_s * self.sfreq)
        if capacity < self.native_window_samples + math.ceil(self.hop_samples):
            raise ValueError(
                f"window.buffer_s={window.buffer_s!r} s is too short for a "
                f"{self.native_window_samples / self.sfreq:.2f} s window plus a {window.hop_s!r} s hop"
            )
        self.window = window
        self._first, self._last = self.resampler.window_positions(self.window_samples)
        self.buffer = RingBuffer(len(self._index), capacity, dtype=np.float32)  # µV; windows are read as float64
        if not 0 <= phase < 1:
            raise ValueError(f"phase must be a fraction of the hop in [0, 1), got {phase!r}")
        # the bed's phase: its windows come due this fraction of a hop later than they would (several beds spread)
        self.scheduler = WindowScheduler(self.native_window_samples, self.hop_samples, int(phase * self.hop_samples))
        self.decision = DecisionMachine(
            decision, window.hop_s, window_s=(self._last - self._first) / self.sfreq, whole_bed=self.montage.common
        )
        self.clock = SampleClock(
            self.sfreq,
            jump_tolerance_s=jump_tolerance_s(window.hop_s),
            gap_tolerance_s=DecisionMachine.GAP_TOLERANCE_S,
        )
        self._base = 0  # samples_total when the buffer was last cleared: buffer count -> sample index
        span_windows = max(1, math.ceil(sig.amplitude_span_s / window.hop_s))
        min_windows = max(1, math.ceil(sig.amplitude_min_s / window.hop_s))
        # the gain check, on the inputs as recorded (a derivation's size is the montage's, the gain the device's);
        # inputs no scored channel uses are not judged
        self._monitored = np.zeros(len(self.input_names), dtype=bool)
        self._monitored[self.montage.used_inputs] = True
        self.amplitude = AmplitudeMonitor(
            len(self.input_names),
            low_uv=sig.amplitude_low_uv,
            high_uv=sig.amplitude_high_uv,
            span_windows=span_windows,
            min_windows=min_windows,
        )
        # None when signal.background_limit_uv is 0 (off)
        self.scaler = (
            BackgroundScaler(
                len(self.ch_names),
                limit_uv=sig.background_limit_uv,
                quantile=sig.background_quantile,
                span_windows=span_windows,
                min_windows=max(1, math.ceil(sig.background_min_s / window.hop_s)),
                hold_max_windows=math.ceil(sig.background_hold_max_s / window.hop_s),
                delta_limit_uv=sig.background_delta_limit_uv,
            )
            if sig.background_limit_uv > 0
            else None
        )
        # a loss of the same device at most this long keeps the scaler's levels as a prior (reset(keep_background))
        self.background_keep_s = float(sig.amplitude_span_s)
        self.flat_std_uv, self.rail_fraction = float(flat_std_uv), float(rail_fraction)
        self.max_std_uv = float(max_std_uv)
        # the window rule with this pipeline's limits, made once (every window of every bed goes through it)
        self._quality = functools.partial(
            channel_quality, flat_std_uv=self.flat_std_uv, rail_fraction=self.rail_fraction, max_std_uv=self.max_std_uv
        )
        self.samples_total = 0  # every sample pushed, across resets
        self.windows_total = 0  # windows scored
        self.skipped_windows_total = 0
        self.flagged_total = 0  # channel-windows left out
        self._pending_skipped = 0
        self._last_time: float | None = None
        # [n_channels] bool while an event is open: the channels that had no background level at its onset
        self._levelless_at_onset: np.ndarray | None = None

    # ------------------------------------------------------------------ properties
    @property
    def buffer_fill_ratio(self) -> float:
        return self.buffer.fill_ratio

    @property
    def alarm_active(self) -> bool:
        return self.decision.alarm_active

    @property
    def samples_until_due(self) -> int:
        """Native samples still to come before the next window is due (0: one is due now)."""
        return max(0, self.scheduler.next_end - self.buffer.total_samples)

    # ------------------------------------------------------------------ input
    def push(self, samples: np.ndarray, timestamps: np.ndarray) -> list[ClockEvent]:
        """Append ``samples [n_samples, n_stream_channels]`` (any real dtype, stream units) with
        ``timestamps [n_samples]`` (finite); returns what the sample clock found in the timestamps
        (:class:`realtime.clock.ClockEvent`: jumps, gaps, steps; usually nothing)."""
        samples = np.asarray(samples)
        timestamps = np.asarray(timestamps, dtype=np.float64)
        if samples.ndim != 2 or samples.shape[1] != self.n_stream_channels:
            raise ValueError(f"samples must have shape [n, {self.n_stream_channels}], got {samples.shape}")
        if timestamps.shape != (samples.shape[0],):
            raise ValueError(f"timestamps must have shape [{samples.shape[0]}], got {timestamps.shape}")
        if samples.shape[0] == 0:
            return []
        if not (np.issubdtype(samples.dtype, np.integer) or np.issubdtype(samples.dtype, np.floating)):
            raise ValueError(f"samples must be integers or floats, got dtype {samples.dtype}")
        events = self.clock.observe(self.samples_total, timestamps)  # raises on non-finite timestamps
        for ev in events:
            if ev.kind != "gap":  # the stream's clock moved: remembered times follow it
                self.decision.rebase(ev.offset_s)
        uv = samples[:, self._index].astype(np.float64) * self._scale
        self.buffer.append(uv, timestamps)
        self.samples_total += samples.shape[0]
        self._last_time = float(timestamps[-1])
        return events

    # ------------------------------------------------------------------ scoring
    def step(self) -> list[WindowResult]:
        """Score the windows now due, oldest first, in one batched model call:
        :meth:`prepare`, :func:`predict_batched`, :meth:`complete`."""
        due = self.prepare()
        probabilities = predict_batched(self.detector, [w.inputs for w in due])
        return [self.complete(w, p) for w, p in zip(due, probabilities, strict=True)]

    def prepare(self) -> list[DueWindow]:
        """The windows now due, oldest first, checked and resampled up to the
        model (:class:`DueWindow`); the caller scores their ``inputs`` (e.g. together with other beds',
        :func:`predict_batched`) and hands each window's probabilities to :meth:`complete`, in order,
        before the next :meth:`push`."""
        total = self.buffer.total_samples
        due = self.scheduler.due(total, oldest_available=total - self.buffer.available_samples)
        self._pending_skipped += due.skipped
        self.skipped_windows_total += due.skipped
        return [self._prepare(total - end) for end in due.ends]

    def _times(self, skip_newest: int, ts: np.ndarray) -> tuple[float, float, float, float]:
        """``(start, end)`` of the window on the sample clock (decisions), then in the stream's clock
        (messages): the stream's timestamps, interpolated, or where a clock jump lies inside the window,
        extrapolated back from the jump, so that both ends are in the clock now in force."""
        first = self._base + self.buffer.total_samples - skip_newest - self.native_window_samples
        pos_start, pos_end = first + self._first, first + self._last
        anchor = self.clock.anchor
        idx = np.arange(ts.size)
        shown = [
            anchor.time_of(pos) if anchor is not None and pos < anchor.index else float(np.interp(offset, idx, ts))
            for pos, offset in ((pos_start, self._first), (pos_end, self._last))
        ]
        return self.clock.decision_time(pos_start), self.clock.decision_time(pos_end), shown[0], shown[1]

    def _prepare(self, skip_newest: int) -> DueWindow:
        x, ts = self.buffer.latest(self.native_window_samples, skip_newest=skip_newest)
        x = x.astype(np.float64)  # stored as float32 (half the memory of a bed; 1e-7 relative)
        times = self._times(skip_newest, ts)
        reasons, std = self._quality(x)
        usable_in = np.array([r is None for r in reasons], dtype=bool)
        input_std = np.where(usable_in & self._monitored, std, np.nan)
        if self.montage.applied != "as_recorded":  # derive from the usable inputs, then check the derivations
            x = self.montage.apply(x, usable_in)
            why = self.montage.reasons_out(reasons)
            reasons, std = self._quality(x)
            reasons = [w or r for w, r in zip(why, reasons, strict=True)]
        good = np.array([r is None for r in reasons], dtype=bool)
        flagged = {self.unique_ch_names[i]: r for i, r in enumerate(reasons) if r is not None}
        level = np.full(len(self.ch_names), np.nan)
        factors = np.ones(len(self.ch_names))
        if good.any():
            inputs = self.resampler.to_model_rate(x[good], self.window_samples)
            if self.scaler is not None:
                level[good] = self.scaler.window_level_uv(inputs, self.detector.sample_rate_hz)
                factors = self.scaler.factors()
                if (factors[good] < 1).any():
                    inputs = inputs * factors[good, None].astype(inputs.dtype)
        else:
            inputs = np.empty((0, self.window_samples), dtype=np.float32)
        return DueWindow(
            inputs=inputs, good=good, std=input_std, level=level, factors=factors, flagged=flagged, times=times
        )

    def complete(self, window: DueWindow, probabilities: np.ndarray) -> WindowResult:
        """Decide on a prepared window given the model's ``probabilities [n_good]`` for its ``inputs``."""
        d_start, d_end, t_start, t_end = window.times
        good, flagged = window.good, window.flagged
        p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        if p.shape != (int(good.sum()),):
            raise ValueError(
                f"expected {int(good.sum())} probabilities for the window's usable channels, got shape {p.shape}"
            )
        probs = np.full(len(self.ch_names), np.nan)
        probs[good] = p
        if flagged:
            self.flagged_total += len(flagged)
            log.debug("window ending %.3f: channels left out %s", t_end, flagged)
        events = self.decision.step(d_end, d_start, d_end, probs, shown=(t_end, t_start, t_end))
        if events:  # rare: nothing more per window
            events = self._note_background(events, good & (window.factors < 1), window.level)
        levels = self.amplitude.update(window.std)  # left-out inputs do not count
        amplitude = {self.unique_input_names[i]: r for i, r in enumerate(levels) if r is not None}
        scaled = {}
        if self.scaler is not None:
            self.scaler.update(window.level, in_seizure=self.decision.alarm_active)
            scaled = {
                self.unique_ch_names[i]: float(window.factors[i]) for i in np.flatnonzero(good & (window.factors < 1))
            }
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
            scaled_channels=scaled,
            skipped_before=skipped,
        )

    def _note_background(
        self, events: list[DecisionEvent], scaled: np.ndarray, level: np.ndarray
    ) -> list[DecisionEvent]:
        """Mark what the scaler could not know (a connection's first seconds), given the deciding window's ``scaled
        [n_channels]`` (bool) and ``level [n_channels]`` (µV, NaN: not scored): an onset's channels whose background
        level was not known yet and whose window was above the limit (``DecisionEvent.background_unknown``: the
        network saw them unscaled at a size it is not known quiet at), and an offset's scaled channels that had no
        level when the event began (``background_learned``: their level was learned during the event, from it, so
        "over" may be the scaler's, not the signal's). The messages name them."""
        if self.scaler is None:
            return events
        out = []
        for ev in events:
            if ev.kind == "onset":
                self._levelless_at_onset = ~np.isfinite(self.scaler.level_uv)
                large = self._levelless_at_onset & (np.nan_to_num(level) > self.scaler.limit_uv)
                unknown = [i for i in ev.channels if large[i]]
                if unknown:
                    ev = dataclasses.replace(ev, background_unknown=tuple(int(i) for i in unknown))
            elif ev.kind == "offset" and self._levelless_at_onset is not None:
                learned = np.flatnonzero(self._levelless_at_onset & scaled)
                self._levelless_at_onset = None
                if learned.size:
                    ev = dataclasses.replace(ev, background_learned=tuple(int(i) for i in learned))
            out.append(ev)
        return out

    # ------------------------------------------------------------------ lifecycle
    def flush(self) -> list[DecisionEvent]:
        """End of input (offline, shutdown): publish the offset of an open seizure."""
        if not self.samples_total:
            return self.decision.flush()
        events = self.decision.flush(self.clock.decision_time(self.samples_total - 1), shown=self._last_time)
        if not events or self.scaler is None:
            return events
        return self._note_background(events, self.scaler.factors() < 1, np.full(len(self.ch_names), np.nan))

    def reset(self, keep_background: bool = False) -> None:
        """Stream lost: drop buffered samples and the window schedule; the decision machine forgets its
        smoothing and any unconfirmed onset but keeps a published seizure open (see decision.py).
        ``keep_background``: the same device comes back, or may (after an outage of at most
        ``background_keep_s``): the scaler keeps each channel's level as a prior until it has its history again
        (:meth:`realtime.scaling.BackgroundScaler.reset`); :meth:`forget_background` drops it."""
        self.buffer.clear()
        self.scheduler.reset()
        self.decision.reset()
        self.amplitude.reset()
        if self.scaler is not None:
            self.scaler.reset(keep_prior=keep_background)
        self.clock.restart()  # the next sample starts a new clock segment; the outage counts as time
        self._base = self.samples_total
        self._pending_skipped = 0

    def background_levels(self) -> np.ndarray | None:
        """Each channel's background level now (µV, ``[n_channels]``: one per :attr:`unique_ch_names`; NaN: none
        yet), for a file that continues this one (:meth:`carry_background`); None when scaling is off."""
        return None if self.scaler is None else self.scaler.level_uv.copy()

    def carry_background(self, level_uv: np.ndarray) -> None:
        """This recording continues another of the same patient and channels that just ended (offline: the next
        file): its :meth:`background_levels` scale the channels until they have their own history here."""
        if self.scaler is not None:
            self.scaler.set_prior(level_uv)

    def forget_background(self) -> None:
        """The stream came back after more than ``background_keep_s``: the level kept at the loss is not the
        background of now; the scaler waits for its own history (factors 1 until then)."""
        if self.scaler is not None:
            self.scaler.reset()

    def quality_detail(
        self, flagged: Mapping[str, str], amplitude: Mapping[str, str], scaled: Mapping[str, float] | None = None
    ) -> str:
        """The signal-quality report (:func:`realtime.messages.quality_detail`) with this pipeline's
        channel count, amplitude medians and bounds: the daemon's ``status.signal`` detail, offline's warning."""
        from realtime.messages import quality_detail

        amp = self.amplitude
        return quality_detail(
            flagged,
            amplitude,
            n_channels=len(self.ch_names),
            median_uv=dict(zip(self.unique_input_names, (float(v) for v in amp.median_uv), strict=False)),
            low_uv=amp.low_uv,
            high_uv=amp.high_uv,
            max_std_uv=self.max_std_uv,
            scaled=scaled,
            background_limit_uv=0.0 if self.scaler is None else self.scaler.limit_uv,
            background_delta_limit_uv=0.0 if self.scaler is None else self.scaler.delta_limit_uv,
        )

    def units_detail(self) -> str:
        """``no unit given for 4 of 4 scored channels, assuming microvolts (uV): C0, C1, ...; ...`` ("" when every
        scored channel has its unit)."""
        names = self.assumed_uv_channels
        if not names:
            return ""
        shown = ", ".join(names[:8]) + (f", ... ({len(names) - 8} more)" if len(names) > 8 else "")
        return (
            f"no unit given for {len(names)} of {len(self._index)} scored channels, assuming microvolts (uV): "
            f"{shown}; a device sending V, mV or nV would be misread: check its unit metadata"
        )

    def channels_detail(self) -> str:
        """``scoring 18 of 27 channels (montage: ...; bed rule: 4 of 18 channels; background scaling: above 50 uV;
        resampling filter: short, 3 periods, the window ends 12 ms before the newest sample); left out: DC1-DC (...)``,
        and which channels' units were assumed µV (:meth:`units_detail`): what the daemon's
        ``status.signal`` connected message and offline scoring's log say."""
        n = len(self.ch_names) - len(self.montage.common)  # the whole bed's channels are not among n
        rule = self.decision.config.aggregation
        k = "the highest channel" if rule == "max" else f"{self.decision.k_for(n)} of {n} channels"
        if self.montage.common:
            k += f", or {' or '.join(self.ch_names[j] for j in self.montage.common)} alone"
        scaling = "off" if self.scaler is None else f"above {self.scaler.limit_uv:g} uV"
        if self.scaler is not None and self.scaler.delta_limit_uv:
            scaling += f", delta above {self.scaler.delta_limit_uv:g} uV"
        resampling = (
            "; no resampling: the stream is at the model's rate"
            if self.resampler.half_len == 0
            else f"; resampling filter: {self.resample_filter}, {self.resampler.half_periods} periods, the window "
            f"ends {self.resampler.end_delay_s * 1000:.0f} ms before the newest sample"
        )
        text = (
            f"scoring {n} of {self.n_stream_channels} channels (montage: {self.montage.describe()}; "
            f"bed rule ({rule}): {k}; background scaling: {scaling}{resampling})"
        )
        if self.left_out_channels:
            text += f"; left out: {describe_left_out(self.left_out_channels)}"
        if self.assumed_uv_channels:
            text += f"; {self.units_detail()}"
        return text

    def reconfigure(self, decision: DecisionConfig) -> None:
        """New decision settings (SIGHUP); buffers and the open event are kept."""
        self.decision.reconfigure(decision)
