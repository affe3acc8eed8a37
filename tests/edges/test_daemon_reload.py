"""Daemon.reload (SIGHUP) in-process: what is applied, what needs a restart, invalid files."""

from __future__ import annotations

import logging

from realtime.config import load_config
from realtime.daemon import Daemon
from realtime.metrics import Metrics


def make(tmp_path, text: str, overrides=None) -> tuple[Daemon, object]:
    path = tmp_path / "detect.toml"
    path.write_text(text)
    d = Daemon(load_config(path, overrides), config_path=path, overrides=overrides, env={})
    d.metrics = Metrics()
    return d, path


def test_reload_applies_decision_heartbeat_logging_and_keeps_the_rest(tmp_path, caplog):
    root_level = logging.getLogger().level
    d, path = make(tmp_path, "[decision]\non_threshold = 0.8\n[window]\nhop_s = 1.0\n", {"stream.name": "bed7"})
    path.write_text(
        "[decision]\non_threshold = 0.9\nk_channels = 3\n[alerts]\nheartbeat_s = 2.0\n"
        'endpoint = "tcp://127.0.0.1:6000"\n[window]\nhop_s = 0.5\n[logging]\nlevel = "DEBUG"\n'
        '[stream]\nstale_after_s = 9.0\nname = "other"\n'
    )
    try:
        with caplog.at_level(logging.INFO, logger="realtime.daemon"):
            assert d.reload() is True
        assert logging.getLogger().level == logging.DEBUG
    finally:
        logging.getLogger().setLevel(root_level)
    c = d.config
    assert (c.decision.on_threshold, c.decision.k_channels) == (0.9, 3)
    assert c.alerts.heartbeat_s == 2.0 and c.stream.stale_after_s == 9.0
    assert c.window.hop_s == 1.0 and c.alerts.endpoint == "tcp://127.0.0.1:5556"  # need a restart
    assert c.stream.name == "bed7"  # the CLI override still wins over the file
    text = caplog.text
    assert "window.hop_s: 1.0 -> 0.5 needs restart" in text
    assert "alerts.endpoint: 'tcp://127.0.0.1:5556' -> 'tcp://127.0.0.1:6000' needs restart" in text
    assert "decision.on_threshold: 0.8 -> 0.9" in text and "stream.name" not in text


def test_an_invalid_file_is_logged_with_every_error_and_ignored(tmp_path, caplog):
    d, path = make(tmp_path, "[decision]\non_threshold = 0.8\n")
    before = d.config
    path.write_text("[decision]\non_threshold = 2.0\nk_channels = 0\n")
    with caplog.at_level(logging.ERROR, logger="realtime.daemon"):
        assert d.reload() is False
    assert d.config is before
    assert "decision.on_threshold" in caplog.text and "decision.k_channels" in caplog.text
    assert d.metrics.registry.get_sample_value("realtime_detect_errors_total", {"kind": "config"}) == 1


def test_a_change_of_discover_is_applied_not_left_for_a_restart(tmp_path, caplog):
    d, path = make(tmp_path, '[discover]\ntype = "EEG"\n[discover.beds]\n"amp-1" = "bed-1"\n')
    path.write_text('[discover]\ntype = "EEG"\n[discover.beds]\n"amp-1" = "bed-2"\n')
    with caplog.at_level(logging.INFO, logger="realtime.daemon"):
        assert d.reload() is True
    assert d.config.discover.label("amp-1") == "bed-2"
    assert "needs restart" not in caplog.text
    assert "discover: {'type': 'EEG', 'beds': {'amp-1': 'bed-1'}} -> {'type': 'EEG', 'beds': {'amp-1': 'bed-2'}}" in (
        caplog.text
    )
