"""A crash during an alarm (issue #12, defect 3), with real processes: a daemon raises an onset from a real LSL
outlet, is SIGKILLed mid-alarm, and is started again on the same alert log. The open event is closed with a
``seizure.offset`` ``"reason": "restart"`` (logged, with a WARNING line, and fetched by a real subscriber),
and the seizure, still going on, raises event 2, not event 1 again."""

from __future__ import annotations

import pytest
from rt_daemon_proc import DaemonProc, toy_daemon
from rt_helpers import QUICK, Outlets, read_log, unique, write_config

from realtime.alerts import Subscriber

pytestmark = pytest.mark.integration

CONFIG = (QUICK, {"alerts": {"reannounce_s": 0}, "metrics": {"enabled": False}})


def _daemon(tmp, name: str, toy_export, log_path) -> DaemonProc:
    d = toy_daemon(tmp, toy_export, log_path, "--stream", name, config=tmp / "detect.toml")
    d.wait_ready(timeout_s=120)
    d.subscribe()
    return d


def test_an_event_open_at_a_crash_is_closed_on_restart_and_event_ids_continue(toy_export, tmp_path):
    write_config(tmp_path / "detect.toml", *CONFIG)
    log_path = tmp_path / "alerts.jsonl"
    name = unique("crash")
    first = second = None
    with Outlets() as outlets:
        outlets.start("--name", name, "--amplitude", "300")  # a toy-model seizure: p ~ 1 on every channel
        try:
            first = _daemon(tmp_path, name, toy_export, log_path)
            onset = first.wait_message(lambda m: m["type"] == "seizure.onset", 90, "an onset")
            assert onset["event_id"] == 1
            beat = first.wait_message(
                lambda m: m["type"] == "status.heartbeat" and m["alarm_active"] and m["seq"] > onset["seq"],
                30,
                "a beat",
            )
            first.proc.kill()  # SIGKILL mid-alarm: no offset, no final heartbeat
            first.proc.wait(timeout=10)
            seen = max(m["seq"] for m in first.messages)
            assert not [m for m in read_log(log_path) if m["type"] == "seizure.offset"]

            second = _daemon(tmp_path, name, toy_export, log_path)
            sub = Subscriber(second.endpoint, second.replay_endpoint, topics=["seizure"], since=seen)
            try:
                closed = sub.receive(timeout_s=10)  # logged before READY: fetched from the replay socket
                assert closed is not None and closed["type"] == "seizure.offset", closed
                assert closed["event_id"] == 1 and closed["reason"] == "restart"
                assert closed["onset_time"] == onset["time"]
                assert beat["time"] <= closed["time"] and closed["duration_s"] == pytest.approx(
                    closed["time"] - onset["time"]
                )
                assert closed["stream"] == onset["stream"]
                again = sub.receive(timeout_s=60)  # the seizure goes on: a new event, numbered after the old one
                assert again is not None and again["type"] == "seizure.onset" and again["event_id"] == 2, again
            finally:
                sub.close()
            text = second.log_text()
            assert "WARNING" in text and "event 1" in text and "reason 'restart'" in text
            second.wait_message(
                lambda m: m["type"] == "status.heartbeat" and m["alarm_active"] and m["seq"] > again["seq"],
                30,
                "a beat",
            )
        finally:
            for d in (first, second):
                if d is not None:
                    d.close()
