"""Recordings on disk -> :class:`Recording` (µV, one rate), whole or block by block: EDF/BDF (edfio), NPZ.

Formats
-------
- ``.edf`` / ``.bdf`` (edfio): physical values, converted to µV from each signal's physical
  dimension (see :func:`realtime.preprocess.unit_scale_to_uv`); dimensions and labels are read from the
  header's bytes: ASCII as the standard says, else UTF-8, else Windows-1252, else Latin-1 (Windows-era
  writers put µ as the byte 0xB5, which edfio reads as a replacement character). A signal with an empty
  dimension is assumed to be µV (warning). EDF+ annotations become ``(onset_s, offset_s, text)``. What
  edfio finds and fixes as it reads (a last data record cut short, a record count of -1 or one the file
  does not hold) becomes a warning of the recording (logged, in ``warnings``), not a Python warning.
- ``.npz``: ``data`` float ``[n_channels, n_samples]``, ``sfreq``, ``ch_names``, optional ``unit``
  (one string, or one per channel; default ``"uV"``). Read with ``allow_pickle=False``: object
  arrays are refused.
- Annotation sidecars beside the recording (:mod:`realtime.annotations`): ``<stem>.csv`` /
  ``<stem>.tsv`` (``onset_s,offset_s[,label]``, or BIDS/SzCORE ``onset,duration,eventType``), a BIDS
  ``<name>_events.tsv`` for ``<name>_eeg.edf``, a CHB-MIT ``chbNN-summary.txt``, TUSZ's ``.csv_bi`` /
  ``.csv`` / ``.tse_bi`` / ``.tse``; their rows are added to the annotations (an unreadable one is an
  error), except with ``open_recording(..., annotations=False)``: scoring and replay, which use none, and
  read neither the sidecars nor an EDF+ file's own annotations (which, corrupt, would fail the file).

Which EDF signals are kept (the rules are :mod:`realtime.channels`'s):

- a signal whose dimension is not a voltage (``%``, ``bpm``, ``degC``, ``s``...) cannot be read as
  µV: it is left out; so is one whose digital or physical range is empty (minimum = maximum: its values
  cannot be calibrated; edfio would hand back the raw digital values), or one whose digital minimum or maximum
  is not an integer or whose physical minimum or maximum is not a finite number (``"1,5"``, ``"nan"``, blank:
  the field and its value named; edfio reads such a field only when the signal is used, and the whole file
  failed). A record count that is not an integer, or a record duration that is not a positive number, is an
  error naming the field;
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
file, unsupported extension, unreadable or malformed file (a header whose length disagrees with its
number of signals included: the samples would be read from the wrong place), no signal left.

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
  values stay in memory (int32, half of the float64 array), blocks are calibrated when read. The read
  itself peaks at about 8 times the file's size (:data:`BDF_PEAK_PER_FILE_BYTE`, measured by
  ``benchmarks/bdf_memory.py``): a BDF for which that is more than the memory available to the process
  (:func:`available_memory_bytes`: the machine's, or its cgroup's limit) is refused with a
  :class:`RecordingError` saying so, instead of the process being killed halfway (a day of 32 channels at
  512 Hz is a 4.2 GB BDF: 34 GB to read). An NPZ is read whole too: its samples as stored plus their
  float64 copy in µV (from the ``.npy`` header in the archive, before any sample is read) are held to the
  same bound.

Values are bit-identical to reading the whole signal: edfio calibrates a slice with the same
``(digital + offset) * gain`` as the whole, and the unit scale is the same product.

Discontinuous recordings (EDF+D, BDF+D)
---------------------------------------
A clinical system that pauses a recording exports EDF+D: each data record carries its start time,
the time-keeping TAL (``+<onset>\\x14\\x14``) at the start of the first ``EDF Annotations`` signal of
the record (https://www.edfplus.info/specs/edfplus.html#timekeeping). For an EDF+D (``EDF+D`` /
``BDF+D`` in the header's reserved field) the reader parses those onsets from the file's bytes and
sets ``segments`` (of :class:`RecordingInfo`): one ``(first_sample, start_s)`` per contiguous run of
data records, ``first_sample`` at ``sfreq`` and ``start_s`` in seconds from the first data record's
onset (a record continues the previous one when its onset is the previous onset plus the record
duration, within half a sample). Every other recording (NPZ, EDF, EDF+C, an EDF+D whose records are
in fact contiguous) has ``((0, 0.0),)``. The samples are still read concatenated (``read``,
``load``): ``segments`` says where the seams are and ``gaps`` the paused stretches
``(start_s, end_s)``; a warning says how many gaps, how long, and the longest. A record that starts
before the previous one ends, a record without a time-keeping TAL, or an EDF+D without an
``EDF Annotations`` signal is a :class:`RecordingError`. An EEG signal at another rate is resampled
stretch by stretch (a filter across a seam would mix the two stretches).
"""

from __future__ import annotations

import itertools
import logging
import math
import operator
import re
import warnings as warnings_module
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
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


# Peak memory of reading a BDF per byte of the file (edfio reads a BDF whole: 7.7 measured, 30 and 120 min of 8
# channels at 512 Hz: benchmarks/bdf_memory.py, benchmarks/results/bdf-memory-vm-2026-12-03.json)
BDF_PEAK_PER_FILE_BYTE = 8.0


def available_memory_bytes() -> int | None:
    """Memory this process may still take (bytes): the machine's ``MemAvailable``, or less where its cgroup
    (a systemd unit's ``MemoryMax``, a container's limit) allows less; None when neither can be read. Never raises."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        groups = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        groups = []
    for line in groups:  # this process's group's limit and use: cgroup v2 ("0::/path") or v1's memory controller
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, group = parts
        if controllers == "":
            root, files = Path("/sys/fs/cgroup") / group.lstrip("/"), ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            root, files = (
                Path("/sys/fs/cgroup/memory") / group.lstrip("/"),
                ("memory.limit_in_bytes", "memory.usage_in_bytes"),
            )
        else:
            continue
        try:
            limit = (root / files[0]).read_text().strip()
            if limit != "max" and int(limit) < 1 << 60:  # v1 writes "no limit" as a huge number
                found.append(int(limit) - int((root / files[1]).read_text().strip()))
        except (OSError, ValueError):
            pass
    return max(0, min(found)) if found else None


def recordings_under(folder: str | Path) -> list[Path]:
    """The recordings in ``folder`` and its subfolders (:data:`EXTENSIONS`, in any case), sorted; an EDF+/BDF+ that
    holds annotations only (:func:`annotations_only`: a hypnogram, an event list beside its recording) is not a
    recording: left out, and logged."""
    found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    notes = {p for p in found if annotations_only(p)}
    if notes:
        log.info(
            "%s: %d file(s) without signals, annotations only (not recordings), left out: %s",
            folder,
            len(notes),
            ", ".join(sorted(p.name for p in notes)),
        )
    return [p for p in found if p not in notes]


def annotations_only(path: str | Path) -> bool:
    """Whether ``path`` is an EDF+/BDF+ file whose header lists annotation signals and nothing else (False for any
    other file, and for a header that cannot be read: reading the file then says why)."""
    path = Path(path)
    fmt = {".edf": "EDF", ".bdf": "BDF"}.get(path.suffix.lower())
    if fmt is None:
        return False
    try:
        header = _raw_header(path, fmt)
    except (RecordingError, OSError):
        return False
    return not header.ordinary


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
    # (first_sample, start_s) per contiguous stretch: the sample (at sfreq) where it starts and its time
    # in seconds from the recording's start; more than one only for an EDF+D with gaps (module docstring)
    segments: tuple[tuple[int, float], ...] = ((0, 0.0),)
    # the header's start of the first sample and its patient field as written (EDF/BDF; None and "" where a format
    # has neither, e.g. NPZ): offline scoring tells from them whether a file continues the one before it
    start: datetime | None = None
    patient: str = ""

    def __post_init__(self) -> None:
        if not self.channels:
            self.channels = [ChannelInfo(label=str(n), unit="uV") for n in self.ch_names]
        if len(self.channels) != len(self.ch_names):
            raise ValueError(f"got {len(self.channels)} channel descriptions for {len(self.ch_names)} channels")
        self.segments = _check_segments(self.segments, self.sfreq)

    @property
    @abstractmethod
    def n_samples(self) -> int:
        """Samples per channel, at ``sfreq``."""

    @abstractmethod
    def _read(self, start: int, stop: int, rows: Sequence[int]) -> np.ndarray:
        """``read`` once the range and the rows are checked."""

    def read(self, start: int, stop: int, rows: Sequence[int] | None = None) -> np.ndarray:
        """Samples ``start`` to ``stop`` (excluded) of every channel, or of ``rows`` in that order: float64
        ``[n_channels or len(rows), stop - start]``, µV. ``ValueError`` unless ``0 <= start <= stop <=
        n_samples`` and every row is a channel's."""
        start, stop = operator.index(start), operator.index(stop)
        n = self.n_samples
        if not 0 <= start <= stop <= n:
            raise ValueError(
                f"recording {self.path or '(in memory)'!r}: cannot read samples {start} to {stop}: "
                f"it has {n} (0 <= start <= stop <= {n})"
            )
        rows = range(len(self.ch_names)) if rows is None else [operator.index(r) for r in rows]
        if bad := [r for r in rows if not 0 <= r < len(self.ch_names)]:
            raise ValueError(
                f"recording {self.path or '(in memory)'!r}: no channel row {bad[0]!r} (it has {len(self.ch_names)})"
            )
        return self._read(start, stop, rows)

    @property
    def duration_s(self) -> float:
        """Seconds of signal (``n_samples / sfreq``): the gaps of an EDF+D are not counted."""
        return self.n_samples / self.sfreq

    @property
    def last_sample_s(self) -> float | None:
        """Time of the last sample, seconds from the recording's start, gaps included (None: no sample)."""
        if not self.n_samples:
            return None
        first, start_s = self.segments[-1]
        return start_s + (self.n_samples - 1 - first) / self.sfreq

    @property
    def gaps(self) -> list[tuple[float, float]]:
        """``(start_s, end_s)`` of every pause between two ``segments`` (empty for a contiguous recording)."""
        return _gaps(self.segments, self.sfreq)

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

    def _read(self, start: int, stop: int, rows: Sequence[int]) -> np.ndarray:
        if isinstance(rows, range) and rows == range(self.data.shape[0]):
            return self.data[:, start:stop]  # a view
        return self.data[list(rows), start:stop]

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

    def _read(self, start: int, stop: int, rows: Sequence[int]) -> np.ndarray:
        out = np.empty((len(rows), stop - start), dtype=np.float64)
        if stop > start:
            for row, r in zip(out, rows, strict=True):
                row[:] = self.signals[r].read(start, stop)
        return out


def open_recording(path: str | Path, *, annotations: bool = True) -> RecordingInfo:
    """Open an EDF/BDF/NPZ recording plus its annotations sidecar (if any): the header, the channel
    choice, the annotations and the warnings (logged here), the samples read when asked
    (:class:`LazyRecording` for EDF/BDF, :class:`Recording` for NPZ). ``annotations=False`` (scoring and
    replay, which use none): neither the files beside it nor an EDF+ file's own annotations are read, so
    annotations that cannot be read do not keep the recording from being scored (an EDF+D's record times,
    which place its gaps, are read either way). With annotations wanted (training, evaluation: seizures
    are labelled by them), any that cannot be read is an error naming the file."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"recording {str(path)!r} does not exist")
    if not path.is_file():
        raise RecordingError(f"recording {str(path)!r} is not a file")
    ext = path.suffix.lower()
    rec: RecordingInfo
    if ext in (".edf", ".bdf"):
        rec = _open_edf(path, bdf=ext == ".bdf", annotations=annotations)
    elif ext == ".npz":
        rec = _read_npz(path)
    else:
        raise RecordingError(
            f"recording {str(path)!r}: unsupported extension {path.suffix!r} (expected one of {', '.join(EXTENSIONS)})"
        )
    try:
        rec.annotations.extend(sidecar_annotations(path) if annotations else [])
    except AnnotationError as exc:
        raise RecordingError(str(exc)) from None
    for w in rec.warnings:
        log.warning("%s: %s", path, w)
    return rec


def read_recording(path: str | Path) -> Recording:
    """Read an EDF/BDF/NPZ recording plus its annotations sidecar (if any), whole: :func:`open_recording`
    then ``load()``."""
    return open_recording(path).load()


def _check_segments(segments: Sequence[tuple[int, float]], sfreq: float) -> tuple[tuple[int, float], ...]:
    """``segments`` as a tuple of ``(int, float)``; ``ValueError`` unless the first starts at sample 0,
    first samples increase and no stretch starts before the previous one ends (within half a sample)."""
    segs = tuple((operator.index(first), float(start)) for first, start in segments)
    if not segs or segs[0][0] != 0 or not all(math.isfinite(start) for _, start in segs):
        raise ValueError(f"segments must start at sample 0 with finite times, got {segs!r:.200}")
    for (f0, s0), (f1, s1) in itertools.pairwise(segs):
        if f1 <= f0 or s1 < s0 + (f1 - f0 - 0.5) / sfreq:
            raise ValueError(
                f"segments must go forward: ({f1}, {s1!r}) after ({f0}, {s0!r}) at {sfreq:g} Hz "
                f"overlaps the stretch before"
            )
    return segs


def _gaps(segments: Sequence[tuple[int, float]], sfreq: float) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` between consecutive stretches: where one ends (its start plus its samples) and
    the next starts."""
    return [(s0 + (f1 - f0) / sfreq, s1) for (f0, s0), (f1, s1) in itertools.pairwise(segments)]


def _secs(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def _gaps_warning(kind: str, gaps: Sequence[tuple[float, float]]) -> str:
    lengths = [end - start for start, end in gaps]
    longest = max(range(len(gaps)), key=lengths.__getitem__)
    return (
        f"{kind}: {len(gaps)} gap{'s' if len(gaps) != 1 else ''}, {_secs(sum(lengths))} s in all, the longest "
        f"{_secs(lengths[longest])} s at {_secs(gaps[longest][0])} s; scored stretch by stretch, times include the gaps"
    )


# the onset of the time-keeping TAL that starts a data record's first annotation signal: "+12.5\x14\x14"
_TIMEKEEPING = re.compile(rb"([+-][0-9]+(?:\.[0-9]*)?)[\x14\x15]")
_TAL_BYTES = 64  # bytes read at the start of each record's annotation signal: room for any onset


@dataclass(frozen=True)
class _RawHeader:
    """The header fields read from an EDF/BDF file's bytes, beside edfio's reading of it."""

    kind: str  # the reserved field's first 5 characters: "EDF+C", "EDF+D", "BDF+D", "" ...
    header_bytes: int  # as the header says
    labels: list[str]  # every signal's, annotation signals included (as written: :func:`_text`)
    dimensions: list[str]  # physical dimensions (as written: :func:`_text`; "\xb5V" is µV)
    per_record: list[int]  # samples per data record
    start: str  # the start date and time fields as written: "dd.mm.yyhh.mm.ss"
    # signal index -> why its calibration fields cannot be read (such a signal is left out, the others read)
    unreadable: dict[int, str] = field(default_factory=dict)

    @property
    def ordinary(self) -> list[int]:
        """Indices of the signals that are not annotation signals (edfio's ``signals``, in order)."""
        return [i for i, lb in enumerate(self.labels) if lb not in _ANNOTATION_LABELS]


_ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")


def _text(field: bytes) -> str:
    """A header field: ASCII as the standard says, else UTF-8, else Windows-1252, else Latin-1 (what Windows-era
    writers used: ``µ`` as 0xB5, an en dash as 0x96); cut at a NUL byte, with which some writers pad a field
    where the standard pads with spaces."""
    field = field.split(b"\x00", 1)[0]
    for encoding in ("utf-8", "cp1252"):
        try:
            return field.decode(encoding).strip()
        except UnicodeDecodeError:
            pass
    return field.decode("latin-1").strip()


def _raw_header(path: Path, fmt: str) -> _RawHeader:
    """The header of ``path`` (``fmt``: "EDF" or "BDF") from its bytes; :class:`RecordingError` if unreadable."""
    with path.open("rb") as f:
        head = f.read(256)
        kind = head[192:236].decode("ascii", "replace").strip()[:5]
        n_signals = _header_integer(path, fmt, "number of signals", head[252:256])
        header_bytes = _header_integer(path, fmt, "number of bytes in the header", head[184:192])
        if n_signals < 1:
            raise RecordingError(f"recording {str(path)!r} is not a readable {fmt} file: {n_signals} signals")
        sig = f.read(256 * n_signals)
    dims_at = 96 * n_signals  # every signal's label (16) and transducer (80), then the dimensions (8 each)
    at = 216 * n_signals  # label 16, transducer 80, dimension 8, 4 x 8 min/max, prefilter 80: then samples/record
    labels = [_text(sig[16 * i : 16 * (i + 1)]) for i in range(n_signals)]
    per_record = []
    for i in range(n_signals):
        text = _text(sig[at + 8 * i : at + 8 * (i + 1)])
        n = _integer(text)
        if n is None or n < 0:  # where every later signal's samples lie depends on it: the file cannot be read
            raise RecordingError(
                f"recording {str(path)!r} is not a readable {fmt} file: signal {i + 1} ({labels[i]!r}) has "
                f"{text!r} samples per data record, not a whole number"
            )
        per_record.append(n)
    _header_integer(path, fmt, "number of data records", head[236:244], " (-1 when unknown)")
    duration = _number(_text(head[244:252]))
    if duration is None or duration <= 0:
        raise RecordingError(
            f"recording {str(path)!r} is not a readable {fmt} file: its data record duration "
            f"{_text(head[244:252])!r} is not a positive number of seconds"
        )
    unreadable: dict[int, str] = {}
    for i in range(n_signals):
        for name, where, number in _CALIBRATION_FIELDS:
            text = _text(sig[where * n_signals + 8 * i : where * n_signals + 8 * (i + 1)])
            if number(text) is None:
                wanted = "an integer" if number is _integer else "a finite number"
                unreadable.setdefault(i, f"its {name} {text!r} is not {wanted}: its values cannot be calibrated")
    return _RawHeader(
        kind=kind,
        header_bytes=header_bytes,
        labels=labels,
        dimensions=[_text(sig[dims_at + 8 * i : dims_at + 8 * (i + 1)]) for i in range(n_signals)],
        per_record=per_record,
        start=head[168:184].decode("ascii", "replace"),
        unreadable=unreadable,
    )


def _header_integer(path: Path, fmt: str, name: str, raw: bytes, hint: str = "") -> int:
    """A header field that must be an integer; :class:`RecordingError` naming it and its value otherwise."""
    value = _integer(_text(raw))
    if value is None:
        raise RecordingError(
            f"recording {str(path)!r} is not a readable {fmt} file: its {name} {_text(raw)!r} is not an integer{hint}"
        )
    return value


def _integer(text: str) -> int | None:
    """A header field that must be an integer (``"-1"``, ``"32767"``), or None."""
    try:
        return int(text)
    except ValueError:
        return None


def _number(text: str) -> float | None:
    """A header field that must be a finite number (``"-3276.8"``, ``"1"``), or None (``"1,5"``, ``"nan"``, ``""``)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# a signal's calibration fields: (name, offset of the field for signal 0 in units of the signal count, parser)
_CALIBRATION_FIELDS = (
    ("physical minimum", 104, _number),
    ("physical maximum", 112, _number),
    ("digital minimum", 120, _integer),
    ("digital maximum", 128, _integer),
)


def _legacy_start(field: str) -> datetime | None:
    """The EDF header's start ``"dd.mm.yyhh.mm.ss"`` (years 85-99 are 19yy, 00-84 20yy, as the standard has it);
    None when it is not a date and time."""
    try:
        start = datetime.strptime(field, "%d.%m.%y%H.%M.%S")
    except ValueError:
        return None
    return start.replace(year=start.year + 100) if start.year < 1985 else start  # strptime reads 69-84 as 19yy


def _record_onsets(path: Path, header: _RawHeader, n_records: int, *, bdf: bool) -> np.ndarray | None:
    """For an EDF+D/BDF+D, each data record's start (seconds, from the time-keeping TAL), read from the file's
    bytes (per record, the first bytes of the first annotation signal); ``None`` for every other file."""
    kind, header_bytes, labels, per_record = header.kind, header.header_bytes, header.labels, header.per_record
    if kind not in ("EDF+D", "BDF+D") or n_records == 0:
        return None
    timekeeping = next((i for i, lb in enumerate(labels) if lb in _ANNOTATION_LABELS), None)
    if timekeeping is None:
        raise RecordingError(
            f"recording {str(path)!r} is {kind} (discontinuous) but has no 'EDF Annotations' signal: "
            f"the data records' start times are unknown"
        )
    width = 3 if bdf else 2
    record_bytes = sum(per_record) * width
    first = sum(per_record[:timekeeping]) * width
    take = min(per_record[timekeeping] * width, _TAL_BYTES)
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=header_bytes, shape=(n_records, record_bytes))
    try:
        raw = np.array(data[:, first : first + take])
    finally:
        del data
    onsets = np.empty(n_records, dtype=np.float64)
    for i, row in enumerate(raw):
        b = row.tobytes()
        m = _TIMEKEEPING.match(b)
        if m is None:
            raise RecordingError(
                f"recording {str(path)!r} ({kind}): data record {i} (counting from 0) does not start with a "
                f"time-keeping annotation ('+<onset>\\x14\\x14'): {b[:24]!r}"
            )
        onsets[i] = float(m.group(1))
    return onsets


def _record_runs(path: Path, kind: str, onsets: np.ndarray, duration: float, sfreq: float) -> list[tuple[int, float]]:
    """``(first_record, start_s)`` per contiguous run of data records, ``start_s`` from the first record's onset; a
    record that starts before the previous one ends (by more than half a sample) is a :class:`RecordingError`."""
    tol = 0.5 / sfreq
    step = onsets[1:] - (onsets[:-1] + duration)  # > 0: a gap before record i + 1; < 0: it goes back
    back = np.flatnonzero(step < -tol)
    if back.size:
        i = int(back[0]) + 1
        raise RecordingError(
            f"recording {str(path)!r} ({kind}): data record {i} (counting from 0) starts at {_secs(onsets[i])} s, "
            f"before the previous record (starting at {_secs(onsets[i - 1])} s, {_secs(duration)} s long) ends at "
            f"{_secs(onsets[i - 1] + duration)} s: records must not overlap or go back"
        )
    return [(0, 0.0)] + [(int(i) + 1, float(onsets[i + 1] - onsets[0])) for i in np.flatnonzero(step > tol)]


def _calibration_reason(signal: Any) -> str | None:
    """Why an EDF/BDF signal's values cannot be calibrated to its unit (an empty digital or physical range, or a
    digital range upside down), or None. edfio hands back the raw digital values of an empty digital range, with a
    Python warning only, and reads an inverted digital range as a negative gain: the standard asks for digital
    maximum > minimum (an inverted polarity is a physical range upside down), so such a header is broken and its
    polarity unknown, and a channel of unknown sign must not enter a common average."""
    dmin, dmax = signal.digital_min, signal.digital_max
    pmin, pmax = signal.physical_min, signal.physical_max
    if dmin == dmax:
        return f"digital minimum equals digital maximum ({dmin:g}): its values cannot be calibrated"
    if dmin > dmax:
        return f"digital minimum {dmin:g} above digital maximum {dmax:g}: a broken header, its polarity unknown"
    if pmin == pmax:
        return f"physical minimum equals physical maximum ({pmin:g}): its values cannot be calibrated"
    return None


def _edf_annotations(path: Path, edf: Any, fmt: str) -> list[tuple[float, float, str]]:
    """An EDF+/BDF+ file's annotations as ``(onset_s, offset_s, text)``; :class:`RecordingError` naming the file
    when edfio cannot read them (a data record's annotation bytes that are not UTF-8 or not a valid TAL)."""
    try:
        read = list(edf.annotations)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordingError(
            f"recording {str(path)!r}: its {fmt}+ annotations cannot be read ({exc}); scoring and replay, which "
            "use none, read it without them"
        ) from None
    out = []
    for a in read:
        onset = float(a.onset)
        out.append((onset, onset + float(a.duration) if a.duration is not None else onset, str(a.text)))
    return out


def _open_edf(path: Path, *, bdf: bool, annotations: bool = True) -> LazyRecording:
    import edfio

    fmt = "BDF" if bdf else "EDF"
    header = _raw_header(path, fmt)
    if not header.ordinary:
        raise RecordingError(
            f"recording {str(path)!r} holds no signal, only {fmt}+ annotations ({len(header.labels)} annotation "
            "signal(s)): an annotation file (a hypnogram, an event list) beside a recording, not one"
        )
    expected = 256 * (len(header.labels) + 1)
    if header.header_bytes != expected:  # the samples would be read from the wrong place: noise, not the signal
        raise RecordingError(
            f"recording {str(path)!r}: the header says it is {header.header_bytes} bytes long, but a header of "
            f"{len(header.labels)} signals is {expected} bytes: not a valid {fmt} file"
        )
    if bdf:  # read whole: refuse a file whose reading would not fit, rather than be killed for it
        need, available = BDF_PEAK_PER_FILE_BYTE * path.stat().st_size, available_memory_bytes()
        if available is not None and need > available:
            raise RecordingError(
                f"recording {str(path)!r}: a BDF is read whole (edfio decodes its 24-bit samples at once): about "
                f"{need / 1e9:.1f} GB at the peak for this {path.stat().st_size / 1e9:.2f} GB file, "
                f"{available / 1e9:.1f} GB available; split it, or convert it to EDF, which is read block by block"
            )
    try:
        with warnings_module.catch_warnings(record=True) as caught:  # a truncated file, a wrong record count
            warnings_module.simplefilter("always")
            # an EDF is memory-mapped, its signals read when asked; edfio reads a BDF whole (digital values)
            edf = edfio.read_bdf(path) if bdf else edfio.read_edf(path, lazy_load_data=True)
    except Exception as exc:
        raise RecordingError(f"recording {str(path)!r} is not a readable {fmt} file: {exc}") from None
    warnings: list[str] = [f"{fmt} reader: {w.message}" for w in caught]
    signals: list[Any] = list(edf.signals)  # EdfSignal or BdfSignal
    # labels and dimensions as written (edfio reads only ASCII: a Latin-1 µ or é became a replacement character)
    labels = [header.labels[i] for i in header.ordinary]
    dimensions = [header.dimensions[i] for i in header.ordinary]
    if len(dimensions) != len(signals):
        raise RecordingError(
            f"recording {str(path)!r}: {len(signals)} signals read, the header lists {len(dimensions)}"
        )
    infos = [
        ChannelInfo(
            label=label,
            unit=dim,
            transducer=(sig.transducer_type or "").strip(),
            rate_hz=float(sig.sampling_frequency),
        )
        for sig, label, dim in zip(signals, labels, dimensions, strict=True)
    ]
    sfreq = eeg_rate_hz(infos)
    keys = unique_names([c.label for c in infos])
    left_out: dict[str, str] = {}
    kept: list[int] = []
    for i, info in enumerate(infos):
        raw = header.ordinary[i]
        why = (
            header.unreadable.get(raw)
            or _calibration_reason(signals[i])
            or unit_reason(info)
            or rate_reason(info, sfreq)
        )
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
    onsets = _record_onsets(path, header, edf.num_data_records, bdf=bdf)
    runs = [(0, 0.0)] if onsets is None else _record_runs(path, header.kind, onsets, edf.data_record_duration, sfreq)
    rows: list[_FileSignal | _ArraySignal] = []
    for i in kept:
        unit, rate = infos[i].unit or "", infos[i].rate_hz or sfreq
        per_record = int(signals[i].samples_per_data_record)
        n_signal = edf.num_data_records * per_record
        sig = _FileSignal(signals[i], unit_scale_to_uv(unit) if unit else 1.0, n_signal)
        if rate != sfreq:  # whole: resample_poly by blocks would differ at the blocks' edges
            up, down = resample_fraction(rate, sfreq)
            if len(runs) == 1:
                rows.append(_ArraySignal(resample_poly(sig.read(0, sig.n_samples), up, down)))
            else:  # stretch by stretch: the filter must not reach across a gap
                cuts = [r * per_record for r, _ in runs] + [n_signal]
                parts = [resample_poly(sig.read(a, b), up, down) for a, b in itertools.pairwise(cuts)]
                rows.append(_ArraySignal(np.concatenate(parts)))
        else:
            rows.append(sig)
    n_samples = round(edf.duration * sfreq) if edf.duration else None
    n = min(r.n_samples for r in rows) if n_samples is None else min(min(r.n_samples for r in rows), n_samples)
    at_rate = [int(signals[i].samples_per_data_record) for i in kept if infos[i].rate_hz == sfreq]
    per_record_eeg = at_rate[0] if at_rate else round(sfreq * edf.data_record_duration)
    segments = [(r * per_record_eeg, start) for r, start in runs if r * per_record_eeg < n or r == 0]
    if len(segments) > 1:
        warnings.append(_gaps_warning(header.kind, _gaps(segments, sfreq)))
    events = _edf_annotations(path, edf, fmt) if annotations else []
    try:
        with warnings_module.catch_warnings(record=True) as caught:  # e.g. the EDF and EDF+ start dates disagree
            warnings_module.simplefilter("always")
            start: datetime | None = edf.startdatetime
        warnings += [f"{fmt} reader: {w.message}" for w in caught]
    except ValueError:  # EDF+ "Startdate X" (unknown) or a field edfio cannot parse: the EDF header's own fields
        start = _legacy_start(header.start)
        if start is None:  # then it cannot continue another file (realtime.offline)
            warnings.append(f"the header's start date and time cannot be read: {header.start!r}")
    return LazyRecording(
        sfreq=sfreq,
        ch_names=[infos[i].label for i in kept],
        annotations=events,
        path=str(path),
        warnings=warnings,
        channels=[infos[i] for i in kept],
        left_out=left_out,
        segments=tuple(segments),
        length=n,
        signals=rows,
        source=edf,
        start=start,
        patient=str(edf.local_patient_identification).strip(),
    )


def _npz_peak_bytes(path: Path) -> int | None:
    """Memory reading ``path``'s ``data`` takes at the peak: the array as stored plus its float64 copy in µV
    (bytes, from the ``.npy`` header inside the archive, no sample read); None when there is no readable header
    (the read that follows then says what is wrong)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("data.npy") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(fh)
    except (KeyError, OSError, ValueError, zipfile.BadZipFile):
        return None
    n = math.prod(shape)
    return n * (dtype.itemsize + 8)


def _read_npz(path: Path) -> Recording:
    if not zipfile.is_zipfile(path):
        raise RecordingError(f"recording {str(path)!r} is not a readable NPZ file (not a zip archive)")
    need, available = _npz_peak_bytes(path), available_memory_bytes()
    if need is not None and available is not None and need > available:  # refused, rather than killed for it
        raise RecordingError(
            f"recording {str(path)!r}: an NPZ is read whole: about {need / 1e9:.1f} GB for its samples and their "
            f"float64 copy, {available / 1e9:.1f} GB available; split it, or convert it to EDF, which is read "
            f"block by block"
        )
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
    uv = data.astype(np.float64)
    uv *= scale[:, None]  # in place: one float64 copy, not two
    return Recording(
        data=uv,
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
