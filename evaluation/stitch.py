"""Stitched recordings for the evaluation: single-channel segments played back to back as one recording.

Bonn and New Delhi segments are 5-24 s long; a bedside detector runs on hours. To score false alarms
and onset latency with the daemon's own code, segments are concatenated into one continuous
recording, written in the project's NPZ format (with an ``<stem>.csv`` annotation sidecar that
:func:`realtime.recordings.read_recording` reads) and scored through the daemon's pipeline
(:func:`evaluation.runs.pipeline_window_scores`, or ``realtime-detect --file``).

Junctions: two segments from different recordings never meet smoothly; a raw junction is a step
(different DC offsets) and a kink, which a detector could take for a sharp transient. Each piece is
therefore (1) resampled to the common rate with ``scipy.signal.resample_poly``, (2) made zero-mean,
and (3) faded in and out with a half-cosine taper of ``taper_s`` seconds, so every junction passes
through zero continuously. The cost: ``2 * taper_s`` seconds of attenuated signal per junction, which
the report states. Annotations: consecutive seizure pieces form one seizure event ``(onset_s,
offset_s)`` from the first sample of the first to the end of the last.

Data licences: Bonn and New Delhi files are research-use only; stitched recordings made from them go
under ``artifacts/`` (git-ignored), never into the repository.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

SEIZURE = "seizure"
BACKGROUND = "background"


@dataclass(frozen=True)
class Piece:
    """One segment to stitch: ``signal_uv [n]`` or ``[n_channels, n]`` µV at ``sfreq`` Hz, a label, its origin."""

    signal_uv: np.ndarray
    sfreq: float
    label: str  # "seizure" or "background"
    source: str  # e.g. the recording id "bonn/Z/Z001.txt"


@dataclass
class Stitched:
    """A stitched recording: ``data [n_channels, n_samples]`` µV at ``sfreq``."""

    data: np.ndarray
    sfreq: float
    ch_names: list[str]
    seizures: list[tuple[float, float]]  # (onset_s, offset_s), merged over consecutive seizure pieces
    pieces: list[dict] = field(default_factory=list)  # {"source", "label", "start_s", "end_s"}
    taper_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.data.shape[1] / self.sfreq

    @property
    def background_s(self) -> float:
        return sum(p["end_s"] - p["start_s"] for p in self.pieces if p["label"] == BACKGROUND)


def resample(x: np.ndarray, fs_in: float, fs_out: float, max_denominator: int = 1000) -> np.ndarray:
    """``x [n]`` at ``fs_in`` -> float64 at ``fs_out`` (polyphase, rational approximation of the ratio)."""
    if not (fs_in > 0 and fs_out > 0):
        raise ValueError(f"sample rates must be > 0, got {fs_in!r} -> {fs_out!r}")
    frac = Fraction(fs_out / fs_in).limit_denominator(max_denominator)
    x = np.asarray(x, dtype=np.float64)
    if frac == 1:
        return x.copy()
    return resample_poly(x, frac.numerator, frac.denominator)


def taper(x: np.ndarray, n_taper: int) -> np.ndarray:
    """Zero-mean copy of ``x [..., n]`` (mean per row) faded in and out over ``n_taper`` samples (half-cosine)."""
    y = np.asarray(x, dtype=np.float64)
    y = y - y.mean(axis=-1, keepdims=True)
    n_taper = min(int(n_taper), y.shape[-1] // 2)
    if n_taper > 0:
        ramp = 0.5 * (1 - np.cos(np.pi * (np.arange(n_taper) + 0.5) / n_taper))  # (0, 1), symmetric
        y[..., :n_taper] *= ramp
        y[..., -n_taper:] *= ramp[::-1]
    return y


def stitch(
    pieces: Sequence[Piece], sfreq: float = 250.0, taper_s: float = 0.25, ch_names: Sequence[str] = ("EEG",)
) -> Stitched:
    """Resample, de-mean, taper and concatenate ``pieces`` (all with ``len(ch_names)`` channels);
    annotate the seizure spans."""
    if not pieces:
        raise ValueError("nothing to stitch: no pieces")
    parts: list[np.ndarray] = []
    table: list[dict] = []
    seizures: list[tuple[float, float]] = []
    pos = 0
    n_taper = int(round(taper_s * sfreq))
    for p in pieces:
        if p.label not in (SEIZURE, BACKGROUND):
            raise ValueError(f"piece {p.source!r}: label must be {SEIZURE!r} or {BACKGROUND!r}, got {p.label!r}")
        x = np.asarray(p.signal_uv, dtype=np.float64)
        x = x[None, :] if x.ndim == 1 else x
        if x.ndim != 2 or x.shape[0] != len(ch_names) or x.shape[1] == 0 or not np.isfinite(x).all():
            raise ValueError(
                f"piece {p.source!r}: signal must be a finite non-empty [n] or [{len(ch_names)}, n] "
                f"array for channels {list(ch_names)}, got shape {np.shape(p.signal_uv)}"
            )
        y = taper(np.vstack([resample(row, p.sfreq, sfreq) for row in x]), n_taper)
        start_s, end_s = pos / sfreq, (pos + y.shape[1]) / sfreq
        table.append({"source": p.source, "label": p.label, "start_s": start_s, "end_s": end_s})
        if p.label == SEIZURE:
            if seizures and math.isclose(seizures[-1][1], start_s):
                seizures[-1] = (seizures[-1][0], end_s)
            else:
                seizures.append((start_s, end_s))
        parts.append(y)
        pos += y.shape[1]
    return Stitched(
        data=np.concatenate(parts, axis=1),
        sfreq=float(sfreq),
        ch_names=[str(c) for c in ch_names],
        seizures=seizures,
        pieces=table,
        taper_s=float(taper_s),
    )


def write_stitched(rec: Stitched, path: str | Path) -> Path:
    """Write ``path`` (.npz, project format, µV), ``<stem>.csv`` (onset_s,offset_s,label) and
    ``<stem>.json`` (the pieces, for the report). Returns the NPZ path."""
    from realtime.recordings import write_npz

    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"stitched recordings are written as .npz, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_npz(path, rec.data, rec.sfreq, rec.ch_names, unit="uV")
    with open(path.with_suffix(".csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["onset_s", "offset_s", "label"])
        for onset, offset in rec.seizures:
            w.writerow([f"{onset:.4f}", f"{offset:.4f}", SEIZURE])
    meta = {
        "sfreq": rec.sfreq,
        "duration_s": rec.duration_s,
        "taper_s": rec.taper_s,
        "seizures": rec.seizures,
        "background_s": rec.background_s,
        "pieces": rec.pieces,
    }
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return path


def interleave(background: Sequence[Piece], seizures: Sequence[Sequence[Piece]], gap_s: float) -> list[Piece]:
    """Background pieces with seizure blocks inserted: at least ``gap_s`` seconds of background before
    each block (and after the last), background used in order and reused cyclically if it runs out.

    ``seizures``: blocks, each a list of seizure pieces played back to back (one annotated event).
    """
    if not background:
        raise ValueError("interleave needs at least one background piece")
    out: list[Piece] = []
    i = 0

    def fill() -> None:
        nonlocal i
        acc = 0.0
        while acc < gap_s:
            b = background[i % len(background)]
            out.append(b)
            acc += np.shape(b.signal_uv)[-1] / b.sfreq
            i += 1

    for block in seizures:
        fill()
        out.extend(block)
    fill()
    return out
