"""Shared helpers for the integration tests: subprocess outlets, free ports, waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUTLET_SCRIPT = HERE / "lsl_outlet_proc.py"


def unique(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    e["PYTHONUNBUFFERED"] = "1"
    return e


def start_outlet(*args: str, timeout_s: float = 20.0) -> subprocess.Popen:
    """Start tests/integration/lsl_outlet_proc.py and wait for its "ready" line."""
    proc = subprocess.Popen(
        [sys.executable, str(OUTLET_SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env(),
    )
    line = proc.stdout.readline()  # blocks until ready or the process dies
    if line.strip() != "ready":
        stop(proc)
        raise RuntimeError(f"outlet did not start: {line!r}")
    return proc


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGKILL, timeout_s: float = 10.0) -> int | None:
    """Signal ``proc`` if it still runs, wait for it, and close its pipes (pytest turns the
    ResourceWarning of an unclosed pipe into an error)."""
    if proc is None:
        return None
    try:
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
                return proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait(timeout=timeout_s)
        return proc.returncode
    finally:
        close_pipes(proc)


def close_pipes(proc: subprocess.Popen) -> None:
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def wait_for(predicate, timeout_s: float, interval_s: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
