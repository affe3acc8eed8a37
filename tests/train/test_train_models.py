"""Both architectures: build, training steps on synthetic data, aux heads, export/reload equivalence."""

import json

import numpy as np
import pytest

from train.export import export_model, run_tflite, verify_export
from train.fit import compile_model
from train.models import build


@pytest.fixture(scope="module", params=["inception", "lstm"])
def trained(request, tiny_hp, synth_windows):
    hp = tiny_hp.replace(**{"fit.architecture": request.param})
    train_model, infer_model = build(hp)
    names = compile_model(train_model, hp)
    x, y = synth_windows
    train_model.fit(x, {n: np.eye(2)[y] for n in names}, batch_size=16, epochs=1, verbose=0)  # one-hot, 2 steps
    return hp, train_model, infer_model, names


def test_inference_model_contract_and_no_aux_heads(trained, synth_windows):
    hp, train_model, infer_model, names = trained
    assert "probabilities" in names and any(n.startswith("aux_") for n in names)
    if hp.fit.architecture == "inception":
        assert sum(n.startswith("aux_") for n in names) == 4  # one per block
    assert not any(l.name.startswith("aux_") for l in infer_model.layers)
    assert infer_model.input_shape == (None, 1024)
    p = np.asarray(infer_model(synth_windows[0][:5]))
    assert p.shape == (5, 2) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    # shared weights: the inference model's weights are a subset of the training model's
    train_ids = {id(w) for w in train_model.weights}
    assert all(id(w) in train_ids for w in infer_model.weights)
    flat = np.zeros((2, 1024), np.float32)
    assert np.all(np.isfinite(np.asarray(infer_model(flat))))


def test_export_reloads_and_matches_keras(trained, tmp_path, synth_windows):
    hp, _, infer_model, _ = trained
    out = export_model(infer_model, hp, tmp_path / "export", training={"note": "test"}, metrics={})
    card = json.loads((out / "model_card.json").read_text())
    for field in ("format_version", "model_version", "architecture", "sample_rate_hz", "window_samples", "input_unit",
                  "input_scaling", "classes", "positive_class", "hyperparameters", "training", "metrics", "files",
                  "created"):
        assert field in card
    assert card["architecture"] == hp.fit.architecture
    assert "model.tflite" in card["files"] and any(k.startswith("saved_model/") for k in card["files"])
    errs = verify_export(infer_model, out, synth_windows[0][:6], atol=1e-4)
    assert errs["saved_model"] <= 1e-4 and errs["tflite"] <= 1e-4
    # the realtime loader accepts it (sha256 and card checked there)
    from realtime.model import load_detector
    det = load_detector(str(out), backend="tensorflow")
    p = det.predict(synth_windows[0][:3])
    np.testing.assert_allclose(p, np.asarray(infer_model(synth_windows[0][:3]))[:, 1], atol=1e-4)
    lite = run_tflite(out / "model.tflite", synth_windows[0][:2])
    assert lite.shape == (2, 2)
    # every weight is stored once (keras.Model.export stores each twice: keras-team/keras#23553)
    import tensorflow as tf
    ckpt = tf.train.load_checkpoint(str(out / "saved_model" / "variables" / "variables"))
    shapes = ckpt.get_variable_to_shape_map()
    stored = sum(int(np.prod(s)) for k, s in shapes.items() if "OBJECT_GRAPH" not in k)
    assert stored == sum(int(np.prod(v.shape)) for v in infer_model.variables)
    assert "serving_default" in tf.saved_model.load(str(out / "saved_model")).signatures
