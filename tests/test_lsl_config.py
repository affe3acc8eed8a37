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


def test_more_outlets_on_this_machine_than_liblsls_default_port_range_are_all_found():
    """liblsl's default PortRange (32) hides the 33rd outlet of a machine whose loopback has no multicast
    (a resolver then asks each port of the range): 45 outlets must all be found with the shipped config."""
    code = """
import time, uuid, pylsl
tag = uuid.uuid4().hex[:8]
outs = [pylsl.StreamOutlet(pylsl.StreamInfo(f"many-{tag}-{i}", f"Many{tag}", 1, 256, "float32", f"src-{tag}-{i}"))
        for i in range(45)]
r = pylsl.ContinuousResolver(prop="type", value=f"Many{tag}")
deadline, found = time.monotonic() + 30, set()
while time.monotonic() < deadline and len(found) < 45:
    time.sleep(0.5)
    found = {s.name() for s in r.results()}
print("FOUND", len(found))
"""
    env = dict(os.environ, LSLAPICFG=str(REPO / "config" / "lsl_api.cfg"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "FOUND 45" in proc.stdout, proc.stdout
