"""Daemon.reload (SIGHUP) applies a changed alerts.reannounce_s to the open event's re-announcements."""

from __future__ import annotations

import logging

from realtime.config import load_config
from realtime.daemon import Daemon
from realtime.metrics import Metrics


def test_reload_applies_a_new_reannounce_interval(tmp_path, caplog):
    path = tmp_path / "detect.toml"
    path.write_text("[alerts]\nreannounce_s = 60.0\n")
    d = Daemon(load_config(path), config_path=path, env={})
    d.metrics = Metrics()
    d._alarm.opened(1, onset_time=100.0, now_mono=0.0)
    assert d._alarm.due_reannounce(10.0) is None
    path.write_text("[alerts]\nreannounce_s = 5.0\n")
    with caplog.at_level(logging.INFO, logger="realtime.daemon"):
        assert d.reload() is True
    assert d.config.alerts.reannounce_s == 5.0 and d._alarm.reannounce_s == 5.0
    assert "alerts.reannounce_s: 60.0 -> 5.0" in caplog.text and "needs restart" not in caplog.text
    assert d._alarm.due_reannounce(10.0) == 1  # 5 s after the onset: due now
    path.write_text("[alerts]\nreannounce_s = 0.0\n")
    assert d.reload() is True
    assert d._alarm.due_reannounce(1e6) is None  # 0 = off
