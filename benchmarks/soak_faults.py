"""Soak benchmark with faults on a schedule (not a test): hours of signal faster than real time while the
outlet is killed, hung and its clock jumps, and a subscriber never reads.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/soak_faults.py [--signal-hours 1] [--speed 20]
        [--fault-every-signal-s 200 | --fault-every-s WALL_S] [--kill-gap-s 3] [--hang-s 5] [--jump-s 3600]
        [--backend auto|tensorflow|litert|openvino] [--model EXPORT] [--model-threads N] [--channels N] [--buffer-s S]
        [--out benchmarks/results/NAME.json]
    .venv/bin/python benchmarks/soak_faults.py --analyse WORK_DIR      # the analysis again, from a run's files

What runs (real processes, loopback, LSL kept on this machine by the packaged lsl_api.cfg):

- the daemon (``python -m realtime detect``, the shipped model unless ``--model``) with ``alerts.heartbeat_s``
  0.1 s (``--heartbeat-s``; its minimum: ten logged messages a second, so that the never-reading subscriber's
  queue fills), ``alerts.reannounce_s`` 60 s / speed (at least 1 s: an open event is re-announced as often per
  signal second as live) and ``alerts.publish_windows`` (a ``status.window`` per scored window: not logged, no
  ``seq``; its first and last sample's timestamps are where the daemon's samples fell); ``stream.stale_after_s``
  stays 3 s (wall: it is about a device that stopped); ``window.buffer_s`` (the ring buffer and the inlet's) is
  30 s or 3 s of wall time at ``--speed``, whichever is longer (60 s at 20x: a buffer holds signal seconds,
  1.5 s of wall time at 20x for the default 30 s; ``--buffer-s`` sets it); ``--channels N`` scores only the
  recording's first N channels (``stream.channels``, in the fault-free pass too): the model's work per second of
  signal is N / 23 of a whole bed's, so a machine whose model cannot score 23 channels at ``--speed`` can still
  run the soak at that speed (for memory, messages and faults: with the first 12 channels this seizure's
  detection hangs on the window phase, docs/operations.md, so "no alarm lost" is then not the product's test);
- the outlet (benchmarks/soak_outlet.py): the shipped CHB-MIT excerpts stitched, non-seizure (41 s)
  then seizure (41 s, annotated seizure from its 2nd second to its end), in a loop: an 82 s cycle with
  one seizure, at ``--speed`` x real time on one global timeline (a restarted outlet goes on where the
  timeline is; what fell in an outage is never sent). Its journal (``outlet.jsonl``) says what it sent:
  where each process started, went on after a hang, jumped its clock, how far it had sent (every 0.25 s
  of wall time) and where it stopped;
- a subscriber that records everything (:class:`realtime.alerts.Subscriber` from seq 0: replay, then
  live, gaps filled), and one that connects, subscribes to everything and never reads (receive
  high-water mark 1, 4 KiB kernel buffer). The daemon's PUB socket drops messages for it once its
  queue (ZeroMQ's SNDHWM, 1000 messages, after what the kernel's TCP buffers take: up to 4 MiB on
  loopback) is full; how many it got, and the daemon's TCP send queue toward it at the end
  (``ss``), are reported.

Faults, one every ``--fault-every-signal-s`` seconds of signal (200: every 10 s of wall time at 20x, 20 s at
10x, 40 s at 5x; so a slower run has the same faults at the same places of the signal; ``--fault-every-s``
gives wall seconds instead), in the order of ``soak_check.PATTERN``: the clock
jumps back ``--jump-s``, SIGKILL of the outlet (restarted ``--kill-gap-s`` later), the clock jumps
forward, SIGSTOP of the outlet for ``--hang-s`` (longer than ``stale_after_s``: the stream is lost)
then SIGCONT, ... The clock is at -J, 0, +J, 0 in turn. Each jump is fired when the signal reaches a
chosen place of the seizure cycle, in turn: 4 s and 1 s before the fault-free onset (the threshold is
crossed, ``min_duration_s`` not yet elapsed: defect 1 of issue 12), 2 s and 12 s after it (event
open), and 20 s into the non-seizure part. The kill gap, the hang and ``stale_after_s`` stay in wall
seconds at every speed (they are about the daemon's wall-clock detection of a lost stream), so at a lower
speed an outage covers fewer seconds of signal.

First, whether the run is **valid** as a test of "no alarm lost" (benchmarks/soak_check.py,
:func:`judge_validity`): the daemon must have had every sample the outlet sent outside the injected faults,
and kept up. The outlet's journal gives what it sent, per life (a process, or its part before or after a
hang); the ``status.window`` messages where each scored window fell (placed like an alert). A window is
scored every hop of samples *received*, so samples liblsl dropped (a full inlet buffer: the timestamps
hide it at a replay speed) show as two consecutive window ends more than a hop apart (``windows_total``
tells a message lost on the way from a hole). Samples sent before the daemon's first sample of a
connection (reconnecting), and those after the last window of a killed life, are the fault's. Not valid
when: samples were lost anywhere else (a hole within a connection, or a hang's life not scored to its end),
windows scored / due from the samples *sent* under 0.99, the inlet's backlog
(``realtime_detect_inlet_backlog_seconds`` scraped every second, the daemon's WARNING lines) past half its
buffer, a window skipped, or the outlet itself fell behind its schedule. Samples sent against received per
outlet life, the lost stretches (signal time, cycle) and the seizures whose deciding span they touch are
reported. A run recorded before ``status.window`` was (no positions) is "not established", unless an onset's
or offset's window spans more than a window (then not valid).

Checked at the end (exit 1 if one fails; the alarms, and the onsets outside seizures, only on a valid run):

- memory: the daemon's resident memory (VmRSS, every second from the first scored window), mean of the
  last 10 % of samples against the first 10 %: growth under 5 %;
- no alarm lost: the fault-free pass (``realtime-detect --file`` on three cycles, same model and
  settings: the onset it raises in every cycle) gives where each seizure's onset is expected. Each
  seizure of the run whose onset was due is alarmed when an onset falls between its start and 10 s
  past its end, or an event opened before it is still open. A seizure is exempt when an outage
  overlaps from one window before its start to 10 s past its expected onset: an outage runs from the
  kill (or, earlier, the end of the last window the daemon scored of the life the kill ended: liblsl
  discards what the inlet had received but not handed over when the connection breaks, so a daemon
  behind by d seconds of signal loses them to the kill; ``soak_check.kill_outage_start``) or the
  SIGSTOP to the daemon's ``restored`` message plus ``settle_s``, a window and
  ``min_duration_s`` of signal (the earliest an onset can come after a reconnect); the start of the
  run counts as one, to the ``connected`` message. Clock jumps are not outages: seizures at a jump are
  checked. Onsets and offsets are placed on the timeline by their ``window_end`` (for each clock offset
  the outlet used, the sample that stamp names; the one at most 10 wall seconds before the message's
  ``wall_time``), else by ``wall_time`` (counted as "placed by wall time");
- every message: every message received is in the alert log and equal to its record, no (run, seq)
  twice in the log, the log's seq never goes back, no gaps within a run, the subscriber saw its
  numbering go back nowhere (its warnings are counted) and missed no logged message;
- the daemon exits 0 after SIGTERM.

Exit status: 0 every check passed on a valid run; 1 a check failed (memory, messages, the exit code, or on a
valid run an alarm lost or an unexpected onset); 3 nothing failed, but the run is not valid (or its validity
not established), so "no alarm lost" was not judged; 69 the soak could not run (or its files could not be
read); 2 bad arguments.

Also reported: the speed held (windows scored against those due from the samples sent; beside it the old
measure from the samples received, ``realtime_detect_windows_processed_total`` over
``samples_received_total``, which cannot see samples never received), clock events the daemon
reported (``status.signal`` details about timestamps, ``realtime_detect_clock_jumps_total``),
reconnects, errors by kind, end-to-end latency, seizures raising two or more onsets (an event split
in two), what the never-reading subscriber got. A table on stdout, JSON under ``benchmarks/results/``;
the run's own files (alert log, the outlet's journal, the daemon's log, ``run.json`` with what the
analysis needs, ``received.jsonl``) stay in a temporary directory, and ``--analyse`` reads them again.
Linux only (/proc).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import heapq
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pylsl  # noqa: E402
import zmq  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from benchmarks.procfs import machine_cpu_s, mem_bytes, proc_cpu_s  # noqa: E402
from benchmarks.soak_check import (  # noqa: E402
    KEPT_UP_MIN,
    Outage,
    account_samples,
    backlog_limit_s,
    backlog_spell,
    backlog_warnings,
    check_messages,
    classify,
    cpu_over,
    fault_schedule,
    judge_validity,
    kill_outage_start,
    next_position,
    outlet_segments,
    place_windows,
    pulled_per_life,
    rss_growth,
    seizures_in,
    seizures_in_stretches,
    stamp_to_sample,
    where,
    window_span_holes,
)
from realtime.config import MODEL_BACKENDS  # noqa: E402
from realtime.demo import _READY, DATA, Child, lsl_config_path  # noqa: E402

MIB = 1024 * 1024
NONSEIZURE = DATA / "chbmit" / "chb01_03_NonSeizure.edf"
SEIZURE = DATA / "chbmit" / "chb01_03_Seizure.edf"
SEIZURE_IN_EXCERPT_S = (1.0, 41.0)  # ATTRIBUTION.md: ictal from the 2nd second to the end
JUMP_TARGETS_FROM_ONSET_S = (-4.0, -1.0, 2.0, 12.0, None)  # None: 20 s into the non-seizure part
AFTER_S = 10.0  # an onset up to this long after a seizure's end still counts for it
MAX_LATENCY_WALL_S = 10.0
CYCLE_S = 82.0  # the two 41 s excerpts
FAULT_EVERY_SIGNAL_S = 200.0  # one fault per this much signal: every 10 s of wall time at 20x
EXIT_FAILED, EXIT_NOT_VALID, EXIT_NOT_RUN = 1, 3, 69
STEAL_NOTABLE = 0.05  # a share of the machine's CPU time taken by the hypervisor worth naming beside validity
# metrics kept from every scrape (one a wall second) for the analysis
SCRAPED = {
    "samples_received": "realtime_detect_samples_received_total",
    "windows_processed": "realtime_detect_windows_processed_total",
    "windows_skipped": "realtime_detect_windows_skipped_total",
    "inlet_backlog_s": "realtime_detect_inlet_backlog_seconds",
    "stream_connected": "realtime_detect_stream_connected",
}


def scrape(url: str) -> dict[str, float]:
    """``{sample name (labels dropped, summed; histogram buckets left out): value}`` from a metrics endpoint;
    errors are kept by kind (``realtime_detect_errors_total:KIND``)."""
    out: dict[str, float] = {}
    with urllib.request.urlopen(url, timeout=2) as resp:
        text = resp.read().decode()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name.endswith("_bucket"):
                continue
            key = s.name if s.name != "realtime_detect_errors_total" else f"{s.name}:{s.labels.get('kind')}"
            out[key] = out.get(key, 0.0) + float(s.value)
    return out


def send_queues(port: int) -> list[int] | None:
    """Bytes in the kernel's send queue of each TCP connection from local ``port`` (``ss``); None without ``ss``."""
    if shutil.which("ss") is None:
        return None
    proc = subprocess.run(
        ["ss", "-Htn", "state", "established", "sport", "=", f":{port}"], capture_output=True, text=True, timeout=10
    )
    return [int(line.split()[1]) for line in proc.stdout.splitlines() if len(line.split()) >= 4]


def reference_onsets(args, env, work: Path, config: Path, cycles: int) -> tuple[list[float], list[float], float]:
    """The fault-free pass: ``(onset window ends, offset window ends, sfreq)`` in seconds of the repeated
    stitched recording, from ``realtime-detect --file`` on ``cycles`` cycles."""
    from realtime.recordings import read_recording

    a, b = read_recording(NONSEIZURE), read_recording(SEIZURE)
    data = np.tile(np.concatenate([a.data, b.data], axis=1), (1, cycles)).astype(np.float32)
    ref = work / "reference.npz"
    np.savez(ref, data=data, sfreq=a.sfreq, ch_names=np.array(a.ch_names), unit="uV")
    cmd = [sys.executable, "-m", "realtime", "detect", "--file", str(ref), "--json", "--config", str(config)]
    cmd += ["--backend", args.backend] + (["--model", args.model] if args.model else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"the fault-free pass failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    msgs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    onsets = [m["window_end"] for m in msgs if m.get("type") == "seizure.onset"]
    offsets = [m["window_end"] for m in msgs if m.get("type") == "seizure.offset"]
    return onsets, offsets, float(a.sfreq)


def first_onsets_in_cycle(onsets_s: list[float], cycles: int, tolerance_s: float = 1.5) -> list[float] | None:
    """Where in the cycle the fault-free pass's seizure onset falls: the first onset of each cycle after the
    first (which starts unsettled), as seconds into the cycle; ``None`` unless every one of ``cycles`` cycles
    has an onset and those places agree within ``tolerance_s``. A second onset in a cycle (the seizure's
    event split in two, as with a few channels) is the seizure's, not a place of its own."""
    first: dict[int, float] = {}
    for t in sorted(onsets_s):
        first.setdefault(int(t // CYCLE_S), t % CYCLE_S)
    pos = sorted(v for c, v in first.items() if c >= 1)
    if sorted(first) != list(range(cycles)) or not pos or pos[-1] - pos[0] > tolerance_s:
        return None
    return pos


def soak_stream_toml(channels: int | None) -> str:
    """The soak config's ``[stream]`` table: ``channels`` = the recording's first ``channels`` labels
    (``None``: no table, every channel scored)."""
    if channels is None:
        return ""
    from realtime.recordings import read_recording

    labels = read_recording(SEIZURE).ch_names
    if not 1 <= channels <= len(labels):
        raise ValueError(f"--channels must be 1 to {len(labels)}, got {channels!r}")
    return "[stream]\nchannels = [" + ", ".join(json.dumps(c) for c in labels[:channels]) + "]\n"


def soak_buffer_s(args) -> float:
    """The daemon's ``window.buffer_s`` (its ring buffer, and the inlet's, ``max(30, buffer_s)``): ``--buffer-s``,
    else 30 s or 3 s of wall time at ``--speed``, whichever is longer (60 s at 20x). A buffer holds signal seconds,
    so at 20x the default 30 s is 1.5 s of wall time, where at real time it is 30: the soak keeps at least the
    3 wall seconds the default gives at 10x."""
    if args.buffer_s is not None:
        return float(args.buffer_s)
    return float(max(30, math.ceil(3 * args.speed)))


def run(args, argv: list[str]) -> Path:
    """Run the soak; returns the directory holding its files (``run.json`` and the rest, see the docstring)."""
    env = dict(os.environ, LSLAPICFG=str(lsl_config_path()), TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    os.environ["LSLAPICFG"] = env["LSLAPICFG"]
    from realtime.alerts import Subscriber
    from realtime.config import apply_model_settings, load_config
    from realtime.model import read_card
    from realtime.preprocess import Resampler

    work = Path(tempfile.mkdtemp(prefix="realtime-soak-faults-"))
    heartbeat_s, reannounce_s = args.heartbeat_s, max(1.0, 60.0 / args.speed)
    config = work / "soak.toml"
    config.write_text(
        f"[alerts]\nheartbeat_s = {heartbeat_s!r}\nreannounce_s = {reannounce_s!r}\npublish_windows = true\n"
        f"[model]\nthreads = {args.model_threads!r}\n[window]\nbuffer_s = {soak_buffer_s(args)!r}\n"
        + soak_stream_toml(args.channels)
    )
    card = read_card(Path(args.model) if args.model else REPO / "realtime" / "models" / "default")
    window_s = int(card["window_samples"]) / float(card["sample_rate_hz"])
    cfg, _ = apply_model_settings(load_config(config), card.get("settings"), window_s=window_s)

    t_start = time.monotonic()
    print(f"fault-free pass (3 cycles, {args.backend}) ...", file=sys.stderr, flush=True)
    ref_on, ref_off, fs = reference_onsets(args, env, work, config, cycles=3)
    n_cycle = round(CYCLE_S * fs)
    on_pos = first_onsets_in_cycle(ref_on, cycles=3)
    if on_pos is None:
        raise RuntimeError(f"the fault-free pass did not raise an onset at one place of every cycle: {ref_on}")
    onset_s = float(np.median(on_pos))
    reference_s = time.monotonic() - t_start
    resampler = Resampler(fs, float(card["sample_rate_hz"]))
    native_window = resampler.native_samples_needed(int(card["window_samples"]))
    fill_s = native_window / fs
    window_first_pos, window_last_pos = resampler.window_positions(int(card["window_samples"]))
    inlet_buffer_s = max(30, int(cfg.window.buffer_s))  # realtime/bed.py: the inlet's max_buflen
    rate = fs * args.speed
    duration_s = args.signal_hours * 3600 / args.speed

    name = f"soak-{uuid.uuid4().hex[:8]}"
    log_path = work / "alerts.jsonl"
    journal = work / "outlet.jsonl"
    detect = [sys.executable, "-m", "realtime", "detect", "--config", str(config), "--stream", name]
    detect += ["--endpoint", "tcp://127.0.0.1:*", "--replay-endpoint", "tcp://127.0.0.1:0", "--metrics-port", "0"]
    detect += ["--alert-log", str(log_path), "--backend", args.backend]
    detect += ["--model", args.model] if args.model else []
    daemon = Child("daemon", detect, env, verbose=False)
    outlet: subprocess.Popen | None = None
    sub = None
    ctx: zmq.Context = zmq.Context.instance()
    sink = ctx.socket(zmq.SUB)
    sink.setsockopt(zmq.LINGER, 0)
    sink.setsockopt(zmq.RCVHWM, 1)
    sink.setsockopt(zmq.RCVBUF, 4096)
    sink.setsockopt(zmq.SUBSCRIBE, b"")
    received: list[dict] = []
    warnings: list[str] = []
    rss: list[tuple[float, int]] = []  # (seconds since the first scored window, bytes)
    scrapes: list[dict] = []  # every second: the LSL clock and SCRAPED
    faults_done: list[dict] = []
    metrics: dict[str, float] = {}
    t0 = math.nan
    lsl_minus_wall = pylsl.local_clock() - time.time()
    code: int | None = None
    sink_got = 0
    queues: list[int] | None = None
    run_wall_s = math.nan
    ready = None
    try:
        deadline = time.monotonic() + 300
        while ready is None and daemon.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            ready = daemon.find(_READY)
        if ready is None:
            raise RuntimeError(f"the daemon did not start (exit {daemon.stop()}):\n{daemon.tail()}")
        alerts_ep, replay_ep, metrics_url, _model_version, _backend, _device = ready.groups()
        sink.connect(alerts_ep)
        sub = Subscriber(alerts_ep, replay_ep, since=0, warn=warnings.append)
        t0 = pylsl.local_clock() + 0.5
        state = {"offset": 0.0, "stopped": False}

        def start_outlet() -> subprocess.Popen:
            cmd = [sys.executable, str(REPO / "benchmarks" / "soak_outlet.py"), str(NONSEIZURE), str(SEIZURE)]
            cmd += ["--name", name, "--source-id", f"soak-{name}", "--t0", repr(t0), "--speed", repr(args.speed)]
            cmd += ["--offset-s", repr(state["offset"]), "--jump-s", repr(args.jump_s), "--chunk-s", repr(args.chunk_s)]
            cmd += ["--journal", str(journal)]
            return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

        def cpu_now() -> dict:
            """The machine's CPU seconds (steal included) and the daemon's and the outlet's, for each scrape."""
            return {
                "machine_cpu_s": machine_cpu_s(),
                "daemon_cpu_s": proc_cpu_s(daemon.proc.pid),
                "outlet_cpu_s": None if outlet is None else proc_cpu_s(outlet.pid),
            }

        outlet = start_outlet()
        schedule = fault_schedule(
            duration_s,
            args.fault_every_s,
            end_margin_s=max(args.fault_every_s, args.hang_s + 10.0),
            jump_targets_s=[onset_s + d if d is not None else 20.0 for d in JUMP_TARGETS_FROM_ONSET_S],
        )
        actions: list[tuple[float, int, str, dict]] = []  # (LSL time, tie-break, what, details): a heap
        for i, f in enumerate(schedule):
            heapq.heappush(actions, (t0 + f.at_s, i, f.kind, {"direction": f.direction, "target_s": f.target_s}))
        tie = len(schedule)
        end = t0 + duration_s
        next_sample = pylsl.local_clock()
        first_window: float | None = None
        while pylsl.local_clock() < end and daemon.proc.poll() is None:
            now = pylsl.local_clock()
            msg = sub.receive(min(0.1, max(0.001, (actions[0][0] - now) if actions else 0.1)))
            if msg is not None:
                received.append(msg)
            now = pylsl.local_clock()
            while actions and actions[0][0] <= now:
                _, _, what, info = heapq.heappop(actions)
                g_now = (now - t0) * rate
                if what == "jump" and info.get("aimed") is None:  # fire when the signal reaches the target
                    at = next_position(g_now + 0.05 * rate, n_cycle, info["target_s"] * fs)
                    tie += 1
                    heapq.heappush(actions, (t0 + at / rate, tie, "jump", {**info, "aimed": at}))
                elif what in ("jump", "kill", "hang") and (outlet is None or state["stopped"]):
                    faults_done.append({"kind": what, "g": g_now, "skipped": "outlet down"})
                elif what == "jump" and outlet is not None:
                    outlet.send_signal(signal.SIGUSR1 if info["direction"] > 0 else signal.SIGUSR2)
                    state["offset"] += info["direction"] * args.jump_s
                    faults_done.append({"kind": "jump", "g": g_now, "lsl": now, "direction": info["direction"]})
                elif what == "kill" and outlet is not None:
                    outlet.send_signal(signal.SIGKILL)  # the cable: no goodbye, no flush
                    outlet.wait(timeout=10)
                    outlet = None
                    faults_done.append({"kind": "kill", "g": g_now, "lsl": now})
                    tie += 1
                    heapq.heappush(actions, (now + args.kill_gap_s, tie, "restart", {}))
                elif what == "restart":
                    outlet = start_outlet()
                elif what == "hang" and outlet is not None:
                    outlet.send_signal(signal.SIGSTOP)
                    state["stopped"] = True
                    faults_done.append({"kind": "hang", "g": g_now, "lsl": now})
                    tie += 1
                    heapq.heappush(actions, (now + args.hang_s, tie, "continue", {}))
                elif what == "continue" and outlet is not None:
                    outlet.send_signal(signal.SIGCONT)
                    state["stopped"] = False
            if now >= next_sample:
                next_sample = now + 1.0
                metrics = scrape(metrics_url)
                scrapes.append({"lsl": now} | {k: metrics.get(name) for k, name in SCRAPED.items()} | cpu_now())
                if first_window is None and metrics.get("realtime_detect_windows_processed_total", 0) > 0:
                    first_window = now
                r = mem_bytes(daemon.proc.pid).get("VmRSS")
                if first_window is not None and r is not None:
                    rss.append((now - first_window, r))
        run_wall_s = pylsl.local_clock() - t0
        queues = send_queues(int(alerts_ep.rsplit(":", 1)[1]))
        if outlet is not None:
            if state["stopped"]:
                outlet.send_signal(signal.SIGCONT)
            outlet.send_signal(signal.SIGTERM)
            outlet.wait(timeout=10)
            outlet = None
        time.sleep(0.5)
        metrics = scrape(metrics_url)
        scrapes.append({"lsl": pylsl.local_clock()} | {k: metrics.get(name) for k, name in SCRAPED.items()} | cpu_now())
        code = daemon.stop(timeout_s=60)
        while (msg := sub.receive(1.0)) is not None:
            received.append(msg)
        while sink.poll(500):  # what the never-reading subscriber holds
            sink.recv_multipart()
            sink_got += 1
    finally:
        if outlet is not None:
            outlet.send_signal(signal.SIGCONT)
            outlet.kill()
            outlet.wait(timeout=10)
        daemon.stop()
        if sub is not None:
            sub.close()
        sink.close(linger=0)
        (work / "daemon.log").write_text("\n".join(daemon.lines) + "\n")
    _, _, _, model_version, backend, device = ready.groups()
    (work / "received.jsonl").write_text("".join(json.dumps(m) + "\n" for m in received))
    raw = {
        "command": " ".join([Path(sys.executable).name, "benchmarks/soak_faults.py", *argv]),
        "args": vars(args),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "model_version": model_version,
        "backend": backend,
        "device": device,
        "heartbeat_s": heartbeat_s,
        "reannounce_s": reannounce_s,
        "settle_s": cfg.decision.settle_s,
        "min_duration_s": cfg.decision.min_duration_s,
        "hop_s": cfg.window.hop_s,
        "fill_s": fill_s,
        "native_window_samples": native_window,
        "window_positions": [window_first_pos, window_last_pos],
        "inlet_buffer_s": inlet_buffer_s,
        "max_chunk_samples": cfg.stream.max_chunk_samples,
        "fs": fs,
        "n_cycle": n_cycle,
        "reference_wall_s": reference_s,
        "reference_onsets_s": ref_on,
        "reference_offsets_s": ref_off,
        "reference_onset_in_cycle_s": onset_s,
        "t0": t0,
        "lsl_minus_wall": lsl_minus_wall,
        "run_wall_s": run_wall_s,
        "faults_done": faults_done,
        "rss": rss,
        "scrapes": scrapes,
        "metrics": metrics,
        "subscriber_warnings": warnings,
        "never_reader_got": sink_got,
        "send_queues_at_end": queues,
        "daemon_exit_code_after_sigterm": code,
        "behind_lines": [line for line in daemon.lines if "fell behind" in line],
    }
    (work / "run.json").write_text(json.dumps(raw, indent=1))
    return work


def sample_accounting(
    raw: dict, entries: list[dict], logged: list[dict], received: list[dict], daemon_log: list[str], *, g_end: float
) -> dict:
    """What the outlet sent against what the daemon received (benchmarks/soak_check.py: :func:`outlet_segments`,
    :func:`place_windows`, :func:`account_samples`), the inlet's largest backlog (the per-second scrapes, the
    final scrape, the daemon's WARNING lines) and the run's validity (:func:`judge_validity`). Runs made before
    ``status.window`` was recorded get no accounting; their onsets' and offsets' windows are checked for holes."""
    fs, t0, rate = raw["fs"], raw["t0"], raw["fs"] * raw["args"]["speed"]
    offsets = sorted({float(e["offset_s"]) for e in entries})
    warned = backlog_warnings(daemon_log)
    buffer_s = raw.get("inlet_buffer_s") or warned["buffer_s"]
    scraped = [s["inlet_backlog_s"] for s in raw.get("scrapes", []) if s.get("inlet_backlog_s") is not None]
    final = raw["metrics"].get("realtime_detect_inlet_backlog_seconds")
    seen = [v for v in (max(scraped, default=None), final, warned["max_s"]) if v is not None]
    max_chunk_s = raw["max_chunk_samples"] / fs if raw.get("max_chunk_samples") else None
    limit_s = backlog_limit_s(buffer_s, max_chunk_s)
    backlog = {
        "max_s": max(seen) if seen else None,
        "scraped_max_s": max(scraped, default=None),
        "scrapes": len(scraped),
        "warning_lines": warned["lines"],
        "warnings_suppressed": warned["suppressed"],
        "warning_max_s": warned["max_s"],
        "buffer_s": buffer_s,
        "max_pull_s": max_chunk_s,
        "limit_s": limit_s,
    }
    place = {
        "t0": t0,
        "rate": rate,
        "offsets": offsets,
        "lsl_minus_wall": raw["lsl_minus_wall"],
        "max_latency": MAX_LATENCY_WALL_S * rate + 2 * (buffer_s or 30) * fs,  # a daemon behind by a full buffer
        "slack": 0.5 * rate,
    }
    segments = outlet_segments(entries, raw["faults_done"], g_end=g_end)
    window_msgs = [m for m in received if m.get("type") == "status.window" and "window_end" in m]
    acc, span_holes = None, []
    placed, unplaced = place_windows(window_msgs, **place) if raw.get("window_positions") else ([], 0)
    if placed:
        first_pos, last_pos = raw["window_positions"]
        acc = account_samples(
            segments,
            placed,
            hop=raw["hop_s"] * fs,
            native=raw["native_window_samples"],
            first_pos=first_pos,
            last_pos=last_pos,
            pulled=pulled_per_life(segments, raw.get("scrapes", []), t0=t0, rate=rate),
        )
    else:  # an older run: only the deciding windows of onsets and offsets have both ends
        decided, _ = place_windows((m for m in logged if "window_start" in m and "wall_time" in m), **place)
        if decided:
            span = float(np.median([w.end - w.start for w in decided]))
            span_holes = window_span_holes(decided, span=span)
    validity = judge_validity(
        acc,
        backlog_max_s=backlog["max_s"],
        backlog_limit_s=limit_s,
        windows_skipped=raw["metrics"].get("realtime_detect_windows_skipped_total", 0.0) or 0.0,
        span_holes=span_holes,
        fs=fs,
    )
    return {
        "segments": segments,
        "accounting": acc,
        "status_window_messages": len(window_msgs),
        "status_window_unplaced": unplaced,
        "span_holes": span_holes,
        "backlog": backlog,
        "validity": validity,
    }


def life_line(r: dict) -> str:
    """One outlet life (segment) of the accounting, for stdout."""
    if r["first_received"] is None:
        got = "no window scored"
    else:
        got = (
            f"before {r['before_first']:.0f}, received {r['received']:.0f}, lost {r['lost']:.0f}, after the last "
            f"window {r['after_last']:.0f}; windows {r['windows_scored']} / {r['windows_due']}"
        )
    return (
        f"  {r['segment']:>3} pid {r['pid']}  {r['start_s']:>8.1f}-{r['end_s']:>8.1f} s  ended by {r['ended_by']:<10} "
        f"sent {r['sent']:.0f}: {got}"
    )


def cpu_row(c: dict | None) -> str:
    """A table cell for :func:`cpu_over`'s or :func:`backlog_spell`'s result."""
    if c is None:
        return "n/a (not recorded)"
    return (
        f"machine {100 * c['busy']:.0f} % busy, {100 * c['idle']:.0f} % idle, {100 * c['steal']:.1f} % stolen by the "
        f"host ({c['cpus']:.1f} CPUs); daemon {c['daemon_cores']:.2f} cores, outlet {c['outlet_cores']:.2f}; "
        f"{c['windows_per_s']:.1f} windows/s over {c['wall_s']:.0f} s"
        + (f" (backlog {c['backlog_s']:.1f} s at its end)" if "backlog_s" in c else "")
    )


def analyse(work: Path) -> tuple[dict, list[tuple[str, str]]]:
    """The results of the run in ``work`` (its files): ``(result dict, table rows)``."""
    raw = json.loads((work / "run.json").read_text())
    args = argparse.Namespace(**raw["args"])
    fs, n_cycle, t0, onset_s, fill_s = (
        raw["fs"],
        raw["n_cycle"],
        raw["t0"],
        raw["reference_onset_in_cycle_s"],
        raw["fill_s"],
    )
    rate = fs * args.speed
    logged = []
    for line in (work / "alerts.jsonl").read_text().splitlines():
        try:
            logged.append(json.loads(line))
        except ValueError:  # a torn line (the log's readers skip them too)
            continue
    received = [json.loads(line) for line in (work / "received.jsonl").read_text().splitlines()]
    entries = [json.loads(line) for line in (work / "outlet.jsonl").read_text().splitlines()]
    offsets = sorted({float(e["offset_s"]) for e in entries})
    g_end = raw["run_wall_s"] * rate
    placed: Counter[str] = Counter()

    def position(m: dict) -> float:
        g, how = stamp_to_sample(
            float(m.get("window_end", m["time"])),
            t0=t0,
            rate=rate,
            offsets=offsets,
            due=(float(m["wall_time"]) + raw["lsl_minus_wall"] - t0) * rate,
            max_latency=MAX_LATENCY_WALL_S * rate,
            slack=0.5 * rate,
        )
        placed[how] += 1
        return g

    msg_check = check_messages(logged, received)
    log_file = work / "daemon.log"
    daemon_log = log_file.read_text(errors="replace").splitlines() if log_file.exists() else []
    sa = sample_accounting(raw, entries, logged, received, daemon_log, g_end=g_end)
    acc, validity, backlog = sa["accounting"], sa["validity"], sa["backlog"]
    onsets = [(m["event_id"], position(m)) for m in logged if m["type"] == "seizure.onset"]
    offsets_g = [(m["event_id"], position(m)) for m in logged if m["type"] == "seizure.offset"]
    signal_msgs = [m for m in logged if m["type"] == "status.signal"]
    back_after_s = raw["settle_s"] + fill_s + raw["min_duration_s"]
    outages = []
    first = next((m for m in signal_msgs if m["state"] in ("connected", "restored")), None)
    if first is not None:
        outages.append(Outage(-math.inf, (first["time"] - t0) * rate + back_after_s * fs, "start"))
    for fd in raw["faults_done"]:
        if fd["kind"] not in ("kill", "hang") or fd.get("skipped"):
            continue
        back = next((m for m in signal_msgs if m["state"] in ("restored", "connected") and m["time"] > fd["lsl"]), None)
        stop = (back["time"] - t0) * rate + back_after_s * fs if back is not None else math.inf
        start = (
            fd["g"] if fd["kind"] != "kill" or acc is None else kill_outage_start(fd["g"], acc["segments"], tol=rate)
        )
        outages.append(Outage(start, stop, fd["kind"]))
    sz = seizures_in(
        n_cycle, (41.0 + SEIZURE_IN_EXCERPT_S[0]) * fs, (41.0 + SEIZURE_IN_EXCERPT_S[1]) * fs, onset_s * fs, upto=g_end
    )
    alarms = classify(
        sz,
        onsets,
        offsets_g,
        outages,
        before=fill_s * fs,
        after=AFTER_S * fs,
        due_before=g_end - 1.0 * rate,  # its onset was due, and had a wall second to arrive
    )
    rows_by_cycle = {r["cycle"]: r for r in alarms["seizures"]}
    jump_rows = []
    for e in (e for e in entries if e["event"] == "jump"):
        pos_s, k = (e["g"] % n_cycle) / fs, int(e["g"] // n_cycle)
        row = rows_by_cycle.get(k)
        jump_rows.append(
            {
                "at_s": round(e["g"] / fs, 2),
                "cycle": k,
                "from_fault_free_onset_s": round(pos_s - onset_s, 2),
                "clock_offset_after_s": e["offset_s"],
                "seizure_alarmed": None if row is None else row["alarmed"],
                "seizure_onsets": None if row is None else row["onsets"],
                "seizure_onset_delay_s": None if row is None or row["delay"] is None else round(row["delay"] / fs, 2),
                "seizure_exempt": None if row is None else row["exempt"],
            }
        )
    valid = validity["valid"]
    stretches = acc["stretches"] if acc is not None else sa["span_holes"]
    in_stretches = [
        {
            "cycle": h["cycle"],
            "alarmed": rows_by_cycle[h["cycle"]]["alarmed"],
            "exempt": rows_by_cycle[h["cycle"]]["exempt"],
        }
        | {"stretches_s": [[round(st["from"] / fs, 2), round(st["to"] / fs, 2)] for st in h["stretches"]]}
        for h in seizures_in_stretches(sz, stretches, before=fill_s * fs, after=AFTER_S * fs)
    ]
    stretch_rows = [
        {"kind": st["kind"], "segment": st["segment"], "samples": round(st["samples"], 1)}
        | {"seconds": round(st["samples"] / fs, 3), "between_s": [round(st["from"] / fs, 2), round(st["to"] / fs, 2)]}
        | where(st["from"], fs=fs, cycle=n_cycle)
        for st in stretches
    ]
    lives = []
    if acc is not None:
        for r in acc["segments"]:
            lives.append(
                {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()}
                | {"start_s": round(r["start"] / fs, 2), "end_s": round(r["end"] / fs, 2)}
            )
    rss = raw["rss"]
    growth = rss_growth([b for _, b in rss]) if len(rss) >= 2 else None
    metrics = raw["metrics"]
    windows = metrics.get("realtime_detect_windows_processed_total", 0.0)
    received_n = metrics.get("realtime_detect_samples_received_total", 0.0)
    received_s = received_n / fs
    connections = sum(m["state"] in ("connected", "restored") for m in signal_msgs)
    # the old measure, from the samples the daemon counted: blind to samples it never got
    due_received = max(0.0, received_s / raw["hop_s"] - connections * (fill_s - raw["hop_s"]))
    scored_received = windows / due_received if due_received else math.nan
    due_sent = acc["windows_due"] if acc is not None else None
    scored_sent = acc["windows_scored"] if acc is not None else None
    fraction = validity["windows_fraction"]
    clock_msgs = [m for m in signal_msgs if m["state"] == "clock" or "timestamps" in str(m.get("detail", ""))]
    lat_n = metrics.get("realtime_detect_end_to_end_latency_seconds_count", 0.0)
    lat_mean = metrics.get("realtime_detect_end_to_end_latency_seconds_sum", 0.0) / lat_n if lat_n else math.nan
    errors = {k.split(":", 1)[1]: v for k, v in metrics.items() if k.startswith("realtime_detect_errors_total:") and v}
    kinds = Counter(f["kind"] for f in raw["faults_done"] if not f.get("skipped"))
    lost = sum(m["state"] == "lost" for m in signal_msgs)
    restored = sum(m["state"] == "restored" for m in signal_msgs)
    delays = np.array(alarms["delays"], dtype=np.float64) / fs
    split = [r["cycle"] for r in alarms["seizures"] if r["due"] and r["onsets"] > 1]
    log_bytes = (work / "alerts.jsonl").stat().st_size
    code = raw["daemon_exit_code_after_sigterm"]
    res = {
        "what": "daemon soak with faults on a schedule: outlet kills, hangs, clock jumps, a subscriber never reading",
        **{k: raw[k] for k in ("command", "host", "cpus", "load_average_at_end", "python", "date", "model_version")},
        **{k: raw[k] for k in ("backend", "device", "heartbeat_s", "reannounce_s", "reference_wall_s", "run_wall_s")},
        "speed": args.speed,
        "model_threads": getattr(args, "model_threads", 0),  # runs before the flag: 0
        "channels": getattr(args, "channels", None),  # None: all 23 (and runs before the flag)
        "signal_hours": args.signal_hours,
        "fault_every_s": args.fault_every_s,
        "fault_every_signal_s": args.fault_every_s * args.speed,
        "kill_gap_s": args.kill_gap_s,
        "hang_s": args.hang_s,
        "jump_s": args.jump_s,
        "reference_onsets_s": raw["reference_onsets_s"],
        "reference_offsets_s": raw["reference_offsets_s"],
        "reference_onset_in_cycle_s": onset_s,
        "faults": dict(kinds),
        "faults_skipped": sum(bool(f.get("skipped")) for f in raw["faults_done"]),
        "clock_offsets_used_s": offsets,
        "jumps": jump_rows,
        "lost": lost,
        "restored": restored,
        "clock_messages": len(clock_msgs),
        "clock_jumps_metric": metrics.get("realtime_detect_clock_jumps_total"),
        "clock_details": [m["detail"] for m in clock_msgs][:20],
        "valid": valid,
        "validity": validity,
        # where CPU time went over the run and in the 30 s before the largest backlog (None for older runs)
        "cpu": {
            "run": cpu_over(raw.get("scrapes", [])),
            "before_largest_backlog": backlog_spell(raw.get("scrapes", [])),
        },
        "no_alarm_lost": (not alarms["missed"] and alarms["checked"] > 0) if valid else None,
        "samples": None
        if acc is None
        else {
            k: acc[k]
            for k in (
                "sent",
                "before_first",
                "received",
                "lost_outside_faults",
                "at_kills",
                "unscored_at_stop",
                "undelivered_at_hangs",
                "outlet_lags",
                "windows_unassigned",
                "steps_short",
                "noise_max",
                "segments_without_windows",
            )
        }
        | {"received_counter": received_n, "status_window_messages": sa["status_window_messages"]}
        | {"status_window_unplaced": sa["status_window_unplaced"]},
        "lost_stretches": stretch_rows,
        "seizures_in_lost_stretches": in_stretches,
        "inlet_backlog": backlog,
        "outlet_lives": lives,
        "signal_received_s": received_s,
        "windows_scored": windows,
        "windows_scored_in_messages": scored_sent,
        "windows_due": due_sent,
        "windows_scored_fraction": fraction,
        "speed_held": args.speed * fraction if fraction is not None else None,
        "windows_due_from_received": due_received,
        "windows_scored_fraction_from_received": scored_received,
        "end_to_end_latency_mean_s": lat_mean,
        "errors": errors,
        "rss_mib": None if growth is None else {k: growth[k] / MIB for k in ("first", "last", "peak")},
        "rss_growth": None if growth is None else growth["growth"],
        "seizures_due": sum(r["due"] for r in alarms["seizures"]),
        "seizures_checked": alarms["checked"],
        "seizures_alarmed": alarms["alarmed"],
        "seizures_missed_cycles": alarms["missed"],
        "seizures_exempt": alarms["exempt"],
        "seizures_exempt_alarmed": alarms["exempt_alarmed"],
        "seizures_split_cycles": split,
        "unexpected_onsets_s": [round(g / fs, 1) for g in alarms["unexpected_onsets"]],
        "onset_delay_vs_fault_free_s": (
            {"median": float(np.median(delays)), "min": float(delays.min()), "max": float(delays.max())}
            if delays.size
            else None
        ),
        "alerts_placed_by": dict(placed),
        "outages": [{"kind": o.kind, "start_s": o.start / fs, "end_s": o.end / fs} for o in outages],
        "messages": msg_check,
        "alert_log_bytes": log_bytes,
        "subscriber_warnings": raw["subscriber_warnings"],
        "never_reader_got": raw["never_reader_got"],
        "send_queues_at_end": raw["send_queues_at_end"],
        "daemon_exit_code_after_sigterm": code,
        "work_dir": str(work),
        "seizure_rows": [
            {**r, "onset": None if r["onset"] is None else round(r["onset"] / fs, 2)}
            | {"delay": None if r["delay"] is None else round(r["delay"] / fs, 2)}
            for r in alarms["seizures"]
        ],
    }
    ok = {
        "rss": growth is not None and growth["growth"] < 0.05,
        "alarms": res["no_alarm_lost"],  # None: not judged, the run is not valid
        # also only on a valid run: a daemon behind sends alerts too late to be placed by their stamps
        "no_unexpected_onsets": not alarms["unexpected_onsets"] if valid else None,
        "messages": not any(
            msg_check[k]
            for k in (
                "duplicates",
                "seq_back",
                "seq_gaps",
                "received_not_logged",
                "received_differs",
                "logged_not_received",
                "received_back",
            )
        ),
        "exit": code == 0,
    }
    res["ok"] = ok
    g = res["rss_mib"] or {}
    queues = raw["send_queues_at_end"]
    if acc is not None:
        samples_row = (
            f"{acc['sent']:.0f} sent in {len(acc['segments'])} outlet lives; {acc['before_first']:.0f} of them before "
            f"the daemon's first sample of a connection (reconnecting: in the faults); {acc['received']:.0f} received "
            f"up to the last window of each life (counter: {received_n:.0f}); {acc['at_kills']:.0f} after the last "
            f"window at kills; {acc['unscored_at_stop']:.0f} unscored at the stop; "
            f"{acc.get('undelivered_at_hangs', 0.0):.0f} never delivered by a hung outlet (its last moments' samples, "
            f"frozen in its queue: the daemon's counter shows it never had them)"
        )
        lost_row = f"{acc['lost_outside_faults']:.0f} samples ({acc['lost_outside_faults'] / fs:.2f} s of signal)"
    else:
        samples_row = (
            f"not measured (no status.window in this run); the daemon counted {received_n:.0f} samples received"
        )
        lost_row = "not measured; " + (
            f"{sum(h['samples'] for h in stretches):.0f} samples missing inside {len(stretches)} deciding windows"
            if stretches
            else "no deciding window spans more than a window"
        )
    if stretch_rows:
        lost_row += (
            " in "
            + "; ".join(
                f"{r['samples']:.0f} at {r['signal_s']:.1f} s (cycle {r['cycle']}, {r['in_cycle_s']:.1f} s in)"
                for r in stretch_rows[:5]
            )
            + (f"; ... {len(stretch_rows) - 5} more" if len(stretch_rows) > 5 else "")
        )
    backlog_row = (
        "n/a"
        if backlog["max_s"] is None
        else f"{backlog['max_s']:.1f} s of signal (scraped each second: {backlog['scraped_max_s']}; "
        f"{backlog['warning_lines']} WARNING lines, {backlog['warnings_suppressed']} more suppressed)"
    ) + (
        ""
        if backlog["limit_s"] is None
        else f"; limit {backlog['limit_s']:g} s (half of the {backlog['buffer_s']:g} s buffer"
        + (f" less a {backlog['max_pull_s']:g} s pull)" if backlog["max_pull_s"] else ")")
    )
    kept_row = (
        "n/a (not measured)"
        if acc is None
        else f"{scored_sent} / {due_sent}"
        + ("" if fraction is None else f" = {fraction:.3f} ({args.speed * fraction:.1f}x held)")
        + f"; limit {KEPT_UP_MIN:g}"
    )
    valid_row = {True: "yes", False: "NO", None: "NOT ESTABLISHED"}[valid] + (
        ": " + "; ".join(validity["reasons"]) if validity["reasons"] else ""
    )
    spell = res["cpu"]["before_largest_backlog"]
    if not valid and spell is not None and spell["steal"] >= STEAL_NOTABLE:
        valid_row += (
            f" (in the 30 s before the largest backlog the hypervisor took {100 * spell['steal']:.0f} % of the "
            "machine's CPU time: a slow host)"
        )
    rows = [
        ("model / backend / device", f"{raw['model_version']} / {raw['backend']} / {raw['device']}"),
        (
            "signal, speed, wall",
            f"{args.signal_hours:g} h at {args.speed:g}x, "
            f"{res['channels'] or 'all'} channels scored ({raw['run_wall_s']:.0f} s wall; "
            f"fault-free pass {raw['reference_wall_s']:.0f} s)",
        ),
        (
            "faults",
            ", ".join(f"{v} {k}s" for k, v in sorted(kinds.items()))
            + f" (every {args.fault_every_s:g} s wall = {args.fault_every_s * args.speed:g} s of signal; jumps "
            f"+-{args.jump_s:g} s; kill gap {args.kill_gap_s:g} s; hang {args.hang_s:g} s)",
        ),
        (
            "lost / restored",
            f"{lost} / {restored} ({kinds['kill'] + kinds['hang']} kills and hangs, and the outlet's stop at the end)",
        ),
        (
            "clock jumps reported",
            f"{len(clock_msgs)} status.signal clock, metric {res['clock_jumps_metric']} (of {len(jump_rows)} injected)",
        ),
        ("samples sent / received", samples_row),
        ("lost outside the faults", lost_row),
        ("inlet backlog, max", backlog_row),
        ("CPU, whole run", cpu_row(res["cpu"]["run"])),
        ("CPU, 30 s before the largest backlog", cpu_row(res["cpu"]["before_largest_backlog"])),
        ("windows scored / due from sent", kept_row),
        (
            "windows scored / due from received",
            f"{windows:.0f} / {due_received:.0f} = {scored_received:.3f} (the old measure: blind to samples never "
            f"received; {received_s / 3600:.2f} h of signal received)",
        ),
        ("VALID for 'no alarm lost'", valid_row),
        ("end-to-end latency, mean", f"{lat_mean:.3f} s"),
        (
            "RSS first 10 % / last 10 % / peak",
            f"{g.get('first', 0):.0f} / {g.get('last', 0):.0f} / {g.get('peak', 0):.0f} MiB, "
            f"growth {100 * (growth['growth'] if growth else math.nan):+.2f} % (limit 5 %)",
        ),
        (
            "seizures alarmed / checked",
            ("" if valid else "NOT JUDGED (run not valid): ")
            + f"{alarms['alarmed']} / {alarms['checked']} (missed cycles {alarms['missed']}); exempt "
            f"{alarms['exempt']} (alarmed anyway {alarms['exempt_alarmed']}); unexpected onsets "
            f"{len(alarms['unexpected_onsets'])}",
        ),
        (
            "seizures in lost stretches",
            ", ".join(
                f"cycle {h['cycle']} ({'alarmed' if h['alarmed'] else 'NOT alarmed'}"
                + (", exempt" if h["exempt"] else "")
                + ")"
                for h in in_stretches
            )
            or "none",
        ),
        ("seizures with 2+ onsets", f"{len(split)} of {res['seizures_due']}"),
        (
            "jumps at a seizure: alarmed",
            f"{sum(bool(j['seizure_alarmed']) for j in jump_rows if not j['seizure_exempt'])} of "
            f"{sum(1 for j in jump_rows if not j['seizure_exempt'] and j['seizure_alarmed'] is not None)} not exempt",
        ),
        (
            "onset vs fault-free, s",
            "n/a"
            if not delays.size
            else f"median {np.median(delays):+.1f}, range {delays.min():+.1f} .. {delays.max():+.1f}",
        ),
        ("alerts placed by", ", ".join(f"{k} {v}" for k, v in sorted(placed.items()))),
        (
            "log: messages, dup, back, gaps",
            f"{msg_check['logged']} ({log_bytes / MIB:.1f} MiB), {msg_check['duplicates']}, {msg_check['seq_back']}, "
            f"{msg_check['seq_gaps']}",
        ),
        (
            "received: n, not logged, differ, missed",
            f"{msg_check['received']}, {msg_check['received_not_logged']}, {msg_check['received_differs']}, "
            f"{msg_check['logged_not_received']} ({len(raw['subscriber_warnings'])} subscriber warnings)",
        ),
        (
            "never-reading subscriber",
            f"got {raw['never_reader_got']} of {msg_check['logged']} logged + {msg_check['unsequenced_received']} "
            "status.window (as many as the recorder got); daemon's TCP send queues at the end "
            + ("n/a" if queues is None else f"{sorted(queues)} bytes"),
        ),
        ("errors by kind", ", ".join(f"{k} {v:.0f}" for k, v in sorted(errors.items())) or "none"),
        ("exit code after SIGTERM", f"{code}"),
        (
            "checks",
            ", ".join(f"{k} {'not judged' if v is None else 'ok' if v else 'FAILED'}" for k, v in ok.items()),
        ),
    ]
    return {**res, "rss_samples": [[round(a, 1), round(b / MIB, 1)] for a, b in rss]}, rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signal-hours", type=float, default=1.0)
    ap.add_argument("--speed", type=float, default=20.0)
    ap.add_argument(
        "--fault-every-signal-s",
        type=float,
        default=FAULT_EVERY_SIGNAL_S,
        help=f"one fault per this many seconds of signal (default {FAULT_EVERY_SIGNAL_S:g}: every 10 s of wall time at "
        "20x, 20 s at 10x): the same schedule of faults along the signal at every --speed",
    )
    ap.add_argument(
        "--fault-every-s",
        type=float,
        default=None,
        help="wall seconds between faults instead (overrides --fault-every-signal-s)",
    )
    ap.add_argument("--kill-gap-s", type=float, default=3.0)
    ap.add_argument("--hang-s", type=float, default=5.0)
    ap.add_argument("--jump-s", type=float, default=3600.0)
    ap.add_argument("--chunk-s", type=float, default=0.5, help="signal seconds per chunk the outlet pushes")
    ap.add_argument(
        "--heartbeat-s",
        type=float,
        default=0.1,
        help="the daemon's alerts.heartbeat_s (default 0.1, its minimum: the most messages it sends, so that the "
        "never-reading subscriber's queue fills)",
    )
    ap.add_argument("--model", default=None)
    ap.add_argument(
        "--channels",
        type=int,
        default=None,
        help="score only the recording's first N channels (default: all 23); the model's work scales with N",
    )
    ap.add_argument(
        "--buffer-s",
        type=float,
        default=None,
        help="the daemon's window.buffer_s (and its inlet's); default: 30 s or 3 s of wall time at --speed, the longer",
    )
    ap.add_argument("--model-threads", type=int, default=0, help="the daemon's model.threads (default 0: every core)")
    ap.add_argument("--backend", choices=MODEL_BACKENDS, default="auto")
    ap.add_argument("--out", default=None)
    ap.add_argument("--analyse", metavar="WORK_DIR", default=None, help="only analyse the files of an earlier run")
    args = ap.parse_args(argv)
    if args.fault_every_s is None:
        args.fault_every_s = args.fault_every_signal_s / args.speed if args.speed > 0 else math.nan
    numbers = (
        "signal_hours",
        "speed",
        "fault_every_signal_s",
        "fault_every_s",
        "kill_gap_s",
        "hang_s",
        "jump_s",
        "chunk_s",
        "heartbeat_s",
    )
    bad = [f"--{n.replace('_', '-')} {getattr(args, n)!r}" for n in numbers if not 0 < getattr(args, n) < math.inf]
    if bad:
        ap.error(f"must be finite and > 0: {', '.join(bad)}")
    if args.buffer_s is not None and not 0 < args.buffer_s < math.inf:
        ap.error(f"--buffer-s must be finite and > 0, got {args.buffer_s!r}")
    if args.hang_s <= 3.0:
        ap.error(f"--hang-s must exceed stale_after_s (3 s) for the stream to be lost, got {args.hang_s!r}")
    try:
        work = Path(args.analyse) if args.analyse else run(args, argv)
        res, rows = analyse(work)
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"soak_faults: {exc}", file=sys.stderr)
        return EXIT_NOT_RUN
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    if res.get("outlet_lives"):
        print("\noutlet lives (samples; 'before' = sent before the daemon's first sample of the connection):")
        print("\n".join(life_line(r) for r in res["outlet_lives"]))
    day = res["date"][:10]
    out = Path(args.out or REPO / "benchmarks" / "results" / f"soak-faults-{res['host']}-{day}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"wrote {out}; the run's files are in {work}")
    return exit_code(res["ok"], res["validity"]["valid"])


def exit_code(ok: dict, valid: bool | None) -> int:
    """0: every check passed on a valid run; 1 (EXIT_FAILED): a check failed (``ok`` holds a False; the alarm
    checks are None, not judged, on a run that is not valid); 3 (EXIT_NOT_VALID): nothing failed, but the run is
    not valid (or its validity not established) as a test of "no alarm lost"."""
    if any(v is False for v in ok.values()):
        return EXIT_FAILED
    return 0 if valid is True else EXIT_NOT_VALID


if __name__ == "__main__":
    sys.exit(main())
