"""The alert log's numbering and writes: run ids, the durable high-water mark, checked writes on a
filesystem that fills (RLIMIT_FSIZE in a real child process), loopback endpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realtime.alerts import SequenceMark, is_local_endpoint
from realtime.messages import Envelope, MessageError, Sequencer, encode, heartbeat_message

REPO = Path(__file__).resolve().parents[2]
ENV = Envelope.of({"name": "bed1", "type": "EEG", "source_id": "sid"}, host="h", model_version="m")


def heartbeat(t: float) -> dict:
    return heartbeat_message(ENV, time=t, state="connected", alarm_active=False, windows_total=1, uptime_s=t)


def test_sequencer_stamps_a_run_id_and_reserves_blocks_before_using_them():
    marks: list[tuple[int, int]] = []  # (mark written, last number used when it was written)
    seq = Sequencer(5, reserve=lambda m: marks.append((m, seq.last)), block=3)
    stamped = [seq.stamp(heartbeat(float(i))) for i in range(4)]
    assert [m["seq"] for m in stamped] == [6, 7, 8, 9]
    # Each mark is written before any number of its block is used, and covers the block.
    assert marks == [(8, 5), (11, 8)]
    assert {m["run"] for m in stamped} == {seq.run} and len(seq.run) == 32
    assert Sequencer().run != Sequencer().run
    assert Sequencer(run="fixed").stamp({})["run"] == "fixed"
    encode(stamped[0])  # a run id is valid in the schema
    with pytest.raises(ValueError, match="got 0"):
        Sequencer(block=0)


@pytest.mark.parametrize("bad", ["", 7, "x" * 65])
def test_a_bad_run_id_is_refused_quoting_it(bad):
    msg = Sequencer(run="r").stamp(heartbeat(1.0))
    msg["run"] = bad
    with pytest.raises(MessageError, match="field 'run'"):
        encode(msg)


def test_a_message_without_run_still_decodes():  # a daemon from before run ids
    msg = Sequencer().stamp(heartbeat(1.0))
    del msg["run"]
    encode(msg)


def test_sequence_mark_round_trip_and_unreadable_marks(tmp_path, caplog):
    mark = SequenceMark(tmp_path / "alerts.jsonl.seq")
    assert mark.read() == 0
    mark.write(1234)
    assert mark.read() == 1234 and mark.path.read_text() == "1234\n"
    assert not (tmp_path / "alerts.jsonl.seq.tmp").exists()  # replaced atomically
    mark.path.write_text("12x\n")
    with caplog.at_level("WARNING", logger="realtime.alerts"):
        assert mark.read() == 0
    assert "'12x'" in caplog.text


@pytest.mark.parametrize(
    "endpoint, local",
    [
        ("tcp://127.0.0.1:5556", True),
        ("tcp://127.3.4.5:*", True),
        ("tcp://localhost:5556", True),
        ("tcp://[::1]:5556", True),
        ("ipc:///run/realtime-detect/alerts", True),
        ("inproc://alerts", True),
        ("tcp://0.0.0.0:5556", False),
        ("tcp://*:5556", False),
        ("tcp://eth0:5556", False),
        ("tcp://192.168.1.20:5556", False),
        ("tcp://[::]:5556", False),
        ("pgm://eth0;239.192.1.1:5555", False),
        ("127.0.0.1:5556", False),
    ],
)
def test_local_endpoints(endpoint, local):
    assert is_local_endpoint(endpoint) is local


# A child process whose file size limit makes the log's writes short and then fail, for real.
FULL_DISK_CHILD = r"""
import json, resource, signal, sys
from realtime.alerts import Publisher
from realtime.messages import Envelope, heartbeat_message

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
env = Envelope.of({"name": "bed1", "type": "EEG", "source_id": "sid"}, host="h", model_version="m")
hb = lambda t: heartbeat_message(env, time=t, state="connected", alarm_active=False, windows_total=1, uptime_s=t)
errors = []
pub = Publisher("tcp://127.0.0.1:*", "", sys.argv[1], on_error=errors.append)
sent = [pub.publish(hb(0.0))["seq"]]
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (pub.log.size() + 100, hard))  # the next line fits only in part
full = [pub.publish(hb(float(i)))["seq"] for i in (1, 2, 3)]
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
after = [pub.publish(hb(float(i)))["seq"] for i in (4, 5)]
pub.close(flush_s=0)
print(json.dumps({"sent": sent, "full": full, "after": after, "errors": errors}))
"""


def test_a_filling_disk_counts_every_lost_line_and_keeps_the_log_readable(tmp_path):
    log_path = tmp_path / "alerts.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK_CHILD, str(log_path)], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    # One error per message not written whole: the short write too, not only the failed ones.
    assert out["errors"] == ["alert_log"] * len(out["full"]), done.stderr
    assert "short write" in done.stderr or "File too large" in done.stderr
    lines = log_path.read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends with a newline
    parsed, torn = [], []
    for line in lines[:-1]:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            torn.append(line)
    # The torn fragment stays on a line of its own; the next record is not glued to it.
    assert [m["seq"] for m in parsed] == out["sent"] + out["after"]
    assert len(torn) == 1 and torn[0].startswith(b'{"schema"') and torn[0].count(b'"schema"') == 1


def test_a_last_line_whose_seq_is_not_a_number_is_skipped_like_a_torn_one(tmp_path):
    """``"seq": true`` (JSON's true is a Python int) or a negative seq at the end of the log: not a message of this
    log, so the numbering continues from the last real one; before, the daemon refused to start on it."""
    from realtime.alerts import AlertLog

    path = tmp_path / "alerts.jsonl"
    path.write_text('{"seq": 7, "type": "status.heartbeat"}\n{"seq": true}\n{"seq": -3}\n')
    log = AlertLog(path)
    try:
        assert log.last_seq == 7
    finally:
        log.close()


def test_a_large_log_is_entered_where_its_numbering_passes_since_with_the_same_answer(tmp_path, monkeypatch):
    """A replay from a log over BISECT_BYTES bisects to where ``seq`` passes ``since_seq`` instead of parsing every
    line from the first (a month of a ward's heartbeats took longer than a subscriber waits): the same pages as
    reading from the start, for every ``since``, with torn and foreign lines, gaps in the numbering and topics."""
    import realtime.alerts as alerts

    path = tmp_path / "alerts.jsonl"
    rng = np.random.default_rng(1)
    lines, seq = [], 0
    for i in range(600):
        seq += int(rng.integers(1, 4))  # a restart jumps the numbering
        kind = "seizure.onset" if i % 97 == 0 else "status.heartbeat"
        lines.append(json.dumps({"seq": seq, "type": kind, "pad": "x" * int(rng.integers(0, 200))}).encode())
        if i % 100 == 7:
            lines.append(b'{"seq": 12, "type": "status.heartbe')  # torn (no newline glued to the next)
        if i % 140 == 3:
            lines.append(b"not json at all " * int(rng.integers(1, 40)))
    path.write_bytes(b"\n".join(lines) + b"\n")
    log = alerts.AlertLog(path)
    try:
        monkeypatch.setattr(alerts, "BISECT_BYTES", 1 << 40)
        for since in range(-1, seq + 2):  # every one: a bisection off by a message shows
            for topics, limit in (((), 3), (("seizure.",), 2)):
                monkeypatch.setattr(alerts, "BISECT_BYTES", 1 << 40)
                want = log.read_since(since, topics, limit)
                monkeypatch.setattr(alerts, "BISECT_BYTES", 1024)
                monkeypatch.setattr(alerts, "BISECT_PROBE_BYTES", 256)
                assert log.read_since(since, topics, limit) == want, (since, topics)
        with open(path, "rb") as fh:  # and it does enter the log near since, not at its start
            assert alerts.AlertLog._start_before(fh, seq // 2, path.stat().st_size) > path.stat().st_size // 4
    finally:
        log.close()
