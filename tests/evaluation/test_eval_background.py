"""evaluation/background.py on a tiny background corpus written here with edfio (no ../shared): discovery,
per-person and per-source false alarms, exact Poisson intervals, the decision replay against the
pipeline's own events, and the command's JSON."""

from __future__ import annotations

import dataclasses
import json

import edfio
import numpy as np
import pytest

from evaluation import background as bg
from realtime.config import load_config
from realtime.model import load_detector

# the 19 channels of the 10-20 system as BCI2000 (eegmmidb) labels them
BCI2000 = [
    *("Fp1.", "Fp2.", "F7..", "F3..", "Fz..", "F4..", "F8..", "T7..", "C3..", "Cz.."),
    *("C4..", "T8..", "P7..", "P3..", "Pz..", "P4..", "P8..", "O1..", "O2.."),
]
BURST_CHANNELS = ["F3..", "Fz..", "F4..", "C3..", "Cz..", "C4..", "P3..", "Pz.."]
BURST_S = (20.0, 32.0)


AS_RECORDED = {
    "signal.montage": "as_recorded",
    "decision.aggregation": "k_of_n",
}  # as recorded, 2 of n (montages: own test)


def _eeg(rng, n_channels: int, duration_s: float, rate_hz: float, std_uv: float = 15.0) -> np.ndarray:
    """Low-amplitude noise ``[n_channels, n_samples]`` µV: the toy model gives it p(seizure) < 0.01."""
    return rng.normal(0.0, std_uv, (n_channels, round(duration_s * rate_hz)))


def _write(path, data, labels, rate_hz: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    signals = [
        edfio.EdfSignal(row, rate_hz, label=label, physical_dimension="uV", physical_range=(-2000.0, 2000.0))
        for row, label in zip(data, labels, strict=True)
    ]
    edfio.Edf(signals).write(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two eegmmidb persons (S001: two quiet runs, one with a one-channel burst; S002: one run with an
    8-channel burst) and one Sleep-EDF night (2 EEG channels and an EOG at 100 Hz, quiet)."""
    root = tmp_path_factory.mktemp("background")
    rng = np.random.default_rng(11)
    rate = 160.0
    quiet = _eeg(rng, 19, 30.0, rate)
    _write(root / "eegmmidb" / "S001" / "S001R01.edf", quiet, BCI2000, rate)
    one = _eeg(rng, 19, 40.0, rate)
    a, b = (round(t * rate) for t in BURST_S)
    one[BCI2000.index("Fp1."), a:b] *= 25.0  # one channel: "max" alarms, "k_of_n" (k = 2) does not
    _write(root / "eegmmidb" / "S001" / "S001R02.edf", one, BCI2000, rate)
    burst = _eeg(rng, 19, 60.0, rate)
    for ch in BURST_CHANNELS:
        burst[BCI2000.index(ch), a:b] *= 25.0
    _write(root / "eegmmidb" / "S002" / "S002R03.edf", burst, BCI2000, rate)
    sleep = _eeg(rng, 3, 45.0, 100.0)
    _write(root / "sleep-edf" / "SC4012E0-PSG.edf", sleep, ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal"], 100.0)
    (root / "sleep-edf" / "SC4012EC-Hypnogram.edf").write_bytes(b"annotations, not a recording")
    (root / "eegmmidb" / "S002" / "notes.txt").write_text("not a recording")
    return root


@pytest.fixture(scope="module")
def measured(corpus, toy_export):
    det = load_detector(toy_export)
    recs = bg.discover(corpus)
    return det, recs, bg.measure(recs, load_config(None, AS_RECORDED), {"network": det}, aggregations=["max"])


def test_discover_sources_persons_and_no_hypnograms(corpus, tmp_path):
    recs = bg.discover(corpus)
    assert [(r.source, r.person, r.path.name) for r in recs] == [
        ("eegmmidb", "S001", "S001R01.edf"),
        ("eegmmidb", "S001", "S001R02.edf"),
        ("eegmmidb", "S002", "S002R03.edf"),
        ("sleep-edf", "SC401", "SC4012E0-PSG.edf"),
    ]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        bg.discover(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no recording"):
        bg.discover(tmp_path)


@pytest.mark.parametrize(
    ("k", "hours", "lo", "hi"),
    [(0, 1.0, 0.0, 3.689), (1, 1.0, 0.0253, 5.572), (0, 4.9, 0.0, 3.689 / 4.9), (3, 2.0, 0.6187 / 2, 8.767 / 2)],
)
def test_garwood_interval_known_values(k, hours, lo, hi):
    got = bg.poisson_interval(k, hours)
    assert got == pytest.approx((lo, hi), abs=1e-3)


@pytest.mark.parametrize(("k", "hours", "quoted"), [(-1, 1.0, "got -1"), (1.5, 1.0, "got 1.5"), (1, 0.0, "got 0.0")])
def test_garwood_interval_refuses_bad_input(k, hours, quoted):
    with pytest.raises(ValueError, match=quoted):
        bg.poisson_interval(k, hours)


def test_counts_per_person_and_source_with_alarm_channels(measured):
    _, _, result = measured
    runs = {r["setting"]: r for r in result["runs"]}
    assert set(runs) == {"aggregation=k_of_n", "aggregation=max"}  # the configured one first, then the grid
    assert result["runs"][0]["setting"] == "aggregation=k_of_n"
    k = runs["aggregation=k_of_n"]
    src = k["sources"]
    assert src["eegmmidb"]["false_alarms"] == 1 and src["eegmmidb"]["recordings"] == 3
    assert src["eegmmidb"]["persons"] == 2 and src["eegmmidb"]["hours"] == pytest.approx(130 / 3600, abs=1e-4)
    assert src["sleep-edf"]["false_alarms"] == 0 and src["sleep-edf"]["persons"] == 1
    assert src["pooled"]["false_alarms"] == 1 and src["pooled"]["hours"] == pytest.approx(175 / 3600, abs=1e-4)
    assert src["pooled"]["ci95_per_hour"] == pytest.approx(bg.poisson_interval(1, 175 / 3600))
    assert 0 < src["pooled"]["hours_at_risk"] < src["pooled"]["hours"]  # the first window and settling cannot alarm
    assert k["per_person"] == {
        "S001": {"source": "eegmmidb", "hours": pytest.approx(70 / 3600, abs=1e-4), "false_alarms": 0},
        "S002": {"source": "eegmmidb", "hours": pytest.approx(60 / 3600, abs=1e-4), "false_alarms": 1},
        "SC401": {"source": "sleep-edf", "hours": pytest.approx(45 / 3600, abs=1e-4), "false_alarms": 0},
    }
    (alarm,) = k["alarms"]
    assert alarm["file"] == "eegmmidb/S002R03.edf" and alarm["person"] == "S002"
    assert BURST_S[0] <= alarm["time_s"] <= BURST_S[1] and set(alarm["channels"]) == set(BURST_CHANNELS)
    # to its offset: the burst's length, give or take the window and the decision's merge and smoothing
    assert 0 < alarm["duration_s"] <= BURST_S[1] - BURST_S[0] + 10
    # the one-channel burst alarms only when one channel is enough
    m = runs["aggregation=max"]
    assert m["per_person"]["S001"]["false_alarms"] == 1 and m["sources"]["pooled"]["false_alarms"] == 2
    assert [a["channels"] for a in m["alarms"] if a["person"] == "S001"] == [["Fp1."]]
    assert "out of fold is not known" in k["out_of_fold"]  # the toy card does not list its training data


def test_channels_left_out_are_named_with_reasons(measured):
    _, _, result = measured
    run = result["runs"][0]
    sleep = "sleep-edf/SC4012E0-PSG.edf"
    assert run["scored_channels"][sleep] == ["EEG Fpz-Cz", "EEG Pz-Oz"]
    assert set(run["left_out"][sleep]) == {"EOG horizontal"} and run["left_out"][sleep]["EOG horizontal"]
    assert run["scored_channels"]["eegmmidb/S001R01.edf"] == BCI2000


def test_replay_gives_the_pipelines_own_events(measured, corpus):
    det, recs, _ = measured
    cfg = load_config(None, AS_RECORDED)
    rec = next(r for r in recs if r.person == "S002")
    sc = bg.score_recording(rec, cfg, det)
    assert any(e.kind == "onset" for e in sc.events) and any(e.kind == "offset" for e in sc.events)
    # same events, times, channels; the pipeline marks what its scaler did not know (background_unknown,
    # background_learned), which is not the decision's and not replayed
    assert bg.replay(sc, cfg.decision, cfg.window.hop_s) == decisions(sc.events)
    assert any(e.background_unknown for e in sc.events)  # its onset came before the levels were known
    # a pipeline run with another aggregation equals the replay with it
    other = dataclasses.replace(cfg, decision=dataclasses.replace(cfg.decision, aggregation="max"))
    quiet = next(r for r in recs if r.path.name == "S001R02.edf")
    sc_max = bg.score_recording(quiet, other, det)
    assert [e.kind for e in sc_max.events] == ["onset", "offset"]
    assert bg.replay(bg.score_recording(quiet, cfg, det), other.decision, cfg.window.hop_s) == decisions(sc_max.events)


def decisions(events: list) -> list:
    """The decision machine's events, without the pipeline's marks."""
    return [dataclasses.replace(e, background_learned=(), background_unknown=()) for e in events]


def test_out_of_fold_is_read_from_the_card():
    shipped = bg.fold_note(object(), {"training": {"data_sources": ["bonn", "nscnd"]}})
    assert "trained without any of this corpus" in shipped and "bonn, nscnd" in shipped
    baseline = bg.fold_note(object(), {"training": {"data": ["bonn", "nscnd"]}})  # evaluate's baseline card
    assert "trained without any of this corpus" in baseline
    assert bg.saw_background({"training": {"data": [{"name": "eegmmidb background (PhysioNet)"}]}})
    assert "NOT out of fold" in bg.fold_note(object(), {"training": {"data_sources": ["bonn", "background"]}})
    assert "not known" in bg.fold_note(object(), {"training": {}})
    assert "out of fold by person" in bg.fold_note({"S001": object()}, None)


def test_command_prints_the_table_and_writes_json(corpus, toy_export, tmp_path, capsys):
    out = tmp_path / "fa.json"
    rc = bg.main(
        ["--model", str(toy_export), "--background", str(corpus), "--no-baseline", "--no-peer", "--json", str(out)]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "pooled" in printed and "1 in 0.05 h" in printed and "eegmmidb/S002R03.edf at" in printed
    data = json.loads(out.read_text())
    shipped = load_config(bg.REPO / "config" / "realtime-detect.toml")  # the command's default, as the daemon's
    assert data["model_version"] == "toy-amplitude-1" and len(data["recordings"]) == 4
    (run,) = data["runs"]
    assert (run["detector"], run["front_end"]["montage"], run["setting"]) == (
        "network",
        shipped.signal.montage,
        "aggregation=binomial",
    )
    assert run["sources"]["pooled"]["false_alarms"] == 1 and run["decision"] == dataclasses.asdict(shipped.decision)
    assert bg.main(["--model", str(toy_export), "--background", str(tmp_path / "none"), "--no-peer"]) == 2


def test_report_section_shows_every_detector_alarm_and_left_out_channel(measured, corpus):
    from evaluation import report

    _, _, result = measured
    text = "\n".join(report.background_lines({"background": str(corpus), **result}))
    assert text.startswith("## False alarms on continuous background EEG")
    assert "| network (shipped model) | as_recorded | 2 of n, on 0.6" in text and "| as_recorded | max, on" in text
    assert "1 in 0.05 h" in text and "`eegmmidb/S002R03.edf` at" in text
    assert "`EOG horizontal`:" in text and "False alarms per person" in text and "S002 1" in text
    assert "not 10-20 EEG" not in text  # every alarm came from scalp channels
    empty = "\n".join(report.background_lines(None))
    assert "Not run" in empty


def test_evaluate_runs_the_background_from_the_data_root(corpus, toy_export, tmp_path):
    from evaluation import evaluate as ev

    root = tmp_path / "data"
    root.mkdir()
    args = ev.parse_args(["--data-root", str(root), "--no-peer"])
    assert ev.background_dir(args) is None  # no DATA_ROOT/background: skipped
    (root / "background").symlink_to(corpus, target_is_directory=True)
    assert ev.background_dir(args) == root / "background"
    assert ev.background_dir(ev.parse_args(["--data-root", str(root), "--no-background"])) is None
    args = ev.parse_args(["--background", str(corpus), "--config", str(tmp_path / "none.toml")])
    assert ev.background_dir(args) == corpus
    (tmp_path / "none.toml").write_text("")
    result = ev.background_false_alarms(args, {"network": load_detector(toy_export)}, None, tmp_path)
    assert result is not None and result["runs"][0]["sources"]["pooled"]["false_alarms"] == 1
    assert json.loads((tmp_path / "background_false_alarms.json").read_text()) == result


def test_front_ends_pass_the_montage_through_the_config(measured):
    det, recs, _ = measured
    two = [recs[0], recs[-1]]  # eegmmidb (referential) and Sleep-EDF (already bipolar)
    result = bg.measure(two, load_config(None, AS_RECORDED), {"network": det}, montages=["as_recorded", "bipolar"])
    plain, banana = result["runs"]
    assert (plain["front_end"]["montage"], banana["front_end"]["montage"]) == ("as_recorded", "bipolar")
    assert plain["scored_channels"]["eegmmidb/S001R01.edf"] == BCI2000 and not plain["front_end"]["montage_not_applied"]
    derivations = banana["scored_channels"]["eegmmidb/S001R01.edf"]
    assert len(derivations) == 18 and derivations[:2] == ["Fp1-F7", "F7-T7"]
    (why,) = banana["front_end"]["montage_not_applied"].values()  # the sleep file says why it stays as recorded
    assert "already bipolar" in why
    # a scorer that is not the pipeline (the peer) gets the same front end's signal
    from realtime.recordings import read_recording

    r = read_recording(recs[0].path)
    data, names, left_out, whole_bed = bg.front_end_signal(r, load_config(None, {"signal.montage": "bipolar"}), det)
    assert whole_bed == ()
    assert names == derivations and not left_out
    np.testing.assert_allclose(data[0], r.data[BCI2000.index("Fp1.")] - r.data[BCI2000.index("F7..")])


@pytest.mark.skipif(
    not __import__("evaluation.peer", fromlist=["x"]).peer_available()[0], reason="brainmaze-eeg-models not installed"
)
def test_peer_scores_the_channels_the_pipeline_selects_and_caches_them(measured, tmp_path):
    from evaluation.peer import PeerScorer

    det, recs, _ = measured
    sleep = [r for r in recs if r.source == "sleep-edf"]
    scorer = PeerScorer("modelA", window_s=8.0)
    result = bg.measure(sleep, load_config(None, AS_RECORDED), {"network": det}, peer=scorer, peer_cache=tmp_path)
    peer = result["runs"][-1]
    assert peer["detector"] == "peer" and peer["out_of_fold"] == bg.PEER_NOTE
    assert peer["scored_channels"]["sleep-edf/SC4012E0-PSG.edf"] == ["EEG Fpz-Cz", "EEG Pz-Oz"]
    assert peer["sources"]["sleep-edf"]["hours"] == pytest.approx(45 / 3600, abs=1e-4)
    (cached,) = tmp_path.glob("background_*.npz")
    first = bg.score_peer(sleep[0], load_config(None, AS_RECORDED), scorer, det, tmp_path)
    with np.load(cached) as z:
        np.testing.assert_array_equal(z["probs"], first.channel_probs)
        assert z["probs"].shape == (first.times.size, 2) and np.isfinite(z["probs"]).all()


def test_a_gain_stress_is_its_own_front_end(corpus, toy_export):
    # the toy model is an amplitude meter (threshold 60 µV): the quiet 15 µV Sleep-EDF night alarms only
    # once multiplied by 8, and the table says which gain each row ran at
    det = load_detector(toy_export)
    recs = [r for r in bg.discover(corpus) if r.source == "sleep-edf"]
    result = bg.measure(recs, load_config(None, AS_RECORDED), {"network": det}, gains=(1.0, 8.0))
    by_gain = {r["front_end"]["gain"]: r["sources"]["pooled"]["false_alarms"] for r in result["runs"]}
    assert by_gain[1.0] == 0 and by_gain[8.0] >= 1
    assert "as_recorded x8" in bg.table(result)


def test_out_of_fold_by_person_from_a_cv_run(corpus, toy_export, tmp_path, capsys):
    # two folds: S001 and SC401 held out by fold-0, S002 by fold-1 (split.json as train-detector cv writes it)
    cv = tmp_path / "cv"
    for fold, test in (("fold-0", ["S001", "SC401"]), ("fold-1", ["S002"])):
        (cv / fold).mkdir(parents=True)
        (cv / fold / "split.json").write_text(json.dumps({"background": {"by": "person", "test": test}}))
    exports = tmp_path / "exports"
    exports.mkdir()
    for fold in ("fold-0", "fold-1"):
        (exports / fold).symlink_to(toy_export, target_is_directory=True)
    loaded = []
    mapping = bg.fold_detectors(cv, exports, lambda p: loaded.append(p.name) or p.name)
    assert mapping == {"S001": "fold-0", "SC401": "fold-0", "S002": "fold-1"} and loaded == ["fold-0", "fold-1"]

    out = tmp_path / "oof.json"
    args = ["--model", str(toy_export), "--background", str(corpus), "--no-baseline", "--no-peer"]
    assert bg.main([*args, "--cv-run", str(cv), "--cv-exports", str(exports), "--json", str(out)]) == 0
    (run,) = json.loads(out.read_text())["runs"]
    assert run["out_of_fold"].startswith("out of fold by person")
    assert {p: v["false_alarms"] for p, v in run["per_person"].items()} == {"S001": 0, "S002": 1, "SC401": 0}

    (cv / "fold-1" / "split.json").write_text(json.dumps({"background": {"test": ["S001"]}}))
    with pytest.raises(ValueError, match="'S001' is held out by two folds"):
        bg.fold_detectors(cv, exports, lambda p: p)
    assert bg.main([*args, "--cv-run", str(cv), "--cv-exports", str(exports)]) == 2
    assert "held out by two folds" in capsys.readouterr().err


def test_evaluate_scores_the_corpus_out_of_fold_under_the_models_settings(corpus, toy_export, tmp_path):
    """``train-detector evaluate --cv-run``: each person by the fold that held them out, under ``--model``'s card
    settings (not the fold cards' own); a cv run that is not one stops the command before any long work."""
    import shutil

    from evaluation import evaluate as ev
    from evaluation.model_settings import derived_by, write_card_settings

    cv, exports = tmp_path / "cv", tmp_path / "exports"
    for fold, test in (("fold-0", ["S001", "SC401"]), ("fold-1", ["S002"])):
        (cv / fold).mkdir(parents=True)
        (cv / fold / "split.json").write_text(json.dumps({"background": {"by": "person", "test": test}}))
        exports.mkdir(exist_ok=True)
        (exports / fold).symlink_to(toy_export, target_is_directory=True)  # the fold cards: built-in settings
    model = tmp_path / "model"
    shutil.copytree(toy_export, model)
    own = {"on_threshold": 0.8, "off_threshold": 0.4, "smoothing_windows": 1, "min_duration_s": 1.0}
    write_card_settings(model, "decision", {**own, "derived_by": derived_by("test")})
    common = ["--model", str(model), "--out", str(tmp_path / "o"), "--artifacts", str(tmp_path / "a"), "--no-peer"]
    args = ev.parse_args([*common, "--background", str(corpus), "--cv-run", str(cv), "--cv-exports", str(exports)])
    folds = ev.cv_fold_detectors(args, load_detector(model))
    assert folds is not None and set(folds) == {"S001", "S002", "SC401"}
    result = ev.background_false_alarms(args, {"network": folds}, None, tmp_path)
    assert result is not None
    (run,) = result["runs"]
    assert run["out_of_fold"].startswith("out of fold by person")
    assert {k: run["decision"][k] for k in own} == own  # the fold cards alone would give on 0.6, off 0.5, 2 s
    assert set(run["per_person"]) == {"S001", "S002", "SC401"}
    assert json.loads((tmp_path / "background_false_alarms.json").read_text())["runs"][0]["decision"] == run["decision"]

    with pytest.raises(SystemExit, match="--cv-run: no fold-"):  # before the data root is even looked at
        ev.main(
            [
                *common,
                "--data-root",
                str(tmp_path / "nowhere"),
                "--cv-run",
                str(tmp_path / "o"),
                "--cv-exports",
                str(exports),
            ]
        )
    for bad in (["--cv-run", str(cv)], ["--cv-run", str(cv), "--cv-exports", str(exports), "--no-background"]):
        with pytest.raises(SystemExit) as exc:
            ev.parse_args([*common, *bad])
        assert exc.value.code == 2


def test_write_card_sets_the_measured_channel_rate_and_retuning_keeps_it(corpus, toy_export, tmp_path):
    import shutil

    from evaluation.model_settings import derived_by, write_card_settings
    from realtime.model import read_card

    export = tmp_path / "export"
    shutil.copytree(toy_export, export)
    tuned = {"on_threshold": 0.6, "off_threshold": 0.5, "smoothing_windows": 1, "min_duration_s": 2.0}
    write_card_settings(export, "decision", {**tuned, "derived_by": derived_by("tune")})
    out = tmp_path / "fa.json"
    args = ["--model", str(toy_export), "--background", str(corpus), "--no-baseline", "--no-peer"]
    assert bg.main([*args, "--write-card", str(export), "--json", str(out)]) == 0
    (run,) = json.loads(out.read_text())["runs"]
    rate = run["channel_rate"]  # the bursts' channel-windows reach on_threshold, the rest does not
    assert 0 < rate["at_or_above"] < rate["channel_windows"]
    decision = read_card(export)["settings"]["decision"]
    assert decision["channel_false_rate"] == pytest.approx(rate["rate"], rel=1e-2)
    assert decision["on_threshold"] == 0.6 and decision["derived_by"].startswith("tune (")
    assert "; channel_false_rate: python -m evaluation.background --gain 1" in decision["derived_by"]
    # re-tuning the thresholds keeps the measured rate and its note
    write_card_settings(export, "decision", {**tuned, "on_threshold": 0.7, "derived_by": derived_by("tune again")})
    again = read_card(export)["settings"]["decision"]
    assert again["on_threshold"] == 0.7 and again["channel_false_rate"] == decision["channel_false_rate"]
    assert again["derived_by"].startswith("tune again (") and "channel_false_rate: python -m" in again["derived_by"]
    # the first recording alone (quiet) has no channel-window at on_threshold: nothing to write, said so
    assert bg.main([*args, "--limit", "1", "--write-card", str(export)]) == 2


def test_edited_takes_a_gain_per_sample(tmp_path):
    """A background that rises along a recording (experiments.scaling --rise-to): the gain array multiplies each
    sample, read block by block as the pipeline reads."""
    from realtime.recordings import open_recording, write_npz

    x = np.random.default_rng(0).normal(0, 10, (3, 500))
    r = open_recording(write_npz(tmp_path / "x.npz", x, 100.0, ["C3", "C4", "Cz"]))
    ramp = np.linspace(1.0, 4.0, 500)
    edited = bg.Edited(source=r, gain=ramp, **r.metadata())
    np.testing.assert_allclose(edited.read(100, 300), x[:, 100:300] * ramp[100:300])
    np.testing.assert_allclose(bg.Edited(source=r, gain=2.0, **r.metadata()).read(0, 10), x[:, :10] * 2.0)


def test_an_alarm_names_a_channel_that_is_not_eeg_but_not_a_montages_mean():
    """An alarm's ``not_10_20`` channels: an ECG lead, a DC input, a counter are named; a 10-20 electrode in any
    naming, a derivation, a repeat and the means the montages add for the whole bed (AVG, AVG-L, AVG-R) are not."""
    names = ["EEG FP1-REF", "Fp1-F7", "T3-AVG", "Fp1.#2", "AVG", "AVG-L", "AVG-R", "EEG EKG-REF", "DC1-DC", "Counter"]
    assert bg.not_10_20(names) == ["EEG EKG-REF", "DC1-DC", "Counter"]
