"""LSTM: scaling -> up-sampling (factor) and filter bank -> strided convolutional front end (one
auxiliary head) -> unrolled LSTM -> dense -> softmax."""

from __future__ import annotations

import keras

from train.hparams import HParams
from train.models import register
from train.models.common import front_end, head


@register("lstm")
def build_lstm(hp: HParams):
    lh = hp.lstm
    if lh.upsample_factor < 1:
        raise ValueError(f"lstm.upsample_factor must be >= 1, got {lh.upsample_factor!r}")
    inputs, x = front_end(hp, lh.upsample_factor)
    # Block 0: strided convolutional front-end (rectifies and shortens the band signals).
    x = keras.layers.Conv1D(
        lh.frontend_filters,
        2 * lh.frontend_stride,
        strides=lh.frontend_stride,
        padding="same",
        activation="swish",
        name="frontend_conv",
    )(x)
    x = keras.layers.BatchNormalization(name="frontend_bn")(x)
    aux0 = head(keras.layers.GlobalAveragePooling1D(name="frontend_pool")(x), lh.dropout, "aux_0")
    # Block 1: the recurrent block.
    # Unrolled: no TensorList ops, so the LiteRT export keeps a dynamic batch dimension.
    x = keras.layers.LSTM(lh.units, unroll=True, name="lstm")(x)
    x = keras.layers.Dropout(lh.dropout, name="dense_0_dropout")(x)
    x = keras.layers.Dense(lh.dense_units, activation="swish", name="dense_0")(x)
    probs = keras.layers.Dense(2, activation="softmax", dtype="float32", name="probabilities")(x)
    training = keras.Model(inputs, {"probabilities": probs, "aux_0": aux0}, name="lstm_train")
    inference = keras.Model(inputs, probs, name="lstm")
    return training, inference
