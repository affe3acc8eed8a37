"""A deep ensemble: one model whose output is the mean of the softmax outputs of several runs.

Members are runs of one configuration that differ only in ``fit.seed`` (weights, shuffling,
augmentation) and share one split by recording (``data.split_seed``), so no member saw a validation
or test recording. ``train-detector ensemble RUN RUN ... --out DIR`` writes an ensemble run
directory that ``train.fit.load_run`` and ``train-detector export`` read like any other run:

    members.json              member run directories (relative to DIR) and their seeds
    hparams.json, split.json  the shared hyper-parameters (the first member's) and split
    run.json                  the summary the export copies into the model card (``training``)
    validation_metrics.json   the ensemble's validation metrics (train.scoring.score)
    test_metrics.json         the ensemble's test metrics (the card's ``metrics``)
    members_metrics.json      window log loss and metrics per member and for the ensemble, per split

The exported model keeps the contract of every model (docs/architecture.md): ``[batch, window]``
float32 µV -> ``[batch, 2]`` softmax.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from train.hparams import SPEED_KEYS, differences

# hyper-parameters that may differ between members: the seeds, and thread counts (speed, not design)
MEMBER_FREE_KEYS = {("fit", "seed"), ("data", "split_seed")} | SPEED_KEYS
SPLITS = ("train", "validation", "test")


def build_ensemble(members: list, name: str = "ensemble"):
    """``members``: inference models ``[batch, n] -> [batch, 2]``. Returns a model computing their mean.

    The members' layers are shared, not copied (no weights change). Each member is wrapped in a
    functional model of its own name (``member_0`` ...) because Keras needs unique names per model.
    """
    import keras

    if len(members) < 1:
        raise ValueError(f"an ensemble needs at least one member, got {len(members)!r}")
    shapes = {tuple(m.inputs[0].shape[1:]) for m in members}
    if len(shapes) != 1:
        raise ValueError(f"ensemble members must share one input shape, got {sorted(shapes)!r}")
    (shape,) = shapes
    x = keras.Input(shape=shape, name="eeg_uv", dtype="float32")
    outs = [keras.Model(m.inputs[0], m.outputs[0], name=f"member_{i}")(x) for i, m in enumerate(members)]
    y = keras.layers.Average(name="probabilities", dtype="float32")(outs) if len(outs) > 1 else outs[0]
    return keras.Model(x, y, name=name)


def check_members(hparams: list[dict], splits: list[dict], names: list[str]) -> None:
    """Raise ``ValueError`` unless all members share hyper-parameters (but the free keys) and the split."""
    for hp, name in zip(hparams[1:], names[1:], strict=False):
        for key, ref_value, value in differences(hparams[0], hp, MEMBER_FREE_KEYS)[:1]:
            raise ValueError(f"ensemble member {name!r} has {key} = {value!r}, but {names[0]!r} has {ref_value!r}")
    for sp, name in zip(splits[1:], names[1:], strict=False):
        for part in SPLITS:
            if sorted(sp.get(part, [])) != sorted(splits[0].get(part, [])):
                raise ValueError(
                    f"ensemble member {name!r} was trained on another split than {names[0]!r} "
                    f"({part} differs): train members with the same data.split_seed"
                )
    seeds = [hp["fit"]["seed"] for hp in hparams]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"ensemble members must differ in fit.seed, got seeds {seeds!r}")


def load_members(member_dirs: list[Path]):
    """``(hp, [infer_model, ...], [hparams dict, ...], split)`` of the member runs, checked for compatibility."""
    from train.fit import load_run

    hps, splits, models = [], [], []
    for d in member_dirs:
        d = Path(d)
        if (d / "members.json").exists():
            raise ValueError(f"ensemble member {str(d)!r} is itself an ensemble; pass its members instead")
        if not (d / "split.json").exists():
            raise FileNotFoundError(f"{str(d)!r} has no split.json (not a finished run directory)")
        hp, _, infer = load_run(d)
        hps.append(hp)
        splits.append(json.loads((d / "split.json").read_text()))
        models.append(infer)
    check_members([h.to_dict() for h in hps], splits, [str(d) for d in member_dirs])
    return hps[0], models, [h.to_dict() for h in hps], splits[0]


def load_ensemble_run(run_dir: Path):
    """Rebuild an ensemble run directory's model: ``(hp, None, ensemble_model)`` (no training model)."""
    run_dir = Path(run_dir)
    spec = json.loads((run_dir / "members.json").read_text())
    hp, models, _, _ = load_members([run_dir / m["run_dir"] for m in spec["members"]])
    return hp, None, build_ensemble(models)


def window_log_loss(records, probs: dict) -> float:
    """Mean binary cross-entropy over every window of ``records`` scored (p clipped to [1e-7, 1 - 1e-7]; a window
    left out, NaN, does not count)."""
    losses = []
    for r in records:
        p = np.asarray(probs[r.recording_id], np.float64)
        p = np.clip(p[np.isfinite(p)], 1e-7, 1 - 1e-7)
        losses.append(-np.log(p if r.label == 1 else 1 - p))
    return float(np.mean(np.concatenate(losses))) if losses else float("nan")


def make_ensemble_run(
    member_dirs: list, out_dir, *, data_root="../shared/data", records=None, command: str = ""
) -> dict:
    """Write an ensemble run directory (module docstring) from finished member runs; returns its summary."""
    from train.datasets.records import run_records
    from train.scoring import finite_lists, keras_predict, score, window_probabilities

    if len(member_dirs) < 2:
        raise ValueError(f"an ensemble needs at least two member runs, got {[str(d) for d in member_dirs]!r}")
    member_dirs = [Path(d) for d in member_dirs]
    out_dir = Path(out_dir)
    hp, models, hp_dicts, split = load_members(member_dirs)
    ensemble = build_ensemble(models)
    if records is None:
        records = run_records(hp, data_root, lazy=True)
    by_id = {r.recording_id: r for r in records}
    missing = [i for part in ("validation", "test") for i in split[part] if i not in by_id]
    if missing:
        raise ValueError(
            f"{len(missing)} validation/test recordings of the split are not in the data, e.g. {missing[:3]!r}"
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    named = {**{str(d): m for d, m in zip(member_dirs, models, strict=False)}, "ensemble": ensemble}
    per_split: dict[str, dict] = {}
    ens_metrics: dict[str, dict] = {}
    ens_probs: dict[str, dict] = {}
    for part in ("validation", "test"):
        recs = [by_id[i] for i in split[part]]
        per_split[part] = {}
        for name, model in named.items():
            probs = window_probabilities(
                keras_predict(model), recs, hp.signal.window_samples, hp.signal.eval_hop_samples
            )
            metrics = score(recs, probs, hp.signal.window_samples, hp.signal.eval_hop_samples)
            per_split[part][name] = {"window_log_loss": window_log_loss(recs, probs), "metrics": metrics}
            if name == "ensemble":
                ens_metrics[part], ens_probs[part] = metrics, probs

    members = [
        {"run_dir": os.path.relpath(d.resolve(), out_dir.resolve()), "seed": h["fit"]["seed"]}
        for d, h in zip(member_dirs, hp_dicts, strict=False)
    ]
    (out_dir / "members.json").write_text(
        json.dumps({"combination": "mean of the members' softmax outputs", "members": members}, indent=2)
    )
    (out_dir / "hparams.json").write_text(json.dumps(hp_dicts[0], indent=2))
    (out_dir / "split.json").write_text(json.dumps(split, indent=2))
    (out_dir / "validation_metrics.json").write_text(json.dumps(ens_metrics["validation"], indent=2))
    (out_dir / "test_metrics.json").write_text(json.dumps(ens_metrics["test"], indent=2))
    (out_dir / "test_probabilities.json").write_text(json.dumps(finite_lists(ens_probs["test"])))
    (out_dir / "members_metrics.json").write_text(json.dumps(per_split, indent=2))
    member_runs = [json.loads((d / "run.json").read_text()) if (d / "run.json").exists() else {} for d in member_dirs]
    summary = {
        "command": command,
        "architecture": hp.fit.architecture,
        "ensemble": {"combination": "mean of the members' softmax outputs", "members": members},
        "data_sources": list(hp.data.sources),
        "data_root": str(data_root),
        "examples": member_runs[0].get("examples", {}),
        "split_counts": {k: len(split[k]) for k in SPLITS},
        "fit_wall_time_s": round(sum(r.get("fit_wall_time_s", 0.0) for r in member_runs), 1),
        "params": int(ensemble.count_params()),
        "seed": [m["seed"] for m in members],
    }
    (out_dir / "run.json").write_text(json.dumps(summary, indent=2))
    return {
        **summary,
        "window_log_loss": {part: {k: v["window_log_loss"] for k, v in per_split[part].items()} for part in per_split},
    }
