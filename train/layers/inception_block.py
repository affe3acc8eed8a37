"""InceptionBlock: stacked inception modules (parallel convolutions + a pooling branch), each pooled."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from train.hparams import InceptionHP

_DEFAULT = InceptionHP()

POOLS = ("max", "avg")

# Inference computes each float32 convolution of more than one tap on TIME_BLOCK consecutive time steps as channels
# (:func:`blocked_conv`): the same function, faster on CPUs that vectorise over 8 output channels (docs/benchmarks.md
# "Time-blocked convolutions"). 1 = plain convolutions.
TIME_BLOCK = 4


@keras.saving.register_keras_serializable(package="train")
class InceptionBlock(keras.layers.Layer):
    """[batch, time, channels] -> [batch, time / pool_size**modules, filters * (len(kernel_sizes) + 2)].

    One module = parallel branches {1x1 conv; conv k (dilated) for k in kernel_sizes; pool 3 (stride 1)
    then 1x1 conv} -> concatenate -> batch norm -> swish -> pool ``pool_size`` (stride ``pool_size``).
    ``pool`` ('max' | 'avg') chooses both the pooling branch and the down-sampling pool;
    ``dilation_rate`` > 1 widens the receptive field (global features), 1 keeps it local.
    ``filters``, ``kernel_sizes``, ``pool_size`` and ``modules`` default to :class:`train.hparams.InceptionHP`'s.

    Inference (``training`` false) computes the same function with the batch norm folded into the
    convolutions (:meth:`_folded_module`): each branch's kernel and bias are scaled by its channels'
    ``gamma / sqrt(moving_variance + epsilon)`` and shifted, swish and the down-sampling pool (both per
    channel) run on each branch, and only the pooled branches are concatenated. No batch-norm or
    full-length concatenation op runs per window (benchmarks/compare_exports.py measures the gain). The
    weights are the same variables, so checkpoints, exports and ``experiments.reexport`` are unchanged.
    Training uses the layers as listed above (batch statistics, moving averages). ``time_block`` P > 1: in inference
    each float32 branch of more than one tap (odd, undilated or on phases) whose length is a multiple of P runs as
    :func:`blocked_conv` (P time steps as channels: the same function, to float rounding); None =
    :data:`TIME_BLOCK`, 1 = plain convolutions. A layout of the computation only: the weights do not depend on it.
    """

    def __init__(
        self,
        filters: int = _DEFAULT.filters,
        kernel_sizes=tuple(_DEFAULT.kernel_sizes),
        dilation_rate: int = 1,
        pool: str = "max",
        pool_size: int = _DEFAULT.pool_size,
        modules: int = _DEFAULT.modules_per_block,
        activation: str = "swish",
        time_block: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pool not in POOLS:
            raise ValueError(f"InceptionBlock pool must be 'max' or 'avg', got {pool!r}")
        if int(filters) < 1:
            raise ValueError(f"InceptionBlock filters must be >= 1, got {filters!r}")
        if int(dilation_rate) < 1:
            raise ValueError(f"InceptionBlock dilation_rate must be >= 1, got {dilation_rate!r}")
        if int(modules) < 1:
            raise ValueError(f"InceptionBlock modules must be >= 1, got {modules!r}")
        if int(pool_size) < 1:
            raise ValueError(f"InceptionBlock pool_size must be >= 1, got {pool_size!r}")
        if not kernel_sizes or any(int(k) < 1 for k in kernel_sizes):
            raise ValueError(f"InceptionBlock kernel_sizes must be positive integers, got {kernel_sizes!r}")
        time_block = TIME_BLOCK if time_block is None else time_block
        if isinstance(time_block, bool) or not isinstance(time_block, int) or time_block < 1:
            raise ValueError(f"InceptionBlock time_block must be an integer >= 1, got {time_block!r}")
        self.filters = int(filters)
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.dilation_rate = int(dilation_rate)
        self.pool = pool
        self.pool_size = int(pool_size)
        self.modules = int(modules)
        self.activation = activation
        self.time_block = time_block
        Pool = keras.layers.MaxPooling1D if pool == "max" else keras.layers.AveragePooling1D
        self._mods = []
        for m in range(self.modules):
            branches = [keras.layers.Conv1D(self.filters, 1, padding="same", name=f"m{m}_1x1")]
            for k in self.kernel_sizes:
                branches.append(
                    keras.layers.Conv1D(
                        self.filters, k, padding="same", dilation_rate=self.dilation_rate, name=f"m{m}_k{k}"
                    )
                )
            pool_branch = (
                Pool(3, strides=1, padding="same", name=f"m{m}_pool3"),
                keras.layers.Conv1D(self.filters, 1, padding="same", name=f"m{m}_pool_1x1"),
            )
            self._mods.append(
                {
                    "branches": branches,
                    "pool_branch": pool_branch,
                    "concat": keras.layers.Concatenate(axis=-1, name=f"m{m}_concat"),
                    "norm": keras.layers.BatchNormalization(name=f"m{m}_bn"),
                    "act": keras.layers.Activation(activation, name=f"m{m}_act"),
                    "down": Pool(self.pool_size, strides=self.pool_size, padding="valid", name=f"m{m}_down"),
                }
            )

    @property
    def out_channels(self) -> int:
        return self.filters * (len(self.kernel_sizes) + 2)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for mod in self._mods:
            for b in mod["branches"]:
                b.build(shape)
            mod["pool_branch"][0].build(shape)
            mod["pool_branch"][1].build(shape)
            cat = (*shape[:-1], self.out_channels)
            mod["norm"].build(cat)
            t = None if shape[1] is None else shape[1] // self.pool_size
            shape = (shape[0], t, self.out_channels)

    def call(self, x, training=None):
        if not training:
            # inference in [batch, 1, t, c]: TensorFlow fuses each Conv2D and its bias add into one op (oneDNN),
            # where a Conv1D is a Conv2D between two reshapes with the bias added after them (swish stays apart)
            x = keras.ops.expand_dims(x, 1)
            for mod in self._mods:
                x = self._folded_module(mod, x)
            return keras.ops.squeeze(x, 1)
        for mod in self._mods:
            outs = [b(x) for b in mod["branches"]]
            outs.append(mod["pool_branch"][1](mod["pool_branch"][0](x)))
            y = mod["concat"](outs)
            y = mod["norm"](y, training=training)
            x = mod["down"](mod["act"](y))
        return x

    def _pool(self, x, size: int, strides: int, padding: str):
        """The block's pool type on ``[batch, 1, t, c]`` along t (as the 1-D pooling layers compute it)."""
        pool = keras.ops.max_pool if self.pool == "max" else keras.ops.average_pool
        return pool(x, (1, size), (1, strides), padding)

    def _folded_module(self, mod, x):
        """One module in inference, batch norm folded: ``[batch, 1, t, c] -> [batch, 1, t / pool_size, out_channels]``.

        For branch j (output channels ``j*filters : (j+1)*filters`` of the concatenation) with kernel ``W``
        and bias ``b``: ``conv(x, W * s_j) + (b - mean_j) * s_j + beta_j``, ``s_j = gamma_j / sqrt(var_j + eps)``:
        what batch norm computes on that branch's channels in inference, to float rounding. With
        ``dilation_rate`` d > 1, odd kernels and ``t`` a multiple of d, the dilated branches run undilated
        on the d phases of x (:func:`_to_phases`, once for both) instead of one space-to-batch per branch.
        The convolutions are 2-D with a height of 1, each followed by ``tf.nn.bias_add`` and the activation; those
        of more than one tap in float32 time-blocked (``time_block``, :func:`blocked_conv`) where their length allows.
        """
        norm = mod["norm"]
        scale = norm.gamma * keras.ops.rsqrt(norm.moving_variance + norm.epsilon)  # [out_channels]
        shift = norm.beta - norm.moving_mean * scale
        pool_conv = mod["pool_branch"][1]
        d, t = self.dilation_rate, x.shape[2]
        phased = d > 1 and t is not None and t % d == 0 and all(k % 2 for k in self.kernel_sizes)
        xp = _to_phases(x, d) if phased else x
        one, *wide = mod["branches"]
        pooled3 = self._pool(x, 3, 1, "same")
        branches = [(one, x, 1), *[(conv, xp, 1 if phased else d) for conv in wide], (pool_conv, pooled3, 1)]
        ys = []
        for j, (conv, inp, dil) in enumerate(branches):
            ch = slice(j * self.filters, (j + 1) * self.filters)
            with keras.name_scope(conv.name):  # the ops named after their layer, as in training (profiles)
                # folded in the variables' float32, then cast to the compute dtype (float16 under mixed precision)
                kernel = keras.ops.cast(conv.kernel * scale[ch], inp.dtype)[None]  # [1, k, c, filters]
                bias = keras.ops.cast(conv.bias * scale[ch] + shift[ch], inp.dtype)
                p, k = self.time_block, kernel.shape[1]
                float32 = keras.backend.standardize_dtype(inp.dtype) == "float32"  # bfloat16: slower blocked
                if p > 1 and float32 and dil == 1 and k > 1 and k % 2 and inp.shape[2] % p == 0:
                    ys.append(blocked_conv(inp, kernel, bias, p, mod["act"]))
                    continue
                y = keras.ops.conv(inp, kernel, strides=1, padding="same", dilation_rate=(1, dil))
                ys.append(mod["act"](tf.nn.bias_add(y, bias)))
        if phased:
            ys = [ys[0], _from_phases(keras.ops.concatenate(ys[1:-1], axis=-1), d, t), ys[-1]]
        return mod["concat"]([self._pool(y, self.pool_size, self.pool_size, "valid") for y in ys])

    def compute_output_shape(self, input_shape):
        t = input_shape[1]
        for _ in range(self.modules):
            t = None if t is None else t // self.pool_size
        return (input_shape[0], t, self.out_channels)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_sizes": list(self.kernel_sizes),
            "dilation_rate": self.dilation_rate,
            "pool": self.pool,
            "pool_size": self.pool_size,
            "modules": self.modules,
            "activation": self.activation,
            "time_block": self.time_block,
        }


def block_taps(k: int, p: int) -> np.ndarray:
    """``[u, q, r]`` -> the tap of a ``k``-tap ("same", odd k) kernel by which input phase q of block ``b + u - u_max``
    reaches output phase r of block b, with ``p`` time steps to a block; ``k`` (one past the last tap) where none does.
    ``u`` runs over ``2 u_max + 1`` block taps, ``u_max = (h + p - 1) // p``, ``h = (k - 1) // 2``."""
    h = (k - 1) // 2
    u_max = (h + p - 1) // p
    u, q, r = np.meshgrid(np.arange(-u_max, u_max + 1), np.arange(p), np.arange(p), indexing="ij")
    tap = p * u + q - r + h
    return np.where((tap >= 0) & (tap < k), tap, k)


def blocked_conv(x, kernel, bias, p: int, activation):
    """``activation(conv(x, kernel, "same") + bias)`` computed on ``p`` time steps as channels:
    ``x [b, 1, t, c]`` (t a multiple of p) read as ``[b, 1, t / p, p c]``, ``kernel [1, k, c, f]`` (odd k) as the
    block-Toeplitz ``[1, 2 u_max + 1, p c, p f]`` of :func:`block_taps`, the output ``[b, 1, t / p, p f]`` read back as
    ``[b, 1, t, f]``. The same function to float rounding, ``(p + k - 1) / k`` the multiply-adds, with ``p f`` output
    channels where the CPU kernels vectorise over output channels (docs/benchmarks.md "Time-blocked convolutions")."""
    _, k, c, f = kernel.shape
    t = x.shape[2]
    taps = block_taps(k, p)
    padded = keras.ops.concatenate([kernel[0], keras.ops.zeros((1, c, f), kernel.dtype)], axis=0)  # [k + 1, c, f]
    w = keras.ops.take(padded, taps.reshape(-1), axis=0)  # [u * q * r, c, f]
    w = keras.ops.transpose(keras.ops.reshape(w, (taps.shape[0], p, p, c, f)), (0, 1, 3, 2, 4))  # [u, q, c, r, f]
    w = keras.ops.reshape(w, (1, taps.shape[0], p * c, p * f))
    y = keras.ops.conv(keras.ops.reshape(x, (-1, 1, t // p, p * c)), w, strides=1, padding="same")
    y = activation(tf.nn.bias_add(y, keras.ops.tile(bias, (p,))))
    return keras.ops.reshape(y, (-1, 1, t, f))


def _to_phases(x, d: int):
    """``[b, 1, t, c] -> [b * d, 1, t / d, c]``: sample ``m * d + p`` of row i goes to row ``i * d + p``, position m.
    A dilated ("same", odd kernel) convolution of x is the undilated one of each phase."""
    t, c = x.shape[2], x.shape[3]
    return keras.ops.reshape(
        keras.ops.transpose(keras.ops.reshape(x, (-1, t // d, d, c)), (0, 2, 1, 3)), (-1, 1, t // d, c)
    )


def _from_phases(y, d: int, t: int):
    """The inverse of :func:`_to_phases`: ``[b * d, 1, t / d, f] -> [b, 1, t, f]``."""
    f = y.shape[-1]
    return keras.ops.reshape(keras.ops.transpose(keras.ops.reshape(y, (-1, d, t // d, f)), (0, 2, 1, 3)), (-1, 1, t, f))
