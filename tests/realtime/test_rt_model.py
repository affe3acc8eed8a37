"""load_detector on the toy export (TensorFlow, LiteRT and OpenVINO) and the checks on the card and files."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil

import numpy as np
import pytest

from realtime.model import BATCH_WINDOWS, ModelLoadError, batch_sizes, default_model_path, load_detector


def toy_p(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=1)
    return 1 / (1 + np.exp(-6 * (np.log(std + 1) - np.log(60.0))))


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.normal(size=(6, 1024)) * np.array([1, 10, 40, 60, 100, 300])[:, None]


@pytest.mark.parametrize("backend", ["tensorflow", "litert", "openvino"])
def test_predict_matches_the_toy_formula(toy_export, windows, backend):
    det = load_detector(toy_export, backend=backend, device="auto")
    assert det.backend == backend and det.device in ("CPU", "GPU:0")
    assert (det.sample_rate_hz, det.window_samples, det.model_version) == (250.0, 1024, "toy-amplitude-1")
    det.warmup((1, 3))
    p = det.predict(windows)
    assert p.shape == (6,) and p.dtype == np.float64
    np.testing.assert_allclose(p, toy_p(windows), atol=2e-4)
    # one batched call equals one call per channel
    np.testing.assert_allclose(p, np.concatenate([det.predict(w[None]) for w in windows]), atol=1e-6)
    assert det.predict(np.zeros((0, 1024))).shape == (0,)
    # integer input is accepted (cast to float32)
    np.testing.assert_allclose(det.predict(windows.astype(np.int32)), toy_p(windows.astype(np.int32)), atol=2e-4)


@pytest.mark.parametrize("batch_windows", [1, 6, 23, 32, 64, 100, 256, 480, 4096])
def test_the_batch_sizes_are_few_fine_and_end_at_batch_windows(batch_windows):
    sizes = batch_sizes(batch_windows)
    assert sizes[0] == 1 and sizes[-1] == batch_windows and list(sizes) == sorted(set(sizes))
    assert len(sizes) <= 4 + 4 * batch_windows.bit_length()  # a finite set, logarithmic in batch_windows
    for small, big in itertools.pairwise(sizes):
        if small >= 8:
            assert small % 8 == 0  # above 8: multiples of 8 (batch_windows itself excepted)
        if small >= 32:
            assert big <= small * 1.25  # padding a chunk to the next size adds at most a quarter above 32
    assert set(batch_sizes(batch_windows, steps_per_octave=1)) <= {1 << k for k in range(13)} | {batch_windows}


def test_a_bed_of_23_channels_runs_as_24_windows_not_32():
    assert batch_sizes(32) == (1, 2, 4, 8, 16, 24, 32)
    assert batch_sizes(256) == (1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256)
    assert batch_sizes(32, steps_per_octave=1) == (1, 2, 4, 8, 16, 32)  # the former set
    assert min(b for b in batch_sizes(BATCH_WINDOWS) if b >= 23) == 24
    with pytest.raises(ValueError, match="got 0"):
        batch_sizes(32, steps_per_octave=0)


@pytest.mark.parametrize("backend", ["tensorflow", "litert"])
def test_the_runtime_sees_only_its_batch_sizes_and_padding_changes_no_probability(toy_export, backend):
    det = load_detector(toy_export, backend=backend, batch_windows=6)
    assert det.batch_sizes == (1, 2, 4, 6)
    seen: list[int] = []
    run = det._run
    det._run = lambda x: seen.append(x.shape[0]) or run(x)  # type: ignore[method-assign]
    rng = np.random.default_rng(5)
    x = rng.normal(size=(15, 1024)) * rng.uniform(1, 300, size=(15, 1))
    p = det.predict(x)
    assert seen == [6, 6, 4]  # 6 + 6 + 3 windows, the last chunk padded with one zero window
    np.testing.assert_allclose(p, np.concatenate([det.predict(w[None]) for w in x]), atol=1e-6)
    np.testing.assert_allclose(p, toy_p(x), atol=2e-4)
    seen.clear()
    det.warmup()  # start-up: every size once
    assert seen == [1, 2, 4, 6]
    for bad in (0, 4097, 2.0, True):
        with pytest.raises(ModelLoadError, match=rf"batch_windows must be an integer in \[1, 4096\], got {bad!r}"):
            load_detector(toy_export, backend=backend, batch_windows=bad)


@pytest.mark.parametrize("backend", ["tensorflow", "litert"])
def test_a_backlog_is_chunked_at_batch_windows_and_only_warmed_shapes_run(toy_export, backend):
    det = load_detector(toy_export, backend=backend, batch_windows=64)
    assert det.batch_sizes == batch_sizes(64) == (1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64)
    seen: list[int] = []
    run = det._run
    det._run = lambda x: seen.append(x.shape[0]) or run(x)  # type: ignore[method-assign]
    det.warmup()  # the daemon's start-up: every size once, and only those
    assert seen == list(det.batch_sizes)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 1024)) * rng.uniform(1, 300, size=(300, 1))
    single = np.concatenate([det.predict(w[None]) for w in x[:40]])
    for n, calls in [(23, [24]), (46, [48]), (50, [56]), (69, [64, 8]), (65, [64, 1]), (300, [64, 64, 64, 64, 48])]:
        seen.clear()
        p = det.predict(x[:n])
        assert seen == calls, n  # a backlog above 64 windows: chunks of 64, the rest padded to the next size
        np.testing.assert_allclose(p[:40], single[: min(n, 40)], atol=1e-6)  # whatever the padding
        np.testing.assert_allclose(p, toy_p(x[:n]), atol=2e-4)
    # every call, warm-up and backlog alike, ran at a warmed size: the runtime's shapes stay this finite set
    assert set(seen) <= set(det.batch_sizes)


@pytest.mark.parametrize("backend", ["tensorflow", "litert", "openvino"])
def test_predict_refuses_bad_input(toy_export, windows, backend):
    det = load_detector(toy_export, backend=backend)
    bad = windows.copy()
    bad[4, 10] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf \(rows \[4\]\)"):
        det.predict(bad)
    with pytest.raises(ValueError, match=r"shape \[n, 1024\], got \(2, 1000\)"):
        det.predict(np.zeros((2, 1000)))


def test_tensorflow_cpu_when_asked_and_gpu_refused_without_one(toy_export):
    import tensorflow as tf

    assert load_detector(toy_export, device="cpu").device == "CPU"
    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(ModelLoadError, match="TensorFlow sees no GPU"):
            load_detector(toy_export, device="gpu")
    for backend in ("litert", "openvino"):
        with pytest.raises(ModelLoadError, match=f"the {backend} backend runs on the CPU here"):
            load_detector(toy_export, backend=backend, device="gpu")
    with pytest.raises(ModelLoadError, match="got 'onnx'"):
        load_detector(toy_export, backend="onnx")


@pytest.fixture
def export_copy(toy_export, tmp_path):
    dst = tmp_path / "export"
    shutil.copytree(toy_export, dst)
    return dst


def edit_card(path, **changes):
    card = json.loads((path / "model_card.json").read_text())
    for k, v in changes.items():
        if v is None:
            card.pop(k)
        else:
            card[k] = v
    (path / "model_card.json").write_text(json.dumps(card))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"metrics": None}, "lacks required field.*metrics"),
        ({"format_version": 2}, "'format_version' must be 1, got 2"),
        ({"positive_class": "ictal"}, "'positive_class' must be one of .*got 'ictal'"),
        ({"window_samples": "1024"}, "'window_samples' must be a positive integer, got '1024'"),
        ({"input_unit": "V"}, "'input_unit' must be 'uV', got 'V'"),
        ({"files": {"missing.bin": "00"}}, "file 'missing.bin' listed in the card is missing"),
    ],
)
def test_card_problems_are_named(export_copy, changes, message):
    edit_card(export_copy, **changes)
    with pytest.raises(ModelLoadError, match=message):
        load_detector(export_copy, backend="litert")


def test_sha256_mismatch_names_the_file(export_copy):
    with open(export_copy / "model.tflite", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelLoadError, match=r"file 'model.tflite' has sha256 [0-9a-f]{64}, the card says"):
        load_detector(export_copy, backend="litert")


def test_missing_export_and_missing_tflite(tmp_path, export_copy):
    with pytest.raises(ModelLoadError, match="is not a directory"):
        load_detector(tmp_path / "nope")
    (export_copy / "model.tflite").unlink()
    edit_card(
        export_copy,
        files={
            k: v
            for k, v in json.loads((export_copy / "model_card.json").read_text())["files"].items()
            if k != "model.tflite"
        },
    )
    for backend in ("litert", "openvino"):
        with pytest.raises(ModelLoadError, match=rf"has no model.tflite \(needed by the {backend} backend\)"):
            load_detector(export_copy, backend=backend)
    assert load_detector(export_copy, backend="tensorflow").backend == "tensorflow"


def test_a_tflite_file_that_is_not_a_model_is_an_error_naming_it(export_copy):
    """The card's checksum matches (the file was exported so), but the runtimes cannot read it: a load error that
    names the file, never a crash."""
    tfl = export_copy / "model.tflite"
    tfl.write_bytes(b"not a flatbuffer" * 64)
    files = json.loads((export_copy / "model_card.json").read_text())["files"]
    edit_card(export_copy, files={**files, "model.tflite": hashlib.sha256(tfl.read_bytes()).hexdigest()})
    with pytest.raises(ModelLoadError, match=rf"cannot load LiteRT model {str(tfl)!r}"):
        load_detector(export_copy, backend="litert")
    with pytest.raises(ModelLoadError, match=rf"OpenVINO cannot compile {str(tfl)!r} for the CPU"):
        load_detector(export_copy, backend="openvino")


def test_default_model_path():
    assert default_model_path().parts[-3:] == ("realtime", "models", "default")
