"""Resume after interruption: a run stopped after its 2nd epoch continues at the 3rd when run again."""

import csv

import keras
import pytest

from train.fit import run_fit


class _Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("simulated interruption after epoch 2")


@pytest.mark.slow
def test_interrupted_run_resumes_from_backup(tiny_hp, synth_records, tmp_path):
    hp = tiny_hp.replace(**{"fit.epochs": 3, "fit.steps_per_epoch": 2})
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_fit(hp, run, records=synth_records, verbose=0, score_test=False, extra_callbacks=[_Crash()])
    assert (run / "backup").exists()
    run_fit(hp, run, records=synth_records, verbose=0, score_test=False)
    with open(run / "history.csv") as f:
        epochs = [int(r["epoch"]) for r in csv.DictReader(f)]
    assert epochs == [0, 1, 2]  # epochs 0-1 before the interruption, only epoch 2 after it
    assert not (run / "backup").exists() and (run / "best.weights.h5").exists()
