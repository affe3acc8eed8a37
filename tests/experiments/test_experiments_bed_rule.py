"""experiments.bed_rule: the correlation of channels' exceedances, fitted on half the persons and checked on the
other half, on saved scores made here (channels that err together, drawn as a beta-binomial count)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from experiments.bed_rule import analyse, fit, load_scores, main, round_up, split_persons
from realtime.decision import binomial_k
from realtime.model import read_card

ON = 0.6


def scores(rng: np.random.Generator, windows: int, channels: int, p: float, rho: float) -> np.ndarray:
    """``[windows, channels]`` probabilities; each window draws q ~ Beta (mean p, correlation rho), each channel
    reaches ON with probability q (rho 0: independent)."""
    q = rng.beta(p * (1 / rho - 1), (1 - p) * (1 / rho - 1), (windows, 1)) if rho else np.full((windows, 1), p)
    return np.where(rng.random((windows, channels)) < q, rng.uniform(ON, 1, (windows, channels)), ON / 3)


def corpus(tmp_path, p: float, rho: float):
    rng = np.random.default_rng(7)
    for person in range(1, 11):
        for run in (1, 2):
            probs = scores(rng, 400, 19, p, rho)
            probs[:5, 3] = np.nan  # a channel left out of a few windows: not counted there
            np.savez(tmp_path / f"eegmmidb_S{person:03d}R{run:02d}.edf.npz", channel_probs=probs)
    np.savez(tmp_path / "sleep-edf_SC4012E0-PSG.edf.npz", channel_probs=np.ones((10, 2)))  # not used
    return tmp_path


def test_persons_split_alternately_and_sleep_edf_is_left_out(tmp_path):
    loaded = load_scores(corpus(tmp_path, 0.05, 0.1))
    assert sorted(loaded) == [f"S{i:03d}" for i in range(1, 11)] and all(len(v) == 2 for v in loaded.values())
    assert split_persons(["S003", "S001", "S002"]) == (["S001", "S003"], ["S002"])
    with pytest.raises(ValueError, match="no eegmmidb scores"):
        load_scores(tmp_path / "nowhere")
    assert round_up(1.0123e-3) == 1.1e-3 and round_up(1.1e-3) == 1.1e-3


@pytest.mark.parametrize("rho", [0.0, 0.1])
def test_the_fit_finds_the_correlation_and_the_model_fits_the_other_half(tmp_path, rho):
    loaded = load_scores(corpus(tmp_path, 0.05, rho))
    fitted = fit([a for p in loaded for a in loaded[p]], ON)
    assert fitted["p"] == pytest.approx(0.05, rel=0.1) and fitted["rho"] == pytest.approx(rho, abs=0.02)
    result = analyse(loaded, ON, 0.05, 2, 1e-4)
    assert result["gate1"]["holds"] and result["gate1"]["gated_cells"] >= 10
    anchored = result["bed_false_rate"]
    assert binomial_k(19, 2, 0.05, anchored, result["channel_correlation"]) == 3  # the anchor: 3 of 19 kept
    if rho:  # correlated: the independent model misses the tail, the rule needs more channels at large n
        cell = next(c for c in result["gate1"]["cells"] if (c["n"], c["k"]) == (19, 4))
        assert cell["observed"] > 2 * cell["binomial"]
        assert result["k"]["64"]["new"] > binomial_k(64, 2, 0.05, anchored)


def test_the_model_fails_gate_1_where_channels_err_in_a_way_it_cannot_describe(tmp_path):
    """Two kinds of windows only: none of the channels or all of them (perfect common mode at a low rate): the
    beta-binomial fitted to the pairs mispredicts the rest of the tail, and the gate says so."""
    rng = np.random.default_rng(1)
    for person in range(1, 11):
        probs = np.full((2000, 19), ON / 3)
        probs[rng.random(2000) < 0.02] = 0.9
        one = rng.random((2000, 19)) < 0.02
        probs[one] = 0.9
        np.savez(tmp_path / f"eegmmidb_S{person:03d}R01.edf.npz", channel_probs=probs)
    result = analyse(load_scores(tmp_path), ON, 0.04, 2, 1e-4)
    assert not result["gate1"]["holds"]


def test_main_prints_writes_json_and_the_card(tmp_path, toy_export, capsys):
    from evaluation.model_settings import derived_by, write_card_settings

    export = tmp_path / "export"
    shutil.copytree(toy_export, export)
    write_card_settings(
        export,
        "decision",
        {"on_threshold": ON, "off_threshold": 0.5, "smoothing_windows": 1, "min_duration_s": 2.0}
        | {"channel_false_rate": 0.05, "derived_by": derived_by("test")},
    )
    folder = corpus(tmp_path / "s", 0.05, 0.1) if (tmp_path / "s").mkdir() is None else None
    out = tmp_path / "r.json"
    assert main([str(folder), "--export", str(export), "--json", str(out), "--write-card", str(export)]) == 0
    printed = capsys.readouterr().out
    assert "Gate 1: holds" in printed and "| 19 | 3 |" in printed
    result = json.loads(out.read_text())
    decision = read_card(export)["settings"]["decision"]
    assert decision["channel_correlation"] == result["channel_correlation"] > 0
    assert decision["bed_false_rate"] == result["bed_false_rate"]
    assert "bed_false_rate: python -m experiments.bed_rule" in decision["derived_by"]
    assert main([str(tmp_path / "nowhere"), "--export", str(export)]) == 2
