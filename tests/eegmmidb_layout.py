"""The background corpus' eegmmidb layout for the studies' tests (tests/experiments): 19 electrodes of the 10-20
system at 160 Hz, labelled as BCI2000 writes them (``Fp1.``, ``T7..``), and a recording of noise in that layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FS = 160.0
TEN_TWENTY = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8"]
TEN_TWENTY += ["P7", "P3", "Pz", "P4", "P8", "O1", "O2"]
LABELS = [f"{e}." if len(e) == 3 else f"{e}.." for e in TEN_TWENTY]


def noise_npz(path: Path, seconds: float, *, mean_uv: float = 0.0, seed: int = 1) -> Path:
    """An NPZ recording at ``path`` of ``seconds`` of white noise (10 µV around ``mean_uv``) in the layout."""
    from realtime.recordings import write_npz

    data = np.random.default_rng(seed).normal(mean_uv, 10, (len(LABELS), int(seconds * FS)))
    return write_npz(path, data, FS, LABELS)
