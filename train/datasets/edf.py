"""The user's own recordings: EDF/BDF (or the project's NPZ) with seizure annotations.

Read through :func:`realtime.recordings.read_recording` (edfio; µV from each signal's physical
dimension; EDF+ annotations; sidecars: ``<stem>.csv``/``<stem>.tsv``, BIDS/SzCORE events, a CHB-MIT
summary: :mod:`realtime.annotations`). Which labels mean seizure: ``realtime.annotations.is_seizure_label``.
Every channel becomes one :class:`Record` (resampled to the model rate, per-sample labels); all
channels of one file share a group id, so a split never separates them. To keep a patient's files
together, pass ``group_by="folder"`` (the parent folder names the group).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from realtime.annotations import is_seizure_label
from train.datasets.records import Record, resample_to

EXTENSIONS = (".edf", ".bdf", ".npz")


def seizure_mask(annotations, n_samples: int, sfreq_hz: float) -> np.ndarray:
    """int8 ``[n_samples]``: 1 inside any seizure annotation ``[onset_s, offset_s)``."""
    m = np.zeros(n_samples, dtype=np.int8)
    for onset, offset, label in annotations:
        if not is_seizure_label(label):
            continue
        if offset < onset:
            raise ValueError(f"annotation offset {offset!r} s is before its onset {onset!r} s")
        a = max(0, int(round(onset * sfreq_hz)))
        b = min(n_samples, int(round(offset * sfreq_hz)))
        m[a:b] = 1
    return m


def expand_paths(paths) -> list[Path]:
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in EXTENSIONS)
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"EDF path not found: {str(p)!r}")
    return out


def load_edf(path: Path | str, *, sample_rate_hz: float = 250.0, channels=(), group_by: str = "file") -> list[Record]:
    """One file -> one Record per (selected) channel."""
    from realtime.recordings import read_recording

    path = Path(path)
    rec = read_recording(path)
    wanted = list(channels) or list(rec.ch_names)
    missing = [c for c in wanted if c not in rec.ch_names]
    if missing:
        raise ValueError(f"{str(path)!r}: channels {missing!r} not found (have {rec.ch_names!r})")
    if group_by not in ("file", "folder"):
        raise ValueError(f"group_by must be 'file' or 'folder', got {group_by!r}")
    group = f"edf:{path.parent.resolve()}" if group_by == "folder" else f"edf:{path.resolve()}"
    out = []
    seen = set()
    for idx, name in enumerate(rec.ch_names):
        if name not in wanted:
            continue
        x = resample_to(rec.data[idx], rec.sfreq, sample_rate_hz).astype(np.float32)
        labels = seizure_mask(rec.annotations, len(x), sample_rate_hz)
        rid = f"edf/{path.name}#{name}"
        if rid in seen:  # duplicated channel names (e.g. CHB-MIT's T8-P8 twice)
            rid = f"{rid}#{idx}"
        seen.add(rid)
        out.append(
            Record(
                rid,
                group,
                x,
                labels,
                "edf",
                "seizure" if labels.any() else "background",
                sample_rate_hz,
                {"path": str(path), "channel": name, "sfreq_in_hz": rec.sfreq},
            )
        )
    return out


def load_edf_paths(paths, *, sample_rate_hz: float = 250.0, channels=(), group_by: str = "file") -> list[Record]:
    files = expand_paths(paths)
    if not files:
        raise FileNotFoundError(f"no EDF/BDF/NPZ files in {[str(p) for p in paths]!r}")
    out = []
    for f in files:
        out += load_edf(f, sample_rate_hz=sample_rate_hz, channels=channels, group_by=group_by)
    return out
