"""What every architecture shares: the class names, the front end (scaling -> up-sampling and filter bank)
and the softmax heads."""

from __future__ import annotations

from typing import Any

import keras

import train.layers  # noqa: F401  (registers the custom layers)
from train.hparams import HParams
from train.layers import FilterBank, InceptionBlock, InputScaling

CLASSES = ["non_seizure", "seizure"]


def front_end(hp: HParams, upsample_factor: int):
    """Input ``eeg_uv`` float32 [batch, window_samples] µV -> scaling -> up-sampling by ``upsample_factor``
    and the filter bank (one layer, :class:`train.layers.FilterBank`):
    ``(inputs, x [batch, window_samples * upsample_factor, n_bands])``.

    With ``filterbank.float64`` the layers before the bank run in float32 whatever the global
    (mixed) policy, so the bank casts the float32 values to float64, not values already rounded
    to float16 / bfloat16; the bank itself computes in float64 (train/layers/filter_bank.py).
    """
    if upsample_factor < 1:
        raise ValueError(f"upsample_factor must be >= 1, got {upsample_factor!r}")
    n = hp.signal.window_samples
    pre: dict[str, Any] = {"dtype": "float32"} if hp.filterbank.float64 else {}
    inputs = keras.Input(shape=(n,), name="eeg_uv", dtype="float32")
    x = InputScaling(hp.scaling.method, hp.scaling.scale_uv, name="input_scaling", **pre)(inputs)
    x = keras.layers.Reshape((n, 1), name="to_channels", **pre)(x)
    x = FilterBank(
        hp.filterbank.band_edges_hz,
        hp.filterbank.taps,
        hp.signal.sample_rate_hz * upsample_factor,
        hp.filterbank.window,
        hp.filterbank.float64,
        upsample_factor,
        name="filter_bank",
    )(x)
    return inputs, x


def head(x, dropout: float, name: str):
    """Dropout -> Dense(2, softmax) in float32 (also under mixed precision): [batch, features] -> [batch, 2]."""
    return keras.layers.Dense(2, activation="softmax", dtype="float32", name=name)(
        keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    )


def custom_objects() -> dict:
    return {"InputScaling": InputScaling, "FilterBank": FilterBank, "InceptionBlock": InceptionBlock}
