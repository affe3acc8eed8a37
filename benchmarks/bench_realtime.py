"""Benchmarks of the real-time path (not a test): prints a table, writes benchmarks/results/<name>.json.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/bench_realtime.py [--quick] [--model EXPORT ...]

1. ring buffer: ``RingBuffer.latest`` (a view) vs a naive buffer that ``np.concatenate``s every chunk
   and copies the window out, per hop, for 23 channels x 30 s at 256 Hz; the naive buffer's time is
   compared with this machine's measured memory bandwidth (it moves ~2 x 1.4 MB per hop).
2. resampling one window (23 channels, 256 -> 250 Hz, 1024 output samples): the pipeline's sparse
   product (``Resampler.to_model_rate``: resample_poly's map restricted to the clean outputs) vs
   ``resample_poly`` on the whole input as one would call it (``Resampler.to_model_rate_filtered``, the
   same outputs) vs ``scipy.signal.resample`` (FFT), time and worst error against the true signal; the
   sparse product's bytes (input, matrix, output) at the cache-resident copy bandwidth are its floor.
3. predict: one batched call for 23 channels vs 23 single-channel calls, per backend and model.
4. pipeline: 23 channels at 256 Hz through ``Pipeline`` (offline mode, 1 s chunks): windows/s and
   real-time factor (seconds of signal per second of wall time), per backend and model.
5. amplitude monitor: ``AmplitudeMonitor.update`` per window (23 channels, a 300-window span) vs the
   naive way (a list of the last 300 std vectors, stacked and ``np.nanmedian``-ed every hop), beside the
   pipeline's per-window time.
6. background scaler: ``band_std_uv`` + ``BackgroundScaler.update`` per window (23 channels at 250 Hz,
   1024 samples, a 300-window span) vs the naive way (a 4th-order Butterworth band-pass by ``sosfiltfilt``,
   its std, and ``np.nanquantile`` of the stacked history), beside the one real FFT of the window, its floor.

Models: the toy export (tests/toy_export.py, built in a temporary directory), the shipped default
(realtime/models/default) when it exists, and any ``--model`` given.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from scipy.signal import resample, resample_poly  # noqa: E402

from realtime.config import DecisionConfig, WindowConfig  # noqa: E402
from realtime.model import default_model_path, load_detector  # noqa: E402
from realtime.pipeline import Pipeline  # noqa: E402
from realtime.preprocess import Resampler  # noqa: E402
from realtime.ring_buffer import RingBuffer  # noqa: E402

N_CH, FS, W = 23, 256.0, 1024


def best_of(fn, repeat: int, number: int) -> float:
    """Best mean seconds per call over ``repeat`` runs of ``number`` calls (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def copy_bandwidth_gbs(n_bytes: int, number: int) -> float:
    """Copy bandwidth (read + write bytes / s) of an ``n_bytes`` np.copyto, best of a few runs.

    256 MiB measures main memory; a buffer-sized copy (~1.4 MB) stays in the CPU caches, which is
    the real floor for the naive buffer's per-hop copies."""
    n = n_bytes // 8
    a, b = np.ones(n), np.empty(n)
    t = best_of(lambda: np.copyto(b, a), 5, number)
    return 2 * a.nbytes / t / 1e9


class NaiveBuffer:
    """The obvious alternative: concatenate each chunk, keep the newest capacity, copy the window out."""

    def __init__(self, n_channels: int, capacity: int):
        self.data = np.zeros((n_channels, 0))
        self.capacity = capacity

    def append(self, chunk: np.ndarray) -> None:
        self.data = np.concatenate([self.data, chunk.T], axis=1)[:, -self.capacity :]

    def latest(self, n: int) -> np.ndarray:
        return self.data[:, -n:].copy()


def bench_ring_buffer(quick: bool) -> dict:
    cap, hop, win = int(30 * FS), int(FS), 1070
    chunk = np.random.default_rng(0).normal(size=(hop, N_CH))
    ts = np.arange(hop, dtype=float)
    rb, nb = RingBuffer(N_CH, cap), NaiveBuffer(N_CH, cap)
    for _ in range(40):
        rb.append(chunk, ts)
        nb.append(chunk)
    n = 200 if quick else 1000
    t_latest = best_of(lambda: rb.latest(win), 5, n)
    t_naive_latest = best_of(lambda: nb.latest(win), 5, n)
    t_append = best_of(lambda: rb.append(chunk, ts), 5, n // 4)
    t_naive_append = best_of(lambda: nb.append(chunk), 5, n // 4)
    bw_dram = copy_bandwidth_gbs((64 if quick else 256) * 2**20, 2)
    bw_cache = copy_bandwidth_gbs(N_CH * cap * 8, 50 if quick else 200)
    naive_bytes = 2 * N_CH * cap * 8 + 2 * N_CH * win * 8  # concatenate copies the buffer; latest copies a window
    return {
        "channels": N_CH,
        "capacity_samples": cap,
        "hop_samples": hop,
        "window_samples": win,
        "ring_latest_us": t_latest * 1e6,
        "naive_latest_copy_us": t_naive_latest * 1e6,
        "ring_append_us": t_append * 1e6,
        "naive_append_concatenate_us": t_naive_append * 1e6,
        "ring_per_hop_us": (t_append + t_latest) * 1e6,
        "naive_per_hop_us": (t_naive_append + t_naive_latest) * 1e6,
        "memory_bandwidth_GBps": bw_dram,
        "cache_copy_bandwidth_GBps": bw_cache,
        "naive_bytes_moved_per_hop": naive_bytes,
        "naive_floor_dram_us": naive_bytes / (bw_dram * 1e9) * 1e6,
        "naive_floor_cache_us": naive_bytes / (bw_cache * 1e9) * 1e6,
    }


def bench_resample(quick: bool, cache_bandwidth_gbs: float) -> dict:
    rs = Resampler(FS, 250.0)
    n = rs.native_samples_needed(W)
    t = np.arange(n) / FS
    rng = np.random.default_rng(1)
    freqs = rng.uniform(1, 40, size=(N_CH, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(N_CH, 1))
    x = 50 * np.sin(2 * np.pi * freqs * t + phases)
    first, last = rs.window_positions(W)
    tt = (first + np.arange(W) * (last - first) / (W - 1)) / FS  # times of the window's samples
    truth = 50 * np.sin(2 * np.pi * freqs * tt + phases)
    y_poly = rs.to_model_rate(x, W)
    same = bool(np.array_equal(y_poly, rs.to_model_rate_filtered(x, W)))
    from realtime.preprocess import _clean_outputs_matrix

    matrix = _clean_outputs_matrix(FS, 250.0, W, rs.half_periods)
    sparse_bytes = x.nbytes + y_poly.nbytes + matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes
    # FFT resampling of the same native span the window covers, to W samples
    span = x[:, int(round(first)) : int(round(last)) + 1]
    y_fft = resample(span, W, axis=1)
    number = 50 if quick else 200
    t_poly = best_of(lambda: rs.to_model_rate(x, W), 5, number)
    t_filtered = best_of(lambda: rs.to_model_rate_filtered(x, W), 5, number)
    t_poly_raw = best_of(lambda: resample_poly(x, rs.up, rs.down, axis=1), 5, number)
    t_fft = best_of(lambda: resample(span, W, axis=1), 5, number)
    edge = slice(W - 20, W)  # the newest 20 samples: what a live detector scores first
    return {
        "channels": N_CH,
        "native_rate_hz": FS,
        "up": rs.up,
        "down": rs.down,
        "native_samples": n,
        "resample_poly_ms": t_poly * 1e3,  # the pipeline's: the sparse product (the key kept for older JSON)
        "resample_poly_filtered_ms": t_filtered * 1e3,
        "sparse_equals_filtered": same,
        "sparse_matrix_nnz": int(matrix.nnz),
        "sparse_bytes": int(sparse_bytes),
        "sparse_floor_cache_us": sparse_bytes / (cache_bandwidth_gbs * 1e9) * 1e6,
        "resample_poly_raw_ms": t_poly_raw * 1e3,
        "fft_resample_ms": t_fft * 1e3,
        "poly_max_error_uV": float(np.abs(y_poly - truth).max()),
        "poly_newest20_max_error_uV": float(np.abs(y_poly[:, edge] - truth[:, edge]).max()),
        "fft_max_error_uV": float(np.abs(y_fft - truth).max()),
        "fft_newest20_max_error_uV": float(np.abs(y_fft[:, edge] - truth[:, edge]).max()),
        "amplitude_uV": 50.0,
    }


def bench_predict(det, quick: bool) -> dict:
    x = np.random.default_rng(2).normal(size=(N_CH, det.window_samples)) * 50
    det.warmup((1, N_CH))
    number = 5 if quick else 20
    t_batch = best_of(lambda: det.predict(x), 3, number)
    t_single = best_of(lambda: [det.predict(x[i : i + 1]) for i in range(N_CH)], 3, max(1, number // 4))
    return {"batched_23_ms": t_batch * 1e3, "per_channel_23_calls_ms": t_single * 1e3, "speedup": t_single / t_batch}


def bench_amplitude(quick: bool) -> dict:
    from collections import deque

    from realtime.amplitude import AmplitudeMonitor

    span, rng = 300, np.random.default_rng(0)
    stds = rng.uniform(10, 80, (span, N_CH))
    mon = AmplitudeMonitor(N_CH, low_uv=8.7, high_uv=465.0, span_windows=span, min_windows=60)
    naive: deque = deque(maxlen=span)
    for s in stds:  # full span: the steady state
        mon.update(s)
        naive.append(s)

    def naive_update():
        naive.append(stds[0])
        return np.nanmedian(np.array(naive), axis=0)

    number = 200 if quick else 1000
    return {
        "channels": N_CH,
        "span_windows": span,
        "monitor_us": best_of(lambda: mon.update(stds[0]), 3, number) * 1e6,
        "naive_us": best_of(naive_update, 3, number) * 1e6,
    }


def bench_scaling(quick: bool) -> dict:
    from collections import deque

    import scipy.signal

    from realtime.scaling import BackgroundScaler, band_std_uv

    span, rate, rng = 300, 250.0, np.random.default_rng(0)
    x = rng.normal(0, 40, (N_CH, 1024)).astype(np.float32)
    levels = rng.uniform(10, 80, (span, N_CH))
    scaler = BackgroundScaler(N_CH, limit_uv=100.0, quantile=0.25, span_windows=span, min_windows=60)
    naive: deque = deque(maxlen=span)
    for v in levels:  # full span: the steady state
        scaler.update(v)
        naive.append(v)
    sos = scipy.signal.butter(4, [1.5, 40.0], "bandpass", fs=rate, output="sos")

    def ours():
        scaler.update(band_std_uv(x, rate))

    def naive_update():
        naive.append(scipy.signal.sosfiltfilt(sos, x, axis=1).std(axis=1))
        return np.nanquantile(np.array(naive), 0.25, axis=0)

    number = 200 if quick else 1000
    return {
        "channels": N_CH,
        "span_windows": span,
        "scaler_us": best_of(ours, 3, number) * 1e6,
        "naive_us": best_of(naive_update, 3, number) * 1e6,
        "rfft_floor_us": best_of(lambda: np.fft.rfft(x, axis=1), 3, number) * 1e6,
    }


def bench_pipeline(det, quick: bool) -> dict:
    seconds = 60 if quick else 300
    rng = np.random.default_rng(3)
    data = rng.normal(size=(int(seconds * FS), N_CH)) * 40
    times = np.arange(data.shape[0]) / FS
    names = [f"ch{i}" for i in range(N_CH)]
    pipe = Pipeline(
        det,
        sfreq=FS,
        ch_names=names,
        units=None,
        window=WindowConfig(hop_s=1.0, buffer_s=30.0),
        decision=DecisionConfig(),
    )
    det.warmup((N_CH,))
    hop = int(FS)
    step_times = []
    t0 = time.perf_counter()
    for i in range(0, data.shape[0], hop):
        pipe.push(data[i : i + hop], times[i : i + hop])
        s0 = time.perf_counter()
        pipe.step()
        step_times.append(time.perf_counter() - s0)
    wall = time.perf_counter() - t0
    st = np.array(step_times[5:])  # the first hops hold no full window yet
    return {
        "signal_s": seconds,
        "windows": pipe.windows_total,
        "wall_s": wall,
        "windows_per_s": pipe.windows_total / wall,
        "real_time_factor": seconds / wall,
        "step_median_ms": float(np.median(st) * 1e3),
        "step_p99_ms": float(np.percentile(st, 99) * 1e3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    ap.add_argument("--model", action="append", default=[], help="another export directory to benchmark")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="directory for the JSON")
    ap.add_argument("--name", default="", help="result file name (default: realtime-<host>-<date>.json)")
    args = ap.parse_args(argv)

    models: list[tuple[str, Path]] = []
    tmp = tempfile.TemporaryDirectory()
    sys.path.insert(0, str(REPO / "tests"))
    from toy_export import make_toy_export  # a test helper: the hand-set amplitude model

    models.append(("toy", make_toy_export(Path(tmp.name) / "toy")))
    if (default_model_path() / "model_card.json").is_file():
        models.append(("default", default_model_path()))
    models += [(Path(m).name, Path(m)) for m in args.model]

    import tensorflow as tf

    result = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "tensorflow": tf.__version__,
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "load_average_at_start": list(os.getloadavg()),
            "note": "shared machine; timings are the best of several runs",
        },
        "quick": args.quick,
    }
    print("ring buffer ...", flush=True)
    result["ring_buffer"] = rb = bench_ring_buffer(args.quick)
    print("resampling ...", flush=True)
    result["resample"] = rs = bench_resample(args.quick, rb["cache_copy_bandwidth_GBps"])
    print("amplitude monitor ...", flush=True)
    result["amplitude_monitor"] = am = bench_amplitude(args.quick)
    print("background scaler ...", flush=True)
    result["background_scaler"] = bs = bench_scaling(args.quick)
    result["models"] = []
    for label, path in models:
        for backend in ("tensorflow", "litert"):
            if backend == "litert" and not (path / "model.tflite").is_file():
                continue
            print(f"model {label} / {backend} ...", flush=True)
            det = load_detector(path, backend=backend)
            entry = {
                "model": label,
                "model_version": det.model_version,
                "architecture": det.architecture,
                "backend": backend,
                "device": det.device,
                "predict": bench_predict(det, args.quick),
                "pipeline": bench_pipeline(det, args.quick),
            }
            result["models"].append(entry)

    print()
    print(
        f"ring buffer, {N_CH} ch x {rb['capacity_samples']} samples, per hop ({rb['hop_samples']} samples in, "
        f"{rb['window_samples']}-sample window out):"
    )
    print(f"  RingBuffer   append {rb['ring_append_us']:8.1f} us   latest (view) {rb['ring_latest_us']:8.2f} us")
    print(
        f"  naive        append {rb['naive_append_concatenate_us']:8.1f} us   latest (copy) "
        f"{rb['naive_latest_copy_us']:8.2f} us"
    )
    print(
        f"  naive moves {rb['naive_bytes_moved_per_hop'] / 1e6:.2f} MB/hop (read + write): >= "
        f"{rb['naive_floor_cache_us']:.1f} us at the cache-resident copy bandwidth "
        f"({rb['cache_copy_bandwidth_GBps']:.1f} GB/s), {rb['naive_floor_dram_us']:.1f} us at main-memory "
        f"bandwidth ({rb['memory_bandwidth_GBps']:.1f} GB/s)"
    )
    print(f"resampling one window, {N_CH} ch, {FS:g} -> 250 Hz (up {rs['up']}, down {rs['down']}):")
    print(
        f"  sparse product (pipeline) {rs['resample_poly_ms']:7.3f} ms   max error {rs['poly_max_error_uV']:.3f} uV "
        f"(newest 20 samples {rs['poly_newest20_max_error_uV']:.3f} uV) of {rs['amplitude_uV']:g} uV; "
        f"floor {rs['sparse_floor_cache_us']:.1f} us ({rs['sparse_bytes'] / 1e3:.0f} kB at cache bandwidth)"
    )
    print(
        f"  resample_poly, whole input {rs['resample_poly_filtered_ms']:6.3f} ms   "
        f"{'the same outputs' if rs['sparse_equals_filtered'] else 'OUTPUTS DIFFER'}"
    )
    print(
        f"  scipy.signal.resample     {rs['fft_resample_ms']:7.3f} ms   max error {rs['fft_max_error_uV']:.3f} uV "
        f"(newest 20 samples {rs['fft_newest20_max_error_uV']:.3f} uV)"
    )
    print(f"amplitude monitor, {am['channels']} ch, median over {am['span_windows']} windows, per window:")
    print(
        f"  AmplitudeMonitor.update  {am['monitor_us']:7.1f} us   naive (stack a list + nanmedian) "
        f"{am['naive_us']:7.1f} us"
    )
    print(f"background scaler, {bs['channels']} ch, lower quartile over {bs['span_windows']} windows, per window:")
    print(
        f"  band_std_uv + update     {bs['scaler_us']:7.1f} us   naive (sosfiltfilt + std + nanquantile) "
        f"{bs['naive_us']:7.1f} us   floor (one rfft) {bs['rfft_floor_us']:6.1f} us"
    )
    print()
    print(
        f"{'model':16} {'backend':10} {'device':6} {'batch 23 ms':>11} {'23 x 1 ms':>10} {'speedup':>7} "
        f"{'windows/s':>10} {'x realtime':>10} {'step p50 ms':>11} {'p99 ms':>8}"
    )
    for e in result["models"]:
        p, q = e["predict"], e["pipeline"]
        print(
            f"{e['model']:16} {e['backend']:10} {e['device']:6} {p['batched_23_ms']:11.2f} "
            f"{p['per_channel_23_calls_ms']:10.2f} {p['speedup']:7.1f} {q['windows_per_s']:10.1f} "
            f"{q['real_time_factor']:10.1f} {q['step_median_ms']:11.2f} {q['step_p99_ms']:8.2f}"
        )

    result["host"]["load_average_at_end"] = list(os.getloadavg())
    print(
        f"load average (1, 5, 15 min) at start {result['host']['load_average_at_start']}, "
        f"at end {result['host']['load_average_at_end']} on {os.cpu_count()} CPUs"
    )
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = args.name or f"realtime-{platform.node()}-{result['created'][:10]}.json"
    (out_dir / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out_dir / name}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
