"""Past one machine, with the real parts (issue #13): three ``realtime-detect`` processes, each on its own LSL outlet
(as three hosts would run them), behind one ``realtime-fanin`` process; a nurses' station subscribes to the fan-in
only. Its live feed carries every daemon's heartbeats and the one seizure's onset, and ``realtime-alerts --fanin
--since 0`` replays every daemon's alert log through it. All on loopback."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest
import zmq
from rt_daemon_proc import toy_daemon
from rt_helpers import REPO, Outlets, env, unique

from realtime.messages import decode

pytestmark = pytest.mark.integration

DAEMONS = ("ward1", "ward2", "ward3")  # the third one's patient has a seizure


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_station_on_the_fanin_sees_three_daemons_live_and_replays_their_logs(toy_export, tmp_path):
    names = {d: unique(d) for d in DAEMONS}
    daemons = {}
    fanin = None
    fanin_log = (tmp_path / "fanin.log").open("w")
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVTIMEO, 200)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    with Outlets() as outlets:
        try:
            for d in DAEMONS:
                seizure = ("--seizure-after-s", "10") if d == "ward3" else ()
                outlets.start("--name", names[d], "--source-id", unique("amp"), "--amplitude", "20", *seizure)
                folder = tmp_path / d
                folder.mkdir()
                daemons[d] = toy_daemon(
                    folder, toy_export, folder / "alerts.jsonl", "--stream", names[d], "--metrics-port", "0"
                )
            for proc in daemons.values():
                proc.wait_ready()
            port, replay_port = _free_port(), _free_port()
            upstreams = [f"--upstream={d}={p.endpoint},{p.replay_endpoint}" for d, p in daemons.items()]
            fanin = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "realtime",
                    "fanin",
                    *upstreams,
                    f"--bind=tcp://127.0.0.1:{port}",
                    f"--replay-bind=tcp://127.0.0.1:{replay_port}",
                    "--metrics-port=0",
                ],
                cwd=REPO,
                env=env(),
                stdout=fanin_log,
                stderr=subprocess.STDOUT,
            )
            sub.connect(f"tcp://127.0.0.1:{port}")
            live: list[dict] = []
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    live.append(decode(sub.recv_multipart()))
                except zmq.Again:
                    assert fanin.poll() is None, (tmp_path / "fanin.log").read_text()
                    continue
                beats = {m["stream"]["name"] for m in live if m["type"] == "status.heartbeat"}
                onsets = [m for m in live if m["type"] == "seizure.onset"]
                if beats == set(names.values()) and onsets:
                    break
            beats = {m["stream"]["name"] for m in live if m["type"] == "status.heartbeat"}
            assert beats == set(names.values()), beats  # every daemon's heartbeats, through one subscription
            onsets = [m for m in live if m["type"] == "seizure.onset"]
            assert [m["stream"]["name"] for m in onsets] == [names["ward3"]], onsets  # the seizure's daemon only
            # a station that joins now asks the fan-in for everything logged: every daemon's log, each in its order
            logged = {
                d: [
                    (m["seq"], m["type"])
                    for m in map(json.loads, (tmp_path / d / "alerts.jsonl").read_text().splitlines())
                ]
                for d in DAEMONS
            }
            alerts = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "realtime",
                    "alerts",
                    "--fanin",
                    f"--endpoint=tcp://127.0.0.1:{port}",
                    f"--replay-endpoint=tcp://127.0.0.1:{replay_port}",
                    "--since=0",
                    "--timeout-s=8",
                ],
                cwd=REPO,
                env=env(),
                capture_output=True,
                text=True,
                timeout=90,
            )
            assert alerts.returncode == 0, alerts.stderr
            replayed = [json.loads(line) for line in alerts.stdout.splitlines()]
            for d in DAEMONS:
                mine = [(m["seq"], m["type"]) for m in replayed if m["stream"]["name"] == names[d]]
                assert logged[d] and mine[: len(logged[d])] == logged[d], (d, logged[d], mine)
            fanin.send_signal(signal.SIGTERM)
            assert fanin.wait(timeout=20) == 0
        finally:
            sub.close(linger=0)
            ctx.term()
            if fanin is not None and fanin.poll() is None:
                fanin.kill()
                fanin.wait(timeout=10)
            for proc in daemons.values():
                proc.close()
            fanin_log.close()
    assert re.search(r"3 upstreams", (tmp_path / "fanin.log").read_text())
