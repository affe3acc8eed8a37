"""Recordings on disk -> :class:`Recording` (µV, one rate): EDF/BDF through edfio, and the project's NPZ.

Formats
-------
- ``.edf`` / ``.bdf`` (edfio): physical values, converted to µV from each signal's physical
  dimension (see :func:`realtime.preprocess.unit_scale_to_uv`). A signal with an empty dimension is
  assumed to be µV (warning). A signal whose dimension is not a voltage (``%``, ``bpm``, ``degC``...)
  is not EEG: it is dropped, with a warning. EDF+ annotations become ``(onset_s, offset_s, text)``.
- ``.npz``: ``data`` float ``[n_channels, n_samples]``, ``sfreq``, ``ch_names``, optional ``unit``
  (one string, or one per channel; default ``"uV"``). Read with ``allow_pickle=False``: object
  arrays are refused.
- Annotation sidecars beside the recording (:mod:`realtime.annotations`): ``<stem>.csv`` /
  ``<stem>.tsv`` (``onset_s,offset_s[,label]``, or BIDS/SzCORE ``onset,duration,eventType``), a BIDS
  ``<name>_events.tsv`` for ``<name>_eeg.edf``, a CHB-MIT ``chbNN-summary.txt``; their rows are
  added to the annotations.

Mixed sampling rates (EDF allows a rate per signal): every kept signal is resampled with
``scipy.signal.resample_poly`` to the most common rate among them (ties: the highest), and a warning
names the signals resampled. Warnings are logged and kept in ``Recording.warnings``.

Errors (:class:`RecordingError`, a ``ValueError``) name the file and quote the bad value: missing
file, unsupported extension, unreadable or malformed file, no usable channel.
"""

from __future__ import annotations

import collections
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from realtime.annotations import AnnotationError, sidecar_annotations
from realtime.preprocess import UnitError, resample_fraction, unit_scale_to_uv

log = logging.getLogger(__name__)

EXTENSIONS = (".edf", ".bdf", ".npz")


class RecordingError(ValueError):
    """A recording that cannot be read; the message names the file."""


@dataclass
class Recording:
    data: np.ndarray  # float64 [n_channels, n_samples], µV
    sfreq: float  # Hz
    ch_names: list[str]
    annotations: list[tuple[float, float, str]] = field(default_factory=list)  # (onset_s, offset_s, label)
    path: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.data.shape[1] / self.sfreq


def read_recording(path: str | Path) -> Recording:
    """Read an EDF/BDF/NPZ recording plus its annotations sidecar (if any)."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"recording {str(path)!r} does not exist")
    if not path.is_file():
        raise RecordingError(f"recording {str(path)!r} is not a file")
    ext = path.suffix.lower()
    if ext in (".edf", ".bdf"):
        rec = _read_edf(path, bdf=ext == ".bdf")
    elif ext == ".npz":
        rec = _read_npz(path)
    else:
        raise RecordingError(
            f"recording {str(path)!r}: unsupported extension {path.suffix!r} (expected one of {', '.join(EXTENSIONS)})"
        )
    try:
        rec.annotations.extend(sidecar_annotations(path))
    except AnnotationError as exc:
        raise RecordingError(str(exc)) from None
    for w in rec.warnings:
        log.warning("%s: %s", path, w)
    return rec


def _read_edf(path: Path, *, bdf: bool) -> Recording:
    import edfio

    try:
        edf = edfio.read_bdf(path) if bdf else edfio.read_edf(path)
    except Exception as exc:
        kind = "BDF" if bdf else "EDF"
        raise RecordingError(f"recording {str(path)!r} is not a readable {kind} file: {exc}") from None
    warnings: list[str] = []
    kept: list[tuple[str, float, np.ndarray]] = []  # name, rate, µV data
    for sig in edf.signals:
        dim = (sig.physical_dimension or "").strip()
        if dim == "":
            scale = 1.0
            warnings.append(f"signal {sig.label!r} has no physical dimension; assuming microvolts")
        else:
            try:
                scale = unit_scale_to_uv(dim)
            except UnitError:
                warnings.append(f"signal {sig.label!r} has physical dimension {dim!r}, not a voltage; dropped")
                continue
        kept.append((sig.label, float(sig.sampling_frequency), np.asarray(sig.data, dtype=np.float64) * scale))
    if not kept:
        raise RecordingError(
            f"recording {str(path)!r} has no voltage signals (signals: {[s.label for s in edf.signals]})"
        )
    rates = collections.Counter(rate for _, rate, _ in kept)
    sfreq = max(rates, key=lambda r: (rates[r], r))
    odd = [(name, rate) for name, rate, _ in kept if rate != sfreq]
    if odd:
        warnings.append(
            f"signals at other rates resampled to {sfreq:g} Hz: " + ", ".join(f"{n!r} ({r:g} Hz)" for n, r in odd)
        )
    rows = []
    n_samples = round(edf.duration * sfreq) if edf.duration else None
    for _name, rate, x in kept:
        if rate != sfreq:
            up, down = resample_fraction(rate, sfreq)
            x = resample_poly(x, up, down)
        rows.append(x)
    n = min(r.size for r in rows) if n_samples is None else min(min(r.size for r in rows), n_samples)
    data = np.vstack([r[:n] for r in rows])
    annotations = []
    for a in edf.annotations:
        onset = float(a.onset)
        offset = onset + float(a.duration) if a.duration is not None else onset
        annotations.append((onset, offset, str(a.text)))
    return Recording(
        data=data,
        sfreq=sfreq,
        ch_names=[name for name, _, _ in kept],
        annotations=annotations,
        path=str(path),
        warnings=warnings,
    )


def _read_npz(path: Path) -> Recording:
    if not zipfile.is_zipfile(path):
        raise RecordingError(f"recording {str(path)!r} is not a readable NPZ file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            missing = [k for k in ("data", "sfreq", "ch_names") if k not in keys]
            if missing:
                raise RecordingError(f"recording {str(path)!r} lacks array(s) {missing} (has {sorted(keys)})")
            data, sfreq, ch_names = z["data"], z["sfreq"], z["ch_names"]
            unit = z["unit"] if "unit" in keys else np.array("uV")
    except RecordingError:
        raise
    except ValueError as exc:  # object arrays need pickle, which is refused
        raise RecordingError(
            f"recording {str(path)!r}: cannot load without pickle ({exc}); store ch_names and "
            f"unit as string arrays, not object arrays"
        ) from None
    except Exception as exc:
        raise RecordingError(f"recording {str(path)!r} is not a readable NPZ file: {exc}") from None
    if data.ndim != 2 or not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)):
        raise RecordingError(
            f"recording {str(path)!r}: 'data' must be a numeric [n_channels, n_samples] array, "
            f"got shape {data.shape} dtype {data.dtype}"
        )
    if sfreq.size != 1 or not np.issubdtype(sfreq.dtype, np.number) or not float(sfreq) > 0:
        raise RecordingError(f"recording {str(path)!r}: 'sfreq' must be one positive number, got {sfreq!r}")
    if ch_names.ndim != 1 or ch_names.dtype.kind not in "US" or ch_names.size != data.shape[0]:
        raise RecordingError(
            f"recording {str(path)!r}: 'ch_names' must be {data.shape[0]} strings, got {ch_names!r:.200}"
        )
    names = [str(n) for n in ch_names.tolist()]
    units = [str(unit)] * len(names) if unit.ndim == 0 else [str(u) for u in unit.tolist()]
    if unit.dtype.kind not in "US" or len(units) != len(names):
        raise RecordingError(
            f"recording {str(path)!r}: 'unit' must be one string or {len(names)} strings, got {unit!r:.200}"
        )
    try:
        scale = np.array([unit_scale_to_uv(u) for u in units])
    except UnitError as exc:
        raise RecordingError(f"recording {str(path)!r}: {exc}") from None
    return Recording(data=data.astype(np.float64) * scale[:, None], sfreq=float(sfreq), ch_names=names, path=str(path))


def write_npz(path: str | Path, data: np.ndarray, sfreq: float, ch_names: Sequence[str], unit: str = "uV") -> Path:
    """Write the project's NPZ format (``data [n_channels, n_samples]``; no pickle); returns the path."""
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[0] != len(ch_names):
        raise ValueError(f"data must be [n_channels={len(ch_names)}, n_samples], got shape {data.shape}")
    unit_scale_to_uv(unit)  # refuse a unit the reader would refuse
    path = Path(path)
    np.savez(
        path, data=data, sfreq=np.float64(sfreq), ch_names=np.array([str(c) for c in ch_names]), unit=np.array(unit)
    )
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
