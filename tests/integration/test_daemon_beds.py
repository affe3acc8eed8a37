"""One daemon, many beds (issue #13): real LSL outlets in subprocesses, the LiteRT toy model, real ZeroMQ,
a real metrics scrape, a real SIGHUP.

- three beds in one daemon: a seizure on one raises that bed's alarm only; every due window of a tick goes
  to the model in one call (the inference histogram counts calls);
- one bed's outlet killed (and re-resolved) does not delay another bed's onset;
- a bed catching up after a burst goes to the model after the current beds, in a call of its own;
- SIGHUP adds a bed and removes one (its open event closed, ``"reason": "bed_removed"``);
- ``--type T`` discovers every stream of that type, a bed each, labelled by the bed map;
- SIGHUP applies ``[discover]``: a relabel removes the bed under its old label (its event closed, its final
  heartbeat) and discovery finds it under the new one; a lost discovered bed is forgotten (found again when its
  stream comes back) while a connected one is kept as it is; discovery switched off removes the discovered beds;
- the batched call gives each bed the same results as scoring it alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pylsl
import pytest
from jsonschema import Draft202012Validator
from rt_daemon_proc import toy_daemon
from rt_helpers import Outlets, in_process_outlet, poll, read_log, scrape, stop, toml, toy_sections, unique

from realtime.config import build_config, load_config
from realtime.daemon import Daemon

pytestmark = pytest.mark.integration

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "alert-message.schema.json").read_text())
QUIET_UV = "20"  # the toy model: p ~ 0 (window std 14 µV)
SEIZURE_UV = "300"  # p ~ 1 (window std 212 µV)


def iterate_until(d: Daemon, predicate, timeout_s: float, what: str, each=None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        d.iterate()
        if each is not None:
            each()
        if predicate():
            return
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def metrics_of(d: Daemon) -> dict[tuple[str, tuple], float]:
    """A real scrape of an in-process daemon's metrics endpoint."""
    return scrape(f"http://127.0.0.1:{d.metrics.port}/metrics")


def calls(d: Daemon) -> float:
    """Model calls so far (the TimedDetector's inference histogram count)."""
    return d.metrics.registry.get_sample_value("realtime_detect_inference_duration_seconds_count") or 0.0


def assert_schema_valid(messages: list[dict]) -> None:
    validator = Draft202012Validator(SCHEMA)
    for msg in messages:
        errors = list(validator.iter_errors(msg))
        assert not errors, (msg, [e.message for e in errors])


def test_three_beds_a_seizure_on_one_raises_its_alarm_only_in_one_batched_call_per_tick(toy_export, tmp_path):
    names = {bed: unique(bed) for bed in ("bed-a", "bed-b", "bed-c")}
    amplitude = {"bed-a": QUIET_UV, "bed-b": QUIET_UV, "bed-c": SEIZURE_UV}
    log_path = tmp_path / "alerts.jsonl"
    cfg = build_config(toy_sections(toy_export, log_path, beds=[{"bed": b, "name": n} for b, n in names.items()]))
    ticks: list[tuple[float, int]] = []  # per iteration: model calls made, beds that scored a window
    with Outlets() as outlets:
        for b in names:
            outlets.start("--name", names[b], "--source-id", unique("amp"), "--amplitude", amplitude[b])
        d = Daemon(cfg, env={})

        def count_tick(before=[0.0, {}]) -> None:  # noqa: B006 - the state of the previous iteration
            now = {label: bed.windows_total for label, bed in d.beds.items()}
            scored = sum(now[b] > before[1].get(b, 0) for b in now)
            ticks.append((calls(d) - before[0], scored))
            before[0], before[1] = calls(d), now

        try:
            d.start()
            count_tick()
            iterate_until(
                d,
                lambda: (
                    any(m["type"] == "seizure.onset" for m in read_log(log_path))
                    and all(b.windows_total >= 3 for b in d.beds.values())
                ),
                40,
                "an onset and three windows on every bed",
                each=count_tick,
            )
            time.sleep(1.5)  # the loop held up (a slow model call, say): every bed now has a window due
            d.iterate()
            count_tick()
            metrics = metrics_of(d)
        finally:
            d.shutdown()
    messages = read_log(log_path)
    assert_schema_valid(messages)
    onsets = [m for m in messages if m["type"] == "seizure.onset"]
    assert [(m["bed"], m["stream"]["name"]) for m in onsets] == [("bed-c", names["bed-c"])]
    assert {m["bed"] for m in messages if m["type"] == "status.heartbeat"} == set(names)
    assert all(m.get("bed") in names for m in messages)  # every message names its bed
    for bed in names:
        active = metrics[("realtime_detect_alarm_active", (("stream", bed),))]
        assert active == (1.0 if bed == "bed-c" else 0.0), bed
        assert metrics[("realtime_detect_windows_processed_total", (("stream", bed),))] >= 3
    # one model call per iteration at most, whatever the number of beds with a window due: after the hold-up,
    # the three beds' windows went to the model in one call
    assert all(n_calls <= 1 for n_calls, _ in ticks), ticks
    assert ticks[-1] == (1.0, 3), ticks[-5:]


def test_a_killed_outlet_does_not_delay_another_beds_onset(toy_export, tmp_path):
    """Bed A's outlet is killed; its inlet is lost and re-resolved (``resolve_timeout_s`` 3 s) while bed B's
    seizure starts: B's onset follows its crossing by ``min_duration_s`` (1 s), not by a blocking resolve."""
    name_a, name_b = unique("lost-a"), unique("seizing-b")
    log_path = tmp_path / "alerts.jsonl"
    beds = [{"bed": "a", "name": name_a}, {"bed": "b", "name": name_b}]
    with Outlets() as outlets:
        a = outlets.start("--name", name_a, "--source-id", unique("amp"), "--amplitude", QUIET_UV)
        outlets.start("--name", name_b, "--source-id", unique("amp"), "--amplitude", QUIET_UV, "--seizure-after-s", "9")
        d = Daemon(build_config(toy_sections(toy_export, log_path, beds=beds)), env={})
        try:
            d.start()
            iterate_until(
                d, lambda: all(bed.windows_total >= 1 for bed in d.beds.values()), 30, "a window on both beds"
            )
            stop(a)  # SIGKILL: the cable pulled
            iterate_until(d, lambda: any(m["type"] == "seizure.onset" for m in read_log(log_path)), 30, "bed b's onset")
            assert d.beds["a"].state == "lost"
        finally:
            d.shutdown()
    messages = read_log(log_path)
    lost = [m for m in messages if m["type"] == "status.signal" and m["state"] == "lost"]
    (onset,) = [m for m in messages if m["type"] == "seizure.onset"]
    assert [m["bed"] for m in lost] == ["a"] and lost[0]["seq"] < onset["seq"]  # a was lost before b's onset
    assert onset["bed"] == "b"
    # the onset was decided min_duration_s (1 s) after its crossing window: publish_time - time; a loop that
    # waited 3 s per resolve of bed a would decide it >= 3 s later
    assert onset["publish_time"] - onset["time"] < 2.5, onset
    lsl_to_unix = time.time() - pylsl.local_clock()
    assert onset["wall_time"] - (onset["window_end"] + lsl_to_unix) < 1.0, onset  # and published at once


def test_sighup_adds_a_bed_and_removes_one_closing_its_open_event(toy_export, tmp_path):
    names = {"bed-a": unique("hup-a"), "bed-b": unique("hup-b"), "bed-c": unique("hup-c")}
    log_path = tmp_path / "alerts.jsonl"
    path = tmp_path / "detect.toml"

    def write(beds):
        path.write_text(toml(toy_sections(toy_export, log_path, beds=[{"bed": b, "name": names[b]} for b in beds])))

    with Outlets() as outlets:
        outlets.start("--name", names["bed-a"], "--amplitude", SEIZURE_UV)
        outlets.start("--name", names["bed-b"], "--amplitude", QUIET_UV)
        outlets.start("--name", names["bed-c"], "--amplitude", QUIET_UV)
        write(["bed-a", "bed-b"])
        d = Daemon(load_config(path), config_path=path, env={})
        handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            d.install_signal_handlers()
            d.start()
            iterate_until(d, lambda: d.beds["bed-a"].alarm.open is not None, 60, "bed-a's onset")
            write(["bed-b", "bed-c"])
            os.kill(os.getpid(), signal.SIGHUP)  # a real signal: the handler sets a flag, the loop reloads
            iterate_until(
                d, lambda: "bed-c" in d.beds and d.beds["bed-c"].windows_total >= 1, 60, "bed-c added and scoring"
            )
            assert set(d.beds) == {"bed-b", "bed-c"}
            metrics = metrics_of(d)
        finally:
            d.shutdown()
            for s, h in handlers.items():
                signal.signal(s, h)
    messages = read_log(log_path)
    assert_schema_valid(messages)
    (onset,) = [m for m in messages if m["type"] == "seizure.onset"]
    (offset,) = [m for m in messages if m["type"] == "seizure.offset"]
    assert onset["bed"] == offset["bed"] == "bed-a" and offset["event_id"] == onset["event_id"]
    assert offset["reason"] == "bed_removed" and "window_end" not in offset
    finals = [m for m in messages if m["type"] == "status.heartbeat" and m.get("final")]
    assert finals[0]["bed"] == "bed-a" and finals[0]["seq"] > offset["seq"]  # the removed bed's last word
    connected = [m["bed"] for m in messages if m["type"] == "status.signal" and m["state"] == "connected"]
    assert sorted(connected) == ["bed-a", "bed-b", "bed-c"]
    beds_in_metrics = {dict(k[1]).get("stream") for k in metrics if k[0] == "realtime_detect_windows_processed_total"}
    assert beds_in_metrics == {"bed-b", "bed-c"}  # the removed bed's series are gone


def test_type_discovers_every_stream_of_that_type_as_a_bed(toy_export, tmp_path):
    kind = unique("EEGT")  # a type no other test's stream has
    sid1, sid2 = unique("amp1"), unique("amp2")
    path = tmp_path / "detect.toml"
    path.write_text(f'[discover.beds]\n"{sid1}" = "ward3-bed7"\n')
    log_path = tmp_path / "alerts.jsonl"

    def connected() -> dict:
        return {m["bed"]: m for m in read_log(log_path) if m["type"] == "status.signal" and m["state"] == "connected"}

    with Outlets() as outlets:
        outlets.start("--name", unique("disc"), "--type", kind, "--source-id", sid1, "--amplitude", QUIET_UV)
        outlets.start("--name", unique("disc"), "--type", kind, "--source-id", sid2, "--amplitude", QUIET_UV)
        d = toy_daemon(
            tmp_path, toy_export, log_path, "--type", kind, "--metrics-port", "0", config=path, replay_endpoint=""
        )
        try:
            d.wait_ready()
            # from the alert log, which holds every message: a bed may connect before a subscriber has joined
            beds = poll(connected, lambda found: len(found) >= 2, 60)
            assert set(beds) == {"ward3-bed7", sid2}, (beds, d.log_text()[-2500:])
            assert all(m["stream"]["type"] == kind for m in beds.values())
            d.subscribe()
            d.wait_message(lambda m: m["type"] == "status.heartbeat" and m["bed"] == sid2, 30, "a heartbeat of bed 2")
        finally:
            d.close()


@contextlib.contextmanager
def signal_handlers(d: Daemon) -> Iterator[None]:
    """``d``'s signal handlers installed (a real SIGHUP sets its flag, the loop reloads), the test's restored."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    d.install_signal_handlers()
    try:
        yield
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)


def write_discovery(path: Path, sections: Mapping, kind: str, labels: Mapping[str, str]) -> None:
    """``sections`` and ``[discover]``: streams of type ``kind`` discovered, ``labels`` its bed map."""
    bed_map = "".join(f'"{sid}" = "{label}"\n' for sid, label in labels.items())
    path.write_text(toml(sections) + f'[discover]\ntype = "{kind}"\n[discover.beds]\n{bed_map}')


def test_sighup_relabels_a_discovered_bed_removing_it_under_its_old_label(toy_export, tmp_path, caplog):
    """``discover.beds`` gives the stream's source id another label: on SIGHUP the bed under the old label is
    removed (its open event closed, ``"reason": "bed_removed"``, then its final heartbeat), logged once, and
    the next discovery round finds the stream under the new label, whose messages carry it."""
    kind, sid = unique("EEGR"), unique("amp")
    log_path, path = tmp_path / "alerts.jsonl", tmp_path / "detect.toml"
    sections = toy_sections(toy_export, log_path)
    write_discovery(path, sections, kind, {sid: "ward3-bed7"})
    with Outlets() as outlets, caplog.at_level(logging.INFO, logger="realtime.daemon"):
        outlets.start("--name", unique("relabel"), "--type", kind, "--source-id", sid, "--amplitude", SEIZURE_UV)
        d = Daemon(load_config(path), config_path=path, env={})
        try:
            with signal_handlers(d):
                d.start()
                iterate_until(
                    d, lambda: "ward3-bed7" in d.beds and d.beds["ward3-bed7"].alarm.open, 60, "ward3-bed7's onset"
                )
                write_discovery(path, sections, kind, {sid: "ward3-bed9"})
                os.kill(os.getpid(), signal.SIGHUP)
                iterate_until(
                    d, lambda: "ward3-bed9" in d.beds and d.beds["ward3-bed9"].alarm.open, 60, "ward3-bed9's onset"
                )
                assert set(d.beds) == {"ward3-bed9"}
                metrics = metrics_of(d)
        finally:
            d.shutdown()
    messages = read_log(log_path)
    assert_schema_valid(messages)
    onsets = [m for m in messages if m["type"] == "seizure.onset"]
    (offset,) = [m for m in messages if m["type"] == "seizure.offset"]
    assert [(m["bed"], m["event_id"]) for m in onsets] == [("ward3-bed7", 1), ("ward3-bed9", 2)]
    assert offset["bed"] == "ward3-bed7" and offset["event_id"] == 1 and offset["reason"] == "bed_removed"
    final = next(m for m in messages if m["type"] == "status.heartbeat" and m.get("final"))
    assert final["bed"] == "ward3-bed7" and final["seq"] > offset["seq"]  # the old label's last word
    new_label = [m for m in messages if m.get("bed") == "ward3-bed9"]
    assert new_label[0]["seq"] > final["seq"]  # the stream found again under the new label after the removal
    connected = next(m for m in new_label if m["type"] == "status.signal")
    assert connected["state"] == "connected" and connected["stream"]["source_id"] == sid
    assert not [m for m in messages if m.get("bed") == "ward3-bed7" and m["seq"] > final["seq"]]
    beds_in_metrics = {dict(k[1]).get("stream") for k in metrics if k[0] == "realtime_detect_windows_processed_total"}
    assert beds_in_metrics == {"ward3-bed9"}
    relabelled = [r.getMessage() for r in caplog.records if "is now bed ward3-bed9" in r.getMessage()]
    assert len(relabelled) == 1 and "bed ward3-bed7 removed" in relabelled[0], relabelled
    assert "needs restart" not in caplog.text


def test_sighup_forgets_a_lost_discovered_bed_and_keeps_a_connected_one(toy_export, tmp_path, caplog):
    """Bed A's device is unplugged (its outlet killed): lost. On SIGHUP (the file unchanged) A is removed (its final
    heartbeat says ``lost``) and not found again while the resolver still lists the vanished outlet; bed B, connected,
    is kept as it was (the same inlet, no reconnect, its windows go on). A device with A's source id that comes
    back is found again, as a new bed under A's label."""
    kind, sid_a, sid_b = unique("EEGL"), unique("amp-a"), unique("amp-b")
    log_path, path = tmp_path / "alerts.jsonl", tmp_path / "detect.toml"
    write_discovery(path, toy_sections(toy_export, log_path), kind, {sid_a: "bed-a"})
    with Outlets() as outlets, caplog.at_level(logging.INFO, logger="realtime.daemon"):
        a = outlets.start("--name", unique("lost-a"), "--type", kind, "--source-id", sid_a, "--amplitude", QUIET_UV)
        outlets.start("--name", unique("kept-b"), "--type", kind, "--source-id", sid_b, "--amplitude", QUIET_UV)
        d = Daemon(load_config(path), config_path=path, env={})
        try:
            with signal_handlers(d):
                d.start()
                iterate_until(
                    d,
                    lambda: {"bed-a", sid_b} <= set(d.beds) and all(b.windows_total >= 1 for b in d.beds.values()),
                    60,
                    "a window on both beds",
                )
                stop(a)  # SIGKILL: the device unplugged
                iterate_until(d, lambda: d.beds["bed-a"].state == "lost", 30, "bed-a lost")
                b = d.beds[sid_b]
                inlet, windows = b.inlet, b.windows_total
                os.kill(os.getpid(), signal.SIGHUP)
                deadline = time.monotonic() + 3.0  # the resolver lists a vanished outlet for 5 s: not found again
                while time.monotonic() < deadline:
                    d.iterate()
                    assert set(d.beds) == {sid_b}
                assert d.beds[sid_b] is b and b.inlet is inlet and inlet.reconnects == 0 and b.state == "connected"
                assert b.windows_total > windows
                outlets.start("--name", unique("back-a"), "--type", kind, "--source-id", sid_a, "--amplitude", QUIET_UV)
                iterate_until(
                    d, lambda: "bed-a" in d.beds and d.beds["bed-a"].windows_total >= 1, 60, "bed-a found again"
                )
                assert d.beds[sid_b] is b and inlet.reconnects == 0
        finally:
            d.shutdown()
    messages = read_log(log_path)
    assert_schema_valid(messages)
    signals = [(m["bed"], m["state"]) for m in messages if m["type"] == "status.signal"]
    assert signals.count((sid_b, "connected")) == 1 and (sid_b, "lost") not in signals
    assert signals.count(("bed-a", "connected")) == 2  # the first device, then the one that came back
    removed = [m for m in messages if m["type"] == "status.heartbeat" and m.get("final") and m["bed"] == "bed-a"]
    assert removed[0]["state"] == "lost"
    assert "bed bed-a removed (its stream is lost, so forgotten" in caplog.text


def test_sighup_switching_discovery_off_removes_the_discovered_beds(toy_export, tmp_path):
    """Discovery switched off, one of the streams listed in ``[[beds]]`` under the label discovery gave it: every
    discovered bed is removed (a final heartbeat each), the listed bed is added and connects, and discovery stops
    (the other stream is not found again)."""
    kind, sid1, sid2, name1 = unique("EEGO"), unique("amp1"), unique("amp2"), unique("listed")
    log_path, path = tmp_path / "alerts.jsonl", tmp_path / "detect.toml"
    write_discovery(path, toy_sections(toy_export, log_path), kind, {sid1: "ward-1"})
    with Outlets() as outlets:
        outlets.start("--name", name1, "--type", kind, "--source-id", sid1, "--amplitude", QUIET_UV)
        outlets.start("--name", unique("other"), "--type", kind, "--source-id", sid2, "--amplitude", QUIET_UV)
        d = Daemon(load_config(path), config_path=path, env={})
        try:
            with signal_handlers(d):
                d.start()
                iterate_until(d, lambda: set(d.beds) == {"ward-1", sid2}, 60, "both streams discovered")
                discovered = d.beds["ward-1"]
                path.write_text(toml(toy_sections(toy_export, log_path, beds=[{"bed": "ward-1", "name": name1}])))
                os.kill(os.getpid(), signal.SIGHUP)
                iterate_until(d, lambda: d.beds.get("ward-1", discovered) is not discovered, 10, "the reload")
                assert d._discovery is None and set(d.beds) == {"ward-1"}
                iterate_until(d, lambda: d.beds["ward-1"].windows_total >= 1, 60, "the listed bed scoring")
                assert set(d.beds) == {"ward-1"}  # sid2 not found again: discovery is off
                assert d.beds["ward-1"].config.name == name1 and not d.beds["ward-1"].config.source_id  # listed
        finally:
            d.shutdown()
    messages = read_log(log_path)
    assert_schema_valid(messages)
    removed: dict[str, dict] = {}  # bed -> its first final heartbeat
    for m in messages:
        if m["type"] == "status.heartbeat" and m.get("final"):
            removed.setdefault(m["bed"], m)
    assert set(removed) == {"ward-1", sid2}  # the two discovered beds' last words
    assert not [m for m in messages if m.get("bed") == sid2 and m["seq"] > removed[sid2]["seq"]]
    listed = [m for m in messages if m.get("bed") == "ward-1" and m["seq"] > removed["ward-1"]["seq"]]
    connected = next(m for m in listed if m["type"] == "status.signal")
    assert connected["state"] == "connected" and connected["stream"]["name"] == name1


def test_start_reads_the_alert_log_once_for_every_bed_closing_what_was_left_open(
    toy_export, tmp_path, monkeypatch, caplog
):
    """A log left by a run of three beds (written by a real Publisher): bed-a's event 2 open, bed-b's event 3
    open and acknowledged, bed-c's event 1 closed. The next start reads the log once for the three beds, closes
    events 2 and 3 (``"reason": "restart"``, each bed's own), and event ids continue after 3."""
    import realtime.alarm
    from realtime.alerts import Publisher
    from realtime.messages import Envelope, ack_message, heartbeat_message, restart_offset_message

    names = {bed: unique(bed) for bed in ("bed-a", "bed-b", "bed-c")}
    envs = {
        bed: Envelope.of({"name": n, "type": "EEG", "source_id": f"sid-{bed}"}, "h", "toy-1")
        for bed, n in names.items()
    }
    log_path = tmp_path / "alerts.jsonl"

    def onset(bed: str, eid: int, t: float) -> dict:  # the contract's fields (the decision is tested elsewhere)
        env = envs[bed]
        return {
            "schema": "realtime-detect/1",
            "type": "seizure.onset",
            "time": t,
            "stream": dict(env.stream),
            "host": env.host,
            "model_version": env.model_version,
            "event_id": eid,
            "probability": 0.9,
            "channels": ["C0"],
            "window_start": t - 4.096,
            "window_end": t,
            "publish_time": t,
        }

    def beat(bed: str, t: float) -> dict:
        return heartbeat_message(envs[bed], time=t, state="connected", alarm_active=False, windows_total=1, uptime_s=t)

    before = Publisher("tcp://127.0.0.1:*", "", log_path)
    try:
        closed_c = restart_offset_message(envs["bed-c"], event_id=1, onset_time=100.0, time=130.0, probability=0.2)
        for bed, msg in [
            ("bed-c", onset("bed-c", 1, 100.0)),
            ("bed-c", {**closed_c, "reason": "bed_removed"}),
            ("bed-a", onset("bed-a", 2, 200.0)),
            ("bed-b", onset("bed-b", 3, 205.0)),
            ("bed-b", ack_message(envs["bed-b"], time=210.0, event_id=3, by="station-1", note="", ack_time=1.7e9)),
            ("bed-a", beat("bed-a", 230.0)),
            ("bed-b", beat("bed-b", 231.0)),
            ("bed-c", beat("bed-c", 232.0)),
        ]:
            before.publish({**msg, "bed": bed})
    finally:
        before.close(flush_s=0)
    readings = []
    reading = realtime.alarm.lines_newest_first

    def counted(path, *args, **kw):
        readings.append(path)
        return reading(path, *args, **kw)

    monkeypatch.setattr(realtime.alarm, "lines_newest_first", counted)
    beds = [{"bed": b, "name": n} for b, n in names.items()]
    d = Daemon(build_config(toy_sections(toy_export, log_path, beds=beds)), env={})
    try:
        with caplog.at_level("INFO", logger="realtime.daemon"):
            d.start()
        assert readings == [log_path]  # one reading of the log for the three beds
        assert d._last_event_id == 3
        assert all(bed.alarm.open is None for bed in d.beds.values())
    finally:
        d.shutdown()
    restarted = [m for m in read_log(log_path) if m["type"] == "seizure.offset" and m["reason"] == "restart"]
    assert [(m["bed"], m["event_id"], m["stream"]["name"]) for m in restarted] == [
        ("bed-a", 2, names["bed-a"]),
        ("bed-b", 3, names["bed-b"]),
    ]
    assert [m["time"] for m in restarted] == [230.0, 231.0]  # each stream's last sign of life
    assert_schema_valid(restarted)
    text = caplog.text
    assert "once for 3 beds" in text and "event ids continue after 3" in text
    assert f"seizure event 3 on {names['bed-b']} was still open" in text and "acknowledged by station-1" in text


def test_one_batched_call_gives_every_bed_what_scoring_it_alone_gives(toy_export):
    """Two beds' pipelines: their due windows scored in one call (:func:`predict_batched`) decide exactly as
    each pipeline's own ``step`` does; the call is one (the TimedDetector's count)."""
    from realtime.config import DecisionConfig, WindowConfig
    from realtime.daemon import TimedDetector
    from realtime.model import load_detector
    from realtime.pipeline import Pipeline, predict_batched

    n_calls = []
    det = TimedDetector(load_detector(toy_export, backend="litert"), n_calls.append)
    fs, rng = 256.0, np.random.default_rng(7)

    def pipe(n_channels: int) -> Pipeline:
        return Pipeline(
            det,
            sfreq=fs,
            ch_names=[f"C{i}" for i in range(n_channels)],
            units=None,
            window=WindowConfig(hop_s=1.0),
            decision=DecisionConfig(settle_s=0.0, min_duration_s=1.0),
        )

    data = [rng.normal(0, 20, (int(8 * fs), 3)), rng.normal(0, 200, (int(8 * fs), 5))]
    ts = np.arange(int(8 * fs)) / fs
    alone = [pipe(3), pipe(5)]
    together = [pipe(3), pipe(5)]
    for p, x in zip(alone + together, data + data, strict=True):
        p.push(x, ts)
    expected = [p.step() for p in alone]
    before = len(n_calls)
    due = [p.prepare() for p in together]
    probs = predict_batched(det, [w.inputs for windows in due for w in windows])
    assert len(n_calls) == before + 1  # one call for both beds
    got, i = [], 0
    for p, windows in zip(together, due, strict=True):
        got.append([p.complete(w, probs[i + j]) for j, w in enumerate(windows)])
        i += len(windows)
    for e, g in zip(expected, got, strict=True):
        assert [r.probability for r in e] == [r.probability for r in g]
        assert [[ev.kind for ev in r.events] for r in e] == [[ev.kind for ev in r.events] for r in g]
    assert [ev.kind for r in got[1] for ev in r.events] == ["onset"]  # the loud bed alarms, the quiet one not
    assert not any(r.events for r in got[0])


@pytest.mark.parametrize("max_defer_s", [None, 0.0])
def test_several_beds_pull_when_a_window_is_due_not_a_chunk_at_a_time(toy_export, tmp_path, monkeypatch, max_defer_s):
    """With several beds a bed's samples wait in liblsl's buffer until its next window can be made (or
    ``MAX_DEFER_S`` has passed): a pull per window instead of one per chunk (most of a ward's CPU beside
    the model), the same windows, probabilities and decisions. ``MAX_DEFER_S = 0`` is the old way."""
    import realtime.daemon
    import realtime.inlet

    if max_defer_s is not None:
        monkeypatch.setattr(realtime.inlet, "MAX_DEFER_S", max_defer_s)
    monkeypatch.setattr(realtime.daemon, "GOLDEN_FRACTION", 0.0)  # both beds at phase 0: the same windows
    fs, n_channels, chunk = 256.0, 4, 8
    names = [unique("due-a"), unique("due-b")]
    outlets = []
    for n in names:
        info = pylsl.StreamInfo(n, "EEG", n_channels, fs, pylsl.cf_float32, unique("sid"))
        info.set_channel_labels([f"C{i}" for i in range(n_channels)])
        info.set_channel_units("microvolts")
        outlets.append(pylsl.StreamOutlet(info, chunk_size=0))
    log_path = tmp_path / "alerts.jsonl"
    sections = toy_sections(toy_export, log_path, beds=[{"bed": n, "name": n} for n in names])
    sections["stream"] = {"resolve_timeout_s": 3.0, "stale_after_s": 10.0}
    sections["signal"] = {"montage": "as_recorded"}
    d = Daemon(build_config(sections), env={})
    t = np.arange(int(14 * fs)) / fs
    amp = np.where(t >= 8.0, 300.0, 15.0)  # the toy model's seizure from 8 s
    x = (amp[:, None] * np.sin(2 * np.pi * (5.0 + np.arange(n_channels))[None, :] * t[:, None])).astype(np.float32)
    ts = 1000.0 + t
    pushes = dict.fromkeys(names, 0)
    decided: dict[str, list] = {n: [] for n in names}
    try:
        d.start()
        iterate_until(d, lambda: all(b.pipeline is not None for b in d.beds.values()), 20, "both beds connected")
        for label, bed in d.beds.items():
            pipe = bed.pipeline

            def counted(samples, timestamps, push=pipe.push, label=label):
                pushes[label] += 1
                return push(samples, timestamps)

            def recorded(window, probabilities, complete=pipe.complete, label=label):
                res = complete(window, probabilities)
                decided[label].append((res.window_end, res.probability, [e.kind for e in res.events]))
                return res

            pipe.push, pipe.complete = counted, recorded
        t0 = time.monotonic()
        for i in range(0, len(ts), chunk):
            for out in outlets:
                out.push_chunk(x[i : i + chunk], ts[i : i + chunk].tolist())
            d.iterate()
        iterate_until(
            d, lambda: all(b.pipeline.samples_total == len(ts) for b in d.beds.values()), 20, "every sample read"
        )
        elapsed_s = time.monotonic() - t0
    finally:
        d.shutdown()
    a, b = decided[names[0]], decided[names[1]]
    windows = len(a)
    assert windows == len(b) == 10  # (14 s - a 4.1 s window) / 1 s hop, every one decided
    assert [(p, kinds) for _, p, kinds in a] == [(p, kinds) for _, p, kinds in b]
    assert [k for _, _, kinds in a for k in kinds] == ["onset"]
    for ends in (a, b):  # each inlet's clock offset is its own estimate: equal within a millisecond
        assert [e for e, _, _ in ends] == pytest.approx([1000.0 + 4.1 + k for k in range(10)], abs=0.1)
    if max_defer_s is None:  # a pull per window, and one per MAX_DEFER_S of the run (the outlets push 8 samples a go)
        assert all(n <= windows + elapsed_s / realtime.inlet.MAX_DEFER_S + 3 for n in pushes.values()), pushes
    else:
        assert all(n > len(ts) / chunk / 4 for n in pushes.values()), pushes  # the old way: a chunk or few a pull


def _until_every_bed_scored(d: Daemon, outlets: dict, rng: np.random.Generator, windows: int) -> None:
    """Push 16 samples of noise to every outlet each 1/16 s and turn ``d``'s loop until every bed has scored
    ``windows`` windows (30 s at most)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(bed.windows_total >= windows for bed in d.beds.values()):
        for outlet in outlets.values():
            outlet.push_chunk((rng.normal(size=(16, 4)) * 20).astype(np.float32))
        time.sleep(16 / 256)
        d.iterate()
    assert all(bed.windows_total >= windows for bed in d.beds.values())


class _CallSizes:
    """The daemon's model as it is, each ``predict`` call's number of windows recorded."""

    def __init__(self, detector):
        self.detector, self.sizes = detector, []

    def predict(self, windows_uv: np.ndarray) -> np.ndarray:
        self.sizes.append(int(windows_uv.shape[0]))
        return self.detector.predict(windows_uv)

    def __getattr__(self, name: str):
        return getattr(self.detector, name)


def test_a_bed_catching_up_goes_to_the_model_after_the_current_beds(toy_export, tmp_path):
    """Bed A's device delivers 10 s at once (a stall, then a burst) while bed B delivers its 1 s on time: B's window
    is scored in a call of its own, before A's ten, so A's burst does not delay B's alarm; with both current, one
    call for both."""
    names = {"a": unique("burst-a"), "b": unique("current-b")}
    beds = [{"bed": b, "name": n} for b, n in names.items()]
    outlets = {b: in_process_outlet(n) for b, n in names.items()}
    rng = np.random.default_rng(0)
    d = Daemon(build_config(toy_sections(toy_export, tmp_path / "alerts.jsonl", beds=beds)), env={})
    try:
        d.start()
        _until_every_bed_scored(d, outlets, rng, windows=2)
        for _ in range(20):  # take what is on its way: a pull finds nothing more
            time.sleep(0.02)
            d.iterate()
        spy = _CallSizes(d.detector._detector)
        d.detector._detector = spy
        before = {b: bed.windows_total for b, bed in d.beds.items()}
        outlets["a"].push_chunk((rng.normal(size=(2560, 4)) * 20).astype(np.float32))
        outlets["b"].push_chunk((rng.normal(size=(256, 4)) * 20).astype(np.float32))
        time.sleep(0.5)  # through loopback into the inlets' buffers
        d.iterate()
        scored = {b: bed.windows_total - before[b] for b, bed in d.beds.items()}
        assert scored["b"] == 1 and scored["a"] >= 9, scored
        assert spy.sizes == [4, 4 * scored["a"]], spy.sizes  # B's window first, alone; then A's burst
        spy.sizes.clear()
        before = {b: bed.windows_total for b, bed in d.beds.items()}
        for outlet in outlets.values():
            outlet.push_chunk((rng.normal(size=(256, 4)) * 20).astype(np.float32))
        time.sleep(0.5)
        d.iterate()
        assert {b: bed.windows_total - before[b] for b, bed in d.beds.items()} == {"a": 1, "b": 1}
        assert spy.sizes == [8], spy.sizes  # both current: one call
    finally:
        d.shutdown()
        del outlets


def test_a_bed_waiting_for_its_next_window_is_not_stepped_every_turn(toy_export, tmp_path):
    """Between windows, a bed whose inlet deferred its pull is stepped again only when its samples can be there, and
    at least every STEP_AHEAD_MAX_S (a few visits per window, where it was every turn of the loop); its next window is
    still scored once its samples come."""
    from realtime.bed import STEP_AHEAD_MAX_S

    names = {"a": unique("ahead-a"), "b": unique("ahead-b")}
    outlets = {b: in_process_outlet(n) for b, n in names.items()}
    rng = np.random.default_rng(0)
    beds = [{"bed": b, "name": n} for b, n in names.items()]
    d = Daemon(build_config(toy_sections(toy_export, tmp_path / "alerts.jsonl", beds=beds)), env={})
    try:
        d.start()
        _until_every_bed_scored(d, outlets, rng, windows=2)
        steps = dict.fromkeys(d.beds, 0)
        for b, bed in d.beds.items():
            inlet, real_step = bed.inlet, bed.inlet.step

            def counted(*args, _b=b, _real=real_step, **kwargs):
                steps[_b] += 1
                return _real(*args, **kwargs)

            inlet.step = counted
        turns, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 0.5:  # no samples come: every bed waits for most of a window
            d.iterate()
            turns += 1
            time.sleep(0.002)
        assert turns > 30  # each turn sleeps IDLE_WAIT_S when no bed had samples
        assert all(n <= 0.5 / STEP_AHEAD_MAX_S + 3 for n in steps.values()), (turns, steps)
        before = {b: bed.windows_total for b, bed in d.beds.items()}
        for outlet in outlets.values():
            outlet.push_chunk((rng.normal(size=(256, 4)) * 20).astype(np.float32))  # the next window's samples
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(bed.windows_total == before[b] for b, bed in d.beds.items()):
            d.iterate()
            time.sleep(0.002)
        assert all(bed.windows_total > before[b] for b, bed in d.beds.items())
    finally:
        d.shutdown()
