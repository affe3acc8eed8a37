"""Soak benchmark of the daemon (not a test): memory and continuity while the cable is yanked again and again.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/soak_daemon.py [--minutes 10] [--yank-every-s 40]
        [--gap-s 5] [--model EXPORT] [--backend tensorflow|litert|openvino] [--out benchmarks/results/NAME.json]

The daemon (``python -m realtime detect``, the shipped model unless ``--model``) runs as a real process
on loopback ports; ``python -m realtime replay --loop`` plays the shipped CHB-MIT seizure excerpt
(23 channels, 256 Hz, real time) as its LSL stream, and is killed with SIGKILL every
``--yank-every-s`` seconds (a yanked cable) and restarted under the same name after ``--gap-s``. LSL
stays on this machine (the packaged lsl_api.cfg). Every second the daemon's resident memory
(``VmRSS`` in /proc) is sampled and its metrics endpoint scraped; every alert is received over
ZeroMQ (from seq 0, gaps filled from the replay socket); at the end the daemon gets SIGTERM and its
alert log is read back.

Reported (table, and JSON under benchmarks/results/): resident memory after the first window, at
the end and at its peak, and its growth (least-squares slope over the second half, MiB per hour);
windows scored against those expected (one per 1-s hop of the signal received, counted by the
daemon's samples metric, less the first window's fill after each connection: the window plus the
resampler's margin); reconnects against yanks;
seizure onsets and offsets (an event open when the stream is lost stays open: no alarm is cleared
by a fallen cable); whether the sequence numbers of the alert log and of the messages received are
gap-free and equal; the exit code after SIGTERM. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from benchmarks.procfs import mem_bytes  # noqa: E402
from realtime.config import MODEL_BACKENDS  # noqa: E402
from realtime.demo import _READY, DEFAULT_RECORDING, Child, lsl_config_path  # noqa: E402

MIB = 1024 * 1024


def scrape(url: str) -> dict[str, float]:
    """``{metric sample name (labels dropped, summed): value}`` from a Prometheus text endpoint."""
    out: dict[str, float] = {}
    with urllib.request.urlopen(url, timeout=2) as resp:
        text = resp.read().decode()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name] = out.get(s.name, 0.0) + float(s.value)
    return out


def gap_free(seqs: list[int]) -> bool:
    return bool(seqs) and seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--yank-every-s", type=float, default=40.0)
    ap.add_argument("--gap-s", type=float, default=5.0)
    ap.add_argument("--model", default=None)
    ap.add_argument("--backend", choices=MODEL_BACKENDS[1:], default="tensorflow")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if not (args.minutes > 0 and args.yank_every_s > 0 and args.gap_s >= 0):
        ap.error(
            f"--minutes and --yank-every-s must be > 0 and --gap-s >= 0, got {args.minutes!r}, "
            f"{args.yank_every_s!r}, {args.gap_s!r}"
        )
    env = dict(os.environ, LSLAPICFG=str(lsl_config_path()), TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    os.environ["LSLAPICFG"] = env["LSLAPICFG"]
    from realtime.alerts import Subscriber

    name = f"soak-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="realtime-soak-"))
    log_path = work / "alerts.jsonl"
    detect = [
        sys.executable,
        "-m",
        "realtime",
        "detect",
        "--stream",
        name,
        "--endpoint",
        "tcp://127.0.0.1:*",
        "--replay-endpoint",
        "tcp://127.0.0.1:0",
        "--metrics-port",
        "0",
        "--alert-log",
        str(log_path),
        "--backend",
        args.backend,
    ] + (["--model", args.model] if args.model else [])
    replay = [sys.executable, "-m", "realtime", "replay", str(DEFAULT_RECORDING), "--name", name, "--loop"]

    daemon = Child("daemon", detect, env, verbose=False)
    player = sub = None
    samples: list[tuple[float, int]] = []  # (seconds since the first window, RSS bytes)
    received: list[dict] = []
    yanks = 0
    try:
        deadline = time.monotonic() + 180
        ready = None
        while ready is None and daemon.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            ready = daemon.find(_READY)
        if ready is None:
            print(f"the daemon did not start (exit {daemon.stop()}):\n{daemon.tail()}", file=sys.stderr)
            return 69
        alerts_ep, replay_ep, metrics_url, model_version, backend, device = ready.groups()
        sub = Subscriber(alerts_ep, replay_ep, since=0, warn=lambda text: None)
        player = Child("replay", replay, env, verbose=False)
        t_first = None
        next_yank = time.monotonic() + args.yank_every_s
        end = time.monotonic() + 60 * args.minutes
        next_sample = time.monotonic()
        metrics: dict[str, float] = {}
        while time.monotonic() < end and daemon.proc.poll() is None:
            msg = sub.receive(0.1)
            if msg is not None:
                received.append(msg)
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + 1.0
                metrics = scrape(metrics_url)
                if t_first is None and metrics.get("realtime_detect_windows_processed_total", 0) > 0:
                    t_first = now
                rss = mem_bytes(daemon.proc.pid).get("VmRSS")
                if t_first is not None and rss is not None:
                    samples.append((now - t_first, rss))
            if player is not None and now >= next_yank:
                player.proc.send_signal(signal.SIGKILL)  # the cable: no goodbye, no flush
                player.proc.wait(timeout=10)
                yanks += 1
                time.sleep(args.gap_s)
                player = Child("replay", replay, env, verbose=False)
                next_yank = time.monotonic() + args.yank_every_s
        if player is not None:
            player.stop()
        code = daemon.stop(timeout_s=30)
        while (msg := sub.receive(1.0)) is not None:
            received.append(msg)
    finally:
        if player is not None:
            player.stop()
        daemon.stop()
        if sub is not None:
            sub.close()

    logged = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    log_seqs, wire_seqs = [m["seq"] for m in logged], [m["seq"] for m in received]
    t = np.array([s[0] for s in samples])
    rss_mib = np.array([s[1] for s in samples], dtype=np.float64) / MIB
    half = t >= t[-1] / 2 if t.size else t.astype(bool)
    slope = float(np.polyfit(t[half] / 3600, rss_mib[half], 1)[0]) if half.sum() >= 10 else float("nan")
    windows = metrics.get("realtime_detect_windows_processed_total", 0.0)
    reconnects = sum(m["type"] == "status.signal" and m["state"] == "restored" for m in logged)
    from realtime.model import read_card
    from realtime.preprocess import Resampler
    from realtime.recordings import read_recording

    card = read_card(Path(args.model) if args.model else REPO / "realtime" / "models" / "default")
    fs = read_recording(DEFAULT_RECORDING).sfreq
    fill_s = Resampler(fs, float(card["sample_rate_hz"])).native_samples_needed(int(card["window_samples"])) / fs
    received_s = metrics.get("realtime_detect_samples_received_total", 0.0) / fs
    expected = max(0.0, received_s - (reconnects + 1) * (fill_s - 1.0))  # a window per hop once full
    res = {
        "what": "daemon soak: RSS and continuity with the stream killed (SIGKILL) and restarted repeatedly",
        "command": " ".join([Path(sys.executable).name, "benchmarks/soak_daemon.py", *(argv or sys.argv[1:])]),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "model_version": model_version,
        "backend": backend,
        "device": device,
        "minutes": args.minutes,
        "yank_every_s": args.yank_every_s,
        "gap_s": args.gap_s,
        "rss_mib_after_first_window": float(rss_mib[0]) if rss_mib.size else None,
        "rss_mib_end": float(rss_mib[-1]) if rss_mib.size else None,
        "rss_mib_peak": float(rss_mib.max()) if rss_mib.size else None,
        "rss_growth_mib_per_hour_second_half": slope,
        "yanks": yanks,
        "reconnects": reconnects,
        "windows_scored": windows,
        "signal_received_s": received_s,
        "window_fill_s": fill_s,
        "windows_expected": expected,
        "windows_scored_per_expected": windows / expected if expected else None,
        "seizure_onsets": sum(m["type"] == "seizure.onset" for m in logged),
        "seizure_offsets": sum(m["type"] == "seizure.offset" for m in logged),
        "alert_log_messages": len(logged),
        "received_messages": len(received),
        "alert_log_gap_free": gap_free(log_seqs),
        "received_equal_to_log": wire_seqs == log_seqs,
        "daemon_exit_code_after_sigterm": code,
    }
    rows = [
        ("model / backend / device", f"{model_version} / {backend} / {device}"),
        ("duration, yanks (every, gap)", f"{args.minutes:g} min, {yanks} ({args.yank_every_s:g} s, {args.gap_s:g} s)"),
        (
            "RSS after 1st window / end / peak",
            f"{res['rss_mib_after_first_window']:.0f} / {res['rss_mib_end']:.0f} / {res['rss_mib_peak']:.0f} MiB",
        ),
        ("RSS growth, second half", f"{slope:+.1f} MiB/h"),
        ("reconnects / yanks", f"{res['reconnects']} / {yanks}"),
        (
            "windows scored / expected",
            f"{windows:.0f} / {expected:.0f} = {res['windows_scored_per_expected'] or 0:.3f} "
            f"({received_s:.0f} s of signal, {fill_s:.2f} s fill per connection)",
        ),
        ("seizure onsets / offsets", f"{res['seizure_onsets']} / {res['seizure_offsets']}"),
        ("alert log: messages, gap-free", f"{len(logged)}, {res['alert_log_gap_free']}"),
        ("received over ZeroMQ == log", f"{len(received)}, {res['received_equal_to_log']}"),
        ("exit code after SIGTERM", f"{code}"),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    out = Path(args.out or REPO / "benchmarks" / "results" / f"soak-{platform.node()}-{_dt.date.today()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**res, "rss_samples": [[round(a, 1), round(b / MIB, 1)] for a, b in samples]}, indent=1))
    print(f"wrote {out}")
    ok = res["alert_log_gap_free"] and res["received_equal_to_log"] and code == 0 and reconnects == yanks
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
