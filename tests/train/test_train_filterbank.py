"""The FIR band-pass bank: frequency response per band, and argument errors."""

import numpy as np
import pytest
from scipy import signal

from train.filterbank import band_centres_hz, design_filterbank


@pytest.mark.parametrize(
    "edges,taps,fs",
    [
        ([1.5, 3.0, 6.0, 12.0, 24.0, 40.0], 511, 500.0),
        ([4.0, 12.0, 40.0], 255, 500.0),
        ([1.5, 4.0, 8.0, 13.0, 30.0], 255, 250.0),
    ],
)
def test_each_band_passes_its_centre_and_rejects_the_others(edges, taps, fs):
    kernel = design_filterbank(edges, taps, fs)
    assert kernel.shape == (taps, 1, len(edges) - 1)
    centres = band_centres_hz(edges)
    for i in range(kernel.shape[2]):
        h = kernel[::-1, 0, i]
        _, resp = signal.freqz(h, worN=centres, fs=fs)
        gain = np.abs(resp)
        assert gain[i] == pytest.approx(1.0, abs=1e-9)  # normalised at its own centre
        others = np.delete(gain, i)
        assert np.all(others < 0.15), (i, gain)
        # DC and the images of up-sampling (near Nyquist) are rejected too
        _, r2 = signal.freqz(h, worN=[0.0, fs / 2 - centres[-1]], fs=fs)
        assert np.all(np.abs(r2) < 0.05), (i, np.abs(r2))


def test_default_bank_is_linear_phase():
    k = design_filterbank([1.5, 3.0, 6.0, 12.0, 24.0, 40.0], 511, 500.0)
    np.testing.assert_allclose(k, k[::-1], atol=1e-15)


@pytest.mark.parametrize(
    "edges,taps,fs,quoted",
    [([3.0, 1.5], 63, 250.0, "[3.0, 1.5]"), ([1.5, 3.0], 64, 250.0, "64"), ([1.5, 130.0], 63, 250.0, "130.0")],
)
def test_bad_arguments_are_quoted(edges, taps, fs, quoted):
    with pytest.raises(ValueError, match=quoted.replace("[", r"\[").replace("]", r"\]")):
        design_filterbank(edges, taps, fs)
