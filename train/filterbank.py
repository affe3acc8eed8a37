"""FIR band-pass filter bank (scipy.signal.firwin) as frozen Conv1D kernel weights."""

from __future__ import annotations

import itertools

import numpy as np
from scipy import signal


def band_centres_hz(band_edges_hz) -> np.ndarray:
    """Geometric centre of each band. ``band_edges_hz`` [n_bands + 1] -> [n_bands]."""
    e = np.asarray(band_edges_hz, dtype=float)
    return np.sqrt(e[:-1] * e[1:])


def design_filterbank(band_edges_hz, taps: int, fs_hz: float, window: str = "hamming") -> np.ndarray:
    """Band-pass FIR filters, one per pair of consecutive edges.

    Returns float64 ``[taps, 1, n_bands]``: a Conv1D kernel (kernel_size, in_channels, filters).
    Each filter is normalised to unit gain at its band's geometric centre.
    """
    edges = [float(e) for e in band_edges_hz]
    if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)) or edges[0] <= 0:
        raise ValueError(f"band_edges_hz must be increasing and positive, got {band_edges_hz!r}")
    if taps < 3 or taps % 2 == 0:
        raise ValueError(f"taps must be an odd integer >= 3, got {taps!r}")
    if edges[-1] >= fs_hz / 2:
        raise ValueError(f"highest band edge {edges[-1]!r} Hz must be below Nyquist ({fs_hz / 2!r} Hz)")
    centres = band_centres_hz(edges)
    kernel = np.empty((taps, 1, len(edges) - 1), dtype=np.float64)
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        h = signal.firwin(taps, [lo, hi], pass_zero=False, window=window, fs=fs_hz)
        _, resp = signal.freqz(h, worN=[centres[i]], fs=fs_hz)
        h = h / np.abs(resp[0])
        # Conv1D is a cross-correlation: flip so the layer applies the convolution with h
        # (h is symmetric for odd-length linear-phase firwin designs, so this changes nothing).
        kernel[:, 0, i] = h[::-1]
    return kernel
