"""SzCORE event scoring of continuous recordings: detected events against annotated seizures.

The reference (annotated seizures) and the hypotheses (detected events) are turned into
``timescoring.annotations.Annotation`` objects and scored with ``timescoring.scoring.EventScoring``
and its default parameters, which are the SzCORE rules (Dan et al., Epilepsia 2024): 30 s tolerance
before and 60 s after an annotated event, any overlap counts, events longer than 5 min are split,
events closer than 90 s are merged. Onset latency is computed here (the package does not): for each
annotated seizure, the first *alarm time* (the time the onset message is published) of a detected
event overlapping the seizure's tolerance-extended span, minus the annotated onset. Alongside,
stricter counts (:class:`EventScore`): alarms published outside every seizure's ``[onset, offset +
60 s]`` are false, and a seizure is detected only by an alarm inside it.

Pure functions (numpy, ``timescoring``, the intervals of :mod:`evaluation.metrics`); no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from evaluation.metrics import clopper_pearson, poisson_rate_interval

SZCORE_FS_HZ = 10  # time resolution of the annotation masks (timescoring works at 10 Hz)


@dataclass(frozen=True)
class DetectedEvent:
    """A detection: ``start_s``..``end_s`` (seconds from the recording start) and when it was alarmed."""

    start_s: float  # onset message "time": the smoothed probability first reached on_threshold
    end_s: float  # offset message "time" (or the end of the recording)
    alarm_s: float  # onset message "publish_time": when a bed would have been alerted


@dataclass
class EventScore:
    """SzCORE event scoring of one recording (or of several, summed by :func:`combine_scores`)."""

    duration_s: float
    n_seizures: int  # annotated events after SzCORE merging/splitting
    tp: int
    fp: int
    latencies_s: list[float | None] = field(default_factory=list)  # per annotated seizure; None = missed
    # stricter than SzCORE's fp (which merges detections closer than 90 s and forgives any merged
    # detection touching a seizure's tolerance window): alarms published outside every annotated
    # seizure's [onset, offset + 60 s] (an alarm published before the onset was decided on
    # pre-ictal data only)
    alarms_outside: int = 0
    n_alarms: int = 0
    strict_latencies_s: list[float | None] = field(default_factory=list)  # first alarm in [onset, offset + 60 s]

    @property
    def fn(self) -> int:
        return self.n_seizures - self.tp

    @property
    def sensitivity(self) -> float:
        return self.tp / self.n_seizures if self.n_seizures else math.nan

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if (self.tp + self.fp) else math.nan

    @property
    def f1(self) -> float:
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if (self.n_seizures + self.fp) else math.nan

    @property
    def hours(self) -> float:
        return self.duration_s / 3600.0

    @property
    def fp_per_24h(self) -> float:
        return self.fp / (self.duration_s / 86400.0)

    def fp_per_24h_ci(self, confidence: float = 0.95) -> tuple[float, float]:
        lo, hi = poisson_rate_interval(self.fp, self.duration_s / 86400.0, confidence)
        return lo, hi

    def fp_per_hour_ci(self, confidence: float = 0.95) -> tuple[float, float]:
        return poisson_rate_interval(self.fp, self.hours, confidence)

    def sensitivity_ci(self, confidence: float = 0.95) -> tuple[float, float]:
        return clopper_pearson(self.tp, self.n_seizures, confidence)

    @property
    def detected_latencies_s(self) -> list[float]:
        return [x for x in self.latencies_s if x is not None]


def szcore_parameters():
    """The SzCORE defaults of ``timescoring.scoring.EventScoring.Parameters``."""
    from timescoring.scoring import EventScoring

    return EventScoring.Parameters(
        toleranceStart=30, toleranceEnd=60, minOverlap=0, maxEventDuration=5 * 60, minDurationBetweenEvents=90
    )


def _clip_events(events: Sequence[tuple[float, float]], duration_s: float) -> list[tuple[float, float]]:
    out = []
    for start, end in events:
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise ValueError(f"event ({start!r}, {end!r}) must have finite start <= end")
        s, e = max(0.0, float(start)), min(float(duration_s), float(end))
        if e - s < 1.0 / SZCORE_FS_HZ:  # shorter than one mask sample: keep it visible
            e = min(float(duration_s), s + 1.0 / SZCORE_FS_HZ)
            s = max(0.0, e - 1.0 / SZCORE_FS_HZ)
        out.append((s, e))
    return out


def score_events(
    reference: Sequence[tuple[float, float]], detections: Sequence[DetectedEvent], duration_s: float, params=None
) -> EventScore:
    """SzCORE event scoring of one recording.

    ``reference``: annotated seizures ``[(onset_s, offset_s)]``; ``detections``: :class:`DetectedEvent`;
    ``duration_s``: the recording's length (the false-alarm rate's denominator).
    """
    from timescoring.annotations import Annotation
    from timescoring.scoring import EventScoring

    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
    params = params or szcore_parameters()
    n = int(round(duration_s * SZCORE_FS_HZ))
    ref_events = sorted(_clip_events(reference, duration_s))
    hyp_events = sorted(_clip_events([(d.start_s, d.end_s) for d in detections], duration_s))
    ref = Annotation(ref_events, SZCORE_FS_HZ, n)
    hyp = Annotation(hyp_events, SZCORE_FS_HZ, n)
    scored = EventScoring(ref, hyp, params)

    outside = sum(
        1 for d in detections if not any(on <= d.alarm_s <= off + params.toleranceEnd for on, off in ref_events)
    )
    strict = []
    for on, off in ref_events:
        alarms = [d.alarm_s for d in detections if on <= d.alarm_s <= off + params.toleranceEnd]
        strict.append(min(alarms) - on if alarms else None)
    latencies: list[float | None] = []
    for onset, offset in scored.ref.events:  # after SzCORE merging/splitting
        lo = max(0.0, onset - params.toleranceStart)
        hi = min(duration_s, offset + params.toleranceEnd)
        alarms = [d.alarm_s for d in detections if d.start_s < hi and max(d.end_s, d.start_s + 1e-9) > lo]
        latencies.append(min(alarms) - onset if alarms else None)
    return EventScore(
        duration_s=float(duration_s),
        n_seizures=int(scored.refTrue),
        tp=int(scored.tp),
        fp=int(scored.fp),
        latencies_s=latencies,
        alarms_outside=int(outside),
        n_alarms=len(detections),
        strict_latencies_s=strict,
    )


def combine_scores(scores: Sequence[EventScore]) -> EventScore:
    """Sum several recordings' scores (events and durations add up)."""
    out = EventScore(duration_s=0.0, n_seizures=0, tp=0, fp=0, latencies_s=[])
    for s in scores:
        out.duration_s += s.duration_s
        out.n_seizures += s.n_seizures
        out.tp += s.tp
        out.fp += s.fp
        out.latencies_s.extend(s.latencies_s)
        out.alarms_outside += s.alarms_outside
        out.n_alarms += s.n_alarms
        out.strict_latencies_s.extend(s.strict_latencies_s)
    return out


def events_from_messages(messages: Sequence[dict], duration_s: float) -> list[DetectedEvent]:
    """Onset/offset messages (offline JSON lines of one file) -> :class:`DetectedEvent` per event id.

    An onset without an offset (should not happen: offline scoring flushes) ends at ``duration_s``.
    """
    onsets: dict[int, dict] = {}
    offsets: dict[int, dict] = {}
    for m in messages:
        kind = m.get("type")
        if kind == "seizure.onset":
            onsets[int(m["event_id"])] = m
        elif kind == "seizure.offset":
            offsets[int(m["event_id"])] = m
    out = []
    for eid, on in sorted(onsets.items()):
        off = offsets.get(eid)
        end = float(off["time"]) if off is not None else float(duration_s)
        out.append(
            DetectedEvent(
                start_s=float(on["time"]),
                end_s=max(end, float(on["time"])),
                alarm_s=float(on.get("publish_time", on["time"])),
            )
        )
    return out


def events_from_decisions(decision_events: Sequence, duration_s: float) -> list[DetectedEvent]:
    """:class:`realtime.decision.DecisionEvent` objects -> :class:`DetectedEvent` (same rules as above)."""
    msgs = []
    for ev in decision_events:
        msgs.append(
            {"type": "seizure." + ev.kind, "event_id": ev.event_id, "time": ev.time, "publish_time": ev.publish_time}
        )
    return events_from_messages(msgs, duration_s)
