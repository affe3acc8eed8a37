"""Alarm bookkeeping around the decision machine: what the alert log says at start, acknowledgement and
re-announcement of an open event. Pure apart from :func:`lines_newest_first` (reads the log file).

At start (:func:`reconcile_streams`, fed by :func:`lines_newest_first`): the log is read once for every bed
of the daemon, backwards, newest line first, and only as far as needed: up to the newest ``seizure.onset`` /
``seizure.offset`` of each bed's stream (the bed found last ends the reading). Lines without ``"seizure.``
are not parsed once a message of every bed's stream has been seen, so months of heartbeats cost a byte
search each. The answer per bed (:class:`LogState`, the same as reading the log for that bed alone:
:func:`reconcile_log`): the highest ``event_id`` seen (event ids continue after it; from this version on
they only grow, so the newest event carries the highest), and the onset of an event left open (no offset
after it: the previous run was killed, or stopped, during an alarm), with the newest ``time`` the stream's
messages reached after it (the last sign of life of that run), the newest probability known for it and its
acknowledgement, if any. :func:`settle_restarts` then says which bed closes which open event, so that two
beds whose streams overlap do not close one event twice.

While an event is open (:class:`AlarmTracker`): the first acknowledgement of it is accepted (``seizure.ack``),
a second one is answered "already acknowledged by X at T" and not published again, one for any other event
is refused quoting it. Until acknowledged, the event is re-announced every ``reannounce_s`` seconds of
monotonic wall time (not signal time: a reminder is for people), counted 1, 2, ...; 0 = never.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard, TypeVar

_SEIZURE = b'"seizure.'
_BLOCK_BYTES = 256 * 1024
NOTE_MAX_CHARS = 200  # as realtime.alerts.NOTE_MAX_CHARS (checked there first)
K = TypeVar("K", bound=Hashable)  # a bed's key (its label)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _event_id(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _stream_ok(stream: Any) -> TypeGuard[Mapping[str, str]]:
    return isinstance(stream, Mapping) and all(isinstance(stream.get(k), str) for k in ("name", "type", "source_id"))


@dataclass(frozen=True)
class LogState:
    """What the alert log says at start about one bed's stream (see the module docstring)."""

    last_event_id: int = 0  # highest event_id seen; 0: none
    open_onset: Mapping[str, Any] | None = None  # the seizure.onset of an event left open, as logged
    last_time: float | None = None  # newest `time` of the stream's messages (>= the onset's when open)
    probability: float | None = None  # open event: its newest seizure.reannounce probability, else the onset's
    acked_by: str | None = None  # open event: who acknowledged it (its seizure.ack), else None
    ack_time: float | None = None  # and when (Unix seconds)


class _Scan:
    """One stream's reading of the log, newest line first, until its newest onset or offset (one key of
    :func:`reconcile_streams`)."""

    __slots__ = ("acked", "last_time", "reannounced")

    def __init__(self) -> None:
        self.last_time: float | None = None
        self.reannounced: dict[int, float] = {}  # event_id -> its newest reannounce probability
        self.acked: dict[int, tuple[str, float | None]] = {}  # event_id -> (by, ack_time) of its seizure.ack

    def take(
        self, msg: Mapping[str, Any], kind: str | None, eid: int, closed: set[int], last_event_id: int
    ) -> LogState | None:
        """One message of this stream (newer lines already taken); its :class:`LogState` once that is known."""
        if self.last_time is None and _number(msg.get("time")):
            self.last_time = float(msg["time"])
        if kind == "seizure.reannounce" and _number(msg.get("probability")):
            self.reannounced.setdefault(eid, float(msg["probability"]))
        elif kind == "seizure.ack" and isinstance(msg.get("by"), str):
            raw = msg.get("ack_time")
            self.acked.setdefault(eid, (msg["by"], float(raw) if raw is not None and _number(raw) else None))
        elif kind == "seizure.offset":
            return LogState(last_event_id, None, self.last_time)
        elif kind == "seizure.onset" and _number(msg.get("time")) and _number(msg.get("probability")):
            if eid in closed:
                return LogState(last_event_id, None, self.last_time)
            onset_time = float(msg["time"])
            end = onset_time if self.last_time is None else max(self.last_time, onset_time)
            by, ack_time = self.acked.get(eid, (None, None))
            probability = self.reannounced.get(eid, float(msg["probability"]))
            return LogState(last_event_id, msg, end, probability, by, ack_time)
        return None


def reconcile_streams(
    lines_newest_first: Iterable[bytes],
    matchers: Mapping[K, Callable[[Mapping[str, str]], bool]],
    needles: Mapping[K, bytes | None] | None = None,
) -> dict[K, LogState]:
    """Every bed's :class:`LogState` from one reading of the alert log, newest line first.

    ``matchers``: a bed's key (its label) -> ``matches(stream)``, which gets a message's ``{"name", "type",
    "source_id"}`` and says whether it is that bed's stream (it is asked once per distinct stream). Each bed's
    answer is what reading the log for it alone gives (:func:`reconcile_log`); the lines are read once, and no
    further than the newest onset or offset of the bed found last: the iterable is not consumed past it. Once
    every bed has seen a message of its stream, lines without ``"seizure.`` are skipped unparsed. ``needles``: a
    bed's key -> bytes that every logged line of its stream holds (its stream name or source id as JSON writes it),
    or None: a line without ``"seizure.`` and without the needle of any bed not yet seen is skipped unparsed too,
    so a bed whose stream was never logged does not have the whole log parsed for it. Lines that are not JSON
    objects (a torn line) are skipped. Pure: no I/O, the lines come from the caller.
    """
    pending: dict[K, _Scan] = {key: _Scan() for key in matchers}
    done: dict[K, LogState] = {}
    whose: dict[tuple[str, str, str], tuple[K, ...]] = {}  # a stream -> the keys whose matcher takes it
    needles = needles or {}
    unseen = set(pending)  # pending beds with no message of their stream yet: their lines count for them

    def wanted(line: bytes) -> bool:
        """Whether a line without ``"seizure.`` may matter: a bed not yet seen without a needle, or one's needle."""
        for key in unseen:
            needle = needles.get(key)
            if needle is None or needle in line:
                return True
        return False

    last_event_id = 0
    closed: set[int] = set()  # event ids with an offset newer than the line being read (any stream's)
    for line in lines_newest_first if pending else ():
        if _SEIZURE not in line and (not unseen or not wanted(line)):
            continue
        try:
            msg = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):  # garbage, however deeply nested: as AlertLog does
            continue
        if not isinstance(msg, dict):
            continue
        kind, raw_id = msg.get("type"), msg.get("event_id")
        if not (isinstance(kind, str) and kind.startswith("seizure.") and _event_id(raw_id)):
            kind, eid = None, 0  # not an event message: only its stream and time count
        else:
            eid = raw_id
            last_event_id = max(last_event_id, eid)
            if kind == "seizure.offset":
                closed.add(eid)
        stream = msg.get("stream")
        if not _stream_ok(stream):
            continue
        ident = (stream["name"], stream["type"], stream["source_id"])
        keys = whose.get(ident)
        if keys is None:
            keys = whose[ident] = tuple(key for key, matches in matchers.items() if matches(stream))
        for key in keys:
            scan = pending.get(key)
            if scan is None:
                continue
            was_unseen = scan.last_time is None
            state = scan.take(msg, kind, eid, closed, last_event_id)
            if state is not None:
                done[key] = state
                del pending[key]
            if was_unseen and (state is not None or scan.last_time is not None):
                unseen.discard(key)
        if not pending:
            break
    for key, scan in pending.items():
        done[key] = LogState(last_event_id, None, scan.last_time)
    return {key: done[key] for key in matchers}


def reconcile_log(lines_newest_first: Iterable[bytes], matches: Callable[[Mapping[str, str]], bool]) -> LogState:
    """Read alert log lines, newest first, until the newest onset or offset of a stream ``matches`` accepts.

    ``matches(stream)`` gets a message's ``{"name", "type", "source_id"}``. Stops consuming the iterable as
    soon as the answer is known. Lines that are not JSON objects (a torn line) are skipped. One bed of
    :func:`reconcile_streams`.
    """
    return reconcile_streams(lines_newest_first, {0: matches})[0]


def settle_restarts(
    states: Mapping[K, LogState], matchers: Mapping[K, Callable[[Mapping[str, str]], bool]]
) -> dict[K, LogState]:
    """The events the beds close at start, in the beds' order: each closing is a ``seizure.offset`` of the open
    onset's stream, newer than every line read, so a later bed whose matcher takes that stream finds it as its
    newest event message and has nothing left open (as when each bed read the log after the previous one had
    closed its event). No event is closed twice; pure."""
    out: dict[K, LogState] = {}
    closing: list[Mapping[str, str]] = []  # the streams of the offsets the earlier beds publish
    for key, state in states.items():
        onset = state.open_onset
        if onset is not None:
            if any(matchers[key](stream) for stream in closing):
                state = LogState(state.last_event_id, None, state.last_time)
            else:
                closing.append(onset["stream"])
        out[key] = state
    return out


def lines_newest_first(path: str | Path, block_bytes: int = _BLOCK_BYTES) -> Iterator[bytes]:
    """The non-empty lines of a file, last line first, read backwards in blocks (nothing if it is missing)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below; a missing file yields nothing
    except FileNotFoundError:
        return
    with fh:
        end = fh.seek(0, 2)
        carry = b""
        while end > 0:
            start = max(0, end - block_bytes)
            fh.seek(start)
            lines = (fh.read(end - start) + carry).split(b"\n")
            carry = lines[0] if start > 0 else b""  # may be the tail of a line that began earlier
            for line in reversed(lines[1:] if start > 0 else lines):
                if line.strip():
                    yield line
            end = start


@dataclass
class OpenAlarm:
    """The open event as the tracker sees it."""

    event_id: int
    onset_time: float  # the onset's `time` (LSL clock)
    announced_mono: float  # monotonic time of the onset or of the last re-announcement
    reannounced: int = 0  # re-announcements so far
    acked_by: str | None = None
    ack_time: float | None = None  # Unix seconds
    opened_mono: float = 0.0  # monotonic time of the onset (how long it has been open, whatever the stream's clock)
    note: str = ""


@dataclass(frozen=True)
class AckOutcome:
    """The reply to an acknowledgement request; ``accepted``: new, to be logged and published."""

    reply: dict[str, Any]
    accepted: bool


def _iso(unix_s: float) -> str:
    return _dt.datetime.fromtimestamp(unix_s, _dt.UTC).isoformat(timespec="seconds")


class AlarmTracker:
    """Acknowledgement and re-announcement state of the one open event (see the module docstring)."""

    def __init__(self, reannounce_s: float):
        self.reannounce_s = self._checked(reannounce_s)
        self.open: OpenAlarm | None = None

    @staticmethod
    def _checked(reannounce_s: float) -> float:
        if not (_number(reannounce_s) and reannounce_s >= 0):
            raise ValueError(f"reannounce_s must be a finite number >= 0 (0 = never), got {reannounce_s!r}")
        return float(reannounce_s)

    def set_interval(self, reannounce_s: float) -> None:
        """A new interval (SIGHUP); the next re-announcement is due that long after the last one."""
        self.reannounce_s = self._checked(reannounce_s)

    def opened(self, event_id: int, onset_time: float, now_mono: float) -> None:
        """An onset was published: a new open event, unacknowledged."""
        self.open = OpenAlarm(int(event_id), float(onset_time), float(now_mono), opened_mono=float(now_mono))

    def closed(self, event_id: int) -> None:
        """An offset was published: the event is no longer open (an offset of another event changes nothing)."""
        if self.open is not None and self.open.event_id == event_id:
            self.open = None

    @property
    def acknowledged(self) -> bool:
        """An event is open and acknowledged."""
        return self.open is not None and self.open.acked_by is not None

    def acknowledge(self, event_id: Any, by: Any, note: Any, now_wall: float) -> AckOutcome:
        """Answer one acknowledgement of ``event_id`` by ``by`` (with ``note``) at ``now_wall`` (Unix s)."""
        if not _event_id(event_id):
            return AckOutcome({"error": f"event_id: expected an integer >= 1, got {event_id!r}"}, False)
        if not isinstance(by, str) or not by:
            return AckOutcome({"error": f"by: expected the client's name, got {by!r}"}, False)
        if not isinstance(note, str) or len(note) > NOTE_MAX_CHARS:
            shown = f"{len(note)} characters" if isinstance(note, str) else repr(note)
            return AckOutcome(
                {"error": f"note: expected a text of at most {NOTE_MAX_CHARS} characters, got {shown}"}, False
            )
        ev = self.open
        if ev is None or ev.event_id != event_id:
            now_open = f"the open event is {ev.event_id}" if ev is not None else "no event is open"
            return AckOutcome({"error": f"event {event_id} is not open ({now_open})"}, False)
        if ev.acked_by is not None:
            assert ev.ack_time is not None
            return AckOutcome(
                {
                    "ok": True,
                    "event_id": event_id,
                    "already": True,
                    "by": ev.acked_by,
                    "ack_time": ev.ack_time,
                    "detail": f"already acknowledged by {ev.acked_by} at {_iso(ev.ack_time)}",
                },
                False,
            )
        ev.acked_by, ev.ack_time, ev.note = by, float(now_wall), note
        return AckOutcome(
            {
                "ok": True,
                "event_id": event_id,
                "already": False,
                "by": by,
                "ack_time": ev.ack_time,
                "detail": f"event {event_id} acknowledged by {by} at {_iso(ev.ack_time)}",
            },
            True,
        )

    def withdraw_ack(self, event_id: int) -> None:
        """Take back an acknowledgement :meth:`acknowledge` accepted but that could not be logged or published: the
        event stays unacknowledged (re-announced, acknowledgeable), as every station saw it."""
        ev = self.open
        if ev is not None and ev.event_id == event_id:
            ev.acked_by, ev.ack_time, ev.note = None, None, ""

    def due_reannounce(self, now_mono: float) -> int | None:
        """The number (1, 2, ...) of the re-announcement due at ``now_mono``, or None; counts it as sent.

        Due ``reannounce_s`` after the onset or the previous one; after a stall, one is sent and the next
        is due ``reannounce_s`` later (no burst).
        """
        ev = self.open
        if ev is None or ev.acked_by is not None or self.reannounce_s <= 0:
            return None
        if now_mono - ev.announced_mono < self.reannounce_s:
            return None
        ev.reannounced += 1
        ev.announced_mono = float(now_mono)
        return ev.reannounced
