"""Per-example augmentation inside the tf.data graph.

``augment(x, hp)``: ``x`` float32 ``[window_samples + crop_margin_samples]`` µV ->
``[window_samples]``: random crop (a shift of up to ``crop_margin_samples``), polarity flip,
log-uniform amplitude scale, additive white noise with a random std in [0, noise_std_uv].
Given the example's ``label`` and a negative amplitude range (``hp.negative_amplitude_min/max``,
off by default), non-seizure examples draw their scale from that range instead, so that high
amplitude alone is no seizure cue; with the range off the graph is the one without ``label``.
``center_crop`` is the deterministic counterpart for validation. ``mixup`` works on a batch.
"""

from __future__ import annotations

import math

import tensorflow as tf

from train.hparams import AugmentHP


def op_seed(seed, k: int):
    """The ``k``-th distinct op seed derived from ``seed`` (``None`` stays ``None``).

    Stateful random ops with the same explicit op seed draw the same stream in graph mode (inside
    tf.data), so every op of one augmentation needs a seed of its own, or their draws are equal.
    """
    return None if seed is None else int(seed) * 16 + k


def random_crop(x, window_samples: int, seed=None):
    n = tf.shape(x)[0]
    tf.debugging.assert_greater_equal(n, window_samples, message="example shorter than window_samples")
    start = tf.random.uniform([], 0, n - window_samples + 1, dtype=tf.int32, seed=seed)
    return x[start : start + window_samples]


def center_crop(x, window_samples: int):
    n = tf.shape(x)[0]
    start = (n - window_samples) // 2
    return x[start : start + window_samples]


def augment(x, window_samples: int, hp: AugmentHP, seed=None, label=None):
    """``x`` float32 ``[example_samples]`` -> ``[window_samples]``; ``label`` int scalar (0 non-seizure,
    1 seizure) selects the negative amplitude range when ``hp`` sets one."""
    x = random_crop(x, window_samples, op_seed(seed, 0))
    if not hp.enabled:
        return x
    flip = tf.random.uniform([], seed=op_seed(seed, 1)) < hp.polarity_flip_prob
    x = tf.where(flip, -x, x)
    lo, hi = math.log(hp.amplitude_min), math.log(hp.amplitude_max) + 1e-12
    if label is not None and hp.negative_amplitude_max > 0:
        negative = tf.equal(label, 0)
        lo = tf.where(negative, math.log(hp.negative_amplitude_min), lo)
        hi = tf.where(negative, math.log(hp.negative_amplitude_max) + 1e-12, hi)
    log_gain = tf.random.uniform([], lo, hi, seed=op_seed(seed, 2))
    x = x * tf.exp(log_gain)
    if hp.noise_std_uv > 0:
        std = tf.random.uniform([], 0.0, hp.noise_std_uv, seed=op_seed(seed, 3))
        x = x + tf.random.normal(tf.shape(x), stddev=1.0, seed=op_seed(seed, 4)) * std
    return x


def mixup(x, y, alpha: float, seed=None):
    """Mix each example of a batch with a random partner from the same batch (Zhang et al. 2018).

    ``x`` ``[batch, samples]``, ``y`` one-hot ``[batch, classes]`` -> the same shapes:
    ``l * a + (1 - l) * b`` for signals and labels alike, ``l ~ Beta(alpha, alpha)`` per example.
    """
    n = tf.shape(x)[0]
    g1 = tf.random.gamma([n], alpha, seed=op_seed(seed, 5))
    g2 = tf.random.gamma([n], alpha, seed=op_seed(seed, 6))
    lam = tf.math.divide_no_nan(g1, g1 + g2)  # both gammas can underflow to 0: then the partner alone
    partner = tf.random.shuffle(tf.range(n), seed=op_seed(seed, 7))
    lx, ly = lam[:, None], tf.cast(lam[:, None], y.dtype)
    return lx * x + (1 - lx) * tf.gather(x, partner), ly * y + (1 - ly) * tf.gather(y, partner)
