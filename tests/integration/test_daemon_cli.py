"""Exit codes of realtime-detect, realtime-replay of an NPZ recording, and realtime-demo end to end."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from rt_helpers import REPO, env, stop, unique

from realtime.inlet import Inlet, StreamSpec

pytestmark = pytest.mark.integration


def detect(*args: str, cwd=None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "realtime", "detect", *args],
        capture_output=True,
        text=True,
        env=env(),
        timeout=timeout,
        cwd=str(cwd or REPO),
    )


def test_invalid_config_exits_78_listing_every_error(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[decision]\non_threshold = 1.5\nk_channels = 0\n[window]\nhop_s = "fast"\n[nonsense]\nx = 1\n')
    out = detect("--config", str(cfg), "--metrics-port", "70000")
    assert out.returncode == 78, out.stderr
    for text in (
        "decision.on_threshold",
        "1.5",
        "decision.k_channels",
        "window.hop_s",
        "'fast'",
        "unknown section [nonsense]",
        "metrics.port",
        "70000",
    ):
        assert text in out.stderr, (text, out.stderr)
    missing = detect("--config", str(tmp_path / "missing.toml"))
    assert missing.returncode == 78 and "missing.toml" in missing.stderr


def test_usage_errors_exit_2():
    assert detect("--no-such-flag").returncode == 2
    out = detect("--windows")
    assert out.returncode == 2 and "--file" in out.stderr
    assert detect("--hop-s", "one").returncode == 2


def test_unloadable_model_exits_69(tmp_path):
    out = detect(
        "--model",
        str(tmp_path / "no-export"),
        "--stream",
        unique("x"),
        "--metrics-port",
        "0",
        "--endpoint",
        "tcp://127.0.0.1:*",
        "--replay-endpoint",
        "tcp://127.0.0.1:0",
        "--alert-log",
        str(tmp_path / "a.jsonl"),
        cwd=tmp_path,
    )
    assert out.returncode == 69, out.stderr
    assert "no-export" in out.stderr and "cannot load the model" in out.stderr


def test_replay_plays_an_npz_in_volts_as_microvolts_with_labels():
    import tempfile
    from pathlib import Path

    from realtime.recordings import write_npz

    rate = 200.0
    t = np.arange(int(rate * 4)) / rate
    data = np.vstack([50e-6 * np.sin(2 * np.pi * 7 * t), 20e-6 * np.cos(2 * np.pi * 3 * t), 1e-3 * t])  # volts
    with tempfile.TemporaryDirectory() as tmp:
        path = write_npz(Path(tmp) / "rec.npz", data, rate, ["Fz", "Cz", "ECG"], unit="V")
        name = unique("npz")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "realtime",
                "replay",
                str(path),
                "--name",
                name,
                "--type",
                "EEG",
                "--wait-for-consumer-s",
                "30",
                "--speed",
                "2",
            ],
            env=env(),
            cwd=str(REPO),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        inlet = Inlet(StreamSpec(name=name, type="eeg"), resolve_timeout_s=1.0, stale_after_s=5.0)
        try:
            deadline = time.monotonic() + 30
            while inlet.meta is None and time.monotonic() < deadline:
                inlet.step(0.1)
            assert inlet.meta is not None, "replay stream not found"
            assert inlet.meta.ch_names == ("Fz", "Cz", "ECG") and inlet.meta.units == ("microvolts",) * 3
            assert inlet.meta.types == ("EEG", "EEG", "MISC")  # what the file says (--file leaves the ECG out too)
            assert inlet.meta.sfreq == rate and inlet.meta.source_id == f"replay-{name}"
            chunks, stamps = [], []
            while sum(len(s) for s in stamps) < data.shape[1] and time.monotonic() < deadline:
                step = inlet.step(0.2)
                if step.n_samples:
                    chunks.append(step.samples.copy())
                    stamps.append(step.timestamps.copy())
            got = np.concatenate(chunks)
            assert got.shape == (data.shape[1], 3) and got.dtype == np.float32
            np.testing.assert_allclose(got.T, data * 1e6, atol=1e-3)
            ts = np.concatenate(stamps)
            # Stamped at speed x rate: exactly regular, 1 / (2 * 200 Hz) apart.
            np.testing.assert_allclose(np.diff(ts), 1 / (2 * rate), atol=2e-4)
            assert proc.wait(timeout=20) == 0
        finally:
            inlet.close()
            stop(proc)


def test_replay_of_an_unreadable_file_exits_2_quoting_it(tmp_path):
    bad = tmp_path / "broken.edf"
    bad.write_bytes(b"not an edf")
    out = subprocess.run(
        [sys.executable, "-m", "realtime", "replay", str(bad)], capture_output=True, text=True, env=env(), timeout=60
    )
    assert out.returncode == 2 and "broken.edf" in out.stderr


@pytest.mark.slow
def test_demo_replays_the_seizure_excerpt_and_reports_the_onset(toy_export):
    # The LiteRT backend here (the end-to-end test covers TensorFlow): the same export, no TF import.
    out = subprocess.run(
        [sys.executable, "-m", "realtime", "demo", "--model", str(toy_export), "--speed", "4", "--backend", "litert"],
        capture_output=True,
        text=True,
        env=env(),
        timeout=180,
        cwd=str(REPO),
    )
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "ODC-By" in out.stdout and "SEIZURE ONSET" in out.stdout
    assert "Summary:" in out.stdout and "raised 1 seizure onset" in out.stdout
    assert "stopped cleanly (exit 0)" in out.stdout
    assert "(litert on CPU)" in out.stdout


@pytest.mark.slow
def test_file_mode_prints_json_lines_per_event_and_window(toy_export):
    seizure = REPO / "realtime" / "data" / "chbmit" / "chb01_03_Seizure.edf"
    out = detect("--file", str(seizure), "--json", "--windows", "--model", str(toy_export), "--hop-s", "2", timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    import json

    *lines, summary = [json.loads(ln) for ln in out.stdout.splitlines()]
    windows = [ln for ln in lines if ln["type"] == "window"]
    onsets = [ln for ln in lines if ln["type"] == "seizure.onset"]
    assert len(windows) >= 15 and all(ln["file"] == str(seizure) for ln in lines)
    assert summary["type"] == "summary" and (summary["files"], summary["onsets"], summary["signal_s"]) == (1, 1, 41.0)
    said = (
        "1 file(s) scored (0 failed, 0 with nothing as long as a window, 0 from the previous file's background "
        "levels), 0.01 h of signal: 1 seizure onset(s), 1 before the background was known"
    )
    assert f"{said}, 87.80 per hour" in out.stderr
    assert len(onsets) == 1 and 0 <= onsets[0]["time"] < 41  # seconds from the start of the recording
    assert len(windows[0]["channel_probabilities"]) == 23


def test_replay_loops_until_sigterm_then_exits_0():
    import signal

    seizure = REPO / "realtime" / "data" / "chbmit" / "chb01_03_Seizure.edf"
    name = unique("loop")
    proc = subprocess.Popen(
        [sys.executable, "-m", "realtime", "replay", str(seizure), "--name", name, "--loop", "--speed", "8"],
        env=env(),
        cwd=str(REPO),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    inlet = Inlet(StreamSpec(name=name), resolve_timeout_s=1.0, stale_after_s=5.0)
    try:
        deadline = time.monotonic() + 30
        received = 0
        while received < 10496 + 512 and time.monotonic() < deadline:  # past the end: it looped
            received += inlet.step(0.2).n_samples
        assert received >= 10496 + 512 and proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "stopped after" in proc.stderr.read()
    finally:
        inlet.close()
        stop(proc)
