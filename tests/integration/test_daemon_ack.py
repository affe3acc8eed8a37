"""Alarm acknowledgement and re-announcement with real processes and CURVE keys (issue #12).

One daemon process (CURVE on, keys from pyzmq's ``zmq.auth.create_certificates``) raises an onset from a
real LSL outlet; a real CURVE subscriber sees it re-announced every ``alerts.reannounce_s``;
``realtime-alerts --ack 1`` acknowledges it (a ``seizure.ack`` naming the client's key, once: a second
ack is answered "already acknowledged", an ack of another event is refused quoting it); the
re-announcements stop, heartbeats and metrics say it is acknowledged. Then the bed's device is replaced
by one with another channel layout: the event is closed, and the next onset is event 2 (not 1 again,
though a new pipeline is built), unacknowledged and re-announced anew.

With two beds (``--stream`` twice): the open event's bed takes the acknowledgement, one not open is answered with
the open ones, ``STATUS=`` names the bed in alarm.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import zmq.auth
from rt_daemon_proc import DaemonProc, metric, toy_daemon
from rt_helpers import QUICK, Outlets, merged, read_log, run_realtime, stop, toy_sections, unique, write_config

from realtime.alerts import ClientKeys, Subscriber, ack_request

pytestmark = pytest.mark.integration

CONFIG = (
    QUICK,
    {"stream": {"stale_after_s": 1.0}, "alerts": {"reannounce_s": 1.0}, "decision": {"merge_gap_s": 0.0}},
)


class Collector:
    """Every message a real CURVE subscriber receives (topics: all)."""

    def __init__(self, sub: Subscriber):
        self.sub = sub
        self.messages: list[dict] = []

    def wait(self, predicate, timeout_s: float, what: str) -> dict:
        deadline = time.monotonic() + timeout_s
        for msg in self.messages:
            if predicate(msg):
                return msg
        while time.monotonic() < deadline:
            msg = self.sub.receive(timeout_s=max(0.05, deadline - time.monotonic()))
            if msg is None:
                break
            self.messages.append(msg)
            if predicate(msg):
                return msg
        seen = [(m["seq"], m["type"], m.get("event_id")) for m in self.messages]
        raise AssertionError(f"no {what} within {timeout_s} s; got {seen}")


def _cli_ack(d: DaemonProc, keys_dir, event_id: int, *extra: str) -> subprocess.CompletedProcess:
    return run_realtime(
        *("alerts", "--replay-endpoint", d.replay_endpoint),
        *("--ack", str(event_id), "--server-key", str(keys_dir / "server" / "server.key")),
        *("--client-key", str(keys_dir / "station" / "station-1.key_secret"), "--timeout-s", "20", *extra),
        timeout_s=60,
    )


def _curve_keys(tmp_path) -> tuple[dict, Path]:
    """A server key pair and a station's (``station-1``), the station allowed: the config section, the keys' folder."""
    keys_dir = tmp_path / "keys"
    for sub_dir in ("server", "station", "clients"):
        (keys_dir / sub_dir).mkdir(parents=True)
    _, server_secret = zmq.auth.create_certificates(keys_dir / "server", "server")
    zmq.auth.create_certificates(keys_dir / "station", "station-1")
    clients = keys_dir / "clients"
    shutil.copy(keys_dir / "station" / "station-1.key", clients / "station-1.key")
    return {"alerts": {"curve_secret_key": str(server_secret), "curve_clients_dir": str(clients)}}, keys_dir


def test_ack_stops_reannouncements_once_and_event_ids_continue_over_a_new_layout(toy_export, tmp_path):
    curve, keys_dir = _curve_keys(tmp_path)
    config = write_config(tmp_path / "detect.toml", *CONFIG, curve)
    log_path = tmp_path / "alerts.jsonl"
    name = unique("ack")
    outlets = Outlets()
    outlet = outlets.start("--name", name, "--amplitude", "300", "--channels", "4")  # p ~ 1: an onset at once
    d = toy_daemon(tmp_path, toy_export, log_path, "--stream", name, "--metrics-port", "0", config=config)
    keys = ClientKeys.load(keys_dir / "server" / "server.key", keys_dir / "station" / "station-1.key_secret")
    sub = None
    try:
        d.wait_ready(timeout_s=120)
        sub = Subscriber(d.endpoint, d.replay_endpoint, keys=keys)
        got = Collector(sub)
        onset = got.wait(lambda m: m["type"] == "seizure.onset", 90, "an onset")
        assert onset["event_id"] == 1
        first = got.wait(lambda m: m["type"] == "seizure.reannounce", 30, "a re-announcement")
        assert (first["event_id"], first["count"], first["onset_time"]) == (1, 1, onset["time"])
        assert 0.5 <= first["probability"] <= 1.0
        got.wait(lambda m: m["type"] == "seizure.reannounce" and m["count"] == 2, 30, "a second re-announcement")

        done = _cli_ack(d, keys_dir, 1, "--note", "at the bedside")
        assert done.returncode == 0, done.stderr
        reply = json.loads(done.stdout)
        assert reply["ok"] is True and reply["by"] == "station-1" and reply["already"] is False
        ack = got.wait(lambda m: m["type"] == "seizure.ack", 30, "the seizure.ack")
        assert (ack["event_id"], ack["by"], ack["note"]) == (1, "station-1", "at the bedside")
        assert ack["ack_time"] == reply["ack_time"]

        again = ack_request(d.replay_endpoint, 1, keys=keys, timeout_s=20)
        assert again["ok"] is True and again["already"] is True
        assert again["detail"].startswith("already acknowledged by station-1 at ")
        other = _cli_ack(d, keys_dir, 9)
        assert other.returncode == 1 and json.loads(other.stdout) == {
            "error": "event 9 is not open (the open event is 1)"
        }

        # reannounce_s is 1 s: two heartbeats later, none has come since the ack
        beat = got.wait(
            lambda m: m["type"] == "status.heartbeat" and m["seq"] > ack["seq"] + 3, 30, "heartbeats after the ack"
        )
        assert beat["alarm_active"] is True and beat["alarm_acknowledged"] is True
        assert not [m for m in got.messages if m["type"] == "seizure.reannounce" and m["seq"] > ack["seq"]]
        samples = d.scrape()
        assert metric(samples, "realtime_detect_acks_total", stream=name) == 1
        assert metric(samples, "realtime_detect_alarm_acknowledged", stream=name) == 1
        assert metric(samples, "realtime_detect_reannouncements_total", stream=name) >= 2
        assert f"seizure event 1 on {name} acknowledged by station-1: at the bedside" in d.log_text()

        # another device under the bed's name, with another layout: event 1 ends, the next one is event 2
        stop(outlet)
        outlets.start("--name", name, "--amplitude", "300", "--channels", "3")
        offset = got.wait(lambda m: m["type"] == "seizure.offset", 60, "the offset of event 1")
        assert offset["event_id"] == 1
        onset2 = got.wait(lambda m: m["type"] == "seizure.onset" and m["seq"] > offset["seq"], 60, "a new onset")
        assert onset2["event_id"] == 2
        rean2 = got.wait(lambda m: m["type"] == "seizure.reannounce" and m["event_id"] == 2, 30, "event 2 reminded")
        assert rean2["count"] == 1
        assert metric(d.scrape(), "realtime_detect_alarm_acknowledged", stream=name) == 0
        logged = read_log(log_path)
        assert [m["event_id"] for m in logged if m["type"] == "seizure.ack"] == [1]  # the second ack: no message
    finally:
        if sub is not None:
            sub.close()
        d.close()
        outlets.close()


def test_a_missing_curve_key_file_is_a_configuration_error(toy_export, tmp_path):
    from realtime.config import build_config
    from realtime.daemon import EX_CONFIG, Daemon, StartupError

    curve = {"curve_secret_key": str(tmp_path / "nowhere.key_secret"), "curve_clients_dir": str(tmp_path)}
    cfg = build_config(
        merged(
            toy_sections(toy_export, tmp_path / "alerts.jsonl"),
            {"alerts": {"replay_endpoint": "tcp://127.0.0.1:0", **curve}, "metrics": {"enabled": False}},
        )
    )
    d = Daemon(cfg, env={})
    with pytest.raises(StartupError, match=r"nowhere\.key_secret") as err:
        d.start()
    assert err.value.exit_code == EX_CONFIG  # 78: systemd does not restart into the same mistake


def test_stream_given_twice_runs_two_beds_whose_acks_and_status_are_the_daemons(toy_export, tmp_path):
    """The real command with ``--stream A --stream B`` (issue #13): a bed each, labelled by its name; B's seizure
    raises B's onset only; an acknowledgement names an event id, and B's open event takes it (``seizure.ack`` of bed
    B), one not open is answered with the open ones; systemd's ``STATUS=`` sums the beds up and names the one in
    alarm."""
    curve, keys_dir = _curve_keys(tmp_path)
    config = write_config(tmp_path / "detect.toml", *CONFIG, curve)
    a, b = unique("two-a"), unique("two-b")
    keys = ClientKeys.load(keys_dir / "server" / "server.key", keys_dir / "station" / "station-1.key_secret")
    sub = None
    with Outlets() as outlets:
        outlets.start("--name", a, "--source-id", unique("amp"), "--amplitude", "20")
        outlets.start("--name", b, "--source-id", unique("amp"), "--amplitude", "20", "--seizure-after-s", "6")
        d = DaemonProc(
            [
                *("--config", str(config), "--stream", a, "--stream", b),
                *("--model", str(toy_export), "--backend", "litert", "--metrics-port", "0"),
                *("--endpoint", "tcp://127.0.0.1:*", "--replay-endpoint", "tcp://127.0.0.1:0"),
                *("--alert-log", str(tmp_path / "alerts.jsonl")),
            ],
            tmp_path,
        )
        try:
            d.wait_ready(timeout_s=120)
            sub = Subscriber(d.endpoint, d.replay_endpoint, keys=keys)
            got = Collector(sub)
            onset = got.wait(lambda m: m["type"] == "seizure.onset", 90, "B's onset")
            assert (onset["bed"], onset["stream"]["name"]) == (b, b)
            event = onset["event_id"]
            refused = ack_request(d.replay_endpoint, event + 8, keys=keys, timeout_s=20)
            assert refused == {"error": f"event {event + 8} is not open (the open events are [{event}])"}
            accepted = ack_request(d.replay_endpoint, event, "seen", keys=keys, timeout_s=20)
            assert accepted.get("ok") is True, accepted
            ack = got.wait(lambda m: m["type"] == "seizure.ack", 30, "the seizure.ack")
            assert (ack["bed"], ack["event_id"], ack["by"], ack["note"]) == (b, event, "station-1", "seen")
            got.wait(lambda m: m["type"] == "status.heartbeat" and m.get("bed") == a, 30, "a heartbeat of bed A")
            assert [m["bed"] for m in got.messages if m["type"] == "seizure.onset"] == [b]
            wanted = f"STATUS=2 beds: 2 connected; ALARM on {b}"
            d.notify.wait(lambda n: n == wanted, 10, repr(wanted))
        finally:
            if sub is not None:
                sub.close()
            d.close()
            if d.notify is not None:
                d.notify.close()
