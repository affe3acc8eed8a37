"""The detector networks: ``build_inception(hp)`` and ``build_lstm(hp)``.

Both return ``(training_model, inference_model)`` sharing the same layers (and so the same weights):

- inference model: float32 ``[batch, window_samples]`` µV -> float32 ``[batch, 2]`` softmax
  (``["non_seizure", "seizure"]``); output name ``probabilities``.
- training model: the same input -> ``{"probabilities": [batch, 2], "aux_0": [batch, 2], ...}``,
  one auxiliary softmax head per block, weighted by ``hp.fit.aux_loss_weight`` in the loss.

Inception: scaling -> UpSampling1D(factor) -> filter bank -> four parallel inception blocks
(dilated max-pool, dilated avg-pool, undilated max-pool, undilated avg-pool) -> flatten each ->
concatenate -> dense -> dense -> softmax. UpSampling1D repeats samples (zero-order hold); the
band-pass bank after it, whose highest edge is far below the original Nyquist frequency, is the
interpolation filter: it removes the images that the repetition creates.
"""

from __future__ import annotations

import keras

import train.layers  # noqa: F401  (registers the custom layers)
from train.hparams import HParams
from train.layers import FilterBank, InceptionBlock, InputScaling

CLASSES = ["non_seizure", "seizure"]


def _front_end(hp: HParams, upsample_factor: int):
    """Input -> scaling -> [batch, samples * factor, n_bands]."""
    n = hp.signal.window_samples
    inputs = keras.Input(shape=(n,), name="eeg_uv", dtype="float32")
    x = InputScaling(hp.scaling.method, hp.scaling.scale_uv, name="input_scaling")(inputs)
    x = keras.layers.Reshape((n, 1), name="to_channels")(x)
    if upsample_factor > 1:
        x = keras.layers.UpSampling1D(upsample_factor, name="upsample")(x)
    x = FilterBank(hp.filterbank.band_edges_hz, hp.filterbank.taps, hp.signal.sample_rate_hz * upsample_factor,
                   hp.filterbank.window, hp.filterbank.float64, name="filter_bank")(x)
    return inputs, x


def _head(x, units, dropout, name):
    return keras.layers.Dense(2, activation="softmax", dtype="float32", name=name)(
        keras.layers.Dropout(dropout, name=f"{name}_dropout")(x))


def build_inception(hp: HParams):
    ih = hp.inception
    if ih.upsample_factor < 1:
        raise ValueError(f"inception.upsample_factor must be >= 1, got {ih.upsample_factor!r}")
    inputs, x = _front_end(hp, ih.upsample_factor)
    blocks = [("global_max", ih.dilation_rate, "max"), ("global_avg", ih.dilation_rate, "avg"),
              ("local_max", 1, "max"), ("local_avg", 1, "avg")]
    flats, aux = [], {}
    for i, (name, dil, pool) in enumerate(blocks):
        b = InceptionBlock(ih.filters, ih.kernel_sizes, dil, pool, ih.pool_size, ih.modules_per_block,
                           activation="swish", name=f"block_{name}")(x)
        f = keras.layers.Flatten(name=f"flatten_{name}")(b)
        flats.append(f)
        aux[f"aux_{i}"] = _head(f, 2, ih.dropout, f"aux_{i}")
    x = keras.layers.Concatenate(name="concat_blocks")(flats)
    for j, units in enumerate(ih.dense_units):
        x = keras.layers.Dropout(ih.dropout, name=f"dense_{j}_dropout")(x)
        x = keras.layers.Dense(units, activation="swish", name=f"dense_{j}")(x)
    probs = keras.layers.Dense(2, activation="softmax", dtype="float32", name="probabilities")(x)
    training = keras.Model(inputs, {"probabilities": probs, **aux}, name="inception_train")
    inference = keras.Model(inputs, probs, name="inception")
    return training, inference


def build_lstm(hp: HParams):
    lh = hp.lstm
    if lh.upsample_factor < 1:
        raise ValueError(f"lstm.upsample_factor must be >= 1, got {lh.upsample_factor!r}")
    inputs, x = _front_end(hp, lh.upsample_factor)
    # Block 0: strided convolutional front-end (rectifies and shortens the band signals).
    x = keras.layers.Conv1D(lh.frontend_filters, 2 * lh.frontend_stride, strides=lh.frontend_stride,
                            padding="same", activation="swish", name="frontend_conv")(x)
    x = keras.layers.BatchNormalization(name="frontend_bn")(x)
    aux0 = _head(keras.layers.GlobalAveragePooling1D(name="frontend_pool")(x), 2, lh.dropout, "aux_0")
    # Block 1: the recurrent block.
    # Unrolled: no TensorList ops, so the LiteRT export keeps a dynamic batch dimension.
    x = keras.layers.LSTM(lh.units, unroll=True, name="lstm")(x)
    x = keras.layers.Dropout(lh.dropout, name="dense_0_dropout")(x)
    x = keras.layers.Dense(lh.dense_units, activation="swish", name="dense_0")(x)
    probs = keras.layers.Dense(2, activation="softmax", dtype="float32", name="probabilities")(x)
    training = keras.Model(inputs, {"probabilities": probs, "aux_0": aux0}, name="lstm_train")
    inference = keras.Model(inputs, probs, name="lstm")
    return training, inference


def build(hp: HParams):
    """Dispatch on ``hp.fit.architecture``."""
    if hp.fit.architecture == "inception":
        return build_inception(hp)
    if hp.fit.architecture == "lstm":
        return build_lstm(hp)
    raise ValueError(f"unknown architecture {hp.fit.architecture!r} (expected 'inception' or 'lstm')")


def custom_objects() -> dict:
    return {"InputScaling": InputScaling, "FilterBank": FilterBank, "InceptionBlock": InceptionBlock}
