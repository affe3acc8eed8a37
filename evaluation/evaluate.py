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
   background, never the test split or CHB-MIT, under a false-alarm budget on the continuous multichannel
   background of the model's own training and validation persons (:func:`tuning_background`; none for a
   model that did not train with the background) (see :func:`evaluation.tuning.tune_decision`); it reports
   what it would choose. The evaluation itself always uses the settings a daemon runs the model with (the
   model card's ``settings`` under what ``--config`` sets: :func:`evaluated_config`), for every
   detector, so the report shows what a bed gets.
5. Continuous recordings through the daemon's own :class:`realtime.pipeline.Pipeline`, fed as
   ``realtime-detect --file`` feeds it (:func:`evaluation.runs.pipeline_window_scores`):
   the two CHB-MIT excerpts, the two stitched together (junction annotated), the scalp background
   (test segments of Bonn Z, O and New Delhi interictal, preictal, back to back), New Delhi ictal
   test segments each after >= 95 s of scalp background, Bonn S test segments each after >= 95 s
   of Bonn N/F background (intracranial), and any ``--edf`` given. SzCORE event scoring
   (``timescoring``): sensitivity, precision, F1, false alarms per 24 h with Poisson intervals,
   onset latency (alarm publish time minus annotated onset). The same for the baseline (same
   pipeline) and the peer (``brainmaze-eeg-models``, causal, through ``realtime.decision``).
6. False alarms per hour on continuous real background EEG (``--background DIR``, default
   ``DATA_ROOT/background`` when it exists; ``--no-background`` skips it): every recording of the
   seizure-free corpus through the same pipeline, for the network, the baseline and the peer, per
   source and pooled, with exact Poisson intervals, and whether each model saw the corpus
   (:func:`evaluation.background.measure`; written to ``ARTIFACTS/background_false_alarms.json``). A
   model trained with the corpus is measured out of fold by person with ``--cv-run``/``--cv-exports``: each
   person scored by the weights of the ``train-detector cv`` fold that held them out, under the model's
   own settings (:func:`cv_fold_detectors`).
7. A figure per recording (:mod:`evaluation.figures`) and the Markdown report (:mod:`evaluation.report`).

This module is the command: its arguments, the run in that order, and the JSON scratch files. The
recordings are built by :mod:`evaluation.recordings`, scored by :mod:`evaluation.runs`, counted by
:mod:`evaluation.metrics` and :mod:`evaluation.events`; the background corpus by :mod:`evaluation.background`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from evaluation.background import add_cv_arguments
from evaluation.events import score_events
from evaluation.figures import plot_recording, plot_roc
from evaluation.metrics import EVALUATION_CONTRASTS, contrast_metrics
from evaluation.recordings import REPO, build_stitched, chbmit_recordings, user_recordings
from evaluation.report import render_report
from evaluation.runs import (
    WindowScores,
    detector_config,
    peer_window_scores,
    pipeline_window_scores,
    replay_decision,
)
from evaluation.tuning import tune_decision
from realtime.config import MODEL_BACKENDS, MODEL_PRECISIONS

log = logging.getLogger("evaluation.evaluate")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="train-detector evaluate",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--model", default=str(REPO / "realtime" / "models" / "default"), help="model export directory")
    ap.add_argument("--data-root", default="../shared/data", help="folder holding bonn/ and nscnd/")
    ap.add_argument("--out", default="docs", help="report folder: OUT/evaluation.md and OUT/figures/")
    ap.add_argument("--artifacts", default="artifacts/eval", help="scratch folder (git-ignored)")
    ap.add_argument(
        "--config",
        default=str(REPO / "config" / "realtime-detect.toml"),
        help="daemon configuration whose [window] and [decision] settings are evaluated; a "
        "decision key it leaves unset comes from the model card, as in the daemon",
    )
    ap.add_argument("--backend", default="tensorflow", choices=MODEL_BACKENDS[1:])
    ap.add_argument(
        "--precision",
        default="float32",
        choices=MODEL_PRECISIONS,
        help="the network's arithmetic (the daemon's model.precision; bfloat16: TensorFlow and the export's "
        "saved_model_bfloat16/, or OpenVINO with --backend openvino); the baseline and the peer run as they do",
    )
    ap.add_argument("--edf", action="append", default=[], help="a user EDF/BDF recording to score (repeatable)")
    ap.add_argument(
        "--annotations",
        action="append",
        default=[],
        help="annotations for the --edf in the same position: CSV/TSV (onset_s,offset_s), BIDS/SzCORE "
        "events TSV (onset,duration,eventType), a CHB-MIT chbNN-summary.txt or a TUSZ .csv_bi/.csv/.tse_bi/.tse; "
        "'-' for the "
        "recording's own (EDF+ annotations, sidecars)",
    )
    ap.add_argument("--baseline", default=None, help="use this baseline export instead of fitting one")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--peer-model", default="modelA", choices=["modelA", "modelB"])
    ap.add_argument("--no-tune", action="store_true", help="skip the decision-setting search")
    ap.add_argument(
        "--tune-only",
        action="store_true",
        help="only the decision-setting search (prints and writes ARTIFACTS/decision_tuning.json)",
    )
    ap.add_argument(
        "--write-card",
        action="store_true",
        help="with the search: write the network's chosen settings into the --model export's "
        "model_card.json (settings.decision), which the daemon reads for that model",
    )
    ap.add_argument(
        "--recompute-split",
        action="store_true",
        help="the card has no split: recompute it with the training split function and the card's "
        "seed (development only; the report says so)",
    )
    ap.add_argument(
        "--background",
        default=None,
        help="seizure-free corpus for false alarms per hour (eegmmidb/, sleep-edf/); default: "
        "DATA_ROOT/background when it exists",
    )
    ap.add_argument("--no-background", action="store_true", help="skip the false alarms on the background corpus")
    add_cv_arguments(
        ap,
        "out of fold by person on the background corpus, for a model trained with it: each person is scored "
        "by the fold of this train-detector cv run that held them out (DIR/fold-F/split.json), under --model's "
        "settings; with --cv-exports",
    )
    ap.add_argument("--report-name", default="evaluation.md")
    args = ap.parse_args(argv)
    if args.write_card and args.no_tune:
        ap.error("--write-card needs the decision-setting search: drop --no-tune")
    if bool(args.cv_run) != bool(args.cv_exports):
        ap.error("--cv-run and --cv-exports go together")
    if args.cv_run and args.no_background:
        ap.error("--cv-run is for the background corpus: drop --no-background")
    return args


def _records_and_split(args, card: dict):
    from train.datasets.records import load_sources, split_records

    data_root = Path(args.data_root)
    if not data_root.is_dir():
        raise SystemExit(
            f"train-detector evaluate: data root {str(data_root)!r} does not exist "
            f"(it needs ../shared/data with bonn/ and nscnd/)"
        )
    rate = float(card["sample_rate_hz"])
    records = load_sources(("bonn", "nscnd"), data_root, sample_rate_hz=rate)
    split = (card.get("training") or {}).get("split") or {}
    note = "from the model card (training.split)"
    if not all(k in split for k in ("train", "validation", "test")):
        if not args.recompute_split:
            raise SystemExit(
                "train-detector evaluate: the model card has no training.split "
                "(train/validation/test recording ids); pass --recompute-split to recompute it"
            )
        hp = card.get("hyperparameters") or {}
        seed = int((hp.get("data") or {}).get("split_seed", -1))
        if seed == -1:
            seed = int(((hp.get("fit") or {}).get("seed")) or 0)
        data = hp.get("data") or {}
        fractions = tuple(data.get("split_fractions") or (0.6, 0.2, 0.2))
        kfold = {"n_folds": int(data.get("cv_folds", 0)), "fold": int(data.get("cv_fold", 0))}
        split = split_records(records, fractions, seed=seed, **kfold)
        note = (
            f"RECOMPUTED with split_records(fractions={list(fractions)}, seed={seed}, n_folds={kfold['n_folds']}, "
            f"fold={kfold['fold']}), not read from the card"
        )
    known = {r.recording_id for r in records}
    missing = [i for k in ("train", "validation", "test") for i in split[k] if i not in known]
    if missing:
        log.warning("%d split ids are not in the data (e.g. %s): ignored", len(missing), missing[:3])
    return records, {k: set(split[k]) for k in ("train", "validation", "test")}, note


def evaluated_config(config_path: str | Path, detector):
    """The settings a daemon runs ``detector`` with: built-in defaults < its model card's ``settings`` <
    the ``config_path`` file (:func:`realtime.config.apply_model_settings`). The evaluation uses them for
    every detector (the peer gets the network's; the baseline too, with its own card's settings over them:
    :func:`evaluation.runs.detector_config`), every replay and the report."""
    from realtime.config import apply_model_settings, describe_settings, load_config, montage_warning

    config, sources = apply_model_settings(load_config(config_path), getattr(detector, "settings", None))
    log.info("settings evaluated: %s", describe_settings(config, sources))
    if warning := montage_warning(config, getattr(detector, "settings", None)):
        log.warning("%s", warning)
    return config


def baseline_detector(
    args, records, split: dict[str, set[str]], split_note: str, window_samples: int, train_hop: int, art: Path
):
    """The baseline (``--baseline`` export, or fitted on the TRAINING split's windows and exported under
    ``art``), loaded through :func:`realtime.model.load_detector`: ``(detector, {"path", "card", "params"})``."""
    from evaluation.baseline import export_baseline, fit_baseline, params_from_card
    from realtime.model import load_detector
    from train.datasets.records import windows

    if args.baseline:
        base_path = Path(args.baseline)
    else:
        by_id = {r.recording_id: r for r in records}
        train_recs = [by_id[i] for i in sorted(split["train"]) if i in by_id]
        xs, ys = [], []
        for r in train_recs:
            w = windows(r.signal_uv, window_samples, train_hop)
            xs.append(w)
            ys.extend([r.label] * len(w))
        X = np.concatenate(xs) if xs else np.zeros((0, window_samples))
        log.info("baseline: fitting on %d windows of %d training files", len(X), len(train_recs))
        params = fit_baseline(X, ys, info={"training_files": len(train_recs), "hop_samples": train_hop})
        base_path = export_baseline(
            params,
            art / "baseline_export",
            training={
                "split": {k: sorted(v) for k, v in split.items()},
                "split_note": split_note,
                "data": ["bonn", "nscnd"],
            },
        )
    base_det = load_detector(base_path, backend=args.backend)
    return base_det, {"path": str(base_path), "card": base_det.card, "params": params_from_card(base_det.card)}


def background_dir(args) -> Path | None:
    """The background corpus to measure false alarms on: ``--background``, else ``DATA_ROOT/background``
    when it exists; None with ``--no-background`` or without a corpus."""
    if args.no_background:
        return None
    if args.background:
        return Path(args.background)
    default = Path(args.data_root) / "background"
    return default if default.is_dir() else None


def background_false_alarms(args, detectors: dict, scorer, art: Path) -> dict | None:
    """:func:`evaluation.background.measure` on the corpus of :func:`background_dir` with the network,
    the baseline (one model each for every person) and the peer; written to ``art``. None when skipped."""
    from evaluation.background import discover, measure
    from realtime.config import load_config

    folder = background_dir(args)
    if folder is None:
        log.info("background false alarms: skipped (--no-background, or no %s/background)", args.data_root)
        return None
    recs = discover(folder)
    log.info("background false alarms: %d recordings under %s", len(recs), folder)
    result = {
        "background": str(folder),
        **measure(recs, load_config(args.config), detectors, peer=scorer, peer_cache=art / "peer_cache"),
    }
    (art / "background_false_alarms.json").write_text(json.dumps(result, indent=1))
    return result


def cv_fold_detectors(args, net) -> dict | None:
    """With ``--cv-run``: person -> the fold detector that held them out, under ``net``'s card settings
    (:func:`evaluation.background.fold_detectors`), loaded before any long work; exits quoting what is wrong."""
    if not args.cv_run:
        return None
    from evaluation.background import fold_detectors
    from realtime.model import ModelLoadError, load_detector

    try:
        folds = fold_detectors(
            args.cv_run,
            args.cv_exports,
            lambda p: load_detector(p, backend=args.backend, precision=args.precision),
            settings=net.settings,
        )
    except (OSError, ValueError, ModelLoadError) as exc:
        raise SystemExit(f"train-detector evaluate: --cv-run: {exc}") from None
    log.info("background corpus out of fold by person: %d persons from %s", len(folds), args.cv_run)
    return folds


def tuning_background(args, card: dict, config, detectors: dict) -> tuple[dict[str, list], str]:
    """Per-channel scores (:func:`evaluation.background.score_recording`), per detector, of the background
    recordings of the model's TRAINING and VALIDATION persons (the card's ``training.split.background``),
    for the false-alarm budget of :func:`evaluation.tuning.tune_decision`, and a note saying what was used.
    A model that did not train with the background has no such persons: nothing is used (tuning on persons
    the false-alarm measurement then reports on would make that measurement optimistic)."""
    from evaluation.background import discover, score_recording

    folder = background_dir(args)
    split = ((card.get("training") or {}).get("split") or {}).get("background") or {}
    persons = set(split.get("train") or ()) | set(split.get("validation") or ())
    if folder is None:
        return {}, "no background corpus (--no-background, or no DATA_ROOT/background): no false-alarm budget"
    if not persons:
        return {}, (
            "the model card has no background persons in its training/validation split: no false-alarm budget "
            "(every background person is out of sample for this model and kept for the measurement)"
        )
    recs = [r for r in discover(folder) if r.person in persons]
    out = {name: [score_recording(r, config, det) for r in recs] for name, det in detectors.items()}
    hours = sum(sc.hours for sc in next(iter(out.values()), []))
    note = f"{len(recs)} recordings, {len(persons)} training/validation persons, {hours:.2f} h under {folder}"
    return out, note


def split_metrics_and_curves(test_records, seg: dict[str, dict[str, np.ndarray]]) -> tuple[dict, dict]:
    """``seg``: ``{detector: {recording_id: [n_windows] p}}`` -> ``(split_metrics, curves)``:
    :func:`evaluation.metrics.contrast_metrics` per detector over :data:`EVALUATION_CONTRASTS`, and the
    window-level ``curves[contrast][detector] = (y_true [n], scores [n])`` for the ROC figure."""
    split_metrics = {det: contrast_metrics(test_records, p, contrasts=EVALUATION_CONTRASTS) for det, p in seg.items()}
    curves: dict = {}
    for c, contrast in EVALUATION_CONTRASTS.items():
        sel = [r for r in test_records if contrast.is_positive(r) or contrast.is_negative(r)]
        curves[c] = {}
        for det, p in seg.items():
            y = (
                np.concatenate([[int(contrast.is_positive(r))] * len(p[r.recording_id]) for r in sel])
                if sel
                else np.zeros(0)
            )
            s = np.concatenate([p[r.recording_id] for r in sel]) if sel else np.zeros(0)
            scored = np.isfinite(s)  # NaN: a window left out as the daemon leaves it out
            curves[c][det] = (y.astype(int)[scored], s[scored])
    return split_metrics, curves


def score_test_recordings(recs, config, detectors: dict, scorer, tuning: dict, art: Path, fig_dir: Path):
    """Every continuous recording through each detector (``detectors``: name -> export, through the
    pipeline; ``scorer``: the peer or None), scored with SzCORE, replayed with each tuned detector's own
    settings, and plotted. Returns ``(results, own_settings)``: ``{recording: {detector: WindowScores}}``."""
    decision, hop_s = config.decision, config.window.hop_s
    results: dict[str, dict[str, WindowScores]] = {}
    own_settings: dict[str, dict[str, WindowScores]] = {}
    previous: dict[str, WindowScores] = {}  # per detector: the recording before, which the next may continue
    configs = {name: detector_config(config, det) for name, det in detectors.items()}
    for rec in recs:
        log.info("recording %s (%.0f s, %d seizure(s))", rec.name, rec.duration_s, len(rec.seizures))
        results[rec.name] = {}
        own_settings[rec.name] = {}
        for name, det in detectors.items():
            before = previous.get(name)
            ws = pipeline_window_scores(rec.path, configs[name], det, rec.duration_s, before.end if before else None)
            results[rec.name][name] = previous[name] = ws
        # the replay must reproduce the pipeline's own events (same decision code): a consistency check
        ws = results[rec.name]["network"]
        rep = replay_decision(ws, decision, hop_s, rec.duration_s)
        if [(e.start_s, e.alarm_s) for e in rep.events] != [(e.start_s, e.alarm_s) for e in ws.events]:
            log.warning("%s: replayed decisions differ from the pipeline's: %s vs %s", rec.name, rep.events, ws.events)
        if scorer is not None:
            results[rec.name]["peer"] = peer_window_scores(rec, scorer, decision, hop_s, art / "peer_cache")
        for det, w in results[rec.name].items():
            w.score = score_events(rec.seizures, w.events, rec.duration_s)
            if det in tuning:
                c = tuning[det]["chosen"]
                cfg = dataclasses.replace(
                    decision,
                    on_threshold=c["on_threshold"],
                    off_threshold=c["off_threshold"],
                    smoothing_windows=c["smoothing_windows"],
                    min_duration_s=c["min_duration_s"],
                )
                o = replay_decision(w, cfg, hop_s, rec.duration_s)
                o.score = score_events(rec.seizures, o.events, rec.duration_s)
                own_settings[rec.name][det] = o
        plot_recording(rec, results[rec.name], decision, fig_dir / f"recording_{rec.name}.png")
    return results, own_settings


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("realtime.offline", "realtime.model", "realtime.recordings", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = parse_args(argv)
    t0 = time.time()
    command = "train-detector evaluate " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )

    from realtime.model import load_detector

    out_dir, art = Path(args.out), Path(args.artifacts)
    fig_dir = out_dir / "figures"
    for d in (out_dir, fig_dir, art):
        d.mkdir(parents=True, exist_ok=True)

    net = load_detector(args.model, backend=args.backend, precision=args.precision)
    card = net.card
    log.info("model %s (%s) from %s", net.model_version, net.architecture, args.model)
    folds = cv_fold_detectors(args, net)
    config = evaluated_config(args.config, net)
    decision, hop_s = config.decision, config.window.hop_s
    records, split, split_note = _records_and_split(args, card)
    by_id = {r.recording_id: r for r in records}
    test_records = [by_id[i] for i in sorted(split["test"]) if i in by_id]
    hp = card.get("hyperparameters") or {}
    sig = hp.get("signal") or {}
    window_samples = int(card["window_samples"])
    eval_hop = int(sig.get("eval_hop_samples") or window_samples // 4)
    train_hop = int(sig.get("train_hop_samples") or window_samples // 2)

    # ---------------------------------------------------------------- baseline
    base_det, baseline_info = None, {}
    if not args.no_baseline:
        base_det, baseline_info = baseline_detector(args, records, split, split_note, window_samples, train_hop, art)
    detectors = {"network": net, **({"baseline": base_det} if base_det is not None else {})}  # through the pipeline

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
        tune_recs += build_stitched(
            records, split["train"], art / "tuning", "train_", "tuning", which=("scalp_background",)
        )
        # + the background of the model's training/validation persons, under a false-alarm budget
        bg_scores, bg_note = tuning_background(args, card, config, detectors)
        log.info("tuning background: %s", bg_note)
        for det_name, det in detectors.items():
            cfg = detector_config(config, det)
            runs = [(rec, pipeline_window_scores(rec.path, cfg, det, rec.duration_s)) for rec in tune_recs]
            tuning[det_name] = tune_decision(runs, decision, hop_s, background=bg_scores.get(det_name, ()))
            tuning[det_name]["background"]["note"] = bg_note
            log.info("tuning %s: %s", det_name, tuning[det_name]["chosen"])
        if scorer is not None:
            runs = [(rec, peer_window_scores(rec, scorer, decision, hop_s, art / "peer_cache")) for rec in tune_recs]
            tuning["peer"] = tune_decision(runs, decision, hop_s)
            tuning["peer"]["background"]["note"] = (
                "not scored on the background for the search (it never saw the corpus): no budget"
            )
            log.info("tuning peer: %s", tuning["peer"]["chosen"])
        (art / "decision_tuning.json").write_text(json.dumps(tuning, indent=1, default=float))
        if args.write_card:
            from evaluation.model_settings import decision_settings, derived_by, write_card_settings

            written = write_card_settings(
                args.model, "decision", decision_settings(tuning["network"]["chosen"], derived_by(command))
            )
            log.info("wrote the network's tuned settings %s into %s", written, Path(args.model) / "model_card.json")
        if args.tune_only:
            print(json.dumps({det: t["chosen"] for det, t in tuning.items()}, indent=1))
            return 0

    # ---------------------------------------------------------------- test split metrics
    # (after the tuning: --tune-only never touches the test split)
    log.info("test split: %d segments", len(test_records))
    from train.scoring import finite_lists, window_probabilities  # windows cut as in training's test scoring

    seg = {"network": window_probabilities(net.predict, test_records, window_samples, eval_hop)}
    if base_det is not None:
        seg["baseline"] = window_probabilities(base_det.predict, test_records, window_samples, eval_hop)
    split_metrics, curves = split_metrics_and_curves(test_records, seg)
    plot_roc(curves, fig_dir / "roc_test_split.png")
    (art / "test_window_probabilities.json").write_text(json.dumps({det: finite_lists(p) for det, p in seg.items()}))

    # ---------------------------------------------------------------- continuous recordings (test)
    recs = chbmit_recordings(art / "recordings")
    recs += build_stitched(records, split["test"], art / "recordings", "test_", "test")
    recs += user_recordings(args.edf, args.annotations)
    results, own_settings = score_test_recordings(recs, config, detectors, scorer, tuning, art, fig_dir)
    raw = {
        rec.name: {
            det: {
                "times": w.times.round(3).tolist(),
                "smoothed": np.round(w.smoothed, 4).tolist(),
                "events": [dataclasses.asdict(e) for e in w.events],
            }
            for det, w in results[rec.name].items()
        }
        for rec in recs
    }
    (art / "recording_scores.json").write_text(json.dumps(raw, allow_nan=True))
    background = background_false_alarms(
        args, {**detectors, "network": folds} if folds is not None else detectors, scorer, art
    )

    report = render_report(
        command=command,
        args=args,
        card=card,
        net=net,
        config=config,
        split=split,
        split_note=split_note,
        test_records=test_records,
        split_metrics=split_metrics,
        recs=recs,
        results=results,
        own_settings=own_settings,
        tuning=tuning,
        baseline_info=baseline_info,
        peer_note=peer_note,
        eval_hop=eval_hop,
        wall_s=time.time() - t0,
        background=background,
    )
    (out_dir / args.report_name).write_text(report, encoding="utf-8")
    log.info("wrote %s (%.0f s)", out_dir / args.report_name, time.time() - t0)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
