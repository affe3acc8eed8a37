"""realtime-fanin: three real Publishers (three daemons' alert sockets) on loopback, a real fan-in
(XSUB/XPUB proxy + replay across daemons), real stations (FaninSubscriber, realtime-alerts --fanin);
with CURVE, real key files from realtime-keys."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import zmq
from prometheus_client.parser import text_string_to_metric_families
from rt_helpers import REPO

from realtime.alerts import ClientKeys, Publisher, replay_request
from realtime.fanin import (
    Fanin,
    FaninConfig,
    FaninConfigError,
    FaninSubscriber,
    Upstream,
    build_parser,
    check_config,
    config_from_args,
    run,
)
from realtime.keys import make_key_pair
from realtime.messages import Envelope, heartbeat_message, signal_message

pytestmark = pytest.mark.integration

BEDS = ("bed1", "bed2", "bed3")
WAIT_S = 30.0  # generous: the test machine is loaded; a passing test takes a fraction of it


def envelope(bed: str) -> Envelope:
    return Envelope.of({"name": bed, "type": "EEG", "source_id": f"sid-{bed}"}, host=f"host-{bed}", model_version="t1")


def heartbeat(bed: str, t: float = 1.0) -> dict:
    return heartbeat_message(envelope(bed), time=t, state="connected", alarm_active=False, windows_total=1, uptime_s=t)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upstreams(pubs: dict[str, Publisher], keys: dict[str, Path] | None = None) -> tuple[Upstream, ...]:
    return tuple(
        Upstream(bed, pub.endpoint, pub.replay_endpoint, str(keys[bed]) if keys else "") for bed, pub in pubs.items()
    )


@pytest.fixture
def pubs(tmp_path):
    made = {bed: Publisher("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", tmp_path / bed / "alerts.jsonl") for bed in BEDS}
    yield made
    for pub in made.values():
        pub.close(flush_s=0)


def collect(sub, until, *, publish=None, timeout_s: float = WAIT_S) -> list[dict]:
    """Messages from ``sub`` until ``until(received)``; ``publish()`` is called every 0.1 s meanwhile (a slow
    joiner gets something to notice)."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout_s
    next_publish = 0.0
    while not until(got):
        now = time.monotonic()
        assert now < deadline, f"timed out; received {[(m['stream']['name'], m['seq']) for m in got]}"
        if publish is not None and now >= next_publish:
            publish()
            next_publish = now + 0.1
        msg = sub.receive(0.05)
        if msg is not None:
            got.append(msg)
    return got


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A real HTTP scrape of ``/metrics``: ``(sample name, sorted labels) -> value``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def wait_for_metrics(port: int, until, what: str, *, publish=None, timeout_s: float = WAIT_S) -> dict:
    """Scrape every 0.1 s until ``until(samples)``; ``publish()`` before each scrape."""
    deadline = time.monotonic() + timeout_s
    samples: dict = {}
    while time.monotonic() < deadline:
        if publish is not None:
            publish()
        samples = scrape(port)
        if until(samples):
            return samples
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last scrape: {samples}")


def by_bed(msgs: list[dict]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {bed: [] for bed in BEDS}
    for m in msgs:
        out[m["stream"]["name"]].append(m["seq"])
    return out


def every_bed(msgs: list[dict]) -> bool:
    return all(by_bed(msgs).values())


def test_fanin_live_from_three_daemons_and_gaps_filled_per_upstream(pubs, tmp_path):
    warnings: list[str] = []
    port, replay_port = free_port(), free_port()
    cfg = FaninConfig(
        upstreams=upstreams(pubs), bind=f"tcp://127.0.0.1:{port}", replay_bind=f"tcp://127.0.0.1:{replay_port}"
    )
    fanin = Fanin(cfg).start()
    sub = FaninSubscriber(fanin.endpoint, fanin.replay_endpoint, warn=warnings.append)
    try:
        # Live: every daemon's messages reach the station through the proxy.
        warm = collect(sub, every_bed, publish=lambda: [p.publish(heartbeat(b)) for b, p in pubs.items()])
        first = {bed: seqs[0] for bed, seqs in by_bed(warm).items()}
        for _ in range(3):
            for bed, pub in pubs.items():
                pub.publish(heartbeat(bed, 2.0))
        last = {bed: pub.last_seq for bed, pub in pubs.items()}
        got = warm + collect(sub, lambda g: all(s and s[-1] == last[b] for b, s in by_bed(warm + g).items()))
        assert set(sub.cursors) == set(BEDS) and sub.cursors == last
        assert all(sub.upstream_of[pub.run] == bed for bed, pub in pubs.items())

        # The fan-in goes away; each daemon publishes meanwhile (a different number each), nobody hears it.
        fanin.close()
        missed: dict[str, list[int]] = {}
        for n, (bed, pub) in enumerate(pubs.items(), start=1):
            missed[bed] = [pub.publish(signal_message(envelope(bed), time=3.0, state="lost", detail="x"))["seq"]]
            missed[bed] += [pub.publish(heartbeat(bed, 3.0))["seq"] for _ in range(n)]
        fanin = Fanin(cfg).start()  # the same endpoints: the station's SUB reconnects by itself
        # The first live message of each daemon after the gap fetches exactly that daemon's missed ones first.
        after = collect(
            sub,
            lambda g: all(any(s > missed[b][-1] for s in seqs) for b, seqs in by_bed(g).items()),
            publish=lambda: [p.publish(heartbeat(b, 4.0)) for b, p in pubs.items()],
        )
        got += after
        for bed, pub in pubs.items():
            seqs = by_bed(got)[bed]
            # every message of this daemon from the first received to its last, once each, in order
            assert seqs == list(range(first[bed], seqs[-1] + 1)), (bed, seqs)
            assert set(missed[bed]) <= set(seqs)
            assert seqs[-1] <= pub.last_seq
            lost = [m for m in after if m["stream"]["name"] == bed and m["type"] == "status.signal"]
            assert [m["seq"] for m in lost] == missed[bed][:1]
        assert not [w for w in warnings if "went back" in w or "cannot tell" in w], warnings
    finally:
        sub.close()
        fanin.close()


def test_a_station_started_while_the_fanin_was_away_fetches_what_each_daemon_sent_since(pubs):
    """``since``: every upstream's cursor until something of it arrives. The fan-in is not running when the station
    starts (its start-up replay unanswered: no cursor from it), a daemon's onset meanwhile reaches no one; once the
    fan-in runs, the first live message of that daemon fetches the onset before it. Before, an upstream with no
    message received yet had no cursor, and the onset was never asked for."""
    warnings: list[str] = []
    port, replay_port = free_port(), free_port()
    cfg = FaninConfig(
        upstreams=upstreams(pubs), bind=f"tcp://127.0.0.1:{port}", replay_bind=f"tcp://127.0.0.1:{replay_port}"
    )
    since = pubs["bed1"].publish(heartbeat("bed1"))["seq"]
    sub = FaninSubscriber(cfg.bind, cfg.replay_bind, since=since, replay_timeout_s=0.3, warn=warnings.append)
    fanin = None
    try:
        assert not sub.cursors and sub.receive(0.1) is None
        onset = pubs["bed1"].publish(signal_message(envelope("bed1"), time=2.0, state="lost", detail="x"))["seq"]
        fanin = Fanin(cfg).start()
        got = collect(
            sub,
            lambda g: any(m["seq"] > onset and m["stream"]["name"] == "bed1" for m in g),
            publish=lambda: pubs["bed1"].publish(heartbeat("bed1", 3.0)),
        )
        assert by_bed(got)["bed1"][0] == onset == since + 1
    finally:
        sub.close()
        if fanin is not None:
            fanin.close()


def test_fanin_replay_across_daemons_returns_exactly_the_missed_per_upstream(pubs):
    for n, (bed, pub) in enumerate(pubs.items(), start=2):
        for i in range(n * 2):
            pub.publish(heartbeat(bed, float(i)))
    cfg = FaninConfig(
        upstreams=upstreams(pubs), bind="tcp://127.0.0.1:*", replay_bind="tcp://127.0.0.1:*", upstream_timeout_s=0.5
    )
    fanin = Fanin(cfg).start()
    try:
        cursors = {"bed1": 1, "bed2": 5}  # bed3: not named: others_since_seq
        reply = replay_request(fanin.replay_endpoint, {"since": cursors, "others_since_seq": 3}, timeout_s=10)
        sections = reply["upstreams"]
        assert set(sections) == set(BEDS)
        for bed, since in {**cursors, "bed3": 3}.items():
            sec = sections[bed]
            assert [m["seq"] for m in sec["messages"]] == list(range(since + 1, pubs[bed].last_seq + 1)), bed
            assert {m["stream"]["name"] for m in sec["messages"]} == {bed}
            assert sec["more"] is False and sec["last_seq"] == pubs[bed].last_seq
        assert reply["runs"] == {pub.run: bed for bed, pub in pubs.items()}

        # Paging per upstream: limit 2 -> more, and the next page from the last seq received.
        page = replay_request(fanin.replay_endpoint, {"since": {"bed3": 0}, "limit": 2}, timeout_s=10)["upstreams"]
        assert list(page) == ["bed3"] and [m["seq"] for m in page["bed3"]["messages"]] == [1, 2]
        assert page["bed3"]["more"] is True

        # A run is located on its daemon; unknown ones are not.
        located = replay_request(
            fanin.replay_endpoint, {"locate": {pubs["bed2"].run: 3, "no-such-run": 1}}, timeout_s=10
        )
        assert located == {"upstreams": {}, "runs": {pubs["bed2"].run: "bed2"}}

        # Bad requests: an error quoting what was received, and the socket keeps answering.
        for bad, words in (
            ({"since_seq": 4}, "since_seq 4"),
            ({"since": {"bed9": 1}}, "bed9"),
            ({"since": {"bed1": -1}}, "-1"),
            ({"ack": 3}, "daemon's own replay socket"),
            (b"not json", "not json"),
            ({"since": {}, "colour": 1}, "colour"),
        ):
            answer = replay_request(fanin.replay_endpoint, bad, timeout_s=10)
            assert words in answer["error"], (bad, answer)

        # One daemon down: its section says so; the others answer.
        pubs.pop("bed2").close(flush_s=0)
        reply = replay_request(fanin.replay_endpoint, {"others_since_seq": 0}, timeout_s=20)
        assert "bed2" in reply["upstreams"]["bed2"]["error"] and "no answer" in reply["upstreams"]["bed2"]["error"]
        assert len(reply["upstreams"]["bed1"]["messages"]) == pubs["bed1"].last_seq
    finally:
        fanin.close()


@pytest.fixture
def curve(tmp_path) -> dict[str, Path]:
    """A server pair per daemon, the fan-in's server and client pairs, a station and an intruder."""
    out: dict[str, Path] = {}
    for bed in BEDS:
        make_key_pair(tmp_path / bed, "server")
        out[bed] = tmp_path / bed / "server.key"
        out[f"{bed}_secret"] = tmp_path / bed / "server.key_secret"
    make_key_pair(tmp_path / "fanin", "server")
    make_key_pair(tmp_path / "fanin", "fanin-ward3")
    make_key_pair(tmp_path / "nurse", "nurse-station-3")
    make_key_pair(tmp_path / "intruder", "intruder")
    for d in ("daemon_clients", "station_clients"):
        (tmp_path / d).mkdir()
    shutil.copy(tmp_path / "fanin" / "fanin-ward3.key", tmp_path / "daemon_clients")
    shutil.copy(tmp_path / "nurse" / "nurse-station-3.key", tmp_path / "station_clients")
    out.update(
        fanin_server=tmp_path / "fanin" / "server.key",
        fanin_secret=tmp_path / "fanin" / "server.key_secret",
        fanin_client=tmp_path / "fanin" / "fanin-ward3.key_secret",
        nurse=tmp_path / "nurse" / "nurse-station-3.key_secret",
        intruder=tmp_path / "intruder" / "intruder.key_secret",
        daemon_clients=tmp_path / "daemon_clients",
        station_clients=tmp_path / "station_clients",
    )
    return out


def test_fanin_curve_end_to_end(tmp_path, curve):
    """Each daemon a CURVE server with its own key, allowing the fan-in's client key; the fan-in a CURVE
    server to stations: the allowed station receives and replays, an unknown station is refused."""
    pubs = {
        bed: Publisher(
            "tcp://127.0.0.1:*",
            "tcp://127.0.0.1:*",
            tmp_path / "logs" / bed / "alerts.jsonl",
            curve_secret_key=str(curve[f"{bed}_secret"]),
            curve_clients_dir=str(curve["daemon_clients"]),
        )
        for bed in BEDS
    }
    fanin = sub = intruder = None
    try:
        fanin = Fanin(
            FaninConfig(
                upstreams=upstreams(pubs, {bed: curve[bed] for bed in BEDS}),
                bind="tcp://127.0.0.1:*",
                replay_bind="tcp://127.0.0.1:*",
                curve_secret_key=str(curve["fanin_secret"]),
                curve_clients_dir=str(curve["station_clients"]),
                client_key=str(curve["fanin_client"]),
            )
        ).start()
        intruder_warnings: list[str] = []
        intruder = FaninSubscriber(
            fanin.endpoint,
            fanin.replay_endpoint,
            keys=ClientKeys.load(curve["fanin_server"], curve["intruder"]),
            warn=intruder_warnings.append,
            replay_timeout_s=1.0,
        )
        sub = FaninSubscriber(
            fanin.endpoint,
            fanin.replay_endpoint,
            keys=ClientKeys.load(curve["fanin_server"], curve["nurse"]),
        )
        got = collect(sub, every_bed, publish=lambda: [p.publish(heartbeat(b)) for b, p in pubs.items()])
        assert sub.connected and {m["host"] for m in got} == {f"host-{b}" for b in BEDS}
        assert sub.upstream_of == {pub.run: bed for bed, pub in pubs.items()}  # located over CURVE
        replayed = sub.fetch({}, others_since_seq=0)  # replay across daemons over CURVE both ways
        assert {name for name, _m in replayed} == set(BEDS)
        assert len(replayed) == sum(pub.last_seq for pub in pubs.values())

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not intruder_warnings:
            assert intruder.receive(0.1) is None
        assert any("refused this client's key" in w for w in intruder_warnings), intruder_warnings
        assert not intruder.connected
        with pytest.raises(zmq.Again):  # its replay requests are refused at the handshake: no answer
            replay_request(
                fanin.replay_endpoint,
                {"others_since_seq": 0},
                timeout_s=1.0,
                keys=ClientKeys.load(curve["fanin_server"], curve["intruder"]),
            )
    finally:
        for s in (sub, intruder):
            if s is not None:
                s.close()
        if fanin is not None:
            fanin.close()
        for pub in pubs.values():
            pub.close(flush_s=0)


def test_fanin_refuses_plaintext_off_loopback_and_mismatched_curve(curve):
    from realtime.fanin import FaninConfigError

    up = Upstream("bed1", "tcp://10.1.2.3:5556", "tcp://10.1.2.3:5557")
    with pytest.raises(FaninConfigError, match=r"'tcp://10.1.2.3:5556' is not loopback and CURVE is off"):
        Fanin(FaninConfig(upstreams=(up,)))
    with pytest.raises(FaninConfigError, match=r"bind 'tcp://0.0.0.0:6556' is not a loopback address"):
        Fanin(FaninConfig(upstreams=(), bind="tcp://0.0.0.0:6556"))
    keyed = Upstream("bed1", "tcp://10.1.2.3:5556", "", str(curve["bed1"]))
    with pytest.raises(FaninConfigError, match=r"client_key"):
        Fanin(FaninConfig(upstreams=(keyed,)))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "realtime", *args]


def test_fanin_cli_process_and_realtime_alerts_fanin(pubs, tmp_path):
    """The real commands: realtime-fanin serving three daemons, realtime-alerts --fanin --since 0 printing
    every daemon's logged messages; SIGTERM stops the fan-in with 0; a bad upstream exits 78."""
    for bed, pub in pubs.items():
        for i in range(2):
            pub.publish(heartbeat(bed, float(i)))
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    port, replay_port = free_port(), free_port()
    ups = [f"--upstream={bed}={pub.endpoint},{pub.replay_endpoint}" for bed, pub in pubs.items()]
    log = (tmp_path / "fanin.log").open("w")
    proc = subprocess.Popen(
        _cli(
            "fanin",
            *ups,
            f"--bind=tcp://127.0.0.1:{port}",
            f"--replay-bind=tcp://127.0.0.1:{replay_port}",
            "--metrics-port=0",
        ),
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        alerts = subprocess.run(
            _cli(
                "alerts",
                "--fanin",
                f"--endpoint=tcp://127.0.0.1:{port}",
                f"--replay-endpoint=tcp://127.0.0.1:{replay_port}",
                "--since=0",
                "--count=6",
                "--timeout-s=60",
            ),
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert alerts.returncode == 0, alerts.stderr
        lines = [json.loads(line) for line in alerts.stdout.splitlines()]
        assert sorted((m["stream"]["name"], m["seq"]) for m in lines) == [(b, s) for b in BEDS for s in (1, 2)]
        assert proc.poll() is None
        # --metrics-port 0: a free port, logged at start; every upstream connected, the replay counted.
        found = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", (tmp_path / "fanin.log").read_text())
        assert found, (tmp_path / "fanin.log").read_text()
        samples = wait_for_metrics(
            int(found.group(1)),
            lambda m: all(m.get(("realtime_fanin_upstream_connected", (("upstream", b),))) == 1 for b in BEDS),
            "every upstream connected",
        )
        assert samples[("realtime_fanin_upstreams_configured", ())] == 3
        assert samples[("realtime_fanin_replay_requests_total", (("outcome", "ok"),))] >= 1  # counted, then sent
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
    assert "3 upstreams" in (tmp_path / "fanin.log").read_text()
    bad = subprocess.run(
        _cli("fanin", "--upstream=bed1=not-an-endpoint"), cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 78 and "'bed1=not-an-endpoint'" in bad.stderr, bad.stderr


def test_fanin_metrics_connected_upstreams_forwarded_messages_and_replay_outcomes(pubs):
    """A fan-in of two real daemons' alert sockets and one upstream that is not running, with
    --metrics-port 0, run by realtime.fanin.run (as the command does), scraped over HTTP."""
    live = {bed: pubs[bed] for bed in ("bed1", "bed2")}
    absent = Upstream("bed9", f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}")
    cfg = FaninConfig(
        upstreams=(*upstreams(live), absent),
        bind="tcp://127.0.0.1:*",
        replay_bind="tcp://127.0.0.1:*",
        metrics_port=0,
        upstream_timeout_s=0.5,
    )
    fanin = Fanin(cfg).start()
    stop = threading.Event()
    loop = threading.Thread(target=run, args=(fanin, stop), name="fanin-run", daemon=True)
    loop.start()
    ctx = zmq.Context.instance()
    sub = FaninSubscriber(fanin.endpoint, fanin.replay_endpoint)
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    try:
        port = fanin.metrics.port
        assert port is not None and port > 0 and fanin.metrics.host == "127.0.0.1"

        def connected(m: dict, bed: str) -> float | None:
            return m.get(("realtime_fanin_upstream_connected", (("upstream", bed),)))

        first = wait_for_metrics(
            port,
            lambda m: connected(m, "bed1") == 1 and connected(m, "bed2") == 1,
            "bed1 and bed2 connected",
        )
        assert connected(first, "bed9") == 0
        assert first[("realtime_fanin_upstreams_configured", ())] == 3

        # Live messages through the proxy: the station receives them, the forwarded count goes up.
        got = collect(
            sub,
            lambda g: {"bed1", "bed2"} <= {m["stream"]["name"] for m in g},
            publish=lambda: [p.publish(heartbeat(b)) for b, p in live.items()],
        )
        samples = wait_for_metrics(
            port,
            lambda m: (
                m[("realtime_fanin_messages_forwarded_total", ())] >= len(got)
                and m[("realtime_fanin_subscribers_connected", ())] == 1
            ),
            "the received messages counted, one station connected",
        )
        before = samples[("realtime_fanin_messages_forwarded_total", ())]
        for bed, pub in live.items():
            for _ in range(5):
                pub.publish(heartbeat(bed, 2.0))
        wait_for_metrics(
            port,
            lambda m: m[("realtime_fanin_messages_forwarded_total", ())] >= before + 10,
            "ten more messages forwarded",
        )

        # Replay: one answered, one bad request (error), one multipart request refused up front; each is
        # counted before its reply is sent.
        def outcome(m: dict, name: str) -> float:
            return m[("realtime_fanin_replay_requests_total", (("outcome", name),))]

        counts = scrape(port)
        ok0, error0, refused0 = (outcome(counts, o) for o in ("ok", "error", "refused"))
        timed0 = counts[("realtime_fanin_replay_duration_seconds_count", ())]
        reply = replay_request(fanin.replay_endpoint, {"since": {"bed1": 0}}, timeout_s=10)
        assert reply["upstreams"]["bed1"]["messages"]
        assert "error" in replay_request(fanin.replay_endpoint, {"since_seq": 1}, timeout_s=10)
        dealer.connect(fanin.replay_endpoint)
        dealer.send_multipart([b"", b'{"since": {}}', b'{"since": {}}'])
        assert dealer.poll(10_000), "no reply to a multipart request"
        _empty, body = dealer.recv_multipart()
        assert "multipart request of 2 parts; refused" in json.loads(body)["error"]
        counts = scrape(port)
        assert outcome(counts, "refused") == refused0 + 1
        assert outcome(counts, "ok") == ok0 + 1 and outcome(counts, "error") == error0 + 1
        assert counts[("realtime_fanin_replay_duration_seconds_count", ())] == timed0 + 2  # refusals not timed

        # The station leaves: no station connected.
        sub.close()
        sub = None
        wait_for_metrics(port, lambda m: m[("realtime_fanin_subscribers_connected", ())] == 0, "the station gone")
    finally:
        dealer.close(linger=0)
        if sub is not None:
            sub.close()
        stop.set()
        loop.join(timeout=10)
        fanin.close()
    with pytest.raises(urllib.error.URLError):  # the metrics endpoint is closed with the fan-in
        scrape(port)


def test_fanin_metrics_settings_from_file_and_flags(tmp_path):
    path = tmp_path / "ward3.toml"
    path.write_text(
        '[fanin]\nmetrics_port = 9150\nmetrics_host = "127.0.0.2"\n'
        "[[upstream]]\nname = 'bed1'\nendpoint = 'tcp://127.0.0.1:5556'\n"
    )
    parse = build_parser().parse_args
    cfg = config_from_args(parse(["--config", str(path)]))
    assert (cfg.metrics_host, cfg.metrics_port) == ("127.0.0.2", 9150) and check_config(cfg) == []
    assert config_from_args(parse(["--config", str(path), "--metrics-port", "0"])).metrics_port == 0
    assert config_from_args(parse(["--config", str(path), "--metrics-port", "off"])).metrics_port is None
    assert config_from_args(parse(["--upstream", "tcp://127.0.0.1:5556"])).metrics_port is None  # absent: off
    with pytest.raises(SystemExit):
        parse(["--metrics-port", "70000"])
    bad = FaninConfig(upstreams=cfg.upstreams, metrics_port=-1)
    assert any("metrics_port" in e and "-1" in e for e in check_config(bad))
    with pytest.raises(FaninConfigError, match="metrics_port"):
        Fanin(bad)
    off = Fanin(FaninConfig(upstreams=cfg.upstreams, bind="tcp://127.0.0.1:*", replay_bind=""))
    try:
        assert off.metrics.port is None  # no endpoint without metrics_port
    finally:
        off.close()
