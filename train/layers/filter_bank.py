"""FilterBank: zero-order-hold up-sampling, then a band-pass FIR bank applied as a Conv1D that is never trainable."""

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
    """[batch, samples, 1] -> [batch, samples * upsample_factor, n_bands] ('same' alignment, linear phase).

    ``upsample_factor`` f > 1 first repeats every sample f times (zero-order hold, what
    ``keras.layers.UpSampling1D`` does); the band-pass bank, whose highest edge lies far below the
    input's Nyquist frequency, is the interpolation filter that removes the images of the repetition.
    Training computes exactly that: repeat, then the ``taps``-tap convolution at the high rate.
    Inference (``training`` false: validation, the export, the daemon) computes the same function in
    polyphase form (:func:`polyphase_kernel`): one convolution of the input at its own rate with
    ``2 * ceil((taps - 1) / 2 / f) + 1`` taps and ``f * n_bands`` outputs (output ``r * n_bands + b`` is
    band b at the up-sampled positions ``f * m + r``), then a reshape that interleaves the phases: half
    the multiply-adds at f = 2 and no up-sampled copy of the input (docs/benchmarks.md).

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
        upsample_factor: int = 1,
        **kwargs,
    ):
        if fs_hz is None:
            raise ValueError("FilterBank needs fs_hz (the sample rate at the bank, Hz), got None")
        kwargs.pop("trainable", None)
        if float64:
            kwargs["dtype"] = "float64"  # the layer's policy, whatever the global (mixed) policy is
        super().__init__(trainable=False, **kwargs)
        if isinstance(upsample_factor, bool) or int(upsample_factor) != upsample_factor or int(upsample_factor) < 1:
            raise ValueError(f"FilterBank upsample_factor must be an integer >= 1, got {upsample_factor!r}")
        self.upsample_factor = int(upsample_factor)
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

    def call(self, x, training=None):
        f = self.upsample_factor
        dtype = "float64" if self.float64 else self.compute_dtype
        kernel = self._kernel64 if self.float64 else ops.cast(self.kernel, dtype)
        x = ops.cast(x, dtype)
        # float64: TensorFlow's own convolution (Keras' may not keep float64)
        conv = (lambda v, k: tf.nn.conv1d(v, k, stride=1, padding="SAME")) if self.float64 else _conv_same
        if f == 1 or training:
            y = conv(ops.repeat(x, f, axis=1) if f > 1 else x, kernel)
        else:
            t = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
            y = ops.reshape(conv(x, polyphase_kernel(kernel, f)), (-1, t * f, self.n_bands))
        return ops.cast(y, "float32") if self.float64 else y

    def compute_output_shape(self, input_shape):
        t = input_shape[1]
        return (input_shape[0], None if t is None else t * self.upsample_factor, self.n_bands)

    def get_config(self):
        return {
            **super().get_config(),
            "band_edges_hz": list(self.band_edges_hz),
            "taps": self.taps,
            "fs_hz": self.fs_hz,
            "window": self.window,
            "float64": self.float64,
            "upsample_factor": self.upsample_factor,
        }


def _conv_same(x, kernel):
    return ops.conv(x, kernel, strides=1, padding="same")


def polyphase_indices(taps: int, factor: int) -> np.ndarray:
    """``[J, factor, factor]`` indices into a ``taps``-tap kernel with one zero row appended (index ``taps``).

    A 'same' cross-correlation with an odd kernel w of ``taps = 2h + 1`` taps of the zero-order-hold
    up-sampled x (``x_up[i] = x[i // f]``) gives at ``n = f m + r``:
    ``y[f m + r] = sum_k w[k] x_up[f m + r + k - h] = sum_j x[m + j] c_r[j]`` with
    ``c_r[j] = sum_{q < f} w[f j + h - r + q]`` (w zero outside its taps), j in ``[-a, a]``,
    ``a = ceil(h / f)``, J = 2a + 1; the zero padding at both ends maps to x's own. Entry
    ``[j + a, r, q]`` is ``f j + h - r + q``, or ``taps`` where that falls outside the kernel.
    """
    h, f = (taps - 1) // 2, factor
    a = -(-h // f)
    j = np.arange(-a, a + 1)[:, None, None]
    r = np.arange(f)[None, :, None]
    q = np.arange(f)[None, None, :]
    idx = f * j + h - r + q
    return np.where((idx >= 0) & (idx < taps), idx, taps)


def polyphase_kernel(kernel, factor: int):
    """A bank's kernel ``[taps, 1, n_bands]`` -> its polyphase form ``[J, 1, factor * n_bands]`` for
    up-sampling by ``factor`` (:func:`polyphase_indices`); output channel ``r * n_bands + b`` is band b's
    phase r. Computed with graph ops from the kernel, so the kernel weight stays the one source."""
    taps, _, n_bands = kernel.shape
    w = ops.concatenate([kernel[:, 0, :], ops.zeros((1, n_bands), dtype=kernel.dtype)], axis=0)  # [taps + 1, nb]
    c = ops.sum(ops.take(w, polyphase_indices(taps, factor), axis=0), axis=2)  # [J, f, nb]
    return ops.reshape(c, (c.shape[0], 1, factor * n_bands))
