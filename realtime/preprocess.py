"""Units to microvolts, and polyphase resampling of the newest window to the model rate. Pure.

Units
-----
:func:`unit_scale_to_uv` maps a unit string from LSL channel metadata or an EDF header to the factor
that converts it to µV: ``V``/``volts``, ``mV``/``millivolts``, ``uV``/``µV``/``μV``/``microvolts``,
``nV``/``nanovolts`` (case-insensitive, except that ``MV`` is not read as megavolts), and mne-lsl's
powers of ten: ``"0"`` = V, ``"-3"`` = mV, ``"-6"`` = µV, ``"-9"`` = nV (any integer exponent from
-12 to 3). An unknown unit raises :class:`UnitError` quoting it. An *empty* unit (many LSL
streams send none) is assumed to be µV: :func:`resolve_unit` returns ``assumed=True`` and logs a
warning, so callers can expose the assumption (the pipeline lists such channels in
``Pipeline.assumed_uv_channels``).

Resampling
----------
:class:`Resampler` uses ``scipy.signal.resample_poly`` with ``up/down`` from
``Fraction(model/native).limit_denominator(2000)`` (exact for 100, 128, 200, 250, 256, 500, 512,
1000, 2048 Hz; 173.61 Hz becomes 36/25, a 6e-6 rate error). resample_poly's FIR is zero-phase, so
its outputs within half a filter length of either end see padding instead of signal. The resampler
asks for a margin on both sides (:meth:`Resampler.native_samples_needed`) and returns only outputs
whose whole filter support lies inside the input: the window is clean, at the price of ending a few
tens of milliseconds (``Resampler.end_delay_s``) before the newest sample.

The filter is resample_poly's default, ``firwin(2 * half_len + 1, 1 / max(up, down), window=("kaiser", 5.0))``
with ``half_len = half_periods * max(up, down)`` taps at the up-sampled rate and ``half_periods`` 10: its half
length is 10 periods of the lower of the two rates, so the window ends ``half_periods / min(native, model)``
seconds before the newest sample (40 ms at 256 Hz to 250 Hz). The training's records were resampled with it, so
it gives the network's inputs exactly (``signal.resample_filter = "training"``). ``"short"``
(:func:`short_half_periods`) takes the same design with the fewest half periods whose gain stays within
:data:`SHORT_FLAT_TOLERANCE` of 1 from 0.5 Hz to :data:`SHORT_FLAT_TO_HZ` (the top of the network's filter bank):
3 at 200-2048 Hz (12-15 ms instead of 40-50), 4 at 160 and 173.61 Hz, 5 at 128 Hz, 9 at 100 Hz.

Only those clean outputs are kept, so the resampler applies resample_poly's linear map restricted to
them: a sparse ``[window_samples, n_native]`` matrix (about 20 taps per output at 256 Hz), made once per
rate and window length from resample_poly's own responses to unit impulses and shared by every bed of
that rate. One sparse product per window is 1.7-2x faster than resample_poly on the 23 channels of a
256 Hz window, which also filters the margins it throws away (``benchmarks/bench_realtime.py``), with
the same outputs (bit for bit in the tests, at every rate they try: 100 to 1000 Hz).
"""

from __future__ import annotations

import functools
import logging
import math
from fractions import Fraction

import numpy as np
from scipy import sparse
from scipy.signal import firwin, freqz, resample_poly

from realtime.config import RESAMPLE_FILTERS

log = logging.getLogger(__name__)

MIN_NATIVE_RATE_HZ = 100.0
MAX_NATIVE_RATE_HZ = 100_000.0  # above any EEG amplifier's: a header or stream that says more is wrong
RESAMPLE_HALF_PERIODS = 10  # resample_poly's default filter: half_len = 10 * max(up, down)
SHORT_FLAT_TO_HZ = 40.0  # the top of the network's filter bank (train/hparams.py FilterBankHP.band_edges_hz)
SHORT_FLAT_TOLERANCE = 0.0025  # the default filter's own ripple to 40 Hz is 0.14-0.20 % at 100-256 Hz

_UNIT_SCALES_UV = {
    "v": 1e6,
    "volt": 1e6,
    "volts": 1e6,
    "mv": 1e3,
    "millivolt": 1e3,
    "millivolts": 1e3,
    "uv": 1.0,
    "µv": 1.0,
    "μv": 1.0,
    "microvolt": 1.0,
    "microvolts": 1.0,
    "nv": 1e-3,
    "nanovolt": 1e-3,
    "nanovolts": 1e-3,
}


class UnitError(ValueError):
    """A channel unit that cannot be converted to microvolts."""


def unit_scale_to_uv(unit: str) -> float:
    """Factor converting values in ``unit`` to µV; raises :class:`UnitError` for unknown/empty units."""
    if not isinstance(unit, str):
        raise UnitError(f"channel unit must be a string, got {unit!r}")
    text = unit.strip()
    if text == "MV":
        raise UnitError(f"unit {unit!r} reads as megavolts, which is not an EEG unit; use 'mV' for millivolts")
    key = text.lower()
    if key in _UNIT_SCALES_UV:
        return _UNIT_SCALES_UV[key]
    try:
        exponent = int(key)  # mne-lsl writes units as powers of ten of volts
    except ValueError:
        exponent = None
    if exponent is not None and -12 <= exponent <= 3:
        return 10.0 ** (exponent + 6)
    raise UnitError(
        f"unknown channel unit {unit!r}: expected V, mV, uV/µV, nV (or volts, millivolts, microvolts) or a "
        f"power of ten of volts like '-6'"
    )


def resolve_unit(unit: str | None, channel: str = "") -> tuple[float, bool]:
    """``(scale to µV, assumed)``: an empty/missing unit is assumed µV (``assumed=True``, warning logged)."""
    if unit is None or (isinstance(unit, str) and unit.strip() == ""):
        log.warning("channel %r has no unit; assuming microvolts", channel)
        return 1.0, True
    try:
        return unit_scale_to_uv(unit), False
    except UnitError as exc:
        if channel:
            raise UnitError(f"channel {channel!r}: {exc}") from None
        raise


def resample_fraction(native_rate_hz: float, model_rate_hz: float, max_denominator: int = 2000) -> tuple[int, int]:
    """``(up, down)`` with ``native * up / down`` ~= ``model`` (limit_denominator(max_denominator))."""
    frac = Fraction(model_rate_hz / native_rate_hz).limit_denominator(max_denominator)
    return frac.numerator, frac.denominator


def check_native_rate_hz(rate_hz: float) -> float:
    """``rate_hz`` as a float if a stream or recording may be sampled at it (:data:`MIN_NATIVE_RATE_HZ` to
    :data:`MAX_NATIVE_RATE_HZ`); a ValueError quoting it otherwise."""
    rate = float(rate_hz)
    if math.isnan(rate) or rate < MIN_NATIVE_RATE_HZ:
        raise ValueError(
            f"sampling rate {rate_hz!r} Hz is below the supported minimum of "
            f"{MIN_NATIVE_RATE_HZ:g} Hz (EEG for this model must be sampled at >= 100 Hz)"
        )
    if rate > MAX_NATIVE_RATE_HZ:
        raise ValueError(
            f"sampling rate {rate_hz!r} Hz is above the supported maximum of {MAX_NATIVE_RATE_HZ:g} Hz (no EEG "
            "amplifier samples this fast: a wrong rate in the header or the stream)"
        )
    return rate


class Resampler:
    """Polyphase resampling of the newest native-rate window to ``window_samples`` at the model rate, with
    resample_poly's filter design at ``half_periods`` periods of the lower rate each side (its default: 10)."""

    def __init__(self, native_rate_hz: float, model_rate_hz: float = 250.0, half_periods: int = RESAMPLE_HALF_PERIODS):
        native_rate_hz, model_rate_hz = check_native_rate_hz(native_rate_hz), float(model_rate_hz)
        if not math.isfinite(model_rate_hz) or model_rate_hz <= 0:
            raise ValueError(f"model rate must be a positive number, got {model_rate_hz!r}")
        if isinstance(half_periods, bool) or not isinstance(half_periods, (int, np.integer)) or half_periods < 1:
            raise ValueError(f"half_periods must be an integer >= 1, got {half_periods!r}")
        self.half_periods = int(half_periods)
        self.native_rate_hz = native_rate_hz
        self.model_rate_hz = model_rate_hz
        self.up, self.down = resample_fraction(native_rate_hz, model_rate_hz)
        # resample_poly's filter design: firwin(2 * half_len + 1) with half_len = half_periods * max(up, down)
        # taps at the up-sampled rate (its default: 10 periods). Identity ratios skip filtering altogether.
        self.half_len = 0 if self.up == self.down == 1 else self.half_periods * max(self.up, self.down)
        # ... designed once here, as resample_poly would on every call (firwin with its default Kaiser window,
        # beta 5): handed over as the filter, the output is the same, and the design (a third of the
        # resampling's time, one call per window) is not repeated for every window of every bed
        self._fir = (
            None
            if self.half_len == 0
            else firwin(2 * self.half_len + 1, 1.0 / max(self.up, self.down), window=("kaiser", 5.0))
        )
        self.effective_model_rate_hz = native_rate_hz * self.up / self.down

    def _clean_range(self, n_native: int) -> tuple[int, int]:
        """First and one-past-last output index whose filter support lies inside ``n_native`` inputs."""
        first = -(-self.half_len // self.down)  # ceil
        last = ((n_native - 1) * self.up - self.half_len) // self.down
        return first, last + 1

    def native_samples_needed(self, window_samples: int) -> int:
        """Native samples to hand :meth:`to_model_rate` for ``window_samples`` clean outputs."""
        n = math.ceil(((window_samples - 1) * self.down + 2 * self.half_len) / self.up) + 1
        while True:
            first, stop = self._clean_range(n)
            if stop - first >= window_samples:
                return n
            n += 1

    def window_positions(self, window_samples: int) -> tuple[float, float]:
        """Native sample positions (fractional indices into an input of exactly
        ``native_samples_needed(window_samples)`` samples) of the first and last output sample that
        :meth:`to_model_rate` returns."""
        _, stop = self._clean_range(self.native_samples_needed(window_samples))
        first_out = stop - window_samples
        return first_out * self.down / self.up, (stop - 1) * self.down / self.up

    @property
    def end_delay_s(self) -> float:
        """How far the last clean output lies before the newest input sample, at most (seconds)."""
        return self.half_len / self.up / self.native_rate_hz

    def prepare(self, window_samples: int) -> None:
        """Make the resampling matrix for ``window_samples`` now (0.04 s at 256 Hz, 1.5 s at 2048 Hz,
        once per rate), not at the first window."""
        if not self.up == self.down == 1:
            _clean_outputs_matrix(self.native_rate_hz, self.model_rate_hz, int(window_samples), self.half_periods)

    def to_model_rate(self, x: np.ndarray, window_samples: int) -> np.ndarray:
        """``x [n_channels, n_native]`` -> the newest clean ``[n_channels, window_samples]`` at the model rate.

        ``n_native`` must be at least :meth:`native_samples_needed`; extra older samples are ignored.
        """
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"expected [n_channels, n_native], got shape {x.shape}")
        need = self.native_samples_needed(window_samples)
        if x.shape[1] < need:
            raise ValueError(
                f"need at least {need} native samples for {window_samples} clean samples at "
                f"{self.model_rate_hz:g} Hz from {self.native_rate_hz:g} Hz, got {x.shape[1]}"
            )
        x = x[:, x.shape[1] - need :]
        if self.up == self.down == 1:
            return np.array(x[:, need - window_samples :], dtype=np.float64)
        matrix = _clean_outputs_matrix(self.native_rate_hz, self.model_rate_hz, int(window_samples), self.half_periods)
        return np.ascontiguousarray((matrix @ x.T.astype(np.float64, copy=False)).T)

    def to_model_rate_filtered(self, x: np.ndarray, window_samples: int) -> np.ndarray:
        """:meth:`to_model_rate` the way resample_poly is called: the whole input filtered, margins
        included, then cut. The reference for the sparse product's outputs (tests, benchmarks)."""
        need = self.native_samples_needed(window_samples)
        x = np.asarray(x, dtype=np.float64)[:, -need:]
        if self.up == self.down == 1:
            return np.array(x[:, need - window_samples :])
        y = resample_poly(x, self.up, self.down, axis=1, window=self._fir)
        _, stop = self._clean_range(need)
        return y[:, stop - window_samples : stop]


@functools.lru_cache(maxsize=64)
def short_half_periods(native_rate_hz: float, model_rate_hz: float = 250.0) -> int:
    """The fewest half periods (1 to :data:`RESAMPLE_HALF_PERIODS`) of resample_poly's filter design for this pair of
    rates whose gain stays within :data:`SHORT_FLAT_TOLERANCE` of 1 from 0.5 Hz to :data:`SHORT_FLAT_TO_HZ` (or the
    lower Nyquist frequency, if that is lower); the default's 10 where none is."""
    up, down = resample_fraction(check_native_rate_hz(native_rate_hz), float(model_rate_hz))
    if up == down == 1:
        return RESAMPLE_HALF_PERIODS
    m = max(up, down)
    top = min(SHORT_FLAT_TO_HZ, 0.45 * min(float(native_rate_hz), float(model_rate_hz)))
    freqs = np.linspace(0.5, top, 512)
    for k in range(1, RESAMPLE_HALF_PERIODS):
        fir = firwin(2 * k * m + 1, 1.0 / m, window=("kaiser", 5.0))
        _, response = freqz(fir, worN=freqs, fs=float(native_rate_hz) * up)
        if np.abs(np.abs(response) - 1.0).max() <= SHORT_FLAT_TOLERANCE:
            return k
    return RESAMPLE_HALF_PERIODS


def half_periods_for(resample_filter: str, native_rate_hz: float, model_rate_hz: float = 250.0) -> int:
    """``signal.resample_filter`` -> the :class:`Resampler`'s ``half_periods`` at these rates."""
    if resample_filter == "training":
        return RESAMPLE_HALF_PERIODS
    if resample_filter == "short":
        return short_half_periods(native_rate_hz, model_rate_hz)
    raise ValueError(f"resample_filter must be one of {RESAMPLE_FILTERS}, got {resample_filter!r}")


@functools.lru_cache(maxsize=16)
def _clean_outputs_matrix(
    native_rate_hz: float, model_rate_hz: float, window_samples: int, half_periods: int
) -> sparse.csr_matrix:
    """``[window_samples, n_native]`` CSR matrix ``M`` with ``to_model_rate(x) = (M @ x.T).T`` for the
    newest ``n_native = native_samples_needed(window_samples)`` samples: resample_poly's map restricted to
    the clean outputs, read off its responses to unit impulses (a few hundred at a time: no dense matrix)."""
    rs = Resampler(native_rate_hz, model_rate_hz, half_periods)
    need = rs.native_samples_needed(window_samples)
    _, stop = rs._clean_range(need)
    rows, cols, values = [], [], []
    for first in range(0, need, 256):
        n = min(256, need - first)
        impulses = np.zeros((n, need))
        impulses[np.arange(n), first + np.arange(n)] = 1.0
        response = resample_poly(impulses, rs.up, rs.down, axis=1, window=rs._fir)[:, stop - window_samples : stop]
        k, j = np.nonzero(response)  # input k + first reaches output j
        rows.append(j)
        cols.append(k + first)
        values.append(response[k, j])
    matrix = sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(window_samples, need)
    )
    matrix.sort_indices()
    return matrix
