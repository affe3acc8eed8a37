"""k-fold cross-validation by recording: every segment scored once, by a model that never saw it.

``train-detector cv --config CONFIG --folds 5 --out runs/cv-NAME`` trains one run per fold
(``OUT/fold-F``: an ordinary run directory with ``data.cv_folds = 5, data.cv_fold = F``; fold F is its
test split, fold F + 1 its validation split, the rest training; see
:func:`train.datasets.records.split_records`) and pools the folds' test-split window probabilities
into one out-of-fold score over all recordings (``OUT/cv_metrics.json``, ``OUT/cv_report.md``).

Why: one test split of 80 Bonn segments moves 1.25 points per segment, and it has been looked at.
Pooled out-of-fold predictions score all 400 Bonn and 120 New Delhi segments; the price is k
trainings. What is estimated is the *configuration* (design + hyper-parameters + data), not one
trained model: each fold is a different network.

A fold whose run finished (its ``test_probabilities.json`` exists) is not retrained, so an
interrupted ``cv`` resumes where it stopped.

With ``data.background`` the background corpus is split into the same folds by person
(:func:`train.datasets.background.split_persons`): fold F's run trains without fold F's persons,
whose out-of-fold false alarms the evaluation counts (``fold-F/split.json`` lists them under
``background``). Its shards are written once into ``OUT/background-cache`` and shared by the folds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from train.hparams import SPEED_KEYS, HParams, differences


def _log(msg: str) -> None:
    import sys

    print(f"[cv] {msg}", file=sys.stderr, flush=True)


def pool_folds(records, fold_probs: list[dict]) -> dict:
    """``[{recording_id: window p [n_windows]}]`` per fold -> one dict; each recording exactly once.

    Raises ``ValueError`` naming the recordings scored twice or never (a split that is not a
    partition is a bug, and pooling it would be a silent wrong answer).
    """
    pooled: dict[str, np.ndarray] = {}
    twice = []
    for probs in fold_probs:
        for rid, p in probs.items():
            if rid in pooled:
                twice.append(rid)
            pooled[rid] = np.asarray(p, dtype=np.float64)
    never = sorted({r.recording_id for r in records} - set(pooled))
    if twice or never:
        raise ValueError(
            f"folds do not partition the recordings: scored twice {sorted(twice)[:5]!r}, "
            f"never {never[:5]!r} ({len(twice)} / {len(never)} in all)"
        )
    return pooled


def with_intervals(metrics: dict) -> dict:
    """Add a 95 % Clopper-Pearson interval to every segment-level accuracy, sensitivity and specificity."""
    from evaluation.metrics import clopper_pearson

    for m in metrics.values():
        if not isinstance(m, dict) or "segment" not in m:
            continue
        seg = m["segment"]
        (tn, fp), (fn, tp) = seg["confusion_matrix"]
        for key, k, n in (
            ("accuracy", tn + tp, tn + fp + fn + tp),
            ("sensitivity", tp, tp + fn),
            ("specificity", tn, tn + fp),
        ):
            seg[f"{key}_ci95"] = list(clopper_pearson(k, n))
    return metrics


def per_fold_accuracy(fold_metrics: list[dict]) -> dict[str, list[float | None]]:
    """``{contrast: [segment accuracy of fold 0, 1, ...]}`` (None where a fold lacks the contrast)."""
    names = [n for n in (fold_metrics[0] if fold_metrics else {}) if isinstance(fold_metrics[0][n], dict)]
    return {
        n: [m[n]["segment"]["accuracy"] if isinstance(m.get(n), dict) else None for m in fold_metrics] for n in names
    }


def report_markdown(metrics: dict, folds: int, command: str, by_fold: dict | None = None) -> str:
    by_fold = by_fold or {}
    rows = [
        "| contrast | segments (pos/neg) | accuracy [95 % CI] | sensitivity [95 % CI] | specificity [95 % CI] "
        "| AUROC | confusion [[TN, FP], [FN, TP]] | accuracy per fold |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def pct(v, ci):
        return f"{100 * v:.1f} % [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"

    for name, m in metrics.items():
        if not isinstance(m, dict) or "segment" not in m:
            continue
        s = m["segment"]
        auc = "-" if s.get("auroc") is None else f"{s['auroc']:.4f}"
        rows.append(
            f"| {name} | {s['n']} ({s['n_positive']}/{s['n_negative']}) | "
            f"{pct(s['accuracy'], s['accuracy_ci95'])} | {pct(s['sensitivity'], s['sensitivity_ci95'])} | "
            f"{pct(s['specificity'], s['specificity_ci95'])} | {auc} | {s['confusion_matrix']} | "
            + " / ".join("-" if a is None else f"{100 * a:.1f}" for a in by_fold.get(name, []))
            + " |"
        )
    return (
        f"# {folds}-fold cross-validation by recording (out-of-fold, segment level)\n\n`{command}`\n\n"
        f"{metrics['segment_decision']}; every segment scored once, by the fold whose model never saw it.\n\n"
        + "\n".join(rows)
        + "\n"
    )


def run_cv(
    hp: HParams,
    out_dir: Path | str,
    *,
    folds: int,
    data_root: Path | str = "../shared/data",
    command: str = "",
    records=None,
    verbose: int = 2,
    background_cache: str | None = None,
    shard_cache: str | None = None,
) -> dict:
    """Train ``folds`` runs into ``out_dir/fold-F`` (skipping finished ones) and pool their test splits.

    ``background_cache``: the folds' shared background shards (None = ``out_dir/background-cache``);
    ``shard_cache``: the folds' shared corpus of every recording's examples, written once, which each fold's
    splits select from (None = ``out_dir/shard-cache``; :func:`train.fit.prepare_data`)."""
    import keras

    from train.datasets.records import run_records
    from train.fit import run_fit
    from train.scoring import score

    if folds < 3:
        raise ValueError(f"cross-validation needs at least 3 folds, got {folds!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if records is None:
        records = run_records(hp, data_root, lazy=True)
    t0 = time.time()
    fold_probs, fold_metrics, fold_wall_s = [], [], []
    for fold in range(folds):
        run_dir = out_dir / f"fold-{fold}"
        done = run_dir / "test_probabilities.json"
        fold_hp = hp.replace(**{"data.cv_folds": folds, "data.cv_fold": fold})
        if not done.exists():
            _log(f"fold {fold + 1}/{folds} -> {run_dir}")
            keras.backend.clear_session()
            run_fit(
                fold_hp,
                run_dir,
                data_root=data_root,
                command=f"{command} (fold {fold})",
                records=records,
                verbose=verbose,
                background_cache=background_cache or str(out_dir / "background-cache"),
                shard_cache=shard_cache or str(out_dir / "shard-cache"),
            )
        else:  # resume: only a fold of this very configuration may be reused
            for key, used, asked in differences(
                json.loads((run_dir / "hparams.json").read_text()), fold_hp.to_dict(), SPEED_KEYS
            )[:1]:
                raise ValueError(
                    f"{str(run_dir)!r} was trained with {key} = {used!r}, but this run asks for "
                    f"{asked!r}: use another --out, or the settings it was run with"
                )
            _log(f"fold {fold + 1}/{folds}: finished before, not retrained ({done})")
        fold_probs.append(json.loads(done.read_text()))
        fold_metrics.append(json.loads((run_dir / "test_metrics.json").read_text()))
        fold_wall_s.append(json.loads((run_dir / "run.json").read_text()).get("wall_time_s", 0.0))
    pooled = pool_folds(records, fold_probs)
    metrics = with_intervals(score(records, pooled, hp.signal.window_samples, hp.signal.eval_hop_samples))
    by_fold = per_fold_accuracy(fold_metrics)
    summary = {
        "command": command,
        "folds": folds,
        "seed": hp.split_seed,
        "recordings": len(records),
        "wall_time_s": round(time.time() - t0, 1),
        "folds_wall_time_s": fold_wall_s,
        "metrics": metrics,
        "segment_accuracy_by_fold": by_fold,
    }
    (out_dir / "cv_metrics.json").write_text(json.dumps(summary, indent=2))
    (out_dir / "cv_report.md").write_text(report_markdown(metrics, folds, command, by_fold))
    return summary
