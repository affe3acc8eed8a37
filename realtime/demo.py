"""``realtime-demo``: the whole chain on this machine, in about a minute, stopping by itself.

1. LSL is kept on this machine (``LSLAPICFG`` = the packaged ``realtime/data/lsl_api.cfg`` unless
   already set);
2. the daemon (``realtime-detect``) starts with the shipped model (or ``--model``) on free loopback
   ports and waits for a stream with a unique name;
3. ``realtime-replay`` plays the shipped CHB-MIT seizure excerpt (ODC-By; attribution printed)
   under that name, in real time;
4. the alerts are printed as they arrive (a ZeroMQ subscriber, replaying from seq 0 so none is
   missed while it connects);
5. after the recording ends and the daemon reports the stream lost, everything is stopped.

Exit 0 if a ``seizure.onset`` was seen, 1 if not, 69 if the daemon could not start (e.g. no model).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from realtime import __version__
from realtime.config import MODEL_BACKENDS

PACKAGE = Path(__file__).resolve().parent
DATA = PACKAGE / "data"
DEFAULT_RECORDING = DATA / "chbmit" / "chb01_03_Seizure.edf"
ATTRIBUTION = DATA / "chbmit" / "ATTRIBUTION.md"
SEIZURE_START_IN_EXCERPT_S = 1.0  # chb01_03 seizure at 2996 s; the excerpt starts at 2995 s

_READY = re.compile(r"ready: alerts=(\S+) replay=(\S+) metrics=(\S+) model=(\S+) backend=(\S+) device=(\S+)")
_LSL_START = re.compile(r"first sample at lsl_time=([0-9.]+)")


def lsl_config_path() -> Path:
    packaged = DATA / "lsl_api.cfg"
    return packaged if packaged.is_file() else PACKAGE.parent / "config" / "lsl_api.cfg"


class Child:
    """A subprocess whose stderr is collected by a thread (and echoed with --verbose)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], verbose: bool):
        self.name = name
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        self._verbose = verbose
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None  # stderr=PIPE
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if self._verbose:
                print(f"  [{self.name}] {line.rstrip()}", file=sys.stderr, flush=True)

    def find(self, pattern: re.Pattern) -> re.Match | None:
        for line in list(self.lines):
            m = pattern.search(line)
            if m:
                return m
        return None

    def stop(self, timeout_s: float = 15.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._thread.join(timeout=2)
        return self.proc.returncode

    def tail(self, n: int = 15) -> str:
        keep = [ln for ln in self.lines if not ln.startswith(("I0000", "W0000", "E0000", "WARNING: All log"))]
        return "\n".join(f"  {ln}" for ln in keep[-n:])


def describe(msg: dict, lsl_start: float | None, speed: float = 1.0) -> str:
    """One line per message; times in seconds of the recording (LSL time since its first sample x speed)."""
    t = msg.get("time", 0.0)
    rel = f"{(t - lsl_start) * speed:6.1f} s" if lsl_start is not None else "  start "
    kind = msg["type"]
    if kind == "seizure.onset":
        chans = ", ".join(msg["channels"][:6]) + (" ..." if len(msg["channels"]) > 6 else "")
        pub = (
            f"  (published at {(msg.get('publish_time', t) - lsl_start) * speed:.1f} s)"
            if lsl_start is not None
            else ""
        )
        line = f"[{rel}] SEIZURE ONSET  event {msg['event_id']}  p={msg['probability']:.2f}  channels: {chans}{pub}"
        if msg.get("background_unknown"):
            line += (
                f" (before the background of {len(msg['background_unknown'])} of them was known: a seizure, or a "
                "large background)"
            )
        return line
    if kind == "seizure.offset":
        if msg.get("reason") == "restart":
            return (
                f"[{rel}] seizure event {msg['event_id']} closed at start: the previous run ended with it open "
                f"(seen open for {msg['duration_s']:.1f} s)"
            )
        line = f"[{rel}] seizure offset event {msg['event_id']} after {msg['duration_s']:.1f} s"
        if msg.get("background_learned"):
            line += (
                f" (the background of {len(msg['background_learned'])} channel(s) was learned during it: "
                "a seizure under way at connection may go on)"
            )
        return line
    if kind == "seizure.prolonged":
        return (
            f"[{rel}] SEIZURE PROLONGED  event {msg['event_id']} open for {msg['duration_s']:.0f} s "
            f"(status epilepticus?)  p={msg['probability']:.2f}"
        )
    if kind == "seizure.reannounce":
        return (
            f"[{rel}] SEIZURE STILL OPEN  event {msg['event_id']} not acknowledged (reminder {msg['count']}, "
            f"p={msg['probability']:.2f})"
        )
    if kind == "seizure.ack":
        note = f": {msg['note']}" if msg.get("note") else ""
        return f"[{rel}] seizure event {msg['event_id']} acknowledged by {msg['by']}{note}"
    if kind == "status.signal":
        return f"[{rel}] signal {msg['state']}: {msg['detail']}"
    if kind == "status.heartbeat":
        alarm = "ON" if msg["alarm_active"] else "off"
        if msg["alarm_active"] and msg.get("alarm_acknowledged"):
            alarm += " (acknowledged)"
        return (
            f"[{rel}] heartbeat: {msg['state']}, alarm {alarm}, "
            f"{msg['windows_total']} windows{' (final)' if msg.get('final') else ''}"
        )
    if kind == "status.window":
        p, raw = msg["probability"], msg["raw_probability"]
        prob = "p=-" if p is None else f"p={p:.2f}" + ("" if raw is None else f" (raw {raw:.2f})")
        return (
            f"[{rel}] window #{msg['windows_total']}: {prob}, {msg['channels_scored']} channels scored, "
            f"alarm {'ON' if msg['alarm_active'] else 'off'}"
        )
    return f"[{rel}] {kind} message (seq {msg.get('seq')})"  # a topic this demo does not know yet


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="realtime-demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    ap.add_argument("--model", default=None, help="model export (default: the shipped realtime/models/default)")
    ap.add_argument("--backend", choices=MODEL_BACKENDS, default=None)
    ap.add_argument("--file", default=str(DEFAULT_RECORDING), help="recording to replay (default: the seizure excerpt)")
    ap.add_argument("--speed", type=float, default=1.0, help="replay speed (default 1: real time)")
    ap.add_argument("--hop-s", type=float, default=1.0)
    ap.add_argument("--verbose", action="store_true", help="echo the daemon's and the replay's logs")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (math.isfinite(args.speed) and args.speed > 0):
        print(f"realtime-demo: --speed must be a finite number > 0, got {args.speed!r}", file=sys.stderr)
        return 2
    if not Path(args.file).is_file():  # else the detector would wait a minute for a replay that never starts
        print(f"realtime-demo: --file {args.file!r} is not a recording file", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.setdefault("LSLAPICFG", str(lsl_config_path()))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    root = str(PACKAGE.parent)  # so `python -m realtime` works from a checkout as well as installed
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    os.environ["LSLAPICFG"] = env["LSLAPICFG"]

    recording = Path(args.file)
    if recording.resolve() == DEFAULT_RECORDING.resolve() and ATTRIBUTION.is_file():
        print("Recording: CHB-MIT Scalp EEG Database, record chb01_03, 2995-3036 s (seizure from 2996 s).")
        print("Licence: Open Data Commons Attribution License v1.0 (ODC-By). Shoeb AH, PhD thesis, MIT, 2009;")
        print("Goldberger AL et al., PhysioBank, PhysioToolkit, and PhysioNet, Circulation 101(23):e215-e220, 2000.")
        print(f"(full attribution: {ATTRIBUTION})\n")
    name = f"demo-{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="realtime-demo-"))
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
        str(workdir / "alerts.jsonl"),
        "--hop-s",
        str(args.hop_s),
    ]
    if args.model:
        detect += ["--model", args.model]
    if args.backend:
        detect += ["--backend", args.backend]
    replay = [
        sys.executable,
        "-m",
        "realtime",
        "replay",
        str(recording),
        "--name",
        name,
        "--speed",
        str(args.speed),
        "--wait-for-consumer-s",
        "30",
    ]

    from realtime.alerts import Subscriber

    daemon = Child("daemon", detect, env, args.verbose)
    player = None
    sub = None
    onsets: list[dict] = []
    final: dict | None = None
    lsl_start = None
    interrupted = [False]

    def on_signal(signum, frame):
        interrupted[0] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"Starting the detector (model: {args.model or 'shipped default'}) ...", flush=True)
        deadline = time.monotonic() + 120
        ready = None
        while ready is None and daemon.proc.poll() is None and time.monotonic() < deadline and not interrupted[0]:
            time.sleep(0.1)
            ready = daemon.find(_READY)
        if ready is None:
            code = daemon.stop()
            print(f"realtime-demo: the detector did not start (exit {code}):\n{daemon.tail()}", file=sys.stderr)
            if code == 69 and not args.model:
                print(
                    "realtime-demo: is the shipped model in realtime/models/default? Or pass --model EXPORT.",
                    file=sys.stderr,
                )
            return 69 if code in (None, 0, 69) else int(code)
        alerts_ep, replay_ep, metrics_url, model_version, backend, device = ready.groups()
        print(
            f"Detector ready: model {model_version} ({backend} on {device}); alerts on {alerts_ep}, "
            f"replay on {replay_ep}, metrics on {metrics_url}"
        )
        sub = Subscriber(
            alerts_ep, replay_ep, since=0, warn=lambda text: print(f"  (subscriber: {text})", file=sys.stderr)
        )
        print(f"Replaying {recording.name} as LSL stream {name!r} at speed {args.speed:g} ...\n", flush=True)
        player = Child("replay", replay, env, args.verbose)
        ended_at = None
        lost_seen = False
        while not interrupted[0]:
            if lsl_start is None:
                m = player.find(_LSL_START)
                lsl_start = float(m.group(1)) if m else None
            msg = sub.receive(0.2)
            if msg is not None:
                print("  " + describe(msg, lsl_start, args.speed), flush=True)
                if msg["type"] == "seizure.onset":
                    onsets.append(msg)
                if msg["type"] == "status.signal" and msg["state"] == "lost":
                    lost_seen = True  # the recording ended (or the replay died): nothing more will come
            if daemon.proc.poll() is not None:
                print(
                    f"realtime-demo: the detector exited early ({daemon.proc.returncode}):\n{daemon.tail()}",
                    file=sys.stderr,
                )
                break
            if ended_at is None and player.proc.poll() is not None:
                ended_at = time.monotonic()
            if ended_at is not None and (lost_seen or time.monotonic() - ended_at > 8):
                break
        code = daemon.stop()
        while True:  # the final heartbeat (and anything else still in flight)
            msg = sub.receive(0.5)
            if msg is None:
                break
            print("  " + describe(msg, lsl_start, args.speed), flush=True)
            if msg["type"] == "seizure.onset":
                onsets.append(msg)
            if msg["type"] == "status.heartbeat" and msg.get("final"):
                final = msg
    finally:
        if player is not None:
            player.stop()
        daemon.stop()
        if sub is not None:
            sub.close()
    windows = final["windows_total"] if final else "an unknown number of"
    model_version = (onsets[0] if onsets else final or {}).get("model_version", "the model")
    if onsets:
        first = onsets[0]
        when = (
            f"{(first['time'] - lsl_start) * args.speed:.1f} s into the recording (the annotated seizure "
            f"starts at {SEIZURE_START_IN_EXCERPT_S:.0f} s; published at "
            f"{(first['publish_time'] - lsl_start) * args.speed:.1f} s)"
            if lsl_start is not None
            else f"at LSL time {first['time']:.1f}"
        )
        summary = (
            f"Summary: {model_version} scored {windows} windows of {recording.name} streamed over LSL "
            f"and raised {len(onsets)} seizure onset(s); the first at {when}, on channels "
            f"{', '.join(first['channels'][:5])}{' ...' if len(first['channels']) > 5 else ''} with "
            f"probability {first['probability']:.2f}. The detector stopped cleanly (exit {code}); the "
            f"alert log is {workdir / 'alerts.jsonl'}."
        )
    else:
        summary = (
            f"Summary: {model_version} scored {windows} windows of {recording.name} and raised no seizure "
            f"onset (detector exit {code}). Alert log: {workdir / 'alerts.jsonl'}."
        )
    print("\n" + summary, flush=True)
    if interrupted[0]:
        return 130
    return 0 if onsets else 1


if __name__ == "__main__":
    sys.exit(main())
