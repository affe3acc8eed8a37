"""Inference benchmark (not a test): per-window predict against batched backends, FLOPs, memory, capacity.

    .venv/bin/python benchmarks/inference.py [--quick] [--model EXPORT] [--device cpu|gpu|auto] [--name NAME]
    .venv/bin/python benchmarks/inference.py --batch-sizes 1,8,16,23,24,32,64,128,256 [--litert-batch-sizes 1,23,64]
        [--shape-sets 32:pow2,32,64 --beds 1,2,3,5,10,20] [--rounds 2] [--name NAME]

One run, side by side, printed as a table and written to benchmarks/results/<name>.json:

1. the float32 multiply rate of this machine: numpy matmul of two 2048 x 2048 float32 matrices (all
   cores, OpenBLAS), as FLOP per wall second and per CPU second;
2. the model's cost, counted from its layers: the SavedModel traced at batch 1 and frozen, then every
   Conv2D (the Conv1D layers, the filter bank's 511-tap convolution included) and MatMul (Dense) op's
   multiply-adds from its shapes (1 multiply-add = 2 FLOP);
3. per backend: the naive way (one ``predict`` per window, 23 windows = one 23-channel bed's hop) and
   one batched call at several batch sizes; wall and CPU milliseconds per window; achieved FLOP/s as a
   fraction of the multiply rate, both per wall second (what a daemon sees) and per CPU second (what
   the code does with the CPU it gets: fairer on a shared machine);
4. resident memory per backend: a fresh process loads the model, scores 64 windows and reports its
   VmRSS and VmHWM;
5. capacity, ARITHMETIC (not measured): beds = hop_s / (23 x best batched wall seconds per window), the
   number of 23-channel beds one daemon could score per hop if the model were all it did; and, steadier
   on a shared machine, usable cores x hop_s / (23 x least median CPU seconds per window).

Backends: ``tensorflow`` (realtime.model's compiled concrete function), ``tensorflow-serve`` (the export's
``serve`` endpoint called as before, for comparison), ``tensorflow-xla`` (``jit_compile=True``, for the
record: not used by the daemon), ``litert-1`` (LiteRT on one thread: what the daemon ran before
``model.threads``) and ``litert`` (every core), and ``onnxruntime`` when both onnxruntime and tf2onnx
import (else the JSON says why it was skipped). The load average at start and end is recorded: on a
shared machine, ratios measured within one run are what count.

``--batch-sizes`` runs the batch-size sweep instead (what ``model.batch_windows`` and the daemon's shape
set are chosen from): the multiply rate at the start and at the end of the run (the better of the two is
the reference), and between them per window at each batch size b, TensorFlow (and LiteRT with
``--threads``, at ``--litert-batch-sizes``) through the daemon's own path: ``ExportedDetector.predict`` on
b windows with a shape set whose largest size is b, i.e. one runtime call of exactly b windows, input
checks included. ``--shape-sets 32:pow2,32,64`` adds, per shape set, TensorFlow per window on passes of k
23-channel beds' windows (``--beds``; what the daemon gives the model when k beds are due in one loop
turn), chunked and padded as the daemon does: the padding's cost included. ``--rounds`` repeats both,
alternating their order (best wall, median CPU over all rounds). It records the share of the machine's CPU that other
processes took during the run (from /proc/stat), beside the load average.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.procfs import machine_cpu_s  # noqa: E402
from realtime.config import MODEL_DEVICES  # noqa: E402
from realtime.model import (  # noqa: E402
    BATCH_WINDOWS,
    BFLOAT16_DIR,
    PRECISIONS,
    default_model_path,
    load_detector,
    resolve_threads,
)

N_CH = 23  # channels of one bed
HOP_S = 1.0


def _matmul_timed(run: Callable[[], object], n: int, seconds: float) -> dict:
    """``run`` (one ``[n, n] @ [n, n]``, 2 n^3 FLOP) timed for about ``seconds`` after one warm call: best GFLOP per
    wall second, median GFLOP per CPU second."""
    run()
    walls: list[float] = []
    cpus: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(walls) < 3:
        t, c = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    flop = 2.0 * n**3
    return {
        "n": n,
        "gflops_wall": flop / min(walls) / 1e9,
        "gflops_per_cpu_s": flop / float(np.median(cpus)) / 1e9,
        "runs": len(walls),
    }


def matmul_rate(n: int = 2048, seconds: float = 1.5) -> dict:
    """float32 ``[n, n] @ [n, n]`` in numpy (OpenBLAS, all cores): :func:`_matmul_timed`."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    return _matmul_timed(lambda: np.matmul(a, b, out=out), n, seconds)


def matmul_rate_bfloat16(n: int = 2048, seconds: float = 1.5) -> dict:
    """bfloat16 ``[n, n] @ [n, n]`` in TensorFlow on the CPU (oneDNN: AMX or AVX512-BF16 where the CPU has them), as
    :func:`matmul_rate`: the multiply rate of the arithmetic the ``tensorflow-bfloat16`` backend runs in."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    with tf.device("/CPU:0"):
        a, b = (tf.constant(rng.standard_normal((n, n), dtype=np.float32), dtype=tf.bfloat16) for _ in range(2))
        mm = tf.function(lambda a, b: tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], tf.float32)))
        return {**_matmul_timed(lambda: mm(a, b).numpy(), n, seconds), "dtype": "bfloat16"}


def count_macs(export: Path) -> dict:
    """Multiply-adds per window of the export's SavedModel, from the shapes of its Conv2D and MatMul ops and the
    nonzero weights of their kernels.

    Returns ``{"total", "filter_bank", "convolutions", "dense", "as_computed"}`` (multiply-adds; FLOP = 2 x these).
    The filter bank is the convolution whose kernel is longer than 100 taps (511 for the shipped model). A
    convolution counts the multiply-adds by its kernel's nonzero weights: the network's arithmetic, not the zeros a
    time-blocked convolution's block-Toeplitz kernel adds (``train.layers.inception_block.blocked_conv``), which
    ``as_computed`` counts as well (every weight)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    loaded = tf.saved_model.load(str(export / "saved_model"))
    card = json.loads((export / "model_card.json").read_text())
    spec = tf.TensorSpec([1, int(card["window_samples"])], tf.float32)
    frozen = convert_variables_to_constants_v2(tf.function(lambda x: loaded.serve(x)).get_concrete_function(spec))
    convs = [op for op in frozen.graph.get_operations() if op.type in ("Conv2D", "DepthwiseConv2dNative")]
    with tf.compat.v1.Session(graph=frozen.graph) as sess:  # the kernels do not depend on the window
        kernels = sess.run([op.inputs[1] for op in convs], {frozen.inputs[0].name: np.zeros(spec.shape, np.float32)})
    nonzero = {op.name: np.count_nonzero(k) / k.size for op, k in zip(convs, kernels, strict=True)}
    out = {"total": 0, "filter_bank": 0, "convolutions": 0, "dense": 0, "as_computed": 0}
    for op in frozen.graph.get_operations():
        if op.type in ("Conv2D", "DepthwiseConv2dNative"):
            kh, kw, cin, _ = op.inputs[1].shape.as_list()
            per_output = kh * kw * (cin if op.type == "Conv2D" else 1)
            dense_macs = int(np.prod(op.outputs[0].shape.as_list())) * per_output
            out["as_computed"] += dense_macs
            macs = round(dense_macs * nonzero[op.name])
            out["filter_bank" if max(kh, kw) > 100 else "convolutions"] += macs
        elif op.type in ("MatMul", "BatchMatMulV2"):
            macs = int(np.prod(op.outputs[0].shape.as_list())) * op.inputs[0].shape.as_list()[-1]
            out["dense"] += macs
            out["as_computed"] += macs
        else:
            continue
        out["total"] += macs
    return out


def _onnx_runner(export: Path, threads: int) -> tuple[Callable[[np.ndarray], np.ndarray] | None, str]:
    """ONNX Runtime on the SavedModel converted by tf2onnx (a temporary file), or ``(None, why not)``."""

    try:
        import onnxruntime as ort
    except ImportError as exc:
        return None, f"skipped: {exc}"
    if importlib.util.find_spec("tf2onnx") is None:  # an optional tool, run as a command below
        return None, "skipped: tf2onnx is not installed (pip install tf2onnx)"
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(export / "saved_model")),
                *("--output", str(onnx_path), "--opset", "17"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0 or not onnx_path.is_file():
            return None, f"skipped: tf2onnx failed ({proc.stderr.strip().splitlines()[-1:] or proc.returncode})"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(onnx_path.read_bytes(), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return (lambda x: sess.run(None, {name: x})[0]), f"onnxruntime {ort.__version__}, {threads} thread(s)"


def make_backends(export: Path, device: str, threads: int, batch_windows: int = BATCH_WINDOWS) -> tuple[dict, dict]:
    """``({name: predict([n, W] float32) -> array}, {name: note})``; the daemon's backends through
    ``ExportedDetector.predict`` with ``model.batch_windows`` = ``batch_windows`` (a batch above it runs as chunks)."""
    import tensorflow as tf

    fns: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    notes: dict[str, str] = {}
    det = load_detector(export, backend="tensorflow", device=device, threads=threads, batch_windows=batch_windows)
    fns["tensorflow"] = det.predict
    notes["tensorflow"] = f"realtime.model, concrete function, {det.device}, {det.threads} thread(s)"
    loaded = tf.saved_model.load(str(export / "saved_model"))
    tf_dev = "/GPU:0" if det.device == "GPU:0" else "/CPU:0"

    def serve(x: np.ndarray) -> np.ndarray:
        with tf.device(tf_dev):
            return np.asarray(loaded.serve(tf.constant(x)))

    fns["tensorflow-serve"] = serve
    notes["tensorflow-serve"] = "the export's serve endpoint called directly (the former path)"
    spec = tf.TensorSpec([None, det.window_samples], tf.float32)
    xla = tf.function(lambda x: loaded.serve(x), input_signature=[spec], jit_compile=True)

    def run_xla(x: np.ndarray) -> np.ndarray:
        with tf.device(tf_dev):
            return np.asarray(xla(tf.constant(x)))

    fns["tensorflow-xla"] = run_xla
    notes["tensorflow-xla"] = "tf.function(jit_compile=True) around serve; not used by the daemon"
    if (export / BFLOAT16_DIR).is_dir():
        bf = load_detector(
            export,
            backend="tensorflow",
            device=device,
            threads=threads,
            precision="bfloat16",
            batch_windows=batch_windows,
        )
        fns["tensorflow-bfloat16"] = bf.predict
        notes["tensorflow-bfloat16"] = (
            f"realtime.model, model.precision bfloat16 ({BFLOAT16_DIR}), {bf.device}, {bf.threads} thread(s); "
            "its % of the multiply rate is against the bfloat16 matmul (matmul_bfloat16)"
        )
    if (export / "model.tflite").is_file():
        for name, n in (("litert-1", 1), ("litert", threads)):
            d = load_detector(export, backend="litert", threads=n, batch_windows=batch_windows)
            fns[name] = d.predict
            notes[name] = f"realtime.model, LiteRT (XNNPACK), {d.threads} thread(s)"
        if importlib.util.find_spec("openvino") is not None:
            for precision in PRECISIONS:
                d = load_detector(
                    export, backend="openvino", threads=threads, precision=precision, batch_windows=batch_windows
                )
                name = "openvino" if precision == "float32" else f"openvino-{precision}"
                fns[name] = d.predict
                notes[name] = (
                    f"realtime.model, OpenVINO CPU plugin on model.tflite, {d.precision}, {d.threads} thread(s)"
                )
        else:
            notes["openvino"] = "not measured: openvino is not installed (pip install openvino)"
    onnx, why = _onnx_runner(export, resolve_threads(threads))
    if onnx is not None:
        fns["onnxruntime"] = onnx
    notes["onnxruntime"] = why
    return fns, notes


def time_per_window(fn: Callable, x: np.ndarray, seconds: float, batch: int) -> dict:
    """Milliseconds per window of ``fn`` over ``x`` in calls of ``batch`` windows: best wall over runs of
    about ``seconds / 3`` each (the least disturbed), median CPU."""
    calls = [x[i : i + batch] for i in range(0, len(x) - batch + 1, batch)]
    n_windows = batch * len(calls)
    for c in calls[:2]:
        fn(c)  # warm (allocation, tracing)
    walls: list[float] = []
    cpus: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(walls) < 3:
        t, c0 = time.perf_counter(), time.process_time()
        for c in calls:
            fn(c)
        walls.append((time.perf_counter() - t) / n_windows)
        cpus.append((time.process_time() - c0) / n_windows)
    return {"wall_ms": min(walls) * 1e3, "cpu_ms": float(np.median(cpus)) * 1e3, "runs": len(walls)}


def rss_child(export: str, backend: str, device: str, threads: int) -> None:
    """Runs in a fresh process: load, score 64 windows, print ``{"rss_mb", "hwm_mb"}`` as JSON. ``backend``: a
    backend, or ``tensorflow-bfloat16``."""
    backend, _, precision = backend.partition("-")
    det = load_detector(
        export or None, backend=backend, device=device, threads=threads, precision=precision or "float32"
    )
    det.predict(np.random.default_rng(0).normal(0, 50, (64, det.window_samples)).astype(np.float32))
    status = Path("/proc/self/status").read_text().splitlines()
    kb = {line.split(":")[0]: int(line.split()[1]) for line in status if line.startswith(("VmRSS", "VmHWM"))}
    print(json.dumps({"rss_mb": kb["VmRSS"] / 1024, "hwm_mb": kb["VmHWM"] / 1024}))


def measure_rss(export: Path, backend: str, device: str, threads: int) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            *(sys.executable, __file__, "--rss-child", backend, "--model", str(export)),
            *("--device", device, "--threads", str(threads)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]}
    return {**json.loads(lines[-1]), "load_and_score_s": time.perf_counter() - t0}


def windows(n: int, w: int) -> np.ndarray:
    """``[n, w]`` float32 µV of EEG-like noise (the cost does not depend on the values)."""
    return np.random.default_rng(1).normal(0.0, 50.0, (n, w)).astype(np.float32)


def _busy_total_s() -> tuple[float, float]:
    """``(busy, total)`` CPU seconds of the whole machine since boot (steal counts in total, not busy)."""
    m = machine_cpu_s()
    return m["busy"], m["total"]


def _own_cpu_s() -> float:
    """CPU seconds of this process and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def others_cpu_share(busy0: float, total0: float, cpu0: float) -> float | None:
    """The share of the cores' time that other processes took since ``_busy_total_s()`` gave
    ``(busy0, total0)`` and ``_own_cpu_s()`` gave ``cpu0`` (``None`` when no time passed)."""
    busy1, total1 = _busy_total_s()
    others_s = max(0.0, (busy1 - busy0) - (_own_cpu_s() - cpu0))
    return others_s / (total1 - total0) if total1 > total0 else None


def exact_batch(det, batch: int):
    """``det``'s runner as an ``ExportedDetector`` whose largest shape is ``batch``: its ``predict`` on
    ``batch`` windows makes one runtime call of exactly ``batch`` windows (the daemon's path, checks
    included)."""
    from realtime.model import ExportedDetector

    return ExportedDetector(det.path, det.card, det.backend, det.device, det._runner, det.threads, batch, det.precision)


def shape_set(det, spec: str):
    """``det``'s runner with the shape set ``spec``: ``B`` (``model.batch_windows = B``: the daemon's set,
    ``realtime.model.batch_sizes(B)``) or ``B:pow2`` (powers of two up to B, the set before 2026-12-01)."""
    from realtime.model import batch_sizes

    b = int(spec.split(":")[0])
    out = exact_batch(det, b)
    if spec.endswith(":pow2"):
        out.batch_sizes = batch_sizes(b, steps_per_octave=1)
    return out


def sweep(args, export: Path, result: dict, flop: float, mm: dict) -> None:
    """The batch-size sweep (``--batch-sizes``): fills ``result["sweep"]`` and prints a table."""
    sizes = {"tensorflow": [int(b) for b in args.batch_sizes.split(",")]}
    if args.litert_batch_sizes and (export / "model.tflite").is_file():
        sizes["litert"] = [int(b) for b in args.litert_batch_sizes.split(",")]
    dets = {"tensorflow": load_detector(export, backend="tensorflow", device=args.device, threads=args.threads)}
    if "litert" in sizes:
        dets["litert"] = load_detector(export, backend="litert", threads=args.threads)
    result["sweep_backends"] = {
        name: f"realtime.model ExportedDetector.predict, {d.backend} on {d.device}, {d.threads} thread(s)"
        for name, d in dets.items()
    }
    w = dets["tensorflow"].window_samples
    sets = [v for v in args.shape_sets.split(",") if v]
    beds = [int(k) for k in args.beds.split(",")] if sets else []
    runs_sets: dict[str, dict[int, list[dict]]] = {spec: {k: [] for k in beds} for spec in sets}
    x = windows(max([max(v) for v in sizes.values()] + [N_CH * k for k in beds]), w)
    runs: dict[str, dict[int, list[dict]]] = {name: {b: [] for b in bs} for name, bs in sizes.items()}
    seconds = 0.8 if args.quick else 2.0
    for rnd in range(args.rounds):
        for name, bs in sizes.items():
            for b in bs if rnd % 2 == 0 else bs[::-1]:
                runs[name][b].append(time_per_window(exact_batch(dets[name], b).predict, x[:b], seconds, b))
                print(f"  round {rnd + 1} {name} {b}: {runs[name][b][-1]['wall_ms']:.3f} ms wall/window", flush=True)
        for spec in sets if rnd % 2 == 0 else sets[::-1]:
            for k in beds:
                n = N_CH * k
                runs_sets[spec][k].append(
                    time_per_window(shape_set(dets["tensorflow"], spec).predict, x[:n], seconds, n)
                )
                print(
                    f"  round {rnd + 1} set {spec}, {k} bed(s): {runs_sets[spec][k][-1]['wall_ms']:.3f} ms", flush=True
                )
    mm_end = matmul_rate(seconds=seconds)
    result["matmul_at_end"] = mm_end
    # the reference: the better of the two multiply rates (a shared machine only ever slows a run down)
    mm = {k: max(mm[k], mm_end[k]) for k in ("gflops_wall", "gflops_per_cpu_s")}
    result["matmul_reference"] = mm
    print(
        f"float32 matmul at the end: {mm_end['gflops_wall']:.1f} GFLOP/s wall, {mm_end['gflops_per_cpu_s']:.1f} "
        f"per CPU s; the % below use the better of start and end: {mm['gflops_wall']:.1f} and "
        f"{mm['gflops_per_cpu_s']:.1f}"
    )
    header = (
        f"{'backend':<12}{'batch':>6}{'wall ms/win':>13}{'CPU ms/win':>12}{'wall % mm':>11}{'CPU % mm':>10}"
        f"{'x batch 1':>11}"
    )
    print(header)
    print("-" * len(header))
    result["sweep"] = {}
    for name, bs in sizes.items():
        rows = {}
        for b in bs:
            r = {
                "wall_ms": min(run["wall_ms"] for run in runs[name][b]),
                "cpu_ms": float(np.median([run["cpu_ms"] for run in runs[name][b]])),
                "wall_ms_rounds": [run["wall_ms"] for run in runs[name][b]],
                "cpu_ms_rounds": [run["cpu_ms"] for run in runs[name][b]],
            }
            r["fraction_of_matmul_wall"] = flop / (r["wall_ms"] / 1e3) / 1e9 / mm["gflops_wall"]
            r["fraction_of_matmul_cpu"] = flop / (r["cpu_ms"] / 1e3) / 1e9 / mm["gflops_per_cpu_s"]
            rows[str(b)] = r
        base = rows[str(bs[0])]["wall_ms"]
        for b in bs:
            r = rows[str(b)]
            print(
                f"{name:<12}{b:>6}{r['wall_ms']:>13.3f}{r['cpu_ms']:>12.3f}{100 * r['fraction_of_matmul_wall']:>10.1f}%"
                f"{100 * r['fraction_of_matmul_cpu']:>9.1f}%{base / r['wall_ms']:>10.2f}x"
            )
        result["sweep"][name] = rows
    if sets:
        print(f"\nTensorFlow per window, passes of k beds x {N_CH} windows, per shape set (wall ms, CPU ms)")
        print(f"{'shape set':<12}" + "".join(f"{f'{k} bed(s)':>16}" for k in beds))
        result["shape_sets"] = {}
        for spec in sets:
            det = shape_set(dets["tensorflow"], spec)
            rows = {}
            for k in beds:
                rs = runs_sets[spec][k]
                rows[str(k)] = {
                    "windows": N_CH * k,
                    "wall_ms": min(r["wall_ms"] for r in rs),
                    "cpu_ms": float(np.median([r["cpu_ms"] for r in rs])),
                    "wall_ms_rounds": [r["wall_ms"] for r in rs],
                    "cpu_ms_rounds": [r["cpu_ms"] for r in rs],
                }
            result["shape_sets"][spec] = {"shapes": list(det.batch_sizes), "beds": rows}
            print(f"{spec:<12}" + "".join(f"{r['wall_ms']:>9.3f}{r['cpu_ms']:>7.3f}" for r in rows.values()))


def host_info() -> dict:
    """This machine and the load at the start: the ``host`` of every result JSON here."""
    import tensorflow as tf

    return {
        "node": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus_usable": resolve_threads(0),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "load_average_at_start": list(os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="", help="export directory (default: the shipped model)")
    ap.add_argument("--device", default="cpu", choices=MODEL_DEVICES, help="TensorFlow device (cpu)")
    ap.add_argument("--threads", type=int, default=0, help="model.threads for the multi-thread backends")
    ap.add_argument("--quick", action="store_true", help="fewer batch sizes, shorter runs (~1 min)")
    ap.add_argument("--batches", default="", help="batch sizes, comma-separated (default 7,23,64,256)")
    ap.add_argument(
        "--batch-windows",
        type=int,
        default=BATCH_WINDOWS,
        help=f"model.batch_windows of the daemon's backends: larger batches run in chunks (default {BATCH_WINDOWS})",
    )
    ap.add_argument(
        "--batch-sizes",
        default="",
        help="the batch-size sweep instead of the backend comparison: TensorFlow at these sizes, comma-separated",
    )
    ap.add_argument("--litert-batch-sizes", default="", help="with --batch-sizes: LiteRT (--threads) at these sizes")
    ap.add_argument("--rounds", type=int, default=1, help="with --batch-sizes: sweeps, alternating order (default 1)")
    ap.add_argument(
        "--shape-sets",
        default="",
        help="with --batch-sizes: TensorFlow per window on passes of --beds x 23 windows through these shape sets, "
        "comma-separated: B (model.batch_windows = B) or B:pow2 (powers of two up to B, the former set)",
    )
    ap.add_argument("--beds", default="1,2,3,5,10,20", help="with --shape-sets: beds per pass (default 1,2,3,5,10,20)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="directory for the JSON")
    ap.add_argument("--name", default="", help="result file name (default: inference-<host>-<date>.json)")
    ap.add_argument("--rss-child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rss_child:
        rss_child(args.model, args.rss_child, args.device, args.threads)
        return 0
    export = Path(args.model) if args.model else default_model_path()
    batches = (
        [int(b) for b in args.batches.split(",")] if args.batches else ([23, 64] if args.quick else [7, 23, 64, 256])
    )
    seconds = 0.8 if args.quick else 2.0
    import tensorflow as tf

    busy0, total0, cpu0 = *_busy_total_s(), _own_cpu_s()
    result: dict = {
        "command": " ".join(["benchmarks/inference.py", *(argv if argv is not None else sys.argv[1:])]),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": {
            **host_info(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "note": "a shared machine: wall times are the best of several runs, CPU times the median; "
            "ratios within one run are what count",
        },
        "model": {
            "path": str(export),
            "card_version": json.loads((export / "model_card.json").read_text())["model_version"],
        },
    }
    mm = matmul_rate(seconds=seconds)
    macs = count_macs(export)
    flop = 2 * macs["total"]
    result["matmul"] = mm
    mm_bf16 = matmul_rate_bfloat16(seconds=seconds) if (export / BFLOAT16_DIR).is_dir() else None
    if mm_bf16 is not None:
        result["matmul_bfloat16"] = mm_bf16
    result["model"].update({"macs_per_window": macs, "mflop_per_window": flop / 1e6})
    print(
        f"float32 matmul {mm['n']}x{mm['n']}: {mm['gflops_wall']:.1f} GFLOP/s wall, "
        f"{mm['gflops_per_cpu_s']:.1f} per CPU s"
    )
    if mm_bf16 is not None:
        print(
            f"bfloat16 matmul (TensorFlow): {mm_bf16['gflops_wall']:.1f} GFLOP/s wall, "
            f"{mm_bf16['gflops_per_cpu_s']:.1f} per CPU s"
        )
    print(
        f"model: {flop / 1e6:.1f} MFLOP/window ({macs['total'] / 1e6:.2f} M multiply-adds: filter bank "
        f"{macs['filter_bank'] / 1e6:.2f} M, other convolutions {macs['convolutions'] / 1e6:.2f} M, "
        f"dense {macs['dense'] / 1e6:.2f} M; {macs['as_computed'] / 1e6:.2f} M as computed, the zeros of "
        "time-blocked kernels included)"
    )
    if args.batch_sizes:
        sweep(args, export, result, flop, mm)
        return _finish(args, result, busy0, total0, cpu0)
    fns, notes = make_backends(export, args.device, args.threads, args.batch_windows)
    result["batch_windows"] = args.batch_windows
    result["backends"] = {name: {"note": notes[name]} for name in notes}
    w = int(json.loads((export / "model_card.json").read_text())["window_samples"])
    x = windows(max([*batches, N_CH]), w)
    header = f"{'backend':<21}{'batch':>6}{'wall ms/win':>13}{'CPU ms/win':>12}{'wall % mm':>11}{'CPU % mm':>10}"
    print(header)
    print("-" * len(header))
    for name, fn in fns.items():
        rows = {}
        ref = mm_bf16 if name.endswith("bfloat16") and mm_bf16 is not None else mm  # the rate of its own arithmetic
        for label, batch, xs in [("per-window", 1, x[:N_CH])] + [(str(b), b, x[:b]) for b in batches]:
            r = time_per_window(fn, xs, seconds, batch)
            r["gflops_wall"] = flop / (r["wall_ms"] / 1e3) / 1e9
            r["fraction_of_matmul_wall"] = r["gflops_wall"] / ref["gflops_wall"]
            r["gflops_per_cpu_s"] = flop / (r["cpu_ms"] / 1e3) / 1e9
            r["fraction_of_matmul_cpu"] = r["gflops_per_cpu_s"] / ref["gflops_per_cpu_s"]
            if ref is not mm:
                r["fraction_of_float32_matmul_wall"] = r["gflops_wall"] / mm["gflops_wall"]
            rows[label] = r
            print(
                f"{name:<21}{label:>6}{r['wall_ms']:>13.3f}{r['cpu_ms']:>12.3f}"
                f"{100 * r['fraction_of_matmul_wall']:>10.1f}%{100 * r['fraction_of_matmul_cpu']:>9.1f}%",
                flush=True,
            )
        batched = [rows[str(b)] for b in batches]
        best = min(batched, key=lambda r: r["wall_ms"])
        best_cpu = min(batched, key=lambda r: r["cpu_ms"])
        result["backends"][name].update(
            {
                "per_window": rows["per-window"],
                "batched": {str(b): rows[str(b)] for b in batches},
                "batched_speedup_over_per_window": rows["per-window"]["wall_ms"] / best["wall_ms"],
                "capacity_beds_arithmetic": HOP_S / (N_CH * best["wall_ms"] / 1e3),
                "capacity_beds_arithmetic_cpu": resolve_threads(0) * HOP_S / (N_CH * best_cpu["cpu_ms"] / 1e3),
            }
        )
    if mm_bf16 is not None:
        print("% mm: of the float32 matmul above; a bfloat16 backend's of the bfloat16 matmul (its own arithmetic)")
    print("\nresident memory (fresh process: load, score 64 windows) and ARITHMETIC capacity")
    print(f"{'backend':<21}{'RSS MB':>8}{'peak MB':>9}{'beds (wall)*':>14}{'beds (CPU)*':>13}")
    for name in ("tensorflow", "tensorflow-bfloat16", "litert", "openvino", "openvino-bfloat16"):
        if name not in fns:
            continue
        rss = measure_rss(export, name, args.device, args.threads)
        result["backends"][name]["memory"] = rss
        cap = result["backends"][name]["capacity_beds_arithmetic"]
        cap_cpu = result["backends"][name]["capacity_beds_arithmetic_cpu"]
        if "error" in rss:
            print(f"{name:<21} memory: {rss['error']}")
        else:
            print(f"{name:<21}{rss['rss_mb']:>8.0f}{rss['hwm_mb']:>9.0f}{cap:>14.0f}{cap_cpu:>13.0f}")
    print(
        f"* arithmetic, not measured: {HOP_S:g} s hop / ({N_CH} channels x best batched wall time per window), "
        "and usable cores x hop / (23 x least median CPU time per window); the model's time only"
    )
    result["capacity_note"] = (
        "capacity_beds_arithmetic = hop_s / (23 x best batched wall seconds per window): arithmetic from the "
        "model's time alone, not a measurement of a daemon; capacity_beds_arithmetic_cpu = usable cores x hop_s / "
        "(23 x least median CPU seconds per window), steadier on a shared machine"
    )
    return _finish(args, result, busy0, total0, cpu0)


def _finish(args, result: dict, busy0: int, total0: int, cpu0: float, kind: str = "") -> int:
    """Load average and the other processes' CPU share at the end; write the JSON."""
    result["host"]["load_average_at_end"] = list(os.getloadavg())
    result["host"]["other_processes_cpu_share"] = others_cpu_share(busy0, total0, cpu0)
    print(
        f"load average: start {result['host']['load_average_at_start']}, end {result['host']['load_average_at_end']}; "
        f"other processes took {100 * (result['host']['other_processes_cpu_share'] or 0):.1f} % of the cores' time"
    )
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = kind or ("inference-batch-sizes" if args.batch_sizes else "inference")
    name = args.name or f"{kind}-{platform.node()}-{result['created'][:10]}.json"
    (out_dir / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
