"""The evaluation's pieces that need no ../shared: CHB-MIT recordings through the daemon's pipeline (the same
windows and events as `realtime-detect --file --json --windows`), decision replay and tuning, figures, the
settings evaluated, and a clear error without the data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from evaluation import evaluate as ev
from evaluation import figures, recordings, runs, tuning
from evaluation.events import score_events
from evaluation.recordings import EvalRecording
from evaluation.runs import WindowScores
from realtime.config import Config, DecisionConfig, WindowConfig
from realtime.model import load_detector


@pytest.fixture(scope="module")
def chbmit(tmp_path_factory):
    return recordings.chbmit_recordings(tmp_path_factory.mktemp("chbmit"))


def test_chbmit_recordings_and_stitched_junction(chbmit):
    names = [r.name for r in chbmit]
    assert names == ["chbmit_seizure", "chbmit_nonseizure", "chbmit_stitched"]
    sz, non, st = chbmit
    assert sz.seizures == [(1.0, 41.0)] and non.seizures == [] and non.background_only
    assert st.meta["junction_s"] == pytest.approx(41.0)
    assert st.seizures == [(pytest.approx(42.0), pytest.approx(82.0))]  # 1 s of pre-ictal after the junction
    assert st.n_channels == 23 and st.duration_s == pytest.approx(82.0)


def test_offline_scores_replay_and_score_with_toy_model(chbmit, toy_export, tmp_path):
    det = load_detector(toy_export)
    decision = DecisionConfig(smoothing_windows=2, on_threshold=0.8, off_threshold=0.5, min_duration_s=2.0)
    cfg = Config(window=WindowConfig(hop_s=1.0), decision=decision)
    st = chbmit[2]
    ws = runs.pipeline_window_scores(st.path, cfg, det, st.duration_s)
    assert ws.channel_probs.shape == (ws.times.size, 23) and ws.times[0] == pytest.approx(4.1, abs=0.2)
    # the decision replay reproduces the pipeline's own events exactly
    rep = runs.replay_decision(ws, decision, 1.0, st.duration_s)
    assert [(e.start_s, e.alarm_s) for e in rep.events] == [(e.start_s, e.alarm_s) for e in ws.events]
    np.testing.assert_allclose(rep.smoothed, ws.smoothed, equal_nan=True)
    ws.score = score_events(st.seizures, ws.events, st.duration_s)
    assert ws.score.n_seizures == 1
    out = tmp_path / "fig.png"
    figures.plot_recording(st, {"network": ws}, decision, out)
    assert out.stat().st_size > 10_000


def test_tune_decision_prefers_no_false_alarm_then_latency(tmp_path):
    # one background recording with a short 0.85 blip, one with a seizure at 100 s (p 0.95 from 102 s)
    t = np.arange(4.0, 300.0)
    bg = np.full(t.size, 0.1)
    bg[(t >= 50) & (t < 52)] = 0.85
    sz = np.full(t.size, 0.1)
    sz[(t >= 102) & (t < 140)] = 0.95
    runs = []
    for name, p, seizures in (("bg", bg, []), ("sz", sz, [(100.0, 140.0)])):
        rec = EvalRecording(name, tmp_path / f"{name}.npz", seizures, name, duration_s=300.0)
        runs.append((rec, WindowScores(t, t - 4.0, p[:, None], np.zeros(0), [])))
    res = tuning.tune_decision(runs, DecisionConfig(aggregation="max"), hop_s=1.0)
    c = res["chosen"]
    assert c["fp"] == 0 and c["tp"] == 1
    # the blip reaches 0.85 for 2 windows: zero false alarms needs on > 0.85, or smoothing/min duration
    # that outlast it; among those within 1 s of the fastest, the lowest threshold, then the longest
    # minimum duration wins
    ok = [r for r in res["all"] if r["fp"] == 0 and r["tp"] == 1]
    fastest = min(r["mean_latency_s"] for r in ok)
    assert res["fastest_mean_latency_s"] == fastest and c["mean_latency_s"] <= fastest + 1.0
    near = [r for r in ok if r["mean_latency_s"] <= fastest + 1.0]
    lowest = min(r["on_threshold"] for r in near)
    assert c["on_threshold"] == lowest < max(r["on_threshold"] for r in near)  # a real choice was made
    assert c["min_duration_s"] == max(r["min_duration_s"] for r in near if r["on_threshold"] == lowest)
    assert any(r["fp"] > 0 for r in res["all"])  # the blip does fool the most sensitive settings
    assert res["grid_size"] == len(tuning.GRID_ON) * len(tuning.GRID_SMOOTHING) * len(tuning.GRID_MIN_DURATION_S)
    assert dataclasses.replace(DecisionConfig(), on_threshold=c["on_threshold"]).on_threshold == c["on_threshold"]


def test_main_without_data_says_what_is_missing(toy_export, tmp_path, capsys):
    with pytest.raises(SystemExit, match="does not exist"):
        ev.main(
            [
                "--model",
                str(toy_export),
                "--data-root",
                str(tmp_path / "nowhere"),
                "--out",
                str(tmp_path / "o"),
                "--artifacts",
                str(tmp_path / "a"),
                "--no-peer",
            ]
        )


def test_user_edf_with_annotation_csv(tmp_path):
    csv_path = tmp_path / "ann.csv"
    csv_path.write_text("onset_s,offset_s\n1.0,41.0\n")
    sz = recordings.CHBMIT_SEIZURE
    recs = recordings.user_recordings([str(sz), str(recordings.CHBMIT_NONSEIZURE)], [str(csv_path), "-"])
    assert [r.seizures for r in recs] == [[(1.0, 41.0)], []]
    assert recs[0].role == "user" and recs[1].background_only and recs[0].duration_s == pytest.approx(41.0)
    bad = tmp_path / "bad.csv"
    bad.write_text("start,stop\n1,2\n")
    with pytest.raises(ValueError, match="onset_s"):
        recordings.user_recordings([str(sz)], [str(bad)])


@pytest.mark.skipif(
    not __import__("evaluation.peer", fromlist=["x"]).peer_available()[0], reason="brainmaze-eeg-models not installed"
)
def test_peer_scores_are_cached_by_content(tmp_path):
    from evaluation.peer import PeerScorer
    from realtime.recordings import write_npz

    rng = np.random.default_rng(0)
    path = write_npz(tmp_path / "r.npz", rng.normal(0, 30, (1, 256 * 12)), 256.0, ["EEG"])
    rec = EvalRecording("r", path, [], "r", duration_s=12.0)
    scorer = PeerScorer("modelA", window_s=8.0)
    d = DecisionConfig()
    a = runs.peer_window_scores(rec, scorer, d, 1.0, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    b = runs.peer_window_scores(rec, scorer, d, 1.0, tmp_path / "cache")
    np.testing.assert_array_equal(a.channel_probs, b.channel_probs)
    np.testing.assert_array_equal(a.times, b.times)


def test_pipeline_scores_equal_the_offline_command(chbmit, toy_export):
    """The evaluation drives the Pipeline itself: its windows and events are exactly the JSON lines of
    `realtime-detect --file REC --json --windows` (realtime.offline.run_offline) on the same recording."""
    import io
    import json

    from realtime.offline import run_offline

    det = load_detector(toy_export)
    decision = DecisionConfig(smoothing_windows=2, on_threshold=0.8, off_threshold=0.5, min_duration_s=2.0)
    cfg = Config(window=WindowConfig(hop_s=1.0), decision=decision)
    for rec in (chbmit[0], chbmit[2]):  # the seizure excerpt (EDF) and the stitched one (NPZ)
        ws = runs.pipeline_window_scores(rec.path, cfg, det, rec.duration_s)
        buf = io.StringIO()
        assert run_offline([rec.path], cfg, model=det, windows=True, out=buf) == 0
        lines = [json.loads(x) for x in buf.getvalue().splitlines()]
        wins = [m for m in lines if m["type"] == "window"]
        assert ws.times.tolist() == [m["time"] for m in wins] and ws.starts.tolist() == [
            m["window_start"] for m in wins
        ]
        np.testing.assert_array_equal(
            ws.smoothed, [np.nan if m["probability"] is None else m["probability"] for m in wins]
        )
        want = np.array([[np.nan if p is None else p for p in m["channel_probabilities"].values()] for m in wins])
        np.testing.assert_array_equal(ws.channel_probs, want)
        onsets = [m for m in lines if m["type"] == "seizure.onset"]
        assert onsets, "the toy model must raise an onset on these recordings for the comparison to mean something"
        assert [(e.start_s, e.alarm_s) for e in ws.events] == [(m["time"], m["publish_time"]) for m in onsets]


def test_evaluated_settings_rank_card_below_the_config_file(toy_export, tmp_path):
    """The network, the baseline, the replays and the report all use what a daemon would run the model with."""
    import shutil

    from evaluation.model_settings import write_card_settings

    export = tmp_path / "export"
    shutil.copytree(toy_export, export)
    write_card_settings(
        export,
        "decision",
        {
            "on_threshold": 0.9,
            "off_threshold": 0.4,
            "smoothing_windows": 3,
            "min_duration_s": 1.0,
            "derived_by": "this test",
        },
    )
    det = load_detector(export)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    cfg = ev.evaluated_config(empty, det)
    assert (cfg.decision.on_threshold, cfg.decision.off_threshold, cfg.decision.smoothing_windows) == (0.9, 0.4, 3)
    file_sets = tmp_path / "on.toml"
    file_sets.write_text("[decision]\non_threshold = 0.7\n")
    cfg = ev.evaluated_config(file_sets, det)
    assert (cfg.decision.on_threshold, cfg.decision.off_threshold) == (0.7, 0.4)


def test_baseline_detector_fits_on_the_training_split_only(tmp_path):
    """The baseline is fitted on the TRAINING records' windows, exported, and loaded as a pipeline detector."""
    import argparse

    from realtime.model import Detector

    class Rec:
        def __init__(self, rid, signal_uv, label):
            self.recording_id, self.signal_uv, self.label = rid, signal_uv.astype(np.float32), label

    rng = np.random.default_rng(0)
    t = np.arange(2048) / 250.0
    records = [Rec(f"n{i}", rng.normal(0, 20, t.size), 0) for i in range(4)]
    records += [Rec(f"s{i}", rng.normal(0, 20, t.size) + 150 * np.sin(2 * np.pi * 3 * t + i), 1) for i in range(4)]
    split = {"train": {"n0", "n1", "n2", "s0", "s1", "s2"}, "validation": {"n3"}, "test": {"s3"}}
    args = argparse.Namespace(baseline=None, backend="tensorflow")
    det, info = ev.baseline_detector(args, records, split, "from a test", 1024, 512, tmp_path)
    assert isinstance(det, Detector) and info["path"] == str(tmp_path / "baseline_export")
    assert info["params"].fit_info["training_files"] == 6 and info["params"].fit_info["n_windows"] == 6 * 3
    assert det.card["training"]["split"]["test"] == ["s3"]
    p = det.predict(np.stack([records[3].signal_uv[:1024], records[7].signal_uv[:1024]]))
    assert p[0] < 0.5 < p[1]  # the held-out noise and rhythm


def test_tune_decision_keeps_the_background_false_alarm_budget(tmp_path, monkeypatch):
    """A multichannel seizure-free recording of a training person where 2 of 3 channels sit at 0.7 for 20 s:
    with it as the tuning background, every on_threshold it would cross is ruled out (budget 0 alarms in
    10 min); without it, the search picks a lower threshold."""
    from evaluation.background import BackgroundRecording, Scores

    t = np.arange(4.0, 300.0)
    sz = np.full(t.size, 0.1)
    sz[(t >= 102) & (t < 140)] = 0.95
    rec = EvalRecording("sz", tmp_path / "sz.npz", [(100.0, 140.0)], "sz", duration_s=300.0)
    runs = [(rec, WindowScores(t, t - 4.0, sz[:, None], np.zeros(0), []))]
    # a smaller grid than the shipped one (the rule is the same; the test stays fast)
    monkeypatch.setattr(tuning, "GRID_ON", (0.5, 0.6, 0.7, 0.8, 0.9))
    monkeypatch.setattr(tuning, "GRID_SMOOTHING", (1, 2))
    monkeypatch.setattr(tuning, "GRID_MIN_DURATION_S", (0.0, 2.0))
    tb = np.arange(4.0, 600.0)
    probs = np.full((tb.size, 3), 0.1)
    probs[(tb >= 300) & (tb < 320), :2] = 0.7
    bg = Scores(
        recording=BackgroundRecording(tmp_path / "S001R01.edf", "eegmmidb", "S001"),
        duration_s=600.0,
        times=tb,
        starts=tb - 4.0,
        channel_probs=probs,
        channels=["C3", "C4", "Cz"],
        left_out={},
        flagged_windows={},
        window_s=4.0,
        flush_s=600.0,
        events=[],
    )
    base = DecisionConfig(aggregation="k_of_n", k_channels=2)
    free = tuning.tune_decision(runs, base, hop_s=1.0)
    budget = tuning.tune_decision(runs, base, hop_s=1.0, background=[bg])
    assert free["chosen"]["on_threshold"] <= 0.7  # would alarm on the background
    c = budget["chosen"]
    assert c["on_threshold"] > 0.7 and c["background_fp"] == 0 and c["tp"] == 1
    assert budget["background"]["allowed"] == 0 and budget["background"]["persons"] == ["S001"]
    low = next(r for r in budget["all"] if r["on_threshold"] == 0.6 and r["min_duration_s"] == 2.0)
    assert low["background_fp"] == 1 and low["fp"] == low["stitched_fp"] + 1  # over budget counts as a false alarm


def test_the_baseline_takes_none_of_the_networks_bed_rule_rates(toy_export, tmp_path):
    """The baseline gets the network's configuration: its thresholds, but not the network's measured bed-rule rates
    and correlation (they describe the network's errors): its own card's, else the built-in, unless the file sets
    them."""
    import shutil

    from evaluation.model_settings import derived_by, write_card_settings
    from evaluation.runs import detector_config

    network, baseline = tmp_path / "network", tmp_path / "baseline"
    for export, rule in (
        (network, {"channel_false_rate": 1.37e-3, "channel_correlation": 0.149, "bed_false_rate": 3.3e-3}),
        (baseline, {}),
    ):
        shutil.copytree(toy_export, export)
        tuned = {"on_threshold": 0.6, "off_threshold": 0.5, "smoothing_windows": 1, "min_duration_s": 2.0}
        write_card_settings(export, "decision", {**tuned, **rule, "derived_by": derived_by("this test")})
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    net = load_detector(network)
    cfg = ev.evaluated_config(empty, net)
    own = detector_config(cfg, load_detector(baseline)).decision
    assert (own.channel_false_rate, own.channel_correlation, own.bed_false_rate) == (1.4e-3, 0.0, 1e-4)
    assert detector_config(cfg, net).decision == cfg.decision  # the network's own: unchanged
    file_sets = tmp_path / "rule.toml"
    file_sets.write_text("[decision]\nbed_false_rate = 1e-3\n")
    own = detector_config(ev.evaluated_config(file_sets, net), load_detector(baseline)).decision
    assert (own.channel_correlation, own.bed_false_rate) == (0.0, 1e-3)  # the file's value wins for every detector
