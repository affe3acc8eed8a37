"""Re-export a model export with the current export code, from the export alone (no run directory).

``python -m experiments.reexport [EXPORT_DIR] [--replace | --out NEW_DIR]`` (default EXPORT_DIR:
realtime/models/default):

1. reads the export's card (``realtime.model.read_card``: sha256 of every file) and rebuilds the Keras
   inference model from the card's ``hyperparameters`` (``train.hparams.from_dict``, ``train.models.build``);
2. copies every weight from the variables the old SavedModel's ``serving_default`` signature captures,
   matched by name (``block_local_max/m0_k9/kernel:0`` <-> the Keras variable path) and checked for
   shape and dtype; any weight missing, left over, mismatched or stored twice with different values
   is refused (nothing is written);
3. exports with ``train.export.export_model`` (SavedModel + LiteRT + card) into a temporary folder
   beside EXPORT_DIR and checks it with ``train.export.verify_export`` against the rebuilt model;
4. compares p(seizure) of the old and the new export, TensorFlow with TensorFlow and LiteRT with
   LiteRT, on every channel's 1 s-hop windows of the CHB-MIT excerpts (realtime/data/chbmit/*.edf,
   resampled as the daemon does) and on random windows; refuses when any differs by more than
   ``--tolerance`` (1e-5);
5. the new card keeps ``model_version``, ``training`` (one line added to its ``notes``) and
   ``metrics``, and every top-level key of the old card the export code does not write (``settings``);
   ``hyperparameters`` is the current, complete set (keys added since default to the behaviour the
   old code had);
6. with ``--replace``, swaps the new export in for EXPORT_DIR (two renames; the old one is deleted
   after the new one loads); with ``--out``, leaves it there; otherwise deletes it (a dry run).

Prints a JSON report: old and new sizes, max differences, windows compared.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from train.weights import WeightsError, copy_weights, saved_weights

REPO = Path(__file__).resolve().parents[1]
CHBMIT = sorted((REPO / "realtime" / "data" / "chbmit").glob("*.edf"))


class ReexportError(WeightsError):
    """The export cannot be rebuilt faithfully; nothing was replaced."""


def chbmit_windows(paths, window_samples: int, sample_rate_hz: float, hop_s: float = 1.0) -> np.ndarray:
    """``[n, window_samples]`` µV: every channel's window ending at each hop of each recording, resampled
    to the model rate by the daemon's :class:`realtime.preprocess.Resampler`."""
    from realtime.preprocess import Resampler
    from realtime.recordings import read_recording

    out = []
    for p in paths:
        rec = read_recording(p)
        rs = Resampler(rec.sfreq, sample_rate_hz)
        n, hop = rs.native_samples_needed(window_samples), max(1, int(round(hop_s * rec.sfreq)))
        for end in range(n, rec.data.shape[1] + 1, hop):
            out.append(rs.to_model_rate(rec.data[:, end - n : end], window_samples))
    return np.concatenate(out).astype(np.float32)


def random_windows(n: int, window_samples: int, seed: int = 0) -> np.ndarray:
    """``[n, window_samples]`` µV: white noise at 5-500 µV standard deviation, half of it with a 3 Hz
    rhythm (spike-wave-like amplitude) on top, and one flat window."""
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.uniform(np.log(5.0), np.log(500.0), (n, 1)))
    x = rng.normal(0.0, 1.0, (n, window_samples)) * scale
    t = np.arange(window_samples) / 250.0
    x[: n // 2] += 4 * scale[: n // 2] * np.sin(2 * np.pi * 3 * t + rng.uniform(0, 2 * np.pi, (n // 2, 1)))
    x[-1] = 0.0
    return x.astype(np.float32)


def export_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def compare(old_dir: Path, new_dir: Path, windows: dict[str, np.ndarray]) -> dict:
    """``{backend: {window set: max |p_old - p_new|}}`` for the backends both exports have."""
    from realtime.model import load_detector

    out = {}
    backends = ["tensorflow"] + (
        ["litert"] if (old_dir / "model.tflite").is_file() and (new_dir / "model.tflite").is_file() else []
    )
    for backend in backends:
        old, new = (
            load_detector(old_dir, backend=backend, device="cpu"),
            load_detector(new_dir, backend=backend, device="cpu"),
        )
        out[backend] = {name: float(np.max(np.abs(old.predict(x) - new.predict(x)))) for name, x in windows.items()}
    return out


def bfloat16_against_float32(export: Path, windows: dict[str, np.ndarray]) -> dict[str, float]:
    """``{window set: max |p_bfloat16 - p_float32|}`` of one export, both on TensorFlow."""
    from realtime.model import load_detector

    f32 = load_detector(export, backend="tensorflow", device="cpu")
    bf16 = load_detector(export, backend="tensorflow", device="cpu", precision="bfloat16")
    return {name: float(np.max(np.abs(bf16.predict(x) - f32.predict(x)))) for name, x in windows.items()}


def reexport(
    src: Path, dest: Path, *, command: str, tolerance: float = 1e-5, n_random: int = 256, bfloat16: bool = False
) -> dict:
    """Rebuild ``src`` into the new folder ``dest`` (which must not exist) and compare; returns the report. The new
    export has a bfloat16 SavedModel (``train.export.BFLOAT16_DIR``) when ``bfloat16`` or when ``src`` has one.

    Raises :class:`train.weights.WeightsError` when the weights do not match, :class:`ReexportError` (its subclass;
    ``dest`` removed) when the card disagrees with itself or a probability differs by more than ``tolerance``.
    """
    from evaluation.model_settings import write_card_settings
    from realtime.model import read_card
    from train.export import BFLOAT16_ATOL, BFLOAT16_DIR, export_model, verify_export
    from train.hparams import from_dict
    from train.models import build

    card = read_card(src)
    hp = from_dict(card["hyperparameters"])
    if hp.fit.architecture != card["architecture"]:
        raise ReexportError(
            f"card architecture {card['architecture']!r} differs from hyperparameters' "
            f"fit.architecture {hp.fit.architecture!r}"
        )
    if (hp.signal.window_samples, float(hp.signal.sample_rate_hz)) != (
        card["window_samples"],
        float(card["sample_rate_hz"]),
    ):
        raise ReexportError(
            f"card window {card['window_samples']} samples at {card['sample_rate_hz']} Hz differs "
            f"from the hyper-parameters' {hp.signal.window_samples} at {hp.signal.sample_rate_hz}"
        )
    _, infer = build(hp)
    n_vars = copy_weights(infer, saved_weights(src / "saved_model"))  # WeightsError (a ReexportError's base)
    today = _dt.datetime.now(_dt.UTC)
    training = json.loads(json.dumps(card["training"]))
    training.setdefault("notes", []).append(
        f"Re-exported {today:%Y-%m-%d} with the export code of that day ({command}) from the export created "
        f"{card['created']}: same weights, p(seizure) within {tolerance:g} of the old export on the CHB-MIT "
        f"excerpts and random windows."
    )
    try:
        export_model(
            infer,
            hp,
            dest,
            training=training,
            metrics=card["metrics"],
            model_version=card["model_version"],
            tflite=(src / "model.tflite").is_file(),
            bfloat16=bfloat16 or (src / BFLOAT16_DIR).is_dir(),
        )
        keras_errors = verify_export(infer, dest)
        new_card = json.loads((dest / "model_card.json").read_text())
        extra = {k: v for k, v in card.items() if k not in new_card and k != "settings"}
        if extra:  # keys the current export code does not write: kept as they were
            new_card.update(extra)
            (dest / "model_card.json").write_text(json.dumps(new_card, indent=2))
        for section, values in (card.get("settings") or {}).items():
            write_card_settings(dest, section, values)
        windows = {
            "chbmit": chbmit_windows(CHBMIT, card["window_samples"], card["sample_rate_hz"]),
            "random": random_windows(n_random, card["window_samples"]),
        }
        diffs = compare(src, dest, windows)
        worst = max(v for d in diffs.values() for v in d.values())
        if not worst <= tolerance:
            raise ReexportError(
                f"the new export's probabilities differ from the old one's by up to {worst!r} "
                f"(> {tolerance!r}): {diffs}"
            )
        bf16 = bfloat16_against_float32(dest, windows) if (dest / BFLOAT16_DIR).is_dir() else {}
        if bf16 and not max(bf16.values()) <= BFLOAT16_ATOL:
            raise ReexportError(
                f"the new export's bfloat16 probabilities differ from its float32 ones by more than "
                f"{BFLOAT16_ATOL}: {bf16}"
            )
        final = read_card(dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    added = sorted(
        f"{s}.{k}"
        for s, vals in final["hyperparameters"].items()
        for k in vals
        if k not in card["hyperparameters"].get(s, {})
    )
    return {
        "model_version": final["model_version"],
        "variables_copied": n_vars,
        "old_bytes": export_bytes(src),
        "new_bytes": export_bytes(dest),
        "old_files": {k: (src / k).stat().st_size for k in card["files"]},
        "new_files": {k: (dest / k).stat().st_size for k in final["files"]},
        "windows": {k: int(len(v)) for k, v in windows.items()},
        "max_abs_diff": diffs,
        "keras_vs_new_export": keras_errors,
        "bfloat16_vs_float32": bf16,
        "hyperparameters_added": added,
        "card_keys_kept": sorted(extra) + (["settings"] if card.get("settings") else []),
    }


def replace_export(src: Path, new: Path) -> None:
    """Put ``new`` in place of ``src`` (two renames on one file system); the old one is deleted once the
    new one loads, and put back if it does not."""
    from realtime.model import read_card

    old = Path(tempfile.mkdtemp(dir=src.parent, prefix=f".{src.name}-old-"))
    old.rmdir()
    src.rename(old)
    try:
        new.rename(src)
        read_card(src)
    except BaseException:
        if src.exists():
            shutil.rmtree(src, ignore_errors=True)
        old.rename(src)
        raise
    shutil.rmtree(old)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m experiments.reexport", description=__doc__.splitlines()[0])
    ap.add_argument("export", nargs="?", default=str(REPO / "realtime" / "models" / "default"))
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--replace", action="store_true", help="replace EXPORT with the new export")
    where.add_argument("--out", default=None, help="write the new export here (must not exist)")
    ap.add_argument("--tolerance", type=float, default=1e-5, help="max |p_old - p_new| accepted")
    ap.add_argument("--random-windows", type=int, default=256)
    ap.add_argument(
        "--bfloat16",
        action="store_true",
        help="add saved_model_bfloat16/ (train-detector export --bfloat16); kept anyway where EXPORT has one",
    )
    args = ap.parse_args(argv)
    src = Path(args.export).resolve()
    if args.out and Path(args.out).exists():
        ap.error(f"--out {args.out!r} exists; give a new folder")
    dest = Path(args.out) if args.out else Path(tempfile.mkdtemp(dir=src.parent, prefix=f".{src.name}-new-")) / "x"
    command = "python -m experiments.reexport " + " ".join(shlex.quote(a) for a in argv)
    try:
        report = reexport(
            src, dest, command=command, tolerance=args.tolerance, n_random=args.random_windows, bfloat16=args.bfloat16
        )
    except WeightsError as exc:  # ReexportError, or the weights that do not match
        print(f"python -m experiments.reexport: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.out and dest.parent.exists() and not dest.exists():
            dest.parent.rmdir()
    if args.replace:
        replace_export(src, dest)
        dest.parent.rmdir()
        report["replaced"] = str(src)
    elif not args.out:
        shutil.rmtree(dest.parent)
        report["dry_run"] = True
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
