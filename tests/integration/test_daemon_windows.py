"""``status.window`` (``alerts.publish_windows``, ``--publish-windows``): one message per bed per scored window, outside
the alarm sequence. Real LSL outlets in subprocesses, the LiteRT toy model, real ZeroMQ sockets.

- a daemon process of two beds with ``--publish-windows``: a SUB of ``status.window`` gets exactly one message per
  scored window of each bed (``windows_total`` 1, 2, ... up to the final heartbeat's), window ends increasing, every
  one valid against the schema and without ``seq``; none is in the alert log; a SUB of ``seizure`` gets the onset
  and never a window message;
- off by default (an in-process daemon): no window message while windows are scored; a SIGHUP-style reload that
  sets ``publish_windows = true`` turns them on without touching the stream.
"""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from pathlib import Path

import pylsl
import pytest
import zmq
from jsonschema import Draft202012Validator
from rt_daemon_proc import toy_daemon
from rt_helpers import QUICK, Outlets, poll, read_log, toml, toy_sections, unique, write_config

from realtime.config import load_config
from realtime.daemon import Daemon
from realtime.messages import decode

pytestmark = pytest.mark.integration

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "alert-message.schema.json").read_text())
QUIET_UV = "20"  # the toy model: p ~ 0
SEIZURE_UV = "300"  # p ~ 1


class Collector:
    """A SUB socket of ``prefix`` on ``endpoint``; a thread keeps every message, decoded, with its receipt LSL time."""

    def __init__(self, ctx: zmq.Context, endpoint: str, prefix: bytes):
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, 200)
        self.sock.setsockopt(zmq.SUBSCRIBE, prefix)
        self.sock.connect(endpoint)
        self.got: list[tuple[float, str, dict]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                frames = self.sock.recv_multipart()
            except zmq.Again:
                continue
            except zmq.ZMQError:
                return
            self.got.append((pylsl.local_clock(), frames[0].decode(), decode(frames)))

    def messages(self, topic: str | None = None) -> list[dict]:
        return [m for _, t, m in list(self.got) if topic is None or t == topic]

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close(linger=0)


def test_publish_windows_one_message_per_scored_window_per_bed_outside_the_sequence(toy_export, tmp_path):
    quiet, seizing = unique("win-quiet"), unique("win-seize")
    log_path = tmp_path / "alerts.jsonl"
    config = write_config(tmp_path / "detect.toml", QUICK)
    ctx = zmq.Context()
    windows = seizure = None
    with Outlets() as outlets:
        outlets.start("--name", quiet, "--source-id", unique("amp"), "--amplitude", QUIET_UV)
        outlets.start(
            "--name", seizing, "--source-id", unique("amp"), "--amplitude", QUIET_UV, "--seizure-after-s", "7"
        )
        d = toy_daemon(
            tmp_path, toy_export, log_path, "--stream", quiet, "--stream", seizing, "--publish-windows", config=config
        )
        try:
            d.wait_ready()
            windows = Collector(ctx, d.endpoint, b"status.window")
            seizure = Collector(ctx, d.endpoint, b"seizure")

            def enough() -> bool:
                per_bed = [[m for m in windows.messages() if m["bed"] == b] for b in (quiet, seizing)]
                return all(len(w) >= 4 for w in per_bed) and any(m["alarm_active"] for m in per_bed[1])

            assert poll(lambda: enough(), bool, 60), (len(windows.got), d.log_text()[-2000:])
            assert seizure.messages("seizure.onset"), d.log_text()[-2000:]
            d.proc.send_signal(signal.SIGTERM)
            assert d.proc.wait(timeout=30) == 0, d.log_text()[-2000:]
            time.sleep(0.3)  # the last frames reach the collectors
        finally:
            for c in (windows, seizure):
                if c is not None:
                    c.close()
            d.close()
    ctx.term()
    logged = read_log(log_path)
    assert logged and not any(m["type"] == "status.window" for m in logged)  # never in the alert log
    finals = {m["bed"]: m for m in logged if m["type"] == "status.heartbeat" and m.get("final")}
    run = logged[-1]["run"]
    validator = Draft202012Validator(SCHEMA)
    received = windows.messages()
    assert {t for _, t, _ in windows.got} == {"status.window"}
    for msg in received:
        assert not list(validator.iter_errors(msg)), msg
        assert "seq" not in msg and msg["run"] == run and msg["time"] == msg["window_end"] > msg["window_start"]
        assert msg["channels_scored"] == 4 and 0 <= msg["probability"] <= 1  # the outlets' 4 channels, all usable
    for bed in (quiet, seizing):
        mine = [m for m in received if m["bed"] == bed]
        # one per scored window: numbered 1, 2, ... up to the bed's count in its final heartbeat, none missing
        assert [m["windows_total"] for m in mine] == list(range(1, finals[bed]["windows_total"] + 1)), bed
        ends = [m["window_end"] for m in mine]
        assert all(b > a for a, b in itertools.pairwise(ends)), ends
        assert mine[-1]["stream"]["name"] == bed
    # the decision's state rides along: off, then on once the onset was published (the onset first)
    states = [m["alarm_active"] for m in received if m["bed"] == seizing]
    assert states[0] is False and states[-1] is True and states == sorted(states)
    (onset,) = [m for m in logged if m["type"] == "seizure.onset"]
    first_on = next(m for m in received if m["bed"] == seizing and m["alarm_active"])
    assert first_on["window_end"] == onset["publish_time"]  # the window that published the onset
    assert not any(m["alarm_active"] for m in received if m["bed"] == quiet)
    # the station of "seizure" got the onset and nothing else
    assert {t for _, t, _ in seizure.got} == {"seizure.onset"}
    assert seizure.messages()[0] == onset


def test_windows_are_not_published_by_default_and_a_reload_turns_them_on(toy_export, tmp_path):
    name = unique("win-default")
    log_path = tmp_path / "alerts.jsonl"
    path = tmp_path / "detect.toml"
    sections = toy_sections(toy_export, log_path, stream={"name": name, "resolve_timeout_s": 3.0})
    path.write_text(toml(sections))
    ctx = zmq.Context()
    with Outlets() as outlets:
        outlets.start("--name", name, "--source-id", unique("amp"), "--amplitude", QUIET_UV)
        d = Daemon(load_config(path), config_path=path, env={})
        everything = None
        try:
            d.start()
            assert d.config.alerts.publish_windows is False
            everything = Collector(ctx, d.publisher.endpoint, b"")

            def until(predicate, timeout_s: float, what: str) -> None:
                deadline = time.monotonic() + timeout_s
                while time.monotonic() < deadline and not predicate():
                    d.iterate()
                assert predicate(), what

            until(lambda: d._bed.windows_total >= 4, 40, "four windows scored")
            scored_off = d._bed.windows_total
            time.sleep(0.3)
            assert everything.messages("status.heartbeat") and not everything.messages("status.window")
            sections["alerts"] = {**sections["alerts"], "publish_windows": True}
            path.write_text(toml(sections))
            assert d.reload() is True and d.config.alerts.publish_windows is True
            until(lambda: len(everything.messages("status.window")) >= 2, 20, "window messages after the reload")
        finally:
            d.shutdown()
            if everything is not None:
                everything.close()
    ctx.term()
    got = everything.messages("status.window")
    assert [m["windows_total"] for m in got] == list(range(scored_off + 1, scored_off + 1 + len(got)))
    assert "bed" not in got[0] and got[0]["stream"]["name"] == name  # the one bed of [stream]: no label
    assert not any(m["type"] == "status.window" for m in read_log(log_path))
    restarts = [m for m in everything.messages("status.signal") if m["state"] in ("lost", "restored")]
    assert not restarts  # the reload did not touch the stream
