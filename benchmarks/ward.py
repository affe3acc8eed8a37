"""Issue #13's benchmarks in one command (not a test): inference, capacity and training input, one table of targets.

    .venv/bin/python benchmarks/ward.py [--quick] [--beds 10,20,30,40] [--duration-s 40] [--warmup-s S]
        [--separate-max 20] [--backend auto|litert|tensorflow|openvino] [--model EXPORT]
        [--inference-args "..."] [--capacity-args "..."] [--train-args "..."] [--skip capacity,...]
        [--out DIR] [--name FILE.json] [--run-dir DIR]
    .venv/bin/python benchmarks/ward.py --from-dir DIR      # the table again from a run folder's JSON, no runs

One after the other, each as a subprocess of the existing script with its own arguments (their measuring
code is theirs; this file only starts them and reads what they write), each writing its JSON into one run
folder (``--run-dir``, default ``<out>/<name without .json>/``) beside its printed output (``<script>.log``):

1. ``benchmarks/inference.py`` (``--quick`` with ``--quick``): the float32 multiply rate, the model's FLOPs
   counted from its layers, per-window ``predict`` (the naive way) against one batched call per backend,
   achieved FLOP/s as a share of the multiply rate measured in the same run -> ``inference.json``;
2. ``benchmarks/capacity.py --beds B --duration-s D --separate-max S --backend X``: for each bed count, one
   daemon with that many 23-channel 256 Hz beds replayed over real LSL (every window timed at a ZeroMQ
   subscriber), the same with the tests' toy model (everything but the model), and one daemon per bed up to
   ``--separate-max`` beds while it fits in memory -> ``capacity.json``;
3. ``benchmarks/train_input.py`` (``--examples 1024 --steps 4 --pipeline-batches 20`` with ``--quick``):
   training throughput (windows/s) and the share of wall time the input pipeline stalls it, for each way of
   feeding it -> ``train-input.json``.

Defaults (about 15-20 min on the project's idle 2-core machine): inference.py's own; capacity
``--beds 10,20,30,40 --duration-s 40 --separate-max 20 --backend auto`` (capacity.py's 10 s warm-up): 10-40
brackets the 25-30 beds this machine held in earlier runs, 40 s per run keeps the eight single and
model-free runs near 8 min, and one daemon per bed runs at 10 and 20 beds (20 LiteRT daemons fit in memory;
capacity.py skips a count that would not); train_input.py's own (4,096 synthetic examples, 12 steps).
``--quick`` (about 4-6 min): inference ``--quick``; capacity ``--beds 5,10 --duration-s 15 --warmup-s 3
--separate-max 5`` (the model-free run kept: it is the target's measurement); train_input small. Extra
arguments for one script: ``--inference-args``, ``--capacity-args``, ``--train-args`` (split as a shell
would; appended last, so they win over these defaults).

Then it reads the three JSON files and prints ONE table of issue #13's targets, the value measured and a
verdict: ``met``, ``missed by N x`` (N: how far from the target, measured / limit for an upper bound,
target / measured for a lower bound), ``not measured`` with the reason, or ``no numeric target`` for the
figures the issue asks for without a bound. It writes ``<out>/<name>`` (default
``benchmarks/results/ward-<host>-<date>.json``): the three scripts' results as they wrote them, the
commands, exit codes and wall times, and the table's rows. The rows come from :func:`summarize`, a pure
function of the three loaded dicts; :func:`table` formats them.

How each target is read from the scripts' JSON:

- batched CPU inference >= 60 % of the multiply rate: the largest ``fraction_of_matmul_wall`` (achieved
  FLOP per wall second / the matmul's of the same arithmetic, both in the inference run: float32, and bfloat16
  for a ``-bfloat16`` backend) over every backend's batched calls; the largest per CPU second beside it;
- LiteRT >= 2x faster than the issue's 1.8-2.1 ms per window: ``litert`` (every core, the daemon's default)
  at its best batched wall time per window; met when 2x against both ends (<= 0.90 ms); the issue's figure
  was measured at another time on the export of then (benchmarks/compare_exports.py times two exports in one
  run);
- one daemon keeps >= 50 beds in real time: the largest bed count whose ``single`` run held real time by
  capacity.py's own criterion (its ``real_time`` flag); missed when a count of 50 or fewer failed, not
  decided when every count tried held and none reached 50;
- at capacity (that bed count; the smallest tried when none held): p99 latency from a window's newest sample
  to its message at the subscriber (capacity.py's ``p99_under_100ms``: 99 % of windows within 0.1 s),
  everything but the model (the ``model-free`` run's CPU share) under 15 %, VmHWM under 300 MiB + 5 MiB per
  bed; ready in under 5 s: the slowest ``single`` run;
- one daemon against one process per bed: at each count with a ``separate`` run, VmHWM and CPU of the one
  daemon against the N daemons' sums; met when the one daemon uses less of both and is in real time
  wherever the N daemons are;
- training: each way's training windows/s and stall share from train_input.py (no numeric target).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import textwrap
import time
from itertools import zip_longest
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from realtime.config import MODEL_BACKENDS  # noqa: E402

SCRIPTS = {  # key in the combined JSON -> (script, file written into the run folder)
    "inference": ("benchmarks/inference.py", "inference.json"),
    "capacity": ("benchmarks/capacity.py", "capacity.json"),
    "train_input": ("benchmarks/train_input.py", "train-input.json"),
}
TARGETS: dict[str, Any] = {
    "fraction_of_matmul": 0.60,
    "litert_speedup": 2.0,
    "litert_issue_ms_per_window": [1.8, 2.1],
    "beds": 50,
    "p99_latency_s": 0.100,
    "non_model_cpu_share": 0.15,
    "rss_base_mib": 300,
    "rss_per_bed_mib": 5,
    "ready_s": 5.0,
}
DEFAULTS = {  # capacity.py's arguments: (full run, --quick)
    "beds": ("10,20,30,40", "5,10"),
    "duration_s": (40.0, 15.0),
    "warmup_s": (None, 3.0),  # None: capacity.py's own (10 s)
    "separate_max": (20, 5),
}
TRAIN_QUICK = ["--examples", "1024", "--steps", "4", "--pipeline-batches", "20"]


# ----------------------------------------------------------------------------- verdicts (pure)
def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _ms(x: Any) -> str:
    return f"{1000 * x:.0f} ms" if _finite(x) else "-"


def _pct(x: Any) -> str:
    return "-" if not _finite(x) else (f"{100 * x:.1f} %" if abs(x) < 0.1 else f"{100 * x:.0f} %")


def _row(
    target: str,
    measured: str,
    met: bool | None,
    source: str,
    factor: float | None = None,
    verdict: str | None = None,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One row of the table. ``factor``: how far the measurement is from the target (measured / limit for an
    upper bound, target / measured for a lower bound): above 1 = missed by that factor."""
    if verdict is None:
        if met is True:
            verdict = "met"
        elif met is False:
            verdict = f"missed by {factor:.2f}x" if _finite(factor) else "missed"
        else:
            verdict = "no numeric target"
    return {
        "target": target,
        "measured": measured,
        "verdict": verdict,
        "met": met,
        "factor": factor if _finite(factor) else None,
        "source": source,
        "values": values or {},
    }


def _missing(target: str, source: str, why: str) -> dict[str, Any]:
    return _row(target, f"not measured: {why}", None, source, verdict="not measured")


T_PER_WINDOW = "per-window predict (the naive way) against batched"
T_MATMUL = "batched CPU inference >= 60 % of the multiply rate measured in the same run"
T_LITERT = "LiteRT >= 2x faster than the issue's 1.8-2.1 ms per window"
T_BEDS = "one daemon keeps >= 50 beds (23 ch, 256 Hz, hop 1 s) in real time"
T_P99 = "p99 latency, newest sample to message at a subscriber, < 100 ms"
T_CPU = "everything but the model < 15 % of the CPU at capacity"
T_RSS = "resident memory < 300 MB + 5 MB per bed"
T_READY = "ready < 5 s"
T_SEPARATE = "one daemon against one process per bed (memory, CPU)"
T_TRAIN = "training throughput (windows/s)"
T_STALL = "share of training time the input pipeline stalls it"


def _inference_rows(inf: dict[str, Any] | None, why: str) -> list[dict[str, Any]]:
    src = "inference.py"
    if not inf or not inf.get("backends"):
        return [_missing(t, src, why) for t in (T_PER_WINDOW, T_MATMUL, T_LITERT)]
    rows: list[dict[str, Any]] = []
    mm = inf["matmul"]
    mm_bf = inf.get("matmul_bfloat16")
    mflop = inf["model"]["mflop_per_window"]
    batched_all: list[tuple[str, str, dict[str, Any]]] = []
    for name, b in inf["backends"].items():
        target = f"{T_PER_WINDOW}: {name}"
        if "per_window" not in b or not b.get("batched"):
            rows.append(_missing(target, src, str(b.get("note", "no timings in the JSON"))))
            continue
        per = b["per_window"]
        k, best = min(b["batched"].items(), key=lambda kv: kv[1]["wall_ms"])
        batched_all += [(name, size, r) for size, r in b["batched"].items()]
        speedup = per["wall_ms"] / best["wall_ms"]
        rows.append(
            _row(
                target,
                f"{per['wall_ms']:.3f} ms/window one call per window, {best['wall_ms']:.3f} batched (batch {k}): "
                f"{speedup:.2f}x (wall, best run; CPU {per['cpu_ms']:.3f} against {best['cpu_ms']:.3f} ms)",
                None,
                src,
                values={
                    "per_window_wall_ms": per["wall_ms"],
                    "batched_wall_ms": best["wall_ms"],
                    "batch": int(k),
                    "speedup": speedup,
                },
            )
        )
    if batched_all:
        wn, wk, wr = max(batched_all, key=lambda t: t[2]["fraction_of_matmul_wall"])
        cn, ck, cr = max(batched_all, key=lambda t: t[2]["fraction_of_matmul_cpu"])
        frac = wr["fraction_of_matmul_wall"]
        rows.append(
            _row(
                T_MATMUL,
                f"{_pct(frac)} per wall second ({wn}, batch {wk}); {_pct(cr['fraction_of_matmul_cpu'])} per CPU "
                f"second ({cn}, batch {ck}); the model {mflop:.1f} MFLOP/window counted from its layers, the "
                f"float32 matmul {mm['gflops_wall']:.0f} GFLOP/s ({mm['gflops_per_cpu_s']:.0f} per CPU s)"
                + (
                    f", the bfloat16 matmul {mm_bf['gflops_wall']:.0f} ({mm_bf['gflops_per_cpu_s']:.0f}; "
                    "a bfloat16 backend's share is of it)"
                    if mm_bf
                    else ""
                ),
                frac >= TARGETS["fraction_of_matmul"],
                src,
                factor=TARGETS["fraction_of_matmul"] / frac if frac > 0 else math.inf,
                values={
                    "fraction_of_matmul_wall": frac,
                    "backend": wn,
                    "batch": int(wk),
                    "fraction_of_matmul_cpu": cr["fraction_of_matmul_cpu"],
                    "backend_cpu": cn,
                    "batch_cpu": int(ck),
                    "mflop_per_window": mflop,
                    "matmul_gflops_wall": mm["gflops_wall"],
                },
            )
        )
    else:
        rows.append(_missing(T_MATMUL, src, "no backend was timed"))
    lite = inf["backends"].get("litert", {})
    if lite.get("batched"):
        k, best = min(lite["batched"].items(), key=lambda kv: kv[1]["wall_ms"])
        ms = best["wall_ms"]
        lo, hi = TARGETS["litert_issue_ms_per_window"]
        need = TARGETS["litert_speedup"]
        s_lo, s_hi = lo / ms, hi / ms
        met = s_lo >= need
        verdict = None
        if not met and s_hi >= need:
            verdict = f"missed by {need / s_lo:.2f}x against {lo} ms (met against {hi} ms)"
        one = inf["backends"].get("litert-1", {}).get("batched")
        one_ms = min(r["wall_ms"] for r in one.values()) if one else None
        rows.append(
            _row(
                T_LITERT,
                f"{ms:.3f} ms/window (litert, every core, batch {k}, wall): {s_lo:.2f}-{s_hi:.2f}x; per window "
                f"{lite['per_window']['wall_ms']:.3f} ms"
                + (f"; litert-1 (one thread) {one_ms:.3f} ms" if one_ms is not None else "")
                + "; the issue's figure is of another moment and export",
                met,
                src,
                factor=need / s_lo,
                verdict=verdict,
                values={"wall_ms": ms, "batch": int(k), "speedup_range": [s_lo, s_hi]},
            )
        )
    else:
        rows.append(_missing(T_LITERT, src, str(lite.get("note", "no litert backend in the run"))))
    return rows


def _why_run(runs: list[dict[str, Any]], mode: str, n: int) -> str:
    """Why a capacity run has no figures: its ``skipped`` or ``error`` text."""
    for r in runs:
        if r.get("mode") == mode and r.get("beds") == n:
            if "skipped" in r:
                return f"{mode} run at {n} beds skipped ({r['skipped']})"
            if "error" in r:
                return f"{mode} run at {n} beds failed ({str(r['error']).splitlines()[0]})"
    return f"no {mode} run at {n} beds"


def _capacity_rows(cap: dict[str, Any] | None, inf: dict[str, Any] | None, why: str) -> list[dict[str, Any]]:
    src = "capacity.py"
    names = (T_BEDS, T_P99, T_CPU, T_RSS, T_READY, T_SEPARATE)
    if not cap or "targets_check" not in cap:
        return [_missing(t, src, why) for t in names]
    runs = cap["runs"]
    per = {int(k): v for k, v in cap["targets_check"]["per_bed_count"].items()}
    single = {r["beds"]: r for r in runs if r["mode"] == "single" and "real_time" in r}
    if not single:
        errors = "; ".join(_why_run(runs, "single", r["beds"]) for r in runs if r["mode"] == "single")
        return [_missing(t, src, errors or "no single-daemon run") for t in names]
    tried = sorted(single)
    held = [n for n in tried if single[n]["real_time"]]
    failed = [n for n in tried if not single[n]["real_time"]]
    cap_n = max(held) if held else 0
    rows: list[dict[str, Any]] = []
    # beds
    r0 = single[cap_n] if held else None
    arith = ""
    backend = single[tried[0]].get("backend")
    if backend in ("tensorflow", "openvino") and cap.get("settings", {}).get("precision") == "bfloat16":
        backend += "-bfloat16"  # inference.py's name for the arithmetic capacity.py ran
    if inf and backend in inf.get("backends", {}):
        a = inf["backends"][backend].get("capacity_beds_arithmetic")
        if _finite(a):
            arith = f"; by arithmetic from the model's time alone (inference.py, {backend}): {a:.0f}"
    strict = cap["targets_check"].get("capacity_beds_at_least")
    measured = (
        f"{cap_n} beds ({backend}; real time at "
        + ", ".join(f"{n} {'yes' if single[n]['real_time'] else 'NO'}" for n in tried)
        + ")"
    )
    if r0 is not None:
        measured += (
            f"; at {cap_n} the daemon took {_pct(r0['cpu_share_of_cores'])} of the cores, the model "
            f"{r0['model_wall_s_per_s']:.2f} s per s"
        )
    if strict is not None and strict != cap_n:
        measured += f"; every count up to it in real time: {strict}"
    measured += arith
    need = TARGETS["beds"]
    if cap_n >= need:
        met: bool | None = True
        verdict = None
    elif any(f <= need for f in failed):
        met, verdict = False, None
    else:
        met, verdict = None, f"not decided: {need} not tried, {cap_n} held"
    if cap_n == 0:
        verdict = "missed: no bed count tried held real time"
    rows.append(
        _row(
            T_BEDS,
            measured,
            met,
            src,
            factor=need / cap_n if cap_n else math.inf,
            verdict=verdict,
            values={"capacity_beds": cap_n, "tried": tried, "real_time": [n in held for n in tried]},
        )
    )
    # at capacity
    at = cap_n if held else tried[0]
    where = f"at {at} beds" + ("" if held else " (none held real time: the smallest count tried)")
    e = per.get(at, {})
    # p99
    p99 = e.get("p99_latency_s")
    if _finite(p99):
        ls = single[at]["latency_subscriber_s"]
        others = ", ".join(
            f"{n}: {_ms(per[n]['p99_latency_s'])}" + ("" if single[n]["real_time"] else " (not real time)")
            for n in tried
            if n != at and n in per
        )
        rows.append(
            _row(
                T_P99,
                f"{_ms(p99)} {where} (p50 {_ms(ls.get('p50'))}; {_pct(e['share_within_100ms'])} within 100 ms; "
                f"{e['latency_from']})" + (f"; other counts: {others}" if others else ""),
                bool(e["p99_under_100ms"]),
                src,
                factor=p99 / TARGETS["p99_latency_s"],
                values={
                    "beds": at,
                    "p99_s": p99,
                    "p50_s": ls.get("p50"),
                    "share_within_100ms": e["share_within_100ms"],
                },
            )
        )
    else:
        rows.append(_missing(T_P99, src, f"no latency {where}"))
    # everything but the model
    share = e.get("non_model_cpu_share")
    if _finite(share):
        others = ", ".join(
            f"{n}: {_pct(per[n]['non_model_cpu_share'])}"
            for n in tried
            if n != at and _finite(per.get(n, {}).get("non_model_cpu_share"))
        )
        rows.append(
            _row(
                T_CPU,
                f"{_pct(share)} {where} (the model-free run: the tests' toy model)"
                + (f"; other counts: {others}" if others else ""),
                bool(share < TARGETS["non_model_cpu_share"]),
                src,
                factor=share / TARGETS["non_model_cpu_share"],
                values={"beds": at, "non_model_cpu_share": share},
            )
        )
    else:
        rows.append(_missing(T_CPU, src, _why_run(runs, "model-free", at)))
    # memory
    hwm, limit = e.get("vmhwm_mib"), e.get("rss_limit_mib")
    if _finite(hwm) and _finite(limit):
        others = ", ".join(f"{n}: {per[n]['vmhwm_mib']:.0f}" for n in tried if n != at and n in per)
        rows.append(
            _row(
                T_RSS,
                f"VmHWM {hwm:.0f} MiB {where}, limit {limit:.0f} MiB"
                + (f"; other counts (MiB): {others}" if others else ""),
                bool(hwm < limit),
                src,
                factor=hwm / limit,
                values={"beds": at, "vmhwm_mib": hwm, "limit_mib": limit},
            )
        )
    else:
        rows.append(_missing(T_RSS, src, f"no memory figure {where}"))
    # ready
    readies = {n: single[n]["ready_s"]["max"] for n in tried}
    worst = max(readies, key=lambda n: readies[n])
    rows.append(
        _row(
            T_READY,
            f"{readies[worst]:.1f} s at most (at {worst} beds; "
            + ", ".join(f"{n}: {readies[n]:.1f}" for n in tried)
            + "): start to the ready line, model loaded and warmed",
            bool(readies[worst] < TARGETS["ready_s"]),
            src,
            factor=readies[worst] / TARGETS["ready_s"],
            values={"ready_s": readies[worst], "by_beds": {str(n): readies[n] for n in tried}},
        )
    )
    # one daemon against one per bed
    separate = {r["beds"]: r for r in runs if r["mode"] == "separate" and "cpu_share_of_cores" in r}
    compared = [n for n in sorted(separate) if n in single]
    if not compared:
        reasons = "; ".join(_why_run(runs, "separate", n) for n in tried)
        rows.append(_missing(T_SEPARATE, src, reasons))
    for n in compared:
        s, p = single[n], separate[n]
        rs, rp = s["rss_mib"]["vmhwm_at_end"], p["rss_mib"]["vmhwm_at_end"]
        cs, cp = s["cpu_share_of_cores"], p["cpu_share_of_cores"]
        ls, lp = s["latency_subscriber_s"], p["latency_subscriber_s"]
        lighter = bool(rs < rp and cs < cp)
        behind = bool(p["real_time"] and not s["real_time"])  # N daemons kept up where the one did not
        met = lighter and not behind
        verdict = (
            f"{'met' if met else 'missed'}: one daemon {rp / rs:.1f}x less memory, "
            + (f"{cp / cs:.2f}x less CPU" if cs < cp else f"{cs / cp:.2f}x more CPU")
            + ("; not in real time where one per bed was" if behind else "")
        )
        rows.append(
            _row(
                f"{T_SEPARATE}: {n} beds",
                f"one daemon VmHWM {rs:.0f} MiB, CPU {_pct(cs)}, p50/p99 {_ms(ls.get('p50'))}/{_ms(ls.get('p99'))}, "
                f"real time {'yes' if s['real_time'] else 'NO'}; {p['daemons']} daemons {rp:.0f} MiB, {_pct(cp)}, "
                f"{_ms(lp.get('p50'))}/{_ms(lp.get('p99'))}, real time {'yes' if p['real_time'] else 'NO'}",
                met,
                src,
                verdict=verdict,
                values={
                    "beds": n,
                    "single": {"vmhwm_mib": rs, "cpu_share": cs, "p99_s": ls.get("p99"), "real_time": s["real_time"]},
                    "separate": {"vmhwm_mib": rp, "cpu_share": cp, "p99_s": lp.get("p99"), "real_time": p["real_time"]},
                    "memory_ratio_separate_to_single": rp / rs,
                    "cpu_ratio_separate_to_single": cp / cs,
                },
            )
        )
    return rows


def _train_rows(tr: dict[str, Any] | None, why: str) -> list[dict[str, Any]]:
    src = "train_input.py"
    if not tr or not tr.get("ways"):
        return [_missing(T_TRAIN, src, why), _missing(T_STALL, src, why)]
    ways = tr["ways"]
    setup = (
        f"{tr.get('architecture', '?')}, batch {tr.get('batch_size', '?')}, "
        f"{'real' if tr.get('background', {}).get('real') else 'synthetic'} background"
    )
    rows = [
        _row(
            T_TRAIN,
            ", ".join(
                f"{w} {r['train_windows_per_s']:.0f} (step {r['step_ms_median']:.0f} ms; the pipeline alone "
                f"{r['pipeline_windows_per_s']:.0f})"
                for w, r in ways.items()
            )
            + f"; {setup}",
            None,
            src,
            values={w: r["train_windows_per_s"] for w, r in ways.items()},
        )
    ]
    worst = max(ways, key=lambda w: ways[w]["stall_share"])
    rows.append(
        _row(
            T_STALL,
            ", ".join(f"{w} {100 * r['stall_share']:.2f} %" for w, r in ways.items())
            + f"; most {100 * ways[worst]['stall_share']:.2f} % ({worst}): time waiting for the next batch / wall",
            None,
            src,
            values={w: r["stall_share"] for w, r in ways.items()},
        )
    )
    return rows


def summarize(
    inference: dict[str, Any] | None,
    capacity: dict[str, Any] | None,
    train_input: dict[str, Any] | None,
    why: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The table's rows, from the three scripts' results as loaded from their JSON (``None``: not there; ``why``
    says why, per ``SCRIPTS`` key). Pure: no I/O."""
    why = why or {}
    return [
        *_inference_rows(inference, why.get("inference", "no inference.py result")),
        *_capacity_rows(capacity, inference, why.get("capacity", "no capacity.py result")),
        *_train_rows(train_input, why.get("train_input", "no train_input.py result")),
    ]


def table(rows: list[dict[str, Any]], widths: tuple[int, int, int, int] = (36, 64, 26, 14)) -> str:
    """The rows as a plain-text table, long cells wrapped."""
    head = ("target (issue #13)", "measured", "verdict", "from")
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        cells = [
            textwrap.wrap(str(r[k]), w) or [""]
            for k, w in zip(("target", "measured", "verdict", "source"), widths, strict=True)
        ]
        for parts in zip_longest(*cells, fillvalue=""):
            lines.append("  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)).rstrip())
    met = sum(r["met"] is True for r in rows)
    missed = sum(r["met"] is False for r in rows)
    lines.append(
        f"{met} met, {missed} missed, {len(rows) - met - missed} without a verdict (no target or not measured)"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- running the scripts
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few minutes in all: small runs of every script")
    ap.add_argument("--beds", default=None, help="capacity.py bed counts (default 10,20,30,40; --quick 5,10)")
    ap.add_argument("--duration-s", type=float, default=None, help="capacity.py's interval (default 40; --quick 15)")
    ap.add_argument(
        "--warmup-s", type=float, default=None, help="capacity.py's warm-up (default its own, 10; --quick 3)"
    )
    ap.add_argument(
        "--separate-max",
        type=int,
        default=None,
        help="capacity.py: one daemon per bed up to this (default 20; --quick 5)",
    )
    ap.add_argument("--backend", choices=MODEL_BACKENDS, default="auto", help="capacity.py's backend")
    ap.add_argument("--model", default="", help="export for inference.py and capacity.py (default: the shipped)")
    ap.add_argument("--inference-args", default="", help="more arguments for inference.py (one string)")
    ap.add_argument("--capacity-args", default="", help="more arguments for capacity.py (one string)")
    ap.add_argument("--train-args", default="", help="more arguments for train_input.py (one string)")
    ap.add_argument("--skip", default="", help="comma-separated: inference, capacity, train_input")
    ap.add_argument("--from-dir", default="", help="no runs: the table from this run folder's JSON")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="directory for the combined JSON")
    ap.add_argument("--name", default="", help="combined JSON's file name (default: ward-<host>-<date>.json)")
    ap.add_argument("--run-dir", default="", help="the scripts' JSON and logs (default: <out>/<name without .json>)")
    args = ap.parse_args(argv)
    q = 1 if args.quick else 0
    for key, values in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, values[q])
    skip = {s.strip().replace("-", "_") for s in args.skip.split(",") if s.strip()}
    if skip - set(SCRIPTS):
        ap.error(f"--skip: {', '.join(sorted(skip - set(SCRIPTS)))} is not one of {', '.join(SCRIPTS)}")
    args.skip = skip
    return args


def commands(args: argparse.Namespace, run_dir: Path) -> dict[str, list[str]]:
    """Each script's argument list (script path first), writing its JSON into ``run_dir``."""
    out = {}
    for key, (script, name) in SCRIPTS.items():
        cmd = [script]
        if key == "inference":
            cmd += ["--quick"] if args.quick else []
            cmd += ["--model", args.model] if args.model else []
            extra = args.inference_args
        elif key == "capacity":
            cmd += ["--beds", args.beds, "--duration-s", f"{args.duration_s:g}"]
            cmd += ["--separate-max", str(args.separate_max), "--backend", args.backend]
            cmd += ["--warmup-s", f"{args.warmup_s:g}"] if args.warmup_s is not None else []
            cmd += ["--model", args.model] if args.model else []
            extra = args.capacity_args
        else:
            cmd += TRAIN_QUICK if args.quick else []
            extra = args.train_args
        out[key] = [*cmd, "--out", str(run_dir), "--name", name, *shlex.split(extra)]
    return out


def run_script(argv: list[str], log_path: Path) -> dict[str, Any]:
    """One script as a subprocess of this Python, its output shown and kept in ``log_path``."""
    print(f"\n=== {' '.join(shlex.quote(a) for a in argv)}", flush=True)
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t0 = time.monotonic()
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            [sys.executable, "-u", *argv],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            log.write(line)
        rc = proc.wait()
    wall = time.monotonic() - t0
    print(f"=== exit {rc} after {wall / 60:.1f} min", flush=True)
    return {"command": ["python", *argv], "rc": rc, "wall_s": round(wall, 1), "log": str(log_path)}


def load(run_dir: Path, scripts: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """``({key: result dict}, {key: why there is none})`` from ``run_dir``."""
    results: dict[str, Any] = {}
    why: dict[str, str] = {}
    for key, (script, name) in SCRIPTS.items():
        path = run_dir / name
        info = scripts.get(key, {})
        if info.get("skipped"):
            why[key] = f"{script} skipped (--skip)"
            continue
        try:
            results[key] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            rc = f"{script} exited {info['rc']}; " if "rc" in info else ""
            why[key] = f"{rc}no JSON ({type(exc).__name__}: {path})"
            continue
        if info.get("rc"):
            why[key] = f"{script} exited {info['rc']}"
    return results, why


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    name = args.name or f"ward-{platform.node()}-{created[:10]}.json"
    out_dir = Path(args.out)
    run_dir = Path(args.from_dir or args.run_dir or out_dir / Path(name).stem)
    run_dir.mkdir(parents=True, exist_ok=True)
    load_start = list(os.getloadavg())
    t0 = time.monotonic()
    cmds = commands(args, run_dir)
    scripts: dict[str, dict[str, Any]] = {}
    if not args.from_dir:
        print(f"run folder: {run_dir}", flush=True)
        for key, cmd in cmds.items():
            if key in args.skip:
                scripts[key] = {"command": ["python", *cmd], "skipped": True}
                continue
            scripts[key] = run_script(cmd, run_dir / f"{Path(SCRIPTS[key][0]).stem}.log")
    results, why = load(run_dir, scripts)
    for key, text in why.items():  # a script that exited non-zero may still have written its JSON
        if key in results:
            print(f"note: {text}; its JSON is read as written", file=sys.stderr)
    rows = summarize(results.get("inference"), results.get("capacity"), results.get("train_input"), why)
    combined: dict[str, Any] = {
        "what": "issue #13's benchmarks in one run: inference.py, capacity.py and train_input.py, and the targets",
        "command": " ".join(["python", "benchmarks/ward.py", *argv]),
        "created": created,
        "host": {
            "node": platform.node(),
            "platform": platform.platform(),
            "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "load_average_at_start": load_start,
            "load_average_at_end": list(os.getloadavg()),
            "niceness": os.nice(0),
        },
        "wall_s": round(time.monotonic() - t0, 1),
        "run_dir": str(run_dir),
        "from_dir": bool(args.from_dir),
        "scripts": scripts,
        "targets": TARGETS,
        "summary": rows,
        **{key: results.get(key) for key in SCRIPTS},
    }
    how = f"from {run_dir}" if args.from_dir else f"one run, {combined['wall_s'] / 60:.1f} min"
    load_end = combined["host"]["load_average_at_end"][0]
    print(f"\nissue #13's targets ({how}; load average {load_start[0]:.1f} at the start, {load_end:.1f} at the end)")
    print(table(rows))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    path.write_text(json.dumps(combined, indent=1, default=str) + "\n")
    print(f"wrote {path}; the scripts' own JSON and output in {run_dir}")
    failed = [k for k, s in scripts.items() if s.get("rc")] + [
        k for k in SCRIPTS if k not in results and k not in args.skip
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
