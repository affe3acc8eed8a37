"""Bonn epilepsy EEG (Andrzejak et al. 2001): sets Z, O, N, F (non-seizure) and S (seizure).

Each file: ASCII, one integer per line, 4097 samples at 173.61 Hz, 12-bit ADC counts (close to µV,
used as µV). Resampled to the model rate with scipy.signal.resample_poly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from train.datasets.records import Record, rail_mask, resample_to

BONN_RATE_HZ = 173.61
SETS = {"Z": 0, "O": 0, "N": 0, "F": 0, "S": 1}


def read_bonn_file(path: Path) -> np.ndarray:
    """One Bonn text file -> float64 [4097] (ADC counts)."""
    try:
        x = np.loadtxt(path, dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"{str(path)!r} is not a Bonn text file (one integer per line): {e}") from e
    if x.ndim != 1 or x.size < 100:
        raise ValueError(f"{str(path)!r}: expected one column of samples, got shape {x.shape!r}")
    return x


def load_bonn(root: Path | str, *, sample_rate_hz: float = 250.0, sets=tuple(SETS)) -> list[Record]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Bonn data folder not found: {str(root)!r}")
    out = []
    for s in sets:
        if s not in SETS:
            raise ValueError(f"unknown Bonn set {s!r} (expected one of {list(SETS)})")
        files = sorted(p for p in (root / s).iterdir() if p.suffix.lower() == ".txt")
        if not files:
            raise FileNotFoundError(f"no Bonn files in {str(root / s)!r}")
        for p in files:
            raw = read_bonn_file(p)
            x = resample_to(raw, BONN_RATE_HZ, sample_rate_hz).astype(np.float32)
            rid = f"bonn/{s}/{p.name}"
            labels = np.full(x.shape, SETS[s], dtype=np.int8)
            rails = np.flatnonzero(rail_mask(raw, BONN_RATE_HZ, sample_rate_hz, len(x)))
            out.append(Record(rid, rid, x, labels, "bonn", s, sample_rate_hz, rail_samples=rails))
    return out
