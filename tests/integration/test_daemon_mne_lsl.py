"""Streams from other LSL software work as they come: mne-lsl's PlayerLSL (a real one, in a
subprocess) announces type "eeg", sends float64 VOLTS and writes each unit as a power of ten ("0").
The daemon, asked for `--type EEG`, must find it, convert volts to microvolts and, with the shipped
model and settings, raise an onset on the CHB-MIT seizure excerpt. Read as µV, volts would be a
flat line (flagged, no onset); so the onset shows the unit conversion end to end.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from rt_daemon_proc import DaemonProc
from rt_helpers import HERE, REPO, env, stop, unique

pytest.importorskip("mne_lsl", reason="mne-lsl is in the test extra; install it with pip install -e '.[test]'")
pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEIZURE = REPO / "realtime" / "data" / "chbmit" / "chb01_03_Seizure.edf"
CROP_S = 20.0


def test_mne_lsl_player_in_volts_type_eeg_raises_an_onset_with_the_shipped_model(tmp_path):
    name = unique("mnelsl")
    source_id = unique("src")
    d = DaemonProc(
        [
            "--type",
            "EEG",
            "--stream",
            name,
            "--source-id",
            source_id,
            "--hop-s",
            "1",
            "--endpoint",
            "tcp://127.0.0.1:*",
            "--replay-endpoint",
            "tcp://127.0.0.1:0",
            "--metrics-port",
            "0",
            "--alert-log",
            str(tmp_path / "alerts.jsonl"),
        ],
        tmp_path,
    )
    player = None
    try:
        d.wait_ready()
        d.subscribe()
        player = subprocess.Popen(
            [sys.executable, str(HERE / "mne_lsl_player_proc.py"), str(SEIZURE), name, source_id, str(CROP_S)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env(),
        )
        assert player.stdout.readline().strip() == "ready"
        onset = d.wait_message(lambda m: m["type"] == "seizure.onset", CROP_S + 20, "seizure.onset")
        assert onset["stream"] == {"name": name, "type": "eeg", "source_id": source_id}
        assert len(onset["channels"]) >= 2
        assert "assuming microvolts" not in d.log_text()  # every unit was read, none assumed to be µV
    finally:
        stop(player)
        d.close()
