"""Deep ensemble (train/ensemble.py): the mean of its members, checked members, a run directory, an export."""

import json

import numpy as np
import pytest

from train.ensemble import build_ensemble, check_members, make_ensemble_run, window_log_loss
from train.hparams import HParamsError


def _members(hp, seeds):
    import keras

    from train.models import build

    out = []
    for s in seeds:
        keras.utils.set_random_seed(s)
        out.append(build(hp)[1])
    return out


def test_ensemble_output_is_the_mean_of_its_members(tiny_hp, synth_windows):
    x, _ = synth_windows
    members = _members(tiny_hp, [1, 2, 3])
    ens = build_ensemble(members)
    got = np.asarray(ens(x[:8], training=False))
    want = np.mean([np.asarray(m(x[:8], training=False)) for m in members], axis=0)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert got.shape == (8, 2) and np.allclose(got.sum(axis=1), 1, atol=1e-5)
    # members differ (else the test could not tell a mean from a copy)
    assert np.abs(np.asarray(members[0](x[:8])) - np.asarray(members[1](x[:8]))).max() > 1e-4


def test_ensemble_export_reloads_and_matches(tiny_hp, tmp_path):
    from train.export import export_model, verify_export

    ens = build_ensemble(_members(tiny_hp, [4, 5]))
    out = export_model(ens, tiny_hp, tmp_path / "export", training={"ensemble": {"members": 2}})
    errs = verify_export(ens, out)
    assert set(errs) == {"saved_model", "tflite"} and max(errs.values()) <= 1e-4
    assert json.loads((out / "model_card.json").read_text())["training"]["ensemble"] == {"members": 2}


def test_build_ensemble_refuses_mixed_input_shapes(tiny_hp):
    other = tiny_hp.replace(**{"signal.window_samples": 512})
    with pytest.raises(ValueError, match=r"one input shape.*\(512,\).*\(1024,\)"):
        build_ensemble(_members(tiny_hp, [1]) + _members(other, [2]))


def test_check_members_quotes_what_differs(tiny_hp):
    a = tiny_hp.replace(**{"fit.seed": 1}).to_dict()
    b = tiny_hp.replace(**{"fit.seed": 2, "fit.intra_op_threads": 2}).to_dict()  # free keys may differ
    split = {"train": ["r1", "r2"], "validation": ["r3"], "test": ["r4"]}
    check_members([a, b], [split, dict(split)], ["A", "B"])
    c = tiny_hp.replace(**{"fit.seed": 3, "augment.amplitude_max": 2.0}).to_dict()
    with pytest.raises(ValueError, match=r"'C' has augment.amplitude_max = 2.0, but 'A' has 1.25"):
        check_members([a, c], [split, split], ["A", "C"])
    with pytest.raises(ValueError, match=r"another split.*test differs"):
        check_members([a, b], [split, {**split, "test": ["r5"]}], ["A", "B"])
    with pytest.raises(ValueError, match=r"differ in fit.seed, got seeds \[1, 1\]"):
        check_members([a, a], [split, split], ["A", "B"])


def test_split_seed_defaults_to_fit_seed_and_is_checked(tiny_hp):
    assert tiny_hp.replace(**{"fit.seed": 9}).split_seed == 9
    assert tiny_hp.replace(**{"fit.seed": 9, "data.split_seed": 4}).split_seed == 4
    with pytest.raises(HParamsError, match=r"data.split_seed must be >= 0, or -1 for fit.seed, got -3"):
        tiny_hp.replace(**{"data.split_seed": -3}).validate()


def test_window_log_loss_on_known_probabilities(synth_records):
    pos, neg = synth_records[1], synth_records[0]  # odd = seizure
    probs = {pos.recording_id: np.array([0.9, 1.0]), neg.recording_id: np.array([0.2])}
    want = np.mean([-np.log(0.9), -np.log(1 - 1e-7), -np.log(0.8)])
    assert window_log_loss([pos, neg], probs) == pytest.approx(want)


@pytest.mark.slow
def test_ensemble_run_from_two_seeds_on_one_split(tiny_hp, synth_records, tmp_path):
    from train.fit import load_run, run_fit

    runs = []
    for seed in (11, 12):
        hp = tiny_hp.replace(**{"fit.epochs": 1, "fit.steps_per_epoch": 2, "fit.seed": seed, "data.split_seed": 5})
        run_fit(hp, tmp_path / f"m{seed}", records=synth_records, verbose=0, score_test=False)
        runs.append(tmp_path / f"m{seed}")
    splits = [json.loads((r / "split.json").read_text()) for r in runs]
    assert splits[0] == splits[1] and splits[0]["seed"] == 5

    out = tmp_path / "ens"
    summary = make_ensemble_run(runs, out, records=synth_records)
    assert [m["seed"] for m in summary["ensemble"]["members"]] == [11, 12]
    per = json.loads((out / "members_metrics.json").read_text())
    assert set(per) == {"validation", "test"} and set(per["validation"]) == {str(runs[0]), str(runs[1]), "ensemble"}
    assert "all" in json.loads((out / "test_metrics.json").read_text())

    hp, train_model, ens = load_run(out)  # the ensemble directory loads like a run
    assert train_model is None and hp.fit.seed == 11
    x = np.stack([r.signal_uv[:1024] for r in synth_records[:6]])
    want = np.mean([np.asarray(load_run(r)[2](x, training=False)) for r in runs], axis=0)
    np.testing.assert_allclose(np.asarray(ens(x, training=False)), want, atol=1e-6)

    with pytest.raises(ValueError, match="at least two member runs"):
        make_ensemble_run(runs[:1], tmp_path / "one", records=synth_records)
    with pytest.raises(ValueError, match="is itself an ensemble"):
        make_ensemble_run([out, runs[0]], tmp_path / "nested", records=synth_records)
