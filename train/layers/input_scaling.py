"""InputScaling: the window's amplitude normalisation, inside the model."""

from __future__ import annotations

import keras
from keras import ops

from train.hparams import ScalingHP

_DEFAULT = ScalingHP()

METHODS = ("window_minmax", "fixed_uv", "asinh_uv")


@keras.saving.register_keras_serializable(package="train")
class InputScaling(keras.layers.Layer):
    """[batch, samples] µV -> [batch, samples] scaled. The mean over the window is always removed.

    - ``window_minmax``: (x - mean) / max|x - mean|, into [-1, 1]; a flat window gives 0 (not NaN).
    - ``fixed_uv``: (x - mean) / scale_uv.
    - ``asinh_uv``: asinh((x - mean) / scale_uv), written as sign(y) log(|y| + sqrt(y^2 + 1)) so that
      LiteRT needs no ASINH kernel; linear for |x| << scale_uv, logarithmic above, so a gain error
      g becomes an additive shift of about log(g) on large deflections.

    ``method`` and ``scale_uv`` default to :class:`train.hparams.ScalingHP`'s defaults.
    """

    def __init__(self, method: str = _DEFAULT.method, scale_uv: float = _DEFAULT.scale_uv, eps: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        if method not in METHODS:
            raise ValueError(f"InputScaling method must be one of {METHODS}, got {method!r}")
        if not float(scale_uv) > 0:
            raise ValueError(f"InputScaling scale_uv must be > 0 µV, got {scale_uv!r}")
        if not float(eps) > 0:
            raise ValueError(f"InputScaling eps must be > 0, got {eps!r}")
        self.method = method
        self.scale_uv = float(scale_uv)
        self.eps = float(eps)

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        y = x - ops.mean(x, axis=-1, keepdims=True)
        if self.method == "window_minmax":
            peak = ops.max(ops.abs(y), axis=-1, keepdims=True)
            return y / ops.maximum(peak, ops.cast(self.eps, y.dtype))
        y = y / ops.cast(self.scale_uv, y.dtype)
        if self.method == "fixed_uv":
            return y
        a = ops.abs(y)
        return ops.sign(y) * ops.log(a + ops.sqrt(a * a + 1.0))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "method": self.method, "scale_uv": self.scale_uv, "eps": self.eps}
