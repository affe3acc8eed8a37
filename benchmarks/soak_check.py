"""The pure parts of the fault-injection soak (benchmarks/soak_faults.py): the fault schedule, where an
alert falls in the replayed signal, which seizures raised an alarm, memory growth, and the alert log
against what a subscriber received. numpy and the standard library only; no I/O, no clocks.

Positions are *global samples*: sample ``g`` of the soak's timeline (benchmarks/soak_outlet.py) is
due at LSL time ``t0 + g / rate`` (``rate`` = sampling rate x speed, samples per second of the LSL
clock), holds sample ``g mod cycle`` of the replayed recording and is stamped ``t0 + g / rate +``
the outlet's clock offset then.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# The faults in the order they come, over and over: ("jump", +1 forward / -1 back) or a kill or a hang.
# The jumps take the clock to -J, back to 0, to +J and back to 0, so both directions start from both sides.
PATTERN: tuple[tuple[str, int], ...] = (
    ("jump", -1),
    ("kill", 0),
    ("jump", +1),
    ("hang", 0),
    ("jump", +1),
    ("kill", 0),
    ("jump", -1),
    ("hang", 0),
)


@dataclass(frozen=True)
class Fault:
    """One fault: ``at_s`` wall seconds after the outlet first started. Jumps: ``direction`` +1/-1 and
    ``target_s``, the position in the cycle (signal seconds) the jump is fired at, the next time it comes."""

    at_s: float
    kind: str  # "jump" | "kill" | "hang"
    direction: int = 0
    target_s: float | None = None


def fault_schedule(
    duration_s: float, every_s: float, *, end_margin_s: float, jump_targets_s: Sequence[float]
) -> list[Fault]:
    """Faults every ``every_s`` wall seconds (the first at ``every_s``) in the order of :data:`PATTERN`,
    none later than ``duration_s - end_margin_s``; jump ``i`` aims at ``jump_targets_s[i % len]``."""
    if not (every_s > 0 and math.isfinite(every_s)):
        raise ValueError(f"every_s must be a finite number > 0, got {every_s!r}")
    if not jump_targets_s:
        raise ValueError("jump_targets_s must name at least one position")
    out: list[Fault] = []
    jumps = 0
    t = every_s
    while t <= duration_s - end_margin_s:
        kind, direction = PATTERN[len(out) % len(PATTERN)]
        if kind == "jump":
            out.append(Fault(t, kind, direction, float(jump_targets_s[jumps % len(jump_targets_s)])))
            jumps += 1
        else:
            out.append(Fault(t, kind))
        t += every_s
    return out


def next_position(g_now: float, cycle: int, position: float) -> float:
    """The first global sample at or after ``g_now`` that lies at ``position`` (samples) of the cycle."""
    k = math.ceil((g_now - position) / cycle)
    return k * cycle + position


def stamp_to_sample(
    stamp: float, *, t0: float, rate: float, offsets: Iterable[float], due: float, max_latency: float, slack: float
) -> tuple[float, str]:
    """The global sample a message's stream timestamp names, and how it was found.

    ``due``: the sample due when the message was made (its ``wall_time`` on the LSL clock): the window
    ended at most ``max_latency`` samples before, and not more than ``slack`` after (clock reading
    error). Each clock offset the outlet used gives a candidate; the one in that range closest to
    ``due`` is taken (``"stamp"``). With none in range the timestamp cannot be placed (a clock the
    daemon did not follow) and ``due`` is returned (``"wall"``), which is late by the latency.
    """
    best: float | None = None
    for off in offsets:
        g = (stamp - off - t0) * rate
        if due - max_latency <= g <= due + slack and (best is None or abs(due - g) < abs(due - best)):
            best = g
    return (best, "stamp") if best is not None else (due, "wall")


@dataclass(frozen=True)
class Seizure:
    cycle: int
    start: float  # global sample of the annotated start
    end: float  # global sample of the annotated end
    expected: float  # where a fault-free pass raises the onset (the deciding window's end)


def seizures_in(cycle: int, start: float, end: float, onset: float, upto: float) -> list[Seizure]:
    """Every seizure of the repeated recording (``start``/``end``/``onset``: samples within the cycle)
    that starts before ``upto``."""
    out = []
    k = 0
    while k * cycle + start < upto:
        out.append(Seizure(k, k * cycle + start, k * cycle + end, k * cycle + onset))
        k += 1
    return out


@dataclass(frozen=True)
class Outage:
    start: float  # global sample when the fault began
    end: float  # global sample from which the daemon could raise an onset again
    kind: str


def events_open(onsets: Sequence[tuple[int, float]], offsets: Sequence[tuple[int, float]]) -> dict[int, tuple]:
    """``{event_id: (onset sample, offset sample or inf)}`` from ``(event_id, sample)`` pairs."""
    out: dict[int, tuple[float, float]] = {eid: (g, math.inf) for eid, g in onsets}
    for eid, g in offsets:
        if eid in out:
            out[eid] = (out[eid][0], g)
    return out


def classify(
    seizures: Sequence[Seizure],
    onsets: Sequence[tuple[int, float]],
    offsets: Sequence[tuple[int, float]],
    outages: Sequence[Outage],
    *,
    before: float,
    after: float,
    due_before: float = math.inf,
) -> dict:
    """Which seizures raised an alarm.

    A seizure is **alarmed** by an onset between its start and ``after`` samples past its end, or by an
    event already open at its start (a kill mid-event keeps the event open). It is **exempt** when an
    outage overlaps ``[start - before, expected + after]``: the daemon had no signal, or had not settled
    yet, where the onset had to be decided. An onset that falls in no seizure's span is **unexpected**.
    Only seizures whose onset was **due** (``expected + after <= due_before``: the run went on long
    enough) are counted; the others still claim their onsets.
    Returns ``{"seizures": [one dict per seizure], "checked", "alarmed", "missed": [cycles], "exempt",
    "exempt_alarmed", "unexpected_onsets": [samples], "delays": [samples, onset minus expected, checked
    seizures alarmed by an onset]}``.
    """
    events = events_open(onsets, offsets)
    rows = []
    spans = [(s.start, s.end + after) for s in seizures]
    unexpected = [g for _, g in onsets if not any(a <= g <= b for a, b in spans)]
    for s in seizures:
        mine = [g for _, g in onsets if s.start <= g <= s.end + after]
        already = any(on < s.start < off for on, off in events.values())
        exempt = [o.kind for o in outages if o.start < s.expected + after and o.end > s.start - before]
        rows.append(
            {
                "cycle": s.cycle,
                "alarmed": bool(mine) or already,
                "by": "onset" if mine else ("open event" if already else None),
                "onset": min(mine) if mine else None,
                "onsets": len(mine),
                "delay": (min(mine) - s.expected) if mine else None,
                "exempt": exempt,
                "due": s.expected + after <= due_before,
            }
        )
    due = [r for r in rows if r["due"]]
    checked = [r for r in due if not r["exempt"]]
    return {
        "seizures": rows,
        "checked": len(checked),
        "alarmed": sum(r["alarmed"] for r in checked),
        "missed": [r["cycle"] for r in checked if not r["alarmed"]],
        "exempt": len(due) - len(checked),
        "exempt_alarmed": sum(r["alarmed"] for r in due if r["exempt"]),
        "unexpected_onsets": unexpected,
        "delays": [r["delay"] for r in checked if r["delay"] is not None],
    }


def rss_growth(rss: Sequence[float], fraction: float = 0.1) -> dict:
    """Mean of the first and of the last ``fraction`` of the samples, and the growth ``last / first - 1``."""
    x = np.asarray(rss, dtype=np.float64)
    if x.size < 2:
        raise ValueError(f"need at least 2 memory samples, got {x.size}")
    n = max(1, int(round(fraction * x.size)))
    first, last = float(x[:n].mean()), float(x[-n:].mean())
    return {"first": first, "last": last, "growth": last / first - 1.0, "peak": float(x.max()), "n_each": n}


def _key(msg: Mapping) -> tuple:
    return (msg.get("run"), msg.get("seq"))


def check_messages(logged: Sequence[Mapping], received: Sequence[Mapping]) -> dict:
    """The alert log against what a subscriber received.

    ``logged``: the log's records in file order; ``received``: the messages in the order received.
    Returns counts: ``duplicates`` ((run, seq) seen twice in the log), ``seq_back`` (a seq not above the
    previous one in the log), ``seq_gaps`` (numbers skipped between neighbours of one run), ``runs``,
    ``received_not_logged`` and ``received_differs`` (received, but absent from the log or not equal to
    its record), ``logged_not_received``, ``received_back`` (a seq not above the previous received), with
    up to 5 examples each under ``examples``.
    """
    index: dict[tuple, Mapping] = {}
    dup, back, gaps = [], [], 0
    prev: Mapping | None = None
    for m in logged:
        k = _key(m)
        if k in index:
            dup.append(k)
        index[k] = m
        if prev is not None:
            if m["seq"] <= prev["seq"]:
                back.append((prev["seq"], m["seq"]))
            elif m.get("run") == prev.get("run"):
                gaps += m["seq"] - prev["seq"] - 1
        prev = m
    missing = [_key(m) for m in received if _key(m) not in index]
    differs = [_key(m) for m in received if _key(m) in index and dict(index[_key(m)]) != dict(m)]
    got = {_key(m) for m in received}
    not_received = [k for k in index if k not in got]
    rback = [(a["seq"], b["seq"]) for a, b in itertools.pairwise(received) if b["seq"] <= a["seq"]]
    return {
        "logged": len(logged),
        "received": len(received),
        "runs": len({m.get("run") for m in logged}),
        "duplicates": len(dup),
        "seq_back": len(back),
        "seq_gaps": gaps,
        "received_not_logged": len(missing),
        "received_differs": len(differs),
        "logged_not_received": len(not_received),
        "received_back": len(rback),
        "examples": {
            "duplicates": dup[:5],
            "seq_back": back[:5],
            "received_not_logged": missing[:5],
            "received_differs": differs[:5],
            "logged_not_received": not_received[:5],
            "received_back": rback[:5],
        },
    }
