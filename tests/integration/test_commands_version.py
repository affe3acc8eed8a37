"""``--version`` on every command: the installed console scripts print ``<prog> <package version>`` and exit
0 without importing TensorFlow (``python -X importtime`` lists every module a process imports)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rt_helpers import REPO, env

from realtime import __version__

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
SHIPPED_MODEL = json.loads((REPO / "realtime" / "models" / "default" / "model_card.json").read_text())["model_version"]


@pytest.mark.parametrize(
    "command, expected",
    [
        (["realtime-detect"], f"realtime-detect {__version__} (shipped model {SHIPPED_MODEL})"),
        (["realtime-alerts"], f"realtime-alerts {__version__}"),
        (["realtime-replay"], f"realtime-replay {__version__}"),
        (["realtime-demo"], f"realtime-demo {__version__}"),
        (["realtime-keys"], f"realtime-keys {__version__}"),
        (["realtime-fanin"], f"realtime-fanin {__version__}"),
        (["train-detector"], f"train-detector {__version__}"),
        (["-m", "evaluation.background"], f"python -m evaluation.background {__version__}"),
    ],
)
def test_version_without_tensorflow(command, expected):
    if command[0] != "-m":
        script = BIN / command[0]
        if not script.is_file():
            pytest.skip(f"{command[0]} is not installed beside {sys.executable}")
        command = [str(script)]
    out = subprocess.run(
        [sys.executable, "-X", "importtime", *command, "--version"],
        capture_output=True,
        text=True,
        env=env(),
        cwd=str(REPO),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout == expected + "\n"
    imported = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", out.stderr, flags=re.MULTILINE)
    assert imported and not [m for m in imported if m.split(".")[0] in ("tensorflow", "keras")]
    assert __version__ != "0+unknown"  # the package is installed: the version is pyproject.toml's
