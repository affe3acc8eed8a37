"""The user's own recordings: EDF/BDF (or the project's NPZ) with seizure annotations.

Read through :func:`realtime.recordings.open_recording` (edfio; µV from each signal's physical
dimension; EDF+ annotations; sidecars: ``<stem>.csv``/``<stem>.tsv``, BIDS/SzCORE events, a CHB-MIT
summary: :mod:`realtime.annotations`). Which labels mean seizure: ``realtime.annotations.is_seizure_label``.
Which channels: the EEG channels by the daemon's own rule (:func:`training_rows`), or those named;
ECG, EMG, EOG, DC inputs, trend signals and the like never become training examples, just as the
daemon never scores them. Every channel kept becomes one :class:`Record` (resampled to the model
rate, per-sample labels), or, for a corpus larger than memory, one :class:`EdfChannel` (the header
and annotations only; the samples are read one channel at a time when the split is written or scored);
all channels of one file share a group id, so a split never separates them. To keep a patient's
files together, pass ``group_by="folder"`` (the parent folder names the group).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime.annotations import is_seizure_label
from train.datasets.records import Record, loaded, rail_mask, resample_to, resampled_length

log = logging.getLogger(__name__)

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


def training_terms(
    rec, channels=(), *, source: str = "", montage: str = "as_recorded"
) -> list[tuple[str, int, tuple[int, ...]]]:
    """The channels of ``rec`` to train on, re-referenced by ``montage`` (the daemon's ``signal.montage``,
    :class:`realtime.montage.Montage` on the rows of :func:`training_rows`, by their unique names, as the
    pipeline builds it): ``[(name, row, reference rows)]``, each channel being ``row`` minus the mean of
    its ``reference rows`` (none: as recorded; one: a bipolar derivation ``"Fp1-F7"``; every scalp
    electrode: the common average ``"Fp1-AVG"``). What the montage does (or why it cannot: an already
    bipolar recording stays as recorded) is logged, as the daemon logs it."""
    from realtime.montage import Montage

    rows = training_rows(rec, channels, source=source)
    if montage == "as_recorded" or not rows:
        return [(name, row, ()) for row, name in rows]
    m = Montage([name for _, name in rows], montage)
    log.info("%s: montage: %s", source, m.describe())
    return [(name, rows[i][0], tuple(rows[j][0] for j in ref)) for name, (i, ref) in zip(m.names, m.terms, strict=True)]


def seizure_spans(annotations, n_samples: int, sfreq_hz: float, segments=((0, 0.0),)) -> list[tuple[int, int]]:
    """``[(first, stop)]``: the samples of ``[0, n_samples)`` inside a seizure annotation ``[onset_s, offset_s)``
    (non-empty spans only; they may overlap).

    ``segments``: ``(first_sample, start_s)`` of each contiguous stretch, first samples at ``sfreq_hz``
    (an EDF+D with gaps: :attr:`realtime.recordings.RecordingInfo.segments`). Annotation times are
    recording times, gaps included, so each stretch's samples are labelled from its own start time;
    the part of a seizure that falls in a gap labels no sample.
    """
    spans = []
    ends = [first for first, _ in segments[1:]] + [n_samples]
    for onset, offset, label in annotations:
        if not is_seizure_label(label):
            continue
        if offset < onset:
            raise ValueError(f"annotation offset {offset!r} s is before its onset {onset!r} s")
        for (first, start_s), end in zip(segments, ends, strict=True):
            a = max(first, first + int(round((onset - start_s) * sfreq_hz)))
            b = min(end, first + int(round((offset - start_s) * sfreq_hz)))
            if b > a:
                spans.append((a, b))
    return spans


def seizure_mask(annotations, n_samples: int, sfreq_hz: float, segments=((0, 0.0),)) -> np.ndarray:
    """int8 ``[n_samples]``: 1 inside any seizure annotation (:func:`seizure_spans`), else 0."""
    m = np.zeros(n_samples, dtype=np.int8)
    for a, b in seizure_spans(annotations, n_samples, sfreq_hz, segments):
        m[a:b] = 1
    return m


def expand_paths(paths) -> list[Path]:
    """Each file of ``paths``, a folder replaced by the recordings under it (``realtime.recordings.recordings_under``,
    as ``realtime-detect --file`` reads a folder); ``FileNotFoundError`` for a path that does not exist."""
    from realtime.recordings import recordings_under

    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += recordings_under(p)
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"EDF path not found: {str(p)!r}")
    return out


@dataclass(frozen=True)
class EdfChannel:
    """One channel of one file to train on, without its samples: what the split and the balancing
    need (id, group, label, length), from the file's header and annotations. :meth:`load_group`
    reads the samples; :func:`train.datasets.records.loaded` does so one file, and one channel, at a time.

    ``n_samples`` and ``labels`` are at ``sample_rate_hz`` (the model rate), as in the :class:`Record`
    that :meth:`load_group` makes; ``seizures``: ``(onset_s, offset_s)`` of the file's seizure annotations.
    """

    recording_id: str
    group_id: str
    path: str
    row: int  # the channel's row in the file's RecordingInfo
    channel: str  # its label as written in the file
    n_samples: int
    sfreq_in_hz: float
    seizures: tuple[tuple[float, float], ...]
    sample_rate_hz: float = 250.0
    source: str = "edf"
    # (first_sample at sample_rate_hz, start_s) of each stretch of an EDF+D with gaps (RecordingInfo.segments)
    segments: tuple[tuple[int, float], ...] = ((0, 0.0),)
    # the rows whose mean is subtracted from ``row`` (training_terms: a bipolar derivation or the common average)
    reference_rows: tuple[int, ...] = ()

    @property
    def labels(self) -> np.ndarray:
        """int8 ``[n_samples]``: 1 inside a seizure (:func:`seizure_mask`, stretch by stretch)."""
        seizures = [(a, b, "seizure") for a, b in self.seizures]
        return seizure_mask(seizures, self.n_samples, self.sample_rate_hz, self.segments)

    @property
    def label(self) -> int:
        """1 when any sample is seizure (``labels.max()``, without making ``labels``)."""
        seizures = [(a, b, "seizure") for a, b in self.seizures]
        return int(bool(seizure_spans(seizures, self.n_samples, self.sample_rate_hz, self.segments)))

    @property
    def subset(self) -> str:
        return "seizure" if self.label else "background"

    @staticmethod
    def load_group(channels: list[EdfChannel]) -> Iterator[Record]:
        """The samples of ``channels`` (all of one file), one :class:`Record` each, one channel read at a
        time (a generator): one channel's samples in memory, however long the file and however many its
        channels. The annotations are not read again: the labels are those of the listing."""
        from realtime.recordings import open_recording

        if len({c.path for c in channels}) != 1:
            raise ValueError(f"load_group reads the channels of one file, got {sorted({c.path for c in channels})!r}")
        rec = open_recording(channels[0].path, annotations=False)
        averages: dict[tuple[int, ...], np.ndarray] = {}  # the common average: summed once, one row at a time
        for c in channels:
            x = rec.read(0, rec.n_samples, [c.row])[0]
            # clipped as recorded: the input's own rails, and a bipolar derivation's other input's (the daemon
            # leaves out a derivation whose input it left out; the average leaves a clipped electrode out of the
            # mean instead, which training does not: it keeps every electrode in the average)
            at_rail = rail_mask(x, c.sfreq_in_hz, c.sample_rate_hz, c.n_samples)
            if len(c.reference_rows) == 1:
                reference = rec.read(0, rec.n_samples, c.reference_rows)[0]
                at_rail |= rail_mask(reference, c.sfreq_in_hz, c.sample_rate_hz, c.n_samples)
                x -= reference
            elif c.reference_rows:
                if c.reference_rows not in averages:
                    total = np.zeros(rec.n_samples)
                    for r in c.reference_rows:
                        total += rec.read(0, rec.n_samples, [r])[0]
                    averages[c.reference_rows] = total / len(c.reference_rows)
                x -= averages[c.reference_rows]
            x = resample_to(x, c.sfreq_in_hz, c.sample_rate_hz)
            if len(x) != c.n_samples or rec.sfreq != c.sfreq_in_hz:
                raise ValueError(f"{c.path!r} changed since it was listed: {c.recording_id!r} is no longer as it was")
            meta = {"path": c.path, "channel": c.channel, "sfreq_in_hz": c.sfreq_in_hz}
            yield Record(
                c.recording_id,
                c.group_id,
                x.astype(np.float32),
                c.labels,
                c.source,
                c.subset,
                c.sample_rate_hz,
                meta,
                np.flatnonzero(at_rail),
            )


def list_edf(
    path: Path | str,
    *,
    sample_rate_hz: float = 250.0,
    channels=(),
    group_by: str = "file",
    montage: str = "as_recorded",
) -> list[EdfChannel]:
    """One file -> one :class:`EdfChannel` per channel of :func:`training_terms` (none: ``[]``, logged),
    from its header and annotations only (the samples are not read)."""
    from realtime.recordings import open_recording

    if group_by not in ("file", "folder"):
        raise ValueError(f"group_by must be 'file' or 'folder', got {group_by!r}")
    path = Path(path)
    rec = open_recording(path)
    group = f"edf:{path.parent.resolve()}" if group_by == "folder" else f"edf:{path.resolve()}"
    seizures = tuple((float(a), float(b)) for a, b, label in rec.annotations if is_seizure_label(label))
    try:  # an annotation that ends before it starts is refused now, not when the samples are read
        seizure_spans([(a, b, "seizure") for a, b in seizures], 0, sample_rate_hz)
    except ValueError as exc:
        raise ValueError(f"{str(path)!r}: {exc}") from None
    n = resampled_length(rec.n_samples, rec.sfreq, sample_rate_hz)
    segments = tuple((resampled_length(first, rec.sfreq, sample_rate_hz), start_s) for first, start_s in rec.segments)
    return [
        EdfChannel(
            f"edf/{path.name}#{name}",
            group,
            str(path),
            idx,
            name if reference else rec.ch_names[idx],
            n,
            rec.sfreq,
            seizures,
            sample_rate_hz,
            segments=segments,
            reference_rows=reference,
        )
        for name, idx, reference in training_terms(rec, channels, source=str(path), montage=montage)
    ]


def load_edf(
    path: Path | str,
    *,
    sample_rate_hz: float = 250.0,
    channels=(),
    group_by: str = "file",
    montage: str = "as_recorded",
) -> list[Record]:
    """One file -> one Record per channel of :func:`training_terms` (none: ``[]``, logged)."""
    listed = list_edf(path, sample_rate_hz=sample_rate_hz, channels=channels, group_by=group_by, montage=montage)
    return list(EdfChannel.load_group(listed)) if listed else []


def load_edf_paths(
    paths,
    *,
    sample_rate_hz: float = 250.0,
    channels=(),
    group_by: str = "file",
    montage: str = "as_recorded",
    lazy: bool = False,
) -> list:
    """Every file of ``paths`` (files, or folders searched recursively) -> its channels' Records, or with
    ``lazy`` their :class:`EdfChannel` s (headers and annotations only: the corpus need not fit in
    memory). ``ValueError`` when no channel is left to train on, or when two files would give one
    recording id (files of the same name in two folders)."""
    files = expand_paths(paths)
    if not files:
        raise FileNotFoundError(f"no EDF/BDF/NPZ files in {[str(p) for p in paths]!r}")
    out: list[EdfChannel] = []
    first_of: dict[str, Path] = {}
    for f in files:
        if (seen := first_of.setdefault(f.name, f)) != f:
            raise ValueError(
                f"two files named {f.name!r} ({str(seen)!r} and {str(f)!r}): recording ids are file names, rename one"
            )
        out += list_edf(f, sample_rate_hz=sample_rate_hz, channels=channels, group_by=group_by, montage=montage)
    if not out:
        where = [str(p) for p in paths]
        raise ValueError(f"no EEG channel to train on in the {len(files)} EDF/BDF/NPZ file(s) of {where!r}")
    return out if lazy else list(loaded(out))
