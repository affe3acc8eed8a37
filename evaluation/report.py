"""The Markdown report of ``train-detector evaluate`` (docs/evaluation.md), written section by section.

Each ``section_*`` function takes the run's results (:class:`ReportInputs`) and returns its lines;
:func:`render_report` joins them in order. Pure apart from the generation time and the git
revision in the preamble.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.events import EventScore, combine_scores
from evaluation.metrics import CONTRASTS, clopper_pearson, poisson_rate_interval
from evaluation.recordings import REPO, EvalRecording
from evaluation.runs import DETECTORS, LABELS, WindowScores
from evaluation.tuning import BACKGROUND_BUDGET_PER_H, GRID_MIN_DURATION_S, GRID_ON, GRID_SMOOTHING


def _score(w: WindowScores) -> EventScore:
    """``w.score``, which the caller sets (``score_events``) before the report is written."""
    if w.score is None:
        raise ValueError("WindowScores.score is not set: score the events before writing the report")
    return w.score


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


def git_head() -> str:
    import subprocess

    try:
        return (
            subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or "unknown"
        )
    except Exception:
        return "unknown"


def _split_table(metrics: dict, level: str) -> list[str]:
    rows = [
        "| contrast | detector | n (seizure / non) | accuracy [95 % CI] | sensitivity [95 % CI] | "
        "specificity [95 % CI] | AUROC | confusion [[TN, FP], [FN, TP]] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in CONTRASTS:
        for det, m in metrics.items():
            if c not in m:
                continue
            e = m[c][level]
            rows.append(
                f"| {CONTRASTS[c].description} | {det} | {e['n_positive']} / {e['n_negative']} | "
                f"{pct(e['accuracy'])}{ci_pct(e['accuracy_ci'])} | "
                f"{pct(e['sensitivity'])}{ci_pct(e['sensitivity_ci'])} | "
                f"{pct(e['specificity'])}{ci_pct(e['specificity_ci'])} | "
                f"{_num(e['auroc'], 4)} | {e['confusion_matrix']} |"
            )
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
    return f"median {np.median(got):.1f} s (range {min(got):.1f} to {max(got):.1f}), {len(got)}/{len(lat)} detected" + (
        f", {early} alarmed before the onset" if early else ""
    )


# --------------------------------------------------------------------------- the run's results
@dataclass
class ReportInputs:
    """Everything the report shows (the shapes :func:`evaluation.evaluate.main` produces), and the pools
    derived from it once: which detectors ran, the test recordings, those with and without a seizure,
    and each detector's pooled scores.

    ``results`` / ``own_settings``: ``{recording name: {detector: WindowScores with .score}}`` (the
    shipped settings / each detector's own tuned settings); ``split_metrics``: ``{detector:
    evaluation.metrics.contrast_metrics(...)}``; ``tuning``: ``{detector: tune_decision(...)}``;
    ``baseline_info``: ``{"path", "card", "params"}`` or empty; ``background``: the false alarms on the
    background corpus (:func:`evaluation.background.measure`) or None; ``net``: the network's detector
    (``model_version``, ``architecture``, ``window_samples``, ``sample_rate_hz``); ``args``: the
    command's namespace (``model``, ``config``).
    """

    command: str
    args: Any
    card: dict
    net: Any
    config: Any
    split: dict[str, set[str]]
    split_note: str
    test_records: Sequence
    split_metrics: dict
    recs: list[EvalRecording]
    results: dict[str, dict[str, WindowScores]]
    own_settings: dict[str, dict[str, WindowScores]]
    tuning: dict
    baseline_info: dict
    peer_note: str
    eval_hop: int
    wall_s: float
    # evaluation.background.measure(...) on the background corpus, plus "background" (its folder);
    # None: not run (--no-background, or no corpus)
    background: dict | None = None
    dets: list[str] = field(init=False)
    by_name: dict[str, EvalRecording] = field(init=False)
    test_recs: list[EvalRecording] = field(init=False)  # CHB-MIT, test-split and user recordings
    sz_recs: list[EvalRecording] = field(init=False)  # those with an annotated seizure
    bg_recs: list[EvalRecording] = field(init=False)  # those that are background only
    headline: dict[str, tuple[EventScore, EventScore, EventScore]] = field(init=False)  # det -> (sz, bg, all)

    def __post_init__(self) -> None:
        results, recs = self.results, self.recs
        self.dets = [x for x in DETECTORS if any(x in results[r.name] for r in recs)]
        self.by_name = {r.name: r for r in recs}
        self.test_recs = [r for r in recs if r.role in ("test", "user") or r.name.startswith("chbmit")]
        self.sz_recs = [r for r in self.test_recs if r.seizures]
        self.bg_recs = [r for r in self.test_recs if r.background_only]
        self.headline = {}
        for det in self.dets:
            pools = [
                combine_scores([_score(results[r.name][det]) for r in group if det in results[r.name]])
                for group in (self.sz_recs, self.bg_recs, self.test_recs)
            ]
            self.headline[det] = (pools[0], pools[1], pools[2])

    @property
    def net_sz(self) -> EventScore | None:
        return self.headline["network"][0] if "network" in self.headline else None

    @property
    def net_all(self) -> EventScore | None:
        return self.headline["network"][2] if "network" in self.headline else None


# --------------------------------------------------------------------------- the sections
def section_preamble(inp: ReportInputs) -> list[str]:
    """Title, how the report was made, the model, split, decision settings and peer evaluated."""
    args, net, config, d = inp.args, inp.net, inp.config, inp.config.decision
    return [
        "# Evaluation",
        "",
        f"Generated by `{inp.command}` at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"(git {git_head()}, {inp.wall_s / 60:.1f} min on this machine's CPU). Every number below comes from that "
        f"command; rerun it to regenerate this file and `docs/figures/`.",
        "",
        f"- Model: `{args.model}`: `{net.model_version}` ({net.architecture}), card created {inp.card.get('created')}.",
        f"- Split: {inp.split_note}; test split: {len(inp.split['test'])} segments, never seen in training.",
        f"- Decision settings evaluated (from `{Path(args.config).name}`): aggregation `{d.aggregation}` "
        + (
            f"(k = {d.k_channels}), "
            if d.aggregation != "binomial"
            else f"(at least {d.k_channels} channels; channel_false_rate {d.channel_false_rate:g}, bed_false_rate "
            f"{d.bed_false_rate:g}, channel_correlation {d.channel_correlation:g}), "
        )
        + f"smoothing {d.smoothing_windows} windows, on {d.on_threshold}, off {d.off_threshold}, "
        f"min duration {d.min_duration_s} s, merge gap {d.merge_gap_s} s; hop {config.window.hop_s} s, window "
        f"{net.window_samples} samples at {net.sample_rate_hz:g} Hz ({net.window_samples / net.sample_rate_hz:.3f} s).",
        f"- Peer: {inp.peer_note or 'not run (--no-peer)'}.",
        "",
    ]


def section_headline(inp: ReportInputs) -> list[str]:
    """The headline table: every detector pooled over the test recordings, and the test split in one line."""
    dets, ms = inp.dets, inp.split_metrics.get("network", {})
    L: list[str] = []
    add = L.append
    add("## Headline")
    add("")
    add(
        "| detector | seizures detected, SzCORE [95 % CI] | detected by an alarm after the onset | onset latency: "
        "first alarm after the onset | false alarms on the non-seizure recordings (rate, 95 % CI) | false alarms, "
        "all test recordings: SzCORE / strict | F1 (SzCORE) |"
    )
    add("|---|---|---|---|---|---|---|")
    for det in dets:
        s_sz, s_bg, s_all = inp.headline[det]
        strict = [x for x in s_sz.strict_latencies_s if x is not None]
        fa_bg = max(s_bg.fp, s_bg.alarms_outside)
        lo, hi = poisson_rate_interval(fa_bg, s_bg.hours) if s_bg.duration_s > 0 else (math.nan, math.nan)
        add(
            f"| {LABELS[det]} | {s_sz.tp}/{s_sz.n_seizures}{ci_pct(s_sz.sensitivity_ci())} | "
            f"{len(strict)}/{s_sz.n_seizures}{ci_pct(clopper_pearson(len(strict), s_sz.n_seizures))} | "
            f"{_latency_summary(s_sz.strict_latencies_s)} | {fa_bg} in {s_bg.duration_s / 60:.1f} min "
            f"({fa_bg / s_bg.hours if s_bg.hours else math.nan:.1f}/h, CI {lo:.1f}-{hi:.1f}/h) | "
            f"{s_all.fp} / {s_all.alarms_outside} in {s_all.duration_s / 60:.1f} min | {_num(s_all.f1, 2)} |"
        )
    add("")
    add(
        "Test recordings only (CHB-MIT excerpts and recordings stitched from test-split segments); the seizure "
        "columns pool every recording with an annotated seizure, the false-alarm rate the recordings without any. "
        "Intervals: Clopper-Pearson for proportions, exact Poisson for rates (zero observed: one-sided 95 % upper "
        "bound, about 3.0 / T). SzCORE (30 s before / 60 s after tolerance, detections closer than 90 s merged) "
        "counts an alarm up to 30 s before the onset as a detection, and does not count a merged detection touching "
        "a seizure's tolerance window as false; in the stitched recordings, where the onset is exact (the junction) "
        "and a seizure comes every ~100 s, that forgives background alarms. The strict columns therefore count as "
        "detected only a seizure with an alarm published in [onset, offset + 60 s], latency = that alarm's publish "
        "time minus the onset, and as false every alarm published outside all such windows."
    )
    add("")
    add(
        "Test split (segments), network: "
        + "; ".join(
            f"{CONTRASTS[c].description}: accuracy {pct(ms[c]['segment']['accuracy'])}, AUROC "
            f"{ms[c]['segment']['auroc']:.3f}"
            for c in CONTRASTS
            if c in ms
        )
        + "."
    )
    add("")
    return L


def section_targets(inp: ReportInputs) -> list[str]:
    """The targets of issue 5, each met or not."""
    results, own_settings, by_name, headline = inp.results, inp.own_settings, inp.by_name, inp.headline
    test_recs, sz_recs, ms = inp.test_recs, inp.sz_recs, inp.split_metrics.get("network", {})
    net_sz, net_all, tuning = inp.net_sz, inp.net_all, inp.tuning
    L: list[str] = []
    add = L.append
    add("## Targets (issue 5)")
    add("")

    def met(ok: bool | None) -> str:
        return "n/a" if ok is None else ("**met**" if ok else "**not met**")

    rows = []
    for c in ("bonn_S_vs_all", "bonn_S_vs_NF"):
        if c in ms:
            acc = ms[c]["segment"]["accuracy"]
            rows.append(
                (f"Bonn test split, {CONTRASTS[c].description}: segment accuracy >= 99 %", f"{pct(acc)}", acc >= 0.99)
            )
    if "chbmit_seizure" in by_name and "network" in results.get("chbmit_seizure", {}):
        a = _score(results["chbmit_seizure"]["network"])
        b = _score(results["chbmit_nonseizure"]["network"])
        lat = a.strict_latencies_s[0] if a.strict_latencies_s else None
        cp = results["chbmit_seizure"]["network"].channel_probs
        top = float(np.nanmax(cp)) if cp.size and np.isfinite(cp).any() else math.nan
        rows.append(
            (
                "CHB-MIT: alarm on the seizure excerpt, quiet on the non-seizure excerpt",
                f"seizure: {f'alarm after {lat:.1f} s' if lat is not None else 'no alarm'} (highest channel "
                f"probability in any window {_num(top, 2)}); non-seizure: {b.n_alarms} alarm(s)",
                lat is not None and b.n_alarms == 0,
            )
        )
    if net_sz is not None and net_all is not None:  # both come from headline["network"]
        strict = [x for x in net_sz.strict_latencies_s if x is not None]
        rows.append(
            (
                "Every annotated seizure detected (continuous test recordings, alarm after the onset)",
                f"{len(strict)}/{net_sz.n_seizures} (SzCORE: {net_sz.tp}/{net_sz.n_seizures})",
                len(strict) == net_sz.n_seizures and net_sz.n_seizures > 0,
            )
        )
        rows.append(
            (
                "Onset latency <= 10 s (every detected seizure)",
                f"max {max(strict):.1f} s, median {np.median(strict):.1f} s" if strict else "none detected",
                bool(strict) and max(strict) <= 10,
            )
        )
        rows.append(
            (
                "No false alarm on non-seizure EEG (all test recordings)",
                f"{net_all.fp} SzCORE false alarm(s), {net_all.alarms_outside} strict, in "
                f"{net_all.duration_s / 60:.1f} min",
                net_all.fp == 0 and net_all.alarms_outside == 0,
            )
        )

        def stats(table: dict, det: str) -> tuple[int, float, int]:
            sz = combine_scores([_score(table[r.name][det]) for r in sz_recs if det in table[r.name]])
            al = combine_scores([_score(table[r.name][det]) for r in test_recs if det in table[r.name]])
            got = [x for x in sz.strict_latencies_s if x is not None]
            return len(got), (float(np.median(got)) if got else math.inf), al.alarms_outside

        def beats(a: tuple, b: tuple) -> bool:
            return a[0] >= b[0] and a[1] <= b[1] and a[2] <= b[2] and a != b

        n_stats = stats(results, "network")
        for other in ("baseline", "peer"):
            if other not in headline:
                continue
            o_shipped = stats(results, other)
            text = (
                f"network {n_stats[0]}/{net_sz.n_seizures} detected, median latency {n_stats[1]:.1f} s, "
                f"{n_stats[2]} false alarm(s); {other} with the same settings {o_shipped[0]}, "
                f"{o_shipped[1]:.1f} s, {o_shipped[2]}"
            )
            ok = beats(n_stats, o_shipped)
            if any(other in own_settings[r.name] for r in test_recs):
                o_own = stats(own_settings, other)
                text += f"; with its own tuned settings {o_own[0]}, {o_own[1]:.1f} s, {o_own[2]}"
                ok = ok and beats(n_stats, o_own)
            rows.append(
                (
                    f"Better than the {other} on detection, latency and false alarms (no worse on any, strict counts)",
                    text,
                    ok,
                )
            )
    rows.append(("Decision settings chosen on training/validation data only", "see 'Decision settings'", bool(tuning)))
    add("| target | result | |")
    add("|---|---|---|")
    for name, res, ok in rows:
        add(f"| {name} | {res} | {met(ok)} |")
    add("")
    return L


def section_recordings(inp: ReportInputs) -> list[str]:
    """Every continuous recording and detector: SzCORE and strict counts, latencies, figure links."""
    recs, dets, results = inp.recs, inp.dets, inp.results
    L: list[str] = []
    add = L.append
    add("## Continuous recordings (SzCORE event scoring)")
    add("")
    add(
        "Each recording runs through the daemon's `realtime.pipeline.Pipeline`, fed as `realtime-detect --file "
        "REC --json --windows` feeds it (`evaluation.runs.pipeline_window_scores`: buffering, hop scheduling, "
        "resampling, channel checks, background scaling, batched model, decision machine); the test recordings are "
        "scored in order, each given the one before, so a file that continues the previous one (an archive's "
        "recording split into files: the same folder, patient field and channels, starting where it ended) starts "
        'from its background levels, as with `realtime-detect --file` (docs/pipeline.md "Offline scoring"). The '
        "baseline export runs through the same code, with the network's settings and its own card's over them (its "
        "card asks for the training's resampling filter: its features read above 40 Hz); the peer's "
        "per-window probabilities go through the same `realtime.decision.DecisionMachine` with the same settings. "
        "Events are scored with `timescoring.scoring.EventScoring` (SzCORE defaults: 30 s before / 60 s after "
        "tolerance, any overlap, merge < 90 s, split > 5 min). Latency = the publish time of the first onset "
        "message (when a bed is alerted) in [onset, offset + 60 s], minus the annotated onset; 'missed' = no such "
        "alarm (SzCORE may still count the seizure when an earlier alarm's event overlaps its tolerance window)."
    )
    add("")
    add(
        "| recording | duration | annotated seizures | detector | detected (SzCORE) | false alarms (SzCORE / "
        "strict) | latency per seizure: first alarm after the onset (s) | figure |"
    )
    add("|---|---|---|---|---|---|---|---|")
    for rec in recs:
        for det in dets:
            w = results[rec.name].get(det)
            if w is None:
                continue
            s = _score(w)
            add(
                f"| {rec.name} | {rec.duration_s:.0f} s | {len(rec.seizures)} | {det} | {s.tp}/{s.n_seizures} | "
                f"{s.fp} / {s.alarms_outside} | {fmt_latencies(s.strict_latencies_s)} | "
                f"[png](figures/recording_{rec.name}.png) |"
            )
    add("")
    add("Recordings:")
    add("")
    for rec in recs:
        extra = ""
        if rec.meta.get("junctions"):
            extra = (
                f" {rec.meta['n_pieces']} segments, {rec.meta['junctions']} junctions (each piece de-meaned "
                f"and faded in/out over {rec.meta['taper_s']} s, so about {2 * rec.meta['taper_s']:.1f} s of "
                f"attenuated signal per junction), background {rec.meta['background_s'] / 60:.1f} min."
            )
        add(f"- `{rec.name}` ({rec.duration_s / 60:.1f} min, {rec.n_channels} channel(s)): {rec.description}.{extra}")
    add("")
    add(
        "Stitched recordings are written under `artifacts/eval/recordings/` (NPZ + `.csv` annotation sidecar + "
        "`.json` list of pieces); they hold research-use-only data and are not in the repository. Figures: "
        "the first channels of the EEG, each detector's smoothed probability, the on/off thresholds, the "
        "annotated seizure (red) and the published alarms (dashed lines, triangles)."
    )
    add("")
    return L


def section_own_settings(inp: ReportInputs) -> list[str]:
    """Each detector replayed with its own tuned settings (empty when none was tuned)."""
    recs, dets, tuning, own_settings = inp.recs, inp.dets, inp.tuning, inp.own_settings
    sz_recs, test_recs = inp.sz_recs, inp.test_recs
    if not any(own_settings[r.name] for r in recs):
        return []
    L: list[str] = []
    add = L.append
    add("### Each detector with its own tuned settings")
    add("")
    add(
        "The table above gives every detector the shipped settings (tuned for the network). A detector with "
        "differently calibrated probabilities may deserve its own: the same grid search on the same "
        "training/validation recordings picked these per detector; the test recordings replayed with them:"
    )
    add("")
    add(
        "| detector | its settings (on / off / smoothing / min duration) | seizures detected (SzCORE) | "
        "latency, first alarm after the onset | false alarms, all test recordings (SzCORE / strict) |"
    )
    add("|---|---|---|---|---|")
    for det in dets:
        if det not in tuning:
            continue
        c = tuning[det]["chosen"]
        s_sz = combine_scores([_score(own_settings[r.name][det]) for r in sz_recs if det in own_settings[r.name]])
        s_all = combine_scores([_score(own_settings[r.name][det]) for r in test_recs if det in own_settings[r.name]])
        add(
            f"| {det} | {c['on_threshold']} / {c['off_threshold']} / {c['smoothing_windows']} / "
            f"{c['min_duration_s']} s | {s_sz.tp}/{s_sz.n_seizures} | {_latency_summary(s_sz.strict_latencies_s)} | "
            f"{s_all.fp} / {s_all.alarms_outside} in {s_all.duration_s / 60:.1f} min |"
        )
    add("")
    return L


def section_background(inp: ReportInputs) -> list[str]:
    """False alarms per hour on the continuous background corpus, every detector side by side."""
    return background_lines(inp.background)


def background_lines(bgr: dict | None) -> list[str]:
    """The section of :func:`section_background` from :func:`evaluation.background.measure`'s result
    (with ``"background"``, its folder), or "not run" for None."""
    from evaluation.background import POOLED, SOURCES, cell

    L: list[str] = ["## False alarms on continuous background EEG", ""]
    add = L.append
    if not bgr or not bgr.get("runs"):
        add(
            "Not run here (`--no-background`, or no background corpus under the data root). What it measures: false "
            "alarms per hour on real seizure-free scalp EEG recorded as it comes, with every channel the recording "
            "carries (`../shared/data/background`: eegmmidb, 20 healthy awake adults, 19 referential 10-20 channels "
            "at 160 Hz, raw with eye and muscle artefacts; Sleep-EDF, one night with deep sleep), every recording "
            "through the daemon's pipeline with each detector's own settings, out of fold by person. The shipped "
            "model's numbers, the amplitude stress tests and the defaults they chose are in "
            "[background.md](background.md), each with its command; `python -m evaluation.background` measures them "
            "alone (on 2 CPU cores about 8 min per front end for the network, 21 min for the peer: 2026-12-05)."
        )
        add("")
        return L
    runs = bgr["runs"]
    pooled = runs[0]["sources"][POOLED]
    add(
        f"Seizure-free scalp EEG recorded as it comes (`{bgr.get('background', 'background/')}`: eegmmidb, healthy "
        f"awake adults, 19 referential 10-20 channels at 160 Hz, raw with eye and muscle artefacts; Sleep-EDF, "
        f"one night, deep sleep included): {pooled['recordings']} recordings of {pooled['persons']} persons, "
        f"{pooled['hours']:.2f} h. Every alarm on it is false. Each recording runs through the daemon's "
        "`realtime.pipeline.Pipeline` as `realtime-detect --file` feeds it, with the settings the daemon "
        "would run that detector with (its card's settings under the configuration): the channels it "
        "selects, the montage, settling, aggregation and thresholds; the peer's per-channel probabilities "
        "go through the same decision machine. Rates: false alarms per hour of recording, exact two-sided "
        "Poisson (Garwood) 95 % intervals (zero events: 0 to 3.7 / T)."
    )
    add("")
    cols = [c for c in SOURCES if any(c in r["sources"] for r in runs)] + [POOLED]
    add("| detector | montage | decision | " + " | ".join(cols) + " |")
    add("|---|---|---|" + "---|" * len(cols))
    rules = {
        "max": lambda d: "max",
        "k_of_n": lambda d: f"{d['k_channels']} of n",
        "binomial": lambda d: (
            f"binomial (k >= {d['k_channels']}, {d['channel_false_rate']:g} per channel, "
            f"{d['bed_false_rate']:g} per bed"
            + (f", correlation {d['channel_correlation']:g}" if d.get("channel_correlation") else "")
            + ")"
        ),
    }
    for r in runs:
        d = r["decision"]
        label = LABELS.get(r["detector"], r["detector"])
        rule = rules.get(d["aggregation"], lambda d: str(d["aggregation"]))(d)
        add(
            f"| {label} | {r['front_end']['montage']} | {rule}, on {d['on_threshold']}, smoothing "
            f"{d['smoothing_windows']}, min {d['min_duration_s']} s, settle {d['settle_s']} s | "
            + " | ".join(cell(r["sources"].get(c)) for c in cols)
            + " |"
        )
    add("")
    for montage, files in {r["front_end"]["montage"]: r["front_end"]["montage_not_applied"] for r in runs}.items():
        if files:
            add(f"Montage {montage} not applied (the recording's labels do not allow it):")
            add("")
            L.extend(f"- `{f}`: {why}" for f, why in files.items())
            add("")
    add("Whether each detector saw any of this corpus in training:")
    add("")
    for det, note in {r["detector"]: r["out_of_fold"] for r in runs}.items():
        add(f"- {LABELS.get(det, det)}: {note}.")
    add("")
    first = runs[0]
    risk = first["sources"][POOLED]["hours_at_risk"]
    add(
        f"Exposure: of the {pooled['hours']:.2f} h, {risk:.2f} h could raise an alarm at all; the rest is each "
        f"recording's first window and its `decision.settle_s` = {first['decision']['settle_s']} s of settling. "
        "The recordings are 1-2 min long; a bed monitored for hours settles once, so its rate per hour sits "
        "between the two."
    )
    add("")
    per_person = ", ".join(f"{p} {v['false_alarms']}" for p, v in first["per_person"].items())
    who = LABELS.get(first["detector"], first["detector"])
    add(f"False alarms per person ({who}, {first['setting']}): {per_person}.")
    add("")
    shown = [(r, a) for r in runs for a in r["alarms"]]
    if shown:
        add("Every alarm (detector, montage, decision: file, time, the channels that carried it):")
        add("")
        for r, a in shown:
            odd = a.get("channels_not_10_20") or []
            add(
                f"- {r['detector']}, {r['front_end']['montage']}, {r['setting']}: `{a['file']}` at {a['time_s']:.1f} s "
                f"(p {a['probability']:.2f}) on {', '.join(a['channels'])}"
                + (f"; **not 10-20 EEG: {', '.join(odd)}**" if odd else "")
            )
        add("")
    reasons: dict[str, set[str]] = {}
    for rec, chans in first["left_out"].items():
        for name, why in chans.items():
            reasons.setdefault(f"`{name}`: {why}", set()).add(rec)
    if reasons:
        add("Channels left out (not scored), with the reason, and in how many recordings:")
        add("")
        L.extend(f"- {text} ({len(recs)})" for text, recs in sorted(reasons.items()))
        add("")
    errors = [(r["file"], det, e) for r in bgr["recordings"] for det, e in (r.get("errors") or {}).items()]
    if errors:
        add("Recordings not scored (not counted in the hours):")
        add("")
        L.extend(f"- `{f}` ({det}): {e}" for f, det, e in errors)
        add("")
    add(
        "The measurement alone (several montages and aggregations compared by replaying the decision machine "
        "on the same per-window probabilities): `python -m evaluation.background --model MODEL --montage "
        "as_recorded bipolar average --aggregation k_of_n binomial --json OUT.json` (needs "
        "../shared/data/background; minutes)."
    )
    add("")
    return L


def section_test_split(inp: ReportInputs) -> list[str]:
    """Segment- and window-level metrics per contrast of the test split, and the ROC figure."""
    test_records, net, eval_hop, split_metrics = inp.test_records, inp.net, inp.eval_hop, inp.split_metrics
    L: list[str] = []
    add = L.append
    add("## Test split: segments and windows")
    add("")
    add(
        f"{len(test_records)} test segments (Bonn: 23.6 s at 173.61 Hz, New Delhi: 5.12 s at 200 Hz, both resampled "
        f"to {net.sample_rate_hz:g} Hz by the training loaders). Windows: {net.window_samples} samples every "
        f"{eval_hop} samples plus one aligned to the segment's end, as training's test scoring cuts them "
        f"(`train.scoring.record_windows`); a segment's probability is the mean of its windows'; seizure when "
        f"> 0.5. Every window of a segment carries the segment's label."
    )
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
    add(
        "Bonn S vs Z/O is confounded (intracranial ictal vs healthy scalp): S vs N/F is the fair contrast. "
        "New Delhi is the only scalp seizure data in the test split."
    )
    add("")
    return L


def section_decision_settings(inp: ReportInputs) -> list[str]:
    """How the decision settings were chosen, and whether the evaluated ones are that choice."""
    tuning, d = inp.tuning, inp.config.decision
    L: list[str] = []
    add = L.append
    add("## Decision settings")
    add("")
    if tuning:
        t = tuning.get("network")
        if t:
            c = t["chosen"]
            tuned_list = ", ".join(
                f"`{x['name']}` {x['duration_s'] / 60:.1f} min, {x['seizures']} seizures" for x in t["recordings"]
            )
            add(
                f"Chosen on TRAINING and VALIDATION data only (never the test split or CHB-MIT): the network scored "
                f"recordings stitched from the validation split exactly like the test recordings, plus the training "
                f"split's scalp background (more non-seizure time for the false-alarm constraint) "
                f"({tuned_list}; "
                f"{t['tuning_hours'] * 60:.0f} min in all), once, through the pipeline; the per-window probabilities "
                f"were then replayed through `realtime.decision.DecisionMachine` for each of {t['grid_size']} settings "
                f"(on_threshold {list(GRID_ON)} x smoothing {list(GRID_SMOOTHING)} windows x min duration "
                f"{list(GRID_MIN_DURATION_S)} s; off = min(0.5, on - 0.1); k-of-n and merge gap as shipped: the "
                f"tuning recordings have one channel). Scored strictly, since the stitched onsets are exact: "
                f"a false alarm is any alarm "
                f"published outside every seizure's [onset, offset + 60 s], a detection an alarm inside it. Rule: zero "
                f"false alarms on every tuning recording, then most seizures detected, then, among the settings whose "
                f"mean latency is within {t['latency_slack_s']:g} s of the fastest "
                f"({t['fastest_mean_latency_s']:.1f} s), the lowest on_threshold, then the longest minimum duration, "
                f"then the most smoothing. The low threshold is for sources the network was not trained on: on the "
                f"scalp-transfer proxy (a Bonn-only model scoring every New Delhi segment) seizures are "
                f"under-confident (57 % of ictal segments reach 0.6 in some window, 88 % reach 0.2) while no "
                f"non-ictal window exceeds 0.01 (docs/training.md, 'Decision threshold for unseen sources'; until "
                f"2026-11-24 07:50 the rule took the highest threshold and the grid started at 0.5). "
                f"{t['n_zero_fp']} of {t['grid_size']} settings had no false alarm."
            )
            add("")
            b = t.get("background") or {}
            add(
                f"False-alarm budget on continuous multichannel background: {b.get('recordings', 0)} recordings of "
                f"the model's training and validation persons ({b.get('hours', 0.0):.2f} h; "
                f"{b.get('note', '')}), replayed with the bed rule as shipped; at most {b.get('allowed', 0)} "
                f"alarms ({b.get('budget_per_h', 0)} per hour, rounded down) are allowed, and every alarm beyond "
                f"that counts as a false alarm in the rule above. Never the model's test persons."
                if b.get("recordings")
                else f"No false-alarm budget on the multichannel background: {b.get('note', 'not given')}. (With the "
                f"corpus, a model that trained with it is allowed at most {BACKGROUND_BUDGET_PER_H:g} alarms per hour, "
                f"rounded down, on the background of its own training and validation persons, never its test persons; "
                f"a model that never saw the corpus gets no budget: every person is out of sample for it.)"
            )
            add("")
            add(
                f"Chosen for the network: on {c['on_threshold']}, off {c['off_threshold']}, smoothing "
                f"{c['smoothing_windows']}, min duration {c['min_duration_s']} s: {c['tp']}/{c['n_seizures']} "
                f"tuning seizures, {c['fp']} false alarms"
                + (f" ({c['background_fp']} on the background)" if "background_fp" in c and b.get("recordings") else "")
                + f", mean latency {c['mean_latency_s']:.1f} s."
            )
            same = (
                c["on_threshold"] == d.on_threshold
                and c["off_threshold"] == d.off_threshold
                and c["smoothing_windows"] == d.smoothing_windows
                and c["min_duration_s"] == d.min_duration_s
            )
            add("")
            add(
                "These are the settings evaluated here; `--tune-only --write-card` writes them into the model's card "
                "(`settings.decision`), which the daemon reads for that model."
                if same
                else f"**The evaluated configuration differs from this choice** (on {d.on_threshold}, off "
                f"{d.off_threshold}, smoothing {d.smoothing_windows}, min duration {d.min_duration_s} s): the "
                f"defaults were set from an earlier tuning run or by hand; see the commit history."
            )
            add("")
            add(
                "Training-split segments were seen by the network in training, so its false-alarm count there is "
                "optimistic; the validation part is not. The tuning background is short: zero false alarms on it "
                "bounds the rate only loosely (see the intervals above)."
            )
    else:
        add("Not run (--no-tune).")
    add("")
    return L


def section_baseline_and_peer(inp: ReportInputs) -> list[str]:
    """What the baseline and the peer are, and how they were run."""
    baseline_info = inp.baseline_info
    L: list[str] = []
    add = L.append
    add("## Baseline and peer")
    add("")
    if baseline_info:
        p = baseline_info["params"]
        fi = p.fit_info
        add(
            f"Baseline (`evaluation/baseline.py`, export `{baseline_info['path']}`, "
            f"architecture `linelength`): logistic "
            f"regression (L2 {p.l2}, class-balanced) on {', '.join(p.feature_names)} of each "
            f"{p.window_samples}-sample window, fitted on {fi.get('n_windows')} windows "
            f"({fi.get('n_seizure_windows')} seizure) of the {fi.get('training_files')} TRAINING files of the "
            f"network's split. Exported as a Keras SavedModel + LiteRT with a model card and loaded by "
            f"`realtime.model.load_detector`, so it runs through the same pipeline and decision code."
        )
        add("")
    add(
        "Peer: `brainmaze-eeg-models` (PyPI, BSD-3; Mayo Clinic), ONNX seizure-probability model `modelA` "
        "(spectrogram CNN + BiLSTM, trained on intracranial EEG; inputs z-scored per window, so units do not "
        "matter; whole even rate >= 200 Hz; designed for 300 s windows). Its own `predict_channel_seizure_probability` "
        "looks ~290 s into the future (300 s windows every 20 s, max over overlaps), which a bedside detector cannot. "
        "Here it runs causally (`evaluation/peer.py`): every hop (1 s), the newest min(300 s, elapsed) seconds "
        "are scored "
        "and the probability of the last 1 s column is taken, per channel; those go through our decision machine "
        "with the same settings. The last column sees the future through neither direction of the BiLSTM: that is "
        "the causal price the peer pays here, and its numbers must be read with it. Its first window needs 4 s of "
        "signal, like ours (4.1 s)."
    )
    add("")

    add(
        "Installing the peer (`pip install brainmaze-eeg-models onnxruntime`, the `eval` extra) pulls in "
        "onnxruntime, brainmaze-utils and pandas; no torch, and nothing is downloaded at run time (the ONNX files "
        "are inside the wheel), so it runs offline here."
    )
    add("")
    return L


def section_reproduce(inp: ReportInputs) -> list[str]:
    """The commands that regenerate the report."""
    command = inp.command
    L: list[str] = []
    add = L.append
    add("## Reproduce")
    add("")
    add("```")
    add("# the whole report (needs ../shared/data; 12 min on 2 CPU cores with --no-background, beside another job;")
    add("# the background corpus adds about 8 min for the network, 1 min for the baseline, 21 min for the peer):")
    add(command)
    add("# only the decision-setting search (validation data), printing the chosen settings:")
    add("train-detector evaluate --tune-only")
    add("# the same, and write the network's chosen settings into the model's card (settings.decision, which the")
    add("# daemon reads for that model): how the shipped model's settings were set")
    add("train-detector evaluate --tune-only --write-card")
    add(
        "# add your own recordings (EDF/BDF + CSV with onset_s,offset_s, BIDS/SzCORE events TSV, CHB-MIT summary or "
        "TUSZ .csv_bi/.csv/.tse_bi/.tse; '-' for the recording's own annotations and the files beside it):"
    )
    add("train-detector evaluate --edf rec1.edf --annotations rec1.csv --edf rec2.edf --annotations -")
    add("# (an EDF+D, a recording that was paused, is scored stretch by stretch; its timeline runs to the last sample,")
    add("#  gaps included, and a warning says that false alarms per hour then count the gaps as monitored time)")
    add("# false alarms on the background corpus only, comparing montages and bed rules (../shared; minutes):")
    add("python -m evaluation.background --model realtime/models/default --montage as_recorded bipolar average \\")
    add("    --aggregation k_of_n binomial --json artifacts/eval/background.json")
    add("# a model trained with the background corpus: each person scored out of fold, by the fold of its")
    add("# train-detector cv run that held them out, under the model's own settings:")
    add("train-detector evaluate --model EXPORT --cv-run runs/cv-NAME --cv-exports artifacts/cv-NAME")
    add("# the evaluation's tests (no ../shared needed):")
    add(".venv/bin/pytest tests/evaluation -q")
    add("```")
    add("")
    add(
        "Scratch outputs (git-ignored): `artifacts/eval/` holds the stitched recordings, the baseline export, the "
        "tuning grid (`decision_tuning.json`), per-window probabilities (`test_window_probabilities.json`, "
        "`recording_scores.json`) and the peer's cached scores."
    )
    add("")
    return L


def section_caveats(inp: ReportInputs) -> list[str]:
    """What these numbers can and cannot say."""
    bg_recs, test_recs, net_sz, net_all = inp.bg_recs, inp.test_recs, inp.net_sz, inp.net_all
    L: list[str] = []
    add = L.append
    add("## What these numbers can and cannot say")
    add("")
    tot_bg = sum(r.duration_s for r in bg_recs) / 3600
    add(
        f"- The false-alarm exposure is short: {tot_bg * 60:.1f} min of non-seizure recordings. Zero false alarms "
        f"there still allows up to about {poisson_rate_interval(0, tot_bg)[1]:.1f} per hour "
        f"({poisson_rate_interval(0, tot_bg / 24)[1]:.0f} per 24 h) at 95 % confidence."
    )
    all_bg = sum(r.duration_s - sum(min(b, r.duration_s) - a for a, b in r.seizures) for r in test_recs) / 3600
    if net_all is not None:
        n_fa = net_all.alarms_outside
        lo, hi = poisson_rate_interval(n_fa, all_bg)
        add(
            f"- Counting every non-seizure minute of every test recording ({all_bg * 60:.0f} min, including the "
            f"background between stitched seizures), the network published {n_fa} alarm(s) outside the seizures' "
            f"[onset, offset + 60 s] windows: {n_fa / all_bg:.1f} per hour, 95 % CI {lo:.1f}-{hi:.1f} per hour."
        )
    add(
        "- Stitched recordings join segments from different people and sessions; junctions are tapered, but "
        "a real recording's slow transitions into a seizure are replaced by a cut. New Delhi ictal segments are "
        "only 5.12 s long, so each stitched scalp 'seizure' lasts 5.12 s: a detector needing a longer build-up "
        "can only catch it inside SzCORE's 60 s post-event tolerance."
    )
    add(
        "- CHB-MIT: one seizure of one patient (41 s excerpts). It is the only recording here with many channels, "
        "real pre-ictal-to-ictal transition, and a different amplifier, so it carries weight beyond its size, but "
        "it is one event."
    )
    add(
        f"- Seizure sensitivity over {net_sz.n_seizures if net_sz else 0} test seizures: "
        f"the Clopper-Pearson interval in the headline is the honest width."
    )
    add("")
    return L


SECTIONS = (
    section_preamble,
    section_headline,
    section_targets,
    section_recordings,
    section_own_settings,
    section_background,
    section_test_split,
    section_decision_settings,
    section_baseline_and_peer,
    section_reproduce,
    section_caveats,
)


def render_report(**inputs) -> str:
    """The whole report: every section of :data:`SECTIONS` in order; keyword arguments are :class:`ReportInputs`'."""
    inp = ReportInputs(**inputs)
    return "\n".join(line for section in SECTIONS for line in section(inp)) + "\n"
