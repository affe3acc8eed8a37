"""CurveZMQ on the alert sockets and acknowledgements: real key files (realtime-keys), real PUB/SUB
and REQ/REP on random loopback ports behind pyzmq's ZAP authenticator, real realtime-alerts processes."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import zmq
from rt_helpers import REPO

from realtime.alerts import (
    ClientKeys,
    Publisher,
    PublisherConfigError,
    Subscriber,
    ack_request,
    replay_request,
)
from realtime.keys import make_key_pair
from realtime.messages import Envelope, heartbeat_message

pytestmark = pytest.mark.integration

ENV = Envelope.of({"name": "bed1", "type": "EEG", "source_id": "sid"}, host="host", model_version="toy-1")


def heartbeat(t: float) -> dict:
    return heartbeat_message(ENV, time=t, state="connected", alarm_active=False, windows_total=3, uptime_s=t)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "realtime", *args] if args[0] == "alerts" else [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(REPO),
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.term()


@pytest.fixture
def keys(tmp_path) -> dict[str, Path]:
    """The daemon's pair, a forged server's pair, an allowed client and an unknown one."""
    make_key_pair(tmp_path / "server", "server")
    make_key_pair(tmp_path / "forged", "server")
    make_key_pair(tmp_path / "nurse", "nurse-station-3")
    make_key_pair(tmp_path / "intruder", "intruder")
    clients = tmp_path / "clients"
    clients.mkdir()
    shutil.copy(tmp_path / "nurse" / "nurse-station-3.key", clients)
    return {
        "server": tmp_path / "server" / "server.key",
        "server_secret": tmp_path / "server" / "server.key_secret",
        "forged_secret": tmp_path / "forged" / "server.key_secret",
        "nurse": tmp_path / "nurse" / "nurse-station-3.key_secret",
        "intruder": tmp_path / "intruder" / "intruder.key_secret",
        "clients": clients,
    }


def curve_publisher(tmp_path, ctx, keys, secret: str = "server_secret", **kw) -> Publisher:
    return Publisher(
        "tcp://127.0.0.1:*",
        "tcp://127.0.0.1:*",
        tmp_path / f"alerts-{secret}.jsonl",
        context=ctx,
        curve_secret_key=str(keys[secret]),
        curve_clients_dir=str(keys["clients"]),
        **kw,
    )


def first_message(pub: Publisher, sub: Subscriber, tries: int = 60, until=lambda: False) -> dict | None:
    """Publish heartbeats until the subscriber has one (slow joiner), at most ``tries`` x 0.1 s, or
    until ``until()`` is true."""
    for i in range(tries):
        pub.publish(heartbeat(float(i)))
        msg = sub.receive(0.1)
        if msg is not None or until():
            return msg
    return None


def test_realtime_keys_makes_pairs_with_a_private_secret_and_never_overwrites(tmp_path):
    made = run_cli("realtime.keys", "client", "nurse-station-3", str(tmp_path))
    assert made.returncode == 0, made.stderr
    public, secret = tmp_path / "nurse-station-3.key", tmp_path / "nurse-station-3.key_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and "secret-key" in secret.read_text()
    assert "secret-key" not in public.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [public.name, secret.name]  # no temporary left
    before = secret.read_bytes()
    again = run_cli("realtime.keys", "client", "nurse-station-3", str(tmp_path))
    assert again.returncode == 1 and "exists" in again.stderr and secret.read_bytes() == before
    bad = run_cli("realtime.keys", "client", "../evil", str(tmp_path))
    assert bad.returncode == 2 and "'../evil'" in bad.stderr
    server = run_cli("realtime.keys", "server", str(tmp_path / "srv"))
    assert server.returncode == 0 and (tmp_path / "srv" / "server.key_secret").exists()


def test_an_allowed_client_receives_and_an_unknown_or_plaintext_one_is_refused(tmp_path, ctx, keys, caplog):
    pub = curve_publisher(tmp_path, ctx, keys)
    subs: list[Subscriber] = []
    warned: dict[str, list[str]] = {"nurse": [], "intruder": [], "plain": []}

    def subscriber(who: str, client_keys: ClientKeys | None) -> Subscriber:
        sub = Subscriber(pub.endpoint, "", context=ctx, warn=warned[who].append, keys=client_keys)
        subs.append(sub)
        return sub

    try:
        with caplog.at_level("WARNING", logger="realtime.alerts"):
            nurse = subscriber("nurse", ClientKeys.load(keys["server"], keys["nurse"]))
            intruder = subscriber("intruder", ClientKeys.load(keys["server"], keys["intruder"]))
            plain = subscriber("plain", None)
            got = first_message(pub, nurse)
            assert got is not None and got["type"] == "status.heartbeat" and nurse.connected
            assert first_message(pub, intruder, tries=30, until=lambda: bool(warned["intruder"])) is None
            assert first_message(pub, plain, tries=30, until=lambda: bool(warned["plain"])) is None
        assert any("refused this client's key" in w for w in warned["intruder"]), warned
        assert any("handshake" in w and "--server-key" in w for w in warned["plain"]), warned
        assert not warned["nurse"]
        assert "refused a CURVE client" in caplog.text  # the daemon side logs the refusal
        # Replay over CURVE for the allowed client; an unknown key gets no answer at all.
        nurse_keys = ClientKeys.load(keys["server"], keys["nurse"])
        assert replay_request(pub.replay_endpoint, {"since_seq": 0}, context=ctx, keys=nurse_keys)["messages"]
        with pytest.raises(zmq.Again):
            replay_request(
                pub.replay_endpoint,
                {"since_seq": 0},
                timeout_s=0.5,
                context=ctx,
                keys=ClientKeys.load(keys["server"], keys["intruder"]),
            )
    finally:
        for sub in subs:
            sub.close()
        pub.close(flush_s=0)


def test_a_client_pinned_to_the_server_key_rejects_a_forged_server(tmp_path, ctx, keys):
    # A process holding the port with another key (it even accepts the client), or without CURVE.
    forged = curve_publisher(tmp_path, ctx, keys, secret="forged_secret")
    squatter = Publisher("tcp://127.0.0.1:*", "", tmp_path / "squatter.jsonl", context=ctx)
    try:
        for pub in (forged, squatter):
            warnings: list[str] = []
            sub = Subscriber(
                pub.endpoint, "", context=ctx, warn=warnings.append, keys=ClientKeys.load(keys["server"], keys["nurse"])
            )
            try:
                assert first_message(pub, sub, tries=30, until=lambda w=warnings: bool(w)) is None
                assert not sub.connected
                assert any("cannot authenticate the daemon" in w for w in warnings), warnings
            finally:
                sub.close()
        # realtime-alerts says so on stderr and prints nothing, while the forged server keeps publishing.
        command = [sys.executable, "-m", "realtime", "alerts", "--endpoint", forged.endpoint, "--replay-endpoint", ""]
        command += ["--server-key", str(keys["server"]), "--client-key", str(keys["nurse"])]
        cli = subprocess.Popen(
            [*command, "--count", "1", "--timeout-s", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(REPO),
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        while cli.poll() is None:
            forged.publish(heartbeat(1.0))
            time.sleep(0.05)
        out, err = cli.communicate(timeout=30)
        assert cli.returncode == 1 and out == "" and "cannot authenticate the daemon" in err, err
    finally:
        forged.close(flush_s=0)
        squatter.close(flush_s=0)


def test_plaintext_off_loopback_and_half_configured_curve_are_refused(tmp_path, keys):
    log_path = tmp_path / "alerts.jsonl"
    with pytest.raises(PublisherConfigError, match=r"'tcp://0\.0\.0\.0:\*' is not a loopback address"):
        Publisher("tcp://0.0.0.0:*", "", log_path)
    with pytest.raises(PublisherConfigError, match="needs both"):
        Publisher("tcp://127.0.0.1:*", "", log_path, curve_secret_key=str(keys["server_secret"]))
    with pytest.raises(PublisherConfigError, match=r"server\.key'"):  # a public key where the secret one goes
        Publisher(
            "tcp://127.0.0.1:*",
            "",
            log_path,
            curve_secret_key=str(keys["server"]),
            curve_clients_dir=str(keys["clients"]),
        )
    assert not log_path.exists()  # refused before anything was opened


def test_a_key_file_with_a_mistyped_character_is_refused_at_once(tmp_path, keys, ctx):
    """40 characters that are not all Z85 (one mistyped): a configuration error naming the file, for the daemon's
    secret key and a client's; before, libzmq refused the socket and the daemon hung at start, saying nothing."""
    from realtime.alerts import ClientKeys

    bad = tmp_path / "bad.key_secret"
    text = keys["server_secret"].read_text()
    secret = text.split('secret-key = "')[1][:40]
    bad.write_text(text.replace(secret, "~" + secret[1:]))
    with pytest.raises(PublisherConfigError, match=r"bad\.key_secret'.*not a Z85-encoded CURVE key"):
        curve_publisher(tmp_path, ctx, {**keys, "bad": bad}, secret="bad")
    with pytest.raises(PublisherConfigError, match="not a Z85-encoded CURVE key"):
        ClientKeys.load(keys["server"], bad)


def test_plaintext_off_loopback_explicitly_allowed_passes_the_check_with_a_warning(tmp_path, caplog):
    """``allow_plaintext_remote``: the check lets the address through and says what it costs. The address is
    TEST-NET-1 (RFC 5737), assigned to no host: the bind then fails, so nothing listens off loopback here."""
    log_path = tmp_path / "alerts.jsonl"
    with caplog.at_level(logging.WARNING, logger="realtime.alerts"), pytest.raises(zmq.ZMQError):
        Publisher("tcp://192.0.2.1:5556", "", log_path, allow_plaintext_remote=True)
    assert (
        "alerts: alerts.endpoint tcp://192.0.2.1:5556 is not loopback and CURVE is off (allow_plaintext_remote): "
        "alerts travel unauthenticated and unencrypted"
    ) in caplog.messages
    with pytest.raises(PublisherConfigError, match="not a loopback address"):  # the same address, not allowed
        Publisher("tcp://192.0.2.1:5556", "", log_path)


def answer_acks(pub: Publisher, stop: threading.Event, open_events: set[int]) -> None:
    """The daemon loop's part: take acknowledgements and answer each."""
    while not stop.wait(0.02):
        for req in pub.pending_acks():
            if req.event_id in open_events:
                req.reply.set_result({"ok": True, "event_id": req.event_id, "by": req.by, "note": req.note})
            else:
                req.reply.set_result({"error": f"no open event {req.event_id}"})


def test_an_authenticated_client_acknowledges_through_realtime_alerts(tmp_path, ctx, keys):
    pub = curve_publisher(tmp_path, ctx, keys)
    stop = threading.Event()
    daemon_loop = threading.Thread(target=answer_acks, args=(pub, stop, {3}), daemon=True)
    daemon_loop.start()
    curve_args = ("--server-key", str(keys["server"]), "--client-key", str(keys["nurse"]))
    try:
        ok = run_cli("alerts", "--replay-endpoint", pub.replay_endpoint, *curve_args, "--ack", "3", "--note", "seen")
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout) == {"ok": True, "event_id": 3, "by": "nurse-station-3", "note": "seen"}
        refused = run_cli("alerts", "--replay-endpoint", pub.replay_endpoint, *curve_args, "--ack", "9")
        assert refused.returncode == 1 and "no open event 9" in refused.stderr
    finally:
        stop.set()
        daemon_loop.join(timeout=5)
        pub.close(flush_s=0)


def test_acknowledgements_need_curve_and_an_answer(tmp_path, ctx, keys):
    plain = Publisher("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", tmp_path / "plain.jsonl", context=ctx)
    try:
        reply = ack_request(plain.replay_endpoint, 1, context=ctx)
        assert "needs CURVE authentication" in reply["error"]
    finally:
        plain.close(flush_s=0)
    pub = curve_publisher(tmp_path, ctx, keys, ack_wait_s=0.3)  # nobody takes acknowledgements
    try:
        nurse = ClientKeys.load(keys["server"], keys["nurse"])
        assert ack_request(pub.replay_endpoint, 1, keys=nurse, context=ctx) == {"error": "daemon busy, try again"}
        assert pub.pending_acks() == []  # the client gave up: not handed to the daemon later
        long_note = ack_request(pub.replay_endpoint, 1, "x" * 201, keys=nurse, context=ctx)
        assert "at most 200 characters" in long_note["error"]
        # valid JSON, no Unicode: a Latin-1 "Müller" read as UTF-8 by the client's shell ("\udcfc") could not be
        # logged, so the daemon would answer ok for an acknowledgement no station ever learns of
        surrogate = ack_request(pub.replay_endpoint, 1, "M\udcfcller", keys=nurse, context=ctx)
        assert "lone surrogate" in surrogate["error"] and pub.pending_acks() == []
    finally:
        pub.close(flush_s=0)
