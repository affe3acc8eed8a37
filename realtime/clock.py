"""The sample clock: decisions are timed by samples counted, and the stream's timestamps are checked
against it. Pure: numpy only, no I/O, no clocks.

A source's timestamps can lie: a clock stepped back an hour, stepped forward, frozen, or run at
another rate. liblsl's dejitter and monotonize hide such a step (a step back froze every timestamp
for the next hour; a step forward was smeared over minutes), and a decision timed by them then
never confirms an onset, or opens an event that spans an hour and never ends. So the decision
(``min_duration_s``, ``settle_s``, ``merge_gap_s``, gaps) runs on the *sample clock*: the
``index``-th sample of a pipeline is at ``first timestamp + index / nominal rate`` (plus the time a
gap or a reconnect really lasted), whatever the timestamps do afterwards. Messages keep reporting
the stream's own timestamps, so that subscribers can line them up with other LSL streams.

:meth:`SampleClock.observe` compares every received timestamp with what the samples predict: a line
fitted to the timestamps of the last ``FIT_SPAN_S`` (30 s) of samples, its slope (the stream's
seconds per sample, relative to the nominal rate) kept within ``RATIO_RANGE``: a replay at
``--speed 4`` advances four times faster than its nominal rate and is followed, a frozen clock is
never taken for a rate. Jitter and bursts (a device stamping samples when a radio packet arrives)
stay well inside the tolerances and are absorbed by the fit. What is not:

``jump``  a timestamp more than ``jump_tolerance_s`` from the prediction, or a step of more than that
          between two samples: the source's clock jumped (or, forwards, as much signal is missing;
          the two cannot be told apart). Reported. The sample clock goes on unchanged (no settling,
          nothing dropped); the timestamps are followed from the new value on (re-anchored).
``gap``   the timestamps run ahead of the prediction by more than ``gap_tolerance_s`` (0.25 s) but
          not more than ``jump_tolerance_s``, for ``CONFIRM_S`` of samples in a row: samples are
          missing (a small clock step forward looks the same). The sample clock advances by the
          missing time, so the window across it spans more than a window and the decision settles
          again, as after any gap.
``step``  the same backwards: a small clock correction. Re-anchored; nothing else changes.

``jump_tolerance_s`` is :func:`jump_tolerance_s` of the hop: ``max(1 s, 3 hops)``: a disagreement of a
second moves no decision by more than a window, and the largest jitter seen on a loaded machine
(tens of ms) stays far below it.

Until the stream's rate has been measured (a fit over ``WARMUP_S`` of samples, or a first chunk that
long) only single steps of more than ``jump_tolerance_s`` count, so a stream whose rate differs from
its nominal one is not taken for a drifting clock while its rate is measured.
:meth:`SampleClock.restart` (the stream was lost): the next sample starts a new segment; the time
that passed meanwhile by the stream's timestamps (never less than zero) is added to the sample
clock, as a reconnect always was; timestamps that went back by more than the tolerance are a jump
(``at_restart``), by less a step.

After a ``jump`` or ``step``, :attr:`SampleClock.anchor` says where the stream's clock changed: a
window across it reports both its ends in the new clock (:meth:`ClockAnchor.time_of`), and
:attr:`SampleClock.offset_total_s` sums the changes (the daemon measures latency without them).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

GAP_TOLERANCE_S = 0.25  # as realtime.decision.DecisionMachine.GAP_TOLERANCE_S
RATIO_RANGE = (1 / 64, 64.0)  # stream seconds per sample-clock second a fit may take
FIT_SPAN_S = 30.0  # the fit covers the timestamps of this many seconds of samples
KNOT_SPACING_S = 0.5  # one fit point per this many seconds of samples
WARMUP_S = 5.0  # seconds of samples before drift is judged (only single steps count before)
CONFIRM_S = 0.5  # a gap or step: this many seconds of samples on one side of the prediction


def jump_tolerance_s(hop_s: float) -> float:
    """How far the timestamps may disagree with the sample clock before it is reported: ``max(1, 3 * hop_s)``."""
    return max(1.0, 3.0 * float(hop_s))


@dataclass(frozen=True)
class ClockEvent:
    """What :meth:`SampleClock.observe` found at one sample."""

    kind: str  # "jump" | "gap" | "step"
    index: int  # the sample (counted from the pipeline's first) whose timestamp disagreed
    offset_s: float  # received minus expected timestamp (stream seconds): > 0 forward, < 0 back
    expected_time: float  # what the samples before it predicted
    received_time: float  # the timestamp that came
    abrupt: bool = True  # False: the timestamps drifted from the prediction rather than stepped
    at_restart: bool = False  # found on the first sample after a reconnect

    def describe(self) -> str:
        """One line for logs and ``status.signal``: ``timestamps jumped back by 3600.000 s ...``."""
        way = "forward" if self.offset_s > 0 else "back"
        size = abs(self.offset_s)
        where = (
            f"(sample {self.index}: expected {self.expected_time:.3f}, received {self.received_time:.3f}"
            f"{', after a reconnect' if self.at_restart else ''})"
        )
        if self.kind == "gap":
            return f"timestamps ran {size:.3f} s ahead of the sample count: about {size:.2f} s of samples lost {where}"
        if self.kind == "step":
            return f"timestamps stepped back by {size:.3f} s {where}"
        if not self.abrupt:
            return f"timestamps drifted {size:.3f} s {way} from the sample count {where}"
        extra = " (or as much signal is missing)" if self.offset_s > 0 and not self.at_restart else ""
        return f"timestamps jumped {way} by {size:.3f} s{extra} {where}"


@dataclass(frozen=True)
class ClockAnchor:
    """The latest clock discontinuity (jump or step): stream time of ``index`` and the stream's period there."""

    index: int
    time: float
    period_s: float  # stream seconds per sample

    def time_of(self, position: float) -> float:
        """Stream time of sample ``position`` in the clock that holds from the anchor on (extrapolated)."""
        return self.time + (position - self.index) * self.period_s


class SampleClock:
    """Sample index -> decision time (the sample clock); checks timestamps; see the module docstring.

    ``observe(first_index, timestamps [n])`` takes the timestamps of samples ``first_index ...
    first_index + n - 1`` (consecutive over calls) and returns the :class:`ClockEvent` found;
    ``decision_time(position)`` is the sample clock at a (fractional) sample position.
    """

    def __init__(self, sfreq: float, *, jump_tolerance_s: float, gap_tolerance_s: float = GAP_TOLERANCE_S):
        if not (math.isfinite(sfreq) and sfreq > 0):
            raise ValueError(f"sfreq must be a finite rate > 0, got {sfreq!r}")
        if not (math.isfinite(jump_tolerance_s) and jump_tolerance_s > gap_tolerance_s > 0):
            raise ValueError(
                f"need jump_tolerance_s > gap_tolerance_s > 0, got {jump_tolerance_s!r}, {gap_tolerance_s!r}"
            )
        self.sfreq = float(sfreq)
        self.jump_tolerance_s = float(jump_tolerance_s)
        self.gap_tolerance_s = float(gap_tolerance_s)
        self.nominal_period_s = 1.0 / self.sfreq
        self.period_s = self.nominal_period_s  # fitted stream seconds per sample
        self.anchor: ClockAnchor | None = None  # the latest jump or step
        self.offset_total_s = 0.0  # sum of the jumps and steps: stream clock minus its continuation
        self.jumps_total = self.gaps_total = self.steps_total = 0
        self._breaks: deque[tuple[int, float]] = deque(maxlen=4096)  # (index, decision time): start, gaps, restarts
        knots = int(FIT_SPAN_S / KNOT_SPACING_S) + 1
        self._knots_n: deque[int] = deque(maxlen=knots)
        self._knots_t: deque[float] = deque(maxlen=knots)
        self._origin = (0, 0.0)  # fit points are summed relative to the segment's first sample
        self._sums = (0.0, 0.0, 0.0, 0.0)  # sum x, sum y, sum x^2, sum x*y of the fit points
        self._period_known = False  # measured (a fit over WARMUP_S, or a long first chunk): drift is judged
        self._last_index: int | None = None  # the last sample observed
        self._prev_time = math.nan  # its timestamp
        self._restarting = False
        self._run: tuple[int, float, int] | None = None  # samples beyond gap_tolerance: (first index, its time, side)
        self._run_res: list[float] = []  # their residuals

    # ------------------------------------------------------------------ queries
    @property
    def ratio(self) -> float:
        """Stream seconds per sample-clock second (1 for a live device; 0.25 for a replay at ``--speed 4``)."""
        return self.period_s * self.sfreq

    def decision_time(self, position: float) -> float:
        """The sample clock (seconds) at sample ``position`` (fractional positions interpolate)."""
        if not self._breaks:
            raise ValueError("no sample observed yet")
        for index, start in reversed(self._breaks):
            if index <= position:
                return start + (position - index) / self.sfreq
        index, start = self._breaks[0]
        return start + (position - index) / self.sfreq

    # ------------------------------------------------------------------ input
    def restart(self) -> None:
        """The stream was lost: the next sample observed starts a new segment (see the module docstring)."""
        if self._last_index is not None:
            self._restarting = True

    def observe(self, first_index: int, timestamps: np.ndarray) -> list[ClockEvent]:
        """Check the timestamps ``[n]`` of samples ``first_index ...``; returns what was found, in order."""
        ts = np.asarray(timestamps, dtype=np.float64)
        if ts.ndim != 1:
            raise ValueError(f"timestamps must be 1-D [n_samples], got shape {ts.shape}")
        if ts.size == 0:
            return []
        bad = np.flatnonzero(~np.isfinite(ts))
        if bad.size:
            raise ValueError(f"timestamps must be finite, got {float(ts[bad[0]])!r} at position {int(bad[0])}")
        first_index = int(first_index)
        if self._last_index is not None and first_index != self._last_index + 1:
            raise ValueError(f"samples must be consecutive: expected index {self._last_index + 1}, got {first_index}")
        events: list[ClockEvent] = []
        prev = self._prev_time if self._last_index is not None else None
        if self._last_index is None:
            self._breaks.append((first_index, float(ts[0])))
            self._new_segment(first_index, float(ts[0]))
            self._estimate_period(ts)
            start = 1
        elif self._restarting:
            self._restarting = False
            ev = self._restart_at(first_index, float(ts[0]))
            if ev is not None:
                events.append(ev)
            self._estimate_period(ts)
            start = 1
        else:
            start = 0
        while start < ts.size:
            start = self._scan(first_index, ts, start, prev, events)
        self._last_index = first_index + ts.size - 1
        self._prev_time = float(ts[-1])
        return events

    # ------------------------------------------------------------------ internals
    def _new_segment(self, index: int, time: float) -> None:
        self._knots_n.clear()
        self._knots_t.clear()
        self._origin = (index, time)
        self._sums = (0.0, 0.0, 0.0, 0.0)
        self._knot(index, time)
        self._run, self._run_res = None, []

    def _estimate_period(self, ts: np.ndarray) -> None:
        """A first chunk long enough (a backlog) gives the period at once, up to its first large step."""
        steps = np.abs(np.diff(ts) - self.period_s) > self.jump_tolerance_s
        stop = int(np.argmax(steps)) + 1 if steps.any() else ts.size
        if stop - 1 >= WARMUP_S * self.sfreq:
            self.period_s = self._clip((ts[stop - 1] - ts[0]) / (stop - 1))
            self._period_known = True

    def _clip(self, period_s: float) -> float:
        lo, hi = RATIO_RANGE
        return float(min(max(period_s, lo * self.nominal_period_s), hi * self.nominal_period_s))

    def _fit(self) -> tuple[float, float, float]:
        """``(t_ref, n_ref, period)``: the timestamp predicted for sample ``n`` is ``t_ref + (n - n_ref) * period``.

        A least-squares line through the fit points once they span ``WARMUP_S`` of samples; before that
        the newest point and the period measured last. Running sums, relative to the segment's anchor.
        """
        k = len(self._knots_n)
        if k >= 2 and self._knots_n[-1] - self._knots_n[0] >= WARMUP_S * self.sfreq:
            sn, st, snn, snt = self._sums
            nm, tm = sn / k, st / k
            var = snn / k - nm * nm
            if var > 0:
                self.period_s = self._clip((snt / k - nm * tm) / var)
                self._period_known = True
                n0, t0 = self._origin
                return t0 + tm, n0 + nm, self.period_s
        return self._knots_t[-1], float(self._knots_n[-1]), self.period_s

    def _knot(self, n: int, t: float) -> None:
        """Add a fit point (the oldest falls out after ``FIT_SPAN_S``)."""
        if len(self._knots_n) == self._knots_n.maxlen:
            self._sum(self._knots_n[0], self._knots_t[0], -1.0)
        self._knots_n.append(n)
        self._knots_t.append(t)
        self._sum(n, t, 1.0)
        if self._knots_n[0] - self._origin[0] > 4 * FIT_SPAN_S * self.sfreq:  # sums of small numbers stay exact
            self._origin, self._sums = (self._knots_n[0], self._knots_t[0]), (0.0, 0.0, 0.0, 0.0)
            for kn, kt in zip(self._knots_n, self._knots_t, strict=True):
                self._sum(kn, kt, 1.0)

    def _sum(self, n: int, t: float, sign: float) -> None:
        n0, t0 = self._origin
        x, y = float(n - n0), t - t0
        sn, st, snn, snt = self._sums
        self._sums = (sn + sign * x, st + sign * y, snn + sign * x * x, snt + sign * x * y)

    def _add_knots(self, first_index: int, ts: np.ndarray, lo: int, hi: int) -> None:
        """Fit points among samples ``lo:hi`` of the chunk, at least ``KNOT_SPACING_S`` of samples apart."""
        if hi <= lo:
            return
        spacing = max(1, round(KNOT_SPACING_S * self.sfreq))
        for i in range(max(self._knots_n[-1] + spacing, first_index + lo), first_index + hi, spacing):
            self._knot(i, float(ts[i - first_index]))

    def _scan(self, first_index: int, ts: np.ndarray, start: int, prev: float | None, events: list[ClockEvent]) -> int:
        """Check samples ``start:`` of the chunk, handle the first finding, return where to go on from."""
        t_ref, n_ref, period = self._fit()
        part = ts[start:]
        # integer sample indices, then the fit's reference: np.arange on float bounds may give one element more
        residual = part - (t_ref + (np.arange(first_index + start, first_index + ts.size) - n_ref) * period)
        before = ts[start - 1] if start > 0 else prev
        step = np.empty_like(part)
        step[0] = 0.0 if before is None else part[0] - before - period
        np.subtract(part[1:], part[:-1], out=step[1:])
        step[1:] -= period
        tol, gap = self.jump_tolerance_s, self.gap_tolerance_s
        if self._run is None and np.abs(step).max() <= tol and np.abs(residual).max() <= gap:  # the usual case
            self._add_knots(first_index, ts, start, ts.size)
            return ts.size
        idx = first_index + np.arange(start, ts.size)
        abrupt = np.abs(step) > tol
        bad = abrupt | (np.abs(residual) > tol) if self._period_known else abrupt
        jump_at = int(np.argmax(bad)) if bad.any() else part.size
        found = self._find_run(idx, part, residual, jump_at) if self._period_known else None
        if found is not None:  # a gap (ahead) or a step (behind), held for CONFIRM_S of samples
            (r_index, r_time, side), size = found
            ev = ClockEvent("gap" if side > 0 else "step", r_index, size, r_time - size, r_time)
            self._apply(ev)
            events.append(ev)
            self._new_segment(r_index, r_time)
            return max(0, r_index - first_index + 1)
        if jump_at == part.size:  # everything agrees (an open run may go on in the next chunk)
            self._add_knots(first_index, ts, start, self._knots_end(first_index, ts.size))
            return ts.size
        k = jump_at
        size = float(step[k]) if abrupt[k] else float(residual[k])
        received = float(part[k])
        ev = ClockEvent("jump", int(idx[k]), size, received - size, received, abrupt=bool(abrupt[k]))
        self._add_knots(first_index, ts, start, self._knots_end(first_index, start + k))
        self._apply(ev)
        events.append(ev)
        self._new_segment(int(idx[k]), received)
        return start + k + 1

    def _knots_end(self, first_index: int, hi: int) -> int:
        """No fit points from samples of an open run (they may be after a gap)."""
        return hi if self._run is None else max(0, min(hi, self._run[0] - first_index))

    def _find_run(self, idx, part, residual, limit: int):
        """Continue the run of samples beyond the gap tolerance on one side; ``((first index, time, side), size)``
        once ``CONFIRM_S`` of them lie within ``gap_tolerance_s`` of each other (a step, not a drift), else None."""
        gap = self.gap_tolerance_s
        side = np.where(residual[:limit] > gap, 1, np.where(residual[:limit] < -gap, -1, 0))
        if not side.any():
            self._run, self._run_res = None, []
            return None
        confirm = max(1, round(CONFIRM_S * self.sfreq))
        run, res = self._run, self._run_res
        for k in range(limit):
            s = int(side[k])
            if s == 0:
                run, res = None, []
                continue
            if run is None or run[2] != s:
                run, res = (int(idx[k]), float(part[k]), s), []
            res.append(float(residual[k]))
            if len(res) >= confirm:
                last = res[-confirm:]
                if max(last) - min(last) <= gap:
                    self._run, self._run_res = None, []
                    return run, float(np.median(last))
                del res[:-confirm]
        self._run, self._run_res = run, res
        return None

    def _apply(self, ev: ClockEvent) -> None:
        if ev.kind == "gap":
            self.gaps_total += 1
            here = self.decision_time(ev.index)
            self._breaks.append((ev.index, here + max(0.0, ev.offset_s) / self.ratio))
            return
        if ev.kind == "jump":
            self.jumps_total += 1
        else:
            self.steps_total += 1
        self.offset_total_s += ev.offset_s
        self.anchor = ClockAnchor(ev.index, ev.received_time, self.period_s)

    def _restart_at(self, index: int, time: float) -> ClockEvent | None:
        """First sample after a reconnect: count the time that passed; timestamps that went back are a step or a
        jump."""
        t_ref, n_ref, period = self._fit()
        expected = t_ref + (index - n_ref) * period
        elapsed = time - expected
        here = self.decision_time(index)
        ev = None
        if elapsed < -self.gap_tolerance_s:
            kind = "jump" if elapsed < -self.jump_tolerance_s else "step"
            ev = ClockEvent(kind, index, elapsed, expected, time, at_restart=True)
            self._apply(ev)
            self._breaks.append((index, here))
        else:
            self._breaks.append((index, here + max(0.0, elapsed) / self.ratio))
        self._new_segment(index, time)
        return ev
