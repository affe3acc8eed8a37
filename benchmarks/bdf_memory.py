"""How much memory reading a BDF takes (not a test): prints a table, writes benchmarks/results/<name>.json.

    .venv/bin/python benchmarks/bdf_memory.py [--minutes 30 120] [--channels 8] [--name bdf-memory-vm-DATE.json]

edfio (the project's EDF/BDF library) reads an EDF block by block (memory-mapped) but a BDF whole: its 24-bit
samples are decoded into arrays at once. This measures the peak: each size is written as a BDF (512 Hz), then
read in a fresh process by ``realtime.recordings.open_recording`` (what ``realtime-detect --file`` and
``realtime-replay`` call), and that process's peak resident memory (``VmHWM``) above its own before the read is
reported against the file's size. ``realtime.recordings.BDF_PEAK_PER_FILE_BYTE`` (the factor the reader's memory
check uses) comes from this.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

CHILD = """
import json, sys
from pathlib import Path

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

import numpy, edfio, realtime.recordings as rr
before = hwm()
rec = rr.open_recording(sys.argv[1], annotations=False)
print(json.dumps({"before": before, "after": hwm(), "n_samples": rec.n_samples}))
"""


def write_bdf(path: Path, minutes: float, channels: int, fs: float = 512.0) -> None:
    import edfio
    import numpy as np

    n = int(minutes * 60 * fs)
    rng = np.random.default_rng(0)
    sigs = [
        edfio.BdfSignal(rng.normal(0, 50, n), fs, label=f"C{i}", physical_dimension="uV", physical_range=(-5000, 5000))
        for i in range(channels)
    ]
    edfio.Bdf(sigs).write(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[30.0, 120.0])
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--name", default="")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = Path(tmp) / f"{minutes:g}min.bdf"
            write_bdf(path, minutes, args.channels)
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True, cwd=REPO
            )
            got = json.loads(out.stdout.strip().splitlines()[-1])
            size = path.stat().st_size
            peak = got["after"] - got["before"]
            rows.append(
                {
                    "minutes": minutes,
                    "channels": args.channels,
                    "file_mb": size / 1e6,
                    "peak_mb": peak / 1e6,
                    "peak_per_file_byte": peak / size,
                }
            )
    print("| minutes | channels | file (MB) | peak above the process (MB) | peak per file byte |")
    print("|---|---|---|---|---|")
    for r in rows:
        cells = [f"{r['minutes']:g}", str(r["channels"]), f"{r['file_mb']:.1f}", f"{r['peak_mb']:.1f}"]
        print("| " + " | ".join([*cells, f"{r['peak_per_file_byte']:.2f}"]) + " |")
    if args.name:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / args.name).write_text(json.dumps({"rows": rows}, indent=2))
        print(f"written: {RESULTS / args.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
