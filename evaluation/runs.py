"""Per-window scores of one detector on one recording, and the same scores through other decision settings.

- :func:`pipeline_window_scores`: the network or the baseline export through the daemon's own
  :class:`realtime.pipeline.Pipeline` in offline mode, fed exactly as ``realtime-detect --file``
  (:mod:`realtime.offline`) feeds it: one hop of samples at a time, timestamps in seconds from the
  start, every hop scored, the decision machine flushed at the end;
- :func:`peer_window_scores`: the peer's causal per-window probabilities (cached), then our decision
  machine;
- :func:`replay_decision`: stored per-window probabilities through
  :class:`realtime.decision.DecisionMachine` with other settings (decision tuning, each detector's
  own settings).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.events import DetectedEvent, EventScore, events_from_decisions
from evaluation.recordings import EvalRecording

DETECTORS = ("network", "baseline", "peer")
LABELS = {
    "network": "network (shipped model)",
    "baseline": "baseline (line length + band power)",
    "peer": "peer (brainmaze modelA, causal)",
}


@dataclass
class WindowScores:
    """Per-window output of one detector on one recording."""

    times: np.ndarray  # [n_windows] window end ("now"), seconds from the start
    starts: np.ndarray  # [n_windows] window start
    channel_probs: np.ndarray  # [n_windows, n_channels] raw p(seizure), NaN = flagged channel
    smoothed: np.ndarray  # [n_windows] smoothed bed probability (as the decision machine saw it)
    events: list[DetectedEvent]
    score: EventScore | None = None
    end: Any = None  # realtime.offline.FileEnd | None: for a recording that may continue this one
    whole_bed: tuple[int, ...] = ()  # the channels that count as the whole bed (realtime.montage.WHOLE_BED)


def _finite(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)


BED_RULE_KEYS = ("channel_false_rate", "channel_correlation", "bed_false_rate")  # measured together, per model


def detector_config(config, detector):
    """``config`` with ``detector``'s own card settings over it where the configuration file and flags set nothing
    (:func:`realtime.config.apply_model_settings`): given the network's configuration, the baseline keeps the
    network's decision settings and takes its own ``signal.resample_filter`` (:mod:`evaluation.baseline`). The bed
    rule's rates and correlation describe one model's errors, measured for it: a detector gets its own card's, else
    the built-in ones, never those of the model whose configuration it is given (unless the file or a flag sets
    them, for every detector)."""
    from realtime.config import DecisionConfig, apply_model_settings

    explicit, built_in = config.sources or {}, DecisionConfig()
    own = {k: getattr(built_in, k) for k in BED_RULE_KEYS if f"decision.{k}" not in explicit}
    config = dataclasses.replace(config, decision=dataclasses.replace(config.decision, **own))
    return apply_model_settings(config, getattr(detector, "settings", None))[0]


def pipeline_window_scores(path: Path, config, detector, duration_s: float, previous=None) -> WindowScores:
    """Score ``path`` with ``detector`` through the daemon's :class:`realtime.pipeline.Pipeline` (offline mode).

    ``config``: a :class:`realtime.config.Config` (its ``window``, ``decision``, ``stream.channels`` and
    ``signal`` are used, as by ``realtime-detect --file``); ``duration_s``: the recording's length (an
    onset never closed ends there); ``previous``: the ``end`` of the recording scored just before it, whose
    background levels it takes when it continues that file or names the same patient
    (:func:`realtime.offline.continued_pipeline`). The
    recording is fed as :mod:`realtime.offline` feeds it, so the windows and events equal that command's
    ``--json --windows`` lines for the same files in the same order.
    """
    from realtime.offline import continued_pipeline, feed, file_end
    from realtime.recordings import open_recording

    rec = open_recording(path, annotations=False)  # read block by block by feed; scoring uses no annotations
    pipe, _ = continued_pipeline(rec, config, detector, previous)
    results = list(feed(pipe, rec, config.window.hop_s))
    decisions = [e for r in results for e in r.events]
    decisions.extend(pipe.flush())
    n_ch = len(results[0].channel_probabilities) if results else 0
    probs = _finite([r.channel_probabilities for r in results]).reshape(len(results), n_ch)
    return WindowScores(
        times=np.array([r.window_end for r in results], dtype=np.float64),
        starts=np.array([r.window_start for r in results], dtype=np.float64),
        channel_probs=probs,
        smoothed=_finite([r.probability for r in results]),
        events=events_from_decisions(decisions, duration_s),
        end=file_end(rec, pipe),
        whole_bed=pipe.montage.common,
    )


def replay_decision(ws: WindowScores, decision, hop_s: float, duration_s: float) -> WindowScores:
    """The same per-window probabilities through :class:`realtime.decision.DecisionMachine` with other settings."""
    from evaluation.peer import run_decision

    smoothed, events = run_decision(ws.times, ws.starts, ws.channel_probs, decision, hop_s, whole_bed=ws.whole_bed)
    return WindowScores(
        times=ws.times,
        starts=ws.starts,
        channel_probs=ws.channel_probs,
        smoothed=smoothed,
        events=events_from_decisions(events, duration_s),
        whole_bed=ws.whole_bed,
    )


def cached_peer_scores(
    scorer, path: str | Path, score, cache_dir: Path | None, key: str = "", prefix: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(times [n_windows], starts [n_windows], probs [n_windows, n_channels])`` of the peer on the
    recording at ``path``: read from ``cache_dir`` (by the file's sha256, the peer's settings and
    ``key``, e.g. the channels scored) when there, else ``score()`` (a :class:`PeerScores`) and kept
    there. The peer's probabilities do not depend on our model, so they are worth keeping."""
    import hashlib

    cached = None
    if cache_dir is not None:
        h = hashlib.sha256(Path(path).read_bytes())
        h.update(f"{key}{scorer.model_name}|{scorer.window_s}|{scorer.min_window_s}|{scorer.hop_s}".encode())
        cached = Path(cache_dir) / f"{prefix}{h.hexdigest()[:24]}.npz"
    if cached is not None and cached.is_file():
        with np.load(cached, allow_pickle=False) as z:
            return z["times"], z["starts"], z["probs"]
    res = score()
    times = np.asarray(res.times, dtype=np.float64)
    starts = np.asarray(res.window_starts, dtype=np.float64)
    probs = np.asarray(res.channel_probabilities, dtype=np.float64).reshape(times.size, -1)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, times=times, starts=starts, probs=probs)
    return times, starts, probs


def peer_window_scores(
    rec: EvalRecording, scorer, decision, hop_s: float, cache_dir: Path | None = None
) -> WindowScores:
    """The peer's causal per-window probabilities (cached under ``cache_dir`` by the recording's sha256 and
    the peer's settings: they do not depend on our model), then our decision machine."""
    from realtime.recordings import read_recording

    def score():
        r = read_recording(rec.path)
        return scorer.score(r.data, r.sfreq)

    times, starts, probs = cached_peer_scores(scorer, rec.path, score, cache_dir)
    ws = WindowScores(times=times, starts=starts, channel_probs=probs, smoothed=np.zeros(0), events=[])
    return replay_decision(ws, decision, hop_s, rec.duration_s)
