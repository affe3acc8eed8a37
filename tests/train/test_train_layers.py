"""Custom layers: get_config round-trip, frozen filter bank, float64 option, input scaling behaviour."""

import keras
import numpy as np
import pytest

from train.layers import FilterBank, InceptionBlock, InputScaling


@pytest.mark.parametrize(
    "layer",
    [
        InputScaling("fixed_uv", 75.0, eps=1e-5, name="s"),
        InputScaling("window_minmax", name="s2"),
        FilterBank([4.0, 12.0, 40.0], 255, 500.0, "hann", True, name="fb"),
        FilterBank([4.0, 12.0, 40.0], 255, 500.0, "hann", False, 2, name="fb2"),
        InceptionBlock(3, [5, 7], 4, "avg", 2, 2, activation="swish", time_block=2, name="ib"),
    ],
)
def test_get_config_round_trip_keeps_every_argument(layer):
    cfg = layer.get_config()
    clone = type(layer).from_config(cfg)
    assert clone.get_config() == cfg
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(again) is type(layer) and again.get_config() == cfg


def test_filter_bank_stays_frozen_after_trainable_toggles():
    inp = keras.Input((256, 1))
    fb = FilterBank([4.0, 12.0, 40.0], 255, 500.0, name="fb")
    out = keras.layers.Conv1D(2, 3)(fb(inp))
    model = keras.Model(inp, out)
    for flag in (True, False, True):
        model.trainable = flag
        fb.trainable = True
        assert fb.trainable is False
        assert fb.trainable_weights == []
        assert all(w.path.split("/")[0] != "fb" for w in model.trainable_weights)
    assert len(fb.non_trainable_weights) == 1
    # one gradient step leaves the bank's kernel untouched
    before = keras.ops.convert_to_numpy(fb.kernel)
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).standard_normal((4, 256, 1)).astype("float32")
    model.fit(x, np.zeros((4, 254, 2), "float32"), verbose=0, epochs=1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(fb.kernel), before)


def test_filter_bank_float64_matches_float32_and_passes_a_sine():
    fs = 500.0
    t = np.arange(2048) / fs
    x = np.sin(2 * np.pi * 6.93 * t).astype("float32")[None, :, None]  # centre of band 0 (4-12 Hz)
    y32 = np.asarray(FilterBank([4.0, 12.0, 40.0], 255, fs)(x))
    y64 = np.asarray(FilterBank([4.0, 12.0, 40.0], 255, fs, float64=True)(x))
    assert y64.dtype == np.float32
    np.testing.assert_allclose(y32, y64, atol=1e-4)
    mid = slice(300, -300)
    assert np.abs(y64[0, mid, 0]).max() == pytest.approx(1.0, abs=0.02)
    assert np.abs(y64[0, mid, 1]).max() < 0.05


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
@pytest.mark.parametrize("taps", [3, 5, 7, 255, 511])
@pytest.mark.parametrize("float64", [False, True])
def test_filter_bank_polyphase_inference_equals_repeat_then_convolve(factor, taps, float64):
    """Inference's polyphase form against numpy: every sample repeated ``factor`` times, then the 'same'
    cross-correlation with each band's kernel at the high rate (zero padding at both ends)."""
    rng = np.random.default_rng(taps + factor)
    fb = FilterBank([4.0, 12.0, 40.0], taps, 125.0 * factor, float64=float64, upsample_factor=factor)
    x = rng.standard_normal((2, 200, 1)).astype("float32")
    up = np.repeat(x[:, :, 0].astype(np.float64), factor, axis=1)  # [2, 200 f]
    w = fb._design[:, 0, :]  # [taps, bands]
    h = (taps - 1) // 2
    padded = np.pad(up, ((0, 0), (h, h)))
    ref = np.stack([np.stack([np.correlate(row, w[:, b], "valid") for b in range(w.shape[1])], -1) for row in padded])
    train = np.asarray(fb(x, training=True), np.float64)
    infer = np.asarray(fb(x, training=False), np.float64)
    assert train.shape == infer.shape == ref.shape == (2, 200 * factor, 2)
    assert fb.compute_output_shape((None, 200, 1)) == (None, 200 * factor, 2)
    tol = 2e-6 if not float64 else 1e-6  # float32 output either way; float32 arithmetic without float64
    scale = np.abs(ref).max()
    assert np.abs(train - ref).max() / scale < tol
    assert np.abs(infer - ref).max() / scale < tol
    if float64:  # both forms in float64: equal to the float32 rounding of the output
        np.testing.assert_array_equal(train, infer)


def test_filter_bank_polyphase_kernel_sums_the_taps_each_phase_covers():
    from train.layers.filter_bank import polyphase_indices, polyphase_kernel

    w = np.arange(1.0, 8.0).reshape(7, 1, 1)  # taps w[0..6] = 1..7, h = 3
    c = np.asarray(polyphase_kernel(keras.ops.convert_to_tensor(w), 2))  # a = 2: j in -2..2, 2 phases
    # c_r[j] = w[2j + 3 - r] + w[2j + 4 - r], w = 0 outside 0..6
    assert c.shape == (5, 1, 2)
    np.testing.assert_array_equal(c[:, 0, 0], [0 + 1, 2 + 3, 4 + 5, 6 + 7, 0 + 0])  # r = 0
    np.testing.assert_array_equal(c[:, 0, 1], [0 + 0, 1 + 2, 3 + 4, 5 + 6, 7 + 0])  # r = 1
    assert polyphase_indices(7, 2).shape == (5, 2, 2)
    np.testing.assert_array_equal(polyphase_indices(5, 1)[:, 0, 0], np.arange(5))  # factor 1: the kernel itself


@pytest.mark.parametrize("method", ["window_minmax", "fixed_uv", "asinh_uv"])
def test_flat_window_gives_zeros_not_nan(method):
    x = np.full((3, 1024), 37.5, np.float32)
    x[1] = 0.0
    y = np.asarray(InputScaling(method, 100.0)(x))
    assert np.all(np.isfinite(y)) and np.all(y == 0)


def test_scaling_behaviour_under_gain():
    rng = np.random.default_rng(0)
    x = (rng.normal(0, 40, (1, 1024)) + 500).astype(np.float32)  # with an offset
    mm = InputScaling("window_minmax")
    fx = InputScaling("fixed_uv", 100.0)
    ah = InputScaling("asinh_uv", 100.0)
    # window_minmax: into [-1, 1], mean 0, blind to gain (erases the amplitude rise of a seizure)
    a, b = np.asarray(mm(x)), np.asarray(mm(2 * x))
    assert np.abs(a).max() == pytest.approx(1.0) and abs(a.mean()) < 1e-3
    np.testing.assert_allclose(a, b, atol=1e-5)
    # fixed_uv: linear in µV, mean removed
    np.testing.assert_allclose(np.asarray(fx(x)), (x - x.mean()) / 100.0, atol=1e-4)
    np.testing.assert_allclose(np.asarray(fx(2 * x)), 2 * np.asarray(fx(x)), atol=1e-4)
    # asinh_uv: equals numpy's arcsinh; a 2x gain moves large values by about log(2) only
    np.testing.assert_allclose(np.asarray(ah(x)), np.arcsinh((x - x.mean()) / 100.0), atol=1e-5)
    big = np.full((1, 1024), -1000.0, np.float32)
    big[0, ::2] = 1000.0
    shift = np.asarray(ah(2 * big)) - np.asarray(ah(big))
    assert np.abs(shift).max() == pytest.approx(np.log(2), abs=0.01)


@pytest.mark.parametrize(
    "ctor,quoted",
    [
        (lambda: InputScaling("zscore"), "'zscore'"),
        (lambda: InputScaling("fixed_uv", -3.0), "-3.0"),
        (lambda: InceptionBlock(pool="median"), "'median'"),
        (lambda: InceptionBlock(dilation_rate=0), "0"),
        (lambda: InceptionBlock(time_block=0), "0"),
        (lambda: InceptionBlock(time_block=True), "True"),
        (lambda: FilterBank([1.5, 3.0], 64, 500.0), "64"),
        (lambda: FilterBank([1.5, 3.0], 65, 500.0, upsample_factor=0), "0"),
        (lambda: FilterBank([1.5, 3.0], 65, 500.0, upsample_factor=1.5), "1.5"),
    ],
)
def test_bad_constructor_arguments_quote_the_value(ctor, quoted):
    with pytest.raises(ValueError, match=quoted):
        ctor()


def _unfolded(block, x):
    """The block's inference as its layers are listed: branches -> concatenate -> batch norm -> swish -> pool."""
    for mod in block._mods:
        outs = [b(x) for b in mod["branches"]] + [mod["pool_branch"][1](mod["pool_branch"][0](x))]
        x = mod["down"](mod["act"](mod["norm"](mod["concat"](outs), training=False)))
    return np.asarray(x)


@pytest.mark.parametrize(
    "pool,dilation,kernel_sizes,samples",
    [
        ("max", 1, [5, 9], 64),
        ("avg", 1, [5, 9], 64),
        ("max", 4, [5, 9], 64),  # dilated convolutions as undilated ones on the phases
        ("avg", 4, [5, 9], 64),
        ("max", 4, [4, 9], 64),  # an even kernel: dilated convolutions
        ("avg", 8, [5, 9], 72),  # 72 samples: phases in module 0, 36 not a multiple of 8 in module 1
        ("max", 1, [5, 9], 36),  # time-blocked by 4 in module 0, 18 samples not a multiple of 4 in module 1
    ],
)
@pytest.mark.parametrize("time_block", [1, 2, 4])
def test_inference_with_batch_norm_folded_equals_the_layers_in_sequence(
    pool, dilation, kernel_sizes, samples, time_block
):
    _check_folded(pool, dilation, kernel_sizes, samples, rtol=1e-5, time_block=time_block)


@pytest.mark.parametrize("k", [3, 9, 25])
@pytest.mark.parametrize("p", [2, 4, 8])
def test_blocked_conv_is_the_same_convolution(k, p):
    """p time steps as channels, a block-Toeplitz kernel: the 'same' convolution of numpy's definition."""
    from train.layers.inception_block import blocked_conv

    rng = np.random.default_rng(k * 10 + p)
    x = rng.normal(0, 1, (2, 1, 8 * p, 3)).astype("float32")
    kernel = rng.normal(0, 1, (1, k, 3, 5)).astype("float32")
    bias = rng.normal(0, 1, 5).astype("float32")
    got = np.asarray(blocked_conv(x, kernel, bias, p, lambda y: y))
    h = (k - 1) // 2
    padded = np.pad(x[:, 0], ((0, 0), (h, h), (0, 0)))
    want = np.stack([np.einsum("bjc,jcf->bf", padded[:, i : i + k], kernel[0]) for i in range(8 * p)], axis=1) + bias
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(("policy", "blocked"), [("float32", True), ("mixed_bfloat16", False)])
def test_only_float32_convolutions_are_time_blocked(monkeypatch, policy, blocked):
    """bfloat16 (the export's twin, AMX) keeps the plain convolutions: blocked, they were slower there."""
    import train.layers.inception_block as ib

    calls = []
    real = ib.blocked_conv
    monkeypatch.setattr(ib, "blocked_conv", lambda *a: calls.append(a[3]) or real(*a))
    keras.mixed_precision.set_global_policy(policy)
    try:
        block = InceptionBlock(4, [5, 9], 1, "max", 2, 2, time_block=4, name="ib")
        block(np.zeros((1, 32, 5), "float32"), training=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert calls == ([4] * 4 if blocked else [])  # two modules x two branches of more than one tap


@pytest.mark.parametrize("dilation", [1, 4])
def test_folded_inference_under_mixed_precision(dilation):
    """float16 input and computation, float32 variables: the folded kernel is cast, not refused."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        _check_folded("max", dilation, [5, 9], 64, rtol=1e-2)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _check_folded(pool, dilation, kernel_sizes, samples, rtol, time_block=None):
    rng = np.random.default_rng(3)
    block = InceptionBlock(4, kernel_sizes, dilation, pool, 2, 2, time_block=time_block, name="ib")
    x = rng.normal(0, 1, (3, samples, 5)).astype("float32")
    block(x, training=False)
    for mod in block._mods:  # statistics and affine far from the initial 0 / 1, different per channel
        c = block.out_channels
        mod["norm"].moving_mean.assign(rng.normal(0, 2, c))
        mod["norm"].moving_variance.assign(rng.uniform(0.01, 9, c))
        mod["norm"].gamma.assign(rng.normal(1, 0.5, c))
        mod["norm"].beta.assign(rng.normal(0, 1, c))
    want = _unfolded(block, x).astype(np.float32)
    got = np.asarray(block(x, training=False)).astype(np.float32)
    assert got.shape == want.shape == (3, samples // 4, block.out_channels)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
    # training still runs the batch norm on batch statistics (and differs from inference)
    assert not np.allclose(np.asarray(block(x, training=True)), want, atol=1e-3)
