"""Which artefacts of bedside EEG does an export read as seizure? Real background plus one artefact at a time.

    python -m experiments.artifacts [EXPORT] [--background ../shared/data/background] [--persons 10]
        [--windows-per-file 40] [--json OUT]

Clinical EEG carries artefacts that healthy task EEG has little of: electrode pops, muscle (EMG) bursts,
rhythmic chewing, eye blinks, movement, mains hum. Each is a known seizure mimic for detectors. This study
adds one synthetic artefact at a time, at amplitudes from typical to large, to windows of REAL seizure-free
EEG (the first eegmmidb recording of ``--persons`` persons of the background corpus, every EEG channel,
resampled to the model rate; needs ``../shared``), and scores the same windows with and without it through
``realtime.model.load_detector`` (the daemon's backend). Reported per artefact and amplitude: the share of
channel-windows at or above the decision's on_threshold (0.6) and above 0.5, beside the clean windows'
(paired: the same windows). A characterisation, not a tuning: nothing is chosen from it.

The artefacts (additive, µV, each within the 4.096 s window at a random place; ``artifact``):

- ``pop``: an electrode pop, a step of the amplitude decaying with a 0.3 s time constant;
- ``blink``: an eye blink, a 0.3 s half sine (frontal channels see them; here every channel, the worst case);
- ``emg``: a 2 s muscle burst, white noise band-passed 20-100 Hz, the amplitude its standard deviation;
- ``chewing``: 3 s of the same muscle noise switched on and off at 1.5 Hz (a rhythmic mimic);
- ``movement``: a 2 s, 2 Hz swing (Hann taper), the amplitude its peak;
- ``mains``: 50 Hz hum over the whole window, the amplitude its peak;
- ``ecg``: the heart's QRS complexes on the EEG (a referential montage picks them up at the ear or mastoid):
  a biphasic spike (20 ms from trough to peak) at 72 beats per minute over the whole window, the amplitude
  its peak.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RATE_HZ = 250.0
KINDS = {  # amplitude (µV) per artefact: typical, large, very large
    "pop": (100.0, 300.0, 1000.0),
    "blink": (100.0, 200.0, 400.0),
    "emg": (20.0, 50.0, 100.0),
    "chewing": (30.0, 60.0, 120.0),
    "movement": (100.0, 200.0, 400.0),
    "mains": (50.0, 200.0, 500.0),
    "ecg": (20.0, 50.0, 100.0),
}


def _muscle(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-std noise band-passed 20-100 Hz at :data:`RATE_HZ`, ``[n]``."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, [20.0, 100.0], btype="bandpass", fs=RATE_HZ, output="sos")
    x = sosfiltfilt(sos, rng.standard_normal(n + 256))[128 : 128 + n]
    return x / x.std()


def artifact(kind: str, amplitude_uv: float, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """One artefact of ``kind`` (:data:`KINDS`) at ``amplitude_uv``: float64 ``[n_samples]`` µV at the model rate."""
    t = np.arange(n_samples) / RATE_HZ
    out = np.zeros(n_samples)

    def span(seconds: float) -> tuple[int, int]:
        length = int(seconds * RATE_HZ)
        start = int(rng.integers(0, max(1, n_samples - length)))
        return start, min(n_samples, start + length)

    if kind == "pop":
        a = int(rng.integers(0, n_samples // 2))
        out[a:] = amplitude_uv * np.exp(-(t[a:] - t[a]) / 0.3)
    elif kind == "blink":
        a, b = span(0.3)
        out[a:b] = amplitude_uv * np.sin(np.pi * np.arange(b - a) / (b - a))
    elif kind == "emg":
        a, b = span(2.0)
        out[a:b] = amplitude_uv * _muscle(b - a, rng)
    elif kind == "chewing":
        a, b = span(3.0)
        gate = (np.sin(2 * np.pi * 1.5 * t[a:b]) > 0).astype(float)
        out[a:b] = amplitude_uv * _muscle(b - a, rng) * gate
    elif kind == "movement":
        a, b = span(2.0)
        out[a:b] = amplitude_uv * np.sin(2 * np.pi * 2.0 * t[a:b]) * np.hanning(b - a)
    elif kind == "ecg":
        beat_s = 60.0 / 72.0
        for centre in np.arange(rng.uniform(0, beat_s), t[-1], beat_s):
            u = (t - centre) / 0.01  # a Gaussian's derivative: about 20 ms from trough to peak, peak 1
            out += amplitude_uv * -u * np.exp(0.5 - 0.5 * u**2)
    elif kind == "mains":
        out[:] = amplitude_uv * np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 2 * np.pi))
    else:
        raise ValueError(f"artifact kind must be one of {sorted(KINDS)}, got {kind!r}")
    return out


def background_windows(root: Path, persons: int, windows_per_file: int, window_samples: int, seed: int) -> np.ndarray:
    """``[n, window_samples]`` float32 µV: windows of every EEG channel of each person's first eegmmidb recording."""
    from train.datasets.background import list_files, read_eeg

    rng = np.random.default_rng(seed)
    firsts: dict[str, Path] = {}
    for f in list_files(root):
        if f.source == "eegmmidb":
            firsts.setdefault(f.person, f.path)
    out = []
    for path in list(firsts.values())[:persons]:
        _, data, _ = read_eeg(path, RATE_HZ)
        starts = rng.integers(0, data.shape[1] - window_samples, windows_per_file)
        out += [data[:, s : s + window_samples] for s in starts]
    if not out:
        raise FileNotFoundError(f"no eegmmidb recording under {str(root)!r}")
    return np.concatenate(out).astype(np.float32)


def study(detector, windows: np.ndarray, *, seed: int = 0, kinds=KINDS) -> dict:
    """Per artefact and amplitude, and clean: ``{"clean": {...}, kind: {amplitude: {...}}}`` with the share of
    channel-windows at/above 0.6 and above 0.5, the mean p(seizure), and the paired change in the mean."""

    def rates(p: np.ndarray) -> dict:
        return {"p_ge_0.6": float(np.mean(p >= 0.6)), "p_gt_0.5": float(np.mean(p > 0.5)), "mean_p": float(p.mean())}

    clean = np.asarray(detector.predict(windows), dtype=np.float64)
    out: dict = {"windows": int(len(windows)), "clean": rates(clean)}
    for kind, amplitudes in kinds.items():
        out[kind] = {}
        for amp in amplitudes:
            rng = np.random.default_rng([seed, list(KINDS).index(kind), int(amp)])
            added = np.stack([artifact(kind, amp, windows.shape[1], rng) for _ in range(len(windows))])
            p = np.asarray(detector.predict((windows + added).astype(np.float32)), dtype=np.float64)
            out[kind][f"{amp:g}"] = {**rates(p), "mean_p_change": float((p - clean).mean())}
    return out


def table(res: dict) -> str:
    lines = ["| artefact | amplitude µV | p >= 0.6 | p > 0.5 | mean p |", "|---|---|---|---|---|"]
    c = res["clean"]
    lines.append(f"| none (clean) | | {100 * c['p_ge_0.6']:.2f} % | {100 * c['p_gt_0.5']:.2f} % | {c['mean_p']:.4f} |")
    for kind in KINDS:
        for amp, r in res.get(kind, {}).items():
            lines.append(
                f"| {kind} | {amp} | {100 * r['p_ge_0.6']:.2f} % | {100 * r['p_gt_0.5']:.2f} % | {r['mean_p']:.4f} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    from realtime.model import default_model_path, load_detector

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export", nargs="?", default=str(default_model_path()))
    ap.add_argument("--background", default="../shared/data/background")
    ap.add_argument("--persons", type=int, default=10)
    ap.add_argument("--windows-per-file", type=int, default=40)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    det = load_detector(args.export, backend=args.backend)
    windows = background_windows(
        Path(args.background), args.persons, args.windows_per_file, det.window_samples, args.seed
    )
    res = {
        "export": args.export,
        "model_version": det.model_version,
        "backend": det.backend,
        **study(det, windows, seed=args.seed, kinds={k: KINDS[k] for k in args.kinds}),
    }
    print(table(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
