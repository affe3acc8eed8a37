"""Channel aggregation and the per-bed seizure onset/offset state machine. Pure: no I/O.

Aggregation (:func:`aggregate`) turns per-channel probabilities into the bed's probability:
``"max"`` takes the highest channel, ``"k_of_n"`` the k-th highest (so k channels must agree; with
fewer than k usable channels, the lowest of them), ``"binomial"`` the k(n)-th highest, where k(n)
grows with the number n of usable channels (the bed rule below). NaN entries are channels excluded
from the window (flagged by the pipeline) and are ignored; with no usable channel there is no
probability (NaN).

Bed rule (``"binomial"``). With a fixed k the bed's false-alarm rate grows with the channel count: if
each channel of non-seizure EEG reaches ``on_threshold`` in a window with probability
p0 = ``channel_false_rate``, "2 of n" fires with probability P[Binomial(n, p0) >= 2], about
(n p0)^2 / 2: 2 of 64 fires about ten times as often as 2 of 18. The binomial rule takes the least
k(n) >= ``k_channels`` with P[Binomial(n, p0) >= k(n)] <= alpha = ``bed_false_rate`` (capped at n;
with n < ``k_channels``, all n channels), so that the bed's rate per window stays at or below alpha
whatever n is (:meth:`DecisionMachine.k_for` says which k: "bed rule: 4 of 19 channels").

- With ``channel_correlation`` rho = 0 it assumes independent channels, the case it bounds exactly. Real
  channels err together (a shared reference, volume conduction): with rho > 0 the count of channels at
  ``on_threshold`` is taken as BetaBinomial(n, mean p0, intra-window correlation rho), the binomial's
  extension for correlated trials, whose tail is fatter, so k(n) grows faster with n (rho measured on real
  EEG: docs/background.md "A bed rule for channels that err together").
- Correlated artefacts (an eye movement seen on every frontal channel) are the opposite extreme:
  channels that always fire together fire at the single-channel rate p0 whatever k is, so no choice
  of k helps or hurts there; that rate does not grow with n either.
- Whatever the dependence, k(n) >= ``k_channels``, and "at least k(n) channels" implies "at least
  ``k_channels`` channels": the rule never fires in a window where ``k_of_n`` with ``k_channels``
  would not. It is never noisier than today's rule, and at most alpha per window for independent
  channels.
- The floor: n channels cannot do better than all n firing at once, p0^n; with 2 channels that is
  p0^2 (1e-4 for p0 = 0.01), whatever alpha asks.
- k(n) channels start an event; once published, an event is held by ``k_channels`` channels: it
  ends when the ``k_channels``-th highest channel (smoothed) falls below ``off_threshold``, and merges
  back on it (hysteresis in the spatial extent as well as in the threshold). A seizure whose spread
  fluctuates around k(n) channels is one event, not several (on the CHB-MIT excerpt and on background
  at 4x its amplitude, holding by k(n) split events and raised more onsets than "2 of n").
  ``last_probability`` is the aggregate the state compares: the onset one while idle or pending, the
  hold one while an event is open.

The whole bed's channels (``whole_bed``: the means of ``signal.montage = "average_common"`` or
``"average_hemispheres"``, :mod:`realtime.montage`). A channel may stand for many electrodes at once: the mean of the
scalp electrodes (or of one hemisphere's), which carries a seizure common to them at nearly its size where each
average-referenced channel keeps only the electrode's difference from the mean. They are left out of the bed rule (n
and k count the other channels), and the bed's probability, onset and hold alike, is the largest of the rule's and
theirs: each counts as the whole bed, not as one more of n.

Settling. On real recordings the first windows of a stream, of a file, after a reconnect and after
a gap in the signal raise false alarms (filters and amplifiers settle, electrodes are still moving, a
window holds the step across the gap). For ``settle_s`` seconds of signal after each of these points
no onset may arm (``idle`` -> ``pending``): measured from the ``window_start`` of the first scored
window after the point (for a window across a gap, from ``window_end - window_s``, where the signal
after the gap begins: the gap itself is not signal) to the ``window_end`` of the window that arms.
Windows are still scored and their probabilities reported; an event already published stays open
and can still end or merge. A gap: a window whose span ``window_end - window_start`` exceeds the
nominal span ``window_s`` by more than :attr:`DecisionMachine.GAP_TOLERANCE_S`; it also drops an
unconfirmed onset (its ``min_duration_s`` would count signal that is not there). Without ``window_s``
(windows of varying length) gaps are not looked for. ``settle_s = 0`` turns all of this off.

Two clocks. ``step`` takes the window's ``time``, ``window_start`` and ``window_end`` on the clock the
decision runs on (the pipeline's sample clock, :mod:`realtime.clock`: durations the source's timestamps
cannot fool) and, in ``shown``, the same moments in the stream's clock, which the events report.
``duration_s`` is measured on the first; after a jump of the stream's clock :meth:`DecisionMachine.rebase`
moves the remembered stream times, so an event's times are all in the clock in force when it is
published. Durations are compared with :data:`EPSILON_S` of slack.

The state machine (:class:`DecisionMachine`), one per bed, stepped once per scored window:

1. smoothing: a moving average of the last ``smoothing_windows`` aggregated probabilities
   (fewer at the start or after :meth:`DecisionMachine.reset`);
2. ``idle`` -> ``pending`` when the smoothed probability reaches ``on_threshold`` and the machine is
   not settling; the crossing time is remembered. ``pending`` -> ``idle`` if it drops below
   ``on_threshold`` again before ``min_duration_s`` has passed;
3. ``pending`` -> ``active`` once ``time - crossing_time >= min_duration_s``: an **onset** event is
   published, with ``time`` = the crossing time and ``publish_time`` = now;
4. ``active`` -> ``ending`` when the smoothed probability falls below ``off_threshold``
   (hysteresis: between the thresholds nothing changes). The offset time is remembered, not
   published yet;
5. ``ending`` -> ``active`` if the smoothed probability reaches ``on_threshold`` again within
   ``merge_gap_s``: the same event continues (no new onset, the offset is withdrawn);
   ``ending`` -> ``idle`` once ``merge_gap_s`` has passed: the **offset** is published with
   ``time`` = the moment it fell below ``off_threshold``. Offsets are therefore published
   ``merge_gap_s`` late, which is what makes every event a clean onset ... offset pair;
6. an event ``active`` (not ``ending``) ``prolonged_s`` after its onset publishes one **prolonged** event
   (``time`` = now, ``onset_time``, ``duration_s``): a seizure that goes on, status epilepticus at the default 5 min,
   for a station to escalate on. Once per event; 0 turns it off.

A window with no probability (every channel flagged) leaves the state and the smoothing untouched,
and does not start the settling (it shows nothing of the signal). :meth:`DecisionMachine.flush` (end
of input) publishes the offset of an open event; an unconfirmed ``pending`` onset is dropped, and the
next input settles anew. :meth:`DecisionMachine.reset` (stream lost) clears the smoothing history
and any unconfirmed onset but keeps a published event open: its offset is published only when the
signal shows it (or at flush), never invented.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import betabinom, binom

from realtime.config import AGGREGATIONS, DecisionConfig

# Durations are compared with this much slack: a window's times are sums of sample counts over a rate, and
# 1.9999999999999998 s of signal is 2 s of signal.
EPSILON_S = 1e-9
# durations are reported to the nanosecond: the same seizure timed through the sample clock and through the
# stream's interpolated timestamps (a replay of recorded scores) differs in the last bit only (16.000000000000004)
DURATION_DECIMALS = 9


def _duration(end: float, start: float) -> float:
    """``end - start`` seconds, rounded to :data:`DURATION_DECIMALS` decimals."""
    return round(end - start, DURATION_DECIMALS)


@dataclass(frozen=True)
class DecisionEvent:
    kind: str  # "onset" | "prolonged" | "offset"
    event_id: int
    # onset: smoothed probability first reached on_threshold; offset: first fell below off_threshold; prolonged: now
    time: float
    probability: float  # smoothed bed probability at the deciding window
    channels: tuple[int, ...]  # onset, prolonged: channels at/above on_threshold (else those carrying the aggregate)
    onset_time: float | None  # prolonged, offset: the event's onset time
    duration_s: float | None  # prolonged, offset: time - onset_time
    window_start: float  # the deciding window (the one whose score published this event)
    window_end: float
    publish_time: float  # window end time at which the event was decided (>= time)
    # offset: channels scaled by a background level first learned while the event was open (set by the pipeline,
    # which owns the scaler): a seizure under way at connection may have been taken for the background and go on
    background_learned: tuple[int, ...] = ()
    # onset: its channels whose background level was not yet known and whose window was above the scaler's limit
    # (set by the pipeline): scored unscaled at a size the network is not known quiet at (a connection's first seconds)
    background_unknown: tuple[int, ...] = ()


def _check_rates(channel_false_rate: float, bed_false_rate: float, channel_correlation: float = 0.0) -> None:
    if not 0 < channel_false_rate < 1 or not 0 < bed_false_rate < 1:
        raise ValueError(
            f"channel_false_rate and bed_false_rate must be in (0, 1), got {channel_false_rate!r}, {bed_false_rate!r}"
        )
    if not 0 <= channel_correlation < 1:
        raise ValueError(f"channel_correlation must be in [0, 1), got {channel_correlation!r}")


def channels_at_or_above(
    k: np.ndarray | int, n: int, channel_false_rate: float, channel_correlation: float = 0.0
) -> np.ndarray:
    """P[K >= k] for the count K of ``n`` non-seizure channels at or above ``on_threshold`` in a window, each with
    probability ``channel_false_rate``: Binomial(n, p) for ``channel_correlation`` 0, else BetaBinomial(n, a, b)
    with mean p and pairwise correlation rho = 1 / (a + b + 1). ``k`` and the result: arrays of one shape."""
    ks = np.asarray(k) - 1  # sf(k - 1) = P[K >= k]
    p, rho = float(channel_false_rate), float(channel_correlation)
    if rho == 0:
        return np.asarray(binom.sf(ks, int(n), p))
    size = 1.0 / rho - 1.0
    return np.asarray(betabinom.sf(ks, int(n), p * size, (1.0 - p) * size))


@functools.lru_cache(maxsize=4096)
def binomial_k(
    n: int, k_min: int, channel_false_rate: float, bed_false_rate: float, channel_correlation: float = 0.0
) -> int:
    """The bed rule's k for ``n`` usable channels: the least k >= ``k_min`` with P[K >= k] <= ``bed_false_rate``
    (:func:`channels_at_or_above`: Binomial, or BetaBinomial with ``channel_correlation`` > 0), capped at ``n``
    (with n < k_min: n)."""
    if int(n) < 1 or int(k_min) < 1:
        raise ValueError(f"n and k_min must be >= 1, got {n!r}, {k_min!r}")
    _check_rates(channel_false_rate, bed_false_rate, channel_correlation)
    ks = np.arange(min(int(k_min), int(n)), int(n) + 1)
    ok = channels_at_or_above(ks, int(n), channel_false_rate, channel_correlation) <= bed_false_rate
    return int(ks[ok][0]) if ok.any() else int(n)


def aggregate(
    channel_probs: np.ndarray,
    method: str = "max",
    k: int = 1,
    *,
    channel_false_rate: float | None = None,
    bed_false_rate: float | None = None,
    channel_correlation: float = 0.0,
) -> tuple[float, tuple[int, ...]]:
    """``channel_probs [n_channels]`` -> ``(p, channels)``; NaN entries are excluded channels.

    ``channels`` are the indices carrying the aggregate, highest probability first: the argmax for
    ``"max"``, the top ``min(k, n_usable)`` for ``"k_of_n"``, the top ``binomial_k(n_usable, k,
    channel_false_rate, bed_false_rate, channel_correlation)`` for ``"binomial"`` (both rates required). No
    usable channel: ``(nan, ())``.
    """
    probs = np.asarray(channel_probs, dtype=np.float64)
    if probs.ndim != 1:
        raise ValueError(f"channel_probs must be 1-D [n_channels], got shape {probs.shape}")
    if method not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {method!r}")
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    if method == "binomial":
        if channel_false_rate is None or bed_false_rate is None:
            raise ValueError(
                f"binomial needs channel_false_rate and bed_false_rate, got {channel_false_rate!r}, {bed_false_rate!r}"
            )
        _check_rates(channel_false_rate, bed_false_rate, channel_correlation)
    usable = np.flatnonzero(np.isfinite(probs))
    if usable.size == 0:
        return math.nan, ()
    order = usable[np.argsort(-probs[usable], kind="stable")]
    if method == "max":
        take = 1
    elif method == "k_of_n":
        take = min(int(k), order.size)
    else:
        take = binomial_k(
            order.size,
            int(k),
            float(channel_false_rate),  # type: ignore[arg-type]
            float(bed_false_rate),  # type: ignore[arg-type]
            float(channel_correlation),
        )
    top = order[:take]
    return float(probs[top[-1]]), tuple(int(i) for i in top)


class DecisionMachine:
    """Per-bed onset/offset state machine (see the module docstring).

    ``window_s``: the nominal span ``window_end - window_start`` of a window (the native window
    duration); ``None`` (windows of varying length) looks for no gaps. ``whole_bed``: the indices of the channels that
    count as the whole bed (module docstring; empty: none).
    """

    # A window longer than window_s by more than this holds a gap. The inlet dejitters LSL timestamps,
    # so a window's span is off only by the amplifier's clock-rate error (1 % of a 4.1 s window: 41 ms)
    # and a residual jitter of milliseconds; 0.25 s leaves room for rate errors of 5 % and still
    # catches the loss of a quarter second, a step the network sees.
    GAP_TOLERANCE_S = 0.25

    def __init__(
        self,
        config: DecisionConfig,
        hop_s: float,
        first_event_id: int = 1,
        *,
        window_s: float | None = None,
        whole_bed: Sequence[int] = (),
    ):
        self._check(config)
        if isinstance(whole_bed, int | str) or any(int(i) < 0 for i in whole_bed):
            raise ValueError(f"whole_bed must be a sequence of channel indices >= 0, got {whole_bed!r}")
        self.whole_bed = tuple(int(i) for i in whole_bed)
        if not hop_s > 0:
            raise ValueError(f"hop_s must be > 0, got {hop_s!r}")
        if window_s is not None and not window_s > 0:
            raise ValueError(f"window_s must be > 0 or None, got {window_s!r}")
        self.config = config
        self.hop_s = float(hop_s)
        self.window_s = None if window_s is None else float(window_s)
        self._settle_from: float | None = None  # signal time settling counts from; None: no scored window yet
        self._last_end: float | None = None  # window_end of the last window stepped
        self.gaps_total = 0  # windows seen to hold a gap
        self._next_event_id = int(first_event_id)
        self._history: deque[float] = deque(maxlen=config.smoothing_windows)  # the onset aggregate
        self._hold_history: deque[float] = deque(maxlen=config.smoothing_windows)  # the hold aggregate
        self.state = "idle"  # idle | pending | active | ending
        self._cross_time: float | None = None  # sample clock
        self._cross_shown = 0.0  # the same moment in the stream's clock (what messages report)
        self._onset_time: float | None = None
        self._onset_shown = 0.0
        self._event_id: int | None = None
        self._prolonged = False  # the open event's seizure.prolonged was published
        # time (sample clock), p, then window_start, window_end, time in the stream's clock
        self._ending: tuple[float, float, float, float, float] | None = None
        self.last_raw_probability = math.nan  # aggregated, before smoothing
        self.last_probability = math.nan  # smoothed
        self.last_channels: tuple[int, ...] = ()
        self._last_time: float | None = None
        self._last_shown: float | None = None
        self._last_window: tuple[float, float] | None = None  # in the stream's clock

    @staticmethod
    def _check(cfg: DecisionConfig) -> None:
        if cfg.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {cfg.aggregation!r}")
        _check_rates(cfg.channel_false_rate, cfg.bed_false_rate, cfg.channel_correlation)
        if not cfg.settle_s >= 0:
            raise ValueError(f"settle_s must be >= 0, got {cfg.settle_s!r}")
        if cfg.smoothing_windows < 1 or cfg.k_channels < 1:
            raise ValueError(
                f"smoothing_windows and k_channels must be >= 1, got {cfg.smoothing_windows!r}, {cfg.k_channels!r}"
            )
        if not 0 <= cfg.off_threshold <= cfg.on_threshold <= 1:
            raise ValueError(
                f"need 0 <= off_threshold <= on_threshold <= 1, got off={cfg.off_threshold!r} on={cfg.on_threshold!r}"
            )

    @property
    def alarm_active(self) -> bool:
        """True from a published onset until its offset is published: while it is, the background scaler's levels may
        not rise (:class:`realtime.scaling.BackgroundScaler`; a crossing not yet published is not held)."""
        return self.state in ("active", "ending")

    @property
    def open_event_id(self) -> int | None:
        return self._event_id if self.alarm_active else None

    def continue_event_ids(self, after: int) -> None:
        """The next onset gets an ``event_id`` above ``after`` (ids used before: the alert log, an earlier pipeline)."""
        self._next_event_id = max(self._next_event_id, int(after) + 1)

    @property
    def settling(self) -> bool:
        """True while no onset can arm: less than ``settle_s`` of signal since the start, a reset or a gap,
        as of the last window stepped."""
        if self.config.settle_s <= 0:
            return False
        if self._settle_from is None or self._last_end is None:
            return True
        return self._last_end - self._settle_from < self.config.settle_s - EPSILON_S

    def k_for(self, n: int) -> int:
        """The bed rule for ``n`` usable channels (>= 1): the k whose k-th highest channel probability is the
        bed's, i.e. how many channels must reach ``on_threshold`` together ("bed rule: 4 of 19 channels")."""
        if int(n) < 1:
            raise ValueError(f"n must be >= 1, got {n!r}")
        cfg = self.config
        if cfg.aggregation == "max":
            return 1
        if cfg.aggregation == "k_of_n":
            return min(cfg.k_channels, int(n))
        return binomial_k(int(n), cfg.k_channels, cfg.channel_false_rate, cfg.bed_false_rate, cfg.channel_correlation)

    def _settle(self, window_start: float, window_end: float, scored: bool) -> None:
        """Track settling for one window: a gap starts it anew (and drops an unconfirmed onset)."""
        if self.config.settle_s <= 0:
            return
        if self.window_s is not None and window_end - window_start > self.window_s + self.GAP_TOLERANCE_S:
            self.gaps_total += 1
            self._settle_from = None
            if self.state == "pending":
                self.state, self._cross_time = "idle", None
        if scored and self._settle_from is None:  # after a gap the signal begins window_s before the end
            nominal_start = window_end - self.window_s if self.window_s is not None else window_start
            self._settle_from = max(window_start, nominal_start)

    def step(
        self,
        time: float,
        window_start: float,
        window_end: float,
        channel_probs: np.ndarray,
        *,
        shown: tuple[float, float, float] | None = None,
    ) -> list[DecisionEvent]:
        """Feed one scored window (``channel_probs [n_channels]``, NaN = excluded); returns events.

        ``time``, ``window_start`` and ``window_end`` time the decision (the pipeline's sample clock);
        ``shown`` is the same ``(time, window_start, window_end)`` in the stream's clock, which the
        events report (default: the same values). ``duration_s`` is always measured on the first.
        """
        cfg = self.config
        shown_t, shown_ws, shown_we = (
            (float(time), float(window_start), float(window_end)) if shown is None else map(float, shown)
        )
        probs = np.asarray(channel_probs, dtype=np.float64)
        rule_probs, whole, top_whole, wb = probs, math.nan, -1, self.whole_bed
        if wb:
            if outside := [i for i in wb if not i < probs.size]:
                raise ValueError(f"whole_bed {outside} is not among the window's {probs.size} channels")
            rule_probs = probs.copy()
            rule_probs[list(wb)] = math.nan  # not among the bed rule's n
            theirs = probs[list(wb)]
            if np.isfinite(theirs).any():
                top_whole = wb[int(np.nanargmax(theirs))]
                whole = float(probs[top_whole])
        raw, top = aggregate(
            rule_probs,
            cfg.aggregation,
            cfg.k_channels,
            channel_false_rate=cfg.channel_false_rate,
            bed_false_rate=cfg.bed_false_rate,
            channel_correlation=cfg.channel_correlation,
        )
        # the rule's hold (below): an event, once published, is held by k_channels channels
        hold = raw if cfg.aggregation != "binomial" or not top else float(probs[top[min(cfg.k_channels, len(top)) - 1]])
        if math.isfinite(whole):  # the whole bed's channels: the bed is at least as high as the highest of them
            raw = whole if math.isnan(raw) else max(raw, whole)
            hold = whole if math.isnan(hold) else max(hold, whole)
            top = top if top and probs[top[0]] >= whole else (top_whole, *top)
        self.last_raw_probability = raw
        self._last_time = float(time)
        self._last_shown = shown_t
        self._last_window = (shown_ws, shown_we)
        self._last_end = float(window_end)
        self._settle(float(window_start), float(window_end), scored=not math.isnan(raw))
        if math.isnan(raw):
            self.last_channels = ()
            self.last_probability = math.nan
            return []
        # An event, once published, is held by k_channels channels (the "hold" aggregate, above), even where the
        # binomial rule asks more channels to start one: a seizure whose spread fluctuates stays one event.
        self._history.append(raw)
        self._hold_history.append(hold)
        p_on, p_hold = float(np.mean(self._history)), float(np.mean(self._hold_history))
        p = p_hold if self.state in ("active", "ending") else p_on  # what this window's state compares
        above = [
            i
            for i in np.argsort(-np.nan_to_num(probs, nan=-1.0), kind="stable")
            if np.isfinite(probs[i]) and probs[i] >= cfg.on_threshold
        ]
        self.last_channels = tuple(int(i) for i in above) or top
        self.last_probability = p
        events: list[DecisionEvent] = []
        window = (float(time), p, shown_t, shown_ws, shown_we)

        if self.state == "ending":
            off_time, off_p, off_ws, off_we, off_shown = self._ending  # type: ignore[misc]
            if p >= cfg.on_threshold:
                self.state, self._ending = "active", None  # merged: the event continues
                return self._prolong(events, *window)
            if time - off_time >= cfg.merge_gap_s - EPSILON_S:
                events.append(self._offset(off_time, off_shown, off_p, off_ws, off_we, publish_time=shown_t))
                p = self.last_probability = p_on  # the same window may arm a new onset below
        if self.state == "active":
            if p < cfg.off_threshold:
                self._ending = (float(time), p, shown_ws, shown_we, shown_t)
                self.state = "ending"
                if cfg.merge_gap_s <= 0:
                    events.append(self._offset(float(time), shown_t, p, shown_ws, shown_we, publish_time=shown_t))
            return self._prolong(events, *window)
        if self.state == "idle" and p >= cfg.on_threshold and not self.settling:
            self.state, self._cross_time, self._cross_shown = "pending", float(time), shown_t
        elif self.state == "pending" and p < cfg.on_threshold:
            self.state, self._cross_time = "idle", None
        if self.state == "pending" and time - self._cross_time >= cfg.min_duration_s - EPSILON_S:  # type: ignore[operator]
            self._event_id = self._next_event_id
            self._next_event_id += 1
            self._onset_time, self._onset_shown = self._cross_time, self._cross_shown
            self.state, self._cross_time, self._prolonged = "active", None, False
            events.append(
                DecisionEvent(
                    kind="onset",
                    event_id=self._event_id,
                    time=self._onset_shown,
                    probability=p,
                    channels=self.last_channels,
                    onset_time=None,
                    duration_s=None,
                    window_start=shown_ws,
                    window_end=shown_we,
                    publish_time=shown_t,
                )
            )
        return self._prolong(events, *window)

    def _prolong(
        self, events: list[DecisionEvent], time: float, p: float, shown_t: float, ws: float, we: float
    ) -> list[DecisionEvent]:
        """``events`` and, when the event is active (not ending: the signal that fell may be its end) and has been
        open ``prolonged_s`` since its onset, its one ``prolonged`` event: a station escalates (status epilepticus)."""
        cfg = self.config
        if (
            self.state == "active"
            and cfg.prolonged_s > 0
            and not self._prolonged
            and time - self._onset_time >= cfg.prolonged_s - EPSILON_S  # type: ignore[operator]
        ):
            self._prolonged = True
            events.append(
                DecisionEvent(
                    kind="prolonged",
                    event_id=self._event_id,  # type: ignore[arg-type]
                    time=shown_t,
                    probability=p,
                    channels=self.last_channels,
                    onset_time=self._onset_shown,
                    duration_s=_duration(time, self._onset_time),  # type: ignore[arg-type]
                    window_start=ws,
                    window_end=we,
                    publish_time=shown_t,
                )
            )
        return events

    def _offset(
        self, off_time: float, off_shown: float, p: float, ws: float, we: float, *, publish_time: float
    ) -> DecisionEvent:
        ev = DecisionEvent(
            kind="offset",
            event_id=self._event_id,  # type: ignore[arg-type]
            time=off_shown,
            probability=p,
            channels=(),
            onset_time=self._onset_shown,
            duration_s=_duration(off_time, self._onset_time),  # type: ignore[arg-type]
            window_start=ws,
            window_end=we,
            publish_time=float(publish_time),
        )
        self.state, self._ending, self._onset_time = "idle", None, None
        return ev

    def flush(self, time: float | None = None, *, shown: float | None = None) -> list[DecisionEvent]:
        """End of input: publish the offset of an open event (at ``time``, default the last window's
        time, or the pending offset's own time; ``shown``: the same in the stream's clock); drop an
        unconfirmed onset."""
        t = float(time) if time is not None else self._last_time
        t_shown = self._last_shown if time is None else float(time if shown is None else shown)
        events: list[DecisionEvent] = []
        if self.state == "ending":
            off_time, off_p, ws, we, off_shown = self._ending  # type: ignore[misc]
            events.append(
                self._offset(
                    off_time, off_shown, off_p, ws, we, publish_time=t_shown if t_shown is not None else off_shown
                )
            )
        elif self.state == "active":
            if t is None:
                t, t_shown = self._onset_time, self._onset_shown
            ws, we = self._last_window if self._last_window is not None else (t_shown, t_shown)
            events.append(self._offset(t, t_shown, self.last_probability, ws, we, publish_time=t_shown))  # type: ignore[arg-type]
        self.state, self._cross_time = "idle", None
        self._history.clear()
        self._hold_history.clear()
        self._settle_from = self._last_end = None  # the next input settles anew
        return events

    def rebase(self, offset_s: float) -> None:
        """The stream's clock jumped by ``offset_s``: the remembered stream times (crossing, onset, a
        pending offset, the last window) move with it, so that later events report every time in the
        clock now in force. The sample clock, and with it every decision, is untouched."""
        d = float(offset_s)
        self._cross_shown += d
        self._onset_shown += d
        if self._ending is not None:
            off_time, off_p, ws, we, off_shown = self._ending
            self._ending = (off_time, off_p, ws + d, we + d, off_shown + d)
        if self._last_shown is not None:
            self._last_shown += d
        if self._last_window is not None:
            self._last_window = (self._last_window[0] + d, self._last_window[1] + d)

    def reset(self) -> None:
        """Stream lost: forget the smoothing history and an unconfirmed onset; keep a published event open.
        The signal that comes back settles anew."""
        self._history.clear()
        self._hold_history.clear()
        self._settle_from = self._last_end = None
        if self.state == "pending":
            self.state, self._cross_time = "idle", None
        self.last_probability = self.last_raw_probability = math.nan
        self.last_channels = ()

    def reconfigure(self, config: DecisionConfig) -> None:
        """New thresholds from the next window on; the smoothing history keeps its newest entries."""
        self._check(config)
        self.config = config
        self._history = deque(self._history, maxlen=config.smoothing_windows)
        self._hold_history = deque(self._hold_history, maxlen=config.smoothing_windows)
