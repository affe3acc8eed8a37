"""filterbank.float64: the bank really computes in float64, also under mixed precision, from float32
(not float16-rounded) input; and an export that cannot convert it leaves no half-written directory."""

import json

import keras
import numpy as np
import pytest

from train.filterbank import design_filterbank
from train.layers import FilterBank


@pytest.fixture
def restore_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


def _reference(x64: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """float64 'same' cross-correlation: x [samples] -> [samples, n_bands]."""
    half = kernel.shape[0] // 2
    xp = np.pad(x64, half)
    return np.stack([np.correlate(xp, kernel[:, 0, b], mode="valid") for b in range(kernel.shape[2])], axis=-1)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_float64_bank_computes_in_float64(policy, restore_policy):
    keras.mixed_precision.set_global_policy(policy)
    fs, edges, taps = 500.0, [4.0, 12.0, 40.0], 255
    fb64 = FilterBank(edges, taps, fs, float64=True)
    assert fb64.compute_dtype == "float64" and fb64.get_config()["float64"] is True
    # 1e6 µV of offset under a 1 µV sine: accumulating the offset through a band-pass in float32 leaves
    # errors of ~2e-5 of the output; float64 leaves only the final cast to float32 (<= 6e-8 of the output).
    t = np.arange(2048) / fs
    x = (1e6 + np.sin(2 * np.pi * 6.93 * t)).astype(np.float32)
    ref = _reference(x.astype(np.float64), design_filterbank(edges, taps, fs))
    y64 = np.asarray(fb64(x[None, :, None]), np.float64)[0]
    keras.mixed_precision.set_global_policy("float32")
    y32 = np.asarray(FilterBank(edges, taps, fs)(x[None, :, None]), np.float64)[0]
    mid = slice(taps, -taps)
    err64 = np.abs(y64 - ref)[mid].max()
    err32 = np.abs(y32 - ref)[mid].max()
    scale = np.abs(ref[mid]).max()
    assert err64 / scale < 2e-7 < 2e-6 < err32 / scale, (err64, err32, scale)


def test_mixed_precision_feeds_the_float64_bank_unrounded_input(tiny_hp, synth_windows, restore_policy):
    from train.models import build

    x = synth_windows[0][:4]
    hp64 = tiny_hp.replace(**{"filterbank.float64": True})

    def bank_output(hp, policy):
        keras.mixed_precision.set_global_policy(policy)
        _, infer = build(hp)
        sub = keras.Model(infer.input, infer.get_layer("filter_bank").output)
        return infer, np.asarray(sub(x), np.float64)

    _, ref = bank_output(hp64, "float32")
    infer, mixed64 = bank_output(hp64, "mixed_float16")
    assert infer.get_layer("filter_bank").compute_dtype == "float64"
    assert infer.get_layer("input_scaling").compute_dtype == "float32"
    assert infer.get_layer("block_local_max").compute_dtype == "float16"  # the rest stays mixed
    _, mixed32 = bank_output(tiny_hp, "mixed_float16")
    scale = np.abs(ref).max()
    # float64 under mixed precision = float64 under float32: the input was not rounded to float16 first
    assert np.abs(mixed64 - ref).max() / scale < 1e-6
    # whereas the plain mixed bank (float16 input and computation) is visibly different
    assert np.abs(mixed32 - ref).max() / scale > 1e-4


def test_failed_litert_conversion_leaves_no_half_export(tiny_hp, tmp_path):
    """LiteRT has no float64 convolution: the conversion fails after the SavedModel was written."""
    from train.export import export_model
    from train.models import build

    hp = tiny_hp.replace(**{"filterbank.float64": True})
    _, infer = build(hp)
    out = tmp_path / "export"
    with pytest.raises(Exception, match=r"(?i)flatbuffer|float64|f64"):
        export_model(infer, hp, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    # an existing export survives a failed overwrite untouched
    _, ok_model = build(tiny_hp)
    export_model(ok_model, tiny_hp, out, tflite=False)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(Exception, match=r"(?i)flatbuffer|float64|f64"):
        export_model(infer, hp, out, overwrite=True)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and json.loads(after[out.joinpath("model_card.json").relative_to(out)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]
    # and a successful overwrite replaces it whole
    export_model(ok_model, tiny_hp, out, tflite=True, overwrite=True)
    assert (out / "model.tflite").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_the_inference_model_runs_under_mixed_precision_as_under_float32(tiny_hp, synth_windows, restore_policy):
    """Validation and export run the inference path (batch norm folded) in the compute dtype: under
    mixed_float16 the probabilities are the float32 model's with the same weights, to float16 rounding."""
    from train.models import build

    x = synth_windows[0][:8]
    _, ref_model = build(tiny_hp)
    ref = np.asarray(ref_model(x, training=False))
    keras.mixed_precision.set_global_policy("mixed_float16")
    _, mixed = build(tiny_hp)
    mixed.set_weights(ref_model.get_weights())
    got = np.asarray(mixed(x, training=False), np.float32)
    assert got.shape == ref.shape and np.abs(got - ref).max() < 2e-2
