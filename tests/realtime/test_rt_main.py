"""``python -m realtime COMMAND``: every ``realtime-*`` console script, without installing the package."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from realtime.__main__ import COMMANDS, main

REPO = Path(__file__).resolve().parents[2]


def test_every_realtime_console_script_is_a_module_command():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    want = {
        name.removeprefix("realtime-"): tuple(target.split(":"))
        for name, target in scripts.items()
        if name.startswith("realtime-")
    }
    assert "keys" in want
    assert want == COMMANDS


def test_an_unknown_command_is_a_usage_error(capsys):
    assert main(["nope"]) == 2
    assert "python -m realtime {detect,alerts,fanin,keys,replay,demo}" in capsys.readouterr().err


def test_python_m_realtime_keys_makes_a_key_pair(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "realtime", "keys", "client", "nurse-3", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(REPO),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "nurse-3.key").is_file()
    assert (tmp_path / "nurse-3.key_secret").stat().st_mode & 0o777 == 0o600
