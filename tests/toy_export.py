"""A small, hand-set model exported in the project's export format, for tests of `realtime/`.

It is not trained: its seizure probability is a logistic function of the window's log standard
deviation (an amplitude detector), so that tests get a real SavedModel/LiteRT export that alarms on
high-amplitude EEG and stays quiet on low-amplitude EEG, in seconds and without the shipped model.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path

SAMPLE_RATE_HZ = 250.0
WINDOW_SAMPLES = 1024


def sha256_files(root: Path, skip: tuple[str, ...] = ("model_card.json",)) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in skip:
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def make_toy_export(out_dir: Path, *, threshold_uv: float = 60.0, gain: float = 6.0, with_tflite: bool = True) -> Path:
    """Write ``out_dir/{saved_model/, model.tflite, model_card.json}``; returns ``out_dir``.

    p(seizure) = sigmoid(gain * (log(std_uV + 1) - log(threshold_uV))).
    """
    import keras
    import tensorflow as tf
    from keras import layers, ops

    inputs = keras.Input(shape=(WINDOW_SAMPLES,), name="eeg", dtype="float32")
    std = layers.Lambda(lambda x: ops.std(x, axis=-1, keepdims=True), name="std")(inputs)
    logit = layers.Lambda(
        lambda s: gain * (ops.log(s + 1.0) - float(__import__("math").log(threshold_uv))), name="logit"
    )(std)
    probs = layers.Lambda(
        lambda z: ops.concatenate([1.0 - ops.sigmoid(z), ops.sigmoid(z)], axis=-1), name="probabilities"
    )(logit)
    model = keras.Model(inputs, probs, name="toy_amplitude")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.export(str(out_dir / "saved_model"), format="tf_saved_model", verbose=False)
    if with_tflite:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(out_dir / "saved_model"))
        (out_dir / "model.tflite").write_bytes(converter.convert())
    card = {
        "format_version": 1,
        "model_version": "toy-amplitude-1",
        "architecture": "toy",
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "window_samples": WINDOW_SAMPLES,
        "input_unit": "uV",
        "input_scaling": {"method": "none"},
        "classes": ["non_seizure", "seizure"],
        "positive_class": "seizure",
        "hyperparameters": {"threshold_uv": threshold_uv, "gain": gain},
        "training": {"data": [], "note": "hand-set amplitude model for tests; not trained"},
        "metrics": {},
        "files": sha256_files(out_dir),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    (out_dir / "model_card.json").write_text(json.dumps(card, indent=2))
    return out_dir
