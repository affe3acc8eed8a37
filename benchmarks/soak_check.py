"""The pure parts of the fault-injection soak (benchmarks/soak_faults.py): the fault schedule, where an
alert falls in the replayed signal, which seizures raised an alarm, memory growth, the alert log
against what a subscriber received, and whether the daemon received every sample the outlet sent (the
outlet's journal against the daemon's windows), which decides whether the run is valid as a test of "no
alarm lost". numpy, the standard library and procfs.cpu_shares (arithmetic) only; no I/O, no clocks.

Positions are *global samples*: sample ``g`` of the soak's timeline (benchmarks/soak_outlet.py) is
due at LSL time ``t0 + g / rate`` (``rate`` = sampling rate x speed, samples per second of the LSL
clock), holds sample ``g mod cycle`` of the replayed recording and is stamped ``t0 + g / rate +``
the outlet's clock offset then.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.procfs import cpu_shares

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


def kill_outage_start(kill_g: float, segments: Sequence[Mapping], *, tol: float) -> float:
    """Where a kill's outage begins: the kill (``kill_g``, global sample), or earlier, the end of the last
    window the daemon scored of the outlet life the kill ended (``segments``: :func:`account_samples`' rows;
    the life whose end lies within ``tol`` of ``kill_g``). liblsl discards what an inlet received but the
    daemon had not pulled when the connection breaks (pull raises LostError), and what was in flight is gone:
    a daemon behind by d seconds of signal loses those d seconds to the kill (at real time, under a tick;
    at 20x, up to a pull of 16 s). A seizure there is the kill's, not a missed alarm."""
    ends = [
        r["scored_to"]
        for r in segments
        if r.get("ended_by") == "kill" and r.get("scored_to") is not None and abs(r["end"] - kill_g) <= tol
    ]
    return min([kill_g, *ends])


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

    ``logged``: the log's records in file order; ``received``: the messages in the order received. Messages
    without a ``seq`` (``status.window``: sent live, never logged) are left out of both, and counted as
    ``unsequenced_received``. Returns counts: ``duplicates`` ((run, seq) seen twice in the log), ``seq_back`` (a
    seq not above the previous one in the log), ``seq_gaps`` (numbers skipped between neighbours of one run), ``runs``,
    ``received_not_logged`` and ``received_differs`` (received, but absent from the log or not equal to
    its record), ``logged_not_received``, ``received_back`` (a seq not above the previous received), with
    up to 5 examples each under ``examples``.
    """
    unsequenced = sum(1 for m in received if m.get("seq") is None)
    logged = [m for m in logged if m.get("seq") is not None]
    received = [m for m in received if m.get("seq") is not None]
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
        "unsequenced_received": unsequenced,
        "examples": {
            "duplicates": dup[:5],
            "seq_back": back[:5],
            "received_not_logged": missing[:5],
            "received_differs": differs[:5],
            "logged_not_received": not_received[:5],
            "received_back": rback[:5],
        },
    }


# ----------------------------------------------------------------------------- samples sent against samples received
#
# The daemon cannot see samples liblsl dropped from a full inlet buffer (a daemon behind at a replay speed: the
# stream's timestamps then hide the hole under the clock's gap tolerance). So the soak compares what the outlet
# sent (its journal) with where the daemon's windows fell: every scored window's ``status.window`` message gives
# its first and last sample on the stream's clock, placed on the timeline like an alert (:func:`place_windows`).
# Within one connection a window ends ``hop`` samples after the one before (``hop * n`` when ``n - 1`` messages
# were lost on the way: ``windows_total`` counts them); a larger step is signal the daemon never had.

HOLE_TOLERANCE_SAMPLES = 3.0  # steps this much over a hop are timestamp noise (seen: +-0.2 samples at 20x)
KEPT_UP_MIN = 0.99  # windows scored / windows due from the samples sent, for a run to count as kept up


@dataclass(frozen=True)
class Segment:
    """A stretch of the timeline one outlet process sent without a break: from its start (or from where it went
    on after a hang) to its kill, its hang, or the end of the run. ``start``: the first global sample sent;
    ``end``: one past the last one known sent. ``end_from``: ``"journal"`` (the outlet's own count: exact at a
    hang and at the end, a lower bound at a kill), ``"fault"`` (an older journal without counts: the sample due
    at the kill or the SIGSTOP, an upper bound) or ``"run end"``."""

    index: int
    pid: int | None
    start: float
    end: float
    ended_by: str  # "kill" | "hang" | "end" | "outlet lag" (it skipped ahead with no hang done: it was starved)
    end_from: str


def outlet_segments(entries: Sequence[Mapping], faults: Sequence[Mapping] = (), *, g_end: float) -> list[Segment]:
    """The outlet's segments from its journal (benchmarks/soak_outlet.py: ``start``, ``jump``, ``skip``, ``sent``,
    ``stop`` lines, in file order) and the faults done (``{"kind", "g", "skipped"?}``). A new process (``start``)
    ends the segment before by a kill; a ``skip`` by a hang when a hang was done within the segment, else by
    ``"outlet lag"`` (the outlet fell more than its ``--skip-after-s`` behind its schedule by itself). The faults
    also give the ends where the journal has no counts (older journals: no ``sent``/``stop`` lines, no ``from``)."""
    opened: list[dict] = []
    for e in entries:
        ev, g, pid = e.get("event"), float(e["g"]), e.get("pid")
        mine = next((s for s in reversed(opened) if s["pid"] == pid), None)
        if ev == "start":
            opened.append({"pid": pid, "start": g, "end": None, "ended_by": None})
        elif ev == "skip":
            if mine is not None:
                mine["ended_by"] = "hang"
                if e.get("from") is not None:
                    mine["end"] = float(e["from"])
            opened.append({"pid": pid, "start": g, "end": None, "ended_by": None})
        elif ev in ("sent", "stop") and mine is not None:
            mine["end"] = g if mine["end"] is None else max(mine["end"], g)  # samples before g were sent
            if ev == "stop":
                mine["ended_by"] = "end"
    opened.sort(key=lambda s: s["start"])
    done = sorted(
        (f for f in faults if f.get("kind") in ("kill", "hang") and not f.get("skipped")), key=lambda f: f["g"]
    )
    out = []
    for i, s in enumerate(opened):
        nxt = opened[i + 1]["start"] if i + 1 < len(opened) else math.inf
        ended_by = s["ended_by"] or ("kill" if i + 1 < len(opened) else "end")
        if ended_by == "hang" and not any(f["kind"] == "hang" and s["start"] <= f["g"] <= nxt for f in done):
            ended_by = "outlet lag"
        end, end_from = s["end"], "journal"
        if end is None:
            fault = next((f for f in done if f["kind"] == ended_by and s["start"] <= f["g"] < nxt), None)
            if fault is not None:
                end, end_from = float(fault["g"]), "fault"
            else:
                end, end_from = min(g_end, nxt), "run end"
        out.append(Segment(i, s["pid"], s["start"], max(s["start"], min(end, nxt)), ended_by, end_from))
    return out


@dataclass(frozen=True)
class PlacedWindow:
    """A scored window on the timeline: global samples of its first and last sample; ``total`` the message's
    ``windows_total`` (``status.window``; None for an onset or offset)."""

    start: float
    end: float
    total: int | None = None


def place_windows(
    msgs: Iterable[Mapping],
    *,
    t0: float,
    rate: float,
    offsets: Iterable[float],
    lsl_minus_wall: float,
    max_latency: float,
    slack: float,
) -> tuple[list[PlacedWindow], int]:
    """``(windows placed, number that could not be)``: each message with ``window_start``, ``window_end`` and
    ``wall_time`` placed by :func:`stamp_to_sample` (its end; its start the same span before, in the same clock:
    the daemon reports both ends in the clock in force), ordered by ``windows_total``, else by end."""
    offsets = list(offsets)
    placed, unplaced = [], 0
    for m in msgs:
        e, s = float(m["window_end"]), float(m["window_start"])
        due = (float(m["wall_time"]) + lsl_minus_wall - t0) * rate
        g, how = stamp_to_sample(e, t0=t0, rate=rate, offsets=offsets, due=due, max_latency=max_latency, slack=slack)
        if how != "stamp":
            unplaced += 1
            continue
        total = m.get("windows_total")
        placed.append(PlacedWindow(g - (e - s) * rate, g, None if total is None else int(total)))
    placed.sort(key=lambda w: (w.total if w.total is not None else -1, w.end))
    return placed, unplaced


def _stretch(a: float, b: float, samples: float, kind: str, segment: int) -> dict:
    return {"from": float(a), "to": float(b), "samples": float(samples), "kind": kind, "segment": segment}


def account_samples(
    segments: Sequence[Segment],
    windows: Sequence[PlacedWindow],
    *,
    hop: float,
    native: float,
    first_pos: float,
    last_pos: float,
    tol: float = HOLE_TOLERANCE_SAMPLES,
    pulled: Mapping[int, float] | None = None,
) -> dict:
    """What the daemon received and scored of what the outlet sent, per segment (samples).

    ``windows``: every ``status.window`` of the run, placed (:func:`place_windows`, with ``total``). ``hop``:
    samples per hop; ``native``: samples a window needs (its end count after a (re)connection is ``native + k *
    hop``); ``first_pos``/``last_pos``: where in those ``native`` samples the window's first and last sample lie
    (``Resampler.window_positions``). Per segment:

    - ``first_received``: the first sample the daemon had (its first window's start less ``first_pos``; the
      segment's start when that window straddles the break: the connection went on across it);
      ``before_first``: those sent before it, while the daemon (re)connected: part of the fault (or the start);
    - holes: a window ending more than ``hop * (windows_total step)`` (+ ``tol``) after the one before, or a first
      window spanning more than a window (``last_pos - first_pos`` + ``tol``): that many samples never reached
      the daemon (or were dropped at a reset of its pipeline), between the two window ends;
    - ``after_last``: sent after the last scored window's end count (a window is due every ``hop``, so a
      daemon that had them all leaves fewer than ``hop`` unscored): at a kill part of the fault; at a hang, ``hop``
      or more (+ ``tol``) is a hole, unless ``pulled`` shows the daemon never had them (below); at the end of
      the run, what was not scored when the daemon was stopped;
    - ``undelivered_at_hang``: ``pulled[segment]``, where given, is how many samples the daemon pulled from
      liblsl in that life (its ``samples_received_total`` from before the life to after it declared the stream
      lost: :func:`pulled_per_life`). When the first sample plus those pulled falls short of the next window's
      end count, the tail sent after them never reached the daemon: pushed into the outlet's liblsl queue in the
      last moments before the SIGSTOP and frozen there with the process, it is the hang's, not a hole (a daemon
      that received them and did not score them, or lost them from a full inlet buffer, which drops the oldest
      samples, not the newest, still makes a hole, and the backlog limit covers the latter);
    - ``scored_to``: the last scored window's end count (None without windows);
    - ``windows_due``: windows the samples sent from ``first_received`` to the segment's end make (at a kill, to
      the last scored window: the rest is the fault's; across a break the connection went on over, one every
      ``hop`` from the last window before it); ``windows_scored``: the ``windows_total`` the daemon counted there
      (messages lost on the way included).

    Returns ``{"segments": [rows], "stretches": [lost stretches: from, to, samples, kind, segment], "sent",
    "before_first", "received", "lost_outside_faults", "at_kills", "unscored_at_stop", "windows_due",
    "windows_scored", "windows_unassigned", "steps_short" (window ends closer than a hop: misplaced or
    repeated timestamps), "noise_max" (largest step deviation under ``tol``), "segments_without_windows"}``.
    """
    if not windows:
        raise ValueError("no window positions: the run recorded no status.window messages")
    span = last_pos - first_pos
    margin = native - 1 - last_pos  # samples after a window's last one up to its end count
    segs = sorted(segments, key=lambda s: s.start)
    starts = [s.start for s in segs]
    mine: dict[int, list[PlacedWindow]] = {s.index: [] for s in segs}
    unassigned = 0
    for w in windows:
        i = int(np.searchsorted(starts, w.end + tol, side="right")) - 1
        if i < 0 or w.total is None:
            unassigned += 1
            continue
        mine[segs[i].index].append(w)
    rows, stretches = [], []
    short, noise = 0, 0.0
    prev_tail: float | None = None  # samples the segment before sent after its last window's end count
    for k, s in enumerate(segs):
        ws = sorted(mine[s.index], key=lambda w: w.total)
        row: dict = {"segment": s.index, "pid": s.pid, "start": s.start, "end": s.end, "ended_by": s.ended_by}
        row["end_from"] = s.end_from
        if not ws:
            row.update(sent=s.end - s.start, first_received=None, before_first=s.end - s.start, received=0.0)
            row.update(lost=0.0, after_last=0.0, at_kill=0.0, unscored_at_stop=0.0, undelivered_at_hang=0.0)
            row.update(windows_due=0, windows_scored=0)
            row["scored_to"] = None
            rows.append(row)
            prev_tail = None
            continue
        # a first window that starts before the segment: the daemon's connection (and its window grid) went on
        # across the break (the outlet's own skip, or a hang the daemon, busy, did not take for a lost stream).
        # The samples never sent lie inside it: its start is extrapolated over them when the daemon took them for
        # a clock jump, or they widen it when it took them for a gap
        continued = k > 0 and ws[0].start < s.start - tol
        r0 = s.start if continued else ws[0].start - first_pos
        never_sent = s.start - segs[k - 1].end if continued else 0.0
        holes = []
        extra = (ws[0].end - ws[0].start) - span
        if extra > never_sent + tol:
            holes.append(_stretch(ws[0].start, ws[0].end, extra - never_sent, "inside the first window", s.index))
        for a, b in itertools.pairwise(ws):
            d = (b.end - a.end) - hop * (b.total - a.total)
            if d > tol:
                holes.append(_stretch(a.end, b.end, d, "between windows", s.index))
            elif d < -tol:
                short += 1
            else:
                noise = max(noise, abs(d))
        received = ws[-1].end + margin + 1 - r0 - sum(h["samples"] for h in holes)  # up to the last window's end
        end_count = ws[-1].end + margin + 1
        sent_end = max(s.end, end_count)  # a kill's journaled end is a lower bound
        after = sent_end - end_count
        got = None if pulled is None else pulled.get(s.index)
        undelivered = 0.0
        if s.ended_by == "hang" and after >= hop + tol:
            if got is not None and r0 + got < end_count + hop + tol:
                undelivered = sent_end - (r0 + got)  # frozen in the hung outlet: never reached the daemon
            else:
                holes.append(_stretch(end_count, sent_end, after, "sent before the hang, never scored", s.index))
        # a kill cuts off what was in flight or waiting in the inlet: the fault's, so no window is due past the last
        # one; neither is one past what a hung outlet never delivered
        usable = (end_count if s.ended_by == "kill" else sent_end - undelivered) - r0
        if continued and prev_tail is not None:  # the grid goes on: a window every hop from the last one before
            due = int(math.floor((prev_tail + usable) / hop))
        else:
            due = int(math.floor((usable - native) / hop)) + 1 if usable >= native else 0
        row.update(
            sent=sent_end - s.start,
            first_received=r0,
            before_first=max(0.0, r0 - s.start),
            received=received,
            lost=sum(h["samples"] for h in holes),
            after_last=after,
            scored_to=end_count,
            at_kill=after if s.ended_by == "kill" else 0.0,
            unscored_at_stop=after if s.ended_by == "end" else 0.0,
            undelivered_at_hang=undelivered,
            windows_due=due,
            windows_scored=ws[-1].total - ws[0].total + 1,
        )
        rows.append(row)
        stretches.extend(holes)
        prev_tail = after
    return {
        "segments": rows,
        "stretches": stretches,
        "sent": sum(r["sent"] for r in rows),
        "before_first": sum(r["before_first"] for r in rows),
        "received": sum(r["received"] for r in rows),
        "lost_outside_faults": sum(r["lost"] for r in rows),
        "at_kills": sum(r["at_kill"] for r in rows),
        "unscored_at_stop": sum(r["unscored_at_stop"] for r in rows),
        "undelivered_at_hangs": sum(r.get("undelivered_at_hang", 0.0) for r in rows),
        "outlet_lags": sum(r["ended_by"] == "outlet lag" for r in rows),
        "windows_due": sum(r["windows_due"] for r in rows),
        "windows_scored": sum(r["windows_scored"] for r in rows),
        "windows_unassigned": unassigned,
        "steps_short": short,
        "noise_max": noise,
        "segments_without_windows": [r["segment"] for r in rows if r["first_received"] is None],
    }


def pulled_per_life(
    segments: Sequence[Segment], scrapes: Sequence[Mapping], *, t0: float, rate: float
) -> dict[int, float]:
    """Samples the daemon pulled in each life that ended in a hang, from its ``samples_received`` counter in the
    per-second ``scrapes`` (``lsl``, ``samples_received``, ``stream_connected``): the counter at the last scrape
    before the next life's first sample, less the counter at the last scrape before this life's first sample;
    both scrapes must find the stream disconnected (the daemon had taken the stream for lost: nothing of another
    life can be in the count). The outlet's sample g is sent at LSL time ``t0 + g / rate``. Lives without two
    such scrapes are left out (:func:`account_samples` then keeps its rule without them)."""
    rows = sorted((s for s in scrapes if s.get("samples_received") is not None), key=lambda s: s["lsl"])
    times = [s["lsl"] for s in rows]
    segs = sorted(segments, key=lambda s: s.start)

    def quiet_count_before(g: float) -> float | None:
        i = bisect.bisect_left(times, t0 + g / rate) - 1
        if i < 0 or rows[i].get("stream_connected") != 0.0:
            return None
        return float(rows[i]["samples_received"])

    out: dict[int, float] = {}
    for s, nxt in itertools.pairwise(segs):
        if s.ended_by != "hang":
            continue
        before, after = quiet_count_before(s.start), quiet_count_before(nxt.start)
        if before is not None and after is not None:
            out[s.index] = after - before
    return out


def window_span_holes(windows: Sequence[PlacedWindow], *, span: float, tol: float = HOLE_TOLERANCE_SAMPLES) -> list:
    """Windows that span more than ``span`` samples (+ ``tol``): samples missing inside them. For runs without
    ``status.window`` (older ones), on the onset and offset messages' windows."""
    return [
        _stretch(w.start, w.end, (w.end - w.start) - span, "inside a deciding window", -1)
        for w in windows
        if (w.end - w.start) - span > tol
    ]


_BACKLOG = re.compile(r"([0-9.]+) s of signal waiting in the inlet \(buffer ([0-9.]+) s\)")
_SUPPRESSED = re.compile(r"\((\d+) more like it suppressed\)")


def backlog_warnings(lines: Iterable[str]) -> dict:
    """The daemon's WARNING lines about its inlet backlog (realtime/bed.py; at most one per 10 s, the rest counted
    as suppressed): ``{"lines", "suppressed", "max_s" (None without any), "buffer_s"}``."""
    n, suppressed, top, buffer_s = 0, 0, None, None
    for line in lines:
        m = _BACKLOG.search(line)
        if m is None:
            continue
        n += 1
        top = float(m.group(1)) if top is None else max(top, float(m.group(1)))
        buffer_s = float(m.group(2))
        k = _SUPPRESSED.search(line)
        suppressed += int(k.group(1)) if k else 0
    return {"lines": n, "suppressed": suppressed, "max_s": top, "buffer_s": buffer_s}


def backlog_limit_s(buffer_s: float | None, max_chunk_s: float | None = None) -> float | None:
    """The soak's limit on the inlet backlog the daemon reports (``inlet_backlog_seconds``): half of
    ``buffer_s - max_chunk_s`` (7 s with the defaults: a 30 s buffer, pulls of 4096 samples at 256 Hz). It was
    chosen when the gauge counted what was left after a pull, which showed at most that much, and that only once
    the buffer was full; the gauge now counts what waited when the pull began (it reaches the whole buffer) and the
    limit was kept, so it stays strict. Without ``max_chunk_s`` (older runs), or a pull as long as the buffer: half
    the buffer. None without a buffer."""
    if not buffer_s:
        return None
    if max_chunk_s and max_chunk_s < buffer_s:
        return (buffer_s - max_chunk_s) / 2
    return buffer_s / 2


def judge_validity(
    accounting: Mapping | None,
    *,
    backlog_max_s: float | None,
    backlog_limit_s: float | None,
    windows_skipped: float,
    span_holes: Sequence[Mapping] = (),
    fs: float,
    kept_up_min: float = KEPT_UP_MIN,
) -> dict:
    """Whether the run is valid as a test of "no alarm lost": the daemon had every sample the outlet sent outside
    the injected faults and kept up. Not valid when samples were lost outside the faults (``accounting``'s
    ``lost_outside_faults``, or, without an accounting, ``span_holes``), when windows scored / due (from the
    samples sent) is under ``kept_up_min``, when the inlet's backlog went past ``backlog_limit_s``
    (:func:`backlog_limit_s`; liblsl drops samples once the buffer is full), when windows were skipped, or when
    the outlet itself fell behind its schedule (``outlet_lags``). ``accounting`` None (no ``status.window``
    recorded) and nothing wrong seen: ``valid`` None, not established.
    Returns ``{"valid": True | False | None, "reasons": [str], "kept_up": bool | None, "windows_fraction"}``."""
    reasons = []
    fraction = None
    if accounting is not None:
        lost = accounting["lost_outside_faults"]
        if lost > 0:
            st = accounting["stretches"]
            reasons.append(
                f"{lost:.0f} samples ({lost / fs:.1f} s of signal) sent but never received outside the injected "
                f"faults, in {len(st)} stretch(es)"
            )
        if accounting.get("outlet_lags"):
            reasons.append(
                f"the outlet fell behind its own schedule {accounting['outlet_lags']} time(s) and skipped ahead (no "
                "hang was done): the machine did not keep the outlet running"
            )
        due, scored = accounting["windows_due"], accounting["windows_scored"]
        fraction = scored / due if due else None
        if fraction is None or fraction < kept_up_min:
            reasons.append(
                f"windows scored / due from the samples sent {scored} / {due}"
                + ("" if fraction is None else f" = {fraction:.3f}")
                + f", under {kept_up_min:g}"
            )
    elif span_holes:
        lost = sum(h["samples"] for h in span_holes)
        reasons.append(
            f"{len(span_holes)} deciding window(s) span more signal than a window: {lost:.0f} samples "
            f"({lost / fs:.1f} s) missing inside them"
        )
    if backlog_max_s is not None and backlog_limit_s is not None and backlog_max_s > backlog_limit_s:
        reasons.append(
            f"the inlet's backlog reached {backlog_max_s:.1f} s of signal, over the {backlog_limit_s:g} s limit "
            "(liblsl drops the oldest samples once its buffer is full)"
        )
    if windows_skipped:
        reasons.append(f"{windows_skipped:.0f} window(s) skipped (overwritten before they were scored)")
    kept_up = None if accounting is None else not (fraction is None or fraction < kept_up_min)
    if reasons:
        valid: bool | None = False
    else:
        valid = True if accounting is not None else None
    if valid is None:
        reasons.append("samples received not measured: the run recorded no status.window messages")
    return {"valid": valid, "reasons": reasons, "kept_up": kept_up, "windows_fraction": fraction}


def seizures_in_stretches(
    seizures: Sequence[Seizure], stretches: Sequence[Mapping], *, before: float, after: float
) -> list[dict]:
    """Seizures a lost stretch touches: one overlapping ``[start - before, expected + after]``, the span whose
    signal decides the onset (the span an outage exempts). ``[{"cycle", "stretches": [...]}]``."""
    out = []
    for s in seizures:
        hit = [st for st in stretches if st["from"] < s.expected + after and st["to"] > s.start - before]
        if hit:
            out.append({"cycle": s.cycle, "stretches": hit})
    return out


def where(g: float, *, fs: float, cycle: float) -> dict:
    """A global sample as ``{"signal_s", "cycle", "in_cycle_s"}``."""
    return {"signal_s": round(g / fs, 2), "cycle": int(g // cycle), "in_cycle_s": round((g % cycle) / fs, 2)}


def cpu_over(scrapes: Sequence[Mapping], start: float | None = None, end: float | None = None) -> dict | None:
    """Where CPU time went between LSL times ``start`` and ``end`` (default: the first and the last scrape),
    from the scrapes' ``machine_cpu_s`` (the machine's CPU seconds since boot: busy, idle, steal, total) and
    ``daemon_cpu_s`` / ``outlet_cpu_s`` (each process's own): ``busy`` / ``idle`` / ``steal`` as shares of the
    machine's CPU time, ``cpus`` (the machine's CPU seconds per wall second: its vCPUs), ``daemon_cores`` and
    ``outlet_cores`` (CPU seconds per wall second; a process that restarts counts from 0 again, so only rises
    are summed), ``windows_per_s`` (the daemon's ``windows_processed`` counter). None when fewer than two
    scrapes in the interval carry the machine's times."""
    rows = [
        s
        for s in scrapes
        if s.get("machine_cpu_s") and (start is None or s["lsl"] >= start) and (end is None or s["lsl"] <= end)
    ]
    if len(rows) < 2:
        return None
    a, b = rows[0], rows[-1]
    wall_s = b["lsl"] - a["lsl"]
    total = b["machine_cpu_s"]["total"] - a["machine_cpu_s"]["total"]
    if wall_s <= 0 or total <= 0:
        return None

    def rises(key: str) -> float:
        vals = [s.get(key) for s in rows]
        return sum(y - x if y >= x else y for x, y in itertools.pairwise(vals) if x is not None and y is not None)

    out = {"from_lsl": a["lsl"], "wall_s": wall_s, "cpus": total / wall_s}
    out |= cpu_shares(a["machine_cpu_s"], b["machine_cpu_s"])
    out |= {"daemon_cores": rises("daemon_cpu_s") / wall_s, "outlet_cores": rises("outlet_cpu_s") / wall_s}
    out["windows_per_s"] = rises("windows_processed") / wall_s
    return out


def backlog_spell(scrapes: Sequence[Mapping], *, before_s: float = 30.0) -> dict | None:
    """The ``before_s`` seconds of wall time that ended at the inlet's largest scraped backlog (when the daemon
    fell furthest behind), as :func:`cpu_over` sees them, with ``backlog_s`` and ``at_lsl``: was the machine
    slow then (steal, other processes) or the daemon? None without a scraped backlog or the machine's times."""
    with_backlog = [s for s in scrapes if s.get("inlet_backlog_s") is not None]
    if not with_backlog:
        return None
    worst = max(with_backlog, key=lambda s: s["inlet_backlog_s"])
    spell = cpu_over(scrapes, worst["lsl"] - before_s, worst["lsl"])
    return None if spell is None else spell | {"backlog_s": worst["inlet_backlog_s"], "at_lsl": worst["lsl"]}
