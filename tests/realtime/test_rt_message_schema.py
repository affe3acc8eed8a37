"""schemas/alert-message.schema.json (JSON Schema draft 2020-12) against the messages the code makes.

Every message the builders make (stamped by a real Sequencer; ``status.window`` marked, without ``seq``, from
the windows of a real decision machine) validates; every mutation that ``messages.validate`` refuses, the
schema refuses too; the schema's enums and limits are the code's; every line of a real Publisher's alert
log, every frame it sends (``status.window`` included, which is neither logged nor replayed) and every
replayed message validates; so do the onset/offset lines of offline review through the daemon's pipeline.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from realtime import messages as m
from realtime.config import DecisionConfig
from realtime.decision import DecisionMachine
from realtime.messages import (
    Envelope,
    MessageError,
    Sequencer,
    ack_message,
    event_messages,
    heartbeat_message,
    quality_detail,
    reannounce_message,
    restart_offset_message,
    signal_message,
    validate,
    window_status_message,
)
from realtime.pipeline import StreamIdentity, WindowResult

REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO / "schemas" / "alert-message.schema.json"
SEIZURE_EDF = REPO / "realtime" / "data" / "chbmit" / "chb01_03_Seizure.edf"

ENV = Envelope.of(StreamIdentity("bed3", "EEG", "amp-42"), "ward-pc", "inception-2026.11.24-fixeduv")
CHANNELS = ["FP1-F7", "F7-T7", "T7-P7", "P7-O1", "FP1-F3", "F3-C3", "C3-P3", "P3-O1", "FZ-CZ", "CZ-PZ"]
LSL_T0 = 51234.5  # an LSL clock reading (seconds since the machine booted)


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(validator: Draft202012Validator, message: Any) -> list[str]:
    """The schema's errors, the most relevant first (``best_match``)."""
    errors = list(validator.iter_errors(message))
    if not errors:
        return []
    best = best_match(errors)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(message)'}: {e.message:.300}" for e in (best, *errors)]


def decided_windows() -> tuple[list[Any], list[dict]]:
    """One seizure on 10 channels, 1 s hops, through the real decision machine: its onset and offset, and the
    ``status.window`` message (unmarked) of every window, the last one with every channel left out."""
    machine = DecisionMachine(
        DecisionConfig(settle_s=0.0, min_duration_s=2.0, prolonged_s=10.0), hop_s=1.0, window_s=4.096
    )
    events, windows = [], []
    for i in range(41):
        probs = np.full(len(CHANNELS), 0.05)
        if 10 <= i < 25:
            probs[[2, 3, 6, 7]] = [0.97, 0.93, 0.91, 0.88]  # T7-P7, P7-O1, C3-P3, P3-O1 seize
        probs[8] = np.nan  # FZ-CZ flat: left out of every window
        if i == 40:
            probs[:] = np.nan  # every channel left out: no probability
        end = LSL_T0 + 4.096 + i
        decided = machine.step(end, end - 4.096, end, probs)
        events += decided
        result = WindowResult(
            window_start=end - 4.096,
            window_end=end,
            newest_sample_time=end,
            probability=machine.last_probability,
            channel_probabilities=probs,
            events=decided,
            raw_probability=machine.last_raw_probability,
        )
        windows.append(window_status_message(result, ENV, alarm_active=machine.alarm_active, windows_total=i + 1))
    assert [e.kind for e in events] == ["onset", "prolonged", "offset"]
    return events, windows


def decided_events() -> list[Any]:
    """Onset, prolonged (at 10 s) and offset of one seizure, decided by the real decision machine on 10 channels,
    1 s hops."""
    return decided_windows()[0]


def bed_session() -> list[dict]:
    """Unstamped messages of one bed's session, from every builder, as the daemon sends them."""
    events = decided_events()
    onset, prolonged, offset = event_messages(events, ENV, CHANNELS)
    # the same offset, its scaled channels' background first learned while the event was open (a connection's start)
    learned = event_messages([dataclasses.replace(events[-1], background_learned=(0, 3))], ENV, CHANNELS)[0]
    assert learned["background_learned"] == [CHANNELS[0], CHANNELS[3]] and "background_learned" not in offset
    # the same onset, two of its channels above the scaler's limit before their background was known
    unknown = event_messages([dataclasses.replace(events[0], background_unknown=(1, 2))], ENV, CHANNELS)[0]
    assert unknown["background_unknown"] == [CHANNELS[1], CHANNELS[2]] and "background_unknown" not in onset
    t = onset["time"]
    final = heartbeat_message(
        ENV, time=t + 90, state="lost", alarm_active=False, windows_total=80, uptime_s=95.2, alarm_acknowledged=False
    )
    final["final"] = True  # the daemon's last heartbeat before a clean stop
    detail = quality_detail(
        {"FZ-CZ": "flat"},
        {"T7-P7": "amplitude_high"},
        n_channels=len(CHANNELS),
        median_uv={"T7-P7": 612.0},
        low_uv=8.7,
        high_uv=465.0,
        max_std_uv=5000.0,
    )
    return [
        heartbeat_message(ENV, time=LSL_T0 - 2, state="waiting", alarm_active=False, windows_total=0, uptime_s=0.4),
        signal_message(ENV, time=LSL_T0, state="connected", detail="bed3 (EEG, amp-42): 10 channels at 256 Hz"),
        signal_message(ENV, time=LSL_T0 + 7, state="quality", detail=detail),
        signal_message(
            ENV,
            time=LSL_T0 + 9,
            state="clock",
            detail="timestamps jumped by -3600.000 s at sample 2304; decisions keep the sample clock, message "
            "times follow the stream's clock",
        ),
        onset,
        heartbeat_message(
            ENV,
            time=t + 1,
            state="connected",
            alarm_active=True,
            windows_total=22,
            uptime_s=26.1,
            alarm_acknowledged=False,
        ),
        prolonged,
        reannounce_message(ENV, time=t + 60, event_id=onset["event_id"], count=1, onset_time=t, probability=0.91),
        ack_message(
            ENV, time=t + 70, event_id=onset["event_id"], by="nurse-station-3", note="at the bedside", ack_time=1.8e9
        ),
        ack_message(ENV, time=t + 71, event_id=onset["event_id"], by="station-1", note="", ack_time=1.8e9 + 1),
        heartbeat_message(
            ENV,
            time=t + 72,
            state="connected",
            alarm_active=True,
            windows_total=30,
            uptime_s=34,
            alarm_acknowledged=True,
        ),
        offset,
        learned,
        unknown,
        signal_message(ENV, time=t + 80, state="lost", detail="no samples for 3.0 s"),
        signal_message(ENV, time=t + 85, state="restored", detail="samples again after 5.0 s"),
        restart_offset_message(ENV, event_id=2, onset_time=t + 86, time=t + 89.5, probability=0.84),
        final,
    ]


def window_session() -> list[dict]:
    """Unmarked ``status.window`` messages: quiet, in alarm, no channel scored, and one of a labelled bed."""
    windows = decided_windows()[1]
    quiet, alarm, none = windows[3], next(w for w in windows if w["alarm_active"]), windows[-1]
    assert quiet["probability"] < 0.5 and alarm["probability"] > 0.6 and alarm["channels_scored"] == 9
    assert none["probability"] is None and none["raw_probability"] is None and none["channels_scored"] == 0
    return [quiet, alarm, none, quiet | {"bed": "ward3-bed7"}]


def stamped_session() -> list[dict]:
    seq = Sequencer(start=41)
    out = [seq.stamp(msg) for msg in bed_session()]
    onset = next(msg for msg in out if msg["type"] == "seizure.onset")
    offline = seq.stamp(onset | {"file": "realtime/data/chbmit/chb01_03_Seizure.edf"})  # offline review's line
    del offline["run"]  # a log from before run ids
    return [*out, offline, *(seq.mark(msg) for msg in window_session())]


def test_the_schema_is_draft_2020_12_and_its_enums_and_limits_are_the_codes(schema):
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    defs = schema["$defs"]
    # the topic picks its definition: {"if": type == topic, "then": {"$ref": "#/$defs/<name>"}}
    branches = {b["if"]["properties"]["type"]["const"]: b["then"] for b in schema["allOf"]}
    assert set(branches) == set(m.TOPICS) == set(schema["properties"]["type"]["enum"])
    assert schema["required"] == ["type"]
    for topic, ref in branches.items():
        assert defs[ref["$ref"].rsplit("/", 1)[1]]["properties"]["type"]["const"] == topic
    envelope = defs["envelope"]["properties"]
    assert envelope["schema"]["const"] == m.SCHEMA
    assert envelope["run"]["maxLength"] == m.RUN_MAX_CHARS
    assert set(defs["heartbeat"]["properties"]["state"]["enum"]) == set(m.HEARTBEAT_STATES)
    assert set(defs["signal"]["properties"]["state"]["enum"]) == set(m.SIGNAL_STATES)
    assert set(defs["offset"]["properties"]["reason"]["enum"]) == set(m.OFFSET_REASONS)
    from realtime.alerts import NOTE_MAX_CHARS

    assert defs["ack"]["properties"]["note"]["maxLength"] == NOTE_MAX_CHARS
    # every field messages.validate requires, the schema requires too (a field added there alone fails here)
    for topic, ref in branches.items():
        branch = defs[ref["$ref"].rsplit("/", 1)[1]]
        required = set(defs["envelope"]["required"]) | set(branch["required"])
        assert set(m.required_fields(topic)) | set(m._NULLABLE_NUMBERS.get(topic, ())) <= required, topic
        # seq: every topic of the alarm sequence requires it; one outside it (status.window) forbids it
        if topic in m.UNSEQUENCED_TOPICS:
            assert "seq" not in required and branch["properties"]["seq"] is False, topic
        else:
            assert "seq" in branch["required"], topic
    assert set(m.SEQUENCED_TOPICS) | set(m.UNSEQUENCED_TOPICS) == set(m.TOPICS)
    assert m.UNSEQUENCED_TOPICS == ("status.window",)


def test_every_message_the_builders_make_validates(validator):
    session = stamped_session()
    assert {msg["type"] for msg in session} == set(m.TOPICS)
    for msg in session:
        validate(msg)  # the Python contract accepts it ...
        assert schema_errors(validator, msg) == [], msg  # ... and so does the schema
        # and the same after a JSON round trip, as a subscriber in another language gets it
        assert schema_errors(validator, json.loads(m.to_json(msg))) == []


WRONG_VALUES = (None, True, False, "x", "", -1, 0, 1.5, -2.5, [], ["x"], [1], {}, {"name": "x"})


def mutations(msg: dict):
    """(what, mutated message): each field deleted, or replaced by values of other types and ranges."""
    for key in msg:
        cut = dict(msg)
        del cut[key]
        yield f"without {key}", cut
        for value in WRONG_VALUES:
            yield f"{key}={value!r}", msg | {key: value}
    for key in ("name", "type", "source_id"):
        stream = dict(msg["stream"])
        del stream[key]
        yield f"stream without {key}", msg | {"stream": stream}
        yield f"stream.{key}=1", msg | {"stream": msg["stream"] | {key: 1}}
    for topic in ("seizure.onsets", "status.other", "seizure"):
        yield f"type={topic!r}", msg | {"type": topic}
    yield "run too long", msg | {"run": "r" * (m.RUN_MAX_CHARS + 1)}


def test_what_messages_validate_refuses_the_schema_refuses(validator):
    refused_by_code = 0
    for msg in stamped_session():
        for what, bad in mutations(msg):
            try:
                validate(bad)
            except MessageError:
                refused_by_code += 1
                assert not validator.is_valid(bad), (
                    f"{msg['type']} {what}: messages.validate refuses it, the schema not"
                )
    assert refused_by_code > 400  # the mutations really exercise the contract
    by_type = {msg["type"]: msg for msg in stamped_session() if "reason" not in msg}
    for topic, field in (("seizure.offset", "background_unknown"), ("seizure.onset", "background_learned")):
        bad = by_type[topic] | {field: ["C3"]}  # each mark on the other event only
        with pytest.raises(MessageError, match=field):
            validate(bad)
        assert not validator.is_valid(bad)
    for not_a_message in ([], "seizure.onset", 3, None):
        with pytest.raises(MessageError):
            validate(not_a_message)
        assert schema_errors(validator, not_a_message)


def test_the_schema_is_stricter_where_it_says_so(validator):
    """What the schema refuses beyond messages.validate, and the one thing JSON Schema cannot say."""
    by_type = {msg["type"]: msg for msg in stamped_session() if "reason" not in msg}
    onset, offset, heartbeat = by_type["seizure.onset"], by_type["seizure.offset"], by_type["status.heartbeat"]
    restart = next(msg for msg in stamped_session() if msg.get("reason") == "restart")
    stricter = {
        "an unknown field": onset | {"severity": "high"},
        "an unknown stream field": onset | {"stream": onset["stream"] | {"ward": "3"}},
        "a probability over 1": onset | {"probability": 1.2},
        "no channels": onset | {"channels": []},
        "seq 0": onset | {"seq": 0},
        "a negative duration": offset | {"duration_s": -1.0},
        "an offset of the signal without its deciding window": {k: v for k, v in offset.items() if k != "publish_time"},
        "a restart offset with a deciding window": restart | {"window_start": 1.0, "window_end": 5.1},
        "final: false": heartbeat | {"final": False},
        "a window message with a seq": by_type["status.window"] | {"seq": 42},
        "a window probability over 1": by_type["status.window"] | {"probability": 1.5},
        "a window without run": {k: v for k, v in by_type["status.window"].items() if k != "run"},
    }
    for what, msg in stricter.items():
        assert schema_errors(validator, msg), what
    # JSON Schema's "integer" is any number without a fraction: 3.0 passes it; the Python contract
    # (and so the daemon and realtime-alerts) refuses it. The schema's description says so.
    three = onset | {"seq": 3.0}
    assert schema_errors(validator, three) == []
    with pytest.raises(MessageError, match="'seq'"):
        validate(three)


@pytest.mark.integration
def test_a_real_publishers_log_frames_and_replay_all_validate(validator, tmp_path):
    """A real Publisher on loopback: every line of its alert log, every [topic, JSON] frame a real SUB
    socket receives and every message its replay socket returns validates against the schema."""
    from realtime.alerts import Publisher, replay_request

    ctx = zmq.Context()
    pub = Publisher("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", tmp_path / "alerts.jsonl", context=ctx)
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    try:
        sub.connect(pub.endpoint)
        session = bed_session()
        for _ in range(200):  # PUB/SUB slow joiner: a heartbeat until one arrives
            pub.publish(session[0])
            if sub.poll(50):
                break
        else:
            raise AssertionError("the subscriber never joined")
        received = []
        sent = [pub.publish(msg) for msg in session]
        while len(received) < len(sent) or received[-1][1]["seq"] < sent[-1]["seq"]:
            assert sub.poll(5000), f"no frame within 5 s after {len(received)}"
            topic, body = sub.recv_multipart()
            received.append((topic.decode(), json.loads(body)))
        received = [(t, msg) for t, msg in received if msg["seq"] >= sent[0]["seq"]]
        assert [msg for _, msg in received] == sent
        for topic, msg in received:
            assert topic == msg["type"] and schema_errors(validator, msg) == [], msg
        # status.window: sent on the PUB socket, valid, without seq; neither logged nor replayed nor numbered
        last = pub.last_seq
        windows = [pub.publish_unlogged(msg) for msg in window_session()]
        after = pub.publish(session[0])
        assert after["seq"] == last + 1  # the alarm sequence did not move
        frames = []
        while not frames or frames[-1][1].get("seq") != after["seq"]:
            assert sub.poll(5000), f"no frame within 5 s after {len(frames)}"
            topic, body = sub.recv_multipart()
            frames.append((topic.decode(), json.loads(body)))
        assert [msg for _, msg in frames] == [*windows, after]
        for topic, msg in frames:
            assert topic == msg["type"] and schema_errors(validator, msg) == [], msg
        assert all("seq" not in msg and msg["run"] == pub.run for msg in windows)
        replayed = replay_request(pub.replay_endpoint, {"since_seq": 0}, timeout_s=5, context=ctx)["messages"]
        assert replayed[-len(sent) - 1 : -1] == sent and replayed[-1] == after
        assert all(schema_errors(validator, msg) == [] for msg in replayed)
    finally:
        sub.close(linger=0)
        pub.close(flush_s=0)
        ctx.term()
    lines = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(replayed) and len(lines) > len(sent)
    for line in lines:
        assert schema_errors(validator, json.loads(line)) == [], line
    assert not any(json.loads(line)["type"] == "status.window" for line in lines)


@pytest.mark.integration
def test_offline_review_messages_of_the_daemons_pipeline_validate(validator, toy_export):
    """The CHB-MIT seizure excerpt through the daemon's pipeline (offline review, the toy export on LiteRT):
    its onset and offset lines, with "file", validate; the channels, window and summary lines are not messages."""
    from realtime.config import build_config
    from realtime.model import load_detector
    from realtime.offline import run_offline

    buf = io.StringIO()
    rc = run_offline(
        [SEIZURE_EDF],
        build_config({"decision": {"on_threshold": 0.8, "smoothing_windows": 3, "min_duration_s": 2.0}}),
        model=load_detector(toy_export, backend="litert"),
        windows=True,
        out=buf,
    )
    assert rc == 0, buf.getvalue()[-2000:]
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    events = [line for line in lines if line["type"].startswith("seizure.")]
    assert [e["type"] for e in events] == ["seizure.onset", "seizure.offset"]
    for msg in events:
        assert msg["file"] == str(SEIZURE_EDF) and schema_errors(validator, msg) == [], msg
    others = {line["type"] for line in lines} - set(m.TOPICS)
    assert others == {"channels", "window", "summary"}
    assert all(schema_errors(validator, line) for line in lines if line["type"] in others)


def test_a_refused_message_is_reported_with_the_field_and_the_value(validator):
    """The topic picks its definition, so a validator's best error names the bad field, not only "no branch"."""
    onset = copy.deepcopy(next(msg for msg in stamped_session() if msg["type"] == "seizure.onset"))
    onset["probability"] = "high"
    error = best_match(validator.iter_errors(onset))
    assert list(error.absolute_path) == ["probability"] and "'high'" in error.message, error
