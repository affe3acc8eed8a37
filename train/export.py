"""Export: inference model -> SavedModel (endpoint ``serve``) + LiteRT flatbuffer + model_card.json, and on request
a second SavedModel computing in bfloat16 (``saved_model_bfloat16/``, for CPUs that multiply bfloat16 in hardware).

Contract: docs/architecture.md. ``verify_export`` reloads both files and checks they compute what
the Keras model computes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from realtime.model import BFLOAT16_DIR  # the export's bfloat16 SavedModel, which model.precision loads
from realtime.preprocess import SHORT_FLAT_TO_HZ
from train.models import CLASSES


def sha256_files(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(Path(root).rglob("*")):
        if p.is_file() and p.name != "model_card.json":
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


BFLOAT16_ATOL = 0.02  # verify_export: its p(seizure) against the float32 Keras model (measured up to 0.007)


def bfloat16_twin(infer_model, hp):
    """``infer_model`` rebuilt under Keras' ``mixed_bfloat16`` policy with its weights: the filter bank, the blocks and
    the dense layers compute in bfloat16 from float32 weights, the softmax head in float32 (as in mixed-precision
    training). The same function to bfloat16 rounding (p(seizure) within about 0.01)."""
    import keras

    from train.models import build

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        _, twin = build(hp)
    finally:
        keras.config.set_dtype_policy(before)
    twin.set_weights(infer_model.get_weights())
    return twin


def save_serving(infer_model, path: Path | str, window_samples: int) -> None:
    """SavedModel with the endpoint ``serve`` (and signature ``serving_default``): ``eeg_uv``
    ``[batch, window_samples]`` float32 µV -> ``[batch, 2]``, the contract ``keras.Model.export`` gives,
    but with every variable stored once. ``Model.export`` writes each weight twice, under the Keras
    wrappers and the raw ``tf.Variable``s its endpoint captures (keras-team/keras#23553): twice the
    size on disk and twice the variable memory in the daemon. Here only the raw variables are tracked.
    """
    import tensorflow as tf

    module = tf.Module()
    module.tf_variables = [v.value for v in infer_model.variables]  # the tf.Variables the endpoint captures
    spec = tf.TensorSpec([None, window_samples], tf.float32, name="eeg_uv")
    module.serve = tf.function(lambda eeg_uv: infer_model(eeg_uv, training=False), input_signature=[spec])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def training_filter_settings(reason: str) -> dict:
    """A card's ``settings`` for a model that reads above the band the daemon's short resampling filter keeps flat
    (:data:`realtime.preprocess.SHORT_FLAT_TO_HZ`): ``signal.resample_filter = "training"``, the filter its training
    records were resampled with, ``reason`` its note (``"resample_filter: REASON"``, as
    :mod:`evaluation.model_settings` keeps a key's note when the section is rewritten)."""
    return {"signal": {"resample_filter": "training", "derived_by": f"resample_filter: {reason}"}}


def export_model(
    infer_model,
    hp,
    out_dir: Path | str,
    *,
    training: dict | None = None,
    metrics: dict | None = None,
    model_version: str | None = None,
    tflite: bool = True,
    bfloat16: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write ``out_dir/{saved_model/, model.tflite, model_card.json}`` (and ``saved_model_bfloat16/`` with
    ``bfloat16``: :func:`bfloat16_twin`); returns ``out_dir``.

    Atomic: everything is written into a temporary sibling directory and moved into place only when
    all of it (the LiteRT conversion and the card included) succeeded. On any failure the temporary
    directory is removed and ``out_dir`` is left as it was (absent, or the previous export).
    """
    import tempfile

    import tensorflow as tf

    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not overwrite:
        raise FileExistsError(f"export directory {str(out_dir)!r} is not empty (use overwrite)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        n = hp.signal.window_samples
        save_serving(infer_model, tmp / "saved_model", n)
        if tflite:
            conv = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "saved_model"))
            (tmp / "model.tflite").write_bytes(conv.convert())
        if bfloat16:
            save_serving(bfloat16_twin(infer_model, hp), tmp / BFLOAT16_DIR, n)
        now = _dt.datetime.now(_dt.UTC)
        card = {
            "format_version": 1,
            "model_version": model_version or f"{hp.fit.architecture}-{now:%Y.%m.%d}",
            "architecture": hp.fit.architecture,
            "sample_rate_hz": float(hp.signal.sample_rate_hz),
            "window_samples": int(n),
            "input_unit": "uV",
            "input_scaling": {
                "method": hp.scaling.method,
                "scale_uv": hp.scaling.scale_uv,
                "mean_removed": True,
                "inside_model": True,
            },
            "classes": list(CLASSES),
            "positive_class": "seizure",
            "hyperparameters": hp.to_dict(),
            "training": training or {},
            "metrics": metrics or {},
            "files": sha256_files(tmp),
            "created": now.isoformat(timespec="seconds"),
        }
        if "edf" in hp.data.sources or hp.data.background:
            # what the multichannel recordings were re-referenced to (data.montage): the daemon's default
            # signal.montage for this model (realtime.model.card_settings). Bonn and New Delhi are single
            # channels: a model trained on them alone has no montage to pass on.
            card["montage"] = hp.data.montage
        if (top_hz := max(hp.filterbank.band_edges_hz)) > SHORT_FLAT_TO_HZ:
            # the daemon's default resampling filter is flat to 40 Hz only: a filter bank that reads above it
            # needs the filter its training records were resampled with
            card["settings"] = training_filter_settings(
                f"train.export: the filter bank reaches {top_hz:g} Hz, above {SHORT_FLAT_TO_HZ:g}"
            )
        (tmp / "model_card.json").write_text(json.dumps(card, indent=2))
        tmp.chmod(0o755)  # mkdtemp makes it 0700
        old = None
        if out_dir.exists() or out_dir.is_symlink():
            old = out_dir.with_name(f".{out_dir.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
            out_dir.rename(old)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    return out_dir


def verify_export(infer_model, out_dir: Path | str, x: np.ndarray | None = None, atol: float = 1e-4) -> dict:
    """Reload SavedModel and LiteRT, compare with the Keras model on ``x`` ([n, window] µV); returns max errors. The
    bfloat16 SavedModel, where there is one, is held to :data:`BFLOAT16_ATOL` instead of ``atol``."""
    import tensorflow as tf

    out_dir = Path(out_dir)
    card = json.loads((out_dir / "model_card.json").read_text())
    if x is None:
        rng = np.random.default_rng(0)
        n = card["window_samples"]
        t = np.arange(n) / card["sample_rate_hz"]
        x = np.concatenate(
            [
                rng.normal(0, 30, (4, n)),
                200 * np.sin(2 * np.pi * 3 * t)[None] + rng.normal(0, 20, (1, n)),
                np.zeros((1, n)),
            ]
        ).astype(np.float32)
    ref = np.asarray(infer_model(x, training=False))
    sm = tf.saved_model.load(str(out_dir / "saved_model"))
    got_sm = np.asarray(sm.serve(tf.constant(x)))
    errs = {"saved_model": float(np.max(np.abs(got_sm - ref)))}
    if (out_dir / "model.tflite").exists():
        got_lite = run_tflite(out_dir / "model.tflite", x)
        errs["tflite"] = float(np.max(np.abs(got_lite - ref)))
    if (out_dir / BFLOAT16_DIR).exists():
        sm_bf = tf.saved_model.load(str(out_dir / BFLOAT16_DIR))  # kept alive while its function runs
        got_bf = np.asarray(sm_bf.serve(tf.constant(x)))
        errs[BFLOAT16_DIR] = float(np.max(np.abs(got_bf - ref)))
    for k, v in errs.items():
        limit = BFLOAT16_ATOL if k == BFLOAT16_DIR else atol
        if not v <= limit:
            raise AssertionError(f"export {k} differs from the Keras model by {v!r} (> {limit!r})")
    return errs


def run_tflite(path: Path | str, x: np.ndarray) -> np.ndarray:
    """Run a LiteRT flatbuffer's single signature on ``x`` ``[n, window]`` float32 -> ``[n, 2]``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - fall back to TensorFlow's interpreter
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    interp = Interpreter(model_path=str(path))
    runner = interp.get_signature_runner()
    (in_name,) = runner.get_input_details().keys()
    outs = []
    for i in range(len(x)):  # batch 1 rows: the signature's batch dimension is dynamic
        res = runner(**{in_name: x[i : i + 1].astype(np.float32)})
        outs.append(np.asarray(next(iter(res.values()))))
    return np.concatenate(outs)
