"""experiments.reexport: weights copied from an export's SavedModel into the model rebuilt from its card
(refused on any mismatch), and the swap of a new export for the old one (rolled back if the new one does not load).
Real exports: the shipped one, copied into tmp folders."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from experiments.reexport import chbmit_windows, random_windows, replace_export
from realtime.model import ModelLoadError, default_model_path, load_detector, read_card
from train.weights import WeightsError, copy_weights, saved_weights

SHIPPED = default_model_path()


@pytest.fixture(scope="module")
def rebuilt():
    """The Keras inference model rebuilt from the shipped card, and the shipped SavedModel's weights."""
    from train.hparams import from_dict
    from train.models import build

    card = read_card(SHIPPED)
    _, infer = build(from_dict(card["hyperparameters"]))
    return infer, saved_weights(SHIPPED / "saved_model")


def test_copied_weights_reproduce_the_shipped_probabilities(rebuilt):
    infer, weights = rebuilt
    assert copy_weights(infer, weights) == len(weights)
    x = np.concatenate(
        [
            chbmit_windows(
                sorted((SHIPPED.parents[1] / "data" / "chbmit").glob("*Seizure.edf"))[-1:], 1024, 250.0, hop_s=10.0
            ),
            random_windows(8, 1024),
        ]
    )
    assert x.shape[1] == 1024 and np.isfinite(x).all() and (x[-1] == 0).all()
    p_new = np.asarray(infer(x, training=False))[:, 1]
    p_old = load_detector(SHIPPED, device="cpu").predict(x)
    assert np.max(np.abs(p_new - p_old)) <= 1e-5
    assert p_old.max() > 0.5  # the seizure excerpt's late windows: not a trivially constant comparison


def test_any_weight_mismatch_is_refused_naming_it(rebuilt):
    infer, weights = rebuilt
    name = "dense_0/kernel"
    assert name in weights
    missing = {k: v for k, v in weights.items() if k != name}
    with pytest.raises(WeightsError, match=r"'dense_0/kernel' \(\d+, 64\): not in the old export"):
        copy_weights(infer, missing)
    with pytest.raises(
        WeightsError,
        match=r"'dense_0/kernel': the model has \(\d+, 64\) float32, the old export "
        r"\(3, 64\) float32",
    ):
        copy_weights(infer, {**weights, name: np.zeros((3, 64), np.float32)})
    with pytest.raises(WeightsError, match=r"'extra/kernel' \(2,\): in the old export, not in the rebuilt model"):
        copy_weights(infer, {**weights, "extra/kernel": np.zeros(2, np.float32)})


def test_replace_swaps_exports_and_rolls_back_a_broken_one(tmp_path):
    src, new = tmp_path / "default", tmp_path / "new"
    shutil.copytree(SHIPPED, src)
    shutil.copytree(SHIPPED, new)
    card = json.loads((new / "model_card.json").read_text())
    (new / "model_card.json").write_text(json.dumps({**card, "model_version": "swapped"}))
    replace_export(src, new)
    assert read_card(src)["model_version"] == "swapped" and not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default"]  # the old one is gone

    broken = tmp_path / "broken"
    shutil.copytree(SHIPPED, broken)
    (broken / "model.tflite").write_bytes(b"not the listed file")
    with pytest.raises(ModelLoadError, match=r"'model\.tflite' has sha256"):
        replace_export(src, broken)
    assert read_card(src)["model_version"] == "swapped"  # put back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default"]
