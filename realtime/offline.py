"""Offline scoring (``realtime-detect --file REC [REC ...] --json [--windows]``).

A ``REC`` that is a folder stands for the recordings in it and its subfolders (EDF, BDF, NPZ; sorted: a folder
without any is an error line).

Each recording is fed through the same :class:`realtime.pipeline.Pipeline` as a live stream (every
hop is scored), at full speed: samples are pushed one hop at a time with
timestamps in seconds from the start of the recording, so every ``time`` in the output is seconds
from the start. An EDF/BDF is read from the file a block of hops at a time (:func:`feed`,
:func:`realtime.recordings.open_recording`), so an hours-long recording needs memory for one block
(about :data:`FEED_BLOCK_S` of signal), not the whole array. Output is JSON lines on ``out``:

- first, per file, the channels: ``{"type": "channels", "file", "scored": [names], "left_out":
  {name: reason}}``: the channels scored (repeats keyed ``#2``) and every signal left out, by the
  reader (:mod:`realtime.recordings`: not a voltage, another rate) or by the pipeline
  (:func:`realtime.channels.select_channels`: not EEG by label, transducer or type;
  ``stream.include``/``stream.exclude``/``stream.channels``; with a montage, inputs no derivation
  uses), each with its reason, and ``"montage"`` (what re-referencing does, ``Montage.describe``);
  with ``scored`` the derivations when a montage applies. The left-out ones are also logged as a
  warning, with the bed rule (:meth:`Pipeline.channels_detail`). ``"gaps": [[start_s, end_s], ...]``:
  where a discontinuous recording (EDF+D) was paused (empty when it was not): times after a gap
  include it, each stretch is scored as after a reconnect (:func:`feed`) and no window spans a gap;
- one line per event: the ``seizure.onset`` / ``seizure.offset`` message exactly as the daemon would
  publish it (:mod:`realtime.messages`, stamped with ``seq``/``wall_time``), plus ``"file"``;
  the stream identity is ``{"name": <file name>, "type": "file", "source_id": <path>}``;
- with ``windows=True``, one line per window: ``{"type": "window", "file", "time", "window_start",
  "window_end", "probability", "raw_probability", "channel_probabilities": {name: p},
  "flagged_channels": {name: reason}}`` (a probability is ``null`` when every channel was flagged;
  repeated channel names get ``#2``, ``#3`` suffixes as keys);
- ``"continues"`` in the channels line: the last file scored of the same folder and patient field (:func:`end_key`;
  other patients' files may come between) when this one continues it (None otherwise; :func:`carry_from`): the same
  channels scored at the same rate and montage, and a start in the header at most :data:`CONTINUE_EARLY_S` before
  that file's end and at most ``signal.amplitude_span_s`` after it (an archive's recording split into files). The
  background scaler then starts from that file's last levels, as the daemon's does after a reconnect of the same
  device (docs/background.md "Files that continue one another"); everything else (buffer, decision, events) starts
  anew per file. ``"same_patient"``: that file when this one does not continue it but its header names the same
  patient (:func:`names_patient`; the same channels, rate and montage; a start within :data:`SAME_PATIENT_S` of
  that file's end, before or after it): its last levels are the scaler's prior all the same (docs/background.md
  "The same patient's earlier file");
- for a file that cannot be read or scored: ``{"type": "error", "file", "error"}``; the other
  files are still processed and the return code is 1 (0 when every file was scored). A model that
  cannot be loaded gives one error line with ``"file": null`` and return code 1;
- last, over every file scored: ``{"type": "summary", "file": null, "files", "failed", "signal_s", "onsets",
  "onsets_per_hour", "onsets_per_hour_ci95", "onsets_background_unknown", "files_levels_carried"}``
  (:func:`summary_line`; also logged): on seizure-free EEG, the false-alarm rate with its exact 95 % interval, how
  many alarms came before the background was known, and how many files started with it known.

Events become messages through :func:`realtime.messages.window_messages`, and the signal-quality
report (channels left out and why, atypical amplitude) is :func:`realtime.messages.quality_detail`,
exactly as in the daemon; the report is logged as a warning whenever it changes. The decision and
amplitude settings are the model card's unless the config file or a flag sets them
(:func:`realtime.config.apply_model_settings`); their values and sources are logged once.
"""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import sys
import time
from collections.abc import Iterator, MutableMapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np

from realtime.channels import describe_left_out
from realtime.config import (
    CARRY_CHOICES,
    Config,
    ConfigError,
    apply_model_settings,
    describe_settings,
    montage_asked,
    montage_warning,
)
from realtime.levels import SAME_PATIENT_S
from realtime.messages import (
    Envelope,
    Sequencer,
    event_messages,
    quality_key,
    scaled_to_report,
    to_json,
    window_messages,
)
from realtime.pipeline import Pipeline, WindowResult
from realtime.recordings import EXTENSIONS, RecordingInfo, open_recording, recordings_under

log = logging.getLogger(__name__)

# :func:`feed` reads the recording this much at a time (rounded down to whole hops, at least one):
# the signal held is O(block), not O(recording) (a day of 41 signals at 256 Hz is 7 GB of float64)
FEED_BLOCK_S = 60.0
# a long recording logs its progress at most this often (wall seconds): an hours-long file takes minutes
PROGRESS_EVERY_S = 30.0
# a file continues the one before it when it starts at most this long before that one's end: an EDF header's start
# time has whole seconds (docs/background.md "Files that continue one another")
CONTINUE_EARLY_S = 1.0
# words of a patient field that name no patient: EDF+'s X (not known) and what anonymisers and archives write instead
# (CHB-MIT: "Surrogate Name")
PATIENT_PLACEHOLDERS = frozenset(
    (  # noqa: SIM905 (one line of words reads better than a column of them)
        "x xx xxx 0 anon anonymous anonymised anonymized deidentified de-identified redacted unknown none null na n/a "
        "patient subject surrogate name noname test"
    ).split()
)
# an EDF+ patient field: "code sex birthdate name [...]", each subfield X when not known
_FILLER = re.compile(r"[0x]+")  # a code of zeros or x's (00000000, XXXX) is a blank, not a patient
_EDF_PLUS_PATIENT = re.compile(r"(\S+) ([MFX]) (\d{2}-[A-Z]{3}-\d{4}|X) (\S+)(?: .*)?", re.IGNORECASE)


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def recording_pipeline(rec: RecordingInfo, config: Config, detector) -> Pipeline:
    """The pipeline that scores ``rec`` offline (every hop), with ``config``'s settings and channel
    choice (``rec``'s samples are µV already; the file's types and transducers inform the choice). A channel
    that ``stream.channels`` names but the reader left out is an error quoting the reader's reason."""
    dropped = {c: rec.left_out[c] for c in config.stream.channels if c in rec.left_out and c not in rec.ch_names}
    if dropped:
        raise ValueError(
            f"stream.channels names channel(s) the reader left out: {describe_left_out(dropped)}; "
            f"the recording has {rec.ch_names}"
        )
    return Pipeline(
        detector,
        sfreq=rec.sfreq,
        ch_names=rec.ch_names,
        units=None,
        types=[c.type for c in rec.channels],
        transducers=[c.transducer for c in rec.channels],
        window=config.window,
        decision=config.decision,
        channels=config.stream.channels,
        include=config.stream.include,
        exclude=config.stream.exclude,
        signal=config.signal,
        montage_asked=montage_asked(config, getattr(detector, "settings", None)),
    )


def left_out_channels(rec: RecordingInfo, pipe: Pipeline) -> dict[str, str]:
    """What the reader and the pipeline left out, name -> why (a name both use gets ``#2``, ...)."""
    out = dict(rec.left_out)
    for name, why in pipe.left_out_channels.items():
        key, n = name, 1
        while key in out:
            n += 1
            key = f"{name}#{n}"
        out[key] = why
    return out


def feed(pipe: Pipeline, rec: RecordingInfo, hop_s: float) -> Iterator[WindowResult]:
    """Push ``rec``'s samples ``[n_channels, n_samples]`` into ``pipe`` one hop at a time, with timestamps in
    seconds from the recording's start, and yield every window result. The caller flushes ``pipe`` at the end.

    ``rec`` is read in blocks of whole hops (about :data:`FEED_BLOCK_S`), so the signal held is one
    block; the chunks pushed and their timestamps do not depend on the block size.

    A recording paused and resumed (an EDF+D with gaps: ``rec.segments``) is fed stretch by stretch: the
    timestamps of a stretch are ``start_s + (i - first_sample) / sfreq`` (they include the gaps), no
    chunk spans two stretches (hops and blocks start again at each stretch), and ``pipe.reset()`` comes
    before each later stretch, as the daemon resets when a stream is lost and comes back: the time
    that passed counts on the sample clock, no window spans the gap, the decision settles again, a
    published seizure event stays open across the gap, and after a pause of at most ``pipe.background_keep_s``
    the background scaler keeps its levels as a prior (``Pipeline.reset(keep_background=True)``).
    """
    hop = max(1, round(hop_s * rec.sfreq))
    block = hop * max(1, round(FEED_BLOCK_S * rec.sfreq) // hop)
    n = rec.n_samples
    segments = [(first, start_s) for first, start_s in rec.segments if first < n or first == 0]
    ends = [first for first, _ in segments[1:]] + [n]
    previous_end_s = 0.0
    for k, ((seg_first, start_s), seg_end) in enumerate(zip(segments, ends, strict=True)):
        if k:  # the same recording resumed: the scaler's levels carry over a pause of up to background_keep_s
            pipe.reset(keep_background=start_s - previous_end_s <= pipe.background_keep_s)
        previous_end_s = start_s + (seg_end - seg_first) / rec.sfreq
        for first in range(seg_first, seg_end, block):
            last = min(seg_end, first + block)
            data = rec.read(first, last)
            times = start_s + np.arange(first - seg_first, last - seg_first, dtype=np.float64) / rec.sfreq
            for start in range(0, last - first, hop):
                stop = min(last - first, start + hop)
                pipe.push(data[:, start:stop].T, times[start:stop])
                yield from pipe.step()


class FileEnd(NamedTuple):
    """What the file scored next needs to tell whether it continues this one (:func:`continues`), and then takes
    from it: the background scaler's last levels (``[n_channels]``, :meth:`Pipeline.background_levels`)."""

    path: str
    folder: Path
    patient: str
    layout: tuple
    end: datetime
    levels: np.ndarray


def end_key(rec: RecordingInfo) -> tuple[Path, str]:
    """The folder and patient field under which offline scoring keeps the last file scored (its :class:`FileEnd`): a
    file takes its levels from the last file of its own folder and patient field, even with another patient's files
    between them (an archive's folder sorted by time)."""
    return Path(rec.path).resolve().parent, rec.patient


def _layout(rec: RecordingInfo, pipe: Pipeline) -> tuple:
    return rec.sfreq, tuple(pipe.unique_ch_names), pipe.montage.describe()


def file_end(rec: RecordingInfo, pipe: Pipeline) -> FileEnd | None:
    """``rec``'s end as scored by ``pipe``, for the file after it; None when nothing can continue it (its format
    gives no start time, scaling is off, or it has no sample)."""
    levels, last_s = pipe.background_levels(), rec.last_sample_s
    if rec.start is None or levels is None or last_s is None:
        return None
    end = rec.start + timedelta(seconds=last_s + 1.0 / rec.sfreq)
    return FileEnd(rec.path, *end_key(rec), _layout(rec, pipe), end, levels)


def names_patient(field: str) -> bool:
    """Whether an EDF/BDF header's patient field names a patient: in an EDF+ field (``code sex birthdate name``) a
    code or name that is not ``X``; in any other, a word that is not a placeholder (:data:`PATIENT_PLACEHOLDERS`, or
    only zeros and x's: ``00000000``, ``XXXX``)."""
    m = _EDF_PLUS_PATIENT.fullmatch(field.strip())
    words = [w.strip("_-.,").lower() for w in ([m.group(1), m.group(4)] if m else field.split())]
    return any(re.search(r"[0-9a-z]", w) and w not in PATIENT_PLACEHOLDERS and not _FILLER.fullmatch(w) for w in words)


class Carry(NamedTuple):
    """Why a file's background scaler starts from the levels of the last file scored of its folder and patient field
    (``previous``, :func:`end_key`):
    ``kind`` ``"continues"`` (it starts where that one ended) or ``"same_patient"`` (its header names the same
    patient); ``gap_s``: seconds from that file's end to this one's start (negative: it starts before that end)."""

    previous: str
    kind: str
    gap_s: float


def carry_from(
    previous: FileEnd | None, rec: RecordingInfo, pipe: Pipeline, *, same_patient: bool = True
) -> Carry | None:
    """Whether ``rec`` (to be scored by ``pipe``) starts from ``previous``'s levels: both in the same folder, with the
    same patient field and layout (rate, channels scored, montage), and ``rec`` either continues ``previous`` (a start
    from :data:`CONTINUE_EARLY_S` before its end to ``pipe.background_keep_s`` after it) or, with ``same_patient``,
    names a patient (:func:`names_patient`) and starts within :data:`SAME_PATIENT_S` of that end; else None."""
    if previous is None or rec.start is None:
        return None
    if (*end_key(rec), _layout(rec, pipe)) != (previous.folder, previous.patient, previous.layout):
        return None
    gap_s = (rec.start - previous.end).total_seconds()
    if -CONTINUE_EARLY_S <= gap_s <= pipe.background_keep_s:
        return Carry(previous.path, "continues", gap_s)
    if same_patient and abs(gap_s) <= SAME_PATIENT_S and names_patient(rec.patient):
        return Carry(previous.path, "same_patient", gap_s)
    return None


def continued_pipeline(
    rec: RecordingInfo, config: Config, detector, previous: FileEnd | None, *, same_patient: bool = True
) -> tuple[Pipeline, Carry | None]:
    """:func:`recording_pipeline`, its scaler starting from ``previous``'s last levels when :func:`carry_from` says so:
    ``(pipe, the carry or None)``. Offline scoring, the evaluation and the experiments build a file's pipeline with it,
    so that they score what ``--file`` scores; ``same_patient=False``: only a file that continues ``previous``."""
    pipe = recording_pipeline(rec, config, detector)
    carry = carry_from(previous, rec, pipe, same_patient=same_patient)
    if previous is not None and carry is not None:
        pipe.carry_background(previous.levels)
    return pipe, carry


class Scored(NamedTuple):
    """What :func:`score_recording` scored: its events (onsets and offsets), seizure onsets, seconds of signal, its
    end for the file after it (:func:`file_end`), the onsets said to come before their channels' background was
    known (``background_unknown``), and whether it started from the previous file's levels (:func:`carry_from`)."""

    events: int
    onsets: int
    signal_s: float
    end: FileEnd | None = None
    onsets_background_unknown: int = 0
    levels_carried: bool = False


def score_recording(
    path: str | Path,
    config: Config,
    detector,
    *,
    windows: bool,
    out: IO[str],
    sequencer: Sequencer,
    host: str,
    ends: MutableMapping[tuple[Path, str], FileEnd] | None = None,
    carry: str = "patient",
) -> Scored:
    """Score one recording, writing its lines to ``out``; ``ends``: the end of the last file scored of each folder and
    patient field (:func:`end_key`), whose entry for this file may give it its background levels (:func:`carry_from`)
    and is replaced by this file's end (removed when nothing can continue it); ``carry``: one of
    :data:`CARRY_CHOICES`."""
    rec = open_recording(path, annotations=False)  # scoring uses no annotations
    file = str(path)
    previous = None if carry == "none" else (ends or {}).get(end_key(rec))
    pipe, took = continued_pipeline(rec, config, detector, previous, same_patient=carry == "patient")
    if took is not None:
        how = (
            f"continues {took.previous} (the same folder, patient and channels, {took.gap_s:.1f} s after its end)"
            if took.kind == "continues"
            else f"is the same patient's recording as {took.previous} (the same folder, patient field and channels; "
            f"it starts {took.gap_s / 3600.0:+.2f} h from that file's end)"
        )
        log.info("%s %s: its background levels scale the channels until this file has its own history", file, how)
    env = Envelope.of({"name": Path(path).name, "type": "file", "source_id": file}, host, detector.model_version)
    names = pipe.unique_ch_names
    left_out = left_out_channels(rec, pipe)
    channels = {
        "type": "channels",
        "file": file,
        "scored": list(names),
        "left_out": left_out,
        "montage": pipe.montage.describe(),
        "gaps": [[start, end] for start, end in rec.gaps],
        "continues": took.previous if took is not None and took.kind == "continues" else None,
        "same_patient": took.previous if took is not None and took.kind == "same_patient" else None,
    }
    out.write(json.dumps(channels, ensure_ascii=False, separators=(",", ":")) + "\n")
    detail = pipe.channels_detail()
    if rec.left_out:
        detail += f"; left out by the reader: {describe_left_out(rec.left_out)}"
    (log.warning if left_out else log.info)("%s: %s", file, detail)
    n_events = n_onsets = n_unknown = 0
    quality_reported: tuple = ()
    scaled_reported: frozenset[str] = frozenset()

    def emit(messages) -> None:
        nonlocal n_events, n_onsets, n_unknown
        for msg in messages:
            msg = sequencer.stamp(msg)
            msg["file"] = file
            out.write(to_json(msg) + "\n")
            n_events += 1
            n_onsets += msg["type"] == "seizure.onset"
            n_unknown += "background_unknown" in msg

    started = last_progress = time.monotonic()
    for r in feed(pipe, rec, config.window.hop_s):
        now = time.monotonic()
        if now - last_progress >= PROGRESS_EVERY_S:
            last_progress = now
            done_s = r.window_end - sum(end - start for start, end in rec.gaps if end <= r.window_end)
            log.info(
                "%s: %.0f of %.0f s of signal scored (%.0fx real time), %d events so far",
                file,
                done_s,
                rec.duration_s,
                done_s / max(now - started, 1e-9),
                n_events,
            )
        if windows:
            line = {
                "type": "window",
                "file": file,
                "time": r.window_end,
                "window_start": r.window_start,
                "window_end": r.window_end,
                "probability": _num(r.probability),
                "raw_probability": _num(r.raw_probability),
                "channel_probabilities": {nm: _num(p) for nm, p in zip(names, r.channel_probabilities, strict=False)},
                "flagged_channels": dict(r.flagged_channels),
                "amplitude_flags": dict(r.amplitude_flags),
                "scaled_channels": {nm: round(f, 4) for nm, f in r.scaled_channels.items()},
            }
            out.write(json.dumps(line, allow_nan=False, separators=(",", ":")) + "\n")
        emit(window_messages(r, env, names))
        scaled_reported = scaled_to_report(scaled_reported, r.scaled_channels)
        quality = quality_key(r.flagged_channels, r.amplitude_flags, scaled_reported)
        if quality != quality_reported:
            log.warning(
                "%s: signal quality at %.1f s: %s",
                file,
                r.window_end,
                pipe.quality_detail(r.flagged_channels, r.amplitude_flags, r.scaled_channels),
            )
            quality_reported = quality
    emit(event_messages(pipe.flush(), env, names))
    amp = pipe.amplitude
    atypical = {nm: flag for nm, flag in zip(names, amp.flags(), strict=False) if flag}
    if atypical:
        log.warning(
            "%s: at the end: %s; these channels' scores are unreliable", file, pipe.quality_detail({}, atypical)
        )
    if pipe.windows_total == 0:
        log.warning(
            "%s: %.1f s %s shorter than one window (%.2f s): nothing scored",
            file,
            rec.duration_s,
            "is" if len(rec.segments) == 1 else f"in {len(rec.segments)} stretches, each",
            pipe.native_window_samples / rec.sfreq,
        )
    out.flush()
    end = file_end(rec, pipe)
    if ends is not None:
        ends.pop(end_key(rec), None)
        if end is not None:
            ends[end_key(rec)] = end
    return Scored(n_events, n_onsets, scorable_s(rec, pipe.native_window_samples), end, n_unknown, took is not None)


def scorable_s(rec: RecordingInfo, window_samples: int) -> float:
    """Seconds of ``rec``'s signal in contiguous stretches of at least one window (``window_samples`` at its rate):
    a stretch shorter than a window is never scored, so no alarm could have come from it, and it is no time of the
    summary's rate (a folder of clips under 4 s would otherwise read as hours of quiet EEG)."""
    lengths = np.diff([*(first for first, _ in rec.segments), rec.n_samples])
    return float(lengths[lengths >= window_samples].sum()) / rec.sfreq


def summary_line(scored: Sequence[Scored], failed: int) -> dict:
    """The last line of offline scoring: ``{"type": "summary", "file": null, "files", "failed", "files_unscored",
    "signal_s", "onsets", "onsets_per_hour", "onsets_per_hour_ci95": [low, high], "onsets_background_unknown",
    "files_levels_carried"}`` over the files scored (of them, those with no stretch as long as a window: nothing
    scored; the seconds of signal in the stretches that were; the rate and its exact Poisson interval,
    :func:`realtime.rates.poisson_interval`, ``null`` without signal; of the onsets, those raised before their
    channels' background level was known, on channels above the scaler's limit; the files that started from the
    previous file's background levels, as its continuation or the same patient's: the others each opened an unscaled
    start).
    On seizure-free EEG every onset is a false alarm: this is the false-alarm rate, with its uncertainty."""
    from realtime.rates import poisson_interval

    signal_s = sum(s.signal_s for s in scored)
    onsets = sum(s.onsets for s in scored)
    hours = signal_s / 3600.0
    return {
        "type": "summary",
        "file": None,  # every line has a "file"; this one is about them all
        "files": len(scored),
        "failed": failed,
        "files_unscored": sum(s.signal_s == 0 for s in scored),
        "signal_s": round(signal_s, 3),
        "onsets": onsets,
        "onsets_per_hour": onsets / hours if hours > 0 else None,
        "onsets_per_hour_ci95": list(poisson_interval(onsets, hours)) if hours > 0 else None,
        "onsets_background_unknown": sum(s.onsets_background_unknown for s in scored),
        "files_levels_carried": sum(s.levels_carried for s in scored),
    }


def run_offline(
    paths: Sequence[str | Path],
    config: Config,
    *,
    model=None,
    windows: bool = False,
    out: IO[str] | None = None,
    carry: str = "patient",
) -> int:
    """Score every recording in ``paths``; JSON lines to ``out`` (default: ``sys.stdout`` at the time of
    the call). ``carry`` (:data:`CARRY_CHOICES`): which files start from an earlier file's background levels
    (``realtime-detect --file --carry``). Returns 0, or 1 if any file failed."""
    if carry not in CARRY_CHOICES:
        raise ValueError(f"carry must be one of {CARRY_CHOICES}, got {carry!r}")
    out = sys.stdout if out is None else out
    if model is None:
        from realtime.model import ModelLoadError, load_detector

        try:
            model = load_detector(
                config.model.path or None,
                backend=config.model.backend,
                device=config.model.device,
                threads=config.model.threads,
                batch_windows=config.model.batch_windows,
                precision=config.model.precision,
            )
        except ModelLoadError as exc:  # nothing can be scored: one error line, no traceback
            log.error("cannot load the model: %s", exc)
            out.write(json.dumps({"type": "error", "file": None, "error": f"cannot load the model: {exc}"}) + "\n")
            out.flush()
            return 1
    try:
        config, sources = apply_model_settings(
            config, getattr(model, "settings", None), window_s=model.window_samples / model.sample_rate_hz
        )
    except ConfigError as exc:
        log.error("the model card's settings do not fit the configuration: %s", exc)
        out.write(
            json.dumps(
                {
                    "type": "error",
                    "file": None,
                    "error": f"the model card's settings do not fit the configuration: {exc}",
                }
            )
            + "\n"
        )
        out.flush()
        return 1
    log.info("model settings: %s", describe_settings(config, sources))
    if warning := montage_warning(config, getattr(model, "settings", None)):
        log.warning("%s", warning)
    sequencer = Sequencer(0)
    host = socket.gethostname()
    scored: list[Scored] = []
    failed = 0
    files: list[str | Path] = []
    for given in paths:  # a folder: the recordings under it
        if not Path(given).is_dir():
            files.append(given)
        elif found := recordings_under(given):
            log.info("%s: %d recordings", given, len(found))
            files += found
        else:
            failed += 1
            error = f"no recording ({', '.join(EXTENSIONS)}) under the folder"
            log.error("%s: %s", given, error)
            out.write(json.dumps({"type": "error", "file": str(given), "error": error}) + "\n")
    ends: dict[tuple[Path, str], FileEnd] = {}  # the last file scored of each folder and patient field
    for path in files:
        try:
            done = score_recording(
                path, config, model, windows=windows, out=out, sequencer=sequencer, host=host, ends=ends, carry=carry
            )
            log.info("%s: %d events", path, done.events)
            scored.append(done)
        except (ValueError, OSError) as exc:  # RecordingError, UnitError, bad channels... are ValueErrors
            failed += 1
            log.error("%s: %s", path, exc)
            out.write(json.dumps({"type": "error", "file": str(path), "error": str(exc)}) + "\n")
            out.flush()
    summary = summary_line(scored, failed)
    out.write(json.dumps(summary, allow_nan=False, separators=(",", ":")) + "\n")
    out.flush()
    rate = summary["onsets_per_hour"]
    log.info(
        "%d file(s) scored (%d failed, %d with nothing as long as a window, %d from the previous file's background "
        "levels), %.2f h of signal: %d seizure onset(s), %d before the background was known%s",
        len(scored),
        failed,
        summary["files_unscored"],
        summary["files_levels_carried"],
        summary["signal_s"] / 3600.0,
        summary["onsets"],
        summary["onsets_background_unknown"],
        ""
        if rate is None
        else f", {rate:.2f} per hour (95 % CI {summary['onsets_per_hour_ci95'][0]:.2f}-"
        f"{summary['onsets_per_hour_ci95'][1]:.2f})",
    )
    return 1 if failed else 0
