"""End to end: realtime-replay subprocess -> LSL -> realtime-detect subprocess -> ZeroMQ + metrics + sd_notify.

One daemon process serves the whole module (each start costs a TensorFlow import). In order:
it waits for an absent stream (READY, STATUS, WATCHDOG while waiting); the non-seizure excerpt is
replayed (no onset; the stream is then lost); the seizure excerpt is replayed under the same name
(restored, an onset, metrics); a SIGHUP changes a threshold without reconnecting; SIGTERM stops it
with a final heartbeat and exit 0. In between, a different device appears under the same name
(new layout, a flat channel) and is killed with SIGKILL (the yanked cable).

The toy model's threshold is 80 µV here instead of the fixture's 60 µV: with 60 µV the
non-seizure excerpt's smoothed 2nd-highest channel probability peaks at 0.79, a hair under the
default on-threshold of 0.8, too close to be a meaningful negative.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from rt_daemon_proc import DaemonProc, metric, start_replay
from rt_helpers import REPO, env, start_outlet, stop, unique

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEIZURE = REPO / "realtime" / "data" / "chbmit" / "chb01_03_Seizure.edf"
NONSEIZURE = REPO / "realtime" / "data" / "chbmit" / "chb01_03_NonSeizure.edf"
SPEED = "4"
REPLAY_ARGS = ("--speed", SPEED, "--source-id", "bed-e2e", "--wait-for-consumer-s", "30")

CONFIG = """
[stream]
resolve_timeout_s = 0.5
stale_after_s = 2.0

[alerts]
heartbeat_s = 1.0

[decision]
on_threshold = {on}

[signal]
montage = "as_recorded"

[metrics]
port = {port}
"""


@pytest.fixture(scope="module")
def strict_toy(tmp_path_factory):
    from toy_export import make_toy_export

    return make_toy_export(tmp_path_factory.mktemp("strict_toy"), threshold_uv=80.0, with_tflite=False)


@pytest.fixture(scope="module")
def daemon(strict_toy, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("daemon")
    config = tmp / "detect.toml"
    config.write_text(CONFIG.format(on=0.8, port=0))
    name = unique("e2e")
    d = DaemonProc(
        [
            "--config",
            str(config),
            "--stream",
            name,
            "--model",
            str(strict_toy),
            "--hop-s",
            "1",
            "--endpoint",
            "tcp://127.0.0.1:*",
            "--replay-endpoint",
            "tcp://127.0.0.1:0",
            "--alert-log",
            str(tmp / "alerts.jsonl"),
        ],
        tmp,
        watchdog_usec=400_000,
    )
    d.name, d.config, d.tmp = name, config, tmp
    try:
        d.wait_ready()
        d.subscribe()
        yield d
    finally:
        d.close()


def test_ready_after_start_up_and_watchdog_while_waiting_for_the_stream(daemon):
    notes = daemon.notify.items
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and notes.count("WATCHDOG=1") < 2:
        time.sleep(0.1)
    assert notes[0] == "READY=1", notes[:5]  # nothing before READY: the model was loaded first
    assert any(n.startswith("STATUS=waiting for stream") and daemon.name in n for n in notes), notes
    assert notes.count("WATCHDOG=1") >= 2  # resolve attempts complete: waiting is progress
    hb = daemon.wait_message(lambda m: m["type"] == "status.heartbeat", 10, "heartbeat")
    assert hb["state"] == "waiting" and hb["stream"]["name"] == daemon.name


def test_non_seizure_excerpt_stays_quiet_then_signal_lost(daemon):
    replay = start_replay(NONSEIZURE, daemon.name, *REPLAY_ARGS)
    try:
        daemon.wait_message(
            lambda m: m["type"] == "status.heartbeat" and m["state"] == "connected" and m["windows_total"] > 0,
            30,
            "connected heartbeat with windows",
        )
        assert replay.wait(timeout=40) == 0
        daemon.wait_message(lambda m: m["type"] == "status.signal" and m["state"] == "lost", 15, "signal lost")
    finally:
        stop(replay)
    assert not [m for m in daemon.messages if m["type"].startswith("seizure.")]
    samples = daemon.scrape()
    # The whole excerpt reached the daemon (the replay waited for its inlet) and was scored.
    assert metric(samples, "realtime_detect_samples_received_total", stream=daemon.name) == 10496
    assert metric(samples, "realtime_detect_windows_processed_total", stream=daemon.name) >= 10
    assert metric(samples, "realtime_detect_stream_connected", stream=daemon.name) == 0
    daemon.notify.wait(lambda n: n.startswith("STATUS=connected to " + daemon.name), 5, "STATUS=connected")


def test_seizure_excerpt_raises_an_onset_and_sighup_reloads_without_reconnect(daemon):
    replay = start_replay(SEIZURE, daemon.name, *REPLAY_ARGS)
    try:
        daemon.wait_message(lambda m: m["type"] == "status.signal" and m["state"] == "restored", 30, "restored")
        onset = daemon.wait_message(lambda m: m["type"] == "seizure.onset", 30, "seizure.onset")
        assert onset["stream"] == {"name": daemon.name, "type": "EEG", "source_id": "bed-e2e"}
        assert onset["probability"] >= 0.8 and len(onset["channels"]) >= 2
        assert onset["window_start"] < onset["window_end"] <= onset["publish_time"] + 1e-6
        assert onset["model_version"] == "toy-amplitude-1"
        daemon.notify.wait(lambda n: n.startswith("STATUS=ALARM on " + daemon.name), 5, "STATUS=ALARM")

        before = daemon.scrape()
        reconnects = metric(before, "realtime_detect_stream_reconnects_total", stream=daemon.name)
        assert reconnects == 1
        windows = metric(before, "realtime_detect_windows_processed_total", stream=daemon.name)
        assert metric(before, "realtime_detect_samples_received_total", stream=daemon.name) > 0
        assert metric(before, "realtime_detect_alarm_active", stream=daemon.name) == 1
        assert metric(before, "realtime_detect_seizure_onsets_total", stream=daemon.name) == 1
        assert metric(before, "realtime_detect_inference_duration_seconds_count") >= windows
        assert metric(before, "realtime_detect_end_to_end_latency_seconds_count", stream=daemon.name) > 0
        assert metric(before, "realtime_detect_alerts_published_total", topic="seizure.onset") == 1
        assert (
            metric(
                before,
                "realtime_detect_model_info",
                model_version="toy-amplitude-1",
                architecture="toy",
                backend="tensorflow",  # "auto" on an export without model.tflite
                device="CPU",
                precision="float32",
            )
            == 1
        )

        # SIGHUP with a new threshold (applied) and a new metrics port (needs a restart: ignored).
        daemon.config.write_text(CONFIG.format(on=0.9, port=9))
        n_lines = len(daemon.lines)
        daemon.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("reloaded" in ln for ln in daemon.lines[n_lines:]):
            time.sleep(0.05)
        reload_log = "\n".join(daemon.lines[n_lines:])
        assert "decision.on_threshold: 0.8 -> 0.9" in reload_log, reload_log
        assert "metrics.port: 0 -> 9 needs restart" in reload_log, reload_log
        time.sleep(1.0)
        after = daemon.scrape()  # still served on the old port
        assert metric(after, "realtime_detect_stream_reconnects_total", stream=daemon.name) == reconnects
        assert metric(after, "realtime_detect_stream_connected", stream=daemon.name) == 1
        assert metric(after, "realtime_detect_windows_processed_total", stream=daemon.name) > windows
        assert replay.poll() is None  # the recording was still playing: the stream was never dropped
        lost = [m for m in daemon.messages if m["type"] == "status.signal" and m["seq"] > onset["seq"]]
        assert lost == []
        assert replay.wait(timeout=40) == 0
    finally:
        stop(replay)


def test_new_layout_flat_channel_and_yanked_cable(daemon):
    """The stream comes back from another device (4 channels, one flat): the open seizure of the old
    layout is closed, the flat channel is reported; then the outlet is killed (the yanked cable)."""
    last_seq = daemon.messages[-1]["seq"]
    outlet = start_outlet(
        "--name", daemon.name, "--source-id", "bed-e2e", "--channels", "4", "--flat", "1", "--rate", "512"
    )
    try:
        restored = daemon.wait_message(
            lambda m: m["type"] == "status.signal" and m["state"] == "restored" and m["seq"] > last_seq, 30, "restored"
        )
        offset = daemon.wait_message(lambda m: m["type"] == "seizure.offset", 5, "offset of the open event")
        assert offset["seq"] < restored["seq"] and offset["event_id"] == 1
        quality = daemon.wait_message(
            lambda m: m["type"] == "status.signal" and m["state"] == "quality" and m["seq"] > restored["seq"],
            30,
            "quality report",
        )
        assert "C0 (flat)" in quality["detail"] and "3 of 4 scored" in quality["detail"]
        daemon.wait_message(
            lambda m: (
                m["type"] == "status.heartbeat"
                and m["seq"] > restored["seq"]
                and m["state"] == "connected"
                and not m["alarm_active"]
            ),
            10,
            "connected heartbeat",
        )
    finally:
        stop(outlet)  # SIGKILL: the outlet process dies without closing anything
    lost = daemon.wait_message(
        lambda m: m["type"] == "status.signal" and m["state"] == "lost" and m["seq"] > restored["seq"],
        15,
        "signal lost after the kill",
    )
    beat = daemon.wait_message(
        lambda m: m["type"] == "status.heartbeat" and m["seq"] > lost["seq"] + 1, 10, "heartbeats after the loss"
    )
    assert beat["state"] == "lost" and daemon.proc.poll() is None


def test_realtime_alerts_replays_the_onset_from_seq_zero(daemon):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "realtime",
            "alerts",
            "--endpoint",
            daemon.endpoint,
            "--replay-endpoint",
            daemon.replay_endpoint,
            "--since",
            "0",
            "--topic",
            "seizure",
            "--count",
            "1",
            "--timeout-s",
            "20",
        ],
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
        cwd=str(REPO),
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["type"] == "seizure.onset"


def test_sigterm_stops_with_a_final_status_and_exit_0(daemon):
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=20) == 0
    # A vanished outlet that the resolver still lists is tried once, not in a busy loop.
    assert daemon.log_text().count("could not open stream") <= 3
    final = daemon.wait_message(lambda m: m["type"] == "status.heartbeat" and m.get("final"), 5, "final heartbeat")
    assert final["alarm_active"] in (True, False) and final["windows_total"] > 0
    daemon.notify.wait(lambda n: n == "STOPPING=1", 5, "STOPPING=1")
    # Everything subscribers saw is in the alert log, in the same order (logged before sent).
    logged = [json.loads(ln) for ln in (daemon.tmp / "alerts.jsonl").read_text().splitlines()]
    by_seq = {m["seq"]: m for m in logged}
    assert [m["seq"] for m in logged] == sorted(by_seq)
    for msg in daemon.messages:
        assert by_seq[msg["seq"]] == msg
