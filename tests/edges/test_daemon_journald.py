"""Logs as journald expects them: under systemd (stderr is the stream named by $JOURNAL_STREAM) every line
carries its syslog priority ``<N>`` and no timestamp of its own; elsewhere the plain timestamped format.

The real check is a real process whose stderr is a file and whose $JOURNAL_STREAM names that file's
device and inode, as systemd sets it for a service whose stderr is the journal (systemd.exec(5)); there
is no journald in the test machine to read the priorities back.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realtime.logs import JournalFormatter, journal_stream, syslog_priority
from realtime.recordings import write_npz

REPO = Path(__file__).resolve().parents[2]
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
OURS = re.compile(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) realtime\.")  # a line of our logging


def run_detect(
    tmp_path: Path, *args: str, journal: str | None, module: tuple[str, ...] = ("realtime", "detect")
) -> tuple[int, list[str]]:
    """Run ``realtime-detect ARGS`` (or ``python -m MODULE...``) with stderr to a file; ``journal``: "match"
    sets $JOURNAL_STREAM to that file's device:inode, "other" to another file's (inherited from a parent whose
    stderr was the journal), None leaves it unset. Returns the exit code and the stderr lines."""
    err_path = tmp_path / f"stderr-{len(list(tmp_path.glob('stderr-*')))}.txt"
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    env["PYTHONPATH"] = str(REPO)
    with open(err_path, "w") as err:
        if journal is not None:
            st = os.fstat(err.fileno()) if journal == "match" else os.stat(REPO / "README.md")
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        rc = subprocess.run(
            [sys.executable, "-m", *module, *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            cwd=str(tmp_path),
            timeout=120,
        ).returncode
    return rc, err_path.read_text().splitlines()


def test_priorities_per_level():
    assert [syslog_priority(lv) for lv in (50, 40, 30, 20, 10, 5, 35, 60)] == [2, 3, 4, 6, 7, 7, 4, 2]


def test_every_line_of_a_traceback_keeps_the_priority():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("realtime.x", logging.ERROR, __file__, 1, "failed:\n%s", ("two",), sys.exc_info())
    lines = JournalFormatter().format(record).split("\n")
    assert lines[:2] == ["<3>ERROR realtime.x: failed:", "<3>two"]
    assert len(lines) > 4 and all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>ValueError: boom"


def test_journal_stream_compares_device_and_inode_of_the_descriptor(tmp_path):
    with open(tmp_path / "a", "w") as a, open(tmp_path / "b", "w") as b:
        st = os.fstat(a.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert journal_stream(a.fileno(), env) is True
        assert journal_stream(b.fileno(), env) is False
        for value in ("", "garbage", f"{st.st_dev}", f"{st.st_dev}:x", f":{st.st_ino}"):
            assert journal_stream(a.fileno(), {"JOURNAL_STREAM": value}) is False
        assert journal_stream(a.fileno(), {}) is False
    assert journal_stream(987654, env) is False  # a closed descriptor


@pytest.mark.integration
def test_under_journald_a_warning_is_priority_4_and_lines_carry_no_timestamp(tmp_path):
    # offline review of a recording with a channel that is not EEG: "left out" is logged as a warning
    t = np.arange(2500) / 250.0
    data = np.vstack([40 * np.sin(2 * np.pi * 7 * t), 30 * np.cos(2 * np.pi * 5 * t), 500 * np.sin(t)])
    rec = write_npz(tmp_path / "rec.npz", data, 250.0, ["Fz", "Cz", "ECG"])
    rc, lines = run_detect(tmp_path, "--file", str(rec), "--json", "--backend", "litert", journal="match")
    assert rc == 0, lines[-30:]
    ours = [line for line in lines if OURS.search(line)]
    assert ours and all(re.match(r"<[2-7]>", line) for line in ours), ours
    assert any(line.startswith("<4>WARNING realtime.offline: ") and "ECG" in line for line in ours), ours
    assert any(line.startswith("<6>INFO realtime.") for line in ours), ours
    assert not any(TIMESTAMP.search(line) for line in ours), ours  # journald stamps each line itself


@pytest.mark.integration
def test_errors_before_logging_is_set_up_are_priority_3_under_journald(tmp_path):
    (tmp_path / "bad.toml").write_text("[window]\nhop_s = nan\nbuffer_s = 1e12\n")
    rc, lines = run_detect(tmp_path, "--config", "bad.toml", journal="match")
    assert rc == 78
    assert lines[0] == "<3>realtime-detect: invalid configuration:"
    assert "<3>  - window.hop_s: expected a finite number, got nan" in lines
    assert all(line.startswith("<3>") for line in lines), lines


@pytest.mark.integration
def test_outside_journald_lines_are_plain_and_timestamped(tmp_path):
    # a $JOURNAL_STREAM that names another file (inherited by a child of a service, its stderr redirected):
    # the model error is logged plainly, with a timestamp
    args = ("--model", str(tmp_path / "no-export"), "--stream", "absent-journald", "--metrics-port", "0")
    rc, lines = run_detect(tmp_path, *args, journal="other")
    assert rc == 69, lines[-30:]
    errors = [line for line in lines if "ERROR realtime.daemon: cannot load the model" in line]
    assert errors and TIMESTAMP.match(errors[0]) and not errors[0].startswith("<"), lines[-30:]
    # no $JOURNAL_STREAM: the configuration errors as they always were
    (tmp_path / "bad.toml").write_text("[window]\nhop_s = nan\n")
    rc, lines = run_detect(tmp_path, "--config", "bad.toml", journal=None)
    assert rc == 78 and lines[0] == "realtime-detect: invalid configuration:", lines


@pytest.mark.integration
def test_the_fan_in_logs_as_journald_expects_too(tmp_path):
    """realtime-fanin runs as a service of its own (systemd/realtime-fanin@.service): the same priorities."""
    fanin = ("realtime.fanin",)
    (tmp_path / "bad.toml").write_text("[fanin]\nupstream_timeout_s = -1\n")
    rc, lines = run_detect(tmp_path, "--config", "bad.toml", journal="match", module=fanin)
    assert rc == 78 and lines[0] == "<3>realtime-fanin: invalid configuration:", lines
    assert all(line.startswith("<3>") for line in lines), lines
    # running (no upstream answers: a daemon at a port nobody listens on), for one second
    args = ("--upstream", "bed1=tcp://127.0.0.1:9", "--bind", "tcp://127.0.0.1:*", "--replay-bind", "")
    rc, lines = run_detect(tmp_path, *args, "--duration-s", "1", journal="match", module=fanin)
    assert rc == 0, lines[-30:]
    ours = [line for line in lines if OURS.search(line)]
    assert ours and all(re.match(r"<[2-7]>", line) for line in ours), ours
    assert any(line.startswith("<6>INFO realtime.fanin") for line in ours), ours
    assert not any(TIMESTAMP.search(line) for line in ours), ours
