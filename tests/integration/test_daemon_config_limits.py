"""realtime-detect refuses, with exit 78 and every error listed, settings that used to pass validation and
then crash, hang or wait for ever at the first stream (issue 12, defect 5): those it can judge alone at
load, and those it can judge only against the model, before READY."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rt_helpers import env, unique

pytestmark = pytest.mark.integration


def detect(*args: str, cwd) -> subprocess.CompletedProcess:
    # --duration-s: a daemon that accepts the settings stops by itself after 5 s (exit 0), so a missed
    # check fails the test quickly instead of hanging it.
    return subprocess.run(
        [sys.executable, "-m", "realtime", "detect", "--duration-s", "5", *args],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
        cwd=str(cwd),
    )


def live_args(tmp_path) -> list[str]:
    return [
        "--stream",
        unique("absent"),
        "--metrics-port",
        "0",
        "--endpoint",
        "tcp://127.0.0.1:*",
        "--replay-endpoint",
        "tcp://127.0.0.1:0",
        "--alert-log",
        str(tmp_path / "alerts.jsonl"),
    ]


def test_values_that_crashed_hung_or_waited_for_ever_exit_78_each_listed(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        "[stream]\nstale_after_s = inf\nresolve_timeout_s = 1e9\n"
        "[window]\nhop_s = 1e-7\nbuffer_s = 1e12\n"
        "[decision]\nmin_duration_s = nan\n"
        "[alerts]\nheartbeat_s = 1e-9\n"
    )
    out = detect("--config", str(cfg), *live_args(tmp_path), cwd=tmp_path)
    assert out.returncode == 78, out.stderr[-3000:]
    for text in (
        "stream.stale_after_s: expected a finite number, got inf",
        "stream.resolve_timeout_s: must be in (0, 10] s, got 1000000000.0",
        "window.hop_s: must be in [0.05, 600] s, got 1e-07",
        "window.buffer_s: must be in [10, 600] s, got 1000000000000.0",
        "decision.min_duration_s: expected a finite number, got nan",
        "alerts.heartbeat_s: must be in [0.1, 3600] s, got 1e-09",
    ):
        assert text in out.stderr, (text, out.stderr[-3000:])
    assert "loaded model" not in out.stderr  # refused before the model is loaded


def test_window_settings_that_do_not_fit_the_model_exit_78_before_ready(tmp_path):
    # valid alone (hop 6 s < buffer 10 s); the shipped model's 4.096 s window makes both wrong: the
    # hop leaves 1.9 s of every 6 unscored, and the buffer cannot hold window + hop (every stream was
    # refused, the daemon waited for ever)
    cfg = tmp_path / "window.toml"
    cfg.write_text("[window]\nhop_s = 6.0\nbuffer_s = 10.0\n")
    out = detect("--config", str(cfg), "--backend", "litert", *live_args(tmp_path), cwd=tmp_path)
    assert out.returncode == 78, out.stderr[-3000:]
    assert "the configuration does not fit the model" in out.stderr
    assert "window.hop_s: must be at most the model's 4.096 s window" in out.stderr
    assert "window.buffer_s: must hold the model's 4.096 s window + window.hop_s 6 s" in out.stderr
    assert "ready:" not in out.stderr  # never said READY
