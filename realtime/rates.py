"""Alarm rates with their uncertainty: how many alarms per hour, and how sure. Pure (scipy.stats).

A false-alarm figure from a few hours of EEG is a count of rare events: 0 alarms in 5 h does not mean a
rate of 0 per hour. :func:`poisson_interval` gives the exact (Garwood) interval that goes with a count, used by
offline scoring's summary (``realtime-detect --file``) and the evaluation (``evaluation.background``).
"""

from __future__ import annotations

from scipy import stats


def poisson_interval(k: int, exposure: float, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided (Garwood) interval for a Poisson rate: ``k`` events in ``exposure`` (e.g. hours).

    ``(chi2.ppf(a/2, 2k) / 2, chi2.ppf(1 - a/2, 2k + 2) / 2) / exposure``, lower 0 when ``k == 0``
    (0 in 1 h: 0 to 3.689; 1 in 1 h: 0.0253 to 5.572).
    """
    if int(k) != k or k < 0:
        raise ValueError(f"k must be a whole number >= 0, got {k!r}")
    if not exposure > 0:
        raise ValueError(f"exposure must be > 0, got {exposure!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    alpha = 1.0 - confidence
    lo = float(stats.chi2.ppf(alpha / 2, 2 * k)) / 2 if k > 0 else 0.0
    hi = float(stats.chi2.ppf(1 - alpha / 2, 2 * k + 2)) / 2
    return lo / exposure, hi / exposure
