"""Model settings travel with the model: the card's "settings" are validated at load, exposed on the
detector, and ranked default < model card < config file < command line by daemon and offline review.
Also: the typed Detector protocol, and the "auto" backend."""

from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realtime.config import Config, ConfigError, DecisionConfig, apply_model_settings, build_config, load_config
from realtime.daemon import Daemon, TimedDetector
from realtime.model import (
    Detector,
    ModelLoadError,
    gpu_present,
    load_detector,
    read_card,
    resolve_backend,
    validate_settings,
)
from realtime.offline import run_offline

REPO = Path(__file__).resolve().parents[2]
SEIZURE = REPO / "realtime" / "data" / "chbmit" / "chb01_03_Seizure.edf"

SETTINGS = {
    "decision": {
        "on_threshold": 0.95,
        "off_threshold": 0.9,
        "smoothing_windows": 2,
        "min_duration_s": 3.0,
        "derived_by": "train-detector evaluate --tune",
    },
    "signal": {"amplitude_low_uv": 5.0, "amplitude_high_uv": 300.0},
}


def with_settings(toy_export: Path, dest: Path, settings) -> Path:
    """A copy of the toy export whose card carries ``settings`` (the card is not in its own sha256 list)."""
    shutil.copytree(toy_export, dest)
    card = json.loads((dest / "model_card.json").read_text())
    card["settings"] = settings
    (dest / "model_card.json").write_text(json.dumps(card))
    return dest


@pytest.fixture(scope="module")
def carded(toy_export, tmp_path_factory) -> Path:
    return with_settings(toy_export, tmp_path_factory.mktemp("carded") / "export", SETTINGS)


# ----------------------------------------------------------------------------- validation
def test_valid_settings_are_kept_and_each_section_and_key_is_optional():
    assert validate_settings(SETTINGS) == SETTINGS
    assert validate_settings({}) == {}
    assert validate_settings({"decision": {"on_threshold": 0.7}}) == {"decision": {"on_threshold": 0.7}}
    rule = {"channel_false_rate": 1.4e-3, "channel_correlation": 0.03, "bed_false_rate": 1e-3}
    assert validate_settings({"decision": rule}) == {"decision": rule}
    assert validate_settings({"signal": {"derived_by": "python -m experiments.amplitude"}})["signal"] == {
        "derived_by": "python -m experiments.amplitude"
    }


@pytest.mark.parametrize(
    "settings, quoted",
    [
        ({"decision": {"on_threshold": 1.5}}, "1.5"),
        ({"decision": {"on_threshold": 0}}, "0"),
        ({"decision": {"off_threshold": "0.4"}}, "'0.4'"),
        ({"decision": {"on_threshold": 0.5, "off_threshold": 0.6}}, "0.6"),
        ({"decision": {"smoothing_windows": 0}}, "0"),
        ({"decision": {"smoothing_windows": 2.5}}, "2.5"),
        ({"decision": {"smoothing_windows": 10**23}}, "100000000000000000000000"),  # a card the decision could not hold
        ({"decision": {"min_duration_s": -1}}, "-1"),
        ({"decision": {"on_thresold": 0.5}}, "'on_thresold'"),
        ({"decision": {"derived_by": 3}}, "3"),
        ({"decision": {"channel_correlation": 1.0}}, "channel_correlation must be a number in [0, 1), got 1.0"),
        ({"decision": {"channel_correlation": -0.01}}, "-0.01"),
        ({"decision": {"bed_false_rate": 0}}, "bed_false_rate must be a number in (0, 1), got 0"),
        ({"decision": {"channel_false_rate": 1.5}}, "channel_false_rate must be a number in (0, 1), got 1.5"),
        ({"signal": {"amplitude_low_uv": 500.0, "amplitude_high_uv": 400.0}}, "500.0"),
        ({"signal": {"amplitude_high_uv": float("nan")}}, "nan"),
        ({"signal": {"background_limit_uv": -5.0}}, "-5.0"),
        ({"signal": {"background_limit_uv": "50"}}, "'50'"),
        ({"signal": {"background_delta_limit_uv": -1.0}}, "-1.0"),
        ({"signal": {"background_delta_limit_uv": None}}, "None"),
        ({"signal": {"resample_filter": "fast"}}, "'fast'"),
        ({"signal": {"resample_filter": 3}}, "3"),
        ({"window": {"hop_s": 1.0}}, "'window'"),
        ({"decision": [0.5]}, "[0.5]"),
        ([1, 2], "[1, 2]"),
    ],
)
def test_invalid_settings_are_refused_quoting_the_value(settings, quoted):
    with pytest.raises(ModelLoadError) as info:
        validate_settings(settings)
    assert quoted in str(info.value)


def test_an_export_with_an_invalid_settings_section_is_refused_at_load(toy_export, tmp_path):
    bad = with_settings(toy_export, tmp_path / "bad", {"decision": {"on_threshold": 0.4, "off_threshold": 0.7}})
    with pytest.raises(ModelLoadError, match=r"off_threshold .*0\.7.*0\.4") as info:
        load_detector(bad, backend="litert")
    assert "model_card.json" in str(info.value) and "settings" in str(info.value)


def test_settings_are_exposed_on_the_detector(carded, toy_export):
    assert read_card(carded)["settings"] == SETTINGS
    assert load_detector(carded, backend="litert").settings == SETTINGS
    assert load_detector(toy_export, backend="litert").settings == {}


# ----------------------------------------------------------------------------- precedence
def test_precedence_default_card_file_flag():
    card = SETTINGS
    # nothing set: the card's values, "model card" as the source (and the section's derived_by)
    cfg, src = apply_model_settings(build_config({}), card)
    assert (
        cfg.decision.on_threshold,
        cfg.decision.off_threshold,
        cfg.decision.smoothing_windows,
        cfg.decision.min_duration_s,
    ) == (0.95, 0.9, 2, 3.0)
    assert (cfg.signal.amplitude_low_uv, cfg.signal.amplitude_high_uv) == (5.0, 300.0)
    assert src["decision.on_threshold"] == "model card"
    assert src["decision.derived_by"] == "train-detector evaluate --tune" and "signal.derived_by" not in src
    assert src["signal.amplitude_low_uv"] == "model card"
    # a value in the file beats the card; a flag beats both
    cfg, src = apply_model_settings(
        build_config({"decision": {"on_threshold": 0.97}}, {"decision.smoothing_windows": 4}), card
    )
    assert (cfg.decision.on_threshold, src["decision.on_threshold"]) == (0.97, "config file")
    assert (cfg.decision.smoothing_windows, src["decision.smoothing_windows"]) == (4, "command line")
    assert cfg.decision.off_threshold == 0.9 and src["decision.off_threshold"].startswith("model card")
    cfg, _ = apply_model_settings(
        build_config({"decision": {"on_threshold": 0.97}}, {"decision.on_threshold": 0.99}), card
    )
    assert cfg.decision.on_threshold == 0.99
    # no card settings: the built-in defaults
    cfg, src = apply_model_settings(build_config({}), {})
    assert cfg.decision == DecisionConfig() and src["decision.on_threshold"] == "default"
    # a Config built in code is taken as it is
    mine = Config(decision=DecisionConfig(on_threshold=0.7))
    cfg, src = apply_model_settings(mine, card)
    assert cfg is mine and src["decision.on_threshold"] == "set in code"


def test_a_file_value_that_does_not_fit_the_card_is_an_error_quoting_both():
    with pytest.raises(ConfigError) as info:
        apply_model_settings(build_config({"decision": {"off_threshold": 0.97}}), SETTINGS)
    text = str(info.value)
    assert "0.97" in text and "0.95" in text and "model card" in text and "config file" in text


def test_a_toml_file_with_the_model_keys_commented_out_leaves_them_to_the_card():
    from realtime.config import load_config

    cfg, src = apply_model_settings(load_config(REPO / "config" / "realtime-detect.toml"), SETTINGS)
    assert cfg.decision.on_threshold == 0.95 and src["decision.on_threshold"].startswith("model card")
    assert cfg.signal.amplitude_high_uv == 300.0 and cfg.decision.k_channels == 2
    # the montage too: the shipped file leaves it to a card that names the one its network was trained on
    cfg, src = apply_model_settings(
        load_config(REPO / "config" / "realtime-detect.toml"), {"signal": {"montage": "bipolar"}}
    )
    assert (cfg.signal.montage, src["signal.montage"]) == ("bipolar", "model card")
    # and the background scaler's limit, measured for the card's network; --background-limit-uv beats it
    card = {"signal": {"background_limit_uv": 70.0, "derived_by": "python -m experiments.scaling --limit-gains 2"}}
    cfg, src = apply_model_settings(load_config(REPO / "config" / "realtime-detect.toml"), card)
    assert (cfg.signal.background_limit_uv, src["signal.background_limit_uv"]) == (70.0, "model card")
    cfg, src = apply_model_settings(build_config({}, {"signal.background_limit_uv": 0.0}), card)
    assert (cfg.signal.background_limit_uv, src["signal.background_limit_uv"]) == (0.0, "command line")
    assert apply_model_settings(build_config({}), {})[0].signal.background_limit_uv == 50.0  # built-in
    # the delta limit the same way
    card = {"signal": {"background_delta_limit_uv": 35.0, "derived_by": "docs/background.md"}}
    cfg, src = apply_model_settings(load_config(REPO / "config" / "realtime-detect.toml"), card)
    assert (cfg.signal.background_delta_limit_uv, src["signal.background_delta_limit_uv"]) == (35.0, "model card")
    cfg, src = apply_model_settings(build_config({}, {"signal.background_delta_limit_uv": 0.0}), card)
    assert (cfg.signal.background_delta_limit_uv, src["signal.background_delta_limit_uv"]) == (0.0, "command line")
    # and the resampling filter a model needs: the card's, unless a flag sets another
    card = {"signal": {"resample_filter": "training", "derived_by": "resample_filter: train.export"}}
    cfg, src = apply_model_settings(load_config(REPO / "config" / "realtime-detect.toml"), card)
    assert (cfg.signal.resample_filter, src["signal.resample_filter"]) == ("training", "model card")
    cfg, src = apply_model_settings(build_config({}, {"signal.resample_filter": "short"}), card)
    assert (cfg.signal.resample_filter, src["signal.resample_filter"]) == ("short", "command line")
    assert apply_model_settings(build_config({}), {})[0].signal.resample_filter == "short"  # built-in


# ----------------------------------------------------------------------------- offline and daemon use them
def _events(model, cfg) -> list[dict]:
    buf = io.StringIO()
    assert run_offline([SEIZURE], cfg, model=model, out=buf) == 0
    return [json.loads(s) for s in buf.getvalue().splitlines() if s.strip()]


def _onset_time(events: list[dict]) -> float:
    return next(m["time"] for m in events if m["type"] == "seizure.onset")


K_OF_N = {"decision": {"aggregation": "k_of_n"}}


def test_offline_review_uses_the_card_unless_the_file_or_a_flag_sets_a_value(carded, toy_export, caplog):
    plain = load_detector(toy_export, backend="litert")
    withcard = load_detector(carded, backend="litert")
    # the toy model's smoothed probability (2 of the 23 channels: the bed rule is not what this test is
    # about) crosses 0.6 at the 3rd window (0.94): onset after 2 s more;
    # the card's 2-window smoothing, 0.95 threshold and 3 s confirmation publish one window later
    assert _onset_time(_events(plain, build_config(K_OF_N))) == pytest.approx(6.104)
    with caplog.at_level(logging.INFO, logger="realtime.offline"):
        assert _onset_time(_events(withcard, build_config(K_OF_N))) == pytest.approx(7.104)
    assert "decision.on_threshold=0.95 (model card)" in caplog.text
    # the config file's explicit keys win over the card: the same events as the plain model
    file_cfg = build_config(
        {
            "decision": {
                **K_OF_N["decision"],
                "on_threshold": 0.6,
                "off_threshold": 0.5,
                "smoothing_windows": 1,
                "min_duration_s": 2.0,
            }
        }
    )
    strip = lambda ls: [{k: v for k, v in m.items() if k not in ("wall_time", "run")} for m in ls]  # noqa: E731
    assert strip(_events(withcard, file_cfg)) == strip(_events(plain, file_cfg))
    assert _onset_time(_events(withcard, file_cfg)) == pytest.approx(6.104)
    # a flag wins over both: 0.99 is reached later than the card's 0.95
    flag_cfg = build_config({"decision": {**K_OF_N["decision"], "on_threshold": 0.6}}, {"decision.on_threshold": 0.99})
    assert _onset_time(_events(withcard, flag_cfg)) > 7.104 + 0.5


def test_offline_refuses_a_file_value_that_does_not_fit_the_card(carded):
    buf = io.StringIO()
    assert (
        run_offline(
            [SEIZURE],
            build_config({"decision": {"off_threshold": 0.97}}),
            model=load_detector(carded, backend="litert"),
            out=buf,
        )
        == 1
    )
    line = json.loads(buf.getvalue())
    assert line["type"] == "error" and "0.97" in line["error"]


def started_daemon(export: Path, tmp_path: Path, raw: dict, flags: dict | None = None) -> Daemon:
    """A daemon on ``export`` (LiteRT) with the config ``raw`` (plus loopback endpoints, its own alert log, no
    metrics) and ``flags``, started (the model loaded, its settings applied) and shut down again."""
    cfg = build_config(
        {
            "stream": {"name": "absent-bed"},
            "model": {"path": str(export), "backend": "litert"},
            "alerts": {"endpoint": "tcp://127.0.0.1:*", "replay_endpoint": "", "log_path": str(tmp_path / "a.jsonl")},
            "metrics": {"enabled": False},
            **raw,
        },
        flags,
    )
    d = Daemon(cfg, env={})
    try:
        d.start()
    finally:
        d.shutdown()
    return d


def test_the_daemon_takes_the_card_settings_at_start_and_logs_their_sources(carded, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="realtime.daemon"):
        d = started_daemon(carded, tmp_path, {"decision": {"min_duration_s": 1.0}}, {"decision.off_threshold": 0.5})
    dec = d.config.decision
    assert (dec.on_threshold, dec.off_threshold, dec.smoothing_windows, dec.min_duration_s) == (0.95, 0.5, 2, 1.0)
    assert d.config.signal.amplitude_low_uv == 5.0
    assert d.setting_sources["decision.min_duration_s"] == "config file"
    assert d.setting_sources["decision.off_threshold"] == "command line"
    assert "decision.on_threshold=0.95 (model card)" in caplog.text
    assert "the card's decision settings derived by train-detector evaluate --tune" in caplog.text
    assert "decision.off_threshold=0.5 (command line)" in caplog.text


def test_a_reload_keeps_the_card_settings(carded, tmp_path):
    from realtime.config import load_config
    from realtime.metrics import Metrics

    path = tmp_path / "detect.toml"
    path.write_text('[stream]\nname = "absent-bed"\n[model]\nbackend = "litert"\n')
    d = Daemon(load_config(path), config_path=path, env={}, detector=load_detector(carded, backend="litert"))
    d.metrics = Metrics()
    d.detector = TimedDetector(d._detector, d.metrics.inference_duration.observe)
    d.config, d.setting_sources = apply_model_settings(d.config, d.detector.settings)
    path.write_text('[stream]\nname = "absent-bed"\n[model]\nbackend = "litert"\n[decision]\nmin_duration_s = 5.0\n')
    assert d.reload() is True
    assert d.config.decision.on_threshold == 0.95 and d.config.decision.min_duration_s == 5.0
    assert d.setting_sources["decision.min_duration_s"] == "config file"


# ----------------------------------------------------------------------------- the Detector protocol
@pytest.fixture(scope="module")
def baseline_export(tmp_path_factory) -> Path:
    from evaluation.baseline import export_baseline, fit_baseline

    rng = np.random.default_rng(0)
    t = np.arange(1024) / 250.0
    neg = rng.normal(0, 20, (40, 1024))
    pos = rng.normal(0, 20, (40, 1024)) + 150 * np.sin(2 * np.pi * 3 * t)
    params = fit_baseline(np.vstack([neg, pos]), np.r_[np.zeros(40), np.ones(40)])
    return export_baseline(params, tmp_path_factory.mktemp("baseline"), training={"note": "synthetic"})


@pytest.mark.parametrize("which", ["tensorflow", "litert", "auto", "timed", "baseline"])
def test_every_model_object_is_a_detector(which, toy_export, request):
    if which == "baseline":
        det = load_detector(request.getfixturevalue("baseline_export"), backend="litert")
    elif which == "timed":
        det = TimedDetector(load_detector(toy_export, backend="litert"), lambda s: None)
    else:
        det = load_detector(toy_export, backend=which)
    assert isinstance(det, Detector)
    p = det.predict(np.zeros((2, det.window_samples), dtype=np.float32))
    # the baseline's card pins the resampling filter its features need (evaluation.baseline); the toy's sets nothing
    own = {"signal": {"resample_filter": "training"}} if which == "baseline" else {}
    assert (
        p.shape == (2,)
        and {s: {k: v for k, v in d.items() if k != "derived_by"} for s, d in det.settings.items()} == own
    )
    if which == "baseline":  # and a daemon given it runs with that filter, unless a file or a flag sets another
        assert apply_model_settings(load_config(None), det.settings)[0].signal.resample_filter == "training"
        assert Config().signal.resample_filter == "short"


def test_an_object_without_predict_is_not_a_detector():
    class NoPredict:
        model_version, architecture, sample_rate_hz, window_samples = "x", "toy", 250.0, 1024
        backend, device, settings = "litert", "CPU", {}

        def warmup(self, batch_sizes=(1,)):
            pass

    assert not isinstance(NoPredict(), Detector)


# ----------------------------------------------------------------------------- backend "auto"
def test_auto_is_the_default_and_picks_litert_on_the_cpu(toy_export, monkeypatch, caplog):
    assert Config().model.backend == "auto"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")  # no GPU for this process, whatever the machine has
    with caplog.at_level(logging.INFO, logger="realtime.model"):
        det = load_detector(toy_export)
    assert (det.backend, det.device) == ("litert", "CPU")
    assert "model backend 'auto': litert (no GPU device)" in caplog.text
    assert load_detector(toy_export, device="cpu").backend == "litert"
    assert resolve_backend("auto", "cpu", toy_export) == "litert"
    assert resolve_backend("tensorflow", "cpu", toy_export) == "tensorflow"  # asked for: unchanged


def test_auto_picks_tensorflow_for_a_gpu_and_for_an_export_without_tflite(tmp_path, monkeypatch):
    from toy_export import make_toy_export

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert resolve_backend("auto", "gpu") == "tensorflow"  # only TensorFlow runs on a GPU
    with pytest.raises(ModelLoadError, match="TensorFlow sees no GPU"):  # and here there is none to see
        load_detector(None, device="gpu")
    bare = make_toy_export(tmp_path / "no-tflite", with_tflite=False)
    assert resolve_backend("auto", "cpu", bare) == "tensorflow"
    assert load_detector(bare).backend == "tensorflow"


def test_gpu_present_looks_for_nvidia_device_nodes(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert not gpu_present(tmp_path)
    for name in ("nvidiactl", "nvidia-uvm", "nvidia-modeset", "nvidia-caps"):  # the driver's, not a GPU
        (tmp_path / name).touch()
    assert not gpu_present(tmp_path)
    (tmp_path / "nvidia1").touch()
    assert gpu_present(tmp_path)
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert not gpu_present(tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert gpu_present(tmp_path)
    assert not gpu_present(tmp_path / "missing")


BLOCKED = """
import sys
sys.modules["tensorflow"] = None  # importing tensorflow now raises ImportError
import io, json
from realtime.config import build_config
from realtime.offline import run_offline
buf = io.StringIO()
rc = run_offline([sys.argv[1]], build_config({"model": {"backend": "auto"}}), out=buf)
from realtime.model import load_detector
print(json.dumps({"rc": rc, "lines": buf.getvalue().splitlines(),
                  "backend": load_detector(None).backend,
                  "tf_modules": sorted(m for m in sys.modules if m.startswith(("tensorflow", "keras"))
                                       and sys.modules[m] is not None)}))
"""


def test_without_tensorflow_auto_runs_on_litert_and_finds_the_same_onsets_as_tensorflow():
    env_py = [sys.executable, "-c", BLOCKED, str(SEIZURE)]
    proc = subprocess.run(env_py, capture_output=True, text=True, timeout=300, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["rc"] == 0 and got["backend"] == "litert" and got["tf_modules"] == []
    lite = [json.loads(s) for s in got["lines"]]
    buf = io.StringIO()
    assert run_offline([SEIZURE], build_config({"model": {"backend": "tensorflow"}}), out=buf) == 0
    tf_lines = [json.loads(s) for s in buf.getvalue().splitlines()]
    assert lite[0] == tf_lines[0] and lite[0]["type"] == "channels"  # same channels scored and left out
    assert lite[-1] == tf_lines[-1] and lite[-1]["type"] == "summary"  # the same onsets per hour
    lite, tf_lines = lite[1:-1], tf_lines[1:-1]
    key = lambda m: (m["type"], m["event_id"], round(m["time"], 3), m.get("channels"))  # noqa: E731
    onsets = [key(m) for m in lite if m["type"] == "seizure.onset"]
    assert onsets, lite
    assert onsets == [key(m) for m in tf_lines if m["type"] == "seizure.onset"]
    assert [key(m) for m in lite] == [key(m) for m in tf_lines]


def test_without_litert_auto_runs_on_tensorflow():
    code = (
        "import sys\nsys.modules['ai_edge_litert'] = None\nsys.modules['tflite_runtime'] = None\n"
        "from realtime.model import load_detector\nprint(load_detector(None).backend)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["tensorflow"]


def test_neither_backend_importable_is_an_error_naming_both():
    code = (
        "import sys\nsys.modules['tensorflow'] = None\nsys.modules['ai_edge_litert'] = None\n"
        "sys.modules['tflite_runtime'] = None\n"
        "from realtime.model import load_detector, ModelLoadError\n"
        "try:\n    load_detector(None)\nexcept ModelLoadError as e:\n    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TensorFlow" in proc.stdout and "LiteRT" in proc.stdout and "'auto'" in proc.stdout


# ----------------------------------------------------------------------------- the montage it was trained on
def with_montage(toy_export: Path, dest: Path, montage: str) -> Path:
    """A copy of the toy export whose card says which montage its network was trained on (as train/export.py
    writes it for a run with multichannel recordings: ``"montage"``, beside ``"input_unit"``)."""
    shutil.copytree(toy_export, dest)
    card = json.loads((dest / "model_card.json").read_text())
    card["montage"] = montage
    (dest / "model_card.json").write_text(json.dumps(card))
    return dest


def _tuh_edf(path: Path) -> Path:
    """A referential recording as TUH ships it: 19 electrodes against LE, old names, and an ECG lead."""
    import edfio

    names = ["FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8"]
    names += ["T3", "T4", "T5", "T6", "FZ", "CZ", "PZ"]
    x = np.random.default_rng(0).normal(0, 20, (len(names) + 1, 30 * 250))
    labels = [f"EEG {n}-LE" for n in names] + ["EEG EKG-LE"]
    sigs = [edfio.EdfSignal(r, 250, label=n, physical_dimension="uV") for r, n in zip(x, labels, strict=True)]
    edfio.Edf(sigs).write(path)
    return path


def test_the_montage_a_model_was_trained_on_is_its_default_and_another_one_is_warned_about(
    toy_export, tmp_path, caplog
):
    from realtime.config import montage_warning

    bipolar = with_montage(toy_export, tmp_path / "bipolar", "bipolar")
    det = load_detector(bipolar, backend="litert")
    assert det.settings == {"signal": {"montage": "bipolar"}}
    cfg, src = apply_model_settings(build_config({}), det.settings)
    assert (cfg.signal.montage, src["signal.montage"]) == ("bipolar", "model card")
    assert montage_warning(cfg, det.settings) is None
    # a config file's choice wins, and is warned about
    cfg, src = apply_model_settings(build_config({"signal": {"montage": "average"}}), det.settings)
    assert (cfg.signal.montage, src["signal.montage"]) == ("average", "config file")
    assert "the model was trained on the 'bipolar' montage" in montage_warning(cfg, det.settings)
    # a model without a montage (the shipped one: single-channel training data) keeps the built-in default
    cfg, src = apply_model_settings(build_config({}), load_detector(toy_export, backend="litert").settings)
    assert (cfg.signal.montage, src["signal.montage"]) == ("average_hemispheres", "default")
    assert montage_warning(cfg, {}) is None
    # offline review of a referential file: the card's montage, the double banana, no ECG
    edf = _tuh_edf(tmp_path / "tuh.edf")
    buf = io.StringIO()
    with caplog.at_level(logging.INFO, logger="realtime.offline"):
        assert run_offline([edf], build_config({}), model=det, out=buf) == 0
    channels = json.loads(buf.getvalue().splitlines()[0])
    assert channels["montage"].startswith("bipolar double banana: 18 of 18 derivations")
    assert channels["scored"][:2] == ["Fp1-F7", "F7-T7"] and "EEG EKG-LE" in channels["left_out"]
    assert "signal.montage='bipolar' (model card)" in caplog.text and "trained on" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="realtime.offline"):
        as_recorded = build_config({}, {"signal.montage": "as_recorded"})
        assert run_offline([edf], as_recorded, model=det, out=io.StringIO()) == 0
    assert "signal.montage is 'as_recorded' but the model was trained on the 'bipolar' montage" in caplog.text


def test_a_card_naming_an_unknown_montage_is_refused_at_load(toy_export, tmp_path):
    with pytest.raises(
        ModelLoadError,
        match=r"field 'montage' must be one of 'as_recorded', 'bipolar', 'average', 'average_common', "
        r"'average_hemispheres', got 'banana'",
    ):
        load_detector(with_montage(toy_export, tmp_path / "bad", "banana"), backend="litert")


def test_the_daemon_takes_the_cards_montage_and_warns_when_the_config_sets_another(toy_export, tmp_path, caplog):
    export = with_montage(toy_export, tmp_path / "bipolar", "bipolar")
    with caplog.at_level(logging.INFO, logger="realtime.daemon"):
        d = started_daemon(export, tmp_path, {})
    assert (d.config.signal.montage, d.setting_sources["signal.montage"]) == ("bipolar", "model card")
    assert "signal.montage='bipolar' (model card)" in caplog.text and "trained on" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="realtime.daemon"):
        d = started_daemon(export, tmp_path, {"signal": {"montage": "average"}})
    assert d.config.signal.montage == "average"
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING and "trained on" in r.getMessage()]
    assert "signal.montage is 'average' but the model was trained on the 'bipolar' montage" in warning.getMessage()
