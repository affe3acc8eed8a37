"""``train-detector``: fit, export, evaluate.

train-detector fit --config config/train/default.toml [--out runs/NAME] [--data-root ../shared/data]
                   [--epochs N] [--architecture lstm] [--set section.name=value ...] [--background-cache DIR]
                   [--shard-cache DIR]
train-detector ensemble RUN_DIR RUN_DIR [...] --out DIR [--data-root ../shared/data]
train-detector export RUN_DIR OUT_DIR [--overwrite] [--model-version V] [--bfloat16]
train-detector evaluate ...      (evaluation.evaluate.main(argv))
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _version() -> str:
    """The installed distribution's version (the one pyproject.toml gives ``realtime.__version__`` too)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("realtime-seizure-detector")
    except PackageNotFoundError:  # a checkout that was never installed
        return "0+unknown"


def _hparams(args):
    """``--config`` plus ``--set`` / ``--epochs`` / ``--architecture`` overrides -> validated HParams."""
    from train.hparams import load, parse_override

    overrides = dict(parse_override(s) for s in args.set)
    if args.epochs is not None:
        overrides["fit.epochs"] = args.epochs
    if getattr(args, "architecture", None):
        overrides["fit.architecture"] = args.architecture
    return load(args.config, overrides)


def _fit(args) -> int:
    from train.fit import run_fit

    hp = _hparams(args)
    # a string, not a Path: --out may be a URL (gs://bucket/run), which pathlib would turn into gs:/bucket/run
    out = args.out or f"runs/{hp.fit.architecture}-{_dt.datetime.now(_dt.UTC):%Y%m%d-%H%M%S}"
    command = "train-detector " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = run_fit(
        hp,
        out,
        data_root=args.data_root,
        command=command,
        verbose=args.verbose,
        background_cache=args.background_cache,
        shard_cache=args.shard_cache,
    )
    print(json.dumps({"run_dir": out, "wall_time_s": summary["wall_time_s"]}))
    return 0


DATA_INFO = {
    "bonn": {
        "name": "Bonn epilepsy EEG (sets Z, O, N, F non-seizure; S seizure)",
        "citation": "Andrzejak RG et al., Phys. Rev. E 64, 061907 (2001)",
        "licence": "research use only; not redistributed",
    },
    "nscnd": {
        "name": "New Delhi scalp EEG segments (ictal seizure; interictal, preictal non-seizure)",
        "citation": "Swami P et al., Expert Systems with Applications 56:116-130 (2016)",
        "licence": "research use only; not redistributed",
    },
    "edf": {"name": "user EDF/BDF recordings with seizure annotations", "citation": "", "licence": "the user's"},
    "background": {
        "name": "seizure-free background EEG as negatives: eegmmidb (20 healthy adults, 19 channels of 10-20) "
        "and Sleep-EDF (one night, 2 EEG channels), split by person",
        "citation": "Schalk G et al., IEEE Trans Biomed Eng 51(6):1034-1043 (2004); Kemp B et al., IEEE Trans "
        "Biomed Eng 47(9):1185-1194 (2000); Goldberger AL et al., Circulation 101(23):e215-e220 (2000)",
        "licence": "ODC-By 1.0 (PhysioNet)",
    },
}

_BACKGROUND_CACHE_HELP = (
    "folder for the background shards (data.background), written once per corpus and settings and "
    "reused (default: inside the run directory; cv: OUT/background-cache)"
)
_SHARD_CACHE_HELP = (
    "folder where the examples of every recording are written once as one corpus of shards, which each split "
    "selects from by its recording groups and balancing, so that runs and folds of the same recordings and "
    "settings write nothing more (default: each run writes its own splits' shards; cv: OUT/shard-cache)"
)


def _cv(args) -> int:
    from train.crossval import run_cv

    hp = _hparams(args)
    command = "train-detector " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = run_cv(
        hp,
        args.out,
        folds=args.folds,
        data_root=args.data_root,
        command=command,
        verbose=args.verbose,
        background_cache=args.background_cache,
        shard_cache=args.shard_cache,
    )
    print((Path(args.out) / "cv_report.md").read_text())
    print(json.dumps({"out": args.out, "wall_time_s": summary["wall_time_s"]}))
    return 0


def _ensemble(args) -> int:
    from train.ensemble import make_ensemble_run

    command = "train-detector " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = make_ensemble_run(args.run_dirs, args.out, data_root=args.data_root, command=command)
    print(
        json.dumps(
            {
                "run_dir": args.out,
                "members": summary["ensemble"]["members"],
                "window_log_loss": summary["window_log_loss"],
            },
            indent=2,
        )
    )
    return 0


def _export(args) -> int:
    from train.export import export_model, verify_export
    from train.fit import load_run

    run = Path(args.run_dir)
    parent = settings_of(args.settings_from) if args.settings_from else None  # refused before anything is written
    hp, _, infer = load_run(run)
    run_info = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
    split = json.loads((run / "split.json").read_text()) if (run / "split.json").exists() else {}
    metrics = json.loads((run / "test_metrics.json").read_text()) if (run / "test_metrics.json").exists() else {}
    training = {
        **run_info,
        "data": [DATA_INFO[s] for s in run_info.get("data_sources", []) if s in DATA_INFO],
        "split": split,
        "notes": list(args.note),
    }
    out = export_model(
        infer,
        hp,
        args.out_dir,
        training=training,
        metrics=metrics,
        model_version=args.model_version,
        bfloat16=args.bfloat16,
        overwrite=args.overwrite,
    )
    errs = verify_export(infer, out)
    report: dict = {"export": str(out), "max_abs_error": errs}
    if parent is not None:
        report["settings_from"] = copy_settings(parent, out)
    print(json.dumps(report))
    return 0


def settings_of(src: str | Path) -> tuple[str, dict]:
    """``(note, settings)`` of the export ``src``'s card, for :func:`copy_settings`; ValueError when its card does not
    load or has no settings."""
    from realtime.model import ModelLoadError, read_card

    try:
        card = read_card(Path(src))
    except ModelLoadError as exc:
        raise ValueError(f"--settings-from {str(src)!r}: {exc}") from None
    settings = card.get("settings") or {}
    if not settings:
        raise ValueError(f"--settings-from {str(src)!r}: its card has no settings to copy")
    return f"copied from {str(src)!r} ({card['model_version']}) by train-detector export --settings-from", settings


def copy_settings(parent: tuple[str, dict], dest: str | Path) -> dict:
    """Write every section of a parent card's settings (:func:`settings_of`) into ``dest``'s card (checked and written
    by ``evaluation.model_settings``, ``derived_by`` saying where they came from); returns the sections written. A
    fine-tuned network scored with its parent's daemon settings: the network changed, nothing else."""
    from evaluation.model_settings import write_card_settings

    note, settings = parent
    return {
        section: write_card_settings(
            dest, section, {**values, "derived_by": f"{values.get('derived_by', '')}; {note}".lstrip("; ")}
        )
        for section, values in settings.items()
    }


def _evaluate(argv: list[str]) -> int:
    try:
        import evaluation.evaluate as ev
    except ImportError as e:
        print(f"train-detector evaluate: evaluation.evaluate is not available: {e}", file=sys.stderr)
        return 2
    rc = ev.main(argv)
    return int(rc or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "evaluate":
        return _evaluate(argv[1:])
    ap = argparse.ArgumentParser(prog="train-detector", description="Train and export the seizure detector.")
    ap.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="train a model into a run directory")
    f.add_argument("--config", default=None, help="TOML hyper-parameters (default: built-in defaults)")
    f.add_argument(
        "--out",
        default=None,
        help="run directory, local or a tf.io.gfile URL such as gs://bucket/run "
        "(default runs/<architecture>-<UTC time>)",
    )
    f.add_argument("--data-root", default="../shared/data", help="folder holding bonn/ and nscnd/")
    f.add_argument("--epochs", type=int, default=None)
    f.add_argument("--architecture", default=None, help="a registered architecture (train/models/): inception, lstm")
    f.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.NAME=VALUE",
        help="override a hyper-parameter (repeatable)",
    )
    f.add_argument("--verbose", type=int, default=1, help="Keras verbosity (1 = progress bar)")
    f.add_argument("--background-cache", default=None, metavar="DIR", help=_BACKGROUND_CACHE_HELP)
    f.add_argument("--shard-cache", default=None, metavar="DIR", help=_SHARD_CACHE_HELP)
    cv = sub.add_parser(
        "cv",
        help="k-fold cross-validation by recording: one run per fold, out-of-fold metrics "
        "pooled over every segment (resumes finished folds)",
    )
    cv.add_argument("--config", default=None, help="TOML hyper-parameters (default: built-in defaults)")
    cv.add_argument("--out", required=True, help="folder for fold-F run directories and cv_metrics.json")
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--data-root", default="../shared/data", help="folder holding bonn/ and nscnd/")
    cv.add_argument("--epochs", type=int, default=None)
    cv.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.NAME=VALUE",
        help="override a hyper-parameter (repeatable)",
    )
    cv.add_argument("--verbose", type=int, default=2, help="Keras verbosity")
    cv.add_argument("--background-cache", default=None, metavar="DIR", help=_BACKGROUND_CACHE_HELP)
    cv.add_argument("--shard-cache", default=None, metavar="DIR", help=_SHARD_CACHE_HELP)
    en = sub.add_parser(
        "ensemble",
        help="average finished runs of one configuration (different fit.seed, "
        "same split) into an ensemble run directory, scored per member",
    )
    en.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    en.add_argument("--out", required=True, help="the ensemble run directory to write")
    en.add_argument("--data-root", default="../shared/data", help="folder holding bonn/ and nscnd/")
    e = sub.add_parser("export", help="export a run's best model (SavedModel + LiteRT + model card)")
    e.add_argument("run_dir")
    e.add_argument("out_dir")
    e.add_argument("--overwrite", action="store_true")
    e.add_argument("--model-version", default=None)
    e.add_argument("--note", action="append", default=[], help="a note for the card's training.notes (repeatable)")
    e.add_argument(
        "--bfloat16",
        action="store_true",
        help="also write saved_model_bfloat16/: the network computing in bfloat16, for the daemon's model.precision "
        "'bfloat16' on a CPU with AMX or AVX512-BF16 (docs/benchmarks.md 'bfloat16 on a CPU that has it')",
    )
    e.add_argument(
        "--settings-from",
        default=None,
        metavar="EXPORT",
        help="copy EXPORT's model-specific daemon settings (its card's settings) into the new card: a fine-tuned "
        "network (fit.init_from) scored with its parent's settings",
    )
    sub.add_parser("evaluate", help="evaluate an export (evaluation.evaluate)", add_help=False)
    args = ap.parse_args(argv)
    from train.strategy import StrategyError  # imports TensorFlow: not before the arguments are read

    try:
        return {"fit": _fit, "cv": _cv, "ensemble": _ensemble, "export": _export}[args.cmd](args)
    except (ValueError, FileNotFoundError, FileExistsError, StrategyError) as exc:
        print(f"train-detector {args.cmd}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
