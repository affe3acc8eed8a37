"""FilterBank: a band-pass FIR bank applied as a Conv1D that is never trainable."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from train.filterbank import design_filterbank
from train.hparams import FilterBankHP

_DEFAULT = FilterBankHP()


@keras.saving.register_keras_serializable(package="train")
class FilterBank(keras.layers.Layer):
    """[batch, samples, 1] -> [batch, samples, n_bands] ('same' alignment, linear phase).

    The kernel is designed by :func:`train.filterbank.design_filterbank` from the constructor
    arguments and held in a non-trainable weight. ``trainable`` is pinned to False: setting
    ``model.trainable = True`` (fine-tuning) leaves the bank frozen.

    With ``float64=True`` the layer's dtype policy is float64 (whatever the global policy): its
    input is cast to float64 (from what the previous layer computed; train/models keeps the front
    end before the bank in float32 for this), the convolution runs in float64 with the float64
    design, and the result is cast back to float32 (the next layer casts it to its own compute dtype).

    ``fs_hz`` (the rate at the bank: the model rate times the up-sampling factor) has no default;
    the other defaults are those of :class:`train.hparams.FilterBankHP`.
    """

    def __init__(
        self,
        band_edges_hz=tuple(_DEFAULT.band_edges_hz),
        taps: int = _DEFAULT.taps,
        fs_hz: float | None = None,
        window: str = _DEFAULT.window,
        float64: bool = _DEFAULT.float64,
        **kwargs,
    ):
        if fs_hz is None:
            raise ValueError("FilterBank needs fs_hz (the sample rate at the bank, Hz), got None")
        kwargs.pop("trainable", None)
        if float64:
            kwargs["dtype"] = "float64"  # the layer's policy, whatever the global (mixed) policy is
        super().__init__(trainable=False, **kwargs)
        self.band_edges_hz = [float(e) for e in band_edges_hz]
        self.taps = int(taps)
        self.fs_hz = float(fs_hz)
        self.window = window
        self.float64 = bool(float64)
        # Validates the arguments now (quoting bad values), not at the first call.
        self._design = design_filterbank(self.band_edges_hz, self.taps, self.fs_hz, self.window)

    # Frozen in every configuration.
    @property
    def trainable(self):
        return False

    @trainable.setter
    def trainable(self, value):
        self._trainable = False

    @property
    def n_bands(self) -> int:
        return len(self.band_edges_hz) - 1

    def build(self, input_shape):
        if input_shape[-1] != 1:
            raise ValueError(f"FilterBank expects one input channel [batch, samples, 1], got shape {input_shape!r}")
        self.kernel = self.add_weight(
            name="kernel",
            shape=self._design.shape,
            initializer=keras.initializers.Constant(self._design.astype(np.float32)),
            trainable=False,
            dtype="float32",
        )
        self._kernel64 = tf.constant(self._design, dtype=tf.float64)

    def call(self, x):
        if self.float64:
            y = tf.nn.conv1d(tf.cast(x, tf.float64), self._kernel64, stride=1, padding="SAME")
            return ops.cast(y, "float32")
        k = ops.cast(self.kernel, self.compute_dtype)
        return ops.conv(ops.cast(x, self.compute_dtype), k, strides=1, padding="same")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.n_bands)

    def get_config(self):
        return {
            **super().get_config(),
            "band_edges_hz": list(self.band_edges_hz),
            "taps": self.taps,
            "fs_hz": self.fs_hz,
            "window": self.window,
            "float64": self.float64,
        }
