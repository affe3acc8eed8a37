"""experiments/transfer.py: the leave-New-Delhi-out proxy.

On synthetic MAT files and the toy export (no /work/shared).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from train.datasets.records import Record


def _rec(rid: str, label: int, subset: str, n: int = 1280) -> Record:
    return Record(rid, rid, np.zeros(n, np.float32), np.full(n, label, np.int8), "nscnd", subset)


def test_transfer_metrics_counts_and_balanced_accuracy():
    from experiments.transfer import transfer_metrics

    recs = [
        _rec("i1", 1, "ictal"),
        _rec("i2", 1, "ictal"),
        _rec("n1", 0, "interictal"),
        _rec("n2", 0, "interictal"),
        _rec("n3", 0, "preictal"),
        _rec("n4", 0, "preictal"),
    ]
    # segment means: i1 0.8 (TP), i2 0.3 (FN), n1 0.1, n2 0.2, n3 0.45 (TN), n4 0.6 (FP)
    probs = {
        "i1": np.array([0.7, 0.9]),
        "i2": np.array([0.1, 0.5]),
        "n1": np.array([0.1, 0.1]),
        "n2": np.array([0.0, 0.4]),
        "n3": np.array([0.4, 0.5]),
        "n4": np.array([0.6, 0.6]),
    }
    m = transfer_metrics(recs, probs)
    s = m["segment"]
    assert s["confusion_matrix"] == [[3, 1], [1, 1]]
    assert s["sensitivity"] == pytest.approx(0.5) and s["specificity"] == pytest.approx(0.75)
    assert s["balanced_accuracy"] == pytest.approx(0.625)
    # AUROC: positives 0.8, 0.3 vs negatives 0.1, 0.2, 0.45, 0.6 -> (4 + 2) / 8
    assert s["auroc"] == pytest.approx(0.75)
    assert m["window"]["n"] == 12
    assert m["mean_segment_p_by_subset"]["preictal"] == pytest.approx(0.525)
    # highest window per segment: positives 0.9, 0.5; negatives 0.1, 0.4, 0.5, 0.6
    h = m["highest_window_p"]
    assert h["negative_max"] == pytest.approx(0.6)
    assert h["by_threshold"]["0.5"] == {"positive": 1.0, "negative": 0.5}
    assert h["by_threshold"]["0.6"] == {"positive": 0.5, "negative": 0.25}
    assert h["by_threshold"]["0.9"] == {"positive": 0.5, "negative": 0.0}


def test_transfer_metrics_refuses_missing_probabilities_and_one_class():
    from experiments.transfer import transfer_metrics

    recs = [_rec("i1", 1, "ictal"), _rec("n1", 0, "interictal")]
    with pytest.raises(ValueError, match="'n1'"):
        transfer_metrics(recs, {"i1": np.array([0.9])})
    with pytest.raises(ValueError, match="both classes"):
        transfer_metrics(recs[:1], {"i1": np.array([0.9])})


def test_transfer_cli_on_toy_export(tmp_path, toy_export, capsys):
    """Real MAT files in the New Delhi layout, scored through realtime.model.load_detector."""
    from experiments.transfer import main

    rng = np.random.default_rng(3)
    for folder, amp in (("ictal", 200.0), ("interictal", 15.0), ("preictal", 15.0)):
        (tmp_path / "nscnd" / folder).mkdir(parents=True)
        for i in range(3):
            x = np.round(amp * rng.standard_normal((1024, 1))).astype(np.int16)
            scipy.io.savemat(tmp_path / "nscnd" / folder / f"{folder}{i + 1}.mat", {folder: x})
    out = tmp_path / "m.json"
    assert main([str(toy_export), "--data-root", str(tmp_path), "--json", str(out)]) == 0
    res = json.loads(out.read_text())["nscnd"]
    assert res["segment"]["n"] == 9 and res["segment"]["n_positive"] == 3
    assert res["segment"]["balanced_accuracy"] == pytest.approx(1.0)
    assert res["window"]["n"] == 18  # 1280 samples at 250 Hz: windows at 0 and 256
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["sensitivity"] == pytest.approx(1.0)


def test_transfer_cli_refuses_a_folder_that_is_no_model(tmp_path, capsys):
    from experiments.transfer import main

    assert main([str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_gain_metrics_apply_the_gain_before_the_model():
    """An amplitude predictor: a 0.25x gain hides the seizure segments, 1x finds them, a bad gain is refused."""
    from experiments.gain_robustness import gain_metrics, table

    rng = np.random.default_rng(5)
    recs = []
    for i in range(4):
        for label, amp, subset in ((1, 200.0, "ictal"), (0, 20.0, "interictal")):
            x = (amp * rng.standard_normal(1280)).astype(np.float32)
            recs.append(Record(f"{subset}{i}", f"{subset}{i}", x, np.full(1280, label, np.int8), "nscnd", subset))

    def predict(w):
        return (w.std(axis=1) > 100.0).astype(np.float64)

    res = gain_metrics(predict, recs, [0.25, 1.0], 1024, 256)
    assert res[1.0]["nscnd_ictal_vs_rest"]["segment"]["accuracy"] == pytest.approx(1.0)
    assert res[0.25]["nscnd_ictal_vs_rest"]["segment"]["sensitivity"] == pytest.approx(0.0)
    assert "| 0.25x | 50.0 % (0 / 100) |" in table(res)
    with pytest.raises(ValueError, match="-1"):
        gain_metrics(predict, recs, [-1.0], 1024, 256)
