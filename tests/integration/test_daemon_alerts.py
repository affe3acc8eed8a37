"""realtime.alerts: real PUB/SUB and REQ/REP on random loopback ports, a real JSONL log."""

from __future__ import annotations

import json

import pytest
import zmq
from rt_helpers import (
    ENV,
    heartbeat,
    publish_until_received,
    read_log,
    zmq_context,  # noqa: F401 - the fixture ctx
)

from realtime.alerts import AlertLog, Publisher, RecentMessages, Subscriber, default_log_path, replay_request
from realtime.messages import decode, encode, signal_message

pytestmark = pytest.mark.integration


def onset(t: float) -> dict:
    # a seizure.onset built by hand with the contract's fields (the decision machine is tested elsewhere)
    return {
        "schema": "realtime-detect/1",
        "type": "seizure.onset",
        "time": t,
        "stream": dict(ENV.stream),
        "host": "host",
        "model_version": "toy-1",
        "event_id": 1,
        "probability": 0.95,
        "channels": ["C0", "C1"],
        "window_start": t - 4.1,
        "window_end": t,
        "publish_time": t,
    }


def new_publisher(tmp_path, ctx, **kw) -> Publisher:
    return Publisher("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", tmp_path / "alerts.jsonl", context=ctx, **kw)


def subscribe(ctx, endpoint: str) -> zmq.Socket:
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVTIMEO, 3000)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    return sub


def wait_joined(pub: Publisher, sub: zmq.Socket) -> None:
    """PUB/SUB slow joiner: publish heartbeats until one arrives."""
    for _ in range(100):
        pub.publish(heartbeat(0.0))
        if sub.poll(50):
            sub.recv_multipart()
            while sub.poll(50):
                sub.recv_multipart()
            return
    raise AssertionError("subscriber never joined")


def test_publish_logs_before_sending_and_seq_continues_across_restart(tmp_path, ctx):
    sent_topics = []
    pub = new_publisher(tmp_path, ctx, on_published=sent_topics.append)
    sub = subscribe(ctx, pub.endpoint)
    try:
        assert pub.endpoint.startswith("tcp://127.0.0.1:") and not pub.endpoint.endswith("*")
        wait_joined(pub, sub)
        stamped = pub.publish(onset(10.0))
        topic, body = sub.recv_multipart()
        assert topic == b"seizure.onset"
        received = decode([topic, body])
        assert received["seq"] == stamped["seq"] and received["channels"] == ["C0", "C1"]
        assert received["run"] == pub.run and len(pub.run) == 32  # this start's id, beside seq
        # By the time a subscriber has it, it is in the log (written and flushed before sending).
        assert read_log(tmp_path / "alerts.jsonl")[-1] == received
        assert "seizure.onset" in sent_topics
        last = stamped["seq"]
    finally:
        sub.close()
        pub.close(flush_s=0)
    pub2 = new_publisher(tmp_path, ctx)
    try:
        assert pub2.last_seq == last  # a clean close leaves the mark at the last number used
        again = pub2.publish(heartbeat(11.0))
        assert again["seq"] == last + 1 and again["run"] == pub2.run != pub.run
    finally:
        pub2.close(flush_s=0)


def test_replay_returns_missed_messages_and_answers_bad_requests(tmp_path, ctx):
    pub = new_publisher(tmp_path, ctx)
    try:
        seqs = [
            pub.publish(m)["seq"]
            for m in (
                heartbeat(1.0),
                onset(2.0),
                heartbeat(3.0),
                signal_message(ENV, time=4.0, state="lost", detail="cable"),
            )
        ]
        reply = replay_request(pub.replay_endpoint, {"since_seq": seqs[0]}, context=ctx)
        assert [m["seq"] for m in reply["messages"]] == seqs[1:]
        assert reply["more"] is False and reply["last_seq"] == seqs[-1]
        reply = replay_request(
            pub.replay_endpoint, {"since_seq": 0, "topics": ["seizure", "status.signal"]}, context=ctx
        )
        assert [m["type"] for m in reply["messages"]] == ["seizure.onset", "status.signal"]
        reply = replay_request(pub.replay_endpoint, {"since_seq": 0, "limit": 2}, context=ctx)
        assert [m["seq"] for m in reply["messages"]] == seqs[:2] and reply["more"] is True
        for bad, quoted in (
            (b"not json", "not json"),
            ({"since_seq": "7"}, "'7'"),
            ([1, 2], "[1, 2]"),
            ({"since_seq": -1}, "-1"),
            ({"since_seq": 0, "topics": "seizure"}, "'seizure'"),
            ({"since_seq": 0, "colour": "red"}, "colour"),
        ):
            answer = replay_request(pub.replay_endpoint, bad, context=ctx)
            assert set(answer) == {"error"} and quoted in answer["error"], (bad, answer)
        # The REP socket still works after bad requests.
        assert len(replay_request(pub.replay_endpoint, {"since_seq": 0}, context=ctx)["messages"]) == 4
    finally:
        pub.close(flush_s=0)


def test_replay_of_older_messages_reads_the_log_file(tmp_path, ctx):
    pub = new_publisher(tmp_path, ctx)
    first = [pub.publish(heartbeat(float(i)))["seq"] for i in range(5)]
    pub.close(flush_s=0)
    pub = new_publisher(tmp_path, ctx)  # a restarted daemon: its memory is empty, the log is not
    try:
        more = pub.publish(onset(9.0))["seq"]
        reply = replay_request(pub.replay_endpoint, {"since_seq": first[1]}, context=ctx)
        assert [m["seq"] for m in reply["messages"]] == [*first[2:], more]
    finally:
        pub.close(flush_s=0)


def test_replay_beyond_the_memory_budget_reads_the_log_file(tmp_path, ctx):
    pub = new_publisher(tmp_path, ctx)
    pub.recent = RecentMessages(max_bytes=2000)  # a few messages: the rest only in the log
    try:
        seqs = [pub.publish(heartbeat(float(i)))["seq"] for i in range(30)]
        assert 0 < len(pub.recent) < 30
        reply = replay_request(pub.replay_endpoint, {"since_seq": 0}, context=ctx)
        assert [m["seq"] for m in reply["messages"]] == seqs and reply["more"] is False
        reply = replay_request(pub.replay_endpoint, {"since_seq": seqs[-3], "limit": 1}, context=ctx)
        assert [m["seq"] for m in reply["messages"]] == [seqs[-2]] and reply["more"] is True  # from memory
    finally:
        pub.close(flush_s=0)


def test_torn_last_line_is_tolerated_and_logged(tmp_path, ctx, caplog):
    path = tmp_path / "alerts.jsonl"
    pub = new_publisher(tmp_path, ctx)
    good = pub.publish(onset(1.0))["seq"]
    pub.close(flush_s=0)
    with open(path, "ab") as fh:
        fh.write(b'{"schema":"realtime-detect/1","seq":99,"type":"seizure.on')  # power cut mid-write
    with caplog.at_level("WARNING", logger="realtime.alerts"):
        pub = new_publisher(tmp_path, ctx)
    try:
        assert "incomplete or invalid" in caplog.text
        assert pub.last_seq == good
        nxt = pub.publish(heartbeat(2.0))["seq"]
        assert nxt == good + 1
        lines = path.read_bytes().split(b"\n")
        assert json.loads(lines[-2])["seq"] == nxt  # the new message is on a line of its own
        reply = replay_request(pub.replay_endpoint, {"since_seq": 0}, context=ctx)
        assert [m["seq"] for m in reply["messages"]] == [good, nxt]
    finally:
        pub.close(flush_s=0)


def test_subscriber_replays_since_then_follows_live_without_duplicates(tmp_path, ctx):
    pub = new_publisher(tmp_path, ctx)
    warnings = []
    try:
        early = [pub.publish(m)["seq"] for m in (onset(1.0), heartbeat(2.0), onset(3.0))]
        sub = Subscriber(
            pub.endpoint, pub.replay_endpoint, topics=["seizure"], since=early[0], context=ctx, warn=warnings.append
        )
        got = [sub.receive(2.0)]
        assert got[0]["seq"] == early[2]  # replayed: after `since`, seizure topics only
        # Live: the subscriber may join late (slow joiner); whatever it missed is filled from replay.
        live = [pub.publish(onset(float(t)))["seq"] for t in range(4, 8)]
        while len(got) < 5:
            msg = sub.receive(3.0)
            assert msg is not None, f"only got {[m['seq'] for m in got]}"
            got.append(msg)
        assert [m["seq"] for m in got] == [early[2], *live]
        assert sub.receive(0.3) is None
        sub.close()
        assert not warnings
    finally:
        pub.close(flush_s=0)


def test_log_path_defaults_to_the_state_directory_never_the_working_directory(tmp_path):
    assert default_log_path({"STATE_DIRECTORY": f"{tmp_path}/a:{tmp_path}/b"}) == tmp_path / "a" / "alerts.jsonl"
    user = tmp_path / "home"
    assert default_log_path({"XDG_STATE_HOME": f"{tmp_path}/xdg", "HOME": str(user)}) == (
        tmp_path / "xdg" / "realtime-detect" / "alerts.jsonl"
    )
    # A relative XDG_STATE_HOME is invalid (XDG spec) and ignored: the default under $HOME.
    for env in ({"HOME": str(user)}, {"HOME": str(user), "XDG_STATE_HOME": "rel/state"}):
        assert default_log_path(env) == user / ".local" / "state" / "realtime-detect" / "alerts.jsonl"
    assert default_log_path({}).is_absolute()  # never ./alerts.jsonl, even without HOME in the environment


def test_bind_failure_raises_and_releases_the_log(tmp_path, ctx):
    pub = new_publisher(tmp_path, ctx)
    try:
        with pytest.raises(zmq.ZMQError):
            Publisher(pub.endpoint, "tcp://127.0.0.1:*", tmp_path / "other.jsonl", context=ctx)
    finally:
        pub.close(flush_s=0)
    AlertLog(tmp_path / "other.jsonl").close()


def test_an_invalid_message_is_neither_logged_nor_sent_nor_numbered(tmp_path, ctx):
    from realtime.messages import MessageError

    pub = new_publisher(tmp_path, ctx)
    try:
        first = pub.publish(onset(1.0))["seq"]
        bad = onset(2.0)
        bad["probability"] = float("nan")
        with pytest.raises(MessageError, match="probability"):
            pub.publish(bad)
        assert pub.publish(heartbeat(3.0))["seq"] == first + 1
        assert [m["seq"] for m in read_log(tmp_path / "alerts.jsonl")] == [first, first + 1]
    finally:
        pub.close(flush_s=0)


def test_subscriber_fills_a_gap_in_the_sequence_from_replay(tmp_path, ctx):
    pub = new_publisher(tmp_path, ctx)
    try:
        sub = Subscriber(pub.endpoint, pub.replay_endpoint, topics=["seizure"], context=ctx)
        # Live from the start (no --since): wait until the SUB has joined.
        first = publish_until_received(pub, sub, onset, 100)
        assert first is not None
        while sub.receive(0.2) is not None:
            pass
        # A message logged but lost on the way (as if the connection dropped): logged, never sent.
        missed = pub.sequencer.stamp(onset(200.0))
        pub.log.append(missed, durable=True)
        pub.recent.append(missed["seq"], missed["type"], encode(missed)[1])
        pub.publish(heartbeat(201.0))  # the next live message shows the gap (not printed: wrong topic)
        live = pub.publish(onset(202.0))
        got = [sub.receive(2.0), sub.receive(2.0)]
        assert [m["seq"] for m in got] == [missed["seq"], live["seq"]]
        sub.close()
    finally:
        pub.close(flush_s=0)


def window(t: float, n: int) -> dict:
    # a status.window built by hand with the contract's fields (the daemon's are tested in test_daemon_windows.py)
    return {
        "schema": "realtime-detect/1",
        "type": "status.window",
        "time": t,
        "stream": dict(ENV.stream),
        "host": "host",
        "model_version": "toy-1",
        "window_start": t - 4.096,
        "window_end": t,
        "probability": 0.1,
        "raw_probability": 0.1,
        "channels_scored": 4,
        "alarm_active": False,
        "windows_total": n,
    }


def test_window_messages_are_sent_without_seq_never_logged_replayed_or_seen_by_a_seizure_station(tmp_path, ctx):
    """``Publisher.publish_unlogged``: a status.window goes out on PUB only. The alarm sequence, the log and
    replay are those of the other messages; a ``Subscriber`` of ``seizure`` (and a raw SUB of "seizure") never
    receives one, one of ``status.window`` receives each, and neither sees a gap or warns."""
    from realtime.alerts import subscriptions

    published: list[str] = []
    pub = new_publisher(tmp_path, ctx, on_published=published.append)
    warnings: list[str] = []
    raw = ctx.socket(zmq.SUB)
    raw.setsockopt(zmq.LINGER, 0)
    raw.setsockopt(zmq.SUBSCRIBE, b"seizure")
    raw.connect(pub.endpoint)
    stations = {
        topic: Subscriber(pub.endpoint, pub.replay_endpoint, topics=[topic], context=ctx, warn=warnings.append)
        for topic in ("seizure", "status.window")
    }
    assert subscriptions(("seizure",)) == ["seizure.", "status.heartbeat", "status.signal"]
    assert subscriptions(()) == subscriptions(("status",)) == [*subscriptions(("seizure",)), "status.window"]
    try:
        # slow joiners: an onset and a window until each station has received what it takes
        joined: set[str] = set()
        for i in range(200):
            pub.publish(onset(float(i)))
            pub.publish_unlogged(window(float(i), i + 1))
            joined |= {t for t, s in stations.items() if t not in joined and s.receive(0.02) is not None}
            if len(joined) == len(stations) and raw.poll(10):
                break
        else:
            raise AssertionError(f"the subscribers never joined ({joined} did)")
        for s in stations.values():
            while s.receive(0.2) is not None:
                pass
        while raw.poll(50):
            raw.recv_multipart()
        last = pub.last_seq
        sent = []
        for n in range(1, 6):
            sent.append(pub.publish_unlogged(window(1000.0 + n, n)))
            if n == 3:
                sent.append(pub.publish(onset(1003.5)))
        assert pub.last_seq == last + 1 and sent[3]["seq"] == last + 1  # one number: the onset's
        windows = [m for m in sent if m["type"] == "status.window"]
        assert all("seq" not in m and m["run"] == pub.run for m in windows)
        assert published[-6:] == ["status.window"] * 3 + ["seizure.onset"] + ["status.window"] * 2
        got_windows = [stations["status.window"].receive(3.0) for _ in windows]
        assert got_windows == windows  # each one, in order, nothing filled in between
        assert stations["status.window"].receive(0.3) is None  # its onset is not printed (not its topic)
        assert stations["seizure"].receive(3.0) == sent[3]
        assert stations["seizure"].receive(0.3) is None
        topics = []
        while raw.poll(300):
            topics.append(raw.recv_multipart()[0].decode())
        assert topics == ["seizure.onset"]
        assert not warnings
        logged = read_log(tmp_path / "alerts.jsonl")
        assert logged[-1] == sent[3] and not any(m["type"] == "status.window" for m in logged)
        replayed = replay_request(pub.replay_endpoint, {"since_seq": 0}, context=ctx)["messages"]
        assert replayed == logged
    finally:
        raw.close(linger=0)
        for s in stations.values():
            s.close()
        pub.close(flush_s=0)
