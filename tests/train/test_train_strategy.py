"""Strategy selection, the TPU path without a TPU, mixed precision on CPU."""

import json

import keras
import numpy as np
import pytest

from train import strategy as strat


def test_choose_kind():
    assert strat.choose_kind("auto", n_gpus=0, tf_config=None) == "cpu"
    assert strat.choose_kind("auto", n_gpus=2, tf_config=None) == "mirrored"
    two = json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}})
    assert strat.choose_kind("auto", n_gpus=0, tf_config=two) == "multi_worker"
    assert strat.choose_kind("tpu", n_gpus=0, tf_config=None) == "tpu"  # only when asked
    with pytest.raises(strat.StrategyError, match="TF_CONFIG"):
        strat.choose_kind("multi_worker", n_gpus=0, tf_config=None)
    with pytest.raises(strat.StrategyError, match="'gpu'"):
        strat.choose_kind("gpu", n_gpus=1, tf_config=None)
    with pytest.raises(strat.StrategyError, match="GPU"):
        strat.choose_kind("mirrored", n_gpus=0, tf_config=None)


def test_choose_precision():
    assert strat.choose_precision("auto", "cpu") == "float32"
    assert strat.choose_precision("auto", "mirrored") == "mixed_float16"
    assert strat.choose_precision("auto", "tpu") == "mixed_bfloat16"
    assert strat.choose_precision("mixed_bfloat16", "cpu") == "mixed_bfloat16"
    with pytest.raises(strat.StrategyError, match="'half'"):
        strat.choose_precision("half", "cpu")


def test_tpu_static_batch_and_paths():
    with pytest.raises(strat.StrategyError, match="1000"):
        strat.check_tpu_batch(1000)
    strat.check_tpu_batch(1024)
    strat.check_tpu_batch(4096)
    p = strat.plan("tpu", "auto", global_batch=2048)
    assert p.kind == "tpu" and p.precision == "mixed_bfloat16" and p.drop_remainder and p.static_batch
    with pytest.raises(strat.StrategyError, match="1000"):
        strat.plan("tpu", "auto", global_batch=1000)
    with pytest.raises(strat.StrategyError, match=r"/data/x.tfrecord.gz"):
        strat.check_tpu_paths(["gs://bucket/a.tfrecord.gz", "/data/x.tfrecord.gz"])
    strat.check_tpu_paths(["gs://bucket/a.tfrecord.gz"])


def test_no_tpu_reachable_is_a_clear_error():
    with pytest.raises(strat.StrategyError, match="no TPU reachable"):
        strat.connect_tpu("")


def test_fit_refuses_tpu_without_one(tiny_hp, synth_records, tmp_path):
    from train.fit import run_fit

    hp = tiny_hp.replace(**{"fit.strategy": "tpu", "fit.batch_size": 1000})
    with pytest.raises(strat.StrategyError, match="1000"):
        run_fit(hp, tmp_path / "a", records=synth_records)
    hp = tiny_hp.replace(**{"fit.strategy": "tpu", "fit.batch_size": 1024})
    with pytest.raises(strat.StrategyError, match="no TPU reachable"):
        run_fit(hp, tmp_path / "b", records=synth_records)


@pytest.fixture
def restore_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_step_on_cpu(policy, tiny_hp, synth_windows, restore_policy):
    from train.fit import compile_model
    from train.models import build

    # tiny.toml runs steps eagerly (fit.run_eagerly, for the test run's time); float16 here traces the
    # training step as a real run does (loss scaling inside a graph), bfloat16 stays eager
    hp = tiny_hp.replace(**{"fit.run_eagerly": policy == "mixed_bfloat16"})
    keras.mixed_precision.set_global_policy(policy)
    train_model, infer_model = build(hp)
    assert infer_model.get_layer("block_local_max").compute_dtype == policy.removeprefix("mixed_")
    names = compile_model(train_model, hp)
    assert train_model.run_eagerly is hp.fit.run_eagerly
    x, y = synth_windows
    # one step: float16 convolutions on a CPU are emulated and slow
    hist = train_model.fit(x[:8], {n: np.eye(2)[y[:8]] for n in names}, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][-1])
    out = infer_model(x[:2])
    assert out.dtype == "float32"
    assert all(t.dtype == "float32" for t in train_model(x[:2]).values())


def test_is_chief():
    two = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}}
    assert strat.is_chief(None) and strat.is_chief("")
    assert strat.is_chief(json.dumps({**two, "task": {"type": "worker", "index": 0}}))
    assert not strat.is_chief(json.dumps({**two, "task": {"type": "worker", "index": 1}}))
    with_chief = {"cluster": {"chief": ["127.0.0.1:3"], "worker": ["127.0.0.1:1"]}}
    assert strat.is_chief(json.dumps({**with_chief, "task": {"type": "chief", "index": 0}}))
    assert not strat.is_chief(json.dumps({**with_chief, "task": {"type": "worker", "index": 0}}))
    with pytest.raises(strat.StrategyError, match="not-json"):
        strat.is_chief("not-json")
