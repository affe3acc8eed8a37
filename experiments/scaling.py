"""Background scaling (:mod:`realtime.scaling`): its limit by a rule fixed in advance, what it costs, what it buys.

    python -m experiments.scaling [EXPORT] [--data-root ../shared/data] [--gains 1 2 3 4] [--json OUT]
                                  [--limit UV] [--min-s S]   # default: the shipped settings
                                  [--at-connection]   # also every test seizure from 1 s before its onset
                                  [--long-seizures --scaling off nohold on]   # seizures that go on, held or not
                                  [--long-seizures --at-connection]   # ... and each from 1 s before its onset
                                  [--clusters --scaling off nohold on]   # seizure clusters, 68 and 76 % burden
                                  [--rise-probe 4 --scaling on]   # TEST data: a child's EEG whose gain rises to 4x
                                  [--slow-background 100 --scaling off on]   # eegmmidb, its delta made dominant
                                  [--delta-limit UV]   # signal.background_delta_limit_uv (default: shipped)
                                  [--resample-filter training]   # signal.resample_filter (default: short)
    python -m experiments.scaling --limit-gains 2.5 2 1.5 [--write-card EXPORT]   # the corrected rule's limit
    python -m experiments.scaling --limit-only          # the first rule's value, from the background corpus alone
    python -m experiments.scaling --delta-levels 0 70 100   # each person's 1.5-4 Hz level: the delta limit's rule
    python -m experiments.scaling --delta-levels 70 --write-card EXPORT   # write that limit into EXPORT's card

Needs ../shared/data: ``background/`` (the rule, the false alarms), ``bonn/`` and ``nscnd/`` (the test split's
stitched recordings). Not part of the test run.

1. **The limit**: a person's background level is the median, over their scored channels and files, of each
   channel's lower quartile of 1.5-40 Hz window standard deviation (:func:`realtime.scaling.band_std_uv` on 4.096 s
   windows every 1 s: the scaler's own statistic); the limit is a gain times the highest person's level, rounded
   down to 10 µV. The first rule (docs/background.md "Background scaling", ``--limit-only``) took the gain 3, at
   which the stress test (0.92 h of the corpus) raised no alarm; the whole corpus at 3x does raise alarms, so the
   corrected rule ("The limit corrected", ``--limit-gains``) measures the gain: the largest at which the whole
   corpus, scaling off, raises at most 1 alarm (1.5: 50 µV, the shipped limit).
2. **Seizures**: the test split's stitched recordings (each seizure after >= 95 s of background, so the
   scaler has its history) and the CHB-MIT excerpts (TEST data: measured, never tuned on), each
   multiplied by every gain (a patient's larger EEG, seizures included), scored as ``realtime-detect --file``
   scores them with scaling off (``signal.background_limit_uv = 0``) and on; SzCORE counts, and ``extra_onsets``:
   seizures split into several events (SzCORE counts them detected).
3. **Seizures at connection** (``--at-connection``; docs/background.md "The first seconds of a connection"): every
   seizure of the stitched test recordings cut out from 1 s before its onset, as if the stream connected then, and
   the CHB-MIT seizure excerpt; counted as alarmed when an alarm opens within 10 s of the onset.
4. **False alarms**: the background corpus (5.1 h, 21 persons, as the files come) at every gain, off and on
   (:func:`evaluation.background.measure`, the binomial bed rule of the shipped settings).
5. **Seizures that go on** (``--long-seizures``; docs/background.md "A seizure that goes on"): long seizures built
   from test data (:func:`long_seizures`), scored off, on without the scaler's hold (``nohold``) and on; per
   seizure the onsets within it, the share of it alarmed and the first offset inside it (:func:`alarm_cover`).
6. **A background that rises, on test data** (``--rise-probe TOP``; docs/background.md "The hold from the published
   onset"): the CHB-MIT non-seizure excerpt (a child's EEG; TEST data: measured, never tuned on) looped to 20 min, its
   gain rising as :func:`rising_gain` from 1x to ``TOP``; every onset is a false alarm, and when it came.
7. **A slow background** (``--slow-background UV``; docs/background.md "A slow background"): the eegmmidb files of
   the corpus with their own 0.5-4 Hz activity multiplied (:func:`train.datasets.background.delta_boost`) until the
   median channel's 0.5-40 Hz standard deviation is ``UV`` (the hospital's: about 100 µV), the rest of the spectrum
   as recorded: a delta-dominated background of a patient's size, imitated from real EEG; false alarms, when, and
   how long.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from realtime.config import MONTAGES, RESAMPLE_FILTERS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
log = logging.getLogger("experiments.scaling")
WINDOW_S, HOP_S = 4.096, 1.0
RULE_GAIN = 3.0  # the stress test's gain at which no alarm was raised (docs/background.md)
# seizures at connection (docs/background.md "The first seconds of a connection"): each cut from this long before
# its onset (as the CHB-MIT excerpt starts) to this long after it, and detected when an alarm opens within ALARM_S
CONNECT_BEFORE_S, CONNECT_AFTER_S, ALARM_S = 1.0, 60.0, 10.0
RISE_S = (120.0, 720.0)  # a rising background (--rise-to): 1x until 2 min into a session, the top 10 min later
LOSS_PAUSE_S = 5.0  # a loss of the same device (docs/background.md "A reconnect of the same device"): this long away


def channel_levels(data_uv: np.ndarray, sfreq: float, band_hz: tuple[float, float] = (1.5, 40.0)) -> np.ndarray:
    """``data_uv [n_channels, n_samples]`` -> each channel's lower quartile of its windows' ``band_hz`` (1.5-40 Hz)
    standard deviation (µV), windows of ``WINDOW_S`` every ``HOP_S``; ``[n_channels]`` (empty when shorter than a
    window)."""
    from realtime.scaling import band_std_uv

    n, hop = int(round(WINDOW_S * sfreq)), int(round(HOP_S * sfreq))
    if data_uv.shape[1] < n:
        return np.empty(0)
    starts = range(0, data_uv.shape[1] - n + 1, hop)
    std = np.stack([band_std_uv(data_uv[:, s : s + n], sfreq, band_hz) for s in starts], axis=1)  # [ch, windows]
    return np.quantile(std, 0.25, axis=1)


def person_levels(
    background_root: Path, band_hz: tuple[float, float] = (1.5, 40.0), slow_uv: float | None = None
) -> dict[str, float]:
    """``{source/person: level}``: the median over the person's scored EEG channels (the daemon's channel rule)
    and files of :func:`channel_levels` in ``band_hz``; ``slow_uv``: the eegmmidb files only, each with its delta
    made dominant to that size first (:func:`train.datasets.background.delta_boost`, as ``--slow-background``)."""
    from evaluation.background import discover
    from realtime.channels import select_channels
    from realtime.preprocess import resolve_unit
    from realtime.recordings import open_recording
    from train.datasets.background import delta_boost

    per: dict[str, list[np.ndarray]] = {}
    for rec in discover(background_root):
        if slow_uv is not None and rec.source != "eegmmidb":
            continue
        r = open_recording(rec.path, annotations=False)
        rows = select_channels(r.channels).scored
        scale = np.array([resolve_unit(r.channels[i].unit, r.ch_names[i])[0] for i in rows])
        data = r.read(0, r.n_samples, rows) * scale[:, None]
        if slow_uv is not None:
            data = data + delta_boost(data, r.sfreq, slow_uv)[0]
        per.setdefault(f"{rec.source}/{rec.person}", []).append(channel_levels(data, r.sfreq, band_hz))
    return {k: float(np.median(np.concatenate(v))) for k, v in sorted(per.items())}


def limit_from(levels: dict[str, float], gain: float = RULE_GAIN) -> float:
    """The rule: ``gain`` (by default ``RULE_GAIN``) times the highest person's level, rounded down to 10 µV."""
    return math.floor(gain * max(levels.values()) / 10.0) * 10.0


def quiet_gain(alarms: dict[str, dict], most: int = 1) -> float | None:
    """The corrected rule's gain (docs/background.md "The limit corrected"): the largest gain whose background
    run (``{gain: {"alarms": n, ...}}``, scaling off) raised at most ``most`` alarms; None when none did."""
    quiet = [float(g) for g, b in alarms.items() if b["alarms"] <= most]
    return max(quiet) if quiet else None


def extra_onsets(seizures, onset_times, before_s: float = 30.0) -> int:
    """Seizures split into several events: over ``seizures [(onset_s, offset_s)]``, the onsets (``onset_times``)
    within ``[onset - before_s, offset]`` beyond the first (SzCORE's 30 s before the onset counts as the seizure's).
    SzCORE scores a split seizure as detected; a nurse read "seizure over" inside it (docs/background.md "The first
    seconds of a connection": the 10 s history)."""
    return sum(max(0, sum(on - before_s <= t <= off for t in onset_times) - 1) for on, off in seizures)


def alarm_cover(seizures, events) -> dict:
    """How much of ``seizures [(onset_s, offset_s)]`` an alarm covers: ``alarm_share``, the share of their time
    inside an open event (``events``: ``DetectedEvent``), ``first_offset_s``, the first event end that falls
    inside a seizure, from that seizure's onset (None: none did; a nurse read "seizure over" then), and
    ``alarmed``, the seizures an event overlaps (SzCORE cuts events longer than 5 min into pieces: not its count)."""
    total = sum(off - on for on, off in seizures)
    inside = sum(max(0.0, min(off, e.end_s) - max(on, e.start_s)) for on, off in seizures for e in events)
    ends = sorted(e.end_s - on for on, off in seizures for e in events if on <= e.end_s < off)
    return {
        "alarm_share": round(inside / total, 3) if total > 0 else None,
        "first_offset_s": round(ends[0], 1) if ends else None,
        "alarmed": sum(any(e.start_s < off and e.end_s > on for e in events) for on, off in seizures),
        "annotated": len(seizures),
    }


class Run(NamedTuple):
    results: list  # WindowResult per window
    events: list  # every DecisionEvent, the end flushed
    end: Any  # realtime.offline.FileEnd | None: for a file that may continue this one
    continued: bool  # this recording took ``previous``'s levels (it continues it, or names the same patient)


def run_pipeline(rec, config, detector, keep_s: float | None = None, previous=None, same_patient: bool = True) -> Run:
    """``rec`` (a ``RecordingInfo``) through the daemon's pipeline as ``realtime-detect --file`` feeds it.
    ``keep_s`` replaces ``Pipeline.background_keep_s``; ``previous``: the ``FileEnd`` of the file scored before it,
    whose levels it takes when it continues that file or, with ``same_patient``, names the same patient
    (:func:`realtime.offline.carry_from`)."""
    from realtime.offline import continued_pipeline, feed, file_end

    pipe, carry = continued_pipeline(rec, config, detector, previous, same_patient=same_patient)
    if keep_s is not None:
        pipe.background_keep_s = keep_s
    results = list(feed(pipe, rec, config.window.hop_s))
    events = [e for w in results for e in w.events] + list(pipe.flush())
    return Run(results, events, file_end(rec, pipe), carry is not None)


def score_seizures(recs, config, detector, gain: float) -> dict:
    """Every ``EvalRecording`` multiplied by ``gain``, through the offline pipeline; SzCORE per recording and summed."""
    from evaluation.background import Edited
    from evaluation.events import combine_scores, events_from_decisions, score_events
    from realtime.recordings import open_recording

    per, scores = {}, []
    for rec in recs:
        r = open_recording(rec.path, annotations=False)
        if gain != 1.0:
            r = Edited(source=r, gain=gain, **r.metadata())
        results, decisions, *_ = run_pipeline(r, config, detector)
        detected = events_from_decisions(decisions, rec.duration_s)
        s = score_events(rec.seizures, detected, rec.duration_s)
        scaled = sum(bool(w.scaled_channels) for w in results)
        onset_times = [e.time for e in decisions if e.kind == "onset"]
        per[rec.name] = {
            "seizures": s.n_seizures,
            "detected": s.tp,
            "false_alarms": s.fp,
            "latencies_s": s.latencies_s,
            "extra_onsets": extra_onsets(rec.seizures, onset_times),
            "onsets": len(onset_times),
            "onset_times_s": [round(t, 1) for t in onset_times],
            **alarm_cover(rec.seizures, detected),
            "windows_scaled": scaled,
            "windows": len(results),
        }
        scores.append(s)
    total = combine_scores(scores)
    lat = total.detected_latencies_s
    return {
        "seizures": total.n_seizures,
        "detected": total.tp,
        "false_alarms": total.fp,
        "extra_onsets": sum(p["extra_onsets"] for p in per.values()),
        "hours": round(total.hours, 3),
        "latency_median_s": round(float(np.median(lat)), 2) if lat else None,
        "latency_max_s": round(float(max(lat)), 2) if lat else None,
        "per_recording": per,
    }


def eval_recordings(data_root: Path, card: dict, out_dir: Path) -> list:
    """The test split's stitched recordings (by the card's split) and the CHB-MIT excerpts and their stitch."""
    from evaluation.recordings import build_stitched, chbmit_recordings
    from train.datasets.records import load_sources

    records = load_sources(("bonn", "nscnd"), data_root, sample_rate_hz=float(card["sample_rate_hz"]))
    test = set(card["training"]["split"]["test"])
    return build_stitched(records, test, out_dir, "test_", "test") + chbmit_recordings(out_dir)


def long_seizures(data_root: Path, card: dict, out_dir: Path) -> list:
    """Seizures that go on (docs/background.md "A seizure that goes on"): the test split's Bonn S segments back to
    back as one seizure, its New Delhi ictal segments back to back repeated to >= 300 s, each after >= 95 s of
    background, and the CHB-MIT ictal seconds 5-30 repeated 16 times (a 400 s seizure)."""
    from evaluation.recordings import LONG_KINDS, build_stitched, chbmit_long_seizure
    from train.datasets.records import load_sources

    records = load_sources(("bonn", "nscnd"), data_root, sample_rate_hz=float(card["sample_rate_hz"]))
    test = set(card["training"]["split"]["test"])
    return [*build_stitched(records, test, out_dir, "test_", "test", which=LONG_KINDS), chbmit_long_seizure(out_dir)]


def clusters(out_dir: Path, gaps_s=(12.0, 8.0)) -> list:
    """Seizure clusters (docs/background.md "A seizure that goes on"): the CHB-MIT ictal seconds 5-30 sixteen times,
    each followed by ``gap_s`` of the non-seizure excerpt (12 s: a seizure burden of 68 %; 8 s: 76 %)."""
    from evaluation.recordings import chbmit_long_seizure

    return [chbmit_long_seizure(out_dir, gap_s=gap) for gap in gaps_s]


def rise_probe(out_dir: Path, top: float, minutes: float = 20.0) -> list:
    """The CHB-MIT non-seizure excerpt (TEST data) looped to ``minutes`` (each 41 s loop tapered), multiplied by
    :func:`rising_gain` to ``top``: a child's background rising over 10 min, no seizure (docs/background.md "The hold
    from the published onset")."""
    from evaluation.recordings import CHBMIT_NONSEIZURE, TAPER_S, EvalRecording
    from evaluation.stitch import BACKGROUND, Piece, stitch, write_stitched
    from realtime.recordings import read_recording

    non = read_recording(CHBMIT_NONSEIZURE)
    loops = math.ceil(minutes * 60.0 * non.sfreq / non.data.shape[1])
    piece = Piece(non.data, non.sfreq, BACKGROUND, CHBMIT_NONSEIZURE.name)
    st = stitch([piece] * loops, sfreq=non.sfreq, taper_s=TAPER_S, ch_names=non.ch_names)
    st.data = st.data * rising_gain(np.arange(st.data.shape[1]) / st.sfreq, top)[None, :]
    name = f"chbmit_rise_{top:g}x"
    path = write_stitched(st, out_dir / f"{name}.npz")
    what = f"CHB-MIT chb01_03's non-seizure excerpt {loops}x, 1x until {RISE_S[0]:g} s, {top:g}x from {RISE_S[1]:g} s"
    return [EvalRecording(name, path, [], what, st.duration_s, st.data.shape[0])]


def at_connection(recs, out_dir: Path) -> list:
    """Seizures under way when the stream connects: every seizure of the stitched test recordings (``test_*``) cut
    out as its own recording, from ``CONNECT_BEFORE_S`` before its onset to ``CONNECT_AFTER_S`` after it (or to
    ``CONNECT_BEFORE_S`` before the next seizure), and the CHB-MIT seizure excerpt, which starts 1 s before its
    seizure. With ``--long-seizures`` the same cuts of the long seizures (:func:`long_seizures`, the CHB-MIT one
    included): a seizure that goes on past the scaler's history when the stream connects. Written under
    ``out_dir``."""
    from evaluation.recordings import EvalRecording
    from realtime.recordings import read_recording, write_npz

    out = [rec for rec in recs if rec.name == "chbmit_seizure"]
    for rec in recs:
        if not rec.name.startswith(("test_", "chbmit_long")) or not rec.seizures:
            continue
        r = read_recording(rec.path)
        seizures = sorted(rec.seizures)
        for i, (onset, offset) in enumerate(seizures):
            start = max(0.0, onset - CONNECT_BEFORE_S)
            stop = min(onset + CONNECT_AFTER_S, r.duration_s)
            if i + 1 < len(seizures):
                stop = min(stop, seizures[i + 1][0] - CONNECT_BEFORE_S)
            first, last = int(round(start * r.sfreq)), int(round(stop * r.sfreq))
            path = write_npz(out_dir / f"{rec.name}_at_{i:02d}.npz", r.data[:, first:last], r.sfreq, r.ch_names)
            out.append(
                EvalRecording(
                    name=path.stem,
                    path=path,
                    seizures=[(onset - start, min(offset, stop) - start)],
                    description=f"{rec.name}'s seizure {i} from {onset - start:g} s before its onset",
                    duration_s=(last - first) / r.sfreq,
                    n_channels=len(r.ch_names),
                )
            )
    return out


def within(seizures: dict) -> int:
    """How many of :func:`score_seizures`' recordings had an alarm open within ``ALARM_S`` of their seizure's onset
    (SzCORE's overlap also counts an alarm that comes later)."""
    return sum(
        any(lat is not None and lat <= ALARM_S for lat in p["latencies_s"]) for p in seizures["per_recording"].values()
    )


def background_alarms(background_root: Path, config, detector, gains) -> dict:
    """``{gain: {alarms, hours, per_person, before_history}}`` on the background corpus
    (:func:`evaluation.background.measure`); ``before_history``: the alarms decided on a window that ended before
    the scaler could have its ``signal.amplitude_min_s`` of history (the first minute of a file)."""
    from evaluation.background import POOLED, discover, measure

    result = measure(discover(background_root), config, {"network": detector}, gains=gains)
    history_s = config.signal.background_min_s + WINDOW_S
    return {
        f"{run['front_end']['gain']:g}": {
            "alarms": run["sources"][POOLED]["false_alarms"],
            "hours": round(run["sources"][POOLED]["hours"], 3),
            "per_person": {k: v["false_alarms"] for k, v in run["per_person"].items() if v["false_alarms"]},
            "before_history": sum(a["time_s"] < history_s for a in run["alarms"]),
            "longest_event_s": max((a["duration_s"] or 0.0 for a in run["alarms"]), default=None),
        }
        for run in result["runs"]
    }


def alarms_after_loss(background_root: Path, config, detector, gain: float, loss_at_s: float) -> dict:
    """The background corpus at ``gain``, each file's pipeline reset at ``loss_at_s`` of signal as the bed resets it
    on a loss of the same device (``LOSS_PAUSE_S`` away, then the same signal on: :func:`realtime.offline.feed`'s
    paused recording), scored with the scaler's prior (``keep``) and without it (``forget``: ``background_keep_s``
    0); ``{"keep"|"forget": {alarms, after_loss, per_person}}``, ``after_loss`` counting the onsets decided after it."""
    from evaluation.background import Edited, discover
    from realtime.recordings import open_recording

    out: dict[str, dict[str, Any]] = {n: {"alarms": 0, "after_loss": 0, "per_person": {}} for n in ("keep", "forget")}
    for rec in discover(background_root):
        r = open_recording(rec.path, annotations=False)
        cut = int(round(loss_at_s * r.sfreq))
        if r.n_samples <= cut:
            continue
        edited = Edited(
            source=r, gain=gain, **{**r.metadata(), "segments": ((0, 0.0), (cut, loss_at_s + LOSS_PAUSE_S))}
        )
        for name, row in out.items():
            events = run_pipeline(edited, config, detector, keep_s=0.0 if name == "forget" else None).events
            onsets = [e.time for e in events if e.kind == "onset"]
            row["alarms"] += len(onsets)
            row["after_loss"] += sum(time >= loss_at_s + LOSS_PAUSE_S for time in onsets)
            if onsets:
                row["per_person"][rec.person] = row["per_person"].get(rec.person, 0) + len(onsets)
    return out


def alarms_on_slow_background(background_root: Path, configs_for, detectors, target_uv: float) -> dict:
    """The eegmmidb files of the corpus, each with its delta boosted to ``target_uv`` (``delta_boost``), scored by
    each of ``configs_for(detector)`` (name -> Config); ``detectors``: one detector, or person -> detector (out of
    fold by person: ``evaluation.background.fold_detectors``; a person no fold holds out is not scored). ``{name:
    {alarms, before_history, longest_event_s, per_person, onset_times_s}}``, ``factors`` (the delta's factor per
    file: median, min, max) and ``persons`` (those scored)."""
    from collections.abc import Mapping

    from evaluation.background import Edited, discover
    from evaluation.events import events_from_decisions
    from realtime.recordings import open_recording
    from train.datasets.background import delta_boost

    per_person = isinstance(detectors, Mapping)
    configs_by = {id(d): configs_for(d) for d in (detectors.values() if per_person else [detectors])}
    first = next(iter(configs_by.values()))  # name -> Config; every detector's has the same names and history
    history_s = next(iter(first.values())).signal.background_min_s + WINDOW_S
    out: dict[str, Any] = {
        name: {"alarms": 0, "before_history": 0, "longest_event_s": None, "per_person": {}, "onset_times_s": []}
        for name in first
    }
    factors: dict[str, float] = {}
    hours, persons = 0.0, set()
    for rec in discover(background_root):
        detector = detectors.get(rec.person) if per_person else detectors
        if rec.source != "eegmmidb" or detector is None:
            continue
        r = open_recording(rec.path, annotations=False)
        added, factors[rec.name] = delta_boost(r.load().data, r.sfreq, target_uv)
        edited = Edited(source=r, added=added, **r.metadata())
        hours += r.duration_s / 3600.0
        persons.add(rec.person)
        for name, cfg in configs_by[id(detector)].items():
            decisions = run_pipeline(edited, cfg, detector).events
            onsets = [e.time for e in decisions if e.kind == "onset"]
            row = out[name]
            row["alarms"] += len(onsets)
            row["before_history"] += sum(t < history_s for t in onsets)
            row["onset_times_s"] += [[rec.name, round(t, 1)] for t in onsets]
            longest = max((e.end_s - e.start_s for e in events_from_decisions(decisions, r.duration_s)), default=None)
            if longest is not None:
                row["longest_event_s"] = max(row["longest_event_s"] or 0.0, round(longest, 1))
            if onsets:
                row["per_person"][rec.person] = row["per_person"].get(rec.person, 0) + len(onsets)
        log.info("%s: delta x%.2f; %s", rec.name, factors[rec.name], {n: out[n]["alarms"] for n in out})
    if not factors:
        raise ValueError(f"no eegmmidb file of the persons scored under {str(background_root)!r}")
    f = np.array(list(factors.values()))
    return {
        "target_uv": target_uv,
        "hours": round(hours, 3),
        "persons": sorted(persons),
        "factors": {
            "median": round(float(np.median(f)), 2),
            "min": round(float(f.min()), 2),
            "max": round(float(f.max()), 2),
        },
        **out,
    }


def rising_gain(session_s: np.ndarray, top: float) -> np.ndarray:
    """A background that rises (docs/background.md "A seizure that goes on", the rising background): 1x for the
    session's first ``RISE_S[0]`` s, then linearly to ``top`` at ``RISE_S[1]`` s, then ``top``; ``session_s [n]``:
    each sample's time from the session's start."""
    return np.interp(session_s, RISE_S, [1.0, float(top)])


def alarms_in_sessions(
    background_root: Path,
    config,
    detector,
    gain: float,
    pause_s: float,
    rise_to: float | None = None,
    slow_uv: float | None = None,
) -> dict:
    """The background corpus at ``gain``, each eegmmidb person's files in order as one session split into files
    ``pause_s`` apart (their headers all give one start, so each is given the start that follows the previous file;
    their patient field, ``X X X X`` as shipped, is given the person's code, ``S001 X X X``), scored with the offline
    carry across files as ``realtime-detect --file`` does (``same_patient``: a file that continues the previous one,
    or names the same patient within a day), with the carry across files that continue one another only (``carry``)
    and without any (``none``); Sleep-EDF's crops keep their headers (16 h apart, so they never continue one another;
    their field, ``X F X Female_33yr``, has a name, so under ``same_patient`` the second takes the first's levels).
    ``{"same_patient"|"carry"|"none": {alarms, first_files, later_files, continued, per_person}}`` (``carry`` not
    scored when ``pause_s`` is beyond ``signal.amplitude_span_s``: no file continues another): onsets in each
    person's first file and in the later ones, and the files that took the previous file's levels (docs/background.md
    "Files that continue one another", "The same patient's earlier file"). ``rise_to``: instead of ``gain``, each
    session's background rises from 1x to ``rise_to`` (:func:`rising_gain`, by session time, the pauses counted;
    Sleep-EDF's second crop starts where its first one's gain ended, without the carry: they are hours apart), scored
    with the carry only; ``onset_times_s``: the session time of each onset. ``slow_uv``: instead of ``gain``, the
    eegmmidb files' delta boosted to ``slow_uv`` (the slow background, ``delta_boost``; Sleep-EDF not scored)."""
    from evaluation.background import Edited, discover
    from realtime.recordings import open_recording
    from train.datasets.background import delta_boost

    names: tuple[str, ...] = ("same_patient", "carry", "none")
    if rise_to is not None:
        names = ("carry",)
    elif pause_s > config.signal.amplitude_span_s + 1.0:  # no file continues another: "carry" would be "none"
        names = ("same_patient", "none")
    out: dict[str, dict[str, Any]] = {
        n: {"alarms": 0, "first_files": 0, "later_files": 0, "continued": 0, "per_person": {}, "onset_times_s": []}
        for n in names
    }
    ends: dict[str, dict[str, Any]] = {n: {} for n in names}  # per person: the previous file's FileEnd
    session_s: dict[str, float] = {}  # per person: the session time at which the next file starts
    for rec in discover(background_root):
        if slow_uv is not None and rec.source != "eegmmidb":
            continue
        r = open_recording(rec.path, annotations=False)
        meta = r.metadata()
        if rec.source == "eegmmidb":
            meta["patient"] = f"{rec.person} X X X"
        t0 = session_s.get(rec.person, 0.0)
        session_s[rec.person] = t0 + r.duration_s + pause_s
        g = gain if rise_to is None else rising_gain(t0 + np.arange(r.n_samples) / r.sfreq, rise_to)
        added = None if slow_uv is None else delta_boost(r.load().data, r.sfreq, slow_uv)[0]
        for name, row in out.items():
            previous = ends[name].get(rec.person)
            if rec.source == "eegmmidb" and r.start is not None and previous is not None:
                meta["start"] = previous.end + datetime.timedelta(seconds=pause_s)
            run = run_pipeline(
                Edited(source=r, gain=1.0 if added is not None else g, added=added, **meta),
                config,
                detector,
                previous=None if name == "none" else previous,
                same_patient=name == "same_patient",
            )
            ends[name][rec.person] = run.end
            onsets = [e.time for e in run.events if e.kind == "onset"]
            row["alarms"] += len(onsets)
            row["later_files" if previous is not None else "first_files"] += len(onsets)
            row["continued"] += run.continued
            row["onset_times_s"] += [round(t0 + t, 1) for t in onsets]
            if onsets:
                row["per_person"][rec.person] = row["per_person"].get(rec.person, 0) + len(onsets)
    return out


def table(res: dict) -> str:
    lines = [
        f"limit {res['limit_uv']:g} uV after {res['background_min_s']:g} s of history (the highest person's level: "
        f"{max(res['person_levels_uv'].values()):.1f} uV)",
        "gain  scaling  seizures detected  false alarms (stitched + CHB-MIT)  latency median (max)  background alarms",
    ]
    for gain, row in res["gains"].items():
        for name in [n for n in ("off", "nohold", "on") if n in row]:
            s, b = row[name].get("seizures"), row[name].get("background") or {}
            cells = ["-", "-", "-"]
            # SzCORE cuts events longer than 5 min into pieces, so its counts do not describe the long seizures
            if s and not res.get("long_seizures"):
                med, top = s["latency_median_s"], s["latency_max_s"]
                cells = [
                    f"{s['detected']}/{s['seizures']}",
                    f"{s['false_alarms']} in {s['hours']} h",
                    "-" if med is None else f"{med} s ({top} s)",
                ]
            bg = (
                f"{b['alarms']} in {b['hours']} h ({b.get('before_history', '?')} in a file's first "
                f"{res['background_min_s'] + WINDOW_S:g} s)"
                if b
                else "-"
            )
            lines.append(f"{gain:>4}  {name:<7}  {cells[0]:<17}  {cells[1]:<33}  {cells[2]:<20}  {bg}")
            if s and res.get("long_seizures"):  # per seizure: onsets in it, the share alarmed, the first "over"
                for rec, p in s["per_recording"].items():
                    if not p["annotated"]:  # no seizure (--rise-probe): every onset a false alarm
                        lines.append(f"{'':>4}  {'':<7}  {rec}: {p['onsets']} onsets, at {p['onset_times_s']} s")
                        continue
                    lines.append(
                        f"{'':>4}  {'':<7}  {rec}: {p['alarmed']} of {p['annotated']} seizures alarmed, "
                        f"{p['onsets']} onsets, {p['alarm_share']:.0%} of their time alarmed, first offset inside "
                        + ("none" if p["first_offset_s"] is None else f"{p['first_offset_s']} s after an onset")
                    )
            if at := row[name].get("at_connection"):
                lines.append(
                    f"{'':>4}  {'':<7}  at connection: {at['within_s']['detected']}/{at['seizures']} alarmed within "
                    f"{ALARM_S:g} s ({at['detected']} by SzCORE), latency median {at['latency_median_s']} s "
                    f"(max {at['latency_max_s']} s)"
                )
    return "\n".join(lines)


def _report(res: dict, json_path: str) -> int:
    """Print ``res`` as JSON and write it to ``json_path`` when given; exit code 0."""
    print(json.dumps(res, indent=2))
    if json_path:
        Path(json_path).write_text(json.dumps(res, indent=2))
    return 0


def main(argv=None) -> int:
    from realtime.config import apply_model_settings, load_config
    from realtime.model import default_model_path, load_detector

    ap = argparse.ArgumentParser(prog="python -m experiments.scaling", description=__doc__.splitlines()[0])
    ap.add_argument("export", nargs="?", default=str(default_model_path()))
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--gains", type=float, nargs="*", default=[1.0, 2.0, 3.0, 4.0])
    ap.add_argument("--background-gains", type=float, nargs="*", default=None, help="default: --gains")
    ap.add_argument(
        "--scaling",
        nargs="+",
        choices=["off", "on", "nohold"],
        default=["off", "on"],
        help="off: background_limit_uv 0; on: the limit; nohold: the limit with background_hold_max_s 0",
    )
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="the runtime's threads (0: every core; 1 for parallel runs)")
    ap.add_argument("--limit-only", action="store_true", help="print the first rule's limit (3x) and stop")
    ap.add_argument(
        "--limit-gains",
        type=float,
        nargs="+",
        default=None,
        help="the corrected rule: the background corpus at these gains, scaling off; the limit is the largest quiet "
        "gain (at most 1 alarm) times the highest person's level; then stop",
    )
    ap.add_argument(
        "--write-card",
        default="",
        metavar="EXPORT",
        help="with --limit-gains: write the corrected limit into EXPORT's card (settings.signal.background_limit_uv)",
    )
    ap.add_argument("--limit", type=float, default=None, help="signal.background_limit_uv (default: shipped)")
    ap.add_argument(
        "--delta-limit", type=float, default=None, help="signal.background_delta_limit_uv (default: shipped; 0: off)"
    )
    ap.add_argument("--min-s", type=float, default=None, help="signal.background_min_s (default: the shipped)")
    ap.add_argument(
        "--resample-filter",
        choices=RESAMPLE_FILTERS,
        default=None,
        help="signal.resample_filter: the resampler's filter (default: the shipped, short)",
    )
    ap.add_argument(
        "--montage",
        default=None,
        choices=MONTAGES,
        help="signal.montage (default: the shipped)",
    )
    ap.add_argument(
        "--at-connection",
        action="store_true",
        help="also score every test seizure from 1 s before its onset, as if the stream connected then",
    )
    ap.add_argument(
        "--loss-at",
        type=float,
        default=None,
        metavar="S",
        help="the background corpus at --background-gains, each file's stream lost at S s of signal and the same "
        "device back 5 s later, with the scaler's prior and without; then stop",
    )
    ap.add_argument(
        "--sessions",
        type=float,
        default=None,
        metavar="PAUSE_S",
        help="the background corpus at --background-gains (and the slow background at each --slow-background UV), "
        "each person's files in order as one session split into files PAUSE_S apart, given the person's code as "
        "their patient field, with the offline carry across files (the same patient's; only those that continue "
        "one another) and without; then stop",
    )
    ap.add_argument(
        "--long-seizures",
        action="store_true",
        help="score the long seizures instead (status epilepticus: the test split's seizure segments back to back, "
        "the CHB-MIT ictal seconds repeated) at --gains; then stop",
    )
    ap.add_argument(
        "--clusters",
        action="store_true",
        help="score seizure clusters instead (the CHB-MIT ictal seconds 16 times, 12 or 8 s apart); then stop",
    )
    ap.add_argument(
        "--rise-to",
        type=float,
        default=None,
        metavar="GAIN",
        help="with --sessions: each session's background rises from 1x at 2 min to GAIN at 12 min (a patient falling "
        "into deep sleep), the levels carried across its files; alarms and when",
    )
    ap.add_argument(
        "--rise-probe",
        type=float,
        default=None,
        metavar="GAIN",
        help="score the CHB-MIT non-seizure excerpt (TEST data) looped to 20 min, its gain rising from 1x to GAIN as "
        "--rise-to's, instead; then stop",
    )
    ap.add_argument(
        "--slow-background",
        type=float,
        nargs="+",
        default=None,
        metavar="UV",
        help="the corpus' eegmmidb files, their 0.5-4 Hz activity made larger until the median channel's 0.5-40 Hz "
        "standard deviation is UV, scored with each --scaling; then stop",
    )
    ap.add_argument(
        "--cv-run",
        default=None,
        metavar="RUN",
        help="with --slow-background: each person scored by the export of the train-detector cv fold that held them "
        "out (RUN/fold-F/split.json; with --cv-exports DIR, DIR/fold-F): out of fold by person",
    )
    ap.add_argument("--cv-exports", default=None, metavar="DIR", help="with --cv-run: DIR/fold-F is fold F's export")
    ap.add_argument(
        "--delta-levels",
        type=float,
        nargs="+",
        default=None,
        metavar="UV",
        help="each person's 1.5-4 Hz level (the scaler's statistic) on the slow background at each UV (0: the corpus "
        "as it comes), the highest, and the delta limit it gives (docs/background.md 'A limit for delta'); then stop",
    )
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    if args.sessions is not None and args.slow_background and (args.rise_to is not None or args.cv_run):
        ap.error("--sessions with --slow-background takes neither --rise-to nor --cv-run")
    if args.rise_to is not None and args.sessions is None:
        ap.error(f"--rise-to {args.rise_to:g} needs --sessions PAUSE_S: the background rises along each session")
    if bool(args.cv_run) != bool(args.cv_exports) or (args.cv_run and not args.slow_background):
        ap.error("--cv-run and --cv-exports go together, with --slow-background")
    if args.write_card and not (args.limit_gains or (args.delta_levels and len(args.delta_levels) == 1)):
        ap.error(
            f"--write-card {args.write_card!r} needs --limit-gains (the corrected rule's limit) or --delta-levels "
            "with one UV (the delta limit from it)"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("realtime", "evaluation", "absl"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    root = Path(args.data_root)
    levels = person_levels(root / "background")
    res: dict = {
        "person_levels_uv": {k: round(v, 1) for k, v in levels.items()},
        "first_rule_limit_uv": limit_from(levels),
    }
    log.info("person levels %s -> the first rule's limit %g uV", res["person_levels_uv"], res["first_rule_limit_uv"])
    if args.limit_only:
        print(json.dumps(res, indent=2))
        return 0
    if args.delta_levels:
        from realtime.scaling import DELTA_HZ

        res["delta_levels_uv"] = {}
        for uv in args.delta_levels:
            got = person_levels(root / "background", DELTA_HZ, slow_uv=uv or None)
            res["delta_levels_uv"][f"{uv:g}"] = {
                "persons": {k: round(v, 1) for k, v in got.items()},
                "highest": round(max(got.values()), 1),
                "limit_uv": math.floor(max(got.values()) / 5.0) * 5.0,  # rounded down to 5 uV
            }
            log.info("delta levels at %g uV: %s", uv, res["delta_levels_uv"][f"{uv:g}"])
        if args.write_card:
            from evaluation.model_settings import derived_by, write_optional_setting

            command = f"python -m experiments.scaling --delta-levels {args.delta_levels[0]:g}"
            limit_uv = res["delta_levels_uv"][f"{args.delta_levels[0]:g}"]["limit_uv"]
            res["written"] = write_optional_setting(
                args.write_card, "signal", "background_delta_limit_uv", limit_uv, derived_by(command)
            )
        return _report(res, args.json)
    det = load_detector(args.export, backend=args.backend, threads=args.threads)
    base = apply_model_settings(load_config(None), getattr(det, "settings", None))[0]
    if args.limit_gains:
        off = dataclasses.replace(base, signal=dataclasses.replace(base.signal, background_limit_uv=0.0))
        res["limit_gains"] = background_alarms(root / "background", off, det, args.limit_gains)
        gain = quiet_gain(res["limit_gains"])
        res.update(quiet_gain=gain, corrected_limit_uv=None if gain is None else limit_from(levels, gain))
        if args.write_card and gain is None:
            log.warning("no gain was quiet: nothing written into %s", args.write_card)
        elif args.write_card:
            from evaluation.model_settings import derived_by, write_optional_setting

            command = "python -m experiments.scaling --limit-gains " + " ".join(f"{g:g}" for g in args.limit_gains)
            res["written"] = write_optional_setting(
                args.write_card, "signal", "background_limit_uv", res["corrected_limit_uv"], derived_by(command)
            )
        return _report(res, args.json)
    limit = base.signal.background_limit_uv if args.limit is None else args.limit
    delta_limit = base.signal.background_delta_limit_uv if args.delta_limit is None else args.delta_limit
    min_s = base.signal.background_min_s if args.min_s is None else args.min_s
    if args.montage is not None:
        base = dataclasses.replace(base, signal=dataclasses.replace(base.signal, montage=args.montage))
    if args.resample_filter is not None:
        base = dataclasses.replace(base, signal=dataclasses.replace(base.signal, resample_filter=args.resample_filter))
    res.update(limit_uv=limit, delta_limit_uv=delta_limit, background_min_s=min_s, montage=base.signal.montage)
    res["resample_filter"] = base.signal.resample_filter

    def configs_for(detector) -> dict:
        """``--scaling``'s configurations for ``detector``: its card's settings, then this command's signal ones."""
        b = base
        if detector is not det:
            b = apply_model_settings(load_config(None), getattr(detector, "settings", None))[0]
            b = dataclasses.replace(
                b,
                signal=dataclasses.replace(
                    b.signal, montage=base.signal.montage, resample_filter=base.signal.resample_filter
                ),
            )
        return {
            name: dataclasses.replace(b, signal=dataclasses.replace(b.signal, background_min_s=min_s, **changes))
            for name, changes in (
                ("off", {"background_limit_uv": 0.0}),
                ("on", {"background_limit_uv": limit, "background_delta_limit_uv": delta_limit}),
                (
                    "nohold",
                    {
                        "background_limit_uv": limit,
                        "background_delta_limit_uv": delta_limit,
                        "background_hold_max_s": 0.0,
                    },
                ),
            )
            if name in args.scaling
        }

    configs = configs_for(det)
    bg_gains = args.gains if args.background_gains is None else args.background_gains
    if args.slow_background and args.sessions is None:
        res["slow_background"] = {}
        scored: Any = det
        if args.cv_run:
            from evaluation.background import fold_detectors

            scored = fold_detectors(
                args.cv_run, args.cv_exports, lambda p: load_detector(p, backend=args.backend, threads=args.threads)
            )
            res.update(cv_run=args.cv_run, cv_exports=args.cv_exports)
        for uv in args.slow_background:
            b = alarms_on_slow_background(root / "background", configs_for, scored, uv)
            res["slow_background"][f"{uv:g}"] = b
            log.info("slow background, %g uV: %s", uv, {k: v for k, v in b.items() if k in configs})
        return _report(res, args.json)
    if args.loss_at is not None or args.sessions is not None:  # one of the background corpus' edited runs, then stop
        cfg = configs.get("on") or next(iter(configs.values()))
        bg = root / "background"
        if args.loss_at is not None:
            res["loss_at_s"], res["loss_pause_s"] = args.loss_at, LOSS_PAUSE_S
            key, run = "loss", lambda gain: alarms_after_loss(bg, cfg, det, gain, args.loss_at)
        else:
            res["session_pause_s"] = args.sessions
            key, run = "sessions", lambda gain: alarms_in_sessions(bg, cfg, det, gain, args.sessions, args.rise_to)
            if args.rise_to is not None:
                res["rise_to"], res["rise_s"], bg_gains = args.rise_to, RISE_S, [1.0]
        res[key] = {}
        for gain in bg_gains:
            res[key][f"{gain:g}"] = b = run(gain)
            log.info("background, gain %g, %s: %s", gain, key, b)
        if args.sessions is not None and args.slow_background:  # the slow background's sessions, beside the gains'
            res["sessions_slow_background"] = {}
            for uv in args.slow_background:
                b = alarms_in_sessions(bg, cfg, det, 1.0, args.sessions, slow_uv=uv)
                res["sessions_slow_background"][f"{uv:g}"] = b
                log.info("slow background, %g uV, sessions: %s", uv, b)
        return _report(res, args.json)
    card = json.loads((Path(args.export) / "model_card.json").read_text())
    res.update(export=args.export, model_version=det.model_version, backend=det.backend, gains={})
    with tempfile.TemporaryDirectory() as tmp:
        if args.long_seizures or args.clusters or args.rise_probe is not None:
            if args.rise_probe is not None:
                made, args.gains = rise_probe(Path(tmp), args.rise_probe), [1.0]
            else:
                made = long_seizures(root, card, Path(tmp)) if args.long_seizures else clusters(Path(tmp))
            recs, bg_gains, res["long_seizures"] = made, [], True
        else:
            recs = eval_recordings(root, card, Path(tmp))
        connected = at_connection(recs, Path(tmp)) if args.at_connection else []
        for gain in args.gains:
            row = res["gains"].setdefault(f"{gain:g}", {})
            for name, cfg in configs.items():
                row[name] = {"seizures": score_seizures(recs, cfg, det, gain)}
                log.info(
                    "gain %g, scaling %s: %s",
                    gain,
                    name,
                    {k: v for k, v in row[name]["seizures"].items() if k != "per_recording"},
                )
                if connected:
                    at = row[name]["at_connection"] = score_seizures(connected, cfg, det, gain)
                    at["within_s"] = {"alarm_s": ALARM_S, "detected": within(at)}
                    log.info(
                        "gain %g, scaling %s, at connection: %d of %d within %g s",
                        gain,
                        name,
                        within(at),
                        at["seizures"],
                        ALARM_S,
                    )
    for name, cfg in configs.items():
        if bg_gains:
            for gain, b in background_alarms(root / "background", cfg, det, bg_gains).items():
                res["gains"].setdefault(gain, {}).setdefault(name, {"seizures": None})["background"] = b
                log.info("background, gain %s, scaling %s: %s", gain, name, b)
    print(table(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
