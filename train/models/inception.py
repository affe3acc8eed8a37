"""Inception: scaling -> up-sampling (factor) and filter bank -> four parallel inception blocks
(dilated max-pool, dilated avg-pool, undilated max-pool, undilated avg-pool) -> flatten each ->
concatenate -> dense -> dense -> softmax; one auxiliary head per block. The up-sampling repeats samples
(zero-order hold); the band-pass bank after it, whose highest edge is far below the original Nyquist
frequency, is the interpolation filter: it removes the images that the repetition creates.
"""

from __future__ import annotations

import keras

from train.hparams import HParams
from train.layers import InceptionBlock
from train.models import register
from train.models.common import front_end, head


@register("inception")
def build_inception(hp: HParams):
    ih = hp.inception
    if ih.upsample_factor < 1:
        raise ValueError(f"inception.upsample_factor must be >= 1, got {ih.upsample_factor!r}")
    inputs, x = front_end(hp, ih.upsample_factor)
    blocks = [
        ("global_max", ih.dilation_rate, "max"),
        ("global_avg", ih.dilation_rate, "avg"),
        ("local_max", 1, "max"),
        ("local_avg", 1, "avg"),
    ]
    flats, aux = [], {}
    for i, (name, dil, pool) in enumerate(blocks):
        b = InceptionBlock(
            ih.filters,
            ih.kernel_sizes,
            dil,
            pool,
            ih.pool_size,
            ih.modules_per_block,
            activation="swish",
            name=f"block_{name}",
        )(x)
        f = keras.layers.Flatten(name=f"flatten_{name}")(b)
        flats.append(f)
        aux[f"aux_{i}"] = head(f, ih.dropout, f"aux_{i}")
    x = keras.layers.Concatenate(name="concat_blocks")(flats)
    for j, units in enumerate(ih.dense_units):
        x = keras.layers.Dropout(ih.dropout, name=f"dense_{j}_dropout")(x)
        x = keras.layers.Dense(units, activation="swish", name=f"dense_{j}")(x)
    probs = keras.layers.Dense(2, activation="softmax", dtype="float32", name="probabilities")(x)
    training = keras.Model(inputs, {"probabilities": probs, **aux}, name="inception_train")
    inference = keras.Model(inputs, probs, name="inception")
    return training, inference
