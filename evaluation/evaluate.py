"""``train-detector evaluate``: honest detection quality, scored as the field scores it, with plots and a peer.

    train-detector evaluate [--model DIR] [--data-root ../shared/data] [--out docs]
                            [--edf FILE --annotations CSV ...] [--no-peer] [--no-tune] ...

Needs the data under ``--data-root`` (../shared/data: Bonn and New Delhi, research use only), so it
is a script, not a test. It writes ``OUT/evaluation.md``, PNG figures under ``OUT/figures/``, and
scratch files (stitched recordings as NPZ + CSV sidecars, the fitted baseline export, raw per-window
scores as JSON) under ``--artifacts`` (default ``artifacts/eval``, git-ignored: the stitched
recordings contain Bonn/New Delhi data and must never be committed).

What it does, in order:

1. Loads the model export and its card; the split (which files are train / validation / test) comes
   from the card (``training.split``), and the data through the training loaders
   (:func:`train.datasets.records.load_sources`), so the windows are cut exactly as in training.
2. Test split, segment and window level: accuracy, sensitivity, specificity, AUROC, confusion
   matrices with Clopper-Pearson intervals, for Bonn S vs all, S vs N/F, S vs Z/O and New Delhi
   ictal vs rest (:func:`evaluation.metrics.contrast_metrics`); ROC curves.
3. The classic baseline (:mod:`evaluation.baseline`) fitted on the same training files, exported in the
   project format.
4. Decision settings (default on; ``--no-tune`` skips): a grid search over thresholds, smoothing and
   minimum duration on recordings stitched from the VALIDATION split plus the TRAINING split's scalp
   background, never the test split or CHB-MIT (see :func:`tune_decision`); it reports what it
   would choose. The evaluation itself always uses the
   settings in ``--config`` (the shipped defaults), so the report shows what a bed gets.
5. Continuous recordings through :func:`realtime.offline.run_offline` (the daemon's own pipeline):
   the two CHB-MIT excerpts, the two stitched together (junction annotated), the scalp background
   (test segments of Bonn Z, O and New Delhi interictal, preictal, back to back), New Delhi ictal
   test segments each after >= 95 s of scalp background, Bonn S test segments each after >= 95 s
   of Bonn N/F background (intracranial), and any ``--edf`` given. SzCORE event scoring
   (``timescoring``): sensitivity, precision, F1, false alarms per 24 h with Poisson intervals,
   onset latency (alarm publish time minus annotated onset). The same for the baseline (same
   pipeline) and the peer (``brainmaze-eeg-models``, causal, through ``realtime.decision``).
6. A figure per recording and the Markdown report.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from evaluation.metrics import (CONTRASTS, DetectedEvent, EventScore, clopper_pearson, combine_scores,  # noqa: E402
                                contrast_metrics, events_from_decisions, events_from_messages,
                                poisson_rate_interval, roc_curve, score_events)

log = logging.getLogger("evaluation.evaluate")

REPO = Path(__file__).resolve().parents[1]
CHBMIT_DIR = REPO / "realtime" / "data" / "chbmit"
CHBMIT_SEIZURE = CHBMIT_DIR / "chb01_03_Seizure.edf"
CHBMIT_NONSEIZURE = CHBMIT_DIR / "chb01_03_NonSeizure.edf"
CHBMIT_SEIZURE_SPAN = (1.0, 41.0)  # record time 2996-3036 s in an excerpt starting at 2995 s
SCALP_BACKGROUND = (("bonn", "Z"), ("bonn", "O"), ("nscnd", "interictal"), ("nscnd", "preictal"))
INTRACRANIAL_BACKGROUND = (("bonn", "N"), ("bonn", "F"))
GAP_BEFORE_SEIZURE_S = 95.0  # > 90 s: SzCORE merges annotated events closer than 90 s
STITCH_RATE_HZ = 250.0
TAPER_S = 0.25
DETECTORS = ("network", "baseline", "peer")
LABELS = {"network": "network (shipped model)", "baseline": "baseline (line length + band power)",
          "peer": "peer (brainmaze modelA, causal)"}

# Decision-setting grid (see tune_decision). k_channels is not searched: every tuning recording has
# one channel, where k-of-n reduces to that channel; the shipped k is kept.
# 0.2-0.4 since 2026-11-24 07:50 (docs/training.md, "Decision threshold for unseen sources")
GRID_ON = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
GRID_SMOOTHING = (1, 2, 3, 4, 5)
GRID_MIN_DURATION_S = (0.0, 1.0, 2.0, 3.0, 4.0)


# --------------------------------------------------------------------------- data structures
@dataclass
class EvalRecording:
    """A continuous recording to score: a file the pipeline reads, and its annotated seizures."""

    name: str
    path: Path
    seizures: list[tuple[float, float]]
    description: str
    duration_s: float = 0.0
    n_channels: int = 1
    role: str = "test"  # "test" | "tuning" | "user"
    background_only: bool = False  # counts towards the false-alarm headline
    meta: dict = field(default_factory=dict)


@dataclass
class WindowScores:
    """Per-window output of one detector on one recording."""

    times: np.ndarray  # [n_windows] window end ("now"), seconds from the start
    starts: np.ndarray  # [n_windows] window start
    channel_probs: np.ndarray  # [n_windows, n_channels] raw p(seizure), NaN = flagged channel
    smoothed: np.ndarray  # [n_windows] smoothed bed probability (as the decision machine saw it)
    events: list[DetectedEvent]
    score: EventScore | None = None


# --------------------------------------------------------------------------- scoring runs
def offline_window_scores(path: Path, config, detector, duration_s: float) -> WindowScores:
    """Score ``path`` with :func:`realtime.offline.run_offline` (the daemon's pipeline), parse its JSON lines."""
    from realtime.offline import run_offline

    buf = io.StringIO()
    rc = run_offline([path], config, model=detector, windows=True, out=buf)
    lines = [json.loads(s) for s in buf.getvalue().splitlines() if s.strip()]
    errors = [m for m in lines if m.get("type") == "error"]
    if rc != 0 or errors:
        raise RuntimeError(f"offline scoring of {str(path)!r} failed: {errors or rc}")
    wins = [m for m in lines if m.get("type") == "window"]
    names = list(wins[0]["channel_probabilities"]) if wins else []
    nan = float("nan")
    probs = np.array([[nan if m["channel_probabilities"][n] is None else m["channel_probabilities"][n]
                       for n in names] for m in wins], dtype=np.float64).reshape(len(wins), len(names))
    return WindowScores(times=np.array([m["time"] for m in wins], dtype=np.float64),
                        starts=np.array([m["window_start"] for m in wins], dtype=np.float64),
                        channel_probs=probs,
                        smoothed=np.array([nan if m["probability"] is None else m["probability"] for m in wins]),
                        events=events_from_messages(lines, duration_s))


def replay_decision(ws: WindowScores, decision, hop_s: float, duration_s: float) -> WindowScores:
    """The same per-window probabilities through :class:`realtime.decision.DecisionMachine` with other settings."""
    from evaluation.peer import run_decision

    smoothed, events = run_decision(ws.times, ws.starts, ws.channel_probs, decision, hop_s)
    return WindowScores(times=ws.times, starts=ws.starts, channel_probs=ws.channel_probs, smoothed=smoothed,
                        events=events_from_decisions(events, duration_s))


def peer_window_scores(rec: EvalRecording, scorer, decision, hop_s: float, cache_dir: Path | None = None) -> WindowScores:
    """The peer's causal per-window probabilities (cached under ``cache_dir`` by the recording's sha256 and
    the peer's settings: they do not depend on our model), then our decision machine."""
    import hashlib

    from realtime.recordings import read_recording

    cached = None
    if cache_dir is not None:
        h = hashlib.sha256(Path(rec.path).read_bytes())
        h.update(f"{scorer.model_name}|{scorer.window_s}|{scorer.min_window_s}|{scorer.hop_s}".encode())
        cached = Path(cache_dir) / f"{h.hexdigest()[:24]}.npz"
    if cached is not None and cached.is_file():
        with np.load(cached, allow_pickle=False) as z:
            times, starts, probs = z["times"], z["starts"], z["probs"]
    else:
        r = read_recording(rec.path)
        res = scorer.score(r.data, r.sfreq)
        times, starts, probs = res.times, res.window_starts, res.channel_probabilities
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cached, times=times, starts=starts, probs=probs)
    ws = WindowScores(times=times, starts=starts, channel_probs=probs, smoothed=np.zeros(0), events=[])
    return replay_decision(ws, decision, hop_s, rec.duration_s)


# --------------------------------------------------------------------------- recordings
def _pieces(records, label: str):
    from evaluation.stitch import Piece

    return [Piece(np.asarray(r.signal_uv, dtype=np.float64), float(r.sample_rate_hz), label, r.recording_id)
            for r in records]


def _select(records, ids: set[str], kinds) -> list:
    return sorted((r for r in records if r.recording_id in ids and (r.source, r.subset) in kinds),
                  key=lambda r: r.recording_id)


STITCHED_KINDS = ("scalp_background", "scalp_seizures", "intracranial_seizures")


def build_stitched(records, ids: set[str], out_dir: Path, prefix: str, role: str,
                   which: Sequence[str] = STITCHED_KINDS) -> list[EvalRecording]:
    """The stitched recordings of one split (``ids``): scalp background, New Delhi seizures after
    scalp background, Bonn S after Bonn N/F background (``which`` of them). Written under ``out_dir``."""
    from evaluation.stitch import BACKGROUND, SEIZURE, interleave, stitch, write_stitched

    out: list[EvalRecording] = []
    scalp_bg = _pieces(_select(records, ids, SCALP_BACKGROUND), BACKGROUND)
    icr_bg = _pieces(_select(records, ids, INTRACRANIAL_BACKGROUND), BACKGROUND)
    nd_ictal = _pieces(_select(records, ids, {("nscnd", "ictal")}), SEIZURE)
    bonn_s = _pieces(_select(records, ids, {("bonn", "S")}), SEIZURE)
    specs = []
    if scalp_bg:
        specs.append(("scalp_background", scalp_bg, True,
                      "scalp non-seizure segments (Bonn Z, O; New Delhi interictal, preictal) back to back"))
    if scalp_bg and nd_ictal:
        specs.append(("scalp_seizures", interleave(scalp_bg, [[p] for p in nd_ictal], GAP_BEFORE_SEIZURE_S), False,
                      f"each New Delhi ictal segment (scalp, 5.12 s) after >= {GAP_BEFORE_SEIZURE_S:g} s of scalp "
                      f"background"))
    if icr_bg and bonn_s:
        specs.append(("intracranial_seizures", interleave(icr_bg, [[p] for p in bonn_s], GAP_BEFORE_SEIZURE_S), False,
                      f"each Bonn S segment (intracranial, 23.6 s) after >= {GAP_BEFORE_SEIZURE_S:g} s of Bonn N/F "
                      f"background"))
    for name, pieces, bg_only, desc in specs:
        if name not in which:
            continue
        st = stitch(pieces, sfreq=STITCH_RATE_HZ, taper_s=TAPER_S, ch_names=["EEG"])
        path = write_stitched(st, out_dir / f"{prefix}{name}.npz")
        out.append(EvalRecording(name=f"{prefix}{name}", path=path, seizures=list(st.seizures), description=desc,
                                 duration_s=st.duration_s, role=role, background_only=bg_only,
                                 meta={"n_pieces": len(st.pieces), "background_s": st.background_s,
                                       "junctions": len(st.pieces) - 1, "taper_s": TAPER_S}))
    return out


def chbmit_recordings(out_dir: Path) -> list[EvalRecording]:
    """The two shipped CHB-MIT excerpts and the two stitched (non-seizure, then seizure)."""
    from realtime.recordings import read_recording
    from evaluation.stitch import BACKGROUND, Piece, stitch, write_stitched

    sz, non = read_recording(CHBMIT_SEIZURE), read_recording(CHBMIT_NONSEIZURE)
    recs = [EvalRecording("chbmit_seizure", CHBMIT_SEIZURE, [CHBMIT_SEIZURE_SPAN],
                          "CHB-MIT chb01_03, 2995-3036 s: seizure from 1 s to the end", sz.duration_s, sz.data.shape[0]),
            EvalRecording("chbmit_nonseizure", CHBMIT_NONSEIZURE, [], "CHB-MIT chb01_03, 0-41 s: no seizure",
                          non.duration_s, non.data.shape[0], background_only=True)]
    if sz.ch_names != non.ch_names or sz.sfreq != non.sfreq:
        log.warning("CHB-MIT excerpts differ in channels or rate: not stitched")
        return recs
    # The pre-ictal first second of the seizure excerpt stays a background piece, the rest is seizure.
    one = int(round(CHBMIT_SEIZURE_SPAN[0] * sz.sfreq))
    st = stitch([Piece(non.data, non.sfreq, BACKGROUND, CHBMIT_NONSEIZURE.name),
                 Piece(sz.data, sz.sfreq, BACKGROUND, CHBMIT_SEIZURE.name)], sfreq=sz.sfreq, taper_s=TAPER_S,
                ch_names=sz.ch_names)
    onset = st.pieces[1]["start_s"] + one / sz.sfreq
    st.seizures = [(onset, st.duration_s)]
    path = write_stitched(st, out_dir / "chbmit_stitched.npz")
    recs.append(EvalRecording("chbmit_stitched", path, list(st.seizures),
                              f"CHB-MIT non-seizure excerpt then seizure excerpt (junction at "
                              f"{st.pieces[1]['start_s']:.1f} s, tapered {TAPER_S:g} s)", st.duration_s,
                              st.data.shape[0], meta={"junction_s": st.pieces[1]["start_s"]}))
    return recs


def user_recordings(edfs: Sequence[str], annotations: Sequence[str]) -> list[EvalRecording]:
    """``--edf FILE`` (with an ``--annotations FILE`` in the same position, ``-`` for the recording's own:
    EDF+ annotations and sidecars). Any format of :mod:`realtime.annotations`."""
    from realtime.annotations import is_seizure_label, read_annotations
    from realtime.recordings import read_recording

    out = []
    for i, edf in enumerate(edfs):
        ann = annotations[i] if i < len(annotations) else "-"
        rec = read_recording(edf)
        rows = read_annotations(ann, recording=edf) if ann and ann != "-" else rec.annotations
        seizures = [(a, b) for a, b, label in rows if is_seizure_label(label)]
        out.append(EvalRecording(f"user_{Path(edf).stem}", Path(edf), seizures, f"user recording {edf}",
                                 rec.duration_s, rec.data.shape[0], role="user",
                                 background_only=not seizures))
    return out


# --------------------------------------------------------------------------- decision tuning
LATENCY_SLACK_S = 1.0


def tune_decision(runs: Sequence[tuple[EvalRecording, WindowScores]], base, hop_s: float,
                  latency_slack_s: float = LATENCY_SLACK_S) -> dict:
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
    """
    results = []
    for on in GRID_ON:
        for sm in GRID_SMOOTHING:
            for md in GRID_MIN_DURATION_S:
                cfg = dataclasses.replace(base, on_threshold=on, off_threshold=round(min(0.5, on - 0.1), 3),
                                          smoothing_windows=sm, min_duration_s=md)
                scores = []
                for rec, ws in runs:
                    rep = replay_decision(ws, cfg, hop_s, rec.duration_s)
                    scores.append(score_events(rec.seizures, rep.events, rec.duration_s))
                tot = combine_scores(scores)
                lat = [x for x in tot.strict_latencies_s if x is not None]
                results.append({"on_threshold": on, "off_threshold": cfg.off_threshold, "smoothing_windows": sm,
                                "min_duration_s": md, "fp": tot.alarms_outside, "szcore_fp": tot.fp,
                                "tp": len(lat), "szcore_tp": tot.tp, "n_seizures": len(tot.strict_latencies_s),
                                "mean_latency_s": float(np.mean(lat)) if lat else math.inf,
                                "median_latency_s": float(np.median(lat)) if lat else math.inf})
    top = min((r["fp"], -r["tp"]) for r in results)
    feasible = [r for r in results if (r["fp"], -r["tp"]) == top]
    fastest = min(r["mean_latency_s"] for r in feasible)
    near = [r for r in feasible if r["mean_latency_s"] <= fastest + latency_slack_s]
    best = max(near, key=lambda r: (-r["on_threshold"], r["min_duration_s"], r["smoothing_windows"],
                                    -r["mean_latency_s"]))
    hours = sum(rec.duration_s for rec, _ in runs) / 3600
    return {"chosen": best, "grid_size": len(results), "tuning_hours": hours, "fastest_mean_latency_s": fastest,
            "latency_slack_s": latency_slack_s,
            "recordings": [{"name": rec.name, "duration_s": rec.duration_s, "seizures": len(rec.seizures)}
                           for rec, _ in runs],
            "n_zero_fp": sum(r["fp"] == 0 for r in results), "all": results}


# --------------------------------------------------------------------------- figures
def plot_recording(rec: EvalRecording, runs: dict[str, WindowScores], decision, out_png: Path,
                   max_channels: int = 4, zoom_over_s: float = 300.0) -> None:
    """EEG (first ``max_channels`` channels), each detector's smoothed probability, the on/off thresholds,
    the annotated seizures and the published alarms. Recordings longer than ``zoom_over_s`` with a seizure
    get two more panels: EEG and probabilities from 60 s before to 60 s after the first seizure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from realtime.recordings import read_recording

    r = read_recording(rec.path)
    n_ch = min(max_channels, r.data.shape[0])
    zoom = rec.seizures[0] if rec.seizures and rec.duration_s > zoom_over_s else None
    heights = [1.1 * n_ch, 2.6] + ([1.1 * n_ch, 2.6] if zoom else [])
    fig, axes = plt.subplots(len(heights), 1, figsize=(12, 1.0 + sum(heights)),
                             gridspec_kw={"height_ratios": heights})
    t = np.arange(r.data.shape[1]) / r.sfreq
    spread = max([6 * float(np.std(r.data[i])) for i in range(n_ch)] + [0.0]) or 100.0
    colors = {"network": "tab:blue", "baseline": "tab:orange", "peer": "tab:green"}

    def eeg(ax, lo: float, hi: float) -> None:
        a, b = int(max(0, lo) * r.sfreq), int(min(rec.duration_s, hi) * r.sfreq)
        step = max(1, (b - a) // 20000)  # at most ~20k points per channel
        for i in range(n_ch):
            ax.plot(t[a:b:step], r.data[i, a:b:step] - i * spread, lw=0.4, color="k")
        ax.set_yticks([-i * spread for i in range(n_ch)], r.ch_names[:n_ch], fontsize=7)
        ax.set_xlim(max(0, lo), min(rec.duration_s, hi))

    def probs(ax, lo: float, hi: float) -> None:
        for det, ws in runs.items():
            if ws.times.size:
                ax.plot(ws.times, ws.smoothed, lw=1.0 if det == "network" else 0.8, color=colors.get(det),
                        label=LABELS.get(det, det))
            for ev in ws.events:
                if lo <= ev.alarm_s <= hi:
                    ax.axvline(ev.alarm_s, color=colors.get(det), ls="--", lw=1.0)
                    ax.plot([ev.alarm_s], [1.04], marker="v", color=colors.get(det), ms=7, clip_on=False)
        ax.axhline(decision.on_threshold, color="0.3", lw=0.8, ls=":")
        ax.axhline(decision.off_threshold, color="0.6", lw=0.8, ls=":")
        ax.text(1.0, decision.on_threshold, "on ", ha="right", va="bottom", fontsize=7,
                transform=ax.get_yaxis_transform())
        ax.text(1.0, decision.off_threshold, "off ", ha="right", va="bottom", fontsize=7,
                transform=ax.get_yaxis_transform())
        ax.set_ylim(-0.02, 1.08)
        ax.set_xlim(max(0, lo), min(rec.duration_s, hi))
        ax.set_ylabel("smoothed p(seizure)")

    panels = [(0.0, rec.duration_s)] + ([(zoom[0] - 60.0, zoom[1] + 60.0)] if zoom else [])
    for k, (lo, hi) in enumerate(panels):
        ax_e, ax_p = axes[2 * k], axes[2 * k + 1]
        eeg(ax_e, lo, hi)
        probs(ax_p, lo, hi)
        for a in (ax_e, ax_p):
            for on, off in rec.seizures:
                a.axvspan(on, off, color="tab:red", alpha=0.12, lw=0)
        ax_p.set_xlabel("time (s); red: annotated seizure; dashed line and triangle: alarm published"
                        + (" (zoom on the first seizure)" if k else ""))
    axes[0].set_title(f"{rec.name}: {rec.description} ({rec.duration_s:.0f} s)", fontsize=9)
    axes[1].legend(loc="upper left", fontsize=7, ncol=3)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)


def plot_roc(curves: dict[str, dict[str, tuple]], out_png: Path) -> None:
    """``curves[contrast][detector] = (y_true, scores)`` (window level) -> one panel per contrast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evaluation.metrics import auroc

    names = [c for c in curves if curves[c]]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.0), squeeze=False)
    for ax, c in zip(axes[0], names):
        for det, (y, s) in curves[c].items():
            if len(set(np.asarray(y).tolist())) < 2:
                continue
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=f"{det} (AUROC {auroc(y, s):.3f})")
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.6, ls=":")
        ax.set_title(CONTRASTS[c][2], fontsize=8)
        ax.set_xlabel("1 - specificity (windows)")
        ax.set_ylabel("sensitivity (windows)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)


# --------------------------------------------------------------------------- formatting
def pct(x: float, nd: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{nd}f} %"


def ci_pct(ci) -> str:
    lo, hi = ci
    return "" if lo is None or (isinstance(lo, float) and math.isnan(lo)) else f" [{100 * lo:.1f}, {100 * hi:.1f}]"


def fmt_latencies(lat: Sequence[float | None]) -> str:
    if not lat:
        return "-"
    return ", ".join("missed" if x is None else f"{x:+.1f}" for x in lat)


def fp_text(s: EventScore) -> str:
    lo, hi = s.fp_per_24h_ci()
    return f"{s.fp} ({s.fp_per_24h:.0f}/24 h, 95 % CI {lo:.0f}-{hi:.0f})"


def git_head() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001
        return "unknown"


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="train-detector evaluate", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "realtime" / "models" / "default"), help="model export directory")
    ap.add_argument("--data-root", default="../shared/data", help="folder holding bonn/ and nscnd/")
    ap.add_argument("--out", default="docs", help="report folder: OUT/evaluation.md and OUT/figures/")
    ap.add_argument("--artifacts", default="artifacts/eval", help="scratch folder (git-ignored)")
    ap.add_argument("--config", default=str(REPO / "config" / "realtime-detect.toml"),
                    help="daemon configuration whose [window] and [decision] settings are evaluated")
    ap.add_argument("--backend", default="tensorflow", choices=["tensorflow", "litert"])
    ap.add_argument("--edf", action="append", default=[], help="a user EDF/BDF recording to score (repeatable)")
    ap.add_argument("--annotations", action="append", default=[],
                    help="annotations for the --edf in the same position: CSV/TSV (onset_s,offset_s), BIDS/SzCORE "
                         "events TSV (onset,duration,eventType) or a CHB-MIT chbNN-summary.txt; '-' for the "
                         "recording's own (EDF+ annotations, sidecars)")
    ap.add_argument("--baseline", default=None, help="use this baseline export instead of fitting one")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--peer-model", default="modelA", choices=["modelA", "modelB"])
    ap.add_argument("--no-tune", action="store_true", help="skip the decision-setting search")
    ap.add_argument("--tune-only", action="store_true",
                    help="only the decision-setting search (prints and writes ARTIFACTS/decision_tuning.json)")
    ap.add_argument("--write-card", action="store_true",
                    help="with the search: write the network's chosen settings into the --model export's "
                         "model_card.json (settings.decision), which the daemon reads for that model")
    ap.add_argument("--recompute-split", action="store_true",
                    help="the card has no split: recompute it with the training split function and the card's "
                         "seed (development only; the report says so)")
    ap.add_argument("--report-name", default="evaluation.md")
    args = ap.parse_args(argv)
    if args.write_card and args.no_tune:
        ap.error("--write-card needs the decision-setting search: drop --no-tune")
    return args


def _records_and_split(args, card: dict):
    from train.datasets.records import load_sources, split_records

    data_root = Path(args.data_root)
    if not data_root.is_dir():
        raise SystemExit(f"train-detector evaluate: data root {str(data_root)!r} does not exist "
                         f"(it needs ../shared/data with bonn/ and nscnd/)")
    rate = float(card["sample_rate_hz"])
    records = load_sources(("bonn", "nscnd"), data_root, sample_rate_hz=rate)
    split = (card.get("training") or {}).get("split") or {}
    note = "from the model card (training.split)"
    if not all(k in split for k in ("train", "validation", "test")):
        if not args.recompute_split:
            raise SystemExit("train-detector evaluate: the model card has no training.split "
                             "(train/validation/test recording ids); pass --recompute-split to recompute it")
        hp = card.get("hyperparameters") or {}
        seed = int((hp.get("data") or {}).get("split_seed", -1))
        if seed == -1:
            seed = int(((hp.get("fit") or {}).get("seed")) or 0)
        data = hp.get("data") or {}
        fractions = tuple(data.get("split_fractions") or (0.6, 0.2, 0.2))
        kfold = {"n_folds": int(data.get("cv_folds", 0)), "fold": int(data.get("cv_fold", 0))}
        split = split_records(records, fractions, seed=seed, **kfold)
        note = (f"RECOMPUTED with split_records(fractions={list(fractions)}, seed={seed}, n_folds={kfold['n_folds']}, "
                f"fold={kfold['fold']}), not read from the card")
    known = {r.recording_id for r in records}
    missing = [i for k in ("train", "validation", "test") for i in split[k] if i not in known]
    if missing:
        log.warning("%d split ids are not in the data (e.g. %s): ignored", len(missing), missing[:3])
    return records, {k: set(split[k]) for k in ("train", "validation", "test")}, note


def window_probabilities(predict, records, window_samples: int, hop_samples: int) -> dict[str, np.ndarray]:
    """``{recording_id: [n_windows] p}`` with windows cut as in training's test scoring
    (:func:`train.scoring.record_windows`: every hop, plus one aligned to the segment's end)."""
    from train.scoring import record_windows

    out = {}
    for r in records:
        w = record_windows(r, window_samples, hop_samples)
        out[r.recording_id] = np.asarray(predict(w), dtype=np.float64).reshape(-1) if len(w) else np.zeros(0)
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("realtime.offline", "realtime.model", "realtime.recordings", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = parse_args(argv)
    t0 = time.time()
    command = "train-detector evaluate " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))

    from realtime.config import load_config
    from realtime.model import load_detector

    config = load_config(args.config)
    decision, hop_s = config.decision, config.window.hop_s
    out_dir, art = Path(args.out), Path(args.artifacts)
    fig_dir = out_dir / "figures"
    for d in (out_dir, fig_dir, art):
        d.mkdir(parents=True, exist_ok=True)

    net = load_detector(args.model, backend=args.backend)
    card = net.card
    log.info("model %s (%s) from %s", net.model_version, net.architecture, args.model)
    records, split, split_note = _records_and_split(args, card)
    by_id = {r.recording_id: r for r in records}
    test_records = [by_id[i] for i in sorted(split["test"]) if i in by_id]
    hp = card.get("hyperparameters") or {}
    sig = hp.get("signal") or {}
    window_samples = int(card["window_samples"])
    eval_hop = int(sig.get("eval_hop_samples") or window_samples // 4)
    train_hop = int(sig.get("train_hop_samples") or window_samples // 2)

    # ---------------------------------------------------------------- baseline
    base_det = None
    baseline_info: dict = {}
    if not args.no_baseline:
        from evaluation.baseline import export_baseline, fit_baseline, params_from_card
        from train.datasets.records import windows

        if args.baseline:
            base_path = Path(args.baseline)
        else:
            train_recs = [by_id[i] for i in sorted(split["train"]) if i in by_id]
            xs, ys = [], []
            for r in train_recs:
                w = windows(r.signal_uv, window_samples, train_hop)
                xs.append(w)
                ys.extend([r.label] * len(w))
            X = np.concatenate(xs) if xs else np.zeros((0, window_samples))
            log.info("baseline: fitting on %d windows of %d training files", len(X), len(train_recs))
            params = fit_baseline(X, ys, info={"training_files": len(train_recs), "hop_samples": train_hop})
            base_path = export_baseline(params, art / "baseline_export",
                                        training={"split": {k: sorted(v) for k, v in split.items()},
                                                  "split_note": split_note, "data": ["bonn", "nscnd"]})
        base_det = load_detector(base_path, backend=args.backend)
        baseline_info = {"path": str(base_path), "card": base_det.card, "params": params_from_card(base_det.card)}

    # ---------------------------------------------------------------- peer
    scorer = None
    peer_note = ""
    if not args.no_peer:
        from evaluation.peer import PeerScorer, peer_available

        ok, why = peer_available()
        if ok:
            scorer = PeerScorer(args.peer_model, hop_s=hop_s)
            peer_note = f"brainmaze-eeg-models {why}, {args.peer_model}"
        else:
            peer_note = f"not run: {why}"
            log.warning("peer %s", peer_note)

    # ---------------------------------------------------------------- decision tuning (train + validation only)
    tuning: dict = {}
    if not args.no_tune:
        # validation recordings (never trained on) + the training split's scalp background (more
        # non-seizure time for the false-alarm constraint; optimistic, since the network saw it)
        tune_recs = build_stitched(records, split["validation"], art / "tuning", "val_", "tuning")
        tune_recs += build_stitched(records, split["train"], art / "tuning", "train_", "tuning",
                                    which=("scalp_background",))
        dets = {"network": net, **({"baseline": base_det} if base_det is not None else {})}
        for det_name, det in dets.items():
            runs = [(rec, offline_window_scores(rec.path, config, det, rec.duration_s)) for rec in tune_recs]
            tuning[det_name] = tune_decision(runs, decision, hop_s)
            log.info("tuning %s: %s", det_name, tuning[det_name]["chosen"])
        if scorer is not None:
            runs = [(rec, peer_window_scores(rec, scorer, decision, hop_s, art / "peer_cache")) for rec in tune_recs]
            tuning["peer"] = tune_decision(runs, decision, hop_s)
            log.info("tuning peer: %s", tuning["peer"]["chosen"])
        (art / "decision_tuning.json").write_text(json.dumps(tuning, indent=1, default=float))
        if args.write_card:
            from evaluation.model_settings import decision_settings, derived_by, write_card_settings
            written = write_card_settings(args.model, "decision",
                                          decision_settings(tuning["network"]["chosen"], derived_by(command)))
            log.info("wrote the network's tuned settings %s into %s", written, Path(args.model) / "model_card.json")
        if args.tune_only:
            print(json.dumps({det: t["chosen"] for det, t in tuning.items()}, indent=1))
            return 0

    # ---------------------------------------------------------------- test split metrics (after the tuning: --tune-only never touches the test split)
    log.info("test split: %d segments", len(test_records))
    seg = {"network": window_probabilities(net.predict, test_records, window_samples, eval_hop)}
    if base_det is not None:
        seg["baseline"] = window_probabilities(base_det.predict, test_records, window_samples, eval_hop)
    split_metrics = {det: contrast_metrics(test_records, p) for det, p in seg.items()}
    curves: dict = {}
    for c, (source, subsets, _) in CONTRASTS.items():
        sel = [r for r in test_records if r.source == source and (subsets is None or r.subset in subsets)]
        curves[c] = {}
        for det, p in seg.items():
            y = np.concatenate([[r.label] * len(p[r.recording_id]) for r in sel]) if sel else np.zeros(0)
            s = np.concatenate([p[r.recording_id] for r in sel]) if sel else np.zeros(0)
            curves[c][det] = (y.astype(int), s)
    plot_roc(curves, fig_dir / "roc_test_split.png")
    (art / "test_window_probabilities.json").write_text(json.dumps(
        {det: {k: v.round(5).tolist() for k, v in p.items()} for det, p in seg.items()}))

    # ---------------------------------------------------------------- continuous recordings (test)
    recs = chbmit_recordings(art / "recordings")
    recs += build_stitched(records, split["test"], art / "recordings", "test_", "test")
    recs += user_recordings(args.edf, args.annotations)
    results: dict[str, dict[str, WindowScores]] = {}
    own_settings: dict[str, dict[str, WindowScores]] = {}
    for rec in recs:
        log.info("recording %s (%.0f s, %d seizure(s))", rec.name, rec.duration_s, len(rec.seizures))
        results[rec.name] = {}
        own_settings[rec.name] = {}
        ws = offline_window_scores(rec.path, config, net, rec.duration_s)
        # the replay must reproduce the pipeline's own events (same decision code): a consistency check
        rep = replay_decision(ws, decision, hop_s, rec.duration_s)
        if [(e.start_s, e.alarm_s) for e in rep.events] != [(e.start_s, e.alarm_s) for e in ws.events]:
            log.warning("%s: replayed decisions differ from the pipeline's: %s vs %s", rec.name, rep.events, ws.events)
        results[rec.name]["network"] = ws
        if base_det is not None:
            results[rec.name]["baseline"] = offline_window_scores(rec.path, config, base_det, rec.duration_s)
        if scorer is not None:
            results[rec.name]["peer"] = peer_window_scores(rec, scorer, decision, hop_s, art / "peer_cache")
        for det, w in results[rec.name].items():
            w.score = score_events(rec.seizures, w.events, rec.duration_s)
            if det in tuning:
                c = tuning[det]["chosen"]
                cfg = dataclasses.replace(decision, on_threshold=c["on_threshold"], off_threshold=c["off_threshold"],
                                          smoothing_windows=c["smoothing_windows"], min_duration_s=c["min_duration_s"])
                o = replay_decision(w, cfg, hop_s, rec.duration_s)
                o.score = score_events(rec.seizures, o.events, rec.duration_s)
                own_settings[rec.name][det] = o
        plot_recording(rec, results[rec.name], decision, fig_dir / f"recording_{rec.name}.png")

    raw = {rec.name: {det: {"times": w.times.round(3).tolist(), "smoothed": np.round(w.smoothed, 4).tolist(),
                            "events": [dataclasses.asdict(e) for e in w.events]}
                      for det, w in results[rec.name].items()} for rec in recs}
    (art / "recording_scores.json").write_text(json.dumps(raw, allow_nan=True))

    report = render_report(
        command=command, args=args, card=card, net=net, config=config, split=split, split_note=split_note,
        test_records=test_records, split_metrics=split_metrics, recs=recs, results=results,
        own_settings=own_settings, tuning=tuning, baseline_info=baseline_info, peer_note=peer_note,
        eval_hop=eval_hop, wall_s=time.time() - t0)
    (out_dir / args.report_name).write_text(report, encoding="utf-8")
    log.info("wrote %s (%.0f s)", out_dir / args.report_name, time.time() - t0)
    return 0


# --------------------------------------------------------------------------- the report
def _split_table(metrics: dict, level: str) -> list[str]:
    rows = ["| contrast | detector | n (seizure / non) | accuracy [95 % CI] | sensitivity [95 % CI] | "
            "specificity [95 % CI] | AUROC | confusion [[TN, FP], [FN, TP]] |",
            "|---|---|---|---|---|---|---|---|"]
    for c in CONTRASTS:
        for det, m in metrics.items():
            if c not in m:
                continue
            e = m[c][level]
            rows.append(f"| {CONTRASTS[c][2]} | {det} | {e['n_positive']} / {e['n_negative']} | "
                        f"{pct(e['accuracy'])}{ci_pct(e['accuracy_ci'])} | "
                        f"{pct(e['sensitivity'])}{ci_pct(e['sensitivity_ci'])} | "
                        f"{pct(e['specificity'])}{ci_pct(e['specificity_ci'])} | "
                        f"{_num(e['auroc'], 4)} | {e['confusion']} |")
    return rows


def _num(x: float, nd: int) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.{nd}f}"


def _latency_summary(lat: Sequence[float | None]) -> str:
    got = [x for x in lat if x is not None]
    if not lat:
        return "-"
    if not got:
        return f"all {len(lat)} missed"
    early = sum(1 for x in got if x < 0)
    return (f"median {np.median(got):.1f} s (range {min(got):.1f} to {max(got):.1f}), "
            f"{len(got)}/{len(lat)} detected" + (f", {early} alarmed before the onset" if early else ""))


def render_report(*, command, args, card, net, config, split, split_note, test_records, split_metrics, recs,
                  results, own_settings, tuning, baseline_info, peer_note, eval_hop, wall_s) -> str:
    d = config.decision
    L: list[str] = []
    add = L.append
    dets = [x for x in DETECTORS if any(x in results[r.name] for r in recs)]
    add("# Evaluation")
    add("")
    add(f"Generated by `{command}` at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"(git {git_head()}, {wall_s / 60:.1f} min on this machine's CPU). Every number below comes from that "
        f"command; rerun it to regenerate this file and `docs/figures/`.")
    add("")
    add(f"- Model: `{args.model}`: `{net.model_version}` ({net.architecture}), card created {card.get('created')}.")
    add(f"- Split: {split_note}; test split: {len(split['test'])} segments, never seen in training.")
    add(f"- Decision settings evaluated (from `{Path(args.config).name}`): aggregation `{d.aggregation}` "
        f"(k = {d.k_channels}), smoothing {d.smoothing_windows} windows, on {d.on_threshold}, off {d.off_threshold}, "
        f"min duration {d.min_duration_s} s, merge gap {d.merge_gap_s} s; hop {config.window.hop_s} s, window "
        f"{net.window_samples} samples at {net.sample_rate_hz:g} Hz ({net.window_samples / net.sample_rate_hz:.3f} s).")
    add(f"- Peer: {peer_note or 'not run (--no-peer)'}.")
    add("")

    # ---- headline
    add("## Headline")
    add("")
    by_name = {r.name: r for r in recs}
    test_recs = [r for r in recs if r.role in ("test", "user") or r.name.startswith("chbmit")]
    sz_recs = [r for r in test_recs if r.seizures]
    bg_recs = [r for r in test_recs if r.background_only]
    add("| detector | seizures detected, SzCORE [95 % CI] | detected by an alarm after the onset | onset latency: "
        "first alarm after the onset | false alarms on the non-seizure recordings (rate, 95 % CI) | false alarms, "
        "all test recordings: SzCORE / strict | F1 (SzCORE) |")
    add("|---|---|---|---|---|---|---|")
    headline = {}
    for det in dets:
        s_sz = combine_scores([results[r.name][det].score for r in sz_recs if det in results[r.name]])
        s_bg = combine_scores([results[r.name][det].score for r in bg_recs if det in results[r.name]])
        s_all = combine_scores([results[r.name][det].score for r in test_recs if det in results[r.name]])
        headline[det] = (s_sz, s_bg, s_all)
        strict = [x for x in s_sz.strict_latencies_s if x is not None]
        fa_bg = max(s_bg.fp, s_bg.alarms_outside)
        lo, hi = poisson_rate_interval(fa_bg, s_bg.hours) if s_bg.duration_s > 0 else (math.nan, math.nan)
        add(f"| {LABELS[det]} | {s_sz.tp}/{s_sz.n_seizures}{ci_pct(s_sz.sensitivity_ci())} | "
            f"{len(strict)}/{s_sz.n_seizures}{ci_pct(clopper_pearson(len(strict), s_sz.n_seizures))} | "
            f"{_latency_summary(s_sz.strict_latencies_s)} | {fa_bg} in {s_bg.duration_s / 60:.1f} min "
            f"({fa_bg / s_bg.hours if s_bg.hours else math.nan:.1f}/h, CI {lo:.1f}-{hi:.1f}/h) | "
            f"{s_all.fp} / {s_all.alarms_outside} in {s_all.duration_s / 60:.1f} min | {_num(s_all.f1, 2)} |")
    add("")
    add("Test recordings only (CHB-MIT excerpts and recordings stitched from test-split segments); the seizure "
        "columns pool every recording with an annotated seizure, the false-alarm rate the recordings without any. "
        "Intervals: Clopper-Pearson for proportions, exact Poisson for rates (zero observed: one-sided 95 % upper "
        "bound, about 3.0 / T). SzCORE (30 s before / 60 s after tolerance, detections closer than 90 s merged) "
        "counts an alarm up to 30 s before the onset as a detection, and does not count a merged detection touching "
        "a seizure's tolerance window as false; in the stitched recordings, where the onset is exact (the junction) "
        "and a seizure comes every ~100 s, that forgives background alarms. The strict columns therefore count as "
        "detected only a seizure with an alarm published in [onset, offset + 60 s], latency = that alarm's publish "
        "time minus the onset, and as false every alarm published outside all such windows.")
    add("")
    ms = split_metrics.get("network", {})
    add("Test split (segments), network: " + "; ".join(
        f"{CONTRASTS[c][2]}: accuracy {pct(ms[c]['segment']['accuracy'])}, AUROC "
        f"{ms[c]['segment']['auroc']:.3f}" for c in CONTRASTS if c in ms) + ".")
    add("")

    # ---- targets
    add("## Targets (issue 5)")
    add("")
    net_sz, net_bg, net_all = headline.get("network", (None, None, None))

    def met(ok: bool | None) -> str:
        return "n/a" if ok is None else ("**met**" if ok else "**not met**")

    rows = []
    for c in ("bonn_s_vs_all", "bonn_s_vs_nf"):
        if c in ms:
            acc = ms[c]["segment"]["accuracy"]
            rows.append((f"Bonn test split, {CONTRASTS[c][2]}: segment accuracy >= 99 %", f"{pct(acc)}", acc >= 0.99))
    if "chbmit_seizure" in by_name and "network" in results.get("chbmit_seizure", {}):
        a = results["chbmit_seizure"]["network"].score
        b = results["chbmit_nonseizure"]["network"].score
        lat = a.strict_latencies_s[0] if a.strict_latencies_s else None
        cp = results["chbmit_seizure"]["network"].channel_probs
        top = float(np.nanmax(cp)) if cp.size and np.isfinite(cp).any() else math.nan
        rows.append(("CHB-MIT: alarm on the seizure excerpt, quiet on the non-seizure excerpt",
                     f"seizure: {'alarm after %.1f s' % lat if lat is not None else 'no alarm'} (highest channel "
                     f"probability in any window {_num(top, 2)}); non-seizure: {b.n_alarms} alarm(s)",
                     lat is not None and b.n_alarms == 0))
    if net_sz is not None:
        strict = [x for x in net_sz.strict_latencies_s if x is not None]
        rows.append(("Every annotated seizure detected (continuous test recordings, alarm after the onset)",
                     f"{len(strict)}/{net_sz.n_seizures} (SzCORE: {net_sz.tp}/{net_sz.n_seizures})",
                     len(strict) == net_sz.n_seizures and net_sz.n_seizures > 0))
        rows.append(("Onset latency <= 10 s (every detected seizure)",
                     f"max {max(strict):.1f} s, median {np.median(strict):.1f} s" if strict else "none detected",
                     bool(strict) and max(strict) <= 10))
        rows.append(("No false alarm on non-seizure EEG (all test recordings)",
                     f"{net_all.fp} SzCORE false alarm(s), {net_all.alarms_outside} strict, in "
                     f"{net_all.duration_s / 60:.1f} min", net_all.fp == 0 and net_all.alarms_outside == 0))
        def stats(table: dict, det: str) -> tuple[int, float, int]:
            sz = combine_scores([table[r.name][det].score for r in sz_recs if det in table[r.name]])
            al = combine_scores([table[r.name][det].score for r in test_recs if det in table[r.name]])
            got = [x for x in sz.strict_latencies_s if x is not None]
            return len(got), (float(np.median(got)) if got else math.inf), al.alarms_outside

        def beats(a: tuple, b: tuple) -> bool:
            return a[0] >= b[0] and a[1] <= b[1] and a[2] <= b[2] and a != b

        n_stats = stats(results, "network")
        for other in ("baseline", "peer"):
            if other not in headline:
                continue
            o_shipped = stats(results, other)
            text = (f"network {n_stats[0]}/{net_sz.n_seizures} detected, median latency {n_stats[1]:.1f} s, "
                    f"{n_stats[2]} false alarm(s); {other} with the same settings {o_shipped[0]}, "
                    f"{o_shipped[1]:.1f} s, {o_shipped[2]}")
            ok = beats(n_stats, o_shipped)
            if any(other in own_settings[r.name] for r in test_recs):
                o_own = stats(own_settings, other)
                text += f"; with its own tuned settings {o_own[0]}, {o_own[1]:.1f} s, {o_own[2]}"
                ok = ok and beats(n_stats, o_own)
            rows.append((f"Better than the {other} on detection, latency and false alarms (no worse on any, "
                         f"strict counts)", text, ok))
    rows.append(("Decision settings chosen on training/validation data only", "see 'Decision settings'",
                 bool(tuning)))
    add("| target | result | |")
    add("|---|---|---|")
    for name, res, ok in rows:
        add(f"| {name} | {res} | {met(ok)} |")
    add("")

    # ---- continuous recordings
    add("## Continuous recordings (SzCORE event scoring)")
    add("")
    add("Each recording runs through `realtime.offline.run_offline` (the code behind `realtime-detect --file "
        "REC --json --windows`, i.e. the daemon's `Pipeline`: buffering, hop scheduling, resampling, channel "
        "checks, batched model, decision machine). The baseline export runs through the same call; the peer's "
        "per-window probabilities go through the same `realtime.decision.DecisionMachine` with the same settings. "
        "Events are scored with `timescoring.scoring.EventScoring` (SzCORE defaults: 30 s before / 60 s after "
        "tolerance, any overlap, merge < 90 s, split > 5 min). Latency = the publish time of the first onset "
        "message (when a bed is alerted) in [onset, offset + 60 s], minus the annotated onset; 'missed' = no such "
        "alarm (SzCORE may still count the seizure when an earlier alarm's event overlaps its tolerance window).")
    add("")
    add("| recording | duration | annotated seizures | detector | detected (SzCORE) | false alarms (SzCORE / "
        "strict) | latency per seizure: first alarm after the onset (s) | figure |")
    add("|---|---|---|---|---|---|---|---|")
    for rec in recs:
        for det in dets:
            w = results[rec.name].get(det)
            if w is None:
                continue
            s = w.score
            add(f"| {rec.name} | {rec.duration_s:.0f} s | {len(rec.seizures)} | {det} | {s.tp}/{s.n_seizures} | "
                f"{s.fp} / {s.alarms_outside} | {fmt_latencies(s.strict_latencies_s)} | [png](figures/recording_{rec.name}.png) |")
    add("")
    add("Recordings:")
    add("")
    for rec in recs:
        extra = ""
        if rec.meta.get("junctions"):
            extra = (f" {rec.meta['n_pieces']} segments, {rec.meta['junctions']} junctions (each piece de-meaned "
                     f"and faded in/out over {rec.meta['taper_s']} s, so about {2 * rec.meta['taper_s']:.1f} s of "
                     f"attenuated signal per junction), background {rec.meta['background_s'] / 60:.1f} min.")
        add(f"- `{rec.name}` ({rec.duration_s / 60:.1f} min, {rec.n_channels} channel(s)): {rec.description}.{extra}")
    add("")
    add("Stitched recordings are written under `artifacts/eval/recordings/` (NPZ + `.csv` annotation sidecar + "
        "`.json` list of pieces); they hold research-use-only data and are not in the repository. Figures: "
        "the first channels of the EEG, each detector's smoothed probability, the on/off thresholds, the "
        "annotated seizure (red) and the published alarms (dashed lines, triangles).")
    add("")

    # ---- own-tuned settings
    if any(own_settings[r.name] for r in recs):
        add("### Each detector with its own tuned settings")
        add("")
        add("The table above gives every detector the shipped settings (tuned for the network). A detector with "
            "differently calibrated probabilities may deserve its own: the same grid search on the same "
            "training/validation recordings picked these per detector; the test recordings replayed with them:")
        add("")
        add("| detector | its settings (on / off / smoothing / min duration) | seizures detected (SzCORE) | "
            "latency, first alarm after the onset | false alarms, all test recordings (SzCORE / strict) |")
        add("|---|---|---|---|---|")
        for det in dets:
            if det not in tuning:
                continue
            c = tuning[det]["chosen"]
            s_sz = combine_scores([own_settings[r.name][det].score for r in sz_recs if det in own_settings[r.name]])
            s_all = combine_scores([own_settings[r.name][det].score for r in test_recs if det in own_settings[r.name]])
            add(f"| {det} | {c['on_threshold']} / {c['off_threshold']} / {c['smoothing_windows']} / "
                f"{c['min_duration_s']} s | {s_sz.tp}/{s_sz.n_seizures} | {_latency_summary(s_sz.strict_latencies_s)} | "
                f"{s_all.fp} / {s_all.alarms_outside} in {s_all.duration_s / 60:.1f} min |")
        add("")

    # ---- test split
    add("## Test split: segments and windows")
    add("")
    add(f"{len(test_records)} test segments (Bonn: 23.6 s at 173.61 Hz, New Delhi: 5.12 s at 200 Hz, both resampled "
        f"to {net.sample_rate_hz:g} Hz by the training loaders). Windows: {net.window_samples} samples every "
        f"{eval_hop} samples plus one aligned to the segment's end, as training's test scoring cuts them "
        f"(`train.scoring.record_windows`); a segment's probability is the mean of its windows'; seizure when > 0.5. Every window of a segment carries the segment's label.")
    add("")
    add("### Segment level")
    add("")
    L.extend(_split_table(split_metrics, "segment"))
    add("")
    add("### Window level")
    add("")
    L.extend(_split_table(split_metrics, "window"))
    add("")
    add("![ROC curves, window level](figures/roc_test_split.png)")
    add("")
    add("Bonn S vs Z/O is confounded (intracranial ictal vs healthy scalp): S vs N/F is the fair contrast. "
        "New Delhi is the only scalp seizure data in the test split.")
    add("")

    # ---- tuning
    add("## Decision settings")
    add("")
    if tuning:
        t = tuning.get("network")
        if t:
            c = t["chosen"]
            tuned_list = ", ".join(f"`{x['name']}` {x['duration_s'] / 60:.1f} min, {x['seizures']} seizures"
                                   for x in t["recordings"])
            add(f"Chosen on TRAINING and VALIDATION data only (never the test split or CHB-MIT): the network scored "
                f"recordings stitched from the validation split exactly like the test recordings, plus the training "
                f"split's scalp background (more non-seizure time for the false-alarm constraint) "
                f"({tuned_list}; "
                f"{t['tuning_hours'] * 60:.0f} min in all), once, through the pipeline; the per-window probabilities "
                f"were then replayed through `realtime.decision.DecisionMachine` for each of {t['grid_size']} settings "
                f"(on_threshold {list(GRID_ON)} x smoothing {list(GRID_SMOOTHING)} windows x min duration "
                f"{list(GRID_MIN_DURATION_S)} s; off = min(0.5, on - 0.1); k-of-n and merge gap as shipped: the "
                f"tuning recordings have one channel). Scored strictly, since the stitched onsets are exact: a false alarm is any alarm "
                f"published outside every seizure's [onset, offset + 60 s], a detection an alarm inside it. Rule: zero "
                f"false alarms on every tuning recording, then most seizures detected, then, among the settings whose "
                f"mean latency is within {t['latency_slack_s']:g} s of the fastest "
                f"({t['fastest_mean_latency_s']:.1f} s), the lowest on_threshold, then the longest minimum duration, "
                f"then the most smoothing. The low threshold is for sources the network was not trained on: on the "
                f"scalp-transfer proxy (a Bonn-only model scoring every New Delhi segment) seizures are "
                f"under-confident (57 % of ictal segments reach 0.6 in some window, 88 % reach 0.2) while no "
                f"non-ictal window exceeds 0.01 (docs/training.md, 'Decision threshold for unseen sources'; until "
                f"2026-11-24 07:50 the rule took the highest threshold and the grid started at 0.5). "
                f"{t['n_zero_fp']} of {t['grid_size']} settings had no false alarm.")
            add("")
            add(f"Chosen for the network: on {c['on_threshold']}, off {c['off_threshold']}, smoothing "
                f"{c['smoothing_windows']}, min duration {c['min_duration_s']} s: {c['tp']}/{c['n_seizures']} "
                f"tuning seizures, {c['fp']} false alarms, mean latency {c['mean_latency_s']:.1f} s.")
            same = (c["on_threshold"] == d.on_threshold and c["off_threshold"] == d.off_threshold
                    and c["smoothing_windows"] == d.smoothing_windows and c["min_duration_s"] == d.min_duration_s)
            add("")
            add("These are the settings evaluated here; `--tune-only --write-card` writes them into the model's card "
                "(`settings.decision`), which the daemon reads for that model."
                if same else
                f"**The evaluated configuration differs from this choice** (on {d.on_threshold}, off "
                f"{d.off_threshold}, smoothing {d.smoothing_windows}, min duration {d.min_duration_s} s): the "
                f"defaults were set from an earlier tuning run or by hand; see the commit history.")
            add("")
            add("Training-split segments were seen by the network in training, so its false-alarm count there is "
                "optimistic; the validation part is not. The tuning background is short: zero false alarms on it "
                "bounds the rate only loosely (see the intervals above).")
    else:
        add("Not run (--no-tune).")
    add("")

    # ---- baseline and peer
    add("## Baseline and peer")
    add("")
    if baseline_info:
        p = baseline_info["params"]
        fi = p.fit_info
        add(f"Baseline (`evaluation/baseline.py`, export `{baseline_info['path']}`, architecture `linelength`): logistic "
            f"regression (L2 {p.l2}, class-balanced) on {', '.join(p.feature_names)} of each "
            f"{p.window_samples}-sample window, fitted on {fi.get('n_windows')} windows "
            f"({fi.get('n_seizure_windows')} seizure) of the {fi.get('training_files')} TRAINING files of the "
            f"network's split. Exported as a Keras SavedModel + LiteRT with a model card and loaded by "
            f"`realtime.model.load_detector`, so it runs through the same pipeline and decision code.")
        add("")
    add("Peer: `brainmaze-eeg-models` (PyPI, BSD-3; Mayo Clinic), ONNX seizure-probability model `modelA` "
        "(spectrogram CNN + BiLSTM, trained on intracranial EEG; inputs z-scored per window, so units do not "
        "matter; whole even rate >= 200 Hz; designed for 300 s windows). Its own `predict_channel_seizure_probability` "
        "looks ~290 s into the future (300 s windows every 20 s, max over overlaps), which a bedside detector cannot. "
        "Here it runs causally (`evaluation/peer.py`): every hop (1 s), the newest min(300 s, elapsed) seconds are scored "
        "and the probability of the last 1 s column is taken, per channel; those go through our decision machine "
        "with the same settings. The last column sees the future through neither direction of the BiLSTM: that is "
        "the causal price the peer pays here, and its numbers must be read with it. Its first window needs 4 s of "
        "signal, like ours (4.1 s).")
    add("")

    add("Installing the peer (`pip install brainmaze-eeg-models onnxruntime`, the `eval` extra) pulls in "
        "onnxruntime, brainmaze-utils and pandas; no torch, and nothing is downloaded at run time (the ONNX files "
        "are inside the wheel), so it runs offline here.")
    add("")

    # ---- reproduce
    add("## Reproduce")
    add("")
    add("```")
    add("# the whole report (needs ../shared/data; 2-7 min on 2 CPU cores, depending on their load):")
    add(command)
    add("# only the decision-setting search (validation data), printing the chosen settings:")
    add("train-detector evaluate --tune-only")
    add("# the same, and write the network's chosen settings into the model's card (settings.decision, which the")
    add("# daemon reads for that model): how the shipped model's settings were set")
    add("train-detector evaluate --tune-only --write-card")
    add("# add your own recordings (EDF/BDF + CSV with onset_s,offset_s, BIDS/SzCORE events TSV or CHB-MIT "
        "summary; '-' for the recording's own annotations):")
    add("train-detector evaluate --edf rec1.edf --annotations rec1.csv --edf rec2.edf --annotations -")
    add("# the evaluation's tests (no ../shared needed):")
    add(".venv/bin/pytest tests/evaluation -q")
    add("```")
    add("")
    add("Scratch outputs (git-ignored): `artifacts/eval/` holds the stitched recordings, the baseline export, the "
        "tuning grid (`decision_tuning.json`), per-window probabilities (`test_window_probabilities.json`, "
        "`recording_scores.json`) and the peer's cached scores.")
    add("")

    # ---- caveats
    add("## What these numbers can and cannot say")
    add("")
    tot_bg = sum(r.duration_s for r in bg_recs) / 3600
    add(f"- The false-alarm exposure is short: {tot_bg * 60:.1f} min of non-seizure recordings. Zero false alarms "
        f"there still allows up to about {poisson_rate_interval(0, tot_bg)[1]:.1f} per hour "
        f"({poisson_rate_interval(0, tot_bg / 24)[1]:.0f} per 24 h) at 95 % confidence.")
    all_bg = sum(r.duration_s - sum(min(b, r.duration_s) - a for a, b in r.seizures) for r in test_recs) / 3600
    if net_all is not None:
        n_fa = net_all.alarms_outside
        lo, hi = poisson_rate_interval(n_fa, all_bg)
        add(f"- Counting every non-seizure minute of every test recording ({all_bg * 60:.0f} min, including the "
            f"background between stitched seizures), the network published {n_fa} alarm(s) outside the seizures' "
            f"[onset, offset + 60 s] windows: {n_fa / all_bg:.1f} per hour, 95 % CI {lo:.1f}-{hi:.1f} per hour.")
    add("- Stitched recordings join segments from different people and sessions; junctions are tapered, but "
        "a real recording's slow transitions into a seizure are replaced by a cut. New Delhi ictal segments are "
        "only 5.12 s long, so each stitched scalp 'seizure' lasts 5.12 s: a detector needing a longer build-up "
        "can only catch it inside SzCORE's 60 s post-event tolerance.")
    add("- CHB-MIT: one seizure of one patient (41 s excerpts). It is the only recording here with many channels, "
        "real pre-ictal-to-ictal transition, and a different amplifier, so it carries weight beyond its size, but "
        "it is one event.")
    add(f"- Seizure sensitivity over {net_sz.n_seizures if net_sz else 0} test seizures: "
        f"the Clopper-Pearson interval in the headline is the honest width.")
    add("")
    return "\n".join(L) + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
