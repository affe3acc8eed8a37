"""Command lines: ``realtime-detect`` (the daemon, or ``--file`` offline scoring) and ``realtime-alerts``.

Exit codes of ``realtime-detect``: 0 clean stop, 2 usage error, 69 model (or socket) unavailable,
70 unexpected crash, 78 invalid configuration (every error listed on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from realtime import __version__
from realtime.config import (
    CARRY_CHOICES,
    MODEL_BACKENDS,
    MODEL_DEVICES,
    MODEL_PRECISIONS,
    MONTAGES,
    RESAMPLE_FILTERS,
)
from realtime.daemon import EX_CONFIG, EX_OK, EX_SOFTWARE, configure_logging

log = logging.getLogger("realtime.cli")

# CLI flag -> dotted config key (flags left unset do not override the file)
MAX_TIMEOUT_S = 86400.0  # realtime-alerts --timeout-s: a day (ZeroMQ's receive timeout is an int of milliseconds)
OVERRIDES = {
    "stream": "stream.name",
    "type": "stream.type",
    "source_id": "stream.source_id",
    "patient": "stream.patient",
    "include": "stream.include",
    "exclude": "stream.exclude",
    "montage": "signal.montage",
    "background_limit_uv": "signal.background_limit_uv",
    "background_delta_limit_uv": "signal.background_delta_limit_uv",
    "resample_filter": "signal.resample_filter",
    "model": "model.path",
    "backend": "model.backend",
    "device": "model.device",
    "model_precision": "model.precision",
    "endpoint": "alerts.endpoint",
    "replay_endpoint": "alerts.replay_endpoint",
    "alert_log": "alerts.log_path",
    "metrics_port": "metrics.port",
    "publish_windows": "alerts.publish_windows",
    "hop_s": "window.hop_s",
    "log_level": "logging.level",
}


class LazyVersion(argparse.Action):
    """``--version`` whose text is made only when asked (``text``: a function), then printed; exit 0."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, *, text, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)
        self.text = text

    def __call__(self, parser, namespace, values, option_string=None):
        print(self.text())  # stdout, as argparse's own "version" action
        parser.exit()


def detect_version() -> str:
    """``realtime-detect 0.1.0 (shipped model inception-...)``: the package and the shipped model's card,
    read without loading a backend."""
    from realtime.model import shipped_model_version

    model = shipped_model_version()
    return f"realtime-detect {__version__}" + (f" (shipped model {model})" if model else " (no shipped model)")


def build_detect_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="realtime-detect",
        description="Real-time EEG seizure detection on an LSL stream; alerts over ZeroMQ, metrics for Prometheus. "
        "With --file, score recordings offline instead.",
    )
    ap.add_argument("--config", metavar="PATH", help="TOML config file (default: built-in defaults)")
    ap.add_argument(
        "--version", action=LazyVersion, text=detect_version, help="print the version and the shipped model's; exit"
    )
    g = ap.add_argument_group("stream (live)")
    g.add_argument(
        "--stream",
        action="append",
        metavar="NAME",
        help="LSL stream name (stream.name); repeated: one bed per stream, each labelled by its name (beds)",
    )
    g.add_argument(
        "--type",
        metavar="TYPE",
        help="LSL stream type, compared without case (stream.type); without --stream and --source-id: every "
        "stream of this type becomes a bed, keyed by source id (discover.type)",
    )
    g.add_argument("--source-id", metavar="ID", help="LSL source id (stream.source_id)")
    g.add_argument(
        "--patient",
        metavar="ID",
        help="who is in the bed, a token of this admission (stream.patient; never logged or published): its background "
        "levels are kept for up to a day across a lost stream or a restart, and forgotten when it changes",
    )
    g = ap.add_argument_group("channels (live and --file)")
    g.add_argument(
        "--include",
        action="append",
        metavar="PATTERN",
        help="score only EEG channels whose label matches this glob, any case (repeatable; stream.include)",
    )
    g.add_argument(
        "--exclude",
        action="append",
        metavar="PATTERN",
        help="never score channels whose label matches this glob, any case, e.g. 'DC*' (repeatable; stream.exclude)",
    )
    g.add_argument(
        "--montage",
        choices=MONTAGES,
        help=(
            "re-reference the EEG before scoring (signal.montage; default: the model card's, else "
            "average_hemispheres: the common average and each hemisphere's mean as channels for the whole bed; "
            "average: misses most seizures common to every electrode; average_common: the average and its mean, "
            "misses half-sided seizures; as_recorded: alarms on a large common slow background)"
        ),
    )
    g.add_argument(
        "--background-limit-uv",
        type=float,
        metavar="UV",
        help="scale a channel whose background over minutes is above UV down to it before the model; 0 turns it "
        "off (signal.background_limit_uv; default: the model card's, else 50)",
    )
    g.add_argument(
        "--background-delta-limit-uv",
        type=float,
        metavar="UV",
        help="with background scaling on, scale a channel whose 1.5-4 Hz background over minutes is above UV down "
        "to it too; 0 turns it off (signal.background_delta_limit_uv; default: the model card's, else 0)",
    )
    g.add_argument(
        "--resample-filter",
        choices=RESAMPLE_FILTERS,
        help="the resampler's filter: 'short' (flat to 40 Hz; each window ends 12 ms before the newest sample at 256 "
        "Hz) or 'training' (resample_poly's, as the training records were resampled: 40 ms) (signal.resample_filter; "
        "default: the model card's, else short)",
    )
    g = ap.add_argument_group("model")
    g.add_argument("--model", metavar="PATH", help="model export directory (model.path; default: the shipped model)")
    g.add_argument(
        "--backend",
        choices=MODEL_BACKENDS,
        help="inference backend (model.backend; auto: LiteRT on the CPU, TensorFlow where a GPU is present)",
    )
    g.add_argument("--device", choices=MODEL_DEVICES, help="inference device (model.device)")
    g.add_argument(
        "--model-precision",
        choices=MODEL_PRECISIONS,
        help="the network's arithmetic (model.precision): bfloat16 runs the export's saved_model_bfloat16 on "
        "TensorFlow, or its model.tflite on OpenVINO (--backend openvino), about 2x faster on a CPU with AMX, "
        "p(seizure) within about 0.007 of float32",
    )
    g = ap.add_argument_group("outputs")
    g.add_argument("--endpoint", metavar="ZMQ", help="ZeroMQ PUB bind address (alerts.endpoint)")
    g.add_argument("--replay-endpoint", metavar="ZMQ", help="ZeroMQ REP replay bind address, '' = off")
    g.add_argument("--alert-log", metavar="PATH", help="append-only JSONL alert log (alerts.log_path)")
    g.add_argument("--metrics-port", type=int, metavar="N", help="Prometheus port on metrics.host; 0 = any free port")
    g.add_argument(
        "--publish-windows",
        action="store_true",
        default=None,
        help="publish a status.window message per bed per scored window (alerts.publish_windows; not logged, no seq)",
    )
    g = ap.add_argument_group("run")
    g.add_argument("--hop-s", type=float, metavar="S", help="score a window every S seconds of signal (window.hop_s)")
    g.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="logging.level")
    g.add_argument("--duration-s", type=float, metavar="S", help="stop by itself after S seconds (demos, tests)")
    g = ap.add_argument_group("offline")
    g.add_argument(
        "--file",
        nargs="+",
        metavar="REC",
        help="score EDF/BDF/NPZ recordings (or the folders holding them) offline, as fast as possible",
    )
    g.add_argument("--json", action="store_true", help="with --file: one JSON line per event (the only output format)")
    g.add_argument("--windows", action="store_true", help="with --file: also one JSON line per scored window")
    g.add_argument(
        "--carry",
        choices=CARRY_CHOICES,
        default=None,
        help="with --file: which files start from an earlier file's background levels: 'patient' (default: a file "
        "that continues the last one of its folder and patient field, or whose header names the same patient within "
        "a day), 'continuing' (only a file that continues it), 'none' (every file a new start)",
    )
    return ap


def overrides_from(args: argparse.Namespace) -> dict:
    """Dotted config keys from the flags given. ``--stream`` once: ``stream.name``; more than once: ``beds`` (one
    bed per name, labelled by it, each with ``--type``); ``--type`` without ``--stream`` and ``--source-id``:
    ``discover.type`` (every stream of that type is a bed)."""
    out = {key: getattr(args, attr) for attr, key in OVERRIDES.items() if getattr(args, attr) is not None}
    streams = out.pop("stream.name", None) or []
    if len(streams) == 1:
        out["stream.name"] = streams[0]
    elif len(streams) > 1:
        out["beds"] = [{"bed": name, "name": name, **({"type": args.type} if args.type else {})} for name in streams]
        out.pop("stream.type", None)
    elif args.type is not None and args.source_id is None:
        out["discover.type"] = out.pop("stream.type")
    return out


def detect_main(argv: list[str] | None = None) -> int:
    ap = build_detect_parser()
    args = ap.parse_args(argv)  # exits 2 on a usage error
    if (args.json or args.windows or args.carry) and not args.file:
        ap.error("--json, --windows and --carry go with --file")
    if args.duration_s is not None and not args.duration_s > 0:
        ap.error(f"--duration-s must be > 0, got {args.duration_s!r}")
    if args.file and args.duration_s is not None:
        ap.error("--duration-s is for live runs, not --file")
    if args.file and args.patient is not None:
        ap.error("--patient is for live runs; offline, a file's header names its patient (--carry)")
    if args.file and args.publish_windows:
        ap.error("--publish-windows is for live runs, not --file (offline, --windows writes a line per window)")
    if args.stream and len(args.stream) > 1:
        if args.source_id is not None:
            ap.error("--source-id names one stream: it does not go with --stream given more than once")
        if args.patient is not None:
            ap.error("--patient names one bed's patient: with --stream given more than once, give each in [[beds]]")
        repeated = sorted({n for n in args.stream if args.stream.count(n) > 1})
        if repeated:
            ap.error(f"--stream: each stream once, got {repeated!r} more than once")
    from realtime.config import ConfigError, load_config

    overrides = overrides_from(args)
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        from realtime.logs import for_stderr

        print(for_stderr(f"realtime-detect: {exc}"), file=sys.stderr)
        return EX_CONFIG
    configure_logging(config.logging.level)
    try:
        if args.file:
            from realtime.offline import run_offline

            code = run_offline(args.file, config, windows=args.windows, carry=args.carry or "patient")
            return EX_OK if code is None else int(code)
        from realtime.daemon import run_daemon

        return run_daemon(config, config_path=args.config, overrides=overrides, duration_s=args.duration_s)
    except Exception:  # the last line of defence: a crash is logged with its traceback
        log.critical("unexpected error; exiting with %d", EX_SOFTWARE, exc_info=True)
        return EX_SOFTWARE


def build_alerts_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="realtime-alerts",
        description="Print the daemon's alerts, one JSON line per message. With --since, first replays what "
        "was published after that sequence number; gaps in the sequence are filled from the replay "
        "socket; duplicates (same run and seq) are dropped, numbering that goes back is reported on stderr "
        "and kept. With --ack, acknowledge an open event instead (needs the CURVE keys).",
    )
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:5556", help="the daemon's PUB address")
    ap.add_argument("--replay-endpoint", default="tcp://127.0.0.1:5557", help="the daemon's replay address; '' = none")
    ap.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="PREFIX",
        help="only topics starting with PREFIX (repeatable; e.g. seizure, status.signal)",
    )
    ap.add_argument("--count", type=int, metavar="N", help="exit after N messages (exit 1 if the timeout comes first)")
    ap.add_argument("--timeout-s", type=float, metavar="S", help="exit after S seconds (--ack: wait S for the reply)")
    ap.add_argument("--since", type=int, metavar="SEQ", help="first replay every logged message after SEQ")
    ap.add_argument(
        "--fanin",
        action="store_true",
        help="the endpoints are a realtime-fanin's: one cursor per upstream daemon, gaps filled per daemon "
        "(--since SEQ: every daemon's messages after SEQ)",
    )
    g = ap.add_argument_group("CurveZMQ (a daemon with alerts.curve_secret_key)")
    g.add_argument(
        "--server-key", metavar="PUBFILE", help="the daemon's public key file (server.key): only it is trusted"
    )
    g.add_argument("--client-key", metavar="SECRETFILE", help="this client's secret key file (NAME.key_secret)")
    g = ap.add_argument_group("acknowledgement")
    g.add_argument(
        "--ack", type=int, metavar="EVENT_ID", help="acknowledge open event EVENT_ID, print the reply; exit 0 if ok"
    )
    g.add_argument("--note", metavar="TEXT", help="with --ack: a short note (at most 200 characters)")
    return ap


def alerts_main(argv: list[str] | None = None) -> int:
    ap = build_alerts_parser()
    args = ap.parse_args(argv)
    if args.count is not None and args.count < 1:
        ap.error(f"--count must be >= 1, got {args.count!r}")
    if args.since is not None and args.since < 0:
        ap.error(f"--since must be >= 0, got {args.since!r}")
    if args.timeout_s is not None and not 0 < args.timeout_s <= MAX_TIMEOUT_S:  # nan and inf too
        ap.error(f"--timeout-s must be in (0, {MAX_TIMEOUT_S:g}] s, got {args.timeout_s!r}")
    if bool(args.server_key) != bool(args.client_key):
        ap.error("--server-key and --client-key go together (the daemon's public key, this client's secret key)")
    if args.note is not None and args.ack is None:
        ap.error("--note goes with --ack")
    if args.ack is not None:
        if args.fanin:
            ap.error("--ack goes to the daemon's own replay socket, not through a fan-in (drop --fanin)")
        if args.since is not None or args.count is not None or args.topic:
            ap.error("--ack sends one acknowledgement and exits; it does not go with --since, --count or --topic")
        if args.ack < 1:
            ap.error(f"--ack: expected an event id >= 1, got {args.ack!r}")
        if not args.replay_endpoint:
            ap.error("--ack needs the replay endpoint (--replay-endpoint)")
    import signal

    from realtime.alerts import ClientKeys, PublisherConfigError, Subscriber, ack_request

    keys = None
    if args.server_key:
        try:
            keys = ClientKeys.load(args.server_key, args.client_key)
        except PublisherConfigError as exc:
            ap.error(str(exc))
    if args.ack is not None:
        reply = ack_request(
            args.replay_endpoint, args.ack, args.note or "", keys=keys, timeout_s=args.timeout_s or 10.0
        )
        print(json.dumps(reply, separators=(",", ":"), ensure_ascii=False), flush=True)
        if reply.get("ok") is True:
            return EX_OK
        error = reply.get("error", reply)
        print(f"realtime-alerts: acknowledgement of event {args.ack} failed: {error}", file=sys.stderr)
        return 1

    stop = [False]

    def on_signal(signum, frame):
        stop[0] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.fanin:
        from realtime.fanin import FaninSubscriber

        subscriber_class: type[Subscriber] = FaninSubscriber
    else:
        subscriber_class = Subscriber
    sub = subscriber_class(
        args.endpoint,
        args.replay_endpoint,
        topics=args.topic,
        since=args.since,
        warn=lambda text: print(f"realtime-alerts: {text}", file=sys.stderr, flush=True),
        keys=keys,
    )
    deadline = None if args.timeout_s is None else time.monotonic() + args.timeout_s
    printed = 0
    try:
        while not stop[0] and (args.count is None or printed < args.count):
            wait = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if wait <= 0:
                break
            msg = sub.receive(wait)
            if msg is None:
                continue
            try:
                sys.stdout.write(json.dumps(msg, separators=(",", ":"), ensure_ascii=False) + "\n")
                sys.stdout.flush()
            except BrokenPipeError:  # `realtime-alerts | head -1`
                return EX_OK
            printed += 1
    finally:
        sub.close()
    if args.count is not None and printed < args.count:
        return 1
    return EX_OK


if __name__ == "__main__":
    sys.exit(detect_main())
