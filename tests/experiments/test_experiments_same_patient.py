"""experiments.same_patient: the shipped CHB-MIT excerpts as one patient's files, through the daemon's pipeline (the
toy amplitude export on LiteRT, a low limit so that the non-seizure excerpt's levels scale)."""

from __future__ import annotations

from experiments.same_patient import measure
from realtime.config import Config, DecisionConfig, SignalConfig
from realtime.model import load_detector


def test_the_seizure_excerpt_takes_the_non_seizure_excerpts_levels_only_in_the_pair(toy_export):
    detector = load_detector(toy_export, backend="litert")
    config = Config(
        signal=SignalConfig(background_limit_uv=5.0, montage="as_recorded"),
        decision=DecisionConfig(aggregation="k_of_n", k_channels=2, on_threshold=0.8, off_threshold=0.5),
    )
    row = measure(config, detector, 1.0)
    pair, alone = row["pair"], row["alone"]
    assert pair["took_levels"] and not alone["took_levels"]
    assert pair["scaled_first_window"] and not alone["scaled_first_window"]  # alone: no level before 20 s
    assert set(row) == {"non_seizure_onsets_s", "pair", "alone", "gate_holds"}
    for run in (pair, alone):
        assert len(run["onset_times_s"]) == len(run["published_s"])
        assert run["latency_s"] is None or run["latency_s"] >= 0
