"""experiments.phase_sweep: where the window grid starts, and onsets as latencies per seizure."""

from __future__ import annotations

import json

import pytest

from experiments.phase_sweep import latencies, main, phase_offsets


def test_phase_offsets_spread_the_grid_over_one_hop_and_refuse_nonsense():
    assert phase_offsets(256, 8) == [0, 32, 64, 96, 128, 160, 192, 224]
    assert phase_offsets(250, 3) == [0, 83, 167]
    assert phase_offsets(256, 1) == [0]
    with pytest.raises(ValueError, match="got 0 and 256"):
        phase_offsets(256, 0)


def test_latencies_are_per_seizure_in_order_and_leave_out_onsets_outside_every_seizure():
    # two seizures of 40 s at 42 s and 124 s; an onset at 10 s is outside both
    got = latencies([134.0, 52.1, 10.0, 71.1], [42.0, 124.0], 40.0)
    assert got == [[10.1, 29.1], [10.0]]
    assert latencies([], [42.0], 40.0) == [[]]


def test_a_sweep_scores_every_phase_through_the_offline_pipeline(toy_export, tmp_path, capsys):
    out = tmp_path / "sweep.json"
    assert main(["--model", str(toy_export), "--backend", "litert", "--phases", "2", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [r["dropped_samples"] for r in res["phases"]] == [0, 128]
    assert res["recording"] == "seizure excerpt" and res["channels"] == 23 and res["seizures"] == 2
    assert all(len(r["latencies_s"]) == 1 for r in res["phases"])
    assert '"seizures": 2' in capsys.readouterr().out
