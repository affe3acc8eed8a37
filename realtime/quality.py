"""Which windows of a channel are not EEG the network may score: the rule the daemon applies to every window and
training applies to every example (one rule, so the network is trained on what it will be shown). Pure.

A window is left out when it has a NaN/inf sample (``"non-finite"``), is a flat line (standard deviation below
:data:`FLAT_STD_UV`: ``"flat"``), is clipped (at least :data:`RAIL_FRACTION` of its samples sit exactly at the
window's minimum or maximum: ``"railed"``) or varies more than EEG in µV can (standard deviation above
:data:`MAX_STD_UV`: ``"implausible"``: a wrong unit, an electrode off the skin), checked in that order.
"""

from __future__ import annotations

import numpy as np

FLAT_STD_UV = 0.1
RAIL_FRACTION = 0.1
# About 3x the largest 4.096-s window standard deviation in the training data (705 µV, a Bonn
# intracranial seizure); scalp EEG, seizures included, stays within a few hundred µV. A broken or
# lifted electrode on real hospital EEG reached 3400 µV: scored, it reads as seizure on every
# derivation that uses it (two in the double banana, enough for a 2-of-n alarm). The network was
# never shown anything near this; leaving the channel out (and saying so) is safer.
MAX_STD_UV = 2000.0


def channel_quality(
    x: np.ndarray,
    *,
    flat_std_uv: float = FLAT_STD_UV,
    rail_fraction: float = RAIL_FRACTION,
    max_std_uv: float = MAX_STD_UV,
    at_rails: np.ndarray | None = None,
) -> tuple[list[str | None], np.ndarray]:
    """Per row of ``x [n_channels, n_samples]`` (µV): ``None`` when usable, else why not (``"non-finite"``,
    ``"flat"``, ``"railed"``, ``"implausible"``, checked in that order); and the rows' standard deviations
    ``[n_channels]`` (µV), which the amplitude monitor reuses.

    ``at_rails [n_channels]``: each row's count of clipped samples, where it was counted before ``x`` was
    resampled (training: ``train.datasets.records.rail_mask``; a clipped stretch rings after resampling);
    None: the samples of ``x`` at its own minimum or maximum."""
    finite = np.isfinite(x).all(axis=1)
    with np.errstate(invalid="ignore"):
        std = x.std(axis=1)
        if at_rails is None:
            lo, hi = x.min(axis=1), x.max(axis=1)
            at_rails = np.count_nonzero((x == lo[:, None]) | (x == hi[:, None]), axis=1)
    reasons: list[str | None] = []
    for i in range(x.shape[0]):
        if not finite[i]:
            reasons.append("non-finite")
        elif std[i] < flat_std_uv:
            reasons.append("flat")
        elif at_rails[i] >= rail_fraction * x.shape[1]:
            reasons.append("railed")
        elif std[i] > max_std_uv:
            reasons.append("implausible")
        else:
            reasons.append(None)
    return reasons, std
