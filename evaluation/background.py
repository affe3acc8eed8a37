"""False alarms per hour on continuous real background EEG, scored as the daemon scores it.

    python -m evaluation.background --model PATH [--background DIR] [--config TOML]
        [--montage M ...] [--aggregation A ...] [--baseline DIR | --no-baseline] [--no-peer] [--json OUT]

Needs the background corpus (default ``../shared/data/background``; not in the repository) and takes
minutes: every hop of every channel of 4.9 h of EEG goes through the model (on 2 CPU cores about 8 min
per front end for the network, 21 min for the peer, whose scores are cached: 2026-12-05). A command, not a test.

The corpus (:func:`discover`): every recording of seizure-free EEG under the folder, each with its
source and person. ``eegmmidb/SNNN/*.edf``: one person per folder (``SNNN``), 19 referential channels
of the 10-20 system at 160 Hz with BCI2000 labels (``Fc5.``); ``sleep-edf/*-PSG.edf``: one night of
one person (``SC4ssN...``: person ``SC4ss``), two EEG channels beside EOG, EMG, respiration,
temperature and an event marker; its ``*-Hypnogram.edf`` files are annotations, not recordings. Any
alarm on this corpus is a false alarm.

How a recording is scored (:func:`score_recording`): through the daemon's own pipeline,
:func:`realtime.offline.recording_pipeline` + :func:`realtime.offline.feed` + ``flush``, exactly as
``realtime-detect --file`` does, with the :class:`realtime.config.Config` the daemon would run that
detector with (:func:`realtime.config.apply_model_settings` with the detector's card settings): it
decides which channels are scored, the montage (``signal.montage``, passed through untouched: the
pipeline applies it) and the decision. Every onset event is one false alarm. To compare decision
settings cheaply, each recording is scored once per detector and front end (channel selection +
montage), keeping the per-window channel probabilities and window times; the
:class:`realtime.decision.DecisionMachine` is then replayed for every decision setting
(:func:`replay`). For the configured setting the replay gives exactly the pipeline's own events
(checked on every recording: a mismatch is logged as an error). The peer (:mod:`evaluation.peer`)
scores the front end's channels causally per channel and its probabilities go through the same
replay.

Out of fold by person: :func:`measure` takes, per detector, either one detector for every person (a
model that never saw this corpus: the shipped model was trained on Bonn and New Delhi only, and its
card says so) or a mapping person -> detector (each person scored by a model trained without them).
A single model whose card lists this corpus among its training data is reported as NOT out of fold.

What is counted (:func:`summarise`), per source and pooled: hours, recordings, persons, false
alarms, false alarms per hour with an exact two-sided Poisson 95 % interval (Garwood, from
``realtime.rates.poisson_interval``; 0 events in T hours: 0 to 3.689 / T), per-person counts, every alarm with its
file, time and the channels that carried it, and every channel left out of each recording with its
reason (the reader's and the pipeline's). Also the hours "at risk": the part of each recording where
an onset could arm at all (after the first window and ``decision.settle_s``); these corpus files are
1-2 min long, so a noticeable share of each cannot alarm, which a bed monitored for hours does not
have. A recording that cannot be read or scored is listed with its error and not counted.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from realtime.config import MODEL_BACKENDS
from realtime.rates import poisson_interval
from realtime.recordings import RecordingInfo

log = logging.getLogger("evaluation.background")

SOURCES = ("eegmmidb", "sleep-edf")
POOLED = "pooled"
DEFAULT_BACKGROUND = Path("..") / "shared" / "data" / "background"
REPO = Path(__file__).resolve().parents[1]
_SLEEP_PERSON = re.compile(r"^(SC4\d\d)\d")  # Sleep-EDF SC4ssN: subject ss, night N


# --------------------------------------------------------------------------- the corpus
@dataclass(frozen=True)
class BackgroundRecording:
    """One seizure-free recording: its file, source (:data:`SOURCES`) and person id."""

    path: Path
    source: str
    person: str

    @property
    def name(self) -> str:
        return f"{self.source}/{self.path.name}"


def discover(root: str | Path) -> list[BackgroundRecording]:
    """Every recording of the corpus under ``root`` (see the module docstring), sorted by source and file.

    Raises ``FileNotFoundError`` when ``root`` is not a folder and ``ValueError`` when it holds no recording.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"background folder {str(root)!r} does not exist (it needs ../shared/data/background)")
    found = [
        BackgroundRecording(p, "eegmmidb", p.parent.name)
        for p in sorted((root / "eegmmidb").glob("*/*.edf"))
        if p.is_file()
    ]
    for p in sorted((root / "sleep-edf").glob("*-PSG.edf")):
        m = _SLEEP_PERSON.match(p.name)
        found.append(BackgroundRecording(p, "sleep-edf", m.group(1) if m else p.name.split("-")[0]))
    if not found:
        raise ValueError(f"no recording under {str(root)!r}: expected eegmmidb/SNNN/*.edf and/or sleep-edf/*-PSG.edf")
    return found


# --------------------------------------------------------------------------- scoring
@dataclass
class Scores:
    """One detector's per-window channel probabilities on one recording, through one front end."""

    recording: BackgroundRecording
    duration_s: float
    times: np.ndarray  # [n_windows] window end ("now"), seconds from the start
    starts: np.ndarray  # [n_windows] window start
    channel_probs: np.ndarray  # [n_windows, n_channels] p(seizure), NaN = channel left out of that window
    channels: list[str]  # [n_channels] names of the scored channels (repeats suffixed #2, ...)
    left_out: dict[str, str]  # channels left out of the whole recording -> why (reader and pipeline)
    flagged_windows: dict[str, dict[str, int]]  # channel -> reason ("flat", "railed", ...) -> windows
    window_s: float | None  # the decision machine's nominal window span (None: windows of varying length)
    flush_s: float | None  # when the input ended (the pipeline flushes at its last sample)
    events: list  # realtime.decision.DecisionEvent: the scorer's own, under the configured decision
    # "": the pipeline applied the montage signal.montage asks for; else what it did instead and why
    # (realtime.montage.Montage.describe(), e.g. "as recorded (bipolar asked: already bipolar ...)")
    montage_note: str = ""
    whole_bed: tuple[int, ...] = ()  # the channels that count as the whole bed (realtime.montage.WHOLE_BED)

    @property
    def hours(self) -> float:
        return self.duration_s / 3600.0


def replay(scores: Scores, decision, hop_s: float) -> list:
    """``scores``' per-window probabilities through a fresh :class:`realtime.decision.DecisionMachine`
    with ``decision``; returns its events (onsets and offsets, the flush included), as the pipeline would."""
    from realtime.decision import DecisionMachine

    machine = DecisionMachine(decision, hop_s, window_s=scores.window_s, whole_bed=scores.whole_bed)
    events = []
    for t, s, p in zip(scores.times, scores.starts, scores.channel_probs, strict=True):
        events.extend(machine.step(float(t), float(s), float(t), p))
    events.extend(machine.flush(scores.flush_s))
    return events


def _count_flags(flags: Iterable[Mapping[str, str]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for window in flags:
        for name, reason in window.items():
            out.setdefault(name, {}).setdefault(reason, 0)
            out[name][reason] += 1
    return out


@dataclass(kw_only=True, eq=False)
class Edited(RecordingInfo):
    """``source`` changed as it is read, block by block: its samples times ``gain`` (a number, or ``[n_samples]``: a
    gain that changes along the recording), plus ``added [n_channels, n]`` (µV) when given, which then also crops it
    to its first ``n`` samples (a stress test's gain, an experiment's artefact or rising background; the values of
    ``source.load().data[:, :n] * gain + added``)."""

    source: RecordingInfo = field(repr=False)
    gain: float | np.ndarray = 1.0
    added: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_samples(self) -> int:
        return self.source.n_samples if self.added is None else int(self.added.shape[1])

    def _read(self, start: int, stop: int, rows) -> np.ndarray:
        gain = self.gain if np.ndim(self.gain) == 0 else np.asarray(self.gain)[start:stop]
        x = self.source.read(start, stop, rows) * gain
        return x if self.added is None else x + self.added[list(rows), start:stop]


def score_recording(rec: BackgroundRecording, config, detector, gain: float = 1.0) -> Scores:
    """Score ``rec`` with ``detector`` through the daemon's pipeline, fed as ``realtime-detect --file``
    feeds it; ``gain`` multiplies the recording first (a stress test: a patient's background of higher
    amplitude than these healthy volunteers'). ``config``: the :class:`realtime.config.Config` the daemon
    would run ``detector`` with. Raises ``ValueError``/``OSError`` for a recording that cannot be read or scored."""
    from realtime.offline import feed, left_out_channels, recording_pipeline
    from realtime.recordings import open_recording

    r = open_recording(rec.path, annotations=False)  # read block by block by feed; seizure-free: no annotations
    if gain != 1.0:
        r = Edited(source=r, gain=gain, **r.metadata())
    pipe = recording_pipeline(r, config, detector)
    results = list(feed(pipe, r, config.window.hop_s))
    events = [e for w in results for e in w.events]
    events.extend(pipe.flush())
    names = list(pipe.unique_ch_names)
    probs = np.array([w.channel_probabilities for w in results], dtype=np.float64).reshape(len(results), len(names))
    asked = config.signal.montage
    note = "" if pipe.montage.applied == asked else pipe.montage.describe()
    if note:
        log.info("%s: signal.montage=%r: %s", rec.name, asked, note)
    return Scores(
        recording=rec,
        duration_s=r.duration_s,
        times=np.array([w.window_end for w in results], dtype=np.float64),
        starts=np.array([w.window_start for w in results], dtype=np.float64),
        channel_probs=np.where(np.isfinite(probs), probs, np.nan),
        channels=names,
        left_out=left_out_channels(r, pipe),
        flagged_windows=_count_flags(w.flagged_channels for w in results),
        window_s=getattr(pipe.decision, "window_s", None),
        flush_s=r.last_sample_s,  # the last sample's time (an EDF+D's gaps included)
        events=events,
        montage_note=note,
        whole_bed=pipe.montage.common,
    )


def front_end_signal(r, config, probe) -> tuple[np.ndarray, list[str], dict[str, str], tuple[int, ...]]:
    """The signal a front end scores, for a scorer that is not the pipeline (the peer): ``(data_uv
    [n_channels, n_samples], names [n_channels], left_out, whole_bed)`` (``whole_bed``: the channels that count as
    the whole bed, :class:`realtime.decision.DecisionMachine`): the inputs the pipeline selects from the
    recording ``r`` under ``config`` (a pipeline is built with the detector ``probe``, never stepped),
    through the pipeline's own montage (every input taken as usable: the peer has no window checks)."""
    from realtime.offline import left_out_channels, recording_pipeline

    pipe = recording_pipeline(r, config, probe)
    rows: list[int] = []
    for name in pipe.input_names:  # a repeated label takes its next occurrence
        rows.append(next(i for i, label in enumerate(r.ch_names) if label == name and i not in rows))
    data = pipe.montage.apply(r.data[rows], np.ones(len(rows), dtype=bool))
    return data, list(pipe.unique_ch_names), left_out_channels(r, pipe), pipe.montage.common


def score_peer(rec: BackgroundRecording, config, scorer, probe, cache_dir: Path | None = None) -> Scores:
    """The peer (:class:`evaluation.peer.PeerScorer`, causal per channel) on the front end's channels
    (:func:`front_end_signal` with the detector ``probe``), then the decision machine with
    ``config.decision`` (its windows grow to 300 s: no gap check). The peer's probabilities do not
    depend on our model: with ``cache_dir`` they are kept there, by the file's sha256, the front end's
    channels and the peer's settings, and read back on the next run."""
    from evaluation.runs import cached_peer_scores
    from realtime.recordings import read_recording

    r = read_recording(rec.path)
    data, names, left_out, whole_bed = front_end_signal(r, config, probe)
    times, starts, probs = cached_peer_scores(
        scorer, rec.path, lambda: scorer.score(data, r.sfreq), cache_dir, key=f"{names}|", prefix="background_"
    )
    scores = Scores(
        recording=rec,
        duration_s=r.duration_s,
        times=times,
        starts=starts,
        channel_probs=np.where(np.isfinite(probs), probs, np.nan),
        channels=names,
        left_out=left_out,
        flagged_windows={},
        window_s=None,
        flush_s=float(times[-1]) if times.size else None,
        events=[],
        whole_bed=whole_bed,
    )
    scores.events = replay(scores, config.decision, config.window.hop_s)
    return scores


# --------------------------------------------------------------------------- counting
def not_10_20(names: Iterable[str]) -> list[str]:
    """The channel names that do not read as a 10-20 electrode or derivation
    (:func:`realtime.montage.parse_label`; a repeat suffix ``#2`` ignored) nor as a montage's mean of the scalp
    electrodes (``AVG``, ``AVG-L``, ``AVG-R``: :data:`realtime.montage.WHOLE_BED`): what an alarm should never carry."""
    from realtime.montage import WHOLE_BED, parse_label

    means = {label for kind in WHOLE_BED.values() for label, _ in kind}
    return [n for n in names if n.split("#")[0] not in means and parse_label(n.split("#")[0]) is None]


def alarms(scores: Scores, events: Sequence) -> list[dict[str, Any]]:
    """The onset events of ``events`` (on ``scores``' recording) as JSON-able alarms: file, time, duration, the
    channels that carried it, and those of them that are not 10-20 EEG (:func:`not_10_20`)."""
    rec = scores.recording
    ends = {e.event_id: float(e.time) for e in events if e.kind == "offset"}
    out = []
    for e in events:
        if e.kind != "onset":
            continue
        channels = [scores.channels[i] for i in e.channels]
        out.append(
            {
                "file": rec.name,
                "source": rec.source,
                "person": rec.person,
                "time_s": round(float(e.time), 3),
                "publish_time_s": round(float(e.publish_time), 3),
                # to its offset (the recording's end flushes an open one); None: no offset among ``events``
                "duration_s": round(ends[e.event_id] - float(e.time), 3) if e.event_id in ends else None,
                "probability": round(float(e.probability), 4),
                "channels": channels,
                "channels_not_10_20": not_10_20(channels),
            }
        )
    return out


def at_risk_s(scores: Scores, settle_s: float) -> float:
    """Seconds of ``scores``' recording in which an onset could arm: from the first window's end, or
    ``settle_s`` after its start if later, to the last window's end."""
    if scores.times.size == 0:
        return 0.0
    first = max(float(scores.times[0]), float(scores.starts[0]) + settle_s)
    return max(0.0, float(scores.times[-1]) - first)


def _rate(k: int, hours: float) -> dict[str, Any]:
    if hours <= 0:
        return {"false_alarms": k, "hours": hours, "per_hour": None, "ci95_per_hour": None}
    lo, hi = poisson_interval(k, hours)
    return {"false_alarms": k, "hours": round(hours, 4), "per_hour": k / hours, "ci95_per_hour": [lo, hi]}


def summarise(runs: Sequence[tuple[Scores, Sequence]], settle_s: float) -> dict[str, Any]:
    """``[(scores, events)]`` of one detector, front end and decision setting -> per source and pooled
    hours, recordings, persons, false alarms, rate and Garwood 95 % interval; per-person counts; alarms."""
    groups: dict[str, list[tuple[Scores, Sequence]]] = {}
    for sc, ev in runs:
        groups.setdefault(sc.recording.source, []).append((sc, ev))
    order = [src for src in SOURCES if src in groups] + sorted(set(groups) - set(SOURCES))
    out: dict[str, Any] = {}
    for name, group in (*((src, groups[src]) for src in order), (POOLED, list(runs))):
        n = sum(1 for sc, ev in group for e in ev if e.kind == "onset")
        hours = sum(sc.hours for sc, _ in group)
        out[name] = {
            **_rate(n, hours),
            "hours_at_risk": round(sum(at_risk_s(sc, settle_s) for sc, _ in group) / 3600.0, 4),
            "recordings": len(group),
            "persons": len({sc.recording.person for sc, _ in group}),
        }
    persons: dict[str, dict[str, Any]] = {}
    for sc, ev in runs:
        p = persons.setdefault(sc.recording.person, {"source": sc.recording.source, "hours": 0.0, "false_alarms": 0})
        p["hours"] += sc.hours
        p["false_alarms"] += sum(1 for e in ev if e.kind == "onset")
    return {
        "sources": out,
        "per_person": {k: {**v, "hours": round(v["hours"], 4)} for k, v in sorted(persons.items())},
        "alarms": [a for sc, ev in runs for a in alarms(sc, ev)],
    }


def channel_rate(scores: Sequence[Scores], on_threshold: float) -> dict[str, Any]:
    """The per-channel rate of windows at or above ``on_threshold``: what ``decision.channel_false_rate``
    (the binomial bed rule) means, measured on seizure-free EEG. ``{"channel_windows", "at_or_above",
    "rate"}``; a channel left out of a window does not count."""
    probs = [sc.channel_probs[np.isfinite(sc.channel_probs)] for sc in scores]
    n = int(sum(p.size for p in probs))
    k = int(sum(np.count_nonzero(p >= on_threshold) for p in probs))
    return {"channel_windows": n, "at_or_above": k, "rate": k / n if n else None}


# --------------------------------------------------------------------------- the measurement
def _training_data(card: Mapping[str, Any] | None) -> list[str]:
    """The names of a card's training data: ``training.data_sources``, else ``training.data`` (strings, or
    objects with a ``name``); ``[]`` when the card lists none."""
    training = (card or {}).get("training") or {}
    items = training.get("data_sources") or training.get("data") or []
    if not isinstance(items, (list, tuple)):
        return []
    return [str(x.get("name", x)) if isinstance(x, Mapping) else str(x) for x in items]


def saw_background(card: Mapping[str, Any] | None) -> bool | None:
    """Whether a model card lists this corpus among its training data; ``None`` when it lists none."""
    names = _training_data(card)
    if not names:
        return None
    words = ("background", "eegmmidb", "sleep-edf", "sleep_edf")
    return any(w in n.lower() for n in names for w in words)


def fold_note(model, card: Mapping[str, Any] | None) -> str:
    """How the detector relates to the corpus, for the output: out of fold or not, and why."""
    if isinstance(model, Mapping):
        return "out of fold by person: each person scored by a model trained without them"
    seen = saw_background(card)
    if seen:
        return "NOT out of fold: one model for every person, and its card lists this corpus in its training data"
    if seen is None:
        return "one model for every person; its card does not list its training data, so out of fold is not known"
    return (
        "one model for every person, trained without any of this corpus (its card's training data: "
        f"{', '.join(_training_data(card))}): out of fold"
    )


class WithSettings:
    """A fold's detector with another model's card ``settings``: the fold's weights run under the decision and
    signal settings of the model it stands in for (everything but ``settings`` is the fold's)."""

    def __init__(self, detector: Any, settings: Mapping[str, Mapping[str, Any]]) -> None:
        self._detector = detector
        self.settings = settings

    def __getattr__(self, name: str) -> Any:
        return getattr(self._detector, name)


def add_cv_arguments(ap: argparse.ArgumentParser, cv_run_help: str) -> None:
    """``--cv-run DIR`` and ``--cv-exports DIR`` (:func:`fold_detectors`'s arguments) on a command's parser."""
    ap.add_argument("--cv-run", default=None, metavar="DIR", help=cv_run_help)
    ap.add_argument("--cv-exports", default=None, metavar="DIR", help="with --cv-run: DIR/fold-F is fold F's export")


def fold_detectors(
    cv_run: str | Path, exports: str | Path, load, settings: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """Person -> the detector of the cross-validation fold whose test split holds them (out of fold by
    person): ``CV_RUN/fold-F/split.json`` ``["background"]["test"]`` (``train-detector cv``) and the
    fold's export ``EXPORTS/fold-F`` (``train-detector export``), loaded once each by ``load(path)``;
    with ``settings`` (a card's ``settings``), each fold runs under them (:class:`WithSettings`), else under
    its own card's. Raises ``ValueError`` quoting the fold for a fold without a background split or a person
    held out by two folds."""
    folds = sorted(Path(cv_run).glob("fold-*/split.json"))
    if not folds:
        raise ValueError(f"no fold-*/split.json under {str(cv_run)!r} (a train-detector cv run)")
    out: dict[str, Any] = {}
    for split_path in folds:
        fold = split_path.parent.name
        test = (json.loads(split_path.read_text(encoding="utf-8")).get("background") or {}).get("test")
        if not test:
            raise ValueError(f"{str(split_path)!r} has no background test persons: not trained with data.background")
        det = load(Path(exports) / fold)
        if settings is not None:
            det = WithSettings(det, settings)
        for person in test:
            if person in out:
                raise ValueError(f"person {person!r} is held out by two folds (again in {fold!r})")
            out[person] = det
    return out


PEER_NOTE = "trained on other people's intracranial EEG (Mayo Clinic), none of this corpus: out of fold"


def _settings(config, aggregations: Sequence[str]) -> list[tuple[str, Any]]:
    """The decision settings to compare: the configured one first, then one per other aggregation."""
    d = config.decision
    out = [(f"aggregation={d.aggregation}", d)]
    for a in aggregations:
        if a != d.aggregation and all(s.aggregation != a for _, s in out):
            out.append((f"aggregation={a}", dataclasses.replace(d, aggregation=a)))
    return out


def measure(
    recordings: Sequence[BackgroundRecording],
    config,
    detectors: Mapping[str, Any],
    *,
    peer=None,
    montages: Sequence[str] = (),
    aggregations: Sequence[str] = (),
    peer_cache: Path | None = None,
    scores_dir: Path | None = None,
    gains: Sequence[float] = (1.0,),
) -> dict[str, Any]:
    """False alarms of every detector on ``recordings``, per front end and decision setting.

    ``config``: a :class:`realtime.config.Config` as loaded (``load_config``: its ``sources`` say which
    keys the file or flags set); for each detector, :func:`realtime.config.apply_model_settings` with its
    card's settings gives the configuration the daemon would run it with. ``detectors``: name -> one
    detector for every person, or a mapping person -> detector (out of fold by person); the first is the
    network. ``peer``: an :class:`evaluation.peer.PeerScorer` or None; it scores the channels the
    network's pipeline selects and gets the network's configuration. ``montages``: the
    ``signal.montage`` values to compare (front ends; default: the configured one); ``aggregations``:
    the ``decision.aggregation`` values to compare by replay (default: the configured one);
    ``peer_cache``: a folder for the peer's probabilities (:func:`score_peer`); ``scores_dir``: if given,
    every recording's per-window channel probabilities are written there
    (``DETECTOR/MONTAGE/NAME.npz``: ``times``, ``starts``, ``channel_probs``, ``channels``), for
    analyses that need no rescoring; ``gains``: amplitude factors applied to every recording, each its
    own front end (a stress test; the peer z-scores its windows, so it runs at gain 1 only). Returns a
    JSON-able dict: ``{"recordings": [{file, source, person, duration_s, errors}], "runs": [{detector,
    front_end, setting, decision, out_of_fold, sources, per_person, alarms, left_out, flagged_windows,
    scored_channels}]}``.
    """
    from evaluation.runs import detector_config

    if not detectors:
        raise ValueError("measure needs at least one detector (the network)")
    montages = list(dict.fromkeys(montages or [config.signal.montage]))
    network = next(iter(detectors.values()))
    recs_out: dict[str, dict[str, Any]] = {
        r.name: {"file": str(r.path), "source": r.source, "person": r.person} for r in recordings
    }
    entries = [*detectors.items(), *([("peer", peer)] if peer is not None else [])]
    runs: list[dict[str, Any]] = []
    for det_name, model in entries:
        for montage, gain in itertools.product(montages, gains if det_name != "peer" else (1.0,)):
            scored: list[tuple[Scores, Any]] = []  # (scores, the configuration it ran with)
            for rec in recordings:
                own = network if det_name == "peer" else model
                det = own.get(rec.person) if isinstance(own, Mapping) else own
                if det is None:
                    recs_out[rec.name].setdefault("errors", {})[det_name] = f"no detector for person {rec.person!r}"
                    continue
                cfg = detector_config(config, det)
                cfg = dataclasses.replace(cfg, signal=dataclasses.replace(cfg.signal, montage=montage))
                t0 = time.time()
                try:
                    sc = (
                        score_peer(rec, cfg, peer, det, peer_cache)
                        if det_name == "peer"
                        else score_recording(rec, cfg, det, gain)
                    )
                except (ValueError, OSError) as exc:  # RecordingError, bad channels...: listed, not counted
                    log.error("%s on %s: %s", det_name, rec.name, exc)
                    recs_out[rec.name].setdefault("errors", {})[det_name] = str(exc)
                    continue
                recs_out[rec.name]["duration_s"] = round(sc.duration_s, 3)
                if scores_dir is not None:
                    front = montage if gain == 1.0 else f"{montage}-x{gain:g}"
                    out = Path(scores_dir) / det_name / front / f"{rec.name.replace('/', '_')}.npz"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    np.savez(
                        out, times=sc.times, starts=sc.starts, channel_probs=sc.channel_probs, channels=sc.channels
                    )
                if _key(replay(sc, cfg.decision, cfg.window.hop_s)) != _key(sc.events):
                    log.error("%s on %s: the replayed decisions differ from the pipeline's", det_name, rec.name)
                scored.append((sc, cfg))
                log.info(
                    "%s, montage %s, %s: %d alarm(s) in %.0f s (%.1f s)",
                    det_name,
                    montage,
                    rec.name,
                    sum(e.kind == "onset" for e in sc.events),
                    sc.duration_s,
                    time.time() - t0,
                )
            if not scored:
                continue
            first = scored[0][1]
            card = None if isinstance(model, Mapping) or det_name == "peer" else getattr(model, "card", None)
            for setting, decision in _settings(first, aggregations):
                pairs = [
                    (
                        sc,
                        replay(
                            sc, dataclasses.replace(cfg.decision, aggregation=decision.aggregation), first.window.hop_s
                        ),
                    )
                    for sc, cfg in scored
                ]
                runs.append(
                    {
                        "detector": det_name,
                        "front_end": {
                            "montage": montage,
                            "gain": gain,
                            **_channel_rule(first),
                            "montage_not_applied": {
                                sc.recording.name: sc.montage_note for sc, _ in scored if sc.montage_note
                            },
                        },
                        "setting": setting,
                        "decision": dataclasses.asdict(decision),
                        "out_of_fold": PEER_NOTE if det_name == "peer" else fold_note(model, card),
                        **summarise(pairs, decision.settle_s),
                        "channel_rate": channel_rate([sc for sc, _ in scored], first.decision.on_threshold),
                        "left_out": {sc.recording.name: sc.left_out for sc, _ in scored if sc.left_out},
                        "flagged_windows": {
                            sc.recording.name: sc.flagged_windows for sc, _ in scored if sc.flagged_windows
                        },
                        "scored_channels": {sc.recording.name: sc.channels for sc, _ in scored},
                    }
                )
    return {"recordings": list(recs_out.values()), "runs": runs}


def _key(events: Sequence) -> list[tuple]:
    return [(e.kind, e.event_id, round(e.time, 6), round(e.publish_time, 6), e.channels) for e in events]


def _channel_rule(cfg) -> dict[str, list[str]]:
    s = cfg.stream
    return {"channels": list(s.channels), "include": list(s.include), "exclude": list(s.exclude)}


# --------------------------------------------------------------------------- the table
def _front(front_end: Mapping[str, Any]) -> str:
    gain = front_end.get("gain", 1.0)
    return front_end["montage"] + ("" if gain == 1.0 else f" x{gain:g}")


def cell(s: Mapping[str, Any] | None) -> str:
    """``"1 in 4.90 h: 0.20/h [0.01, 1.14]"``: one source's false alarms, hours, rate and 95 % interval."""
    if not s:
        return "-"
    if s["per_hour"] is None:
        return f"{s['false_alarms']} in 0 h"
    lo, hi = s["ci95_per_hour"]
    return f"{s['false_alarms']} in {s['hours']:.2f} h: {s['per_hour']:.2f}/h [{lo:.2f}, {hi:.2f}]"


def table(result: Mapping[str, Any]) -> str:
    """The runs of :func:`measure` as a text table: detector x front end x setting; per source and pooled,
    false alarms in hours, false alarms per hour [exact 95 % CI]."""
    runs = result["runs"]
    cols = [s for s in SOURCES if any(s in r["sources"] for r in runs)] + [POOLED]
    head = ["detector", "montage", "setting", *cols]
    rows = [
        [r["detector"], _front(r["front_end"]), r["setting"], *(cell(r["sources"].get(c)) for c in cols)] for r in runs
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in runs:
        for a in r["alarms"]:
            lines.append(
                f"alarm: {r['detector']} {r['front_end']['montage']} {r['setting']}: {a['file']} at "
                f"{a['time_s']:.1f} s on {', '.join(a['channels'])}"
            )
    for montage, files in {r["front_end"]["montage"]: r["front_end"]["montage_not_applied"] for r in runs}.items():
        lines.extend(f"montage {montage} not applied to {f}: {why}" for f, why in files.items())
    for rec in result["recordings"]:
        for det, error in (rec.get("errors") or {}).items():
            lines.append(f"not scored: {rec['file']} ({det}): {error}")
    notes = {r["detector"]: r["out_of_fold"] for r in runs}
    lines.extend(f"{det}: {note}" for det, note in notes.items())
    return "\n".join(lines)


# --------------------------------------------------------------------------- the command
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from realtime import __version__
    from realtime.config import AGGREGATIONS, MONTAGES

    ap = argparse.ArgumentParser(
        prog="python -m evaluation.background",
        description="False alarms per hour on continuous real background EEG (seizure-free), scored through "
        "the daemon's pipeline. Needs the background corpus (../shared/data/background, not in the "
        "repository) and takes minutes: every hop of every channel of 4.9 h of EEG (on 2 CPU cores about "
        "8 min per front end for the network, 21 min for the peer, whose scores are then cached).",
    )
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    ap.add_argument("--model", required=True, help="the network's export directory")
    ap.add_argument("--background", default=str(DEFAULT_BACKGROUND), help="the corpus folder (default: %(default)s)")
    ap.add_argument(
        "--config",
        default=str(REPO / "config" / "realtime-detect.toml"),
        help="daemon configuration (TOML) whose settings are measured, the model card's settings for keys it "
        "leaves unset, as in the daemon (default: %(default)s)",
    )
    ap.add_argument("--montage", nargs="+", choices=MONTAGES, default=None, help="signal.montage values to compare")
    ap.add_argument(
        "--aggregation", nargs="+", choices=AGGREGATIONS, default=None, help="decision.aggregation values to compare"
    )
    ap.add_argument("--backend", default="tensorflow", choices=MODEL_BACKENDS[1:])
    ap.add_argument(
        "--baseline",
        default=None,
        help="the baseline export (evaluation/baseline.py); default: artifacts/eval/baseline_export when it "
        "exists (train-detector evaluate writes it), else fitted as train-detector evaluate fits it "
        "(needs --data-root)",
    )
    ap.add_argument("--data-root", default="../shared/data", help="bonn/ and nscnd/, to fit the baseline")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-peer", action="store_true", help="skip the peer (slow: 300 s windows every second)")
    ap.add_argument("--peer-model", default="modelA", choices=["modelA", "modelB"])
    ap.add_argument(
        "--peer-cache", default="artifacts/eval/peer_cache", help="the peer's probabilities are kept here ('' = none)"
    )
    add_cv_arguments(
        ap,
        "out of fold by person: a train-detector cv run; each person is scored by the fold whose "
        "test split holds them (fold-F/split.json), exported under --cv-exports (--model then serves the "
        "baseline and the peer only)",
    )
    ap.add_argument(
        "--write-card",
        default=None,
        metavar="EXPORT",
        help="write the network's per-channel rate of windows at or above on_threshold (signal.montage of "
        "--config, at --card-gain) into EXPORT's card as decision.channel_false_rate",
    )
    ap.add_argument("--card-gain", type=float, default=1.0, metavar="G", help="with --write-card: the gain measured")
    ap.add_argument("--limit", type=int, default=0, help="score only the first N recordings (a quick check)")
    ap.add_argument("--json", default=None, help="write the result here")
    ap.add_argument(
        "--gain", type=float, nargs="+", metavar="G", help="also score the recordings multiplied by G (a stress test)"
    )
    ap.add_argument("--save-scores", default=None, metavar="DIR", help="write per-window channel probabilities here")
    args = ap.parse_args(argv)
    if bool(args.cv_run) != bool(args.cv_exports):
        ap.error("--cv-run and --cv-exports go together")
    if args.write_card and args.card_gain != 1.0 and args.card_gain not in (args.gain or ()):
        ap.error(f"--card-gain {args.card_gain:g} is not among the --gain values {args.gain}")
    return args


def _baseline(args, net):
    """The baseline detector: ``--baseline``, else the export train-detector evaluate wrote, else fitted."""
    from realtime.model import load_detector

    path = Path(args.baseline) if args.baseline else Path("artifacts") / "eval" / "baseline_export"
    if args.baseline or (path / "model_card.json").is_file():
        return load_detector(path, backend=args.backend)
    from evaluation import evaluate as ev

    log.info("no baseline export at %s: fitting one as train-detector evaluate does", path)
    fit_args = argparse.Namespace(data_root=args.data_root, recompute_split=False, baseline=None, backend=args.backend)
    records, split, note = ev._records_and_split(fit_args, net.card)
    window_samples = int(net.card["window_samples"])
    sig = (net.card.get("hyperparameters") or {}).get("signal") or {}
    hop = int(sig.get("train_hop_samples") or window_samples // 2)
    art = Path("artifacts") / "eval"
    return ev.baseline_detector(fit_args, records, split, note, window_samples, hop, art)[0]


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("realtime.offline", "realtime.model", "realtime.recordings", "realtime.pipeline", "absl"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parse_args(argv)
    from realtime.config import ConfigError, load_config
    from realtime.model import load_detector

    try:
        recs = discover(args.background)
        config = load_config(args.config)
    except (OSError, ValueError) as exc:
        print(f"python -m evaluation.background: {exc}", file=sys.stderr)
        return 2
    if args.limit > 0:
        recs = recs[: args.limit]
    net = load_detector(args.model, backend=args.backend)
    detectors: dict[str, Any] = {"network": net}
    if args.cv_run:
        try:
            detectors["network"] = fold_detectors(
                args.cv_run, args.cv_exports, lambda p: load_detector(p, backend=args.backend)
            )
        except (OSError, ValueError) as exc:
            print(f"python -m evaluation.background: {exc}", file=sys.stderr)
            return 2
    if not args.no_baseline:
        detectors["baseline"] = _baseline(args, net)
    peer = None
    if not args.no_peer:
        from evaluation.peer import PeerScorer, peer_available

        ok, why = peer_available()
        if ok:
            peer = PeerScorer(args.peer_model, hop_s=config.window.hop_s)
        else:
            log.warning("peer not run: %s", why)
    t0 = time.time()
    try:
        result = measure(
            recs,
            config,
            detectors,
            peer=peer,
            montages=args.montage or (),
            aggregations=args.aggregation or (),
            peer_cache=Path(args.peer_cache) if args.peer_cache else None,
            scores_dir=Path(args.save_scores) if args.save_scores else None,
            gains=args.gain or (1.0,),
        )
    except ConfigError as exc:
        print(f"python -m evaluation.background: {exc}", file=sys.stderr)
        return 2
    result = {
        "command": "python -m evaluation.background " + " ".join(argv if argv is not None else sys.argv[1:]),
        "background": str(args.background),
        "model": str(args.model),
        "model_version": net.model_version,
        "wall_s": round(time.time() - t0, 1),
        **result,
    }
    print(table(result))
    if args.write_card:
        code = _write_card(args, config, result)
        if code:
            return code
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1, default=_json_default), encoding="utf-8")
    return 0


def _write_card(args, config, result: Mapping[str, Any]) -> int:
    """``--write-card``: the network's channel rate at ``--card-gain`` on the configured montage -> the card."""
    from evaluation.model_settings import SettingsError, derived_by, write_channel_false_rate

    runs = [
        r
        for r in result["runs"]
        if r["detector"] == "network"
        and r["front_end"]["montage"] == config.signal.montage
        and r["front_end"]["gain"] == args.card_gain
    ]
    rate = runs[0]["channel_rate"] if runs else None
    if not rate or not rate["at_or_above"]:
        print(
            f"python -m evaluation.background: no channel rate to write for montage {config.signal.montage!r} at "
            f"gain {args.card_gain:g} ({rate}): measure a gain where channels reach on_threshold",
            file=sys.stderr,
        )
        return 2
    command = f"python -m evaluation.background --gain {args.card_gain:g} ({rate['at_or_above']} of "
    command += f"{rate['channel_windows']} channel-windows, montage {config.signal.montage})"
    try:
        written = write_channel_false_rate(args.write_card, float(f"{rate['rate']:.3g}"), derived_by(command))
    except SettingsError as exc:
        print(f"python -m evaluation.background: {exc}", file=sys.stderr)
        return 2
    log.info("wrote decision.channel_false_rate=%r into %s", written["channel_false_rate"], args.write_card)
    return 0


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    raise TypeError(f"not JSON-serialisable: {x!r}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
