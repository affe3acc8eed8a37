"""Channel aggregation and the per-bed seizure onset/offset state machine. Pure: no I/O.

Aggregation (:func:`aggregate`) turns per-channel probabilities into the bed's probability:
``"max"`` takes the highest channel, ``"k_of_n"`` the k-th highest (so k channels must agree; with
fewer than k usable channels, the lowest of them). NaN entries are channels excluded from the window
(flagged by the pipeline) and are ignored; with no usable channel there is no probability (NaN).

The state machine (:class:`DecisionMachine`), one per bed, stepped once per scored window:

1. smoothing: a moving average of the last ``smoothing_windows`` aggregated probabilities
   (fewer at the start or after :meth:`DecisionMachine.reset`);
2. ``idle`` -> ``pending`` when the smoothed probability reaches ``on_threshold``; the crossing time
   is remembered. ``pending`` -> ``idle`` if it drops below ``on_threshold`` again before
   ``min_duration_s`` has passed;
3. ``pending`` -> ``active`` once ``time - crossing_time >= min_duration_s``: an **onset** event is
   published, with ``time`` = the crossing time and ``publish_time`` = now;
4. ``active`` -> ``ending`` when the smoothed probability falls below ``off_threshold``
   (hysteresis: between the thresholds nothing changes). The offset time is remembered, not
   published yet;
5. ``ending`` -> ``active`` if the smoothed probability reaches ``on_threshold`` again within
   ``merge_gap_s``: the same event continues (no new onset, the offset is withdrawn);
   ``ending`` -> ``idle`` once ``merge_gap_s`` has passed: the **offset** is published with
   ``time`` = the moment it fell below ``off_threshold``. Offsets are therefore published
   ``merge_gap_s`` late, which is what makes every event a clean onset ... offset pair.

A window with no probability (every channel flagged) leaves the state and the smoothing untouched.
:meth:`DecisionMachine.flush` (end of input) publishes the offset of an open event; an unconfirmed
``pending`` onset is dropped. :meth:`DecisionMachine.reset` (stream lost) clears the smoothing
history and any unconfirmed onset but keeps a published event open: its offset is published only when
the signal shows it (or at flush), never invented.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from realtime.config import DecisionConfig

AGGREGATIONS = ("max", "k_of_n")


@dataclass(frozen=True)
class DecisionEvent:
    kind: str  # "onset" | "offset"
    event_id: int
    time: float  # onset: smoothed probability first reached on_threshold; offset: first fell below off_threshold
    probability: float  # smoothed bed probability at the deciding window
    channels: tuple[int, ...]  # onset: indices of channels at/above on_threshold (else those carrying the aggregate)
    onset_time: float | None  # offset only: the event's onset time
    duration_s: float | None  # offset only: time - onset_time
    window_start: float  # the deciding window (the one whose score published this event)
    window_end: float
    publish_time: float  # window end time at which the event was decided (>= time)


def aggregate(channel_probs: np.ndarray, method: str = "max", k: int = 1) -> tuple[float, tuple[int, ...]]:
    """``channel_probs [n_channels]`` -> ``(p, channels)``; NaN entries are excluded channels.

    ``channels`` are the indices carrying the aggregate, highest probability first: the argmax for
    ``"max"``, the top ``min(k, n_usable)`` for ``"k_of_n"``. No usable channel: ``(nan, ())``.
    """
    probs = np.asarray(channel_probs, dtype=np.float64)
    if probs.ndim != 1:
        raise ValueError(f"channel_probs must be 1-D [n_channels], got shape {probs.shape}")
    if method not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {method!r}")
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    usable = np.flatnonzero(np.isfinite(probs))
    if usable.size == 0:
        return math.nan, ()
    order = usable[np.argsort(-probs[usable], kind="stable")]
    take = 1 if method == "max" else min(int(k), order.size)
    top = order[:take]
    return float(probs[top[-1]]), tuple(int(i) for i in top)


class DecisionMachine:
    """Per-bed onset/offset state machine (see the module docstring)."""

    def __init__(self, config: DecisionConfig, hop_s: float, first_event_id: int = 1):
        self._check(config)
        if not hop_s > 0:
            raise ValueError(f"hop_s must be > 0, got {hop_s!r}")
        self.config = config
        self.hop_s = float(hop_s)
        self._next_event_id = int(first_event_id)
        self._history: deque[float] = deque(maxlen=config.smoothing_windows)
        self.state = "idle"  # idle | pending | active | ending
        self._cross_time: float | None = None
        self._onset_time: float | None = None
        self._event_id: int | None = None
        self._ending: tuple[float, float, float, float] | None = None  # time, p, window_start, window_end
        self.last_raw_probability = math.nan  # aggregated, before smoothing
        self.last_probability = math.nan  # smoothed
        self.last_channels: tuple[int, ...] = ()
        self._last_time: float | None = None
        self._last_window: tuple[float, float] | None = None

    @staticmethod
    def _check(cfg: DecisionConfig) -> None:
        if cfg.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {cfg.aggregation!r}")
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
        """True from a published onset until its offset is published."""
        return self.state in ("active", "ending")

    @property
    def open_event_id(self) -> int | None:
        return self._event_id if self.alarm_active else None

    def step(
        self, time: float, window_start: float, window_end: float, channel_probs: np.ndarray
    ) -> list[DecisionEvent]:
        """Feed one scored window (``channel_probs [n_channels]``, NaN = excluded); returns events."""
        cfg = self.config
        raw, top = aggregate(channel_probs, cfg.aggregation, cfg.k_channels)
        self.last_raw_probability = raw
        self._last_time = float(time)
        self._last_window = (float(window_start), float(window_end))
        if math.isnan(raw):
            self.last_channels = ()
            self.last_probability = math.nan
            return []
        self._history.append(raw)
        p = float(np.mean(self._history))
        self.last_probability = p
        probs = np.asarray(channel_probs, dtype=np.float64)
        above = [
            i
            for i in np.argsort(-np.nan_to_num(probs, nan=-1.0), kind="stable")
            if np.isfinite(probs[i]) and probs[i] >= cfg.on_threshold
        ]
        self.last_channels = tuple(int(i) for i in above) or top
        events: list[DecisionEvent] = []

        if self.state == "ending":
            off_time, off_p, off_ws, off_we = self._ending  # type: ignore[misc]
            if p >= cfg.on_threshold:
                self.state, self._ending = "active", None  # merged: the event continues
                return events
            if time - off_time >= cfg.merge_gap_s:
                events.append(self._offset(off_time, off_p, off_ws, off_we, publish_time=time))
                # the same window may arm a new onset below
        if self.state == "active":
            if p < cfg.off_threshold:
                self._ending = (float(time), p, float(window_start), float(window_end))
                self.state = "ending"
                if cfg.merge_gap_s <= 0:
                    events.append(
                        self._offset(float(time), p, float(window_start), float(window_end), publish_time=time)
                    )
            return events
        if self.state == "idle" and p >= cfg.on_threshold:
            self.state, self._cross_time = "pending", float(time)
        elif self.state == "pending" and p < cfg.on_threshold:
            self.state, self._cross_time = "idle", None
        if self.state == "pending" and time - self._cross_time >= cfg.min_duration_s:  # type: ignore[operator]
            self._event_id = self._next_event_id
            self._next_event_id += 1
            self._onset_time = self._cross_time
            self.state, self._cross_time = "active", None
            events.append(
                DecisionEvent(
                    kind="onset",
                    event_id=self._event_id,
                    time=self._onset_time,  # type: ignore[arg-type]
                    probability=p,
                    channels=self.last_channels,
                    onset_time=None,
                    duration_s=None,
                    window_start=float(window_start),
                    window_end=float(window_end),
                    publish_time=float(time),
                )
            )
        return events

    def _offset(self, off_time: float, p: float, ws: float, we: float, *, publish_time: float) -> DecisionEvent:
        ev = DecisionEvent(
            kind="offset",
            event_id=self._event_id,  # type: ignore[arg-type]
            time=off_time,
            probability=p,
            channels=(),
            onset_time=self._onset_time,
            duration_s=off_time - self._onset_time,  # type: ignore[operator]
            window_start=ws,
            window_end=we,
            publish_time=float(publish_time),
        )
        self.state, self._ending, self._onset_time = "idle", None, None
        return ev

    def flush(self, time: float | None = None) -> list[DecisionEvent]:
        """End of input: publish the offset of an open event (at ``time``, default the last window's
        time, or the pending offset's own time); drop an unconfirmed onset."""
        t = float(time) if time is not None else self._last_time
        events: list[DecisionEvent] = []
        if self.state == "ending":
            off_time, off_p, ws, we = self._ending  # type: ignore[misc]
            events.append(self._offset(off_time, off_p, ws, we, publish_time=t if t is not None else off_time))
        elif self.state == "active":
            t = t if t is not None else self._onset_time
            ws, we = self._last_window if self._last_window is not None else (t, t)
            events.append(self._offset(t, self.last_probability, ws, we, publish_time=t))  # type: ignore[arg-type]
        self.state, self._cross_time = "idle", None
        self._history.clear()
        return events

    def reset(self) -> None:
        """Stream lost: forget the smoothing history and an unconfirmed onset; keep a published event open."""
        self._history.clear()
        if self.state == "pending":
            self.state, self._cross_time = "idle", None
        self.last_probability = self.last_raw_probability = math.nan
        self.last_channels = ()

    def reconfigure(self, config: DecisionConfig) -> None:
        """New thresholds from the next window on; the smoothing history keeps its newest entries."""
        self._check(config)
        self.config = config
        self._history = deque(self._history, maxlen=config.smoothing_windows)
