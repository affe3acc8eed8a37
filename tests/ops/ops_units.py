"""Reading the repository's systemd units, and copies of them that tools can verify here."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSTEMD_DIR = REPO / "systemd"
UNIT = SYSTEMD_DIR / "realtime-detect.service"
TEMPLATE = SYSTEMD_DIR / "realtime-detect@.service"
GPU_DROPIN = SYSTEMD_DIR / "gpu.conf"
ONEDNN_DROPIN = SYSTEMD_DIR / "onednn.conf"
FANIN_TEMPLATE = SYSTEMD_DIR / "realtime-fanin@.service"
INSTALLED_BIN = "/opt/realtime-detect/.venv/bin/"
INSTALLED_ENTRY_POINT = INSTALLED_BIN + "realtime-detect"
SANDBOX = Path(__file__).resolve().parent / "ops_seccomp_sandbox.py"  # seccomp as systemd does it


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """``{section: [(key, value), ...]}`` in file order; repeated keys kept; comments dropped."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        m = re.fullmatch(r"\[(.+)\]", line)
        if m:
            current = sections.setdefault(m.group(1), [])
            continue
        if current is None or "=" not in line:
            raise ValueError(f"{path}: cannot parse line {raw!r}")
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def environment(unit: dict[str, list[tuple[str, str]]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in values(unit, "Service", "Environment"):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def entry_point(script: str = "realtime-detect") -> str:
    """An existing executable to stand in for the installed entry point in copies of the units:
    the repository's own ``script`` when the package is installed in this environment."""
    candidate = Path(sys.executable).parent / script
    return str(candidate if candidate.exists() else Path(sys.executable))


def write_unit_copy(src: Path, dest_dir: Path, *, dropin: Path | None = None) -> Path:
    """Copy ``src`` into ``dest_dir`` with ExecStart's binary replaced by :func:`entry_point`
    (systemd-analyze checks that it exists and is executable); optionally with a drop-in."""
    text = src.read_text(encoding="utf-8")
    if not re.search(re.escape(INSTALLED_BIN) + r"realtime-", text):
        raise AssertionError(f"{src.name}: ExecStart does not use an entry point in {INSTALLED_BIN}")
    dest = dest_dir / src.name
    text = re.sub(re.escape(INSTALLED_BIN) + r"([\w-]+)", lambda m: entry_point(m.group(1)), text)
    dest.write_text(text, encoding="utf-8")
    if dropin is not None:
        d = dest_dir / f"{src.name}.d"
        d.mkdir(exist_ok=True)
        (d / dropin.name).write_text(dropin.read_text(encoding="utf-8"), encoding="utf-8")
    return dest


def with_dropin(unit_path: Path, dropin: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    """The unit as systemd reads it with ``dropin`` (its entries after the unit's: a repeated single-valued key's last
    value wins)."""
    unit = parse_unit(unit_path)
    for section, entries in (parse_unit(dropin) if dropin else {}).items():
        unit.setdefault(section, []).extend(entries)
    return unit


def sandbox_args(unit_path: Path, dropin: Path | None = None) -> list[str]:
    """ops_seccomp_sandbox.py arguments for the unit's (and drop-in's) SystemCallFilter= and MemoryDenyWriteExecute=."""
    unit = with_dropin(unit_path, dropin)
    args: list[str] = []
    for line in values(unit, "Service", "SystemCallFilter"):
        deny = line.startswith("~")
        for group in line.lstrip("~").split():
            args += ["--deny" if deny else "--allow", group]
    if values(unit, "Service", "MemoryDenyWriteExecute")[-1:] == ["yes"]:
        args.append("--mdwe")
    families = " ".join(values(unit, "Service", "RestrictAddressFamilies")).split()
    if families:
        args += ["--families", *families]
    return args
