"""Message builders, sequencing, encode/decode round trips and validation errors."""

from __future__ import annotations

import json
import math

import pytest

from realtime.decision import DecisionEvent
from realtime.messages import (
    SCHEMA,
    Envelope,
    MessageError,
    Sequencer,
    decode,
    encode,
    heartbeat_message,
    offset_message,
    onset_message,
    signal_message,
    window_status_message,
)
from realtime.pipeline import StreamIdentity

ENV = Envelope.of(StreamIdentity("EEG-bed3", "EEG", "amp-42"), "ward-pc", "inception-2026.11.24")
ONSET = DecisionEvent("onset", 7, 100.5, 0.93, (2, 0), None, None, 96.4, 100.5, 102.5)
OFFSET = DecisionEvent("offset", 7, 160.0, 0.2, (), 100.5, 59.5, 155.9, 160.0, 170.0)


def all_messages():
    return [
        onset_message(ONSET, ENV, ["Fp1", "Fp2", "T3"]),
        offset_message(OFFSET, ENV, []),
        heartbeat_message(ENV, time=5.0, state="connected", alarm_active=True, windows_total=12, uptime_s=3.5),
        signal_message(ENV, time=6.0, state="lost", detail="no samples for 3.0 s"),
    ]


def test_round_trip_every_type():
    seq = Sequencer(41)
    for msg in all_messages():
        stamped = seq.stamp(msg, wall_time=1.7e9)
        frames = encode(stamped)
        assert frames[0] == stamped["type"].encode()
        assert decode(frames) == stamped
    assert seq.last == 45


def test_onset_fields():
    msg = Sequencer().stamp(onset_message(ONSET, ENV, ["Fp1", "Fp2", "T3"]))
    assert msg["schema"] == SCHEMA and msg["seq"] == 1 and msg["type"] == "seizure.onset"
    assert msg["channels"] == ["T3", "Fp1"] and msg["event_id"] == 7 and msg["time"] == 100.5
    assert (msg["window_start"], msg["window_end"], msg["publish_time"]) == (96.4, 100.5, 102.5)
    assert msg["stream"] == {"name": "EEG-bed3", "type": "EEG", "source_id": "amp-42"}
    assert msg["host"] == "ward-pc" and msg["model_version"] == "inception-2026.11.24"
    assert isinstance(msg["wall_time"], float)


def test_sequencer_continues_and_is_strictly_increasing():
    seq = Sequencer(1000)
    seqs = [seq.stamp({})["seq"] for _ in range(5)]
    assert seqs == [1001, 1002, 1003, 1004, 1005]
    with pytest.raises(ValueError, match="got -1"):
        Sequencer(-1)


def stamped_onset() -> dict:
    return Sequencer().stamp(onset_message(ONSET, ENV, ["Fp1", "Fp2", "T3"]))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda m: m.update(schema="realtime-detect/2"), "'realtime-detect/2'"),
        (lambda m: m.pop("seq"), "lacks required field 'seq'"),
        (lambda m: m.update(seq="3"), "field 'seq': expected int, got '3'"),
        (lambda m: m.update(seq=True), "field 'seq': expected int, got True"),
        (lambda m: m.update(probability="high"), "field 'probability': expected a number, got 'high'"),
        (lambda m: m.update(channels=[1, 2]), r"got \[1, 2\]"),
        (lambda m: m.update(stream={"name": "x", "type": "EEG"}), "stream.source_id"),
        (lambda m: m.update(type="seizure.maybe"), "'seizure.maybe'"),
    ],
)
def test_decode_quotes_bad_values(mutate, message):
    msg = stamped_onset()
    mutate(msg)
    frames = [b"seizure.onset", json.dumps(msg).encode()]
    with pytest.raises(MessageError, match=message):
        decode(frames)


def test_decode_rejects_bad_frames():
    good = encode(stamped_onset())
    with pytest.raises(MessageError, match="expected 2 frames"):
        decode(good[:1])
    with pytest.raises(MessageError, match="unknown topic 'alerts'"):
        decode([b"alerts", good[1]])
    with pytest.raises(MessageError, match=r"does not match the message type 'seizure.onset'"):
        decode([b"seizure.offset", good[1]])
    with pytest.raises(MessageError, match="not valid JSON"):
        decode([b"seizure.onset", b"{not json"])
    with pytest.raises(MessageError, match="NaN"):
        decode([b"seizure.onset", good[1].replace(b'"probability":0.93', b'"probability":NaN')])
    # what a hostile or broken peer may send: the promised MessageError, never a RecursionError or a bare ValueError
    with pytest.raises(MessageError, match="RecursionError"):
        decode([b"seizure.onset", b"[" * 100_000])
    with pytest.raises(MessageError, match="not valid JSON"):
        decode([b"seizure.onset", b'{"seq": ' + b"9" * 5000 + b"}"])


def test_encode_refuses_nan_and_unstamped():
    msg = stamped_onset()
    msg["probability"] = math.nan
    with pytest.raises(MessageError, match="probability"):
        encode(msg)
    with pytest.raises(MessageError, match="lacks required field 'seq'"):
        encode(onset_message(ONSET, ENV, ["Fp1", "Fp2", "T3"]))
    with pytest.raises(MessageError, match="got 'asleep'"):
        heartbeat_message(ENV, time=0, state="asleep", alarm_active=False, windows_total=0, uptime_s=0)
    with pytest.raises(MessageError, match="needs an onset event, got kind 'offset'"):
        onset_message(OFFSET, ENV, [])


def window_result(probability: float, raw: float, channel_probabilities: list[float]):
    import numpy as np

    from realtime.pipeline import WindowResult

    return WindowResult(
        window_start=96.404,
        window_end=100.5,
        newest_sample_time=100.5,
        probability=probability,
        channel_probabilities=np.array(channel_probabilities),
        events=[],
        raw_probability=raw,
    )


def test_a_window_status_message_is_outside_the_sequence():
    seq = Sequencer(41, run="r1")
    res = window_result(0.42, 0.5, [0.1, math.nan, 0.5])
    msg = seq.mark(window_status_message(res, ENV, alarm_active=True, windows_total=7), wall_time=1.7e9)
    assert msg["type"] == "status.window" and "seq" not in msg and msg["run"] == "r1" and seq.last == 41
    assert (msg["time"], msg["window_start"], msg["window_end"]) == (100.5, 96.404, 100.5)
    assert (msg["probability"], msg["raw_probability"], msg["channels_scored"]) == (0.42, 0.5, 2)
    assert msg["alarm_active"] is True and msg["windows_total"] == 7
    assert decode(encode(msg)) == msg
    # no channel scored: the probabilities are null (JSON has no NaN), not left out
    empty = seq.mark(window_status_message(window_result(math.nan, math.nan, [math.nan] * 3), ENV, **FLAGS))
    assert (empty["probability"], empty["raw_probability"], empty["channels_scored"]) == (None, None, 0)
    assert json.loads(encode(empty)[1])["probability"] is None
    # it never takes a number of the alarm sequence, and a numbered one is refused
    with pytest.raises(MessageError, match="outside the sequence"):
        seq.stamp(window_status_message(res, ENV, **FLAGS))
    assert seq.last == 41
    with pytest.raises(MessageError, match=r"field 'seq': a status\.window message is outside the alarm sequence"):
        decode([encode(msg)[0], json.dumps(msg | {"seq": 42}).encode()])
    with pytest.raises(MessageError, match=r"only .*status\.window.* go without a seq"):
        seq.mark(heartbeat_message(ENV, time=5.0, state="connected", alarm_active=False, windows_total=1, uptime_s=1))
    for field in ("run", "probability", "windows_total"):
        with pytest.raises(MessageError, match=f"lacks required field '{field}'"):
            encode({k: v for k, v in msg.items() if k != field})
    with pytest.raises(MessageError, match="field 'windows_total': expected an integer >= 1, got 0"):
        encode(msg | {"windows_total": 0})
    with pytest.raises(MessageError, match="field 'probability': expected a number, got 'x'"):
        encode(msg | {"probability": "x"})


FLAGS = {"alarm_active": False, "windows_total": 1}
