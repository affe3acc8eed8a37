"""The user's own recordings: EDF/BDF (or the project's NPZ) with seizure annotations.

Read through :func:`realtime.recordings.read_recording` (edfio; µV from each signal's physical
dimension; EDF+ annotations; sidecars: ``<stem>.csv``/``<stem>.tsv``, BIDS/SzCORE events, a CHB-MIT
summary: :mod:`realtime.annotations`). Which labels mean seizure: ``realtime.annotations.is_seizure_label``.
Which channels: the EEG channels by the daemon's own rule (:func:`training_rows`), or those named;
ECG, EMG, EOG, DC inputs, trend signals and the like never become training examples, just as the
daemon never scores them. Every channel kept becomes one :class:`Record` (resampled to the model
rate, per-sample labels); all channels of one file share a group id, so a split never separates
them. To keep a patient's files together, pass ``group_by="folder"`` (the parent folder names the group).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from realtime.annotations import is_seizure_label
from train.datasets.records import Record, resample_to

log = logging.getLogger(__name__)

EXTENSIONS = (".edf", ".bdf", ".npz")
MIN_RATE_HZ = 100.0  # an EEG rate below this cannot carry the filter bank's bands (up to 40 Hz) faithfully


def training_rows(rec, channels=(), *, source: str = "") -> list[tuple[int, str]]:
    """The rows of ``rec`` (a :class:`realtime.recordings.RecordingInfo`) to train on, in order, each with the
    channel's unique name (a repeated label, CHB-MIT's second ``T8-P8``, is ``"T8-P8#2"``, as the daemon names it).

    Without ``channels``: the EEG channels by the daemon's channel rule (``rec.select()``, i.e.
    :func:`realtime.channels.select_channels`), so that training and serving agree on what EEG is; what
    is left out is logged (INFO, each channel with its reason), and a recording with no EEG channel
    gives ``[]`` (WARNING). With ``channels``: those labels (or unique names, ``"T8-P8#2"``), in that
    order; ``ValueError`` when one is missing or not a voltage. ``ValueError`` too when the EEG was read
    below :data:`MIN_RATE_HZ` (a reader that took the rate of 1 Hz trend signals must not feed training).
    ``source`` names the recording in messages.
    """
    try:
        sel = rec.select(channels=channels)
    except ValueError as exc:
        if channels:
            raise ValueError(f"{source!r}: {exc}") from None
        log.warning("%s: no channel to train on: %s", source, exc)
        return []
    if not channels and (left := {**rec.left_out, **sel.left_out}):
        log.info(
            "%s: %d channel(s) left out: %s", source, len(left), "; ".join(f"{k}: {why}" for k, why in left.items())
        )
    if rec.sfreq < MIN_RATE_HZ:
        raise ValueError(f"{source!r}: EEG read at {rec.sfreq!r} Hz, below {MIN_RATE_HZ:g} Hz")
    return [(i, sel.keys[i]) for i in sel.scored]


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
    """One file -> one Record per channel of :func:`training_rows` (none: ``[]``, logged)."""
    from realtime.recordings import read_recording

    if group_by not in ("file", "folder"):
        raise ValueError(f"group_by must be 'file' or 'folder', got {group_by!r}")
    path = Path(path)
    rec = read_recording(path)
    group = f"edf:{path.parent.resolve()}" if group_by == "folder" else f"edf:{path.resolve()}"
    out = []
    for idx, key in training_rows(rec, channels, source=str(path)):
        name = rec.ch_names[idx]
        x = resample_to(rec.data[idx], rec.sfreq, sample_rate_hz).astype(np.float32)
        labels = seizure_mask(rec.annotations, len(x), sample_rate_hz)
        rid = f"edf/{path.name}#{key}"
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
    if not out:
        where = [str(p) for p in paths]
        raise ValueError(f"no EEG channel to train on in the {len(files)} EDF/BDF/NPZ file(s) of {where!r}")
    return out
