"""LiteRT variants of the shipped model (not a test): quantized and static-shape conversions, their speed
and how far their probabilities move from float32 (issue #13, "faster math where it is exact enough").

    .venv/bin/python benchmarks/litert_variants.py [--model EXPORT] [--batch 32] [--threads 1] [--rounds 5]
        [--calls 5] [--hop 1024] [--calibration-windows 128] [--out JSON]

The export's ``saved_model`` is converted with TensorFlow's ``tf.lite.TFLiteConverter`` (in a temporary
directory) into:

- ``float32``: the export's own ``model.tflite`` (dynamic batch): the reference;
- ``float32-reconverted``: ``from_saved_model`` without options, as ``train/export.py`` converts (a control:
  the same converter as every variant below);
- ``float16``: float16 weights (``Optimize.DEFAULT``, ``supported_types = [tf.float16]``);
- ``dynamic-int8``: dynamic-range quantization (int8 weights, float activations; ``Optimize.DEFAULT``);
- ``int8``: full integer quantization (``TFLITE_BUILTINS_INT8``, float input and output), calibrated;
- ``int16x8``: int16 activations, int8 weights (``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``),
  calibrated;
- ``float32-static``, ``dynamic-int8-static``, ``int8-static``: the same from a concrete function of the
  serving signature with a static batch of ``--batch`` windows (no dynamic-shape ops left to compute).

Calibration (the representative dataset of ``int8`` and ``int16x8``) never sees the CHB-MIT excerpts (test
data): it uses windows of a background fixture shipped in ``realtime/data`` if one ships (none does as of
2026-12-02), else the synthetic EEG of the tests (``tests/train/conftest.py``'s ``synth_eeg``: 1/f-like
background of ~20 µV, half the windows with a 3-5 Hz ~150 µV rhythm), each window with a random gain
(log-uniform 0.5-4) so that the calibrated ranges cover real amplitudes. The JSON says which.

Timing and the comparison use real EEG: the shipped CHB-MIT excerpts (``realtime/data/chbmit/*.edf``, read
by ``realtime.recordings.read_recording`` in µV, the pipeline's channels, resampled to the model's rate with
``scipy.signal.resample_poly``), windows of the model's length on every channel at ``--hop`` samples.

Each variant runs in ``ai_edge_litert.interpreter.Interpreter`` (``num_threads=--threads``, XNNPACK as the
daemon gets it) on batches of exactly ``--batch`` windows (set_tensor, invoke, get_tensor). ``--rounds``
rounds alternate the variants' order (forward, then backward), each variant making ``--calls`` calls per
round; reported: milliseconds per window, wall (best round) and CPU (median round). Against ``float32``, on
every window: max and mean |p - p_float32| of p(seizure), and how many windows fall on the other side of 0.5
(the off_threshold) and of the card's on_threshold (0.6). Also the model's op counts
(``Interpreter._get_ops_details()``) and how many XNNPACK partitions (``DELEGATE`` nodes) it gets.
Written to ``--out`` (default ``benchmarks/results/litert-variants-<host>-<date>.json``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.inference import _busy_total_s, _own_cpu_s, host_info, others_cpu_share  # noqa: E402

REFERENCE = "float32"
# name -> (what it is, converted from a static-batch concrete function, converter options)
VARIANTS: dict[str, tuple[str, bool, str]] = {
    "float32": ("the export's model.tflite, dynamic batch (the reference)", False, "shipped"),
    "float32-reconverted": ("from_saved_model, no options (as train/export.py)", False, "float32"),
    "float16": ("float16 weights", False, "float16"),
    "dynamic-int8": ("dynamic-range: int8 weights, float activations", False, "dynamic-int8"),
    "int8": ("full int8 (TFLITE_BUILTINS_INT8), float in/out, calibrated", False, "int8"),
    "int16x8": ("int16 activations, int8 weights, calibrated", False, "int16x8"),
    "float32-static": ("float32, static batch", True, "float32"),
    "dynamic-int8-static": ("dynamic-range int8, static batch", True, "dynamic-int8"),
    "int8-static": ("full int8, float in/out, static batch, calibrated", True, "int8"),
}
CALIBRATED = ("int8", "int16x8")
GAIN_RANGE = (0.5, 4.0)


# ---------------------------------------------------------------- pure helpers (tested without TensorFlow)


def sliding_windows(data: np.ndarray, width: int, hop: int) -> np.ndarray:
    """``data [n_channels, n_samples]`` -> ``[k, width]`` float32: windows of every channel at ``hop``
    samples (channel-major), none when a channel is shorter than ``width``."""
    data = np.asarray(data)
    starts = range(0, data.shape[1] - width + 1, hop)
    out = [data[c, s : s + width] for c in range(data.shape[0]) for s in starts]
    return np.asarray(out, dtype=np.float32).reshape(len(out), width)


def batches(x: np.ndarray, batch: int) -> Iterator[tuple[np.ndarray, int]]:
    """``(chunk [batch, W], n_real)`` over ``x [n, W]``: the last chunk zero-padded to ``batch`` windows (as
    the daemon pads), ``n_real`` the windows of ``x`` in it."""
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        n = len(chunk)
        if n < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - n, x.shape[1]), dtype=x.dtype)])
        yield chunk, n


def compare(p: np.ndarray, ref: np.ndarray, thresholds: Sequence[float]) -> dict:
    """How far ``p`` moved from ``ref`` (both ``[n]`` p(seizure)): max and mean |difference|, and per
    threshold t the windows on the other side of t (the decision counts ``p >= t`` as reaching it), with
    how many went up (``ref < t <= p``) and down."""
    p, ref = np.asarray(p, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if p.shape != ref.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {ref.shape}")
    diff = np.abs(p - ref)
    out: dict[str, Any] = {
        "windows": int(p.size),
        "max_abs_dp": float(diff.max()) if p.size else 0.0,
        "mean_abs_dp": float(diff.mean()) if p.size else 0.0,
        "crossings": {},
    }
    for t in thresholds:
        up = int(np.sum((ref < t) & (p >= t)))
        down = int(np.sum((ref >= t) & (p < t)))
        out["crossings"][f"{t:g}"] = {
            "total": up + down,
            "up": up,
            "down": down,
            "reference_at_or_above": int(np.sum(ref >= t)),
        }
    return out


def summarize_times(wall_ms: Sequence[float], cpu_ms: Sequence[float]) -> dict:
    """Per-round milliseconds per window -> best wall, median CPU (and the rounds)."""
    return {
        "wall_ms": float(min(wall_ms)),
        "cpu_ms": float(np.median(cpu_ms)),
        "wall_ms_rounds": [float(v) for v in wall_ms],
        "cpu_ms_rounds": [float(v) for v in cpu_ms],
    }


def format_table(rows: dict[str, dict], thresholds: Sequence[float], reference: str = REFERENCE) -> str:
    """The printed (and documented) table: one line per variant with wall and CPU ms per window, the ratio
    of its wall time to the reference's, max and mean |dp| and the crossings per threshold; a variant whose
    conversion failed gets its error instead."""
    ths = [f"{t:g}" for t in thresholds]
    head = (
        f"{'variant':<21}{'wall ms/win':>12}{'CPU ms/win':>11}{'x float32':>10}{'max |dp|':>10}{'mean |dp|':>10}"
        + "".join(f"{'flips ' + t:>11}" for t in ths)
    )
    lines = [head, "-" * len(head)]
    ref_wall = rows.get(reference, {}).get("timing", {}).get("wall_ms")
    for name, row in rows.items():
        if "error" in row:
            lines.append(f"{name:<21}conversion failed: {row['error']}")
            continue
        t, c = row["timing"], row["comparison"]
        ratio = f"{ref_wall / t['wall_ms']:.2f}" if ref_wall else "-"
        lines.append(
            f"{name:<21}{t['wall_ms']:>12.3f}{t['cpu_ms']:>11.3f}{ratio:>10}{c['max_abs_dp']:>10.1e}"
            f"{c['mean_abs_dp']:>10.1e}" + "".join(f"{c['crossings'][th]['total']:>11d}" for th in ths)
        )
    return "\n".join(lines)


def op_counts(ops: Sequence[dict]) -> dict[str, int]:
    """``Interpreter._get_ops_details()`` -> ``{op_name: count}``, most frequent first."""
    return dict(Counter(str(o["op_name"]) for o in ops).most_common())


# ---------------------------------------------------------------- data


def real_windows(data_dir: Path, window: int, rate_hz: float, hop: int) -> tuple[np.ndarray, list[dict]]:
    """Windows of the CHB-MIT excerpts in ``data_dir`` (every EDF, sorted): µV, the pipeline's channels,
    resampled to ``rate_hz``. ``([n, window] float32, [{"file", "channels", "windows"}])``."""
    from scipy.signal import resample_poly

    from realtime.preprocess import resample_fraction
    from realtime.recordings import read_recording

    parts, sources = [], []
    for path in sorted(data_dir.glob("*.edf")):
        rec = read_recording(path)
        rows = rec.data[list(rec.select().scored)]
        if rec.sfreq != rate_hz:
            up, down = resample_fraction(rec.sfreq, rate_hz)
            rows = resample_poly(rows, up, down, axis=1)
        w = sliding_windows(rows, window, hop)
        parts.append(w)
        sources.append({"file": str(path.relative_to(REPO)), "channels": len(rows), "windows": len(w)})
    if not parts:
        raise SystemExit(f"litert_variants: no EDF in {data_dir}")
    return np.concatenate(parts), sources


def calibration_windows(n: int, window: int, rate_hz: float, seed: int = 0) -> tuple[np.ndarray, dict]:
    """``[n, window]`` float32 µV for the representative dataset, never the CHB-MIT excerpts: a background
    fixture shipped in realtime/data (``*background*``) if any, else the tests' synthetic EEG."""
    shipped = sorted(p for p in (REPO / "realtime" / "data").rglob("*background*") if p.suffix in (".edf", ".npz"))
    if shipped:
        x, sources = real_windows(shipped[0].parent, window, rate_hz, window // 2)
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(x), size=min(n, len(x)), replace=False)
        return x[pick], {"source": "shipped background fixture", "files": sources, "windows": len(pick)}
    spec = importlib.util.spec_from_file_location("_train_test_fixtures", REPO / "tests" / "train" / "conftest.py")
    if spec is None or spec.loader is None:
        raise SystemExit("litert_variants: cannot load tests/train/conftest.py (synth_eeg)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(seed)
    gains = np.exp(rng.uniform(np.log(GAIN_RANGE[0]), np.log(GAIN_RANGE[1]), n))
    x = np.stack([g * module.synth_eeg(window, i % 2 == 1, rng, fs_hz=rate_hz) for i, g in enumerate(gains)])
    return x.astype(np.float32), {
        "source": "synthetic: tests/train/conftest.py synth_eeg (no background fixture ships in realtime/data)",
        "windows": n,
        "seizure_like_windows": n // 2,
        "gain_log_uniform": list(GAIN_RANGE),
        "seed": seed,
        "std_uv_percentiles_5_50_95": [float(v) for v in np.percentile(x.std(axis=1), [5, 50, 95])],
    }


# ---------------------------------------------------------------- conversion and running


def convert(saved_model: Path, kind: str, static_batch: int | None, calib: np.ndarray) -> bytes:
    """One variant's flatbuffer. ``static_batch``: from a concrete function of the serving signature with
    that batch; else ``from_saved_model`` (dynamic batch)."""
    import tensorflow as tf

    if static_batch is None:
        conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
        rep_batch = 1
    else:
        loaded = tf.saved_model.load(str(saved_model))
        sig = loaded.signatures["serving_default"]
        (name, spec), *rest = sig.structured_input_signature[1].items()
        if rest:
            raise ValueError(f"serving signature has {len(rest) + 1} inputs, expected one")
        out_key = next(iter(sig.structured_outputs))
        fn = tf.function(
            lambda x: sig(**{name: x})[out_key],
            input_signature=[tf.TensorSpec([static_batch, *spec.shape[1:]], tf.float32)],
        )
        conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], loaded)
        rep_batch = static_batch
    if kind == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif kind == "dynamic-int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif kind in CALIBRATED:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]

        def representative() -> Iterator[list[np.ndarray]]:
            for chunk, _ in batches(calib, rep_batch):
                yield [chunk]

        conv.representative_dataset = representative
        if kind == "int8":
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.float32
            conv.inference_output_type = tf.float32
        else:
            conv.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
    elif kind != "float32":
        raise ValueError(f"unknown variant kind {kind!r}")
    return bytes(conv.convert())


class Runner:
    """A LiteRT interpreter at a fixed batch: ``__call__(chunk [batch, W]) -> [batch]`` p(positive)."""

    def __init__(self, path: Path, batch: int, threads: int, window: int, positive: int):
        from ai_edge_litert.interpreter import Interpreter

        self.interp = Interpreter(model_path=str(path), num_threads=threads)
        self.ops = op_counts(self.interp._get_ops_details())
        inp, out = self.interp.get_input_details()[0], self.interp.get_output_details()[0]
        self.static = int(inp["shape_signature"][0]) != -1
        if self.static and int(inp["shape"][0]) != batch:
            raise ValueError(f"{path}: static batch {inp['shape'][0]}, expected {batch}")
        if not self.static:
            self.interp.resize_tensor_input(inp["index"], [batch, window])
        self.interp.allocate_tensors()
        after = op_counts(self.interp._get_ops_details())
        self.partitions = after.get("DELEGATE", 0)  # XNNPACK (default delegate) partitions
        self.input_type = str(np.dtype(inp["dtype"]))
        self._in, self._out, self._pos = inp["index"], out["index"], positive

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        self.interp.set_tensor(self._in, chunk)
        self.interp.invoke()
        return np.asarray(self.interp.get_tensor(self._out))[:, self._pos].astype(np.float64)

    def predict(self, x: np.ndarray, batch: int) -> np.ndarray:
        return np.concatenate([self(chunk)[:n] for chunk, n in batches(x, batch)])


def time_rounds(
    runners: dict[str, Callable[[np.ndarray], Any]], chunks: list[np.ndarray], rounds: int, calls: int
) -> dict[str, dict]:
    """Per variant and round, ms per window over ``calls`` calls (cycling through ``chunks``); rounds
    alternate the variants' order."""
    wall: dict[str, list[float]] = {n: [] for n in runners}
    cpu: dict[str, list[float]] = {n: [] for n in runners}
    names = list(runners)
    per = 1e3 / (calls * len(chunks[0]))
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            fn = runners[name]
            t0, c0 = time.perf_counter(), time.process_time()
            for k in range(calls):
                fn(chunks[(r * calls + k) % len(chunks)])
            wall[name].append((time.perf_counter() - t0) * per)
            cpu[name].append((time.process_time() - c0) * per)
        print(f"  round {r + 1}/{rounds}: " + ", ".join(f"{n} {wall[n][-1]:.2f}" for n in names), flush=True)
    return {n: summarize_times(wall[n], cpu[n]) for n in names}


def default_out() -> Path:
    day = _dt.datetime.now(_dt.UTC).date().isoformat()
    return REPO / "benchmarks" / "results" / f"litert-variants-{platform.node()}-{day}.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="realtime/models/default", help="export directory (default: the shipped model)")
    ap.add_argument("--batch", type=int, default=32, help="windows per call, and the static variants' batch (32)")
    ap.add_argument("--threads", type=int, default=1, help="LiteRT num_threads (default 1)")
    ap.add_argument("--rounds", type=int, default=5, help="timing rounds, alternating order (default 5)")
    ap.add_argument("--calls", type=int, default=5, help="calls per variant per round (default 5)")
    ap.add_argument("--hop", type=int, default=1024, help="hop of the CHB-MIT windows in samples (default 1024)")
    ap.add_argument("--calibration-windows", type=int, default=128, help="representative windows (default 128)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset (default: all)")
    ap.add_argument(
        "--out", default="", help="JSON path (default benchmarks/results/litert-variants-<host>-<date>.json)"
    )
    args = ap.parse_args(argv)
    for flag in ("batch", "threads", "rounds", "calls", "hop", "calibration_windows"):
        if getattr(args, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)!r}")
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or REFERENCE not in names:
        ap.error(f"--variants: unknown {unknown}; known {list(VARIANTS)}, {REFERENCE!r} required")
    export = Path(args.model)
    if not export.is_absolute():
        export = REPO / export
    card = json.loads((export / "model_card.json").read_text())
    window, rate = int(card["window_samples"]), float(card["sample_rate_hz"])
    positive = list(card["classes"]).index(card["positive_class"])
    on = float(((card.get("settings") or {}).get("decision") or {}).get("on_threshold", 0.6))
    thresholds = sorted({0.5, on})

    busy0, total0, cpu0 = *_busy_total_s(), _own_cpu_s()
    import tensorflow as tf

    result: dict[str, Any] = {
        "what": "LiteRT variants (quantized, static batch) of the export: ms per window and p(seizure) vs float32",
        "command": " ".join(["benchmarks/litert_variants.py", *(argv if argv is not None else sys.argv[1:])]),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": {
            **host_info(),
            "cpu_count": os.cpu_count(),
            "ai_edge_litert": metadata.version("ai-edge-litert"),
            "note": "a shared machine: wall times are the best round, CPU times the median round",
        },
        "model": {"path": str(export.relative_to(REPO) if export.is_relative_to(REPO) else export)},
        "settings": {k: getattr(args, k) for k in ("batch", "threads", "rounds", "calls", "hop")},
        "thresholds": thresholds,
    }
    result["model"]["card_version"] = card["model_version"]
    print(
        f"tensorflow {tf.__version__}, ai-edge-litert {result['host']['ai_edge_litert']}, "
        f"load average {result['host']['load_average_at_start']}"
    )
    x, sources = real_windows(REPO / "realtime" / "data" / "chbmit", window, rate, args.hop)
    result["windows"] = {
        "source": "CHB-MIT excerpts (realtime/data/chbmit), µV, resampled to the model rate, every channel",
        "hop_samples": args.hop,
        "total": len(x),
        "files": sources,
    }
    calib, calib_info = calibration_windows(args.calibration_windows, window, rate)
    result["calibration"] = calib_info
    print(f"{len(x)} CHB-MIT windows; calibration: {calib_info['source']}, {len(calib)} windows")

    rows: dict[str, dict] = {}
    runners: dict[str, Runner] = {}
    with tempfile.TemporaryDirectory(prefix="litert-variants-") as tmp:
        for name in names:
            what, static, kind = VARIANTS[name]
            row: dict[str, Any] = {"what": what, "static_batch": args.batch if static else None}
            rows[name] = row
            if kind == "shipped":
                path = export / "model.tflite"
            else:
                t0 = time.perf_counter()
                try:
                    blob = convert(export / "saved_model", kind, args.batch if static else None, calib)
                except Exception as exc:  # a converter refusal is a result, not a crash
                    row["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1:]}"
                    print(f"{name}: conversion failed: {row['error']}", flush=True)
                    continue
                row["convert_s"] = time.perf_counter() - t0
                path = Path(tmp) / f"{name}.tflite"
                path.write_bytes(blob)
            run = Runner(path, args.batch, args.threads, window, positive)
            runners[name] = run
            row.update(
                size_bytes=path.stat().st_size,
                input_dtype=run.input_type,
                ops_total=sum(run.ops.values()),
                xnnpack_partitions=run.partitions,
                ops=run.ops,
            )
            print(
                f"{name}: {row['size_bytes'] / 1e6:.2f} MB, {row['ops_total']} ops, "
                f"{run.partitions} XNNPACK partition(s)",
                flush=True,
            )
        probs = {name: run.predict(x, args.batch) for name, run in runners.items()}
        for name in runners:
            rows[name]["comparison"] = compare(probs[name], probs[REFERENCE], thresholds)
        chunks = [c for c, n in batches(x, args.batch) if n == args.batch]
        for run in runners.values():
            run(chunks[0])  # warm
        print(f"timing: {args.rounds} rounds x {args.calls} calls of {args.batch} windows per variant")
        times = time_rounds(dict(runners), chunks, args.rounds, args.calls)
    for name, t in times.items():
        rows[name]["timing"] = t
        rows[name]["wall_ratio_to_float32"] = times[REFERENCE]["wall_ms"] / t["wall_ms"]
        rows[name]["cpu_ratio_to_float32"] = times[REFERENCE]["cpu_ms"] / t["cpu_ms"]
    result["variants"] = rows
    result["reference_p_seizure"] = {f"at_or_above_{t:g}": int(np.sum(probs[REFERENCE] >= t)) for t in thresholds} | {
        "mean": float(np.mean(probs[REFERENCE]))
    }
    table = format_table(rows, thresholds)
    result["table"] = table.splitlines()
    print()
    print(table)
    result["host"]["load_average_at_end"] = list(os.getloadavg())
    result["host"]["other_processes_cpu_share"] = others_cpu_share(busy0, total0, cpu0)
    print(
        f"load average: start {result['host']['load_average_at_start']}, end {result['host']['load_average_at_end']}; "
        f"other processes took {100 * (result['host']['other_processes_cpu_share'] or 0):.1f} % of the cores' time"
    )
    out = Path(args.out) if args.out else default_out()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
