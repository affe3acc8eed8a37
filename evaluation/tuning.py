"""Decision settings chosen on TRAINING/VALIDATION recordings only.

A grid search replayed through the decision machine.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from evaluation.events import combine_scores, score_events
from evaluation.recordings import EvalRecording
from evaluation.runs import WindowScores, replay_decision

# Decision-setting grid (see tune_decision). k_channels is not searched: every tuning recording has
# one channel, where k-of-n reduces to that channel; the shipped k is kept.
# 0.2-0.4 since 2026-11-24 07:50 (docs/training.md, "Decision threshold for unseen sources")
GRID_ON = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
GRID_SMOOTHING = (1, 2, 3, 4, 5)
GRID_MIN_DURATION_S = (0.0, 1.0, 2.0, 3.0, 4.0)

LATENCY_SLACK_S = 1.0
# False alarms allowed per hour of the tuning background (continuous multichannel EEG of the model's
# training and validation persons): the issue's target, at most 1 in the corpus' 4.9 h, i.e. about 0.2 per
# hour; floor(budget x hours) alarms are allowed, so under 5 h of tuning background that is none.
BACKGROUND_BUDGET_PER_H = 0.2


def background_alarms(background: Sequence, decision, hop_s: float) -> int:
    """Onsets raised on ``background`` (:class:`evaluation.background.Scores` of seizure-free multichannel
    recordings) when their per-channel probabilities are replayed with ``decision``: all false alarms."""
    from evaluation.background import replay

    return sum(1 for sc in background for e in replay(sc, decision, hop_s) if e.kind == "onset")


def tune_decision(
    runs: Sequence[tuple[EvalRecording, WindowScores]],
    base,
    hop_s: float,
    latency_slack_s: float = LATENCY_SLACK_S,
    *,
    background: Sequence = (),
    background_budget_per_h: float = BACKGROUND_BUDGET_PER_H,
) -> dict:
    """Grid search of decision settings on TRAINING/VALIDATION recordings only.

    For each setting (on_threshold x smoothing_windows x min_duration_s; off_threshold = min(0.5,
    on_threshold - 0.1)), the per-window probabilities of every tuning recording are replayed
    through the decision machine. Scored strictly (the stitched onsets are exact: everything before
    a junction is background): a false alarm is an alarm published outside every seizure's
    ``[onset, offset + 60 s]``; a seizure is detected by an alarm inside it, its latency the first
    such alarm minus the onset. Rule: among settings with **zero false alarms** on every tuning
    recording, take those detecting the most seizures; among them, those whose mean onset latency is
    within ``latency_slack_s`` of the fastest; among those, the **lowest** on_threshold (on a source it
    was not trained on the network is under-confident on seizures while its background stays far
    below every threshold: docs/training.md, "Decision threshold for unseen sources"), then the
    longest minimum duration, then the most smoothing. If no setting is free of false alarms, the
    fewest false alarms first.

    ``background`` (:class:`evaluation.background.Scores` of continuous multichannel seizure-free
    recordings of the model's training and validation persons, never its test persons): every onset the
    setting raises there, with ``base``'s bed rule (aggregation over channels), is a false alarm, and
    at most ``floor(background_budget_per_h x hours)`` of them are allowed; alarms beyond the budget
    count as false alarms in the rule above.
    """
    bg_hours = sum(sc.hours for sc in background)
    bg_allowed = math.floor(background_budget_per_h * bg_hours + 1e-9)
    results = []
    for on in GRID_ON:
        for sm in GRID_SMOOTHING:
            for md in GRID_MIN_DURATION_S:
                cfg = dataclasses.replace(
                    base,
                    on_threshold=on,
                    off_threshold=round(min(0.5, on - 0.1), 3),
                    smoothing_windows=sm,
                    min_duration_s=md,
                )
                scores = []
                for rec, ws in runs:
                    rep = replay_decision(ws, cfg, hop_s, rec.duration_s)
                    scores.append(score_events(rec.seizures, rep.events, rec.duration_s))
                tot = combine_scores(scores)
                lat = [x for x in tot.strict_latencies_s if x is not None]
                bg = background_alarms(background, cfg, hop_s) if background else 0
                results.append(
                    {
                        "on_threshold": on,
                        "off_threshold": cfg.off_threshold,
                        "smoothing_windows": sm,
                        "min_duration_s": md,
                        "fp": tot.alarms_outside + max(0, bg - bg_allowed),
                        "stitched_fp": tot.alarms_outside,
                        "background_fp": bg,
                        "szcore_fp": tot.fp,
                        "tp": len(lat),
                        "szcore_tp": tot.tp,
                        "n_seizures": len(tot.strict_latencies_s),
                        "mean_latency_s": float(np.mean(lat)) if lat else math.inf,
                        "median_latency_s": float(np.median(lat)) if lat else math.inf,
                    }
                )
    top = min((r["fp"], -r["tp"]) for r in results)
    feasible = [r for r in results if (r["fp"], -r["tp"]) == top]
    fastest = min(r["mean_latency_s"] for r in feasible)
    near = [r for r in feasible if r["mean_latency_s"] <= fastest + latency_slack_s]
    best = max(
        near, key=lambda r: (-r["on_threshold"], r["min_duration_s"], r["smoothing_windows"], -r["mean_latency_s"])
    )
    hours = sum(rec.duration_s for rec, _ in runs) / 3600
    return {
        "chosen": best,
        "grid_size": len(results),
        "tuning_hours": hours,
        "background": {
            "recordings": len(background),
            "persons": sorted({sc.recording.person for sc in background}),
            "hours": round(bg_hours, 4),
            "budget_per_h": background_budget_per_h,
            "allowed": bg_allowed,
        },
        "fastest_mean_latency_s": fastest,
        "latency_slack_s": latency_slack_s,
        "recordings": [
            {"name": rec.name, "duration_s": rec.duration_s, "seizures": len(rec.seizures)} for rec, _ in runs
        ],
        "n_zero_fp": sum(r["fp"] == 0 for r in results),
        "all": results,
    }
