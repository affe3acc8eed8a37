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


def test_a_beds_new_patient_is_applied_in_place_even_beside_a_change_that_needs_a_restart(tmp_path, caplog):
    """SIGHUP with another patient for a bed: applied to that bed (its levels forgotten: Bed.set_patient), not left
    for a restart, also when the same bed's channels changed too (that part needs the restart); the log names the
    bed, never the patient."""
    before = '[[beds]]\nname = "amp-a"\npatient = "MRN-0001"\n[[beds]]\nname = "amp-b"\npatient = "MRN-0002"\n'
    d, path = make(tmp_path, before)
    path.write_text(
        '[[beds]]\nname = "amp-a"\npatient = "MRN-0011"\n'
        '[[beds]]\nname = "amp-b"\npatient = "MRN-0012"\ninclude = ["C*"]\n'
    )
    with caplog.at_level(logging.INFO, logger="realtime.daemon"):
        assert d.reload() is True
    assert [d.beds[b].config.patient for b in ("amp-a", "amp-b")] == ["MRN-0011", "MRN-0012"]
    assert [b.patient for b in d.config.beds] == ["MRN-0011", "MRN-0012"]
    assert d.beds["amp-b"].config.include is None and d.config.beds[1].include is None  # needs a restart
    text = caplog.text
    assert "bed amp-a: patient changed, its background levels forgotten" in text
    assert "bed amp-b: patient changed" in text and "bed amp-b: BedConfig(" in text and "needs restart" in text
    assert "MRN-" not in text
    path.write_text(path.read_text())  # the same file again: nothing changes
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="realtime.daemon"):
        assert d.reload() is True
    assert "patient changed" not in caplog.text
