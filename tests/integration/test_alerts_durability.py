"""Alert numbering after a crash with lost log lines, a subscriber facing numbering that goes back, and
a replay socket under hostile requests: real processes, real sockets on random loopback ports."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time

import pytest
import zmq
from rt_helpers import (
    env,
    heartbeat,
    publish_until_received,
    zmq_context,  # noqa: F401 - the fixture ctx
)

from realtime.alerts import MAX_REQUEST_BYTES, Publisher, Subscriber, replay_request

pytestmark = pytest.mark.integration


# A daemon's publisher that sends ten messages and is then killed (no clean close).
KILLED_CHILD = r"""
import os, signal, sys
from realtime.alerts import Publisher
from realtime.messages import Envelope, heartbeat_message

env = Envelope.of({"name": "bed1", "type": "EEG", "source_id": "sid"}, host="h", model_version="m")
pub = Publisher("tcp://127.0.0.1:*", "", sys.argv[1])
for i in range(10):
    last = pub.publish(heartbeat_message(env, time=float(i), state="connected", alarm_active=False,
                                         windows_total=i, uptime_s=float(i)))
print(last["seq"], last["run"], flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_numbers_stay_above_everything_sent_when_log_lines_are_lost(tmp_path, ctx):
    log_path = tmp_path / "alerts.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", KILLED_CHILD, str(log_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env(),
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    sent_seq, sent_run = done.stdout.split()
    # Heartbeats are not fsync-ed: a power cut can take the log's last lines. Keep only three.
    lines = log_path.read_bytes().splitlines(keepends=True)
    log_path.write_bytes(b"".join(lines[:3]))
    pub = Publisher("tcp://127.0.0.1:*", "", log_path, context=ctx)
    try:
        stamped = pub.publish(heartbeat(20.0))
        assert stamped["seq"] > int(sent_seq)  # never a number a subscriber may already have seen
        assert stamped["run"] != sent_run
    finally:
        pub.close(flush_s=0)


def test_a_subscriber_keeps_messages_when_numbering_goes_back_and_says_so(tmp_path, ctx):
    first = Publisher("tcp://127.0.0.1:*", "", tmp_path / "a.jsonl", context=ctx)
    warnings: list[str] = []
    sub = Subscriber(first.endpoint, "", context=ctx, warn=warnings.append)
    try:
        got = publish_until_received(first, sub, heartbeat, 200)
        assert got is not None and got["run"] == first.run
        for i in range(5):
            first.publish(heartbeat(100.0 + i))
        while sub.receive(0.3) is not None:
            pass
        high = sub.last_seq
        assert high is not None and high >= 6
        endpoint = first.endpoint
        first.close(flush_s=0)
        # Another daemon (another alert log: numbering from 1) on the same address, once the port is free
        # (ZeroMQ closes sockets in its I/O thread, a moment after close()).
        second = None
        deadline = time.monotonic() + 10
        while second is None:
            try:
                second = Publisher(endpoint, "", tmp_path / "b.jsonl", context=ctx)
            except zmq.ZMQError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        try:
            kept = None
            deadline = time.monotonic() + 20
            while kept is None and time.monotonic() < deadline:
                second.publish(heartbeat(500.0))
                msg = sub.receive(0.1)
                if msg is not None and msg["run"] == second.run:
                    kept = msg
            assert kept is not None, f"the new run's messages were dropped; warnings: {warnings}"
            assert kept["seq"] <= high
            assert any("went back" in w and "keeping" in w for w in warnings), warnings
        finally:
            second.close(flush_s=0)
    finally:
        sub.close()


def test_a_multipart_request_gets_one_error_and_replay_goes_on(tmp_path, ctx, caplog):
    pub = Publisher("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", tmp_path / "alerts.jsonl", context=ctx)
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    try:
        seq = pub.publish(heartbeat(1.0))["seq"]
        dealer.connect(pub.replay_endpoint)
        with caplog.at_level("WARNING", logger="realtime.alerts"):
            t0 = time.monotonic()
            dealer.send_multipart([b"", *([b'{"since_seq": 0}'] * 600)])
            assert dealer.poll(5000), "no reply to a 600-part request"
            _empty, body = dealer.recv_multipart()
            took_s = time.monotonic() - t0
            assert "multipart request of 600 parts" in json.loads(body)["error"]
            assert not dealer.poll(300)  # one reply, not one per part
            reply = replay_request(pub.replay_endpoint, {"since_seq": 0}, context=ctx)
        assert [m["seq"] for m in reply["messages"]] == [seq]
        assert took_s < 3.0
        refusals = [r for r in caplog.records if r.levelno >= logging.WARNING and "replay" in r.getMessage()]
        assert len(refusals) == 1 and "600 parts" in refusals[0].getMessage()
    finally:
        dealer.close(linger=0)
        pub.close(flush_s=0)


def test_oversize_deeply_nested_and_too_many_requests_get_clear_errors(tmp_path, ctx, caplog):
    pub = Publisher(
        "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", tmp_path / "alerts.jsonl", context=ctx, replay_rate_per_s=5
    )
    try:
        with caplog.at_level("WARNING", logger="realtime.alerts"):
            big = replay_request(pub.replay_endpoint, b" " * (MAX_REQUEST_BYTES + 1), context=ctx)
            assert f"{MAX_REQUEST_BYTES + 1} bytes is over the limit" in big["error"]
            deep = replay_request(pub.replay_endpoint, b"[" * 2000 + b"]" * 2000, context=ctx)
            assert "nested too deeply" in deep["error"]
            assert not any(r.exc_info for r in caplog.records)  # no traceback in the log
            answers = [replay_request(pub.replay_endpoint, {"since_seq": 0}, context=ctx) for _ in range(30)]
        limited = [a for a in answers if "error" in a]
        assert limited and all(a["error"].startswith("rate limited") for a in limited)
        assert "messages" in answers[0]
        assert sum("rate limited" in r.getMessage() for r in caplog.records) == 1  # at most one line per 10 s
        time.sleep(0.5)  # the bucket refills at 5 requests a second
        assert "messages" in replay_request(pub.replay_endpoint, {"since_seq": 0}, context=ctx)
    finally:
        pub.close(flush_s=0)


def test_stations_that_reconnect_at_once_all_get_the_log_through_the_rate_limit(tmp_path, ctx):
    """A ward's stations back at once after a network outage, more than the replay socket answers a second: each
    asks a page refused with "rate limited ...; try again" again, later, and gets every logged message (before, a
    station took the refusal as final and never asked for that gap again: its alarms lost)."""
    import concurrent.futures

    pub = Publisher(
        "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", tmp_path / "alerts.jsonl", context=ctx, replay_rate_per_s=4
    )
    try:
        logged = [pub.publish(heartbeat(float(i)))["seq"] for i in range(3)]

        def station(_: int) -> tuple[list[int], list[str]]:
            warnings: list[str] = []
            sub = Subscriber(pub.endpoint, pub.replay_endpoint, since=0, context=ctx, warn=warnings.append)
            try:
                got = []
                while (msg := sub.receive(0.2)) is not None:
                    got.append(msg["seq"])
                return got, warnings
            finally:
                sub.close()

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            results = list(pool.map(station, range(12)))  # 12 at once, 4 answered a second
        assert [got for got, _ in results] == [logged] * 12, results
        assert not [w for _, ws in results for w in ws]
    finally:
        pub.close(flush_s=0)
