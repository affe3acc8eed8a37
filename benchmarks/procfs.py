"""CPU time and memory as /proc counts them: of a process, of its threads, and of the whole machine (steal
time included).

A virtual machine's vCPUs can be taken away by the host ("steal"): a benchmark that slowed down while steal
rose was slowed by the machine, not by the code it measures. Linux only; readers return None or {} when a
process is gone.
"""

from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
# /proc/stat's "cpu" line, in order (guest and guest_nice are already counted in user and nice: left out)
_MACHINE_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def proc_cpu_s(pid: int) -> float | None:
    """utime + stime of a process (or a thread: /proc/PID/task/TID) in seconds; None when it is gone."""
    try:
        rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def threads_cpu_s(pid: int) -> dict[int, tuple[str, float]]:
    """``{tid: (name, cpu seconds)}`` of every thread of ``pid`` (the main thread is named ``main``)."""
    out: dict[int, tuple[str, float]] = {}
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return out
    for tid in tids:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        name = "main" if tid == pid else text[text.index("(") + 1 : text.rindex(")")]
        rest = text.rsplit(")", 1)[1].split()
        out[tid] = (name, (int(rest[11]) + int(rest[12])) / CLK_TCK)
    return out


def machine_cpu_s() -> dict[str, float]:
    """CPU seconds of the whole machine since boot, summed over its CPUs: ``busy`` (user, nice, system, irq,
    softirq), ``idle`` (idle and iowait), ``steal`` (taken by the hypervisor) and ``total`` (the three)."""
    line = Path("/proc/stat").read_text().splitlines()[0].split()
    ticks = dict(zip(_MACHINE_FIELDS, (int(v) for v in line[1:]), strict=False))
    idle = ticks.get("idle", 0) + ticks.get("iowait", 0)
    steal = ticks.get("steal", 0)
    busy = sum(ticks.values()) - idle - steal
    return {
        "busy": busy / CLK_TCK,
        "idle": idle / CLK_TCK,
        "steal": steal / CLK_TCK,
        "total": sum(ticks.values()) / CLK_TCK,
    }


def cpu_shares(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """``busy`` / ``idle`` / ``steal`` as shares of the machine's CPU time between two :func:`machine_cpu_s`
    readings (NaN when no time passed)."""
    total = after["total"] - before["total"]
    return {k: (after[k] - before[k]) / total if total > 0 else float("nan") for k in ("busy", "idle", "steal")}


def mem_bytes(pid: int) -> dict[str, int]:
    """``{"VmRSS": bytes, "VmHWM": bytes}`` of a process ({} when it is gone)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(line.split()[1]) * 1024
    except OSError:
        return {}
    return out
