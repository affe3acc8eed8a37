"""Units to µV and polyphase resampling to the model rate."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from realtime.preprocess import Resampler, UnitError, resolve_unit, short_half_periods, unit_scale_to_uv

RATES = [100, 128, 173.61, 200, 250, 256, 500, 512, 1000, 2048]
W = 1024


@pytest.mark.parametrize(
    "unit, scale",
    [
        ("V", 1e6),
        ("volts", 1e6),
        ("Volt", 1e6),
        ("mV", 1e3),
        ("millivolts", 1e3),
        ("uV", 1.0),
        ("µV", 1.0),
        ("μV", 1.0),
        ("microvolts", 1.0),
        ("UV", 1.0),
        ("nV", 1e-3),
        (" uV ", 1.0),
        ("0", 1e6),
        ("-3", 1e3),
        ("-6", 1.0),
        ("-9", 1e-3),
    ],
)
def test_unit_scales(unit, scale):
    assert unit_scale_to_uv(unit) == pytest.approx(scale)


@pytest.mark.parametrize("unit", ["degC", "MV", "kg", "-20", "1e-6", ""])
def test_unknown_units_are_refused_quoting_the_value(unit):
    with pytest.raises(UnitError, match=repr(unit).replace("(", r"\(").replace(")", r"\)")):
        unit_scale_to_uv(unit)


def test_empty_unit_is_assumed_microvolts_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert resolve_unit("", "Cz") == (1.0, True)
        assert resolve_unit(None, "Pz") == (1.0, True)
    assert "'Cz' has no unit; assuming microvolts" in caplog.text
    assert resolve_unit("-6", "Cz") == (1.0, False)
    with pytest.raises(UnitError, match="channel 'Fz': unknown channel unit 'bpm'"):
        resolve_unit("bpm", "Fz")


@pytest.mark.parametrize("rate", RATES)
def test_sine_keeps_frequency_and_amplitude_edge_free(rate):
    rs = Resampler(rate, 250.0)
    n = rs.native_samples_needed(W)
    extra = 50  # older samples beyond what is needed are ignored
    t = np.arange(n + extra) / rate
    freqs, amps = (3.0, 11.0, 29.0), (100.0, 40.0, 20.0)
    x = np.vstack([a * np.sin(2 * np.pi * f * t + 0.3) for f, a in zip(freqs, amps, strict=False)])
    y = rs.to_model_rate(x, W)
    assert y.shape == (3, W)
    first, last = rs.window_positions(W)
    # times of the returned samples, from the positions the resampler reports
    tt = (extra + first + np.arange(W) * (last - first) / (W - 1)) / rate
    assert (last - first) / (W - 1) * 250.0 / rate == pytest.approx(1.0, rel=1e-4)
    for row, f, a in zip(y, freqs, amps, strict=False):
        ref = a * np.sin(2 * np.pi * f * tt + 0.3)
        # edge-free: the whole window, first and last samples included, within 0.5 % of the amplitude
        assert np.abs(row - ref).max() < 0.005 * a, (rate, f)
        spectrum = np.abs(np.fft.rfft(row * np.hanning(W)))
        assert np.fft.rfftfreq(W, 1 / 250.0)[spectrum.argmax()] == pytest.approx(f, abs=250.0 / W)


def test_window_ends_close_to_the_newest_sample():
    for rate in RATES:
        rs = Resampler(rate)
        n = rs.native_samples_needed(W)
        first, last = rs.window_positions(W)
        assert first >= 0 and last <= n - 1
        assert (n - 1 - last) / rate <= rs.end_delay_s + 1 / rate <= 0.11


@pytest.mark.parametrize("rate", [99.9, 50, 0, -256, float("nan")])
def test_low_rates_are_refused_quoting_the_rate(rate):
    with pytest.raises(ValueError, match=f"sampling rate {rate!r} Hz is below"):
        Resampler(rate)


@pytest.mark.parametrize("rate", [100_000.5, 2.56e11, float("inf")])
def test_impossible_rates_are_refused_quoting_the_rate_before_any_filter_is_designed(rate):
    with pytest.raises(ValueError, match=f"sampling rate {rate!r} Hz is above the supported maximum of 100000 Hz"):
        Resampler(rate)
    with pytest.raises(ValueError, match=f"sampling rate {rate!r} Hz is above"):
        short_half_periods(rate)


def test_too_short_input_is_refused():
    rs = Resampler(256)
    with pytest.raises(ValueError, match="need at least 1070 native samples"):
        rs.to_model_rate(np.zeros((2, 1000)), W)


@pytest.mark.parametrize("rate", [256.0, 200.0, 500.0, 512.0, 173.61, 1000.0, 128.0, 100.0])
def test_the_sparse_product_gives_resample_polys_own_output(rate):
    """The Resampler applies resample_poly's map (its own filter design) to the clean outputs only, as a
    sparse matrix: the windows are those of resample_poly on the whole input, to the bit on this machine."""
    from scipy.signal import resample_poly

    r = Resampler(rate)
    need = r.native_samples_needed(1024)
    x = np.random.default_rng(1).normal(0, 30, (3, need))
    _, stop = r._clean_range(need)
    expected = resample_poly(x, r.up, r.down, axis=1)[:, stop - 1024 : stop]
    np.testing.assert_array_equal(r.to_model_rate(x, 1024), expected)


def test_the_matrix_is_made_once_per_rate_and_takes_any_input():
    """One matrix per (rate, window), shared by every bed of that rate; float32 input, older extra samples
    and no channels at all give what resample_poly gives."""
    from realtime.preprocess import _clean_outputs_matrix

    a, b = Resampler(256.0), Resampler(256.0)
    a.prepare(W)
    hits = _clean_outputs_matrix.cache_info().hits
    b.prepare(W)
    assert _clean_outputs_matrix.cache_info().hits == hits + 1
    m = _clean_outputs_matrix(256.0, 250.0, W, 10)
    assert m.shape == (W, a.native_samples_needed(W))
    assert m.nnz < 25 * W  # about 20 taps per output, not a dense matrix
    x = np.random.default_rng(3).normal(0, 40, (5, a.native_samples_needed(W) + 300)).astype(np.float32)
    np.testing.assert_array_equal(a.to_model_rate(x, W), b.to_model_rate_filtered(x, W))
    assert a.to_model_rate(x, W).flags["C_CONTIGUOUS"]
    assert a.to_model_rate(x[:0], W).shape == (0, W)


@pytest.mark.parametrize("rate", [256.0, 200.0, 512.0, 173.61, 1000.0])
@pytest.mark.parametrize("half_periods", [1, 3, 5])
def test_a_shorter_filter_is_resample_polys_design_at_that_length(rate, half_periods):
    """``half_periods`` shortens resample_poly's filter (the same firwin design, half_len = half_periods *
    max(up, down)): the windows are resample_poly's with that window to the bit, they end ``half_periods``
    periods of the lower rate before the newest sample, and the band the network uses keeps its size."""
    from scipy.signal import firwin, resample_poly

    r, full = Resampler(rate, 250.0, half_periods), Resampler(rate, 250.0)
    assert r.half_len == half_periods * max(r.up, r.down)
    assert r.end_delay_s == pytest.approx(half_periods / min(rate, 250.0), rel=1e-3)
    assert r.native_samples_needed(W) < full.native_samples_needed(W)
    need = r.native_samples_needed(W)
    x = np.random.default_rng(2).normal(0, 30, (2, need))
    fir = firwin(2 * r.half_len + 1, 1.0 / max(r.up, r.down), window=("kaiser", 5.0))
    _, stop = r._clean_range(need)
    np.testing.assert_array_equal(
        r.to_model_rate(x, W), resample_poly(x, r.up, r.down, axis=1, window=fir)[:, stop - W : stop]
    )
    np.testing.assert_array_equal(r.to_model_rate(x, W), r.to_model_rate_filtered(x, W))
    # a 3 Hz and a 29 Hz sine through the short filter: within 0.5 % of their own size (3 periods and more)
    if half_periods >= 3:
        t = np.arange(need) / rate
        first, last = r.window_positions(W)
        tt = (first + np.arange(W) * (last - first) / (W - 1)) / rate
        for f in (3.0, 29.0):
            y = r.to_model_rate(np.sin(2 * np.pi * f * t)[None], W)[0]
            assert np.abs(y - np.sin(2 * np.pi * f * tt)).max() < 0.005, (rate, half_periods, f)


@pytest.mark.parametrize(
    "rate, expected", [(256.0, 3), (250.5, 3), (200.0, 3), (512.0, 3), (2048.0, 3), (173.61, 4), (128.0, 5), (100.0, 9)]
)
def test_the_short_filter_is_the_shortest_as_flat_to_40_hz(rate, expected):
    """``signal.resample_filter = "short"``: the fewest half periods whose gain from 0.5 to 40 Hz stays within
    0.25 % of 1 (the training's filter is within 0.14-0.20 %); one fewer is not that flat; 250 Hz needs none."""
    from scipy.signal import firwin, freqz

    from realtime.preprocess import half_periods_for

    assert short_half_periods(rate) == half_periods_for("short", rate) == expected
    assert half_periods_for("training", rate) == 10
    r = Resampler(rate, 250.0, expected)
    freqs = np.linspace(0.5, 40.0, 512)  # as short_half_periods looks
    for k, flat in ((expected, True), (expected - 1, False)):
        m = max(r.up, r.down)
        _, h = freqz(firwin(2 * k * m + 1, 1.0 / m, window=("kaiser", 5.0)), worN=freqs, fs=rate * r.up)
        assert bool(np.abs(np.abs(h) - 1).max() <= 0.0025) is flat, (rate, k)
    assert short_half_periods(250.0) == 10  # no resampling: no filter
    with pytest.raises(ValueError, match=r"resample_filter must be one of \('training', 'short'\), got 'fast'"):
        half_periods_for("fast", 256.0)


@pytest.mark.parametrize("half_periods", [0, -3, 2.5, 3.0, True, "3", None])
def test_bad_half_periods_are_refused_quoting_the_value(half_periods):
    with pytest.raises(
        (ValueError, TypeError), match="half_periods must be an integer >= 1, got " + re.escape(repr(half_periods))
    ):
        Resampler(256.0, 250.0, half_periods)
