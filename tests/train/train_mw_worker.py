"""One worker of the two-worker MultiWorkerMirroredStrategy test (TF_CONFIG comes from the environment).

Usage: python train_mw_worker.py RUN_DIR TINY_TOML
Trains the tiny inception model for a few steps on synthetic records through train.fit.run_fit and
prints one JSON line: strategy kind, replicas, final loss, a checksum of the weights, whether this
worker was the chief, and the directory it wrote to (RUN_DIR for the chief, a removed temporary one
for the other worker: both get the same RUN_DIR).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def main() -> int:
    run_dir, toml = sys.argv[1], sys.argv[2]
    import tensorflow as tf

    from train.datasets.records import Record
    from train.fit import run_fit
    from train.hparams import load

    rng = np.random.default_rng(5)  # the same records on both workers
    recs = []
    for i in range(12):
        sz = i % 2
        t = np.arange(2000) / 250.0
        x = rng.normal(0, 20, 2000) + sz * 150 * np.sin(2 * np.pi * 4 * t)
        recs.append(Record(f"edf/r{i}", f"g{i}", x.astype(np.float32), np.full(2000, sz, np.int8), "edf", str(sz)))
    hp = load(
        toml,
        {
            "fit.strategy": "multi_worker",
            "fit.epochs": 1,
            "fit.steps_per_epoch": 3,
            "fit.batch_size": 8,
            "fit.val_batch_size": 2,
            "data.split_fractions": [0.8, 0.2, 0.0],
        },
    )
    import keras

    class Keep(keras.callbacks.Callback):  # the trained model, in memory (only the chief keeps files)
        def on_train_end(self, logs=None):
            self.checksum = float(sum(float(np.abs(np.asarray(w)).sum()) for w in self.model.trainable_weights))

    keep = Keep()
    summary = run_fit(hp, run_dir, records=recs, verbose=0, score_test=False, extra_callbacks=[keep])
    print(
        json.dumps(
            {
                "strategy": summary["strategy"],
                "replicas": tf.distribute.get_strategy().num_replicas_in_sync,
                "loss": summary["final_logs"]["loss"],
                "checksum": keep.checksum,
                "chief": summary["chief"],
                "work_dir": summary["work_dir"],
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
