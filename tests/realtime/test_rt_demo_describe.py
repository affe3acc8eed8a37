"""realtime.demo.describe: one line for every topic the daemon publishes (the demo prints them all)."""

from __future__ import annotations

from realtime import messages as m
from realtime.decision import DecisionEvent
from realtime.demo import describe
from realtime.messages import (
    Envelope,
    Sequencer,
    ack_message,
    heartbeat_message,
    offset_message,
    onset_message,
    prolonged_message,
    reannounce_message,
    restart_offset_message,
    signal_message,
)

ENV = Envelope.of({"name": "demo-1", "type": "EEG", "source_id": "replay-demo"}, host="pc", model_version="toy-1")
T0 = 1000.0  # LSL time of the recording's first sample


def test_every_topic_has_its_own_line_and_none_raises():
    seq = Sequencer()
    msgs = [
        seq.stamp(msg)
        for msg in (
            reannounce_message(ENV, time=T0 + 70, event_id=1, count=2, onset_time=T0 + 9, probability=0.91),
            ack_message(ENV, time=T0 + 75, event_id=1, by="station-1", note="at the bedside", ack_time=1.8e9),
            ack_message(ENV, time=T0 + 76, event_id=1, by="station-2", note="", ack_time=1.8e9),
            restart_offset_message(ENV, event_id=3, onset_time=T0 + 9, time=T0 + 40.5, probability=0.8),
            heartbeat_message(
                ENV,
                time=T0 + 77,
                state="connected",
                alarm_active=True,
                windows_total=70,
                uptime_s=80,
                alarm_acknowledged=True,
            ),
            heartbeat_message(ENV, time=T0 + 78, state="lost", alarm_active=False, windows_total=71, uptime_s=81),
            signal_message(ENV, time=T0 + 79, state="lost", detail="no samples for 3.0 s"),
            prolonged_message(
                DecisionEvent("prolonged", 1, T0 + 309, 0.93, (0,), T0 + 9, 300.0, T0 + 305, T0 + 309, T0 + 309),
                ENV,
                ["T7-P7"],
            ),
        )
    ]
    window = {
        "schema": m.SCHEMA,
        "type": "status.window",
        "time": T0 + 80,
        "window_start": T0 + 75.904,
        "window_end": T0 + 80,
        "probability": 0.12,
        "raw_probability": 0.2,
        "channels_scored": 23,
        "alarm_active": False,
        "windows_total": 77,
        "stream": dict(ENV.stream),
        "host": ENV.host,
        "model_version": ENV.model_version,
    }
    msgs += [seq.mark(window), seq.mark(window | {"probability": None, "raw_probability": None, "alarm_active": True})]
    lines = [describe(msg, T0) for msg in msgs]
    assert lines[0] == "[  70.0 s] SEIZURE STILL OPEN  event 1 not acknowledged (reminder 2, p=0.91)"
    assert lines[1] == "[  75.0 s] seizure event 1 acknowledged by station-1: at the bedside"
    assert lines[2] == "[  76.0 s] seizure event 1 acknowledged by station-2"
    assert lines[3].startswith("[  40.5 s] seizure event 3 closed at start") and "31.5 s" in lines[3]
    assert lines[4] == "[  77.0 s] heartbeat: connected, alarm ON (acknowledged), 70 windows"
    assert lines[5] == "[  78.0 s] heartbeat: lost, alarm off, 71 windows"
    assert lines[6] == "[  79.0 s] signal lost: no samples for 3.0 s"
    assert lines[7] == "[ 309.0 s] SEIZURE PROLONGED  event 1 open for 300 s (status epilepticus?)  p=0.93"
    assert lines[8] == "[  80.0 s] window #77: p=0.12 (raw 0.20), 23 channels scored, alarm off"
    assert lines[9] == "[  80.0 s] window #77: p=-, 23 channels scored, alarm ON"
    assert {msg["type"] for msg in msgs} | {"seizure.onset", "seizure.offset"} == set(m.TOPICS)
    offset = seq.stamp(
        offset_message(
            DecisionEvent("offset", 1, T0 + 33, 0.43, (), T0 + 8, 25.0, T0 + 29, T0 + 33, T0 + 41, (0, 2)),
            ENV,
            ["FP1-F7", "F7-T7", "T7-P7"],
        )
    )
    assert describe(offset, T0) == (
        "[  33.0 s] seizure offset event 1 after 25.0 s (the background of 2 channel(s) was learned during it: a "
        "seizure under way at connection may go on)"
    )
    assert describe(offset | {"background_learned": []}, T0) == "[  33.0 s] seizure offset event 1 after 25.0 s"
    onset = seq.stamp(
        onset_message(
            DecisionEvent("onset", 1, T0 + 8, 0.8, (0, 2), None, None, T0 + 4, T0 + 8, T0 + 8, background_unknown=(2,)),
            ENV,
            ["FP1-F7", "F7-T7", "T7-P7"],
        )
    )
    assert describe(onset, T0) == (
        "[   8.0 s] SEIZURE ONSET  event 1  p=0.80  channels: FP1-F7, T7-P7  (published at 8.0 s) (before the "
        "background of 1 of them was known: a seizure, or a large background)"
    )
    # a topic of a later daemon: a line, not a KeyError
    assert describe(msgs[0] | {"type": "seizure.escalated"}, None) == "[  start ] seizure.escalated message (seq 1)"
