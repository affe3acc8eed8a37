"""Recordings on disk -> :class:`Recording` (µV, one rate): EDF/BDF through edfio, and the project's NPZ.

Formats
-------
- ``.edf`` / ``.bdf`` (edfio): physical values, converted to µV from each signal's physical
  dimension (see :func:`realtime.preprocess.unit_scale_to_uv`). A signal with an empty dimension is
  assumed to be µV (warning). EDF+ annotations become ``(onset_s, offset_s, text)``.
- ``.npz``: ``data`` float ``[n_channels, n_samples]``, ``sfreq``, ``ch_names``, optional ``unit``
  (one string, or one per channel; default ``"uV"``). Read with ``allow_pickle=False``: object
  arrays are refused.
- Annotation sidecars beside the recording (:mod:`realtime.annotations`): ``<stem>.csv`` /
  ``<stem>.tsv`` (``onset_s,offset_s[,label]``, or BIDS/SzCORE ``onset,duration,eventType``), a BIDS
  ``<name>_events.tsv`` for ``<name>_eeg.edf``, a CHB-MIT ``chbNN-summary.txt``; their rows are
  added to the annotations.

Which EDF signals are kept (the rules are :mod:`realtime.channels`'s):

- a signal whose dimension is not a voltage (``%``, ``bpm``, ``degC``, ``s``...) cannot be read as
  µV: it is left out;
- the EEG rate is the most common rate among the voltage signals that are EEG by label and
  transducer (ties: the highest; :func:`realtime.channels.eeg_rate_hz`). A signal at another rate is
  left out when it is not EEG by its label or transducer, or when its rate is under 100 Hz (1 Hz
  trends); an EEG signal at another rate >= 100 Hz is resampled with ``scipy.signal.resample_poly``
  (warning naming it);
- every other signal is kept, non-EEG ones at the EEG rate included (an ECG at 250 Hz): the
  pipeline leaves those out (:func:`realtime.channels.select_channels`), unless the configuration
  names them in ``stream.channels``.

``Recording.left_out`` says what the reader left out and why (keys made unique over the file's
signals, ``#2`` for a repeat), ``Recording.channels`` describes every kept row (the file's label,
unit as written, transducer and own rate) for the pipeline's choice. Warnings are logged and kept in
``Recording.warnings``.

Errors (:class:`RecordingError`, a ``ValueError``) name the file and quote the bad value: missing
file, unsupported extension, unreadable or malformed file, no signal left.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from realtime.annotations import AnnotationError, sidecar_annotations
from realtime.channels import (
    ChannelInfo,
    Selection,
    describe_left_out,
    eeg_rate_hz,
    rate_reason,
    select_channels,
    unique_names,
    unit_reason,
)
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
    # one per row of data: the file's label, unit as written, transducer and own rate (data are µV at
    # sfreq); empty when built by hand: filled from ch_names (unit "uV")
    channels: list[ChannelInfo] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # signals the reader did not keep: name -> why

    def __post_init__(self) -> None:
        if not self.channels:
            self.channels = [ChannelInfo(label=str(n), unit="uV") for n in self.ch_names]
        if len(self.channels) != len(self.ch_names):
            raise ValueError(f"got {len(self.channels)} channel descriptions for {len(self.ch_names)} channels")

    @property
    def duration_s(self) -> float:
        return self.data.shape[1] / self.sfreq

    def select(
        self, *, include: Sequence[str] = (), exclude: Sequence[str] = (), channels: Sequence[str] = ()
    ) -> Selection:
        """The rows the pipeline scores (:func:`realtime.channels.select_channels` on ``channels``:
        EEG only), for callers that read recordings without a pipeline (training); ``ValueError``
        when none is left."""
        return select_channels(self.channels, include=include, exclude=exclude, channels=channels)


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
    signals: list[Any] = list(edf.signals)  # EdfSignal or BdfSignal
    infos = [
        ChannelInfo(
            label=str(sig.label),
            unit=(sig.physical_dimension or "").strip(),
            transducer=(sig.transducer_type or "").strip(),
            rate_hz=float(sig.sampling_frequency),
        )
        for sig in signals
    ]
    sfreq = eeg_rate_hz(infos)
    keys = unique_names([c.label for c in infos])
    left_out: dict[str, str] = {}
    kept: list[int] = []
    for i, info in enumerate(infos):
        why = unit_reason(info) or rate_reason(info, sfreq)
        if why:
            left_out[keys[i]] = why
        else:
            kept.append(i)
    if not kept or sfreq is None:
        raise RecordingError(f"recording {str(path)!r} has no signal left to score: {describe_left_out(left_out)}")
    if left_out:
        warnings.append(f"signals left out: {describe_left_out(left_out)}")
    for i in kept:
        if not infos[i].unit:
            warnings.append(f"signal {infos[i].label!r} has no physical dimension; assuming microvolts")
    odd = [infos[i] for i in kept if infos[i].rate_hz != sfreq]
    if odd:
        warnings.append(
            f"signals at other rates resampled to {sfreq:g} Hz: "
            + ", ".join(f"{c.label!r} ({c.rate_hz:g} Hz)" for c in odd)
        )
    rows = []
    for i in kept:
        unit, rate = infos[i].unit or "", infos[i].rate_hz or sfreq
        x = np.asarray(signals[i].data, dtype=np.float64) * (unit_scale_to_uv(unit) if unit else 1.0)
        if rate != sfreq:
            up, down = resample_fraction(rate, sfreq)
            x = resample_poly(x, up, down)
        rows.append(x)
    n_samples = round(edf.duration * sfreq) if edf.duration else None
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
        ch_names=[infos[i].label for i in kept],
        annotations=annotations,
        path=str(path),
        warnings=warnings,
        channels=[infos[i] for i in kept],
        left_out=left_out,
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
    return Recording(
        data=data.astype(np.float64) * scale[:, None],
        sfreq=float(sfreq),
        ch_names=names,
        path=str(path),
        channels=[ChannelInfo(label=n, unit=u) for n, u in zip(names, units, strict=True)],
    )


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
