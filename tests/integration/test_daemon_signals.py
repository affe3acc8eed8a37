"""Signal handlers only set flags; the run loop logs and acts on them.

In-process: calling a handler logs nothing (logging is not safe inside a signal handler); the next
loop iteration logs the reload. Real process: a SIGHUP to a running daemon is logged as received and
reloaded by the loop, then SIGTERM is logged and the daemon exits 0.
"""

from __future__ import annotations

import logging
import signal
import time

import pytest
from rt_daemon_proc import DaemonProc
from rt_helpers import unique

from realtime.config import load_config
from realtime.daemon import Daemon

pytestmark = pytest.mark.integration

CONFIG = """
[stream]
name = "{name}"
resolve_timeout_s = 0.2

[model]
path = "{model}"
backend = "litert"

[decision]
on_threshold = {on}

[alerts]
endpoint = "tcp://127.0.0.1:*"
replay_endpoint = ""
log_path = "{log}"

[metrics]
enabled = false
"""


def test_handlers_log_nothing_and_the_loop_logs_the_reload_and_the_stop(toy_export, tmp_path, caplog):
    path = tmp_path / "detect.toml"
    fill = {"name": unique("absent"), "model": toy_export, "log": tmp_path / "alerts.jsonl"}
    path.write_text(CONFIG.format(on=0.8, **fill))
    d = Daemon(load_config(path), config_path=path, env={})
    d.start()
    try:
        path.write_text(CONFIG.format(on=0.9, **fill))
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            d._on_hup(signal.SIGHUP, None)
            d._on_stop_signal(signal.SIGTERM, None)
            assert caplog.records == []  # the handlers only set flags
            assert d._reload_requested and d._stop_requested
            d.iterate()
        text = caplog.text
        assert "received SIGHUP: reloading" in text and "decision.on_threshold: 0.8 -> 0.9" in text
        assert d.config.decision.on_threshold == 0.9
    finally:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="realtime.daemon"):
            d.run()  # the stop flag is set: the loop logs the signal and stops
        assert "received SIGTERM: stopping after the window in flight" in caplog.text


def test_sighup_to_a_running_daemon_is_logged_and_applied_by_the_loop(toy_export, tmp_path):
    path = tmp_path / "detect.toml"
    fill = {"name": unique("absent"), "model": toy_export, "log": tmp_path / "alerts.jsonl"}
    path.write_text(CONFIG.format(on=0.8, **fill))
    d = DaemonProc(["--config", str(path)], tmp_path, notify=False)
    try:
        d.wait_ready()
        path.write_text(CONFIG.format(on=0.9, **fill))
        n = len(d.lines)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any("reloaded" in ln for ln in d.lines[n:]):
            time.sleep(0.05)
        after = d.lines[n:]
        received = [i for i, ln in enumerate(after) if "realtime.daemon: received SIGHUP: reloading" in ln]
        reloaded = [i for i, ln in enumerate(after) if "reloaded" in ln and "decision.on_threshold: 0.8 -> 0.9" in ln]
        assert received and reloaded and received[0] < reloaded[0], "\n".join(after)
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(timeout=20) == 0
        time.sleep(0.2)
        assert "received SIGTERM: stopping after the window in flight" in d.log_text()
    finally:
        d.close()
