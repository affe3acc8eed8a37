"""model.precision (realtime/model.py): bfloat16 runs the export's saved_model_bfloat16/ on TensorFlow, or its
model.tflite on OpenVINO; the shipped model has both and stays within a bfloat16 rounding of float32 on real EEG in
each; what cannot run it is refused, quoting what was asked; the CPU check reads /proc/cpuinfo's flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realtime.config import ConfigError, build_config
from realtime.model import (
    BFLOAT16_DIR,
    ModelLoadError,
    cpu_bfloat16,
    default_model_path,
    load_detector,
)
from realtime.preprocess import Resampler
from realtime.recordings import read_recording

REPO = Path(__file__).resolve().parents[2]
CHBMIT = REPO / "realtime" / "data" / "chbmit"
# train.export.BFLOAT16_ATOL (not imported: realtime's tests run without train/); measured on the shipped model,
# every channel's 1 s-hop windows of both CHB-MIT excerpts: at most 0.0055 (docs/benchmarks.md)
BFLOAT16_ATOL = 0.02


@pytest.fixture(scope="module")
def chbmit_windows() -> np.ndarray:
    """``[n, 1024]`` float32 µV: every channel's window at each 2 s of both CHB-MIT excerpts, at 250 Hz."""
    out = []
    for path in sorted(CHBMIT.glob("*.edf")):
        rec = read_recording(path)
        rs = Resampler(rec.sfreq, 250.0)
        n = rs.native_samples_needed(1024)
        for end in range(n, rec.data.shape[1] + 1, int(2 * rec.sfreq)):
            out.append(rs.to_model_rate(rec.data[:, end - n : end], 1024))
    return np.concatenate(out).astype(np.float32)


def test_the_shipped_model_in_bfloat16_is_within_its_rounding_of_float32(chbmit_windows):
    assert (default_model_path() / BFLOAT16_DIR).is_dir()
    f32 = load_detector(None, backend="tensorflow", precision="float32")
    bf16 = load_detector(None, backend="auto", precision="bfloat16")
    assert (bf16.backend, bf16.precision, f32.precision) == ("tensorflow", "bfloat16", "float32")
    p32, p16 = f32.predict(chbmit_windows), bf16.predict(chbmit_windows)
    assert p32.max() > 0.9 and p32.min() < 0.01  # the windows span the range
    diff = np.abs(p16 - p32)
    assert diff.max() <= BFLOAT16_ATOL
    assert diff.max() > 1e-5  # it is bfloat16: float32's backends agree within 1e-6 (test_rt_backends)
    assert "precision=bfloat16" in repr(bf16)


def test_the_shipped_model_in_bfloat16_on_openvino_is_within_its_rounding_of_float32(chbmit_windows):
    """OpenVINO converts the float32 model.tflite itself; the precision it reports is the one it compiled (read
    back), bfloat16 on a CPU that has it, else float32 with a WARNING."""
    f32 = load_detector(None, backend="openvino", precision="float32")
    bf16 = load_detector(None, backend="openvino", precision="bfloat16")
    p32, p16 = f32.predict(chbmit_windows), bf16.predict(chbmit_windows)
    np.testing.assert_allclose(p32, load_detector(None, backend="litert").predict(chbmit_windows), rtol=0, atol=1e-5)
    diff = np.abs(p16 - p32)
    assert diff.max() <= BFLOAT16_ATOL
    if cpu_bfloat16():
        assert bf16.precision == "bfloat16"
        assert diff.max() > 1e-5  # it is bfloat16, not float32 under another name
    else:  # pragma: no cover - a CPU without bfloat16: OpenVINO compiles float32 and says so
        assert bf16.precision == "float32" and diff.max() <= 1e-5


def test_what_cannot_run_bfloat16_is_refused_quoting_it(toy_export):
    with pytest.raises(ModelLoadError, match=r"one of \('float32', 'bfloat16'\), got 'float16'"):
        load_detector(None, precision="float16")
    with pytest.raises(ModelLoadError, match="runs on the TensorFlow or OpenVINO backend"):
        load_detector(None, backend="litert", precision="bfloat16")
    with pytest.raises(ModelLoadError, match=rf"on TensorFlow needs the export's {BFLOAT16_DIR}/.*--bfloat16"):
        load_detector(toy_export, backend="tensorflow", precision="bfloat16")  # the toy export has none
    # "auto" falls back to OpenVINO, which converts the export's model.tflite itself
    assert load_detector(toy_export, precision="bfloat16").backend == "openvino"


def test_without_openvino_the_errors_say_what_to_install(toy_export, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError, as where not installed
    with pytest.raises(ModelLoadError, match=r"the openvino backend needs OpenVINO \(pip install openvino\)"):
        load_detector(None, backend="openvino")
    with pytest.raises(
        ModelLoadError,
        match=rf"precision 'bfloat16' needs tensorflow \(the export has no {BFLOAT16_DIR}/\) or openvino \(.+\): pip",
    ):
        load_detector(toy_export, precision="bfloat16")


def test_cpu_bfloat16_reads_the_flags(tmp_path):
    def cpuinfo(flags: str) -> Path:
        p = tmp_path / f"cpuinfo-{len(list(tmp_path.iterdir()))}"
        p.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
        return p

    assert cpu_bfloat16(cpuinfo("fpu sse2 avx2 avx512f amx_bf16 amx_tile"))
    assert cpu_bfloat16(cpuinfo("fpu avx512f avx512_bf16"))
    assert not cpu_bfloat16(cpuinfo("fpu sse2 avx2 fma avx512f avx512_fp16"))  # fp16 is not bfloat16
    assert not cpu_bfloat16(cpuinfo("amx_bf16_not_a_flag"))  # whole flags only
    assert not cpu_bfloat16(tmp_path / "absent")


def test_precision_in_the_config_and_on_the_command_line():
    assert build_config({}).model.precision == "float32"
    assert build_config({"model": {"precision": "bfloat16"}}).model.precision == "bfloat16"
    with pytest.raises(ConfigError, match=r"model\.precision: expected one of 'float32', 'bfloat16', got 'half'"):
        build_config({"model": {"precision": "half"}})
    with pytest.raises(ConfigError, match=r"model\.backend: expected one of 'auto', .*'openvino', got 'onnx'"):
        build_config({"model": {"backend": "onnx"}})
    assert build_config({"model": {"backend": "openvino"}}).model.backend == "openvino"
    with pytest.raises(ConfigError, match="'bfloat16' runs on the TensorFlow or OpenVINO backend"):
        build_config({"model": {"precision": "bfloat16", "backend": "litert"}})


def test_offline_scoring_in_bfloat16_raises_the_same_onset(tmp_path):
    """``realtime-detect --file --model-precision bfloat16`` (a real process; TensorFlow, then OpenVINO) alarms on the
    CHB-MIT seizure excerpt within one hop of float32 (here at the same time; another CPU rounds bfloat16 its own way)
    and stays quiet on the non-seizure one."""
    import json

    def onsets(precision: str, *backend: str) -> list[tuple[str, float]]:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "realtime",
                "detect",
                "--file",
                str(CHBMIT),
                "--json",
                "--model-precision",
                precision,
                *backend,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        lines = [json.loads(line) for line in out.stdout.splitlines()]
        return [(Path(m["file"]).name, m["time"]) for m in lines if m.get("type") == "seizure.onset"]

    want = onsets("float32")
    assert [f for f, _ in want] == ["chb01_03_Seizure.edf"]
    for got in (onsets("bfloat16"), onsets("bfloat16", "--backend", "openvino")):
        assert [f for f, _ in got] == [f for f, _ in want]
        assert abs(got[0][1] - want[0][1]) <= 1.0
