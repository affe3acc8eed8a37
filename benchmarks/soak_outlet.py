"""The soak benchmark's LSL outlet (run as a process by benchmarks/soak_faults.py): recordings played
in a loop on a shared schedule, faster than real time, with a clock that can be made to jump.

    python benchmarks/soak_outlet.py --name NAME --source-id ID --t0 LSL_TIME --speed 20
        --journal PATH [--offset-s 0] [--jump-s 3600] [--chunk-s 0.5] [--journal-every-s 0.25] REC [REC ...]

The recordings (EDF/BDF/NPZ with the same channels and rate, read by
:func:`realtime.recordings.read_recording`) are concatenated into one cycle that repeats for ever.
Global sample ``g`` (counted from 0, across every process started with the same ``--t0``) is
due at LSL time ``t0 + g / (sfreq * speed)``, holds sample ``g mod cycle`` and is stamped with
its due time plus the clock offset (``--offset-s`` at start). So a process killed and restarted
continues the timeline where it would have been: what fell in the outage is never sent.

Faults this process takes part in:

- SIGUSR1 / SIGUSR2: the clock jumps forward / back by ``--jump-s`` (at the next chunk, on the
  sample that follows; the sample count and the signal go on unchanged);
- SIGSTOP / SIGCONT from outside: a hung outlet. Back more than ``--skip-after-s`` (wall seconds)
  behind its schedule, it skips to the sample now due (a hung device's signal is gone) instead of
  sending a burst;
- SIGKILL: a yanked cable.

Every change of the mapping from global sample to timestamp is one JSON line in ``--journal``
(flushed at once, so a SIGKILL loses none): ``{"event": "start" | "jump" | "skip", "g": first
sample under the new mapping, "offset_s", "lsl": the LSL clock then, "pid"}``; a ``skip`` also has
``"from"``: the first sample never sent (samples ``from .. g-1`` fell in the hang). What was sent is
journaled too, so that the soak can compare it with what the daemon received: ``"sent"`` lines (at
most one per ``--journal-every-s`` wall seconds while sending, ``"g"``: every sample before it was
pushed; the last one before a SIGKILL is a lower bound) and, at SIGTERM, a ``"stop"`` line with the
final count. SIGTERM stops it (exit 0).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402


def load_cycle(paths: list[str]) -> tuple[np.ndarray, float, list[str]]:
    """The recordings concatenated: ``(data [n_samples, n_channels] float32 µV, sfreq, channel names)``."""
    from realtime.recordings import read_recording

    recs = [read_recording(p) for p in paths]
    first = recs[0]
    for path, rec in zip(paths, recs, strict=True):
        if list(rec.ch_names) != list(first.ch_names) or rec.sfreq != first.sfreq:
            raise ValueError(
                f"{path}: channels/rate {rec.ch_names!r} at {rec.sfreq!r} Hz differ from "
                f"{paths[0]}: {first.ch_names!r} at {first.sfreq!r} Hz"
            )
    data = np.concatenate([np.asarray(r.data, dtype=np.float32) for r in recs], axis=1).T
    return np.ascontiguousarray(data), float(first.sfreq), list(first.ch_names)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recordings", nargs="+")
    ap.add_argument("--name", required=True)
    ap.add_argument("--source-id", required=True)
    ap.add_argument("--t0", type=float, required=True, help="LSL clock at which global sample 0 is due")
    ap.add_argument("--speed", type=float, default=20.0)
    ap.add_argument("--offset-s", type=float, default=0.0, help="clock offset at start (stream seconds)")
    ap.add_argument("--jump-s", type=float, default=3600.0, help="size of a clock jump (SIGUSR1 +, SIGUSR2 -)")
    ap.add_argument("--chunk-s", type=float, default=0.5, help="seconds of signal per pushed chunk")
    ap.add_argument("--skip-after-s", type=float, default=1.0, help="wall seconds behind schedule before skipping")
    ap.add_argument("--journal", required=True)
    ap.add_argument("--journal-every-s", type=float, default=0.25, help="wall seconds between 'sent' journal lines")
    a = ap.parse_args(argv)
    positive = ("speed", "chunk_s", "skip_after_s", "journal_every_s")
    for name in ("t0", "speed", "offset_s", "jump_s", "chunk_s", "skip_after_s", "journal_every_s"):
        value = getattr(a, name)
        if not math.isfinite(value) or (name in positive and value <= 0):
            ap.error(
                f"--{name.replace('_', '-')} must be finite (and > 0 for speed, chunk, skip, journal), got {value!r}"
            )
    import pylsl

    from realtime.replay import make_outlet

    data, sfreq, ch_names = load_cycle(a.recordings)
    n_cycle = data.shape[0]
    rate = sfreq * a.speed  # samples per second of the LSL clock
    chunk = max(1, round(a.chunk_s * sfreq))
    rec = SimpleNamespace(ch_names=ch_names, sfreq=sfreq)
    outlet = make_outlet(rec, a.name, "EEG", a.source_id, chunk, Path(a.recordings[0]))
    flags = {"stop": False, "jumps": 0}

    def on_term(signum, frame):
        flags["stop"] = True

    def on_jump(signum, frame):
        flags["jumps"] += 1 if signum == signal.SIGUSR1 else -1

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGUSR1, on_jump)
    signal.signal(signal.SIGUSR2, on_jump)
    offset = a.offset_s
    journal = open(a.journal, "a", buffering=1)  # noqa: SIM115  (held open for the process's life)

    def note(event: str, g: int, **extra) -> None:
        entry = {"event": event, "g": g, "offset_s": offset, "lsl": pylsl.local_clock(), "pid": os.getpid()}
        journal.write(json.dumps(entry | extra) + "\n")

    sent: int | None = None  # the next global sample to send
    noted = -math.inf  # LSL clock of the last "sent" line
    while not flags["stop"]:
        now = pylsl.local_clock()
        due = math.floor((now - a.t0) * rate) + 1  # samples 0 .. due-1 are due
        if due <= 0:
            time.sleep(min(0.05, -due / rate + 0.001))
            continue
        if sent is None:
            sent = due - 1
            note("start", sent)
        elif due - sent > a.skip_after_s * rate:  # hung (SIGSTOP) or starved: what fell meanwhile is gone
            gone, sent = sent, due - 1
            note("skip", sent, **{"from": gone})
        if flags["jumps"]:
            offset += flags["jumps"] * a.jump_s
            flags["jumps"] = 0
            note("jump", sent)
        while sent < due and not flags["stop"]:
            end = min(due, sent + chunk)
            g = np.arange(sent, end)
            outlet.push_chunk(data[g % n_cycle], (a.t0 + g / rate + offset).tolist())
            sent = end
        if now - noted >= a.journal_every_s:
            note("sent", sent)
            noted = now
        time.sleep(max(0.0, min(0.05, a.t0 + (sent + chunk) / rate - pylsl.local_clock())))
    if sent is not None:
        note("stop", sent)
    journal.close()
    time.sleep(0.1)  # let the last chunk leave before the outlet goes away
    del outlet
    return 0


if __name__ == "__main__":
    sys.exit(main())
