"""Figures of the evaluation (PNG): one per continuous recording, and the test split's ROC curves.

matplotlib is imported inside each function (Agg backend), so importing this module costs nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluation.metrics import CONTRASTS, auroc, roc_curve
from evaluation.recordings import EvalRecording
from evaluation.runs import LABELS, WindowScores


def plot_recording(
    rec: EvalRecording,
    runs: dict[str, WindowScores],
    decision,
    out_png: Path,
    max_channels: int = 4,
    zoom_over_s: float = 300.0,
) -> None:
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
    fig, axes = plt.subplots(len(heights), 1, figsize=(12, 1.0 + sum(heights)), gridspec_kw={"height_ratios": heights})
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
                ax.plot(
                    ws.times,
                    ws.smoothed,
                    lw=1.0 if det == "network" else 0.8,
                    color=colors.get(det),
                    label=LABELS.get(det, det),
                )
            for ev in ws.events:
                if lo <= ev.alarm_s <= hi:
                    ax.axvline(ev.alarm_s, color=colors.get(det), ls="--", lw=1.0)
                    ax.plot([ev.alarm_s], [1.04], marker="v", color=colors.get(det), ms=7, clip_on=False)
        ax.axhline(decision.on_threshold, color="0.3", lw=0.8, ls=":")
        ax.axhline(decision.off_threshold, color="0.6", lw=0.8, ls=":")
        ax.text(
            1.0, decision.on_threshold, "on ", ha="right", va="bottom", fontsize=7, transform=ax.get_yaxis_transform()
        )
        ax.text(
            1.0, decision.off_threshold, "off ", ha="right", va="bottom", fontsize=7, transform=ax.get_yaxis_transform()
        )
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
        ax_p.set_xlabel(
            "time (s); red: annotated seizure; dashed line and triangle: alarm published"
            + (" (zoom on the first seizure)" if k else "")
        )
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

    names = [c for c in curves if curves[c]]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.0), squeeze=False)
    for ax, c in zip(axes[0], names, strict=True):
        for det, (y, s) in curves[c].items():
            if len(set(np.asarray(y).tolist())) < 2:
                continue
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=f"{det} (AUROC {auroc(y, s):.3f})")
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.6, ls=":")
        ax.set_title(CONTRASTS[c].description, fontsize=8)
        ax.set_xlabel("1 - specificity (windows)")
        ax.set_ylabel("sensitivity (windows)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
