"""The publisher's in-memory replay cache: bounded by the bytes it keeps, answers only what it holds."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from realtime.alerts import RecentMessages
from realtime.messages import Envelope, Sequencer, encode, heartbeat_message

ENV = Envelope.of({"name": "bed1", "type": "EEG", "source_id": "sid"}, host="h", model_version="m")


def line(seq: int, topic: str = "status.heartbeat", pad: int = 0) -> bytes:
    return json.dumps({"seq": seq, "type": topic, "pad": "x" * pad}).encode()


def test_oldest_lines_go_first_once_the_byte_budget_is_spent():
    recent = RecentMessages(max_bytes=1000)
    for seq in range(1, 101):
        recent.append(seq, "status.heartbeat", line(seq, pad=60))
    assert recent.bytes <= 1000 and len(recent) == 1000 // len(line(100, pad=60))
    kept = recent.since(100 - len(recent), (), limit=1000)
    assert kept is not None and [json.loads(b)["seq"] for b in kept] == list(range(101 - len(recent), 101))
    assert recent.since(100 - len(recent) - 1, (), limit=1000) is None  # older than the oldest kept: the log


def test_a_line_larger_than_the_budget_is_still_kept_alone():
    recent = RecentMessages(max_bytes=10)
    recent.append(1, "seizure.onset", line(1))
    recent.append(2, "seizure.onset", line(2))
    assert len(recent) == 1 and recent.since(1, (), 10) == [line(2)]


def test_since_filters_by_topic_prefix_and_returns_one_more_than_the_limit():
    recent = RecentMessages()
    topics = ["status.heartbeat", "seizure.onset", "status.signal", "seizure.offset", "status.heartbeat"]
    for seq, topic in enumerate(topics, start=1):
        recent.append(seq, topic, line(seq, topic))
    picked = recent.since(0, ("seizure", "status.signal"), limit=10)
    assert [json.loads(b)["seq"] for b in picked] == [2, 3, 4]
    assert [json.loads(b)["seq"] for b in recent.since(2, (), limit=2)] == [3, 4, 5]  # 3 > limit: "more"
    assert recent.since(5, (), limit=2) == []
    assert RecentMessages().since(0, (), 10) is None  # nothing kept: the log answers


def test_memory_stays_near_the_budget_however_many_messages_are_published():
    # The soak's RSS grew 18 MiB in its first 47 minutes, then stopped: a cache of 20,000 parsed
    # messages filling. Kept as bytes under a budget, 30,000 real heartbeats cost about the budget.
    budget = 1024 * 1024
    seq = Sequencer(0)
    recent = RecentMessages(max_bytes=budget)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(30_000):
            beat = heartbeat_message(ENV, time=i, state="connected", alarm_active=False, windows_total=i, uptime_s=i)
            stamped = seq.stamp(beat)
            recent.append(stamped["seq"], stamped["type"], encode(stamped)[1])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert recent.bytes <= budget and len(recent) < 30_000
    assert held < 1.5 * budget, f"{held / budget:.2f} x the budget"


@pytest.mark.parametrize("bad", [0, -5])
def test_a_budget_below_one_byte_is_refused_quoting_it(bad):
    with pytest.raises(ValueError, match=str(bad)):
        RecentMessages(max_bytes=bad)
