"""realtime.alarm.reconcile_log / lines_newest_first: what the alert log says at start (pure, and a real file)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from realtime.alarm import LogState, lines_newest_first, reconcile_log
from realtime.inlet import StreamSpec
from realtime.messages import MessageError, restart_offset_message, validate

BED1 = {"name": "bed1", "type": "EEG", "source_id": "amp-1"}
BED2 = {"name": "bed2", "type": "EEG", "source_id": "amp-2"}


def _msg(kind: str, t: float, stream=BED1, **fields) -> dict:
    return {"schema": "realtime-detect/1", "type": kind, "time": t, "stream": dict(stream), **fields}


def _onset(eid: int, t: float, p: float = 0.9, stream=BED1) -> dict:
    return _msg("seizure.onset", t, stream, event_id=eid, probability=p, channels=["C0"])


def _offset(eid: int, t: float, stream=BED1) -> dict:
    return _msg("seizure.offset", t, stream, event_id=eid, onset_time=t - 10, duration_s=10.0, probability=0.1)


def _beat(t: float, stream=BED1) -> dict:
    return _msg("status.heartbeat", t, stream, state="connected", alarm_active=True, windows_total=1, uptime_s=1.0)


def _lines(messages: list[dict]) -> list[bytes]:
    return [json.dumps(m, separators=(",", ":")).encode() for m in reversed(messages)]  # newest first


def _bed1(stream) -> bool:
    return StreamSpec(name="bed1").matches(stream["name"], stream["type"], stream["source_id"])


def test_an_empty_log_has_no_events():
    assert reconcile_log([], _bed1) == LogState(0, None, None, None)


def test_an_onset_without_an_offset_is_open_until_the_last_sign_of_life():
    log = [_onset(1, 100.0), _offset(1, 130.0), _beat(140.0), _onset(2, 200.0, p=0.93), _beat(205.0), _beat(210.0)]
    state = reconcile_log(_lines(log), _bed1)
    assert state.last_event_id == 2
    assert state.open_onset is not None and state.open_onset["event_id"] == 2
    assert state.last_time == 210.0 and state.probability == 0.93


def test_a_closed_last_event_leaves_nothing_open_and_ids_continue():
    state = reconcile_log(_lines([_onset(6, 100.0), _beat(105.0), _offset(6, 120.0), _beat(125.0)]), _bed1)
    assert state.last_event_id == 6 and state.open_onset is None and state.last_time == 125.0


def test_the_newest_reannouncement_gives_the_probability_of_the_open_event():
    rean = [
        _msg("seizure.reannounce", 160.0 + 60 * i, event_id=3, count=i + 1, onset_time=100.0, probability=p)
        for i, p in enumerate((0.8, 0.71))
    ]
    state = reconcile_log(_lines([_onset(3, 100.0, p=0.95), *rean]), _bed1)
    assert state.open_onset["event_id"] == 3 and state.probability == 0.71 and state.last_time == 220.0


def test_an_acknowledged_event_is_still_open():
    ack = _msg("seizure.ack", 150.0, event_id=4, by="station-1", note="", ack_time=1.7e9)
    state = reconcile_log(_lines([_onset(4, 100.0), ack]), _bed1)
    assert state.open_onset["event_id"] == 4 and state.last_time == 150.0


def test_another_streams_events_count_for_ids_but_are_not_this_daemons():
    log = [_onset(1, 100.0), _offset(1, 110.0), _onset(2, 200.0, stream=BED2), _beat(300.0, stream=BED2)]
    state = reconcile_log(_lines(log), _bed1)
    assert state.last_event_id == 2 and state.open_onset is None and state.last_time == 110.0
    assert reconcile_log(_lines(log), lambda s: s["name"] == "bed2").open_onset["event_id"] == 2


def test_an_offset_from_another_source_id_still_closes_the_event():
    # the spec names the bed; the offset came after the device changed (another source id, same name)
    other = {**BED1, "source_id": "amp-9"}
    state = reconcile_log(_lines([_onset(5, 100.0), _offset(5, 150.0, stream=other)]), _bed1)
    assert state.open_onset is None and state.last_event_id == 5


def test_torn_and_foreign_lines_are_skipped():
    lines = [b'{"schema":"realtime-detect/1","type":"status.hea', b"not json", b"[1, 2]", *_lines([_onset(2, 5.0)])]
    state = reconcile_log(lines, _bed1)
    assert state.open_onset["event_id"] == 2 and state.last_time == 5.0


def test_reading_stops_at_the_newest_event_of_the_stream():
    consumed = []

    def lines():
        for line in _lines([_onset(1, 1.0), _offset(1, 2.0), _onset(2, 3.0), _beat(4.0)]):
            consumed.append(line)
            yield line

    reconcile_log(lines(), _bed1)
    assert len(consumed) == 2  # the heartbeat and the onset of event 2; nothing older


def test_restart_offset_message_is_a_valid_offset_with_its_reason():
    from realtime.messages import Envelope

    msg = restart_offset_message(Envelope.of(BED1, "h", "m"), event_id=2, onset_time=200.0, time=210.5, probability=0.9)
    validate({**msg, "seq": 1, "wall_time": time.time()})
    assert msg["reason"] == "restart" and msg["duration_s"] == 10.5 and "window_end" not in msg
    with pytest.raises(MessageError, match="'because'"):
        validate({**msg, "seq": 1, "wall_time": 1.0, "reason": "because"})


def test_lines_newest_first_reads_a_file_backwards_across_blocks(tmp_path: Path):
    path = tmp_path / "alerts.jsonl"
    assert list(lines_newest_first(path)) == []  # missing: nothing
    lines = [f'{{"n":{i},"pad":"{"x" * (i % 37)}"}}'.encode() for i in range(500)]
    path.write_bytes(b"\n".join(lines) + b"\n\n" + b'{"torn')
    got = list(lines_newest_first(path, block_bytes=64))
    assert got == [b'{"torn', *reversed(lines)]


def test_a_large_log_of_heartbeats_is_reconciled_quickly(tmp_path: Path):
    path = tmp_path / "alerts.jsonl"
    line = json.dumps(_beat(0.0), separators=(",", ":")).replace('"time":0.0', '"time":%d')
    beats = "\n".join(line % t for t in range(100_000)).encode()  # ~20 MB, oldest first
    path.write_bytes(_lines([_onset(7, 0.5)])[0] + b"\n" + beats + b"\n")
    t0 = time.perf_counter()
    state = reconcile_log(lines_newest_first(path), _bed1)
    elapsed = time.perf_counter() - t0
    assert state.open_onset["event_id"] == 7 and state.last_time == 99_999.0
    assert elapsed < 5.0, elapsed  # a byte search per heartbeat line, no JSON parsing (about 0.1 s here)
