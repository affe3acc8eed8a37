"""Capacity benchmark (not a test): how many 23-channel 256 Hz beds one daemon keeps in real time, against one
daemon process per bed, over real LSL, ZeroMQ and HTTP on this machine.

    .venv/bin/python benchmarks/capacity.py --beds 10,25,50 --duration-s 60 [--backend auto|litert|tensorflow|openvino]
        [--quick] [--separate-max 10] [--warmup-s 10] [--threads N] [--device auto|cpu|gpu] [--model EXPORT]
        [--precision float32|bfloat16] [--batch-windows 32]
        [--chunk-s 0.03125] [--out DIR] [--name FILE.json]

For every bed count N in ``--beds``, three runs, one after the other, each with its own fresh processes:

- ``single``: ONE ``realtime-detect`` (``python -m realtime detect``) with N beds (``[[beds]]`` in a TOML
  config, hop 1 s, the shipped model unless ``--model``, ``--backend`` and ``--threads`` as given);
- ``model-free`` (not with ``--quick``): the same daemon and beds with the tests' toy export
  (tests/toy_export.py: a hand-set amplitude model, one standard deviation per window), so that the
  daemon's CPU is everything but the model: LSL pulls, buffers, quality checks, resampling, decisions,
  messages, metrics. Built once per benchmark run in a subprocess (needs TensorFlow);
- ``separate``: N one-bed daemons (``[stream]``, as one per bed is deployed), for N up to
  ``--separate-max`` (default 10) and while N times the single daemon's resident memory at ready fits in
  80 % of the memory available (MemAvailable, or the cgroup's limit); otherwise skipped, and the output
  and the JSON say so and why.

What every run has (real processes, loopback only; LSL kept on this machine by the packaged
``realtime/data/lsl_api.cfg``, ``ResolveScope = machine``, ``IPv6 = disable``, through ``LSLAPICFG``):

- one outlet process (benchmarks/capacity_outlet.py) with N LSL streams of the shipped CHB-MIT excerpts
  (non-seizure then seizure, 23 channels at 256 Hz, an 82 s cycle with one seizure), each bed from its own
  place in the cycle, in chunks of ``--chunk-s`` (1/32 s), stamped with each sample's due time on the LSL
  clock. Its CPU is measured apart and never counted to the daemon; how late it pushed is reported;
- every daemon with ``alerts.publish_windows = true``: a ``status.window`` message per bed per scored window
  (no ``seq``, not logged: the alert log and its numbering stay the alarms');
- a ZeroMQ SUB socket connected to every daemon's PUB endpoint, stamping each message with
  ``pylsl.local_clock()`` on receipt;
- the daemons' Prometheus metrics scraped over HTTP (``--metrics-port 0``) and ``/proc/<pid>``.

Measured, over ``--duration-s`` after every bed has scored a window and ``--warmup-s`` more:

- ready: process start to its ``ready: ...`` log line (written just before ``READY=1``); and to every
  bed scoring (the first window needs 4.1 s of signal);
- CPU: utime + stime of the daemon process(es) (``/proc/<pid>/stat``) over the interval, as a share of
  wall time x usable cores; per thread name in the JSON; the model's time: the increase of
  ``realtime_detect_inference_duration_seconds_sum`` (wall seconds inside the batched ``predict``);
  everything but the model: the ``model-free`` run's CPU share;
- memory: VmRSS at ready, at the start and end of the interval, the largest sampled each second, and
  VmHWM (the kernel's peak) at the end; summed over the daemons of ``separate``;
- real time, every window scored within its hop: ``realtime_detect_windows_skipped_total`` stays 0, the
  windows scored are those due, and every window's latency is at most the hop;
- latency from a window's newest sample to its message at the subscriber, for every window: each
  ``status.window`` received in the interval, receipt time (``pylsl.local_clock()``) minus its ``window_end``
  (the window's newest sample, stamped by the outlet on this machine's LSL clock: one clock, no offset);
  p50/p99/max and the exact shares at or under 0.1 s and the hop; messages lost on the way are counted from
  gaps in each bed's ``windows_total`` (one per window). Beside it, the daemon's own
  ``realtime_detect_end_to_end_latency_seconds`` histogram (LSL clock once the window is handled, its
  messages sent, minus its newest sample), p50/p99 interpolated within its buckets as Prometheus'
  ``histogram_quantile`` does: the subscriber's figure adds the socket and this process's receipt.

Targets (issue 13), checked on the ``single`` run: at least 50 beds in real time; p99 latency (at the subscriber,
every window) under 100 ms;
everything but the model under 15 % of CPU; VmHWM under 300 MiB + 5 MiB per bed; ready in under 5 s. A
table on stdout; JSON to benchmarks/results/capacity-<host>-<date>.json; each run's config, daemon logs,
alert logs and the outlet's statistics stay in a temporary directory (printed). Linux only (/proc).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import resource
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from realtime.config import MODEL_BACKENDS, MODEL_DEVICES, MODEL_PRECISIONS, RESAMPLE_FILTERS  # noqa: E402
from realtime.demo import _READY, DATA, lsl_config_path  # noqa: E402
from realtime.recordings import available_memory_bytes  # noqa: E402

os.environ["LSLAPICFG"] = str(lsl_config_path())  # machine scope, no IPv6: set before liblsl loads

import numpy as np  # noqa: E402
import pylsl  # noqa: E402
import zmq  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from benchmarks.capacity_outlet import source_id, stream_name  # noqa: E402
from benchmarks.procfs import cpu_shares, machine_cpu_s, mem_bytes, proc_cpu_s, threads_cpu_s  # noqa: E402

MIB = 1024 * 1024
N_CH = 23
HOP_S = 1.0
RECORDINGS = (DATA / "chbmit" / "chb01_03_NonSeizure.edf", DATA / "chbmit" / "chb01_03_Seizure.edf")
P = "realtime_detect_"
TARGETS = {"beds": 50, "p99_latency_s": 0.100, "non_model_cpu_share": 0.15, "rss_base_mib": 300, "rss_per_bed_mib": 5}
TARGETS["ready_s"] = 5.0


# ----------------------------------------------------------------------------- /proc
def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# ----------------------------------------------------------------------------- metrics
@dataclass
class Scrape:
    """What the capacity needs from one or several daemons' ``/metrics`` (summed over them)."""

    windows: dict[str, float] = field(default_factory=dict)  # stream label -> windows_processed_total
    skipped: dict[str, float] = field(default_factory=dict)
    samples: dict[str, float] = field(default_factory=dict)
    latency_buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count, every stream
    latency_sum: float = 0.0
    latency_count: float = 0.0
    inference_sum: float = 0.0
    inference_count: float = 0.0
    errors: dict[str, float] = field(default_factory=dict)

    def add(self, other: Scrape) -> Scrape:
        out = Scrape()
        for name in ("windows", "skipped", "samples", "latency_buckets", "errors"):
            a, b = getattr(self, name), getattr(other, name)
            setattr(out, name, {k: a.get(k, 0.0) + b.get(k, 0.0) for k in set(a) | set(b)})
        for name in ("latency_sum", "latency_count", "inference_sum", "inference_count"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        return out

    def minus(self, before: Scrape) -> Scrape:
        out = Scrape()
        for name in ("windows", "skipped", "samples", "latency_buckets", "errors"):
            a, b = getattr(self, name), getattr(before, name)
            setattr(out, name, {k: a.get(k, 0.0) - b.get(k, 0.0) for k in a})
        for name in ("latency_sum", "latency_count", "inference_sum", "inference_count"):
            setattr(out, name, getattr(self, name) - getattr(before, name))
        return out


def scrape(url: str) -> Scrape:
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    s = Scrape()
    per_stream = {
        f"{P}windows_processed_total": s.windows,
        f"{P}windows_skipped_total": s.skipped,
        f"{P}samples_received_total": s.samples,
    }
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            name, labels, value = sample.name, sample.labels, float(sample.value)
            if name in per_stream:
                per_stream[name][labels["stream"]] = value
            elif name == f"{P}end_to_end_latency_seconds_bucket":
                le = float(labels["le"])
                s.latency_buckets[le] = s.latency_buckets.get(le, 0.0) + value
            elif name == f"{P}end_to_end_latency_seconds_sum":
                s.latency_sum += value
            elif name == f"{P}end_to_end_latency_seconds_count":
                s.latency_count += value
            elif name == f"{P}inference_duration_seconds_sum":
                s.inference_sum += value
            elif name == f"{P}inference_duration_seconds_count":
                s.inference_count += value
            elif name == f"{P}errors_total":
                s.errors[labels["kind"]] = value
    return s


def histogram_quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus' ``histogram_quantile``: linear within the bucket that holds rank ``q`` x count; the
    highest finite bound when the rank falls in the ``+Inf`` bucket; NaN without observations."""
    les = sorted(buckets)
    total = buckets.get(math.inf, 0.0)
    if not les or total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for le in les:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return lower
            return lower + (le - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = le, count
    return lower


def share_at_most(bound: float, buckets: dict[float, float]) -> tuple[float, float]:
    """``(share of observations <= the smallest bucket bound >= bound, that bound)``."""
    total = buckets.get(math.inf, 0.0)
    le = min((b for b in buckets if b >= bound - 1e-12), default=math.inf)
    return ((buckets.get(le, 0.0) / total) if total > 0 else math.nan), le


# ----------------------------------------------------------------------------- processes
class Proc:
    """A subprocess whose stderr lines are collected, each with the monotonic time it was read."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.lines: list[tuple[float, str]] = []
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def ready(self) -> tuple[float, tuple[str, ...]] | None:
        """``(seconds from start to the ready line, its groups)`` once it was logged."""
        for t, line in list(self.lines):
            m = _READY.search(line)
            if m:
                return t - self.started, m.groups()
        return None

    def stop(self, timeout_s: float = 60.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._thread.join(timeout=5)
        self.log_path.write_text("\n".join(line for _, line in self.lines) + "\n")
        return self.proc.returncode

    def tail(self, n: int = 15) -> str:
        keep = [ln for _, ln in self.lines if not ln.startswith(("I0000", "W0000", "E0000", "WARNING: All log"))]
        return "\n".join(f"  {ln}" for ln in keep[-n:])


class SubscriberThread:
    """A ZeroMQ SUB socket on every given PUB endpoint; each message kept with its receipt LSL time."""

    def __init__(self, endpoints: list[str]):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, 200)
        self.sock.setsockopt(zmq.RCVHWM, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        for ep in endpoints:
            self.sock.connect(ep)
        self.received: list[tuple[float, str, dict]] = []
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
            t = pylsl.local_clock()
            try:
                self.received.append((t, frames[0].decode(), json.loads(frames[1])))
            except (IndexError, ValueError):
                continue

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close(linger=0)
        self.ctx.term()


def child_env() -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", LSLAPICFG=os.environ["LSLAPICFG"])
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a TOML basic string for these characters


def daemon_config(
    args,
    work: Path,
    tag: str,
    model: str,
    beds: list[tuple[str, str, str]] | None,
    one=None,
    with_precision: bool = True,
) -> Path:
    """A TOML config: ``beds`` ``[(label, stream name, source id)]`` as ``[[beds]]``, or ``one`` ``(name, source
    id)`` as ``[stream]``; loopback endpoints on free ports, metrics on a free port, its own alert log;
    ``with_precision`` False: without ``--precision`` (the model-free run's toy export has no bfloat16 SavedModel)."""
    lines = ["[stream]"]
    if one is not None:
        lines += [f"name = {toml_str(one[0])}", f"source_id = {toml_str(one[1])}"]
    lines += [
        "",
        "[window]",
        f"hop_s = {HOP_S!r}",
        "",
        "[model]",
        f"path = {toml_str(model)}",
        f"backend = {toml_str(args.backend)}",
        f"device = {toml_str(args.device)}",
    ]
    if args.threads is not None:
        lines.append(f"threads = {int(args.threads)}")
    if args.precision is not None and with_precision:
        lines.append(f"precision = {toml_str(args.precision)}")
    if args.batch_windows is not None:
        lines.append(f"batch_windows = {int(args.batch_windows)}")
    if args.resample_filter is not None:
        lines += ["", "[signal]", f"resample_filter = {toml_str(args.resample_filter)}"]
    lines += [
        "",
        "[alerts]",
        'endpoint = "tcp://127.0.0.1:*"',
        'replay_endpoint = "tcp://127.0.0.1:0"',
        f"log_path = {toml_str(str(work / f'alerts-{tag}.jsonl'))}",
        "publish_windows = true",  # a status.window per bed per window: the subscriber's latency of every window
        "",
        "[metrics]",
        "port = 0",
    ]
    for label, name, sid in beds or []:
        lines += [
            "",
            "[[beds]]",
            f"bed = {toml_str(label)}",
            f"name = {toml_str(name)}",
            f"source_id = {toml_str(sid)}",
        ]
    path = work / f"{tag}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_outlet(args, n: int, prefix: str, work: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    stats = work / f"outlet-{prefix}.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "capacity_outlet.py"), *map(str, RECORDINGS)]
    cmd += ["--beds", str(n), "--prefix", prefix, "--t0", repr(pylsl.local_clock() + 0.3)]
    cmd += ["--chunk-s", repr(args.chunk_s), "--seed", str(args.seed), "--stats", str(stats)]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60 + n)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "ready":
        proc.kill()
        proc.wait(timeout=10)
        raise RuntimeError(f"the outlet process did not start (got {line!r})")
    return proc, stats


def stop_outlet(proc: subprocess.Popen, stats: Path) -> dict[str, Any]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
    try:
        return dict(json.loads(stats.read_text()))
    except (OSError, ValueError) as exc:
        return {"error": f"no statistics from the outlet process: {exc}"}


# ----------------------------------------------------------------------------- one run
def run_one(args, mode: str, n: int, work: Path, model: str, env: dict[str, str]) -> dict[str, Any]:
    """One run (``single``, ``model-free`` or ``separate``) with ``n`` beds; its result dict."""
    prefix = f"cap{n}-{mode[:3]}-{uuid.uuid4().hex[:6]}"
    tag = f"{n}-{mode}"
    streams = [(f"bed{b:03d}", stream_name(prefix, b), source_id(prefix, b)) for b in range(n)]
    outlet, stats_path = start_outlet(args, n, prefix, work, env)
    daemons: list[Proc] = []
    sub: SubscriberThread | None = None
    res: dict[str, Any] = {"mode": mode, "beds": n, "daemons": 1 if mode != "separate" else n}
    try:
        if mode == "separate":
            for i, (_, name, sid) in enumerate(streams):
                cfg = daemon_config(args, work, f"{tag}-{i:03d}", model, None, one=(name, sid))
                argv = [sys.executable, "-m", "realtime", "detect", "--config", str(cfg)]
                daemons.append(Proc(f"daemon{i}", argv, env, work / f"daemon-{tag}-{i:03d}.log"))
            labels = [name for _, name, _ in streams]  # one unlabelled bed each: its stream's name
        else:
            cfg = daemon_config(args, work, tag, model, streams, with_precision=mode != "model-free")
            argv = [sys.executable, "-m", "realtime", "detect", "--config", str(cfg)]
            daemons.append(Proc("daemon", argv, env, work / f"daemon-{tag}.log"))
            labels = [label for label, _, _ in streams]
        res["command"] = " ".join(Path(a).name if a == sys.executable else a for a in daemons[0].argv)
        res["config"] = (work / (f"{tag}.toml" if mode != "separate" else f"{tag}-000.toml")).read_text()
        # ready
        deadline = time.monotonic() + args.ready_timeout_s + (20 * n if mode == "separate" else 0)
        readies: list[tuple[float, tuple[str, ...]] | None] = [None] * len(daemons)
        while time.monotonic() < deadline and not all(readies):
            for i, d in enumerate(daemons):
                if readies[i] is None:
                    readies[i] = d.ready()
                    if readies[i] is None and d.proc.poll() is not None:
                        raise RuntimeError(f"{d.name} exited {d.proc.returncode} before ready:\n{d.tail()}")
            time.sleep(0.05)
        if not all(readies):
            late = next(d for d, r in zip(daemons, readies, strict=True) if r is None)
            raise RuntimeError(f"{late.name} not ready within the timeout:\n{late.tail()}")
        ready = [r for r in readies if r is not None]
        ready_s = [r[0] for r in ready]
        rss_ready = [mem_bytes(d.proc.pid).get("VmRSS", 0) for d in daemons]
        _, _, _, model_version, backend, device = ready[0][1]
        res.update(model_version=model_version, backend=backend, device=device)
        res["ready_s"] = {"max": max(ready_s), "median": float(np.median(ready_s)), "min": min(ready_s)}
        urls = [r[1][2] for r in ready]
        sub = SubscriberThread([r[1][0] for r in ready])

        def scrape_all() -> Scrape:
            total = Scrape()
            for url in urls:
                total = total.add(scrape(url))
            return total

        def alive() -> None:
            for d in daemons:
                if d.proc.poll() is not None:
                    raise RuntimeError(f"{d.name} exited {d.proc.returncode} during the run:\n{d.tail()}")

        # every bed scoring
        deadline = time.monotonic() + args.connect_timeout_s + (2 * n if mode == "separate" else 0)
        scoring_s = None
        while time.monotonic() < deadline:
            alive()
            s = scrape_all()
            if all(s.windows.get(label, 0) >= 1 for label in labels):
                scoring_s = time.monotonic() - min(d.started for d in daemons)
                break
            time.sleep(0.5)
        res["all_beds_scoring_s"] = scoring_s
        if scoring_s is None:
            s = scrape_all()
            res["beds_not_scoring"] = [label for label in labels if s.windows.get(label, 0) < 1]
        rss_peak = 0
        end_warm = time.monotonic() + args.warmup_s
        while time.monotonic() < end_warm:
            alive()
            time.sleep(min(1.0, max(0.0, end_warm - time.monotonic())))
        # the measured interval
        pids = [d.proc.pid for d in daemons]
        a_mono, a_lsl = time.monotonic(), pylsl.local_clock()
        a_scrape = scrape_all()
        a_cpu = [proc_cpu_s(p) or 0.0 for p in pids]
        a_threads = [threads_cpu_s(p) for p in pids]
        a_outlet = proc_cpu_s(outlet.pid) or 0.0
        a_self = resource.getrusage(resource.RUSAGE_SELF)
        a_machine = machine_cpu_s()
        rss_a = sum(mem_bytes(p).get("VmRSS", 0) for p in pids)
        end = a_mono + args.duration_s
        while time.monotonic() < end:
            alive()
            rss_peak = max(rss_peak, sum(mem_bytes(p).get("VmRSS", 0) for p in pids))
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        b_cpu = [proc_cpu_s(p) or 0.0 for p in pids]
        b_threads = [threads_cpu_s(p) for p in pids]
        b_outlet = proc_cpu_s(outlet.pid) or 0.0
        b_self = resource.getrusage(resource.RUSAGE_SELF)
        b_machine = machine_cpu_s()
        mem_b = [mem_bytes(p) for p in pids]
        b_scrape = scrape_all()
        b_mono, b_lsl = time.monotonic(), pylsl.local_clock()
        alive()
        res["load_average_at_end"] = list(os.getloadavg())
    finally:
        if sub is not None:
            sub.close()
        codes = [d.stop() for d in daemons]
        outlet_stats = stop_outlet(outlet, stats_path)
    res["exit_codes_after_sigterm"] = sorted(set(codes), key=lambda c: (c is None, c or 0))
    res["outlet"] = outlet_stats
    wall = b_mono - a_mono
    cores = usable_cores()
    cpu_s = sum(b - a for a, b in zip(a_cpu, b_cpu, strict=True))
    by_name: dict[str, float] = {}
    for before, after in zip(a_threads, b_threads, strict=True):
        for tid, (name, t) in after.items():
            by_name[name] = by_name.get(name, 0.0) + t - before.get(tid, (name, 0.0))[1]
    delta = b_scrape.minus(a_scrape)
    windows = sum(delta.windows.values())
    due_per_bed = wall / HOP_S
    backlog = {}
    window_native = None
    if b_scrape.samples:
        from realtime.preprocess import Resampler

        window_native = Resampler(256.0, 250.0).native_samples_needed(1024)
        for label in labels:
            got = b_scrape.samples.get(label, 0.0)
            due_total = max(0, math.floor((got - window_native) / (HOP_S * 256.0)) + 1) if got else 0
            backlog[label] = due_total - b_scrape.windows.get(label, 0.0)
    lat = delta.latency_buckets
    within_100, le_100 = share_at_most(0.100, lat)
    within_hop, le_hop = share_at_most(HOP_S, lat)
    win = window_latencies(sub.received, a_lsl, b_lsl)
    topics: dict[str, int] = {}
    for t, topic, _ in sub.received:
        if a_lsl <= t <= b_lsl:
            topics[topic] = topics.get(topic, 0) + 1
    skipped = sum(delta.skipped.values())
    res.update(
        {
            "wall_s": wall,
            "cores": cores,
            "cpu_s": cpu_s,
            "cpu_share_of_cores": cpu_s / (wall * cores),
            "cores_used": cpu_s / wall,
            "cpu_s_by_thread_name": dict(sorted(by_name.items(), key=lambda kv: -kv[1])),
            "model_wall_s": delta.inference_sum,
            "model_wall_s_per_s": delta.inference_sum / wall,
            "model_calls": delta.inference_count,
            "windows_scored": windows,
            "windows_due_approx": n * due_per_bed,
            "windows_scored_per_bed": {
                "min": min(delta.windows.values(), default=0),
                "max": max(delta.windows.values(), default=0),
            },
            "bed_windows_per_model_call": windows / delta.inference_count if delta.inference_count else math.nan,
            "windows_skipped": skipped,
            "backlog_windows_at_end": {"max": max(backlog.values(), default=0), "total": sum(backlog.values())},
            "errors": {k: v for k, v in delta.errors.items() if v},
            "latency_daemon_s": {
                "count": delta.latency_count,
                "mean": delta.latency_sum / delta.latency_count if delta.latency_count else math.nan,
                "p50": histogram_quantile(0.50, lat),
                "p99": histogram_quantile(0.99, lat),
                f"share_at_most_{le_100:g}s": within_100,
                f"share_at_most_{le_hop:g}s": within_hop,
                "buckets": {("+Inf" if math.isinf(k) else f"{k:g}"): v for k, v in sorted(lat.items())},
            },
            "latency_subscriber_s": win,
            "messages_received": topics,
            "rss_mib": {
                "at_ready": sum(rss_ready) / MIB,
                "interval_start": rss_a / MIB,
                "interval_end": sum(m.get("VmRSS", 0) for m in mem_b) / MIB,
                "peak_sampled": rss_peak / MIB,
                "vmhwm_at_end": sum(m.get("VmHWM", 0) for m in mem_b) / MIB,
            },
            "outlet_cpu_share_of_cores": (b_outlet - a_outlet) / (wall * cores),
            "benchmark_cpu_share_of_cores": (b_self.ru_utime + b_self.ru_stime - a_self.ru_utime - a_self.ru_stime)
            / (wall * cores),
            # the machine over the interval: busy / idle / taken by the hypervisor (steal), shares of its CPU time
            "machine_cpu_shares": cpu_shares(a_machine, b_machine),
        }
    )
    # every window within the hop: at the subscriber, each window's message (the daemon's histogram when none came)
    all_within_hop = win["share_at_most_hop"] >= 1.0 if win["count"] else within_hop >= 1.0
    res["real_time"] = bool(
        skipped == 0
        and all_within_hop
        and win["lost"] == 0
        and scoring_s is not None
        and res["backlog_windows_at_end"]["max"] <= 1
    )
    return res


def window_latencies(received: list[tuple[float, str, dict]], a_lsl: float, b_lsl: float) -> dict[str, Any]:
    """Every ``status.window`` received in ``[a_lsl, b_lsl]`` (LSL receipt times): receipt - its ``window_end``
    (both on this machine's LSL clock), in seconds; and the messages lost on the way over the whole run, from
    gaps in each bed's ``windows_total`` (one per scored window of a bed and run)."""
    lat = []
    numbers: dict[tuple[str, str], list[int]] = {}
    for t, topic, m in received:
        if topic != "status.window":
            continue
        bed = str(m.get("bed") or m["stream"]["name"])  # a one-bed daemon's bed has no label: its stream's name
        numbers.setdefault((str(m.get("run")), bed), []).append(int(m["windows_total"]))
        if a_lsl <= t <= b_lsl:
            lat.append(t - float(m["window_end"]))
    x = np.array(lat) if lat else np.zeros(0)
    lost = sum(max(n) - min(n) + 1 - len(set(n)) for n in numbers.values())
    return {
        "what": "every status.window received in the interval: receipt LSL time - window_end (its newest sample)",
        "count": int(x.size),
        "p50": float(np.percentile(x, 50)) if x.size else None,
        "p99": float(np.percentile(x, 99)) if x.size else None,
        "max": float(x.max()) if x.size else None,
        "mean": float(x.mean()) if x.size else None,
        "share_at_most_0.1s": float((x <= 0.100).mean()) if x.size else math.nan,
        "share_at_most_hop": float((x <= HOP_S).mean()) if x.size else math.nan,
        "lost": int(lost),
        "beds_seen": len({bed for _, bed in numbers}),
    }


def build_toy(work: Path, env: dict[str, str]) -> tuple[str | None, str]:
    """The tests' toy export in ``work/toy`` (a subprocess: TensorFlow stays out of this one); ``(path, note)``."""
    out = work / "toy"
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        "from toy_export import make_toy_export; make_toy_export(Path(sys.argv[2]))"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(REPO / "tests"), str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        return None, "building the toy export took over 600 s"
    if proc.returncode != 0:
        return None, f"could not build the toy export (needs TensorFlow): {proc.stderr.strip()[-500:]}"
    return str(out), "tests/toy_export.py: p = sigmoid of the window's log standard deviation"


# ----------------------------------------------------------------------------- report
def fmt_ms(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{1000 * x:.0f}"


def row(r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"{r['beds']:>5} {r['mode']:<11} skipped: {r['skipped']}"
    if "error" in r:
        return f"{r['beds']:>5} {r['mode']:<11} FAILED: {r['error'].splitlines()[0]}"
    ld, ls = r["latency_daemon_s"], r["latency_subscriber_s"]
    return (
        f"{r['beds']:>5} {r['mode']:<11}{r['daemons']:>4}{r['ready_s']['max']:>8.1f}"
        f"{(r['all_beds_scoring_s'] or math.nan):>8.1f}{100 * r['cpu_share_of_cores']:>7.1f}"
        f"{r['model_wall_s_per_s']:>7.2f}{r['rss_mib']['vmhwm_at_end']:>8.0f}"
        f"{ls['count']:>8} {fmt_ms(ls['p50']):>5}/{fmt_ms(ls['p99']):<5}{fmt_ms(ls['max']):>5}"
        f"{100 * ls['share_at_most_0.1s']:>6.1f}{100 * ls['share_at_most_hop']:>6.1f}{ls['lost']:>5}"
        f" {fmt_ms(ld['p50']):>6}/{fmt_ms(ld['p99']):<5}{r['windows_skipped']:>5.0f}"
        f"{'yes' if r['real_time'] else 'NO':>4}"
        f"{100 * r.get('machine_cpu_shares', {}).get('steal', math.nan):>6.1f}"
    )


HEADER = (
    f"{'beds':>5} {'mode':<11}{'proc':>4}{'ready':>8}{'scoring':>8}{'CPU%':>7}{'model':>7}{'HWM MiB':>8}"
    f"{'windows':>8} {'p50/p99':>11}{'max':>5}{'<=.1s':>6}{'<=hop':>6}{'lost':>5}{'hist p50/p99':>13}{'skip':>5}"
    f"{'RT':>4}{'steal':>6}"
)
LEGEND = (
    "ready: s from start to the ready line (max over the daemons); scoring: s from start until every bed had "
    "scored a window; CPU%: the daemon process(es), of wall x usable cores; model: wall s in predict per s; HWM: "
    "VmHWM (summed over daemons); windows: status.window messages received in the interval, every window of every "
    "bed; p50/p99, max: their latency at the subscriber, receipt - window_end (newest sample), ms; <=.1s, <=hop: "
    "% of them within 0.1 s and the hop; lost: window messages missing at the subscriber (gaps in windows_total); "
    "hist: the daemon's end-to-end latency histogram, ms (interpolated in buckets); skip: windows skipped; RT: real "
    "time (nothing skipped or lost, every window within the hop); steal: % of the machine's CPU time the hypervisor "
    "took in the interval (a slow host, not a slow daemon)"
)


def targets(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets against the ``single`` runs (and ``model-free`` for the CPU beside the model)."""
    single = {r["beds"]: r for r in results if r["mode"] == "single" and "real_time" in r}
    free = {r["beds"]: r for r in results if r["mode"] == "model-free" and "cpu_share_of_cores" in r}
    ok_beds = sorted(n for n, r in single.items() if r["real_time"])
    failing = sorted(n for n, r in single.items() if not r["real_time"])
    kept = [n for n in ok_beds if not any(f < n for f in failing)]
    out: dict[str, Any] = {
        "capacity_beds_at_least": max(kept) if kept else 0,
        "first_bed_count_not_real_time": min(failing) if failing else None,
        "beds_target": TARGETS["beds"],
        # None: no count of the target or more was tried, and none below it failed
        "beds_met": True
        if kept and max(kept) >= TARGETS["beds"]
        else (False if any(f <= TARGETS["beds"] for f in failing) else None),
        "per_bed_count": {},
    }
    for n, r in sorted(single.items()):
        ls = r["latency_subscriber_s"]
        if ls["count"]:  # every window at the subscriber (status.window)
            p99, within, source = ls["p99"], ls["share_at_most_0.1s"], "subscriber, every window"
        else:  # no window message came: the daemon's histogram
            p99 = r["latency_daemon_s"]["p99"]
            # no window at all (a daemon that scored nothing): no bucket bound at 0.1 s, NaN
            within = next((v for k, v in r["latency_daemon_s"].items() if k.startswith("share_at_most_0.1")), math.nan)
            source = "daemon histogram (no status.window received)"
        rss_limit = TARGETS["rss_base_mib"] + TARGETS["rss_per_bed_mib"] * n
        entry = {
            "real_time": r["real_time"],
            "p99_latency_s": p99,
            "latency_from": source,
            "share_within_100ms": within,
            "p99_under_100ms": bool(within >= 0.99),
            "vmhwm_mib": r["rss_mib"]["vmhwm_at_end"],
            "rss_limit_mib": rss_limit,
            "rss_met": bool(r["rss_mib"]["vmhwm_at_end"] < rss_limit),
            "ready_s": r["ready_s"]["max"],
            "ready_met": bool(r["ready_s"]["max"] < TARGETS["ready_s"]),
        }
        if n in free:
            share = free[n]["cpu_share_of_cores"]
            entry.update(non_model_cpu_share=share, non_model_cpu_met=bool(share < TARGETS["non_model_cpu_share"]))
        else:
            entry.update(non_model_cpu_share=None, non_model_cpu_met=None)
        out["per_bed_count"][str(n)] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--beds", default="10,25,50", help="bed counts, comma-separated (default 10,25,50)")
    ap.add_argument("--duration-s", type=float, default=60.0, help="the measured interval of each run")
    ap.add_argument("--warmup-s", type=float, default=None, help="after every bed scores (default 10; --quick 3)")
    ap.add_argument("--backend", choices=MODEL_BACKENDS, default="auto")
    ap.add_argument("--device", choices=MODEL_DEVICES, default="auto")
    ap.add_argument("--threads", type=int, default=None, help="model.threads (default: the daemon's, 0 = every core)")
    ap.add_argument(
        "--precision",
        choices=MODEL_PRECISIONS,
        default=None,
        help="model.precision (default: the daemon's, float32; bfloat16 needs --backend tensorflow, openvino or auto)",
    )
    ap.add_argument("--batch-windows", type=int, default=None, help="model.batch_windows (default: the daemon's, 32)")
    ap.add_argument("--model", default="", help="export directory (default: the shipped model)")
    ap.add_argument(
        "--resample-filter",
        choices=RESAMPLE_FILTERS,
        default=None,
        help="signal.resample_filter (default: the daemon's, short): 'short' ends each window 28 ms nearer its "
        "newest sample at 256 Hz than 'training'",
    )
    ap.add_argument("--separate-max", type=int, default=10, help="one daemon per bed only up to this many beds")
    ap.add_argument("--chunk-s", type=float, default=1 / 32, help="signal seconds per chunk the outlets push")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ready-timeout-s", type=float, default=180.0)
    ap.add_argument("--connect-timeout-s", type=float, default=60.0, help="for every bed to score its first window")
    ap.add_argument("--quick", action="store_true", help="no model-free run, 3 s warm-up")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="directory for the JSON")
    ap.add_argument("--name", default="", help="result file name (default: capacity-<host>-<date>.json)")
    args = ap.parse_args(argv)
    try:
        counts = [int(b) for b in args.beds.split(",") if b.strip()]
    except ValueError:
        ap.error(f"--beds: comma-separated integers, got {args.beds!r}")
    if not counts or min(counts) < 1:
        ap.error(f"--beds: at least one count, each >= 1, got {args.beds!r}")
    if args.warmup_s is None:
        args.warmup_s = 3.0 if args.quick else 10.0
    for name in ("duration_s", "warmup_s", "chunk_s", "ready_timeout_s", "connect_timeout_s"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value >= 0) or (name in ("duration_s", "chunk_s") and value <= 0):
            ap.error(f"--{name.replace('_', '-')}: finite and > 0 (warm-up >= 0), got {value!r}")
    env = child_env()
    work = Path(tempfile.mkdtemp(prefix="realtime-capacity-"))
    model = str(Path(args.model).resolve()) if args.model else ""
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    result: dict[str, Any] = {
        "what": "beds of 23 channels at 256 Hz (CHB-MIT over LSL) one daemon keeps in real time, against one "
        "daemon per bed; CPU, memory, ready time, latency",
        "command": " ".join(["python", "benchmarks/capacity.py", *argv]),
        "created": created,
        "host": {
            "node": platform.node(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus_usable": usable_cores(),
            "mem_available_mib_at_start": (available_memory_bytes() or 0) / MIB,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "liblsl": pylsl.library_version(),
            "zmq": zmq.zmq_version(),
            "load_average_at_start": list(os.getloadavg()),
            "niceness": os.nice(0),
            "note": "on a shared machine every share of CPU is what this run got beside the other load",
        },
        "settings": {
            "hop_s": HOP_S,
            "channels": N_CH,
            "sfreq_hz": 256.0,
            "recordings": [str(p.relative_to(REPO)) for p in RECORDINGS],
            "chunk_s": args.chunk_s,
            "duration_s": args.duration_s,
            "warmup_s": args.warmup_s,
            "backend": args.backend,
            "device": args.device,
            "threads": args.threads,
            "precision": args.precision or "float32",
            "batch_windows": args.batch_windows,
            "model": model or "shipped (realtime/models/default)",
            "lsl_config": os.environ["LSLAPICFG"],
            "per_window_message": "alerts.publish_windows = true: a status.window per bed per scored window (no seq, "
            "not logged); the subscriber's latency is every window's, receipt - window_end",
        },
        "targets": TARGETS,
        "work_dir": str(work),
        "runs": [],
    }
    toy: str | None = None
    if args.quick:
        toy_note = "--quick: no model-free run"
    else:
        print("building the toy export for the model-free runs ...", file=sys.stderr, flush=True)
        toy, toy_note = build_toy(work, env)
    result["settings"]["model_free"] = toy_note
    runs: list[dict[str, Any]] = result["runs"]
    if os.nice(0) > 0:
        print(
            f"note: this process runs at nice {os.nice(0)} and its daemons inherit it: beside other load they get "
            "less CPU than a service would; for capacity numbers run it un-niced on an otherwise idle machine",
            file=sys.stderr,
        )
    print(HEADER)
    print("-" * len(HEADER), flush=True)
    rss_single: dict[int, float] = {}
    for n in counts:
        plan = ["single", "model-free", "separate"]
        for mode in plan:
            r: dict[str, Any]
            if mode == "model-free" and toy is None:
                r = {"mode": mode, "beds": n, "skipped": toy_note}
            elif mode == "separate" and n > args.separate_max:
                r = {"mode": mode, "beds": n, "skipped": f"{n} beds > --separate-max {args.separate_max}"}
            elif (
                mode == "separate"
                and n in rss_single
                and (avail := available_memory_bytes()) is not None
                and (n * rss_single[n] > 0.8 * avail)
            ):
                r = {
                    "mode": mode,
                    "beds": n,
                    "skipped": f"{n} daemons x {rss_single[n] / MIB:.0f} MiB (one daemon at ready) > 80 % of "
                    f"the {avail / MIB:.0f} MiB available",
                }
            else:
                print(f"  ... {n} beds, {mode}", file=sys.stderr, flush=True)
                export = model
                if mode == "model-free":
                    assert toy is not None  # skipped above otherwise
                    export = toy
                try:
                    r = run_one(args, mode, n, work, export, env)
                except (RuntimeError, OSError, ValueError) as exc:
                    r = {"mode": mode, "beds": n, "error": str(exc)}
                if mode == "single" and "rss_mib" in r:
                    rss_single[n] = r["rss_mib"]["at_ready"] * MIB
            runs.append(r)
            print(row(r), flush=True)
            if "outlet" in r and isinstance(r["outlet"], dict) and "push_lateness_s" in r["outlet"]:
                lat = r["outlet"]["push_lateness_s"]
                print(
                    f"{'':>17}outlet: {100 * r['outlet_cpu_share_of_cores']:.1f} % of cores, pushed late by p50 "
                    f"{fmt_ms(lat['p50'])} / p99 {fmt_ms(lat['p99'])} / max {fmt_ms(lat['max'])} ms; load "
                    f"{', '.join(f'{x:.1f}' for x in r['load_average_at_end'])}",
                    flush=True,
                )
    print(LEGEND)
    result["targets_check"] = t = targets(runs)
    result["host"]["load_average_at_end"] = list(os.getloadavg())
    print(
        f"\ncapacity (single daemon, real time at every smaller count tried): at least {t['capacity_beds_at_least']} "
        f"beds; first count not in real time: {t['first_bed_count_not_real_time']}; target {TARGETS['beds']}: "
        f"{ {True: 'met', False: 'NOT met', None: 'not tried'}[t['beds_met']] }"
    )
    for n, e in t["per_bed_count"].items():
        free = (
            "not measured"
            if e["non_model_cpu_share"] is None
            else f"{100 * e['non_model_cpu_share']:.1f} % ({'met' if e['non_model_cpu_met'] else 'NOT met'})"
        )
        print(
            f"  {n} beds: p99 {fmt_ms(e['p99_latency_s'])} ms, {100 * e['share_within_100ms']:.1f} % within 100 ms "
            f"({e['latency_from']}; {'met' if e['p99_under_100ms'] else 'NOT met'}); beside the model {free}; VmHWM "
            f"{e['vmhwm_mib']:.0f} MiB, limit {e['rss_limit_mib']} MiB ({'met' if e['rss_met'] else 'NOT met'}); ready "
            f"{e['ready_s']:.1f} s ({'met' if e['ready_met'] else 'NOT met'})"
        )
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (args.name or f"capacity-{platform.node()}-{created[:10]}.json")
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"wrote {path}; configs, daemon logs, alert logs and outlet statistics in {work}")
    return 0 if not any("error" in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
