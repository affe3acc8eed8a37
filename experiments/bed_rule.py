"""The bed rule for channels that err together: the correlation of exceedances between channels, measured on
real EEG, and whether a beta-binomial channel count with it describes persons it was not fitted on.

    python -m experiments.bed_rule SCORES [--export realtime/models/default] [--json OUT] [--write-card EXPORT]

``SCORES``: per-window channel probabilities of the background corpus as ``python -m evaluation.background
--save-scores`` writes them (``SCORES/*.npz`` with ``channel_probs [windows, channels]``, NaN = left out; e.g.
``DIR/network/as_recorded-x3`` after ``--gain 3``; needs ../shared/data to make). The pre-registered rules
(docs/background.md "A bed rule for channels that err together"):

- eegmmidb persons in sorted order, the 1st, 3rd, ... are set A, the others set B (Sleep-EDF is not used);
- on A: p = sum K / sum n and rho = (sum K(K-1) / sum n(n-1) - p^2) / (p (1 - p)) over every window (K: its
  channels at or above ``on_threshold``, n: its usable channels), the moment estimator of the pairwise correlation;
- ``bed_false_rate`` = P[BetaBinomial(19, the card's ``channel_false_rate``, rho) >= 3], rounded up to two
  significant digits: the rate of the shipped "3 of 19", kept for every other channel count;
- gate 1, on B: random subsets of n = 2, 4, 8, 12, 16 channels (10 draws per file, seed 0) and all 19; for every
  (n, k = 2, 3, 4) with at least 10 windows at or above k, the beta-binomial's P[K >= k] (p, rho from A) within
  0.5-2x of the observed rate;
- k(n) for n = 1-128, today's rule against the new one: where they differ, gate 2 (seizures) must be rerun.

Prints the tables, writes JSON; ``--write-card EXPORT`` writes ``channel_correlation`` and ``bed_false_rate`` into
EXPORT's ``settings.decision`` (for the gates' export, and for the shipped card if they hold).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from realtime.decision import binomial_k, channels_at_or_above

REPO = Path(__file__).resolve().parents[1]
SUBSET_SIZES = (2, 4, 8, 12, 16)
DRAWS = 10
KS = (2, 3, 4)
ANCHOR_N, ANCHOR_K = 19, 3
MIN_EVENTS = 10


def person_of(path: Path) -> str | None:
    """The eegmmidb person of a saved-scores file (``eegmmidb_S001R03.edf.npz`` -> ``S001``); None otherwise."""
    m = re.match(r"eegmmidb_(S\d{3})R\d{2}", path.name)
    return m.group(1) if m else None


def load_scores(folder: Path) -> dict[str, list[np.ndarray]]:
    """Person -> their files' ``channel_probs [windows, channels]`` (eegmmidb only)."""
    out: dict[str, list[np.ndarray]] = {}
    for path in sorted(folder.glob("*.npz")):
        person = person_of(path)
        if person is not None:
            out.setdefault(person, []).append(np.load(path)["channel_probs"].astype(np.float64))
    if not out:
        raise ValueError(f"no eegmmidb scores (eegmmidb_SnnnRnn*.npz) under {str(folder)!r}")
    return out


def split_persons(persons: Sequence[str]) -> tuple[list[str], list[str]]:
    """Sorted persons: the 1st, 3rd, ... (set A) and the 2nd, 4th, ... (set B)."""
    ordered = sorted(persons)
    return ordered[0::2], ordered[1::2]


def counts(probs: np.ndarray, on: float) -> tuple[np.ndarray, np.ndarray]:
    """``probs [windows, channels]`` -> (K, n) per window: channels at or above ``on``, usable channels."""
    usable = np.isfinite(probs)
    return (np.where(usable, probs, -1.0) >= on).sum(axis=1), usable.sum(axis=1)


def fit(arrays: Sequence[np.ndarray], on: float) -> dict[str, float]:
    """The moment estimates over every window of ``arrays``: ``p`` and the pairwise correlation ``rho``."""
    k_all, n_all = (np.concatenate(x) for x in zip(*(counts(a, on) for a in arrays), strict=True))
    k_all, n_all = k_all.astype(np.float64), n_all.astype(np.float64)
    p = float(k_all.sum() / n_all.sum())
    pairs = float((k_all * (k_all - 1)).sum() / (n_all * (n_all - 1)).sum())
    rho = (pairs - p * p) / (p * (1 - p)) if 0 < p < 1 else math.nan
    return {"p": p, "rho": rho, "windows": int(k_all.size), "channel_windows": int(n_all.sum())}


def subset_counts(arrays: Sequence[np.ndarray], n: int, on: float, rng: np.random.Generator) -> np.ndarray:
    """K per window for random subsets of ``n`` of each file's channels (``DRAWS`` draws per file; all channels,
    once, when ``n`` is their number); windows where a drawn channel is left out are not counted."""
    out = []
    for a in arrays:
        c = a.shape[1]
        draws = [np.arange(c)] if n >= c else [rng.choice(c, size=n, replace=False) for _ in range(DRAWS)]
        for cols in draws:
            sub = a[:, cols]
            full = np.isfinite(sub).all(axis=1)
            out.append((sub[full] >= on).sum(axis=1))
    return np.concatenate(out) if out else np.zeros(0, dtype=int)


def round_up(x: float, digits: int = 2) -> float:
    """``x`` rounded up to ``digits`` significant digits."""
    if x <= 0:
        return x
    scale = 10 ** (math.floor(math.log10(x)) - digits + 1)
    return float(f"{math.ceil(x / scale - 1e-9) * scale:.{digits}g}")


def analyse(
    scores: dict[str, list[np.ndarray]],
    on: float,
    card_rate: float,
    k_min: int,
    bed_rate: float,
    rho_today: float = 0.0,
) -> dict:
    """Everything the pre-registration asks, from the scores alone (pure): the fit on A, the anchored rate, gate 1 on
    B, the bed rates of today's rule (``bed_rate``, ``rho_today``) and the new one on B, and k(n) for n = 1-128
    under both."""
    set_a, set_b = split_persons(list(scores))
    fitted = fit([x for p in set_a for x in scores[p]], on)
    rho = max(0.0, float(f"{fitted['rho']:.3g}"))  # below 0 (fewer pairs than independent): the binomial
    anchored = round_up(float(channels_at_or_above(ANCHOR_K, ANCHOR_N, card_rate, rho)))
    rng = np.random.default_rng(0)
    b_arrays = [x for p in set_b for x in scores[p]]
    n_channels = int(min(a.shape[1] for a in b_arrays))
    cells, bed = [], []
    for n in (*SUBSET_SIZES, n_channels):
        k_w = subset_counts(b_arrays, n, on, rng)
        for k in KS:
            hits = int((k_w >= k).sum())
            rate = hits / k_w.size
            beta = float(channels_at_or_above(k, n, fitted["p"], rho))
            binomial = float(channels_at_or_above(k, n, fitted["p"]))
            cells.append(
                {
                    "n": n,
                    "k": k,
                    "windows": int(k_w.size),
                    "at_or_above": hits,
                    "observed": rate,
                    "beta_binomial": beta,
                    "binomial": binomial,
                    "ratio": beta / rate if hits else None,
                    "gated": hits >= MIN_EVENTS,
                    "holds": (0.5 <= beta / rate <= 2.0) if hits >= MIN_EVENTS else None,
                }
            )
        k_today = binomial_k(n, k_min, card_rate, bed_rate, rho_today)
        k_new = binomial_k(n, k_min, card_rate, anchored, rho)
        bed.append(
            {
                "n": n,
                "k_today": k_today,
                "rate_today": float((k_w >= k_today).mean()),
                "k_new": k_new,
                "rate_new": float((k_w >= k_new).mean()),
                "windows": int(k_w.size),
            }
        )
    ks = {
        n: (binomial_k(n, k_min, card_rate, bed_rate, rho_today), binomial_k(n, k_min, card_rate, anchored, rho))
        for n in range(1, 129)
    }
    gated = [c for c in cells if c["gated"]]
    return {
        "persons": {"A": set_a, "B": set_b},
        "on_threshold": on,
        "fit_A": fitted,
        "channel_correlation": rho,
        "channel_false_rate": card_rate,
        "bed_false_rate_today": bed_rate,
        "channel_correlation_today": rho_today,
        "bed_false_rate": anchored,
        "gate1": {"cells": cells, "holds": bool(gated) and all(c["holds"] for c in gated), "gated_cells": len(gated)},
        "bed_rates_B": bed,
        "k": {str(n): {"today": a, "new": b} for n, (a, b) in ks.items()},
        "k_changed": [n for n, (a, b) in ks.items() if a != b],
    }


def table(result: dict) -> str:
    """The result as Markdown tables."""
    f = result["fit_A"]
    lines = [
        f"Set A ({len(result['persons']['A'])} persons, {f['windows']} windows): p = {f['p']:.3g}, "
        f"rho = {result['channel_correlation']:.3g}; bed_false_rate = P[BB(19, {result['channel_false_rate']:g}, "
        f"rho) >= 3] rounded up = {result['bed_false_rate']:.2g} (today {result['bed_false_rate_today']:g})",
        "",
        "Gate 1, set B: observed P[K >= k] against the beta-binomial (p, rho from A) and the binomial",
        "",
        "| n | k | windows | at or above | observed | beta-binomial | ratio | binomial | gated |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in result["gate1"]["cells"]:
        ratio = "" if c["ratio"] is None else f"{c['ratio']:.2f}"
        gated = "holds" if c["holds"] else ("fails" if c["gated"] else f"< {MIN_EVENTS}")
        lines.append(
            f"| {c['n']} | {c['k']} | {c['windows']} | {c['at_or_above']} | {c['observed']:.2e} | "
            f"{c['beta_binomial']:.2e} | {ratio} | {c['binomial']:.2e} | {gated} |"
        )
    lines += [
        "",
        f"Gate 1: {'holds' if result['gate1']['holds'] else 'FAILS'} ({result['gate1']['gated_cells']} cells gated)",
        "",
        "The bed's rate on set B, today's rule and the new one",
        "",
        "| n | k today | rate today | k new | rate new |",
        "|---|---|---|---|---|",
    ]
    for b in result["bed_rates_B"]:
        lines.append(f"| {b['n']} | {b['k_today']} | {b['rate_today']:.2e} | {b['k_new']} | {b['rate_new']:.2e} |")
    changed = result["k_changed"]
    lines += [
        "",
        "k(n) where the new rule differs from today's: "
        + (
            ", ".join(f"{n}: {result['k'][str(n)]['today']} -> {result['k'][str(n)]['new']}" for n in changed)
            if changed
            else "nowhere"
        ),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.bed_rule", description=__doc__.split("\n\n")[0])
    ap.add_argument("scores", help="a folder of saved scores (python -m evaluation.background --save-scores)")
    ap.add_argument(
        "--export",
        default=str(REPO / "realtime" / "models" / "default"),
        help="the model whose card's rule is today's (its channel_false_rate, on_threshold, k_channels)",
    )
    ap.add_argument("--json", default=None, help="write the result here")
    ap.add_argument("--write-card", default=None, metavar="EXPORT", help="write rho and bed_false_rate into EXPORT")
    args = ap.parse_args(argv)
    from realtime.config import DecisionConfig, apply_model_settings, load_config
    from realtime.model import read_card

    card = read_card(Path(args.export))
    config = apply_model_settings(load_config(None), card.get("settings"))[0]
    d: DecisionConfig = config.decision
    try:
        result = analyse(
            load_scores(Path(args.scores)),
            d.on_threshold,
            d.channel_false_rate,
            d.k_channels,
            d.bed_false_rate,
            d.channel_correlation,
        )
    except (OSError, ValueError) as exc:
        print(f"python -m experiments.bed_rule: {exc}", file=sys.stderr)
        return 2
    result["scores"] = str(args.scores)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.write_card:
        from evaluation.model_settings import derived_by, write_optional_setting

        command = derived_by(f"python -m experiments.bed_rule {args.scores}")
        write_optional_setting(
            args.write_card, "decision", "channel_correlation", result["channel_correlation"], command
        )
        write_optional_setting(args.write_card, "decision", "bed_false_rate", result["bed_false_rate"], command)
        print(f"wrote channel_correlation and bed_false_rate into {args.write_card}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
