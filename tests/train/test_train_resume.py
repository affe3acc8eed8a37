"""Resume after interruption: a run stopped after its 2nd epoch continues at the 3rd when run again."""

import csv
import json

import keras
import numpy as np
import pytest

from train.fit import run_fit


class _Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("simulated interruption after epoch 2")


class _Spoil(keras.callbacks.Callback):
    """Destroys the restored weights before the first epoch after the resume: that epoch is far worse."""

    def on_epoch_begin(self, epoch, logs=None):
        rng = np.random.default_rng(0)
        for w in self.model.trainable_weights:
            w.assign(np.asarray(w) + rng.normal(0, 1.0, w.shape).astype(np.float32))


@pytest.mark.slow
def test_an_interrupted_run_resumes_at_its_next_epoch_and_keeps_its_best_checkpoint(tiny_hp, synth_records, tmp_path):
    hp = tiny_hp.replace(**{"fit.epochs": 3, "fit.steps_per_epoch": 2})
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_fit(hp, run, records=synth_records, verbose=0, score_test=False, extra_callbacks=[_Crash()])
    assert (run / "backup").exists()
    best_before = (run / "best.weights.h5").read_bytes()
    state = json.loads((run / "backup" / "best_state.json").read_text())
    with open(run / "history.csv") as f:
        val_before = [float(r["val_loss"]) for r in csv.DictReader(f)]
    assert state["checkpoint_best"] == pytest.approx(min(val_before), rel=1e-6)
    run_fit(hp, run, records=synth_records, verbose=0, score_test=False, extra_callbacks=[_Spoil()])
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]  # epochs 0-1 before the interruption, only 2 after it
    assert not (run / "backup").exists()
    val_after = float(rows[2]["val_loss"])
    # the spoiled epoch is worse than the best before the interruption
    assert np.isfinite(val_after) and val_after > min(val_before)
    assert (run / "best.weights.h5").read_bytes() == best_before  # so the best checkpoint is not replaced
