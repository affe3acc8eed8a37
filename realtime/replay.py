"""``realtime-replay``: play an EDF/BDF/NPZ recording as an LSL outlet, paced on the wall clock.

Samples go out as float32 microvolts with channel labels, units and types in the stream's
metadata. Pacing is drift-free: sample ``i`` is due at ``t0 + i / (sfreq * speed)`` (monotonic
clock) and is stamped with the LSL clock of that moment, so the timestamps are exactly regular
whatever the scheduling jitter; at ``--speed 4`` they advance four times faster than the
recording's own time. Exits at the end of the recording unless ``--loop``; SIGTERM/SIGINT stop it
cleanly (exit 0). The recording is read a block at a time (:class:`Blocks`; an EDF from the file), so an
hours-long file is played without holding it whole.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import time
from pathlib import Path

import numpy as np

from realtime import __version__
from realtime.channels import not_eeg_reason

log = logging.getLogger("realtime.replay")

BLOCK_S = 10.0  # signal read from the recording at a time (an EDF is read from the file, not held whole)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="realtime-replay", description="Play an EDF/BDF/NPZ recording as an LSL outlet in real time."
    )
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    ap.add_argument("file", help="recording: .edf, .bdf or .npz (data [n_channels, n_samples], sfreq, ch_names, unit)")
    ap.add_argument("--name", default=None, help="LSL stream name (default: the file's stem)")
    ap.add_argument("--type", default="EEG", help="LSL stream type (default EEG)")
    ap.add_argument("--source-id", default=None, help="LSL source id (default: replay-<name>)")
    ap.add_argument("--speed", type=float, default=1.0, help="playback speed factor (default 1.0)")
    ap.add_argument("--loop", action="store_true", help="start again at the end, forever")
    ap.add_argument("--chunk-s", type=float, default=0.1, help="seconds of signal per pushed chunk (default 0.1)")
    ap.add_argument(
        "--wait-for-consumer-s",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for an inlet to connect before playing (default 0: play at once)",
    )
    ap.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return ap


def make_outlet(rec, name: str, type_: str, source_id: str, chunk_samples: int, path: Path):
    import pylsl

    info = pylsl.StreamInfo(name, type_, len(rec.ch_names), float(rec.sfreq), pylsl.cf_float32, source_id)
    desc = info.desc()
    desc.append_child_value("manufacturer", "realtime-seizure-detector")
    desc.append_child_value("model", "realtime-replay")
    acq = desc.append_child("acquisition")
    acq.append_child_value("recording", path.name)
    channels = desc.append_child("channels")
    for label, channel in zip(rec.ch_names, rec.channels, strict=True):
        ch = channels.append_child("channel")
        ch.append_child_value("label", str(label))
        ch.append_child_value("unit", "microvolts")
        # what the file says a channel is (its label, transducer, type): a live daemon leaves out what --file does
        ch.append_child_value("type", channel.type or ("EEG" if not_eeg_reason(channel) is None else "MISC"))
    return pylsl.StreamOutlet(info, chunk_size=chunk_samples, max_buffered=60)


class Blocks:
    """Samples of ``rec`` (:class:`realtime.recordings.RecordingInfo`) by position on a timeline that repeats
    the recording: ``rows(first, stop)`` is float32 ``[stop - first, n_channels]`` for positions ``first`` to
    ``stop`` (excluded), position ``i`` being sample ``i % n_samples``. Reads ``block_samples`` at a time
    from the recording (an EDF from the file), so a long recording is never held whole."""

    def __init__(self, rec, block_samples: int) -> None:
        self.rec, self.n = rec, int(rec.n_samples)
        self.block_samples = max(1, int(block_samples))
        self._start, self._data = 0, np.empty((0, len(rec.ch_names)), dtype=np.float32)

    def _sample(self, i: int, stop: int) -> np.ndarray:
        """Rows from sample ``i`` (0 <= i < n) on, at most to ``stop`` and within one cached block."""
        if not self._start <= i < self._start + len(self._data):
            self._start = i
            last = min(self.n, i + self.block_samples)
            self._data = np.ascontiguousarray(self.rec.read(i, last).T, dtype=np.float32)
        return self._data[i - self._start : min(stop, self._start + len(self._data)) - self._start]

    def rows(self, first: int, stop: int) -> np.ndarray:
        parts, pos = [], first
        while pos < stop:
            part = self._sample(pos % self.n, pos % self.n + (stop - pos))
            parts.append(part)
            pos += len(part)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def play(rec, outlet, *, speed: float, chunk_samples: int, loop: bool, stop_flag: list[bool]) -> int:
    """Push the recording; returns the number of samples sent. ``rec`` is read a block (about
    ``BLOCK_S`` of signal) at a time."""
    import pylsl

    n_total = int(rec.n_samples)
    blocks = Blocks(rec, max(chunk_samples, round(BLOCK_S * rec.sfreq)))
    rate = float(rec.sfreq) * speed  # samples per wall-clock second
    t0 = time.monotonic()
    lsl0 = pylsl.local_clock()
    log.info("first sample at lsl_time=%.6f", lsl0)
    sent = 0
    while not stop_flag[0]:
        due = int((time.monotonic() - t0) * rate)
        if not loop:
            due = min(due, n_total)
        while sent < due and not stop_flag[0]:
            end = min(due, sent + chunk_samples)
            stamps = lsl0 + np.arange(sent, end) / rate
            outlet.push_chunk(blocks.rows(sent, end), stamps.tolist())
            sent = end
        if not loop and sent >= n_total:
            break
        next_due = t0 + (sent + chunk_samples) / rate  # when the next full chunk is due
        time.sleep(max(0.0, min(next_due - time.monotonic(), 0.5)))
    return sent


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if not (args.speed > 0 and math.isfinite(args.speed)):
        print(f"realtime-replay: --speed must be > 0, got {args.speed!r}", file=sys.stderr)
        return 2
    if not (args.chunk_s > 0 and math.isfinite(args.chunk_s)):
        print(f"realtime-replay: --chunk-s must be > 0, got {args.chunk_s!r}", file=sys.stderr)
        return 2
    from realtime.recordings import open_recording

    path = Path(args.file)
    try:
        rec = open_recording(path, annotations=False)
    except Exception as exc:  # unreadable file: a clear message and the usage exit code
        print(f"realtime-replay: cannot read recording {str(path)!r}: {exc}", file=sys.stderr)
        return 2
    if rec.n_samples == 0:
        print(f"realtime-replay: recording {str(path)!r} has no samples to play", file=sys.stderr)
        return 2
    if rec.gaps:  # an EDF+D: the stream is regular by construction (samples stamped as they are due)
        log.warning("%s: played as one stretch: its %d gap(s) are not reproduced", path.name, len(rec.gaps))
    name = args.name or path.stem
    source_id = args.source_id if args.source_id is not None else f"replay-{name}"
    chunk_samples = max(1, round(args.chunk_s * rec.sfreq))
    stop_flag = [False]

    def on_signal(signum, frame):
        stop_flag[0] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    outlet = make_outlet(rec, name, args.type, source_id, chunk_samples, path)
    if args.wait_for_consumer_s > 0:
        deadline = time.monotonic() + args.wait_for_consumer_s
        while not stop_flag[0] and time.monotonic() < deadline and not outlet.have_consumers():
            time.sleep(0.05)
        log.info("%s", "a consumer is connected" if outlet.have_consumers() else "no consumer yet; playing anyway")
    n = rec.n_samples
    log.info(
        "replaying %s as LSL stream %r (type %r, source_id %r): %d channels, %g Hz, %.1f s, speed %g%s",
        path.name,
        name,
        args.type,
        source_id,
        len(rec.ch_names),
        rec.sfreq,
        n / rec.sfreq,
        args.speed,
        ", looping" if args.loop else "",
    )
    sent = play(rec, outlet, speed=args.speed, chunk_samples=chunk_samples, loop=args.loop, stop_flag=stop_flag)
    log.info(
        "%s after %d samples (%.1f s of signal)",
        "stopped" if stop_flag[0] else "end of recording",
        sent,
        sent / rec.sfreq,
    )
    time.sleep(0.2)  # let the last chunk leave before the outlet goes away
    del outlet
    return 0


if __name__ == "__main__":
    sys.exit(main())
