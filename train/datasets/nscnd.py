"""New Delhi scalp EEG segments (Swami et al. 2016): ictal (seizure), interictal, preictal (non-seizure).

Each file: MATLAB 5 MAT, one int16 variable named after its folder, shape (1024, 1) at 200 Hz
(5.12 s), values taken as µV. Resampled to 1280 samples at 250 Hz. Byte-identical duplicates
(ictal25 = ictal36, preictal39 = preictal42, preictal40 = preictal43) share a group id (the content
hash), so a split never separates them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from train.datasets.records import Record, content_hash, rail_mask, resample_to

NSCND_RATE_HZ = 200.0
FOLDERS = {"ictal": 1, "interictal": 0, "preictal": 0}


def read_nscnd_file(path: Path, variable: str) -> np.ndarray:
    m = scipy.io.loadmat(path)
    if variable not in m:
        raise ValueError(
            f"{str(path)!r}: expected a variable {variable!r}, found {sorted(k for k in m if not k.startswith('__'))!r}"
        )
    x = np.asarray(m[variable])
    if x.ndim != 2 or 1 not in x.shape:
        raise ValueError(f"{str(path)!r}: expected a single-channel (n, 1) array, got shape {x.shape!r}")
    return x.reshape(-1)


def load_nscnd(root: Path | str, *, sample_rate_hz: float = 250.0) -> list[Record]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"New Delhi data folder not found: {str(root)!r}")
    out = []
    for folder, label in FOLDERS.items():
        files = sorted((root / folder).glob("*.mat"), key=lambda p: (len(p.stem), p.stem))
        if not files:
            raise FileNotFoundError(f"no MAT files in {str(root / folder)!r}")
        for p in files:
            raw = read_nscnd_file(p, folder)
            x = resample_to(raw.astype(np.float64), NSCND_RATE_HZ, sample_rate_hz).astype(np.float32)
            out.append(
                Record(
                    f"nscnd/{folder}/{p.name}",
                    f"nscnd:{content_hash(raw)}",
                    x,
                    np.full(x.shape, label, dtype=np.int8),
                    "nscnd",
                    folder,
                    sample_rate_hz,
                    rail_samples=np.flatnonzero(rail_mask(raw, NSCND_RATE_HZ, sample_rate_hz, len(x))),
                )
            )
    return out
