"""fit.init_from: a run that starts from an export's weights (fine-tuning), through run_fit and the export
of that run; refused, quoting the differences, when the export is another network."""

from __future__ import annotations

import json

import numpy as np
import pytest

from train.weights import WeightsError, init_from_export, network_differences, saved_weights


@pytest.fixture(scope="module")
def tiny_export(tiny_hp, tmp_path_factory):
    """A tiny network with random weights, exported in the project's format (SavedModel only)."""
    from train.export import export_model
    from train.models import build

    _, infer = build(tiny_hp)
    out = tmp_path_factory.mktemp("init") / "export"
    return export_model(infer, tiny_hp, out, training={}, metrics={}, tflite=False)


def test_a_run_from_an_export_starts_at_its_weights_and_says_so(tiny_hp, tiny_export, synth_records, tmp_path):
    from train.fit import load_run, run_fit

    start = saved_weights(tiny_export / "saved_model")
    name = "dense_0/kernel"
    # Adam moves each weight by about the learning rate per step, whatever the gradient: 1e-9 keeps them in place
    tuned = tiny_hp.replace(**{"fit.init_from": str(tiny_export), "fit.learning_rate": 1e-9, "fit.epochs": 1})
    summary = run_fit(tuned, tmp_path / "tuned", records=synth_records, verbose=0, score_test=False)
    _, _, infer = load_run(tmp_path / "tuned")
    kernel = {v.path: v.numpy() for v in infer.variables}[name]
    assert np.max(np.abs(kernel - start[name])) < 1e-6
    card_version = json.loads((tiny_export / "model_card.json").read_text())["model_version"]
    assert summary["init_from"]["model_version"] == card_version
    assert summary["init_from"]["variables"] == len(start)
    assert json.loads((tmp_path / "tuned" / "run.json").read_text())["init_from"] == summary["init_from"]

    fresh = tiny_hp.replace(**{"fit.learning_rate": 1e-9, "fit.epochs": 1})  # the same run from random weights
    run_fit(fresh, tmp_path / "fresh", records=synth_records, verbose=0, score_test=False)
    _, _, infer = load_run(tmp_path / "fresh")
    assert np.max(np.abs({v.path: v.numpy() for v in infer.variables}[name] - start[name])) > 1e-3


def test_an_export_of_another_network_is_refused_with_the_differences(tiny_hp, tiny_export):
    from train.models import build

    wide = tiny_hp.replace(**{"inception.filters": tiny_hp.inception.filters * 2, "scaling.scale_uv": 50.0})
    _, infer = build(wide)
    with pytest.raises(WeightsError) as err:
        init_from_export(infer, wide, tiny_export)
    msg = str(err.value)
    assert f"inception.filters: the export {tiny_hp.inception.filters}, this run {wide.inception.filters}" in msg
    assert "scaling.scale_uv: the export 100.0, this run 50.0" in msg
    assert str(tiny_export) in msg


def test_network_differences_counts_keys_an_older_card_lacks():
    hp = {
        "scaling": {"method": "fixed_uv", "scale_uv": 100.0},
        "filterbank": {"taps": 511, "float64": False},
        "inception": {"filters": 8},
        "lstm": {},
        "signal": {"sample_rate_hz": 250.0, "window_samples": 1024, "train_hop_samples": 512},
        "fit": {"architecture": "inception", "learning_rate": 1e-4},
    }
    card = json.loads(json.dumps(hp))
    card["signal"]["train_hop_samples"] = 256  # how examples were cut, not the network
    card["fit"]["learning_rate"] = 2e-3
    assert network_differences(card, hp) == []
    del card["filterbank"]["float64"]
    assert network_differences(card, hp) == ["filterbank.float64: the export (not in its card), this run False"]


def test_export_settings_from_gives_the_new_card_its_parents_daemon_settings(
    tiny_hp, synth_records, tmp_path, toy_export
):
    from realtime.model import default_model_path, read_card
    from train.cli import main
    from train.fit import run_fit

    run_fit(tiny_hp.replace(**{"fit.epochs": 1}), tmp_path / "run", records=synth_records, verbose=0, score_test=False)
    parent = read_card(default_model_path())["settings"]
    assert (
        main(["export", str(tmp_path / "run"), str(tmp_path / "out"), "--settings-from", str(default_model_path())])
        == 0
    )
    got = read_card(tmp_path / "out")["settings"]  # read_card: the card still matches every file's sha256
    for section, values in parent.items():
        assert {k: v for k, v in got[section].items() if k != "derived_by"} == {
            k: v for k, v in values.items() if k != "derived_by"
        }
        assert got[section]["derived_by"].startswith(values["derived_by"])
        assert "by train-detector export --settings-from" in got[section]["derived_by"]
    # an export without settings (the toy export's card has none) has none to give
    assert "settings" not in read_card(toy_export)
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "o3"), "--settings-from", str(toy_export)]) == 2
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "o4"), "--settings-from", str(tmp_path)]) == 2
    assert not (tmp_path / "o3").exists() and not (tmp_path / "o4").exists()  # refused before anything is written
