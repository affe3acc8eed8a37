"""A synthetic LSL outlet for tests, run as a subprocess: sine waves, paced on the wall clock.

python lsl_outlet_proc.py --name N [--type EEG] [--source-id ID] [--rate 256] [--channels 4]
       [--format float32|double64|int16] [--unit microvolts] [--amplitude 50] [--duration-s 0]
       [--seizure-after-s T --seizure-amplitude 300]  (from T s of signal on, the larger amplitude)
Prints "ready" on stdout once the outlet exists. Runs until killed (or --duration-s elapses).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pylsl

FORMATS = {
    "float32": (pylsl.cf_float32, np.float32),
    "double64": (pylsl.cf_double64, np.float64),
    "int16": (pylsl.cf_int16, np.int16),
    "string": (pylsl.cf_string, None),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--type", default="EEG")
    ap.add_argument("--source-id", default="")
    ap.add_argument("--rate", type=float, default=256.0)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--format", default="float32", choices=FORMATS)
    ap.add_argument("--unit", default="microvolts")
    ap.add_argument("--amplitude", type=float, default=50.0)
    ap.add_argument("--duration-s", type=float, default=0.0)
    ap.add_argument("--flat", type=int, default=0, help="the first N channels send zeros (a flat line)")
    ap.add_argument("--seizure-after-s", type=float, default=-1.0, help="from this much signal on, --seizure-amplitude")
    ap.add_argument("--seizure-amplitude", type=float, default=300.0)
    a = ap.parse_args()
    fmt, dtype = FORMATS[a.format]
    info = pylsl.StreamInfo(a.name, a.type, a.channels, a.rate, fmt, a.source_id)
    info.set_channel_labels([f"C{i}" for i in range(a.channels)])
    info.set_channel_types("eeg")
    info.set_channel_units(a.unit)
    outlet = pylsl.StreamOutlet(info, chunk_size=0)
    print("ready", flush=True)
    if dtype is None or a.rate <= 0:  # nothing sensible to send; just exist
        while True:
            time.sleep(0.1)
    t0 = time.monotonic()
    sent = 0
    freqs = 5.0 + np.arange(a.channels)
    while a.duration_s <= 0 or time.monotonic() - t0 < a.duration_s:
        due = int((time.monotonic() - t0) * a.rate)
        if due > sent:
            t = (np.arange(sent, due) / a.rate)[:, None]
            amplitude = np.where((a.seizure_after_s >= 0) & (t >= a.seizure_after_s), a.seizure_amplitude, a.amplitude)
            chunk = amplitude * np.sin(2 * np.pi * freqs[None, :] * t)
            chunk[:, : a.flat] = 0.0
            chunk = chunk.astype(dtype)
            outlet.push_chunk(np.ascontiguousarray(chunk))
            sent = due
        time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
