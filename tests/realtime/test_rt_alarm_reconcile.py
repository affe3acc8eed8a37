"""realtime.alarm.reconcile_streams / settle_restarts: the alert log read once for every bed at start (pure,
over synthetic log lines): each bed gets what reading the log for it alone gives (reconcile_log)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.alarm import (
    _SEIZURE,
    LogState,
    _event_id,
    _number,
    _stream_ok,
    reconcile_log,
    reconcile_streams,
    settle_restarts,
)
from realtime.inlet import StreamSpec

STREAMS = {
    "bed-a": {"name": "amp-a", "type": "EEG", "source_id": "sid-a"},
    "bed-b": {"name": "amp-b", "type": "EEG", "source_id": "sid-b"},
    "bed-c": {"name": "amp-c", "type": "EEG", "source_id": "sid-c"},
}


def _matcher(name: str):
    spec = StreamSpec(name=name)
    return lambda s: bool(spec.matches(s["name"], s["type"], s["source_id"]))


MATCHERS = {bed: _matcher(stream["name"]) for bed, stream in STREAMS.items()}


def _msg(kind: str, t: float, bed: str, **fields) -> dict:
    return {"schema": "realtime-detect/1", "type": kind, "time": t, "stream": dict(STREAMS[bed]), "bed": bed, **fields}


def _onset(eid: int, t: float, bed: str, p: float = 0.9) -> dict:
    return _msg("seizure.onset", t, bed, event_id=eid, probability=p, channels=["C0"])


def _offset(eid: int, t: float, bed: str) -> dict:
    return _msg("seizure.offset", t, bed, event_id=eid, onset_time=t - 10, duration_s=10.0, probability=0.1)


def _ack(eid: int, t: float, bed: str, by: str = "station-1") -> dict:
    return _msg("seizure.ack", t, bed, event_id=eid, by=by, note="", ack_time=1.7e9 + t)


def _rean(eid: int, t: float, bed: str, p: float) -> dict:
    return _msg("seizure.reannounce", t, bed, event_id=eid, count=1, onset_time=t - 60, probability=p)


def _beat(t: float, bed: str) -> dict:
    return _msg("status.heartbeat", t, bed, state="connected", alarm_active=False, windows_total=1, uptime_s=t)


def _lines(messages: list[dict]) -> list[bytes]:
    return [json.dumps(m, separators=(",", ":")).encode() for m in reversed(messages)]  # newest first


def _counted(lines: list[bytes], consumed: list[bytes]):
    """``lines``, each put in ``consumed`` as it is taken."""
    for line in lines:
        consumed.append(line)
        yield line


# Three beds of one daemon, oldest first: bed-a's event 2 is open (no offset: the daemon was killed), bed-b's
# event 3 is open and acknowledged, bed-c had event 1, closed, and is clean since.
LOG = [
    _beat(90.0, "bed-c"),
    _onset(1, 100.0, "bed-c"),
    _offset(1, 130.0, "bed-c"),
    _beat(140.0, "bed-a"),
    _onset(2, 200.0, "bed-a", p=0.93),
    _beat(201.0, "bed-b"),
    _onset(3, 205.0, "bed-b", p=0.88),
    _rean(2, 260.0, "bed-a", p=0.81),
    _ack(3, 262.0, "bed-b"),
    _beat(270.0, "bed-c"),
    _beat(271.0, "bed-a"),
    _beat(272.0, "bed-b"),
]


def test_three_beds_from_one_reading_open_acknowledged_and_clean():
    consumed: list[bytes] = []
    states = reconcile_streams(_counted(_lines(LOG), consumed), MATCHERS)
    assert list(states) == ["bed-a", "bed-b", "bed-c"]  # keyed and ordered as the matchers
    a, b, c = states["bed-a"], states["bed-b"], states["bed-c"]
    # bed-a: event 2 left open until its last heartbeat; the newest probability is its re-announcement's
    assert a.open_onset is not None and a.open_onset["event_id"] == 2
    assert (a.last_time, a.probability, a.acked_by) == (271.0, 0.81, None)
    # bed-b: event 3 left open, acknowledged (the ack is remembered, and the event is still open: closed at start)
    assert b.open_onset is not None and b.open_onset["event_id"] == 3
    assert (b.last_time, b.probability, b.acked_by, b.ack_time) == (272.0, 0.88, "station-1", 1.7e9 + 262.0)
    # bed-c: its newest event is closed: nothing open
    assert c.open_onset is None and c.last_time == 270.0
    # event ids continue after the highest: every bed's reading saw event 3
    assert max(s.last_event_id for s in states.values()) == 3
    # one reading, and no further than the newest event of the bed found last (bed-c's offset of event 1)
    assert len(consumed) == len(LOG) - 2
    # each bed's answer is what reading the log for it alone gives, and what it gave before (less the ack)
    for bed, matches in MATCHERS.items():
        assert states[bed] == reconcile_log(_lines(LOG), matches), bed
        assert _without_ack(states[bed]) == _one_bed_reading(_lines(LOG), matches), bed


def test_garbage_lines_however_deep_are_skipped_as_the_alert_log_skips_them():
    """A torn line, bytes that are not UTF-8 and a line nested past the JSON parser's recursion limit (in the log
    by a disk fault, or by hand): skipped, the rest read as without them; before, the deep one gave up the whole
    reading (event ids from 1 again, the open events never closed)."""
    garbage = [b'{"type":"seizure.onset","event_id":', b'\xff\xfe "seizure.', b"[" * 100_000 + b'"seizure.']
    lines = _lines(LOG)
    states = reconcile_streams([*garbage, *lines[:3], *garbage, *lines[3:]], MATCHERS)  # before and after all seen
    assert states == reconcile_streams(lines, MATCHERS)


def test_a_bed_never_logged_does_not_have_every_line_parsed_when_its_stream_can_be_told_by_bytes(monkeypatch):
    """A bed added later (discovered, or by a reload) whose stream was never logged: without needles every line is
    parsed for it, back to the first (a month's log stalled the loop past the watchdog); with its name as a needle
    only the event lines and those holding it are, and every bed's answer is the same."""
    import realtime.alarm as alarm

    log = [_beat(float(t), "bed-c") for t in range(2000)] + LOG  # a long history of heartbeats, then LOG
    matchers = {**MATCHERS, "bed-new": _matcher("amp-new")}
    needles = {bed: json.dumps(STREAMS[bed]["name"]).encode() for bed in MATCHERS} | {"bed-new": b'"amp-new"'}
    parsed = []
    real_loads = json.loads
    monkeypatch.setattr(alarm.json, "loads", lambda b: parsed.append(b) or real_loads(b))
    plain = reconcile_streams(_lines(log), matchers)
    everything, parsed[:] = len(parsed), []
    assert reconcile_streams(_lines(log), matchers, needles) == plain
    assert everything >= len(log) and len(parsed) < 20  # the event lines and a few heartbeats of the beds seen
    assert plain["bed-new"].open_onset is None and plain["bed-new"].last_event_id == 3


def test_the_restart_offsets_close_each_open_event_once():
    states = settle_restarts(reconcile_streams(_lines(LOG), MATCHERS), MATCHERS)
    assert [s.open_onset["event_id"] if s.open_onset else None for s in states.values()] == [2, 3, None]
    # two beds whose criteria take the same stream (bed-x: any stream of type EEG): the first one closes the
    # event; the second would find that offset as its newest event message, so it has nothing to close
    overlapping = {"bed-a": MATCHERS["bed-a"], "bed-x": _type_eeg}
    both = reconcile_streams(_lines(LOG), overlapping)
    assert both["bed-x"].open_onset is not None
    settled = settle_restarts(both, overlapping)
    assert settled["bed-a"].open_onset["event_id"] == 2 and settled["bed-x"].open_onset is None
    assert settled["bed-x"].last_event_id == both["bed-x"].last_event_id


def _type_eeg(stream) -> bool:
    return stream["type"] == "EEG"


def test_no_beds_read_nothing_and_an_empty_log_has_no_events():
    consumed: list[bytes] = []
    assert reconcile_streams(_counted(_lines(LOG), consumed), {}) == {} and consumed == []
    assert reconcile_streams([], MATCHERS) == dict.fromkeys(MATCHERS, LogState())


def test_a_bed_never_in_the_log_reads_it_whole_and_the_others_keep_their_answers():
    matchers = {**MATCHERS, "bed-new": _matcher("amp-new")}
    states = reconcile_streams(_lines(LOG), matchers)
    assert states["bed-new"] == LogState(3, None, None)
    assert {k: v for k, v in states.items() if k != "bed-new"} == reconcile_streams(_lines(LOG), MATCHERS)


# The one-bed reading before the log was read once for all beds, kept as the reference of what each bed gets.
def _one_bed_reading(lines_newest_first, matches) -> LogState:
    """The reading of the log for one bed as it was before the one reading for all beds (the reference)."""
    last_event_id = 0
    last_time: float | None = None
    reannounced: dict[int, float] = {}  # event_id -> its newest reannounce probability
    closed: set[int] = set()  # event ids with an offset newer than the line being read
    for line in lines_newest_first:
        if last_time is not None and _SEIZURE not in line:
            continue
        try:
            msg = json.loads(line)
        except (ValueError, UnicodeDecodeError):
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
        if not _stream_ok(stream) or not matches(stream):
            continue
        if last_time is None and _number(msg.get("time")):
            last_time = float(msg["time"])
        if kind == "seizure.reannounce" and _number(msg.get("probability")):
            reannounced.setdefault(eid, float(msg["probability"]))
        elif kind == "seizure.offset":
            return LogState(last_event_id, None, last_time)
        elif kind == "seizure.onset" and _number(msg.get("time")) and _number(msg.get("probability")):
            if eid in closed:
                return LogState(last_event_id, None, last_time)
            onset_time = float(msg["time"])
            end = onset_time if last_time is None else max(last_time, onset_time)
            return LogState(last_event_id, msg, end, reannounced.get(eid, float(msg["probability"])))
    return LogState(last_event_id, None, last_time)


def _without_ack(state: LogState) -> LogState:
    return LogState(state.last_event_id, state.open_onset, state.last_time, state.probability)


def _message(kind: str, eid: int, t: float, bed: str) -> dict:
    if kind == "onset":
        return _onset(eid, t, bed, p=0.5 + eid / 10)
    if kind == "offset":
        return _offset(eid, t, bed)
    if kind == "ack":
        return _ack(eid, t, bed)
    if kind == "rean":
        return _rean(eid, t, bed, p=0.6)
    return _beat(t, bed)


_KINDS = st.sampled_from(["beat", "onset", "offset", "ack", "rean", "torn"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_KINDS, st.sampled_from(sorted(STREAMS)), st.integers(1, 4)), max_size=30))
def test_one_reading_gives_every_bed_what_reading_for_it_alone_gives(events):
    messages, lines = [], []
    for i, (kind, bed, eid) in enumerate(events):
        t = float(i)
        if kind == "torn":
            lines.append(b'{"schema":"realtime-detect/1","type":"seizure.on')
            continue
        msg = _message(kind, eid, t, bed)
        messages.append(msg)
        lines.append(json.dumps(msg, separators=(",", ":")).encode())
    newest_first = list(reversed(lines))
    matchers = {**MATCHERS, "bed-x": _type_eeg}
    read: list[bytes] = []
    together = reconcile_streams(_counted(newest_first, read), matchers)
    deepest = 0
    for bed, matches in matchers.items():
        alone: list[bytes] = []
        assert together[bed] == reconcile_log(newest_first, matches), bed
        assert _without_ack(together[bed]) == _one_bed_reading(_counted(newest_first, alone), matches), bed  # as before
        deepest = max(deepest, len(alone))
    assert len(read) == deepest  # one reading, as far as the bed that needs the most: no further
