"""Run directories on a non-local filesystem: TensorFlow's in-memory ``ram://`` stands in for ``gs://``.

Everything of a run (hparams.json, split.json, shards, history, checkpoints, run.json) goes through
tf.io.gfile; a pathlib.Path would turn ``ram://b`` into ``ram:/b`` and write locally.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from train import strategy as strat
from train.fit import load_run, prepare_data, run_fit
from train.tfrecords import make_dataset, shard_files


def test_shards_written_to_and_read_back_from_ram(tiny_hp, synth_records, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a mangled "ram:/..." path would land here
    run = "ram://shards_run"
    data = prepare_data(tiny_hp, None, run, records=synth_records)
    files = shard_files(f"{run}/data", "train")
    assert files and all(f.startswith("ram://shards_run/data/train-") for f in files)
    assert tf.io.gfile.exists(f"{run}/split.json") and tf.io.gfile.exists(f"{run}/data/train.json")
    assert list(tmp_path.iterdir()) == []  # nothing local
    strat.check_tpu_paths(files)  # the TPU check accepts non-local shards
    with pytest.raises(strat.StrategyError, match="local"):
        strat.check_tpu_paths([str(tmp_path / "train-00000-of-00001.tfrecord.gz")])
    ex = tiny_hp.signal.window_samples + tiny_hp.signal.crop_margin_samples
    ds = make_dataset(
        files, example_samples=ex, window_samples=tiny_hp.signal.window_samples, batch_size=7, training=False
    )
    n = sum(int(x.shape[0]) for x, _ in ds)
    assert n == data["summaries"]["train"]["examples"] > 0


@pytest.mark.slow
def test_run_fit_into_ram_and_load_run_from_it(tiny_hp, synth_records, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = "ram://fit_run"
    hp = tiny_hp.replace(**{"fit.epochs": 1, "fit.steps_per_epoch": 2})
    summary = run_fit(hp, run, records=synth_records, verbose=0, score_test=False)
    for name in ("hparams.json", "split.json", "history.csv", "best.weights.h5", "last.weights.h5", "run.json"):
        assert tf.io.gfile.exists(f"{run}/{name}"), name
    assert not tf.io.gfile.exists(f"{run}/backup")
    assert json.loads(tf.io.gfile.GFile(f"{run}/run.json").read())["examples"] == summary["examples"]
    assert [p.name for p in tmp_path.iterdir()] == []
    hp2, _, infer = load_run(run)
    assert hp2 == hp
    p = np.asarray(infer(np.zeros((2, hp.signal.window_samples), np.float32)))
    assert p.shape == (2, 2)
