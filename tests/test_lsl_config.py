"""The LSL configuration the tests and the demo rely on is really applied by liblsl.

liblsl falls back to its defaults (resolving across the whole network, IPv6 on) with only a log
line when it cannot parse the file, so check what it says it loaded.
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _liblsl_log(cfg_path: str) -> str:
    env = dict(os.environ, LSLAPICFG=cfg_path)
    proc = subprocess.run(
        [sys.executable, "-c", "import pylsl; pylsl.local_clock(); pylsl.resolve_streams(0.1)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def test_lsl_config_is_loaded_without_errors():
    for cfg in (REPO / "config" / "lsl_api.cfg", REPO / "realtime" / "data" / "lsl_api.cfg"):
        out = _liblsl_log(str(cfg))
        assert f"Configuration loaded from {cfg}" in out, out
        assert "Error parsing" not in out, out


def test_lsl_config_confines_to_machine():
    text = (REPO / "realtime" / "data" / "lsl_api.cfg").read_text()
    lines = [ln.split(";")[0].strip().replace(" ", "") for ln in text.splitlines()]
    assert "ResolveScope=machine" in lines and "IPv6=disable" in lines


def test_broken_config_is_reported_by_liblsl(tmp_path):
    """The check above can fail: a '#'-commented file is rejected by liblsl."""
    bad = tmp_path / "bad.cfg"
    bad.write_text("# comment\n[multicast]\nResolveScope = machine\n")
    out = _liblsl_log(str(bad))
    assert "Error parsing" in out, out
