"""k-fold cross-validation by recording: the folds partition the recordings, groups never straddle
folds, out-of-fold scores pool every recording once, a finished fold is not retrained."""

import collections
import json

import numpy as np
import pytest

from train.crossval import pool_folds, run_cv, with_intervals
from train.datasets.records import Record, split_records
from train.hparams import HParamsError, load


def _records():
    rng = np.random.default_rng(4)
    recs = []
    for g in range(40):
        label = int(g % 3 == 0)
        src = "bonn" if g % 2 else "nscnd"
        for m in range(2 if g % 7 == 0 else 1):  # some groups hold two recordings (duplicates)
            recs.append(
                Record(
                    f"{src}/g{g:02d}_{m}",
                    f"grp{g:02d}",
                    rng.normal(0, 20, 1500).astype(np.float32),
                    np.full(1500, label, np.int8),
                    src,
                    "S" if label else "Z",
                )
            )
    return recs


def test_kfold_split_partitions_by_group_and_stratum():
    recs = _records()
    by_id = {r.recording_id: r for r in recs}
    folds = [split_records(recs, seed=9, n_folds=5, fold=f) for f in range(5)]
    tested = [i for s in folds for i in s["test"]]
    assert sorted(tested) == sorted(by_id)  # every recording tested exactly once
    for f, s in enumerate(folds):
        parts = [set(s[k]) for k in ("train", "validation", "test")]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert set().union(*parts) == set(by_id)
        assert set(s["validation"]) == set(folds[(f + 1) % 5]["test"])  # validation = the next fold
        # stratified: each fold's test split holds both labels of both sources
        assert {(by_id[i].source, by_id[i].label) for i in s["test"]} == {
            (a, b) for a in ("bonn", "nscnd") for b in (0, 1)
        }
    fold_of_group = collections.defaultdict(set)
    for f, s in enumerate(folds):
        for i in s["test"]:
            fold_of_group[by_id[i].group_id].add(f)
    assert all(len(v) == 1 for v in fold_of_group.values())
    with pytest.raises(ValueError, match="n_folds=2"):
        split_records(recs, n_folds=2)
    with pytest.raises(ValueError, match="fold=5"):
        split_records(recs, n_folds=5, fold=5)
    with pytest.raises(HParamsError, match="cv_folds=2"):
        load(None, {"data.cv_folds": 2})


def test_pool_folds_refuses_overlap_and_gaps():
    recs = _records()[:3]
    a, b, c = (r.recording_id for r in recs)
    pooled = pool_folds(recs, [{a: [0.1, 0.2]}, {b: [0.9]}, {c: [0.4]}])
    assert set(pooled) == {a, b, c} and pooled[a].shape == (2,)
    with pytest.raises(ValueError, match=f"twice \\['{a}'\\]"):
        pool_folds(recs, [{a: [0.1]}, {a: [0.2], b: [0.9], c: [0.4]}])
    with pytest.raises(ValueError, match=f"never \\['{c}'\\]"):
        pool_folds(recs, [{a: [0.1]}, {b: [0.9]}])


def test_intervals_bracket_the_point_estimate():
    m = with_intervals(
        {
            "all": {
                "segment": {
                    "accuracy": 0.9,
                    "sensitivity": 0.8,
                    "specificity": 1.0,
                    "confusion_matrix": [[10, 0], [2, 8]],
                }
            }
        }
    )["all"]["segment"]
    assert m["accuracy_ci95"][0] < 0.9 < m["accuracy_ci95"][1]
    assert m["specificity_ci95"][1] == 1.0 and m["specificity_ci95"][0] < 1.0


@pytest.mark.slow
def test_cv_scores_every_recording_once_and_resumes(tiny_hp, synth_records, tmp_path):
    hp = tiny_hp.replace(**{"fit.epochs": 1, "fit.steps_per_epoch": 2})
    out = tmp_path / "cv"
    summary = run_cv(hp, out, folds=3, records=synth_records, verbose=0)
    assert summary["metrics"]["all"]["segment"]["n"] == len(synth_records)
    assert "accuracy_ci95" in summary["metrics"]["all"]["segment"]
    splits = [json.loads((out / f"fold-{f}" / "split.json").read_text()) for f in range(3)]
    assert [s["cv_fold"] for s in splits] == [0, 1, 2] and all(s["cv_folds"] == 3 for s in splits)
    assert (out / "cv_report.md").read_text().startswith("# 3-fold cross-validation")
    per_fold = summary["segment_accuracy_by_fold"]["all"]
    assert len(per_fold) == 3 and all(0 <= a <= 1 for a in per_fold)
    # the examples of every recording were written once, for all folds: the folds' data hold only summaries
    (corpus,) = (out / "shard-cache").iterdir()
    assert corpus.name.startswith("corpus-") and list(corpus.glob("corpus-*.tfrecord.gz"))
    for f in range(3):
        assert sorted(p.name for p in (out / f"fold-{f}" / "data").iterdir()) == ["train.json", "validation.json"]
        assert json.loads((out / f"fold-{f}" / "data" / "train.json").read_text())["corpus"] == str(corpus)
    # a second call reuses the finished folds: nothing is retrained
    stamps = {f: (out / f"fold-{f}" / "best.weights.h5").stat().st_mtime_ns for f in range(3)}
    run_cv(hp.replace(**{"fit.intra_op_threads": 1}), out, folds=3, records=synth_records, verbose=0)  # speed only
    assert stamps == {f: (out / f"fold-{f}" / "best.weights.h5").stat().st_mtime_ns for f in range(3)}
    # a resume with another design must not pool folds of two configurations
    with pytest.raises(ValueError, match=r"fold-0' was trained with fit.epochs = 1, but this run asks for 2"):
        run_cv(hp.replace(**{"fit.epochs": 2}), out, folds=3, records=synth_records, verbose=0)
