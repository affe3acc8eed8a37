"""Subprocess: play an EDF through mne-lsl's own PlayerLSL (type "eeg", float64 volts, units as powers
of ten), exactly as a user of that software would, then exit. Prints "ready" once streaming.

argv: EDF NAME SOURCE_ID CROP_S
"""

import sys
import time

import mne
from mne_lsl.player import PlayerLSL

path, name, source_id, crop_s = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
raw.crop(0, crop_s)
player = PlayerLSL(raw, chunk_size=32, n_repeat=1, name=name, source_id=source_id)
player.start()
print("ready", flush=True)
time.sleep(crop_s + 2.0)
player.stop()
