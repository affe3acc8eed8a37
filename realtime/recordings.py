"""Recordings on disk -> :class:`Recording` (µV, one rate), whole or block by block: EDF/BDF (edfio), NPZ.

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

``left_out`` (of :class:`RecordingInfo`, so of every recording) says what the reader left out and why
(keys made unique over the file's signals, ``#2`` for a repeat), ``channels`` describes every kept
row (the file's label, unit as written, transducer and own rate) for the pipeline's choice. Warnings
are logged (once, when the file is opened) and kept in ``warnings``.

Errors (:class:`RecordingError`, a ``ValueError``) name the file and quote the bad value: missing
file, unsupported extension, unreadable or malformed file, no signal left.

Reading by blocks
-----------------
:func:`open_recording` reads the header, chooses the channels and reads the sidecars, and returns a
:class:`RecordingInfo`: the metadata, ``n_samples`` and ``read(start, stop)`` (``float64
[n_channels, stop - start]``, µV). An EDF/BDF gives a :class:`LazyRecording`, which reads each block
from the file when asked (edfio's lazy signals, ``EdfSignal.get_data_slice``), so a scorer that
walks the recording block by block (:func:`realtime.offline.feed`) holds O(block) of signal however
long the file is; an NPZ gives a :class:`Recording` (``np.load`` decompresses the whole array
anyway). :func:`read_recording` is :func:`open_recording` plus ``load()``: the whole array, the same
values. Two exceptions hold more than a block:

- an EEG signal at another rate is resampled whole when the file is opened (``resample_poly`` on a
  block would differ at the block's edges) and kept in memory, float64 at the EEG rate: only those
  few signals;
- edfio (0.4.18) reads a BDF eagerly (no lazy loading for its 24-bit samples): the file's digital
  values stay in memory (int32, half of the float64 array), blocks are calibrated when read.

Values are bit-identical to reading the whole signal: edfio calibrates a slice with the same
``(digital + offset) * gain`` as the whole, and the unit scale is the same product.
"""

from __future__ import annotations

import logging
import operator
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
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


@dataclass(kw_only=True)
class RecordingInfo(ABC):
    """A recording's metadata and its samples on demand: ``read(start, stop)``. Subclasses:
    :class:`Recording` (the whole array in memory), :class:`LazyRecording` (an EDF/BDF read block by
    block)."""

    sfreq: float  # Hz
    ch_names: list[str]
    annotations: list[tuple[float, float, str]] = field(default_factory=list)  # (onset_s, offset_s, label)
    path: str = ""
    warnings: list[str] = field(default_factory=list)
    # one per row: the file's label, unit as written, transducer and own rate (samples are µV at
    # sfreq); empty when built by hand: filled from ch_names (unit "uV")
    channels: list[ChannelInfo] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # signals the reader did not keep: name -> why

    def __post_init__(self) -> None:
        if not self.channels:
            self.channels = [ChannelInfo(label=str(n), unit="uV") for n in self.ch_names]
        if len(self.channels) != len(self.ch_names):
            raise ValueError(f"got {len(self.channels)} channel descriptions for {len(self.ch_names)} channels")

    @property
    @abstractmethod
    def n_samples(self) -> int:
        """Samples per channel, at ``sfreq``."""

    @abstractmethod
    def _read(self, start: int, stop: int) -> np.ndarray:
        """``read`` once the range is checked."""

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` to ``stop`` (excluded) of every channel: float64 ``[n_channels, stop - start]``, µV.
        ``ValueError`` unless ``0 <= start <= stop <= n_samples``."""
        start, stop = operator.index(start), operator.index(stop)
        n = self.n_samples
        if not 0 <= start <= stop <= n:
            raise ValueError(
                f"recording {self.path or '(in memory)'!r}: cannot read samples {start} to {stop}: "
                f"it has {n} (0 <= start <= stop <= {n})"
            )
        return self._read(start, stop)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sfreq

    def metadata(self) -> dict[str, Any]:
        """The fields of :class:`RecordingInfo` (keywords for another recording of the same signals)."""
        return {f.name: getattr(self, f.name) for f in fields(RecordingInfo)}

    def load(self) -> Recording:
        """The whole recording in memory."""
        return Recording(data=self.read(0, self.n_samples), **self.metadata())

    def select(
        self, *, include: Sequence[str] = (), exclude: Sequence[str] = (), channels: Sequence[str] = ()
    ) -> Selection:
        """The rows the pipeline scores (:func:`realtime.channels.select_channels` on ``channels``:
        EEG only), for callers that read recordings without a pipeline (training); ``ValueError``
        when none is left."""
        return select_channels(self.channels, include=include, exclude=exclude, channels=channels)


@dataclass(kw_only=True)
class Recording(RecordingInfo):
    """A recording in memory: ``data`` float64 ``[n_channels, n_samples]``, µV."""

    data: np.ndarray  # float64 [n_channels, n_samples], µV

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    def _read(self, start: int, stop: int) -> np.ndarray:
        return self.data[:, start:stop]  # a view

    def load(self) -> Recording:
        return self


class _FileSignal:
    """One kept EDF/BDF signal at the EEG rate, read slice by slice from the file (µV)."""

    def __init__(self, signal: Any, scale: float, n_samples: int) -> None:
        self.signal, self.scale = signal, scale
        self.n_samples = n_samples  # the file's data records x the signal's samples per record

    def read(self, start: int, stop: int) -> np.ndarray:
        rate = self.signal.sampling_frequency  # edfio takes the sample index round(second * rate)
        x = np.asarray(self.signal.get_data_slice(start / rate, stop / rate), dtype=np.float64) * self.scale
        if x.size != stop - start:
            raise RecordingError(f"signal {self.signal.label!r}: read {x.size} samples for {start} to {stop}")
        return x


class _ArraySignal:
    """One kept signal held in memory (resampled to the EEG rate when the file was opened)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self.n_samples = x.size

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.x[start:stop]


@dataclass(kw_only=True, eq=False)
class LazyRecording(RecordingInfo):
    """An EDF/BDF read block by block: ``read(start, stop)`` reads those samples of every kept signal
    from the file (signals resampled at open are sliced from memory). Built by :func:`open_recording`."""

    length: int  # n_samples
    signals: list[_FileSignal | _ArraySignal] = field(repr=False)  # one per channel
    source: Any = field(default=None, repr=False)  # the edfio Edf/Bdf the signals read from, kept alive

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.signals) != len(self.ch_names):
            raise ValueError(f"got {len(self.signals)} signals for {len(self.ch_names)} channels")

    @property
    def n_samples(self) -> int:
        return self.length

    def _read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((len(self.signals), stop - start), dtype=np.float64)
        if stop > start:
            for row, sig in zip(out, self.signals, strict=True):
                row[:] = sig.read(start, stop)
        return out


def open_recording(path: str | Path) -> RecordingInfo:
    """Open an EDF/BDF/NPZ recording plus its annotations sidecar (if any): the header, the channel
    choice, the annotations and the warnings (logged here), the samples read when asked
    (:class:`LazyRecording` for EDF/BDF, :class:`Recording` for NPZ)."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"recording {str(path)!r} does not exist")
    if not path.is_file():
        raise RecordingError(f"recording {str(path)!r} is not a file")
    ext = path.suffix.lower()
    rec: RecordingInfo
    if ext in (".edf", ".bdf"):
        rec = _open_edf(path, bdf=ext == ".bdf")
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


def read_recording(path: str | Path) -> Recording:
    """Read an EDF/BDF/NPZ recording plus its annotations sidecar (if any), whole: :func:`open_recording`
    then ``load()``."""
    return open_recording(path).load()


def _open_edf(path: Path, *, bdf: bool) -> LazyRecording:
    import edfio

    try:
        # an EDF is memory-mapped, its signals read when asked; edfio reads a BDF whole (digital values)
        edf = edfio.read_bdf(path) if bdf else edfio.read_edf(path, lazy_load_data=True)
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
    rows: list[_FileSignal | _ArraySignal] = []
    for i in kept:
        unit, rate = infos[i].unit or "", infos[i].rate_hz or sfreq
        n_signal = edf.num_data_records * int(signals[i].samples_per_data_record)
        sig = _FileSignal(signals[i], unit_scale_to_uv(unit) if unit else 1.0, n_signal)
        if rate != sfreq:  # whole: resample_poly by blocks would differ at the blocks' edges
            up, down = resample_fraction(rate, sfreq)
            rows.append(_ArraySignal(resample_poly(sig.read(0, sig.n_samples), up, down)))
        else:
            rows.append(sig)
    n_samples = round(edf.duration * sfreq) if edf.duration else None
    n = min(r.n_samples for r in rows) if n_samples is None else min(min(r.n_samples for r in rows), n_samples)
    annotations = []
    for a in edf.annotations:
        onset = float(a.onset)
        offset = onset + float(a.duration) if a.duration is not None else onset
        annotations.append((onset, offset, str(a.text)))
    return LazyRecording(
        sfreq=sfreq,
        ch_names=[infos[i].label for i in kept],
        annotations=annotations,
        path=str(path),
        warnings=warnings,
        channels=[infos[i] for i in kept],
        left_out=left_out,
        length=n,
        signals=rows,
        source=edf,
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
