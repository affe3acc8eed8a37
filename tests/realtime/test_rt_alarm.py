"""realtime.alarm.AlarmTracker: acknowledgement and re-announcement of the open event (pure), and the
seizure.ack / seizure.reannounce messages."""

from __future__ import annotations

import pytest

from realtime.alarm import AlarmTracker
from realtime.messages import (
    Envelope,
    MessageError,
    ack_message,
    decode,
    encode,
    heartbeat_message,
    reannounce_message,
    validate,
)

ENV = Envelope.of({"name": "bed1", "type": "EEG", "source_id": "amp-1"}, "host", "toy-1")


def test_an_ack_of_the_open_event_is_accepted_once():
    t = AlarmTracker(reannounce_s=60)
    t.opened(3, onset_time=100.0, now_mono=0.0)
    assert not t.acknowledged
    first = t.acknowledge(3, "station-1", "seen", now_wall=1.7e9)
    assert first.accepted and first.reply["ok"] and first.reply["by"] == "station-1" and t.acknowledged
    again = t.acknowledge(3, "station-2", "", now_wall=1.7e9 + 5)
    assert not again.accepted and again.reply["ok"] and again.reply["already"]
    assert again.reply["detail"] == "already acknowledged by station-1 at 2023-11-14T22:13:20+00:00"
    assert t.open.acked_by == "station-1" and t.open.note == "seen"


@pytest.mark.parametrize(
    ("open_id", "event_id", "error"),
    [
        (None, 3, "event 3 is not open (no event is open)"),
        (4, 3, "event 3 is not open (the open event is 4)"),
        (4, "4", "event_id: expected an integer >= 1, got '4'"),
        (4, True, "event_id: expected an integer >= 1, got True"),
        (4, 0, "event_id: expected an integer >= 1, got 0"),
    ],
)
def test_an_ack_of_anything_but_the_open_event_is_refused_quoting_it(open_id, event_id, error):
    t = AlarmTracker(reannounce_s=60)
    if open_id is not None:
        t.opened(open_id, 100.0, 0.0)
    out = t.acknowledge(event_id, "station-1", "", 1.7e9)
    assert not out.accepted and out.reply == {"error": error}
    assert not t.acknowledged


def test_a_bad_name_or_note_is_refused():
    t = AlarmTracker(reannounce_s=60)
    t.opened(1, 100.0, 0.0)
    assert t.acknowledge(1, "", "", 1.0).reply == {"error": "by: expected the client's name, got ''"}
    assert "got 201 characters" in t.acknowledge(1, "a", "x" * 201, 1.0).reply["error"]
    assert "got 5" in t.acknowledge(1, "a", 5, 1.0).reply["error"]


def test_an_acknowledgement_that_could_not_be_published_is_withdrawn():
    """The daemon withdraws an accepted acknowledgement its seizure.ack could not be logged and published for: the
    event is re-announced and may be acknowledged again, as every station still sees it."""
    t = AlarmTracker(reannounce_s=60)
    t.opened(1, 100.0, now_mono=0.0)
    assert t.acknowledge(1, "station-1", "seen", 1.0).accepted and t.due_reannounce(60.0) is None
    t.withdraw_ack(2)  # another event: nothing changes
    assert t.acknowledged
    t.withdraw_ack(1)
    assert not t.acknowledged and t.due_reannounce(60.0) == 1
    assert t.acknowledge(1, "station-2", "", 61.0).reply["already"] is False


def test_after_the_offset_an_ack_is_refused_and_a_new_event_starts_unacknowledged():
    t = AlarmTracker(reannounce_s=60)
    t.opened(1, 100.0, 0.0)
    t.acknowledge(1, "station-1", "", 1.0)
    t.closed(2)  # another event's offset changes nothing
    assert t.acknowledged
    t.closed(1)
    assert t.open is None and not t.acknowledged
    assert t.acknowledge(1, "station-1", "", 2.0).reply["error"] == "event 1 is not open (no event is open)"
    t.opened(2, 300.0, 50.0)
    assert not t.acknowledged


def test_reannouncements_every_interval_until_acknowledged():
    t = AlarmTracker(reannounce_s=60)
    assert t.due_reannounce(1000.0) is None  # nothing open
    t.opened(1, 100.0, now_mono=10.0)
    assert [t.due_reannounce(s) for s in (10.0, 69.9, 70.0, 70.1, 129.9, 130.0)] == [None, None, 1, None, None, 2]
    assert t.due_reannounce(500.0) == 3  # after a stall: one, not a burst
    assert t.due_reannounce(559.0) is None and t.due_reannounce(560.0) == 4
    t.acknowledge(1, "station-1", "", 1.0)
    assert t.due_reannounce(10_000.0) is None


def test_reannouncements_stop_at_the_offset_and_count_anew_for_the_next_event():
    t = AlarmTracker(reannounce_s=10)
    t.opened(1, 100.0, now_mono=0.0)
    assert t.due_reannounce(10.0) == 1
    t.closed(1)
    assert t.due_reannounce(100.0) is None
    t.opened(2, 200.0, now_mono=100.0)
    assert t.due_reannounce(110.0) == 1


def test_zero_turns_reannouncement_off_and_a_reload_applies_a_new_interval():
    t = AlarmTracker(reannounce_s=0)
    t.opened(1, 100.0, now_mono=0.0)
    assert t.due_reannounce(1e6) is None
    t.set_interval(30)
    assert t.due_reannounce(29.0) is None and t.due_reannounce(30.0) == 1  # counted from the onset
    t = AlarmTracker(reannounce_s=60)
    t.opened(1, 100.0, now_mono=0.0)
    t.set_interval(5)
    assert t.due_reannounce(4.9) is None and t.due_reannounce(5.0) == 1
    for bad in (-1, float("inf"), float("nan"), "60"):
        with pytest.raises(ValueError, match="reannounce_s"):
            t.set_interval(bad)  # type: ignore[arg-type]


def test_ack_and_reannounce_messages_round_trip_and_are_validated():
    stamp = {"seq": 5, "wall_time": 1.7e9}
    ack = {**ack_message(ENV, time=12.5, event_id=3, by="station-1", note="seen", ack_time=1.7e9), **stamp}
    rean = {**reannounce_message(ENV, time=70.0, event_id=3, count=1, onset_time=10.0, probability=0.8), **stamp}
    assert decode(encode(ack)) == ack and decode(encode(rean)) == rean
    assert encode(ack)[0] == b"seizure.ack" and encode(rean)[0] == b"seizure.reannounce"
    with pytest.raises(MessageError, match=r"'count'.*0"):
        validate({**rean, "count": 0})
    with pytest.raises(MessageError, match="'by'"):
        validate({**ack, "by": None})
    beat = heartbeat_message(
        ENV, time=1.0, state="connected", alarm_active=True, windows_total=1, uptime_s=1.0, alarm_acknowledged=True
    )
    assert beat["alarm_acknowledged"] is True
    validate({**beat, **stamp})
    with pytest.raises(MessageError, match="alarm_acknowledged"):
        validate({**beat, **stamp, "alarm_acknowledged": "yes"})
