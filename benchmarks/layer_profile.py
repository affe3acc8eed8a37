"""Where the model's time goes (not a test): per part of the network, on TensorFlow CPU (oneDNN as set).

    .venv/bin/python benchmarks/layer_profile.py [--batches 24,256] [--seconds 0.6] [--rounds 3] [--quick]
        [--fft-sizes 2304,4096] [--poly-fft-sizes 1152] [--model EXPORT] [--name NAME] [--no-ops]

One run (about 3 min on the idle 2-core VM), printed as tables and written to
benchmarks/results/<name>.json (default ``layer-profile-<host>-<date>.json``):

1. the float32 multiply rate (``benchmarks/inference.py``'s ``matmul_rate``) at the start and at the end;
   the better of the two is the reference for every "% of matmul" below;
2. the inference model rebuilt in Keras from the export's card (``train.models.build`` on its
   ``hyperparameters``) with the export's own weights (``experiments.reexport``: every variable the
   SavedModel's ``serving_default`` captures, matched by name), checked against the export's
   probabilities; its multiply-adds counted per part from the Keras layers' shapes and checked against
   ``benchmarks/inference.py``'s ``count_macs`` of the export (filter bank, convolutions, dense);
3. per batch size (default 24: a 23-channel bed's pass, and 256), milliseconds per window, in ``--rounds``
   rounds of alternating order (``benchmarks/inference.py``'s ``time_per_window`` per measurement and round:
   one call of exactly b windows per run, best wall and median CPU of the round's runs; reported: the
   median over the rounds, and the best wall), of:
   - the export itself through the daemon's path (``ExportedDetector.predict`` on exactly b windows) and
     an empty ``tf.function`` (the cost of a call with nothing in it);
   - **prefixes** (cumulative): sub-models of the rebuilt model cut after the front end (scaling ->
     up-sampling), after the filter bank, after 1, 2, 3 and 4 inception blocks (their outputs returned
     side by side) and the whole model; a part's time is the median over the rounds of the difference
     between consecutive prefixes timed one after the other in that round (the front end's includes the
     call's fixed cost). The blocks are independent, so TensorFlow runs their ops concurrently on its
     inter-op threads: a block added to a prefix costs less than the same block alone;
   - **parts alone**: the filter bank, each block and the head (flatten -> concatenate -> dense x 3)
     each as its own ``tf.function`` on its own input (the previous part's output, precomputed);
   - **the filter bank's alternatives** (measurement only: the model and the export are unchanged): the
     same 511-tap filtering by FFT (``tf.signal.rfft`` -> multiply -> ``irfft``, FFT sizes
     ``--fft-sizes``; 2303 is the shortest without wrap-around in the kept outputs), and polyphase (the bank
     follows a 2x zero-order-hold up-sampling, so each output phase is a 257-tap filter of the 1024-sample
     input: half the multiply-adds), directly and by FFT, against the model's up-sampling + bank; each
     checked against a float64 reference (scipy) and the model's float32 bank;
   - the whole model with its filter bank replaced by the FFT version, composed in memory from the
     model's layers (and, beside it, the same composition with the model's own bank), its probabilities
     checked against the model's;
4. with ``--ops`` (default on): op-level times of the export's path under TensorFlow's profiler
   (``tf.profiler.experimental``; the op events of its trace), summed per part, per block module and layer,
   and per op type. Ops run concurrently on the inter-op threads, so these are shares of summed op
   time, not of wall time;
5. what reaching 60 % of the multiply rate would need: the time per window at 60 %, and the speed-up the
   blocks would need with the rest unchanged; and the FFT bank's effect on the whole model, computed
   (whole model - bank + FFT bank, both banks timed alone) and measured (the composition above).

The load average at start and end and the share of the cores other processes took are recorded
(``benchmarks/inference.py``'s ``_finish``). On a shared machine pause other work for the run.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.inference import (  # noqa: E402
    _busy_total_s,
    _finish,
    _own_cpu_s,
    count_macs,
    exact_batch,
    host_info,
    matmul_rate,
    time_per_window,
    windows,
)
from realtime.model import default_model_path, load_detector, read_card  # noqa: E402

BLOCKS = ("block_global_max", "block_global_avg", "block_local_max", "block_local_avg")
HEAD_LAYERS = ("concat_blocks", "dense_0", "dense_1", "probabilities")
TARGET = 0.60  # issue 13: batched CPU inference at >= 60 % of the multiply rate
MODEL_BANK = "the model's bank (inference: polyphase when up-sampled)"
TRAINING_BANK = "up-sampling + direct (the training form)"
REL_TOL = 1e-5  # "the same output within float32 rounding": max |difference| <= REL_TOL x max |output|


# --------------------------------------------------------------------------------------------- the model
def rebuild(export: Path):
    """The export's inference model rebuilt in Keras with the export's weights: ``(model, card)``."""
    from train.hparams import from_dict
    from train.models import build
    from train.weights import copy_weights, saved_weights

    card = read_card(export)
    hp = from_dict(card["hyperparameters"])
    _, model = build(hp)
    copy_weights(model, saved_weights(export / "saved_model"))
    return model, card


def part_macs(model, window_samples: int) -> dict:
    """Multiply-adds per window of each part, from the Keras layers' kernel shapes and output lengths:
    ``{"filter_bank", block name: {"total", "m0", "m1", ...}, "head"}``."""
    fb = model.get_layer("filter_bank")
    k_taps, _, n_bands = (int(d) for d in fb.kernel.shape)
    factor = fb.upsample_factor
    t_bank = window_samples * factor
    # the bank's inference form: polyphase, window_samples outputs of factor * n_bands channels
    poly_taps = 2 * (-(-(k_taps - 1) // 2 // factor)) + 1 if factor > 1 else k_taps
    out: dict = {"filter_bank": window_samples * poly_taps * factor * n_bands}
    for name in BLOCKS:
        block = model.get_layer(name)
        t, mods = t_bank, {}
        for m, mod in enumerate(block._mods):
            convs = [*mod["branches"], mod["pool_branch"][1]]
            mods[f"m{m}"] = sum(t * int(np.prod(c.kernel.shape)) for c in convs)  # 'same', stride 1: t outputs
            t //= block.pool_size
        out[name] = {"total": sum(mods.values()), **mods}
    out["head"] = sum(int(np.prod(model.get_layer(n).kernel.shape)) for n in HEAD_LAYERS[1:])
    return out


def concrete(fn: Callable, shape: tuple) -> Callable[[np.ndarray], object]:
    """``fn`` traced once for ``[None, *shape]`` float32 input, called on numpy arrays (``tf.constant`` each call)."""
    import tensorflow as tf

    cf = tf.function(fn, autograph=False).get_concrete_function(tf.TensorSpec([None, *shape], tf.float32))

    def call(x: np.ndarray):
        return cf(tf.constant(x))

    return call


# ------------------------------------------------------------------------------ the filter bank, by FFT
def fft_correlate(x, kernel: np.ndarray, fft_len: int):
    """``'same'`` cross-correlation (Conv1D's) of ``x`` [B, N] with every column of ``kernel`` [K, C] (K odd) by
    ``tf.signal.rfft``: returns [B, N, C]. Valid when ``fft_len >= N + (K - 1) // 2`` (the circular
    wrap then lands only on outputs that are cut away)."""
    import tensorflow as tf

    k, _ = kernel.shape
    n = int(x.shape[-1])
    if fft_len < n + (k - 1) // 2:
        raise ValueError(f"FFT size {fft_len} too short for {n} samples and {k} taps")
    g = np.zeros((fft_len, kernel.shape[1]), dtype=np.float64)
    g[:k] = kernel[::-1]  # correlation with h = convolution with h reversed
    spec = tf.constant(np.fft.rfft(g, axis=0).T.astype(np.complex64))  # [C, F]
    xs = tf.signal.rfft(x, fft_length=[fft_len])  # [B, F]
    y = tf.signal.irfft(xs[:, None, :] * spec[None], fft_length=[fft_len])  # [B, C, fft_len]
    c = (k - 1) // 2
    return tf.transpose(y[:, :, c : c + n], (0, 2, 1))


def reference_bank(u: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """float64 'same' cross-correlation of ``u`` [B, N] with ``kernel`` [K, C]: [B, N, C] (scipy, FFT in float64)."""
    from scipy.signal import fftconvolve

    k = kernel.shape[0]
    c = (k - 1) // 2
    full = fftconvolve(u.astype(np.float64)[:, :, None], kernel[::-1][None].astype(np.float64), axes=1)
    return full[:, c : c + u.shape[1], :]


def max_rel(a, b, scale: float) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))) / scale)


# ------------------------------------------------------------------------------------------- op profile
_PART_RE = re.compile(
    r"(input_scaling|to_channels|upsample|filter_bank|"
    + "|".join(BLOCKS)
    + r"|flatten_\w+?|"
    + "|".join(HEAD_LAYERS)
    + r")(?:_\d+)?(?:/|$)"
)
_MOD_RE = re.compile(r"/(m\d+)_(1x1|k\d+|pool3|pool_1x1|concat|bn|act|down)")


def part_of(node: str) -> tuple[str, str, str]:
    """``(part, module, layer)`` of a graph node, from its name."""
    m = _PART_RE.search(node)
    if not m:
        return "other", "", ""
    name = m.group(1)
    if name in ("input_scaling", "to_channels", "upsample"):
        part = "front_end"
    elif name.startswith("flatten_") or name in HEAD_LAYERS:
        part = "head"
    else:
        part = name
    mm = _MOD_RE.search(node)
    return part, (mm.group(1) if mm and part in BLOCKS else ""), (mm.group(2) if mm and part in BLOCKS else name)


def op_profile(fn: Callable, x: np.ndarray, calls: int) -> dict:
    """Op times of ``calls`` calls of ``fn(x)`` under TensorFlow's profiler (``tf.profiler.experimental``), read
    from its trace (the host plane's op events ``node:OpType``), summed per part / module / op type."""
    import tempfile

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    batch = len(x)
    for _ in range(2):
        fn(x)
    with tempfile.TemporaryDirectory() as tmp:
        tf.profiler.experimental.start(tmp)
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(x)
        wall = time.perf_counter() - t0
        tf.profiler.experimental.stop()
        files = sorted(Path(tmp).rglob("*.xplane.pb"))
        space = xplane_pb2.XSpace()
        space.ParseFromString(files[-1].read_bytes())
    by_part: dict = defaultdict(float)
    by_type: dict = defaultdict(float)
    by_part_type: dict = defaultdict(float)
    by_module: dict = defaultdict(float)
    by_layer: dict = defaultdict(float)
    threads = set()
    for plane in space.planes:
        if not plane.name.startswith("/host:"):
            continue
        for line in plane.lines:
            for ev in line.events:
                md = plane.event_metadata[ev.metadata_id]
                node, sep, op = md.name.rpartition(":")
                op = op.strip()
                if not sep or "::" in md.name or not op or op in ("NoOp", "_Arg", "_Retval", "Const"):
                    continue  # not an op event (executor, thread pool, ParallelFor inside an op ...)
                if op.startswith("__inference") or "PartitionedCall" in op:
                    continue  # the call of the whole function: its ops are counted one by one
                us = ev.duration_ps / 1e6
                part, module, layer = part_of(node)
                threads.add(line.name)
                by_part[part] += us
                by_type[op] += us
                by_part_type[f"{part}|{op}"] += us
                if module:
                    by_module[f"{part}|{module}"] += us
                    by_layer[f"{module}_{layer}"] += us
    total = sum(by_part.values())
    per_win = 1e-3 / (calls * batch)  # microseconds summed over the calls -> ms per window

    def table(d: dict) -> dict:
        return {
            k: {"ms_per_window": v * per_win, "share": v / total} for k, v in sorted(d.items(), key=lambda kv: -kv[1])
        }

    mult = sum(v for k, v in by_type.items() if "Conv2D" in k or "MatMul" in k)
    return {
        "batch": batch,
        "calls": calls,
        "profiled_wall_ms_per_window": wall / (calls * batch) * 1e3,
        "summed_op_ms_per_window": total * per_win,
        "threads_running_ops": sorted(threads),
        "share_in_convolution_and_matmul_ops": mult / total if total else None,
        "by_part": table(by_part),
        "by_op_type": table(by_type),
        "by_part_and_op_type": table(by_part_type),
        "by_block_module": table(by_module),
        "by_module_layer_all_blocks": table(by_layer),
    }


# ------------------------------------------------------------------------------------------ the parts
def make_parts(model, w: int, fft_sizes: list[int], poly_sizes: list[int], fft_model: int) -> dict:
    """Every function timed, each traced once for its input shape, and the inputs they take."""
    import keras
    import tensorflow as tf

    from train.layers.filter_bank import polyphase_kernel

    fb, to_channels = model.get_layer("filter_bank"), model.get_layer("to_channels")
    factor = fb.upsample_factor
    t_bank = w * factor
    kernel = np.asarray(fb.kernel.numpy()[:, 0, :], dtype=np.float64)  # [511, 5], the values the model holds
    kpoly = np.asarray(polyphase_kernel(kernel[:, None, :], factor))[:, 0, :]  # [J, factor * 5], phase-major
    n_bands = kernel.shape[1]
    inp = model.input

    def sub(outputs):
        m = keras.Model(inp, outputs)
        return concrete(lambda x: m(x, training=False), (w,))

    prefixes = {
        "front_end": sub(to_channels.output),
        "filter_bank": sub(fb.output),
        **{f"+{i + 1} block(s)": sub([model.get_layer(b).output for b in BLOCKS[: i + 1]]) for i in range(4)},
        "whole model": sub(model.output),
    }
    blocks = [model.get_layer(b) for b in BLOCKS]
    flats = [model.get_layer(f"flatten_{b.removeprefix('block_')}") for b in BLOCKS]
    concat, d0, d1, probs = (model.get_layer(n) for n in HEAD_LAYERS)
    front = keras.Model(inp, to_channels.output)  # x1: [B, w, 1], before the up-sampling

    def head_fn(z):  # z: [B, 4, T, C], the four blocks' outputs stacked
        return probs(d1(d0(concat([f(z[:, i]) for i, f in enumerate(flats)]))))

    def fft_bank(size: int):  # on the up-sampled u
        return lambda u: fft_correlate(u[:, :, 0], kernel, size)

    def up_then(bank):  # x1 -> the zero-order hold -> bank
        return lambda x1: bank(tf.repeat(x1, factor, axis=1))

    def poly_direct(x1):  # [B, N, 1] before up-sampling -> [B, factor N, C]
        y = tf.nn.conv1d(x1, tf.constant(kpoly[:, None, :].astype(np.float32)), stride=1, padding="SAME")
        return tf.reshape(y, (-1, t_bank, n_bands))

    def poly_fft(size: int):
        return lambda x1: tf.reshape(fft_correlate(x1[:, :, 0], kpoly, size), (-1, t_bank, n_bands))

    def whole_with(bank):
        def f(x):
            y = bank(front(x, training=False))  # bank: x1 -> [B, t_bank, n_bands]
            return head_fn(tf.stack([blk(y, training=False) for blk in blocks], axis=1))

        return f

    def block_fn(blk):
        return lambda y: blk(y, training=False)

    alone = {
        "filter_bank": concrete(lambda x1: fb(x1, training=False), (w, 1)),
        **{b: concrete(block_fn(blk), (t_bank, n_bands)) for b, blk in zip(BLOCKS, blocks, strict=True)},
    }
    # the alternatives: (input kind: "u" up-sampled [B, 2048, 1] or "x1" before up-sampling [B, 1024, 1], fn)
    alts = {
        **{f"FFT {s}": ("u", concrete(fft_bank(s), (t_bank, 1))) for s in fft_sizes},
        TRAINING_BANK: ("x1", concrete(lambda x1: fb(x1, training=True), (w, 1))),
        f"polyphase direct ({kpoly.shape[0]} taps, {kpoly.shape[1]} outputs)": ("x1", concrete(poly_direct, (w, 1))),
        **{f"polyphase FFT {s}": ("x1", concrete(poly_fft(s), (w, 1))) for s in poly_sizes},
    }
    composed = {
        "whole model, composed, its own bank": concrete(whole_with(lambda x1: fb(x1, training=False)), (w,)),
        f"whole model, composed, FFT {fft_model} bank": concrete(whole_with(up_then(fft_bank(fft_model))), (w,)),
    }
    return {
        "prefixes": prefixes,
        "alone": alone,
        "head": head_fn,
        "alts": alts,
        "composed": composed,
        "kernel": kernel,
        "blocks": blocks,
        "factor": factor,
    }


def inputs_of(parts: dict, x: np.ndarray) -> dict:
    """The input of every part for the windows ``x``: x, u (up-sampled), y (bank output), z (blocks' outputs), x1."""
    x1 = np.asarray(parts["prefixes"]["front_end"](x))
    u = np.repeat(x1, parts["factor"], axis=1)
    y = np.asarray(parts["prefixes"]["filter_bank"](x))
    z = np.stack([np.asarray(b(y, training=False)) for b in parts["blocks"]], axis=1)
    return {"x": x, "u": u, "y": y, "z": z, "x1": x1}


def equality_checks(parts: dict, inp: dict, n: int) -> dict:
    """Each bank alternative against the float64 reference and the model's float32 bank; the composed whole
    models' probabilities against the model's."""
    ref = reference_bank(inp["u"][:n, :, 0], parts["kernel"])
    scale = float(np.max(np.abs(ref)))
    direct = np.asarray(parts["alone"]["filter_bank"](inp["x1"][:n]))
    checks: dict = {
        MODEL_BANK: {
            "max_abs_diff_vs_float64_rel": max_rel(direct, ref, scale),
            "max_abs_diff_vs_direct_float32_rel": 0.0,
        }
    }
    for name, (kind, fn) in parts["alts"].items():
        out = np.asarray(fn(inp[kind][:n]))
        checks[name] = {
            "max_abs_diff_vs_float64_rel": max_rel(out, ref, scale),
            "max_abs_diff_vs_direct_float32_rel": max_rel(out, direct, scale),
        }
    for c in checks.values():
        c["same_within_float32_rounding"] = c["max_abs_diff_vs_direct_float32_rel"] <= REL_TOL
    p_model = np.asarray(parts["prefixes"]["whole model"](inp["x"][:n]))
    for name, fn in parts["composed"].items():
        d = float(np.max(np.abs(np.asarray(fn(inp["x"][:n])) - p_model)))
        checks[name] = {"max_abs_p_diff_vs_model": d, "same_within_float32_rounding": d <= REL_TOL}
    print(f"\nfilter bank alternatives on {n} windows: max |difference| / max |bank output| ({scale:.3g})")
    for name, c in checks.items():
        if "max_abs_p_diff_vs_model" in c:
            print(f"  {name:<44} probabilities within {c['max_abs_p_diff_vs_model']:.1e} of the model's")
        else:
            print(
                f"  {name:<44} vs float64 {c['max_abs_diff_vs_float64_rel']:.1e}, "
                f"vs the model's float32 bank {c['max_abs_diff_vs_direct_float32_rel']:.1e}"
            )
    return {
        "windows": n,
        "scale_max_abs_bank_output": scale,
        "criterion": f"max |difference| <= {REL_TOL:g} x max |bank output| (bank); <= {REL_TOL:g} (probabilities)",
        "checks": checks,
    }


def summarise(b: int, timing: Callable[[str, str], dict], parts: dict, macs: dict, mm: dict, fft_model: int) -> dict:
    """The per-batch record: reference times, prefixes, parts (prefix differences and alone), the bank's
    alternatives, the composed models, and the 60 % analysis."""
    total_mflop = 2 * macs["total"] / 1e6

    def frac(mflop: float, ms: float, cpu: bool = False) -> float | None:
        if not mflop or ms <= 0:
            return None
        return (mflop / ms) / (mm["gflops_per_cpu_s"] if cpu else mm["gflops_wall"])

    mflop = {
        "front_end": 0.0,
        "filter_bank": 2 * macs["filter_bank"] / 1e6,
        **{bl: 2 * macs[bl]["total"] / 1e6 for bl in BLOCKS},
        "head": 2 * macs["head"] / 1e6,
    }
    ref = {k: timing("reference", k) for k in REFERENCES}
    pre = {k: timing("prefix", k) for k in parts["prefixes"]}
    # a part's time in each round: the difference of consecutive prefixes measured in that round (one after
    # the other), then the median over the rounds (robust to the machine's speed drifting between rounds)
    walls = np.diff(np.array([v["wall_ms_rounds"] for v in pre.values()]), axis=0, prepend=0.0)
    cpus = np.diff(np.array([v["cpu_ms_rounds"] for v in pre.values()]), axis=0, prepend=0.0)
    total_wall, total_cpu = pre["whole model"]["wall_ms"], pre["whole model"]["cpu_ms"]
    rows: dict = {}
    for i, name in enumerate(["front_end", "filter_bank", *BLOCKS, "head"]):
        wall, cpu = float(np.median(walls[i])), float(np.median(cpus[i]))
        al = timing("alone", name) if name != "front_end" else None
        rows[name] = {
            "mflop_per_window": mflop[name],
            "prefix_wall_ms": wall,
            "prefix_cpu_ms": cpu,
            "prefix_wall_ms_rounds": walls[i].tolist(),
            "share_of_total_wall": wall / total_wall,
            "gflops_wall": mflop[name] / wall if mflop[name] and wall > 0 else None,
            "fraction_of_matmul_wall": frac(mflop[name], wall),
            "fraction_of_matmul_cpu": frac(mflop[name], cpu, cpu=True),
            "alone": al,
            "alone_fraction_of_matmul_wall": frac(mflop[name], al["wall_ms"]) if al else None,
        }
    blocks_wall = float(np.median(walls[2:6].sum(axis=0)))
    blocks_cpu = float(np.median(cpus[2:6].sum(axis=0)))
    blocks_mflop = sum(mflop[bl] for bl in BLOCKS)
    rows["four blocks together"] = {
        "mflop_per_window": blocks_mflop,
        "prefix_wall_ms": blocks_wall,
        "prefix_cpu_ms": blocks_cpu,
        "prefix_wall_ms_rounds": walls[2:6].sum(axis=0).tolist(),
        "share_of_total_wall": blocks_wall / total_wall,
        "gflops_wall": blocks_mflop / blocks_wall if blocks_wall > 0 else None,
        "fraction_of_matmul_wall": frac(blocks_mflop, blocks_wall),
        "fraction_of_matmul_cpu": frac(blocks_mflop, blocks_cpu, cpu=True),
        "alone": {"wall_ms": sum(rows[bl]["alone"]["wall_ms"] for bl in BLOCKS)},
        "alone_fraction_of_matmul_wall": frac(blocks_mflop, sum(rows[bl]["alone"]["wall_ms"] for bl in BLOCKS)),
    }
    bank = {MODEL_BANK: timing("alone", "filter_bank")}
    bank.update({k: timing("bank", k) for k in parts["alts"]})
    comp = {k: timing("composed", k) for k in parts["composed"]}
    fb_direct = bank[MODEL_BANK]["wall_ms"]
    fb_fft = bank[f"FFT {fft_model}"]["wall_ms"]
    t60 = total_mflop / (TARGET * mm["gflops_wall"])  # ms per window at 60 % of the multiply rate
    rest = total_wall - blocks_wall
    comp_own, comp_fft = comp.values()
    # paired: the two composed models were timed one after the other in each round
    paired = np.array(comp_own["wall_ms_rounds"]) - np.array(comp_fft["wall_ms_rounds"])
    whole_rounds = pre["whole model"]["wall_ms_rounds"]
    up_direct = bank[TRAINING_BANK]["wall_ms"]
    poly = next(v["wall_ms"] for k, v in bank.items() if k.startswith("polyphase direct"))
    analysis = {
        "total_wall_ms": total_wall,
        "total_cpu_ms": total_cpu,
        "total_mflop": total_mflop,
        "total_gflops_wall": total_mflop / total_wall,
        "total_fraction_of_matmul_wall": frac(total_mflop, total_wall),
        "total_fraction_of_matmul_cpu": frac(total_mflop, total_cpu, cpu=True),
        "ms_per_window_at_60pct": t60,
        "speedup_needed_whole_model": total_wall / t60,
        "blocks_wall_ms": blocks_wall,
        "rest_wall_ms": rest,
        "blocks_speedup_needed_rest_unchanged": (blocks_wall / (t60 - rest)) if t60 > rest else None,
        "blocks_ms_at_60pct": blocks_mflop / (TARGET * mm["gflops_wall"]),
        "fft_size": fft_model,
        "computed_total_with_fft_bank_ms": total_wall - fb_direct + fb_fft,
        "computed_total_with_fft_bank_ms_bank_from_prefix": total_wall - rows["filter_bank"]["prefix_wall_ms"] + fb_fft,
        "computed_gain_fraction": (fb_direct - fb_fft) / total_wall,
        "computed_total_with_polyphase_ms": total_wall - up_direct + poly,
        "computed_gain_fraction_polyphase": (up_direct - poly) / total_wall,
        "measured_composed_own_bank_ms": comp_own["wall_ms"],
        "measured_composed_fft_bank_ms": comp_fft["wall_ms"],
        "measured_gain_ms_per_round": paired.tolist(),
        "measured_gain_fraction": float(np.median(paired)) / comp_own["wall_ms"],
        "whole_model_wall_spread_over_rounds": (max(whole_rounds) - min(whole_rounds)) / total_wall,
    }
    return {
        "reference": ref,
        "prefixes": pre,
        "parts": rows,
        "filter_bank_alternatives": bank,
        "composed": comp,
        "analysis": analysis,
    }


def _pct(v: float | None) -> str:
    return f"{100 * v:>6.1f}%" if v is not None else f"{'n/a':>7}"


def _num(v: float | None, fmt: str = ">9.1f") -> str:
    return format(v, fmt) if v is not None else format("n/a", ">" + fmt.lstrip(">").split(".")[0])


def print_batch(b: int, rec: dict) -> None:
    a, ref = rec["analysis"], rec["reference"]
    print(f"\nbatch {b}: ms per window, wall / CPU (medians over rounds of each round's best wall, median CPU); share")
    print("of the whole (wall); MFLOP; GFLOP/s (wall);")
    print("% of the matmul rate (wall); the part alone (its own tf.function on its own input): wall ms, % of matmul")
    exp, ident = ref[REFERENCES[1]], ref[REFERENCES[0]]
    print(
        f"  the export through ExportedDetector.predict: {exp['wall_ms']:.3f} / {exp['cpu_ms']:.3f} "
        f"(best {exp['wall_ms_best']:.3f}); the rebuilt whole model's best "
        f"{rec['prefixes']['whole model']['wall_ms_best']:.3f}; "
        f"an empty tf.function call: {ident['wall_ms']:.4f}"
    )
    hdr = f"  {'part':<22}{'wall':>8}{'CPU':>8}{'share':>8}{'MFLOP':>8}{'GFLOP/s':>9}{'% mm':>7}{'alone':>9}{'% mm':>7}"
    print(hdr)
    print("  " + "-" * (len(hdr) - 2))
    for name, p in rec["parts"].items():
        al = p["alone"]
        print(
            f"  {name:<22}{p['prefix_wall_ms']:>8.3f}{p['prefix_cpu_ms']:>8.3f}{100 * p['share_of_total_wall']:>7.1f}%"
            f"{p['mflop_per_window']:>8.2f}{_num(p['gflops_wall'])}{_pct(p['fraction_of_matmul_wall'])}"
            + (f"{al['wall_ms']:>9.3f}{_pct(p['alone_fraction_of_matmul_wall'])}" if al else "")
        )
    print(
        f"  {'whole model':<22}{a['total_wall_ms']:>8.3f}{a['total_cpu_ms']:>8.3f}{100.0:>7.1f}%"
        f"{a['total_mflop']:>8.2f}"
        f"{a['total_gflops_wall']:>9.1f}{_pct(a['total_fraction_of_matmul_wall'])}"
    )
    print("  the filter bank and its alternatives, alone on the same input: wall / CPU ms per window")
    for k, t in rec["filter_bank_alternatives"].items():
        print(f"    {k:<46}{t['wall_ms']:>8.3f}{t['cpu_ms']:>8.3f}")
    for k, t in rec["composed"].items():
        rounds = ", ".join(f"{v:.3f}" for v in t["wall_ms_rounds"])
        print(f"    {k:<46}{t['wall_ms']:>8.3f}{t['cpu_ms']:>8.3f}  (rounds {rounds})")
    need = a["blocks_speedup_needed_rest_unchanged"]
    print(
        f"  60 % of the matmul rate = {a['ms_per_window_at_60pct']:.3f} ms per window; now {a['total_wall_ms']:.3f} "
        f"({a['speedup_needed_whole_model']:.2f}x too slow). The blocks take {a['blocks_wall_ms']:.3f}, the rest "
        f"{a['rest_wall_ms']:.3f}: "
        + (f"the blocks would need {need:.2f}x with the rest unchanged" if need else "the rest alone exceeds it")
    )
    gain_c, gain_m = 100 * a["computed_gain_fraction"], 100 * a["measured_gain_fraction"]
    per_round = ", ".join(f"{v:+.3f}" for v in a["measured_gain_ms_per_round"])
    print(
        f"  the FFT {a['fft_size']} bank in the whole model, computed (whole - bank + FFT bank): "
        f"{a['computed_total_with_fft_bank_ms']:.3f} ms ({gain_c:.1f} % less); measured (composed, paired per round): "
        f"{a['measured_composed_fft_bank_ms']:.3f} against {a['measured_composed_own_bank_ms']:.3f} with its own "
        f"bank, {gain_m:.1f} % less (gain per round {per_round} ms); the whole model's wall time varied "
        f"{100 * a['whole_model_wall_spread_over_rounds']:.1f} % over the rounds"
    )
    print(
        "  whole model with the polyphase direct bank instead of the training form (up-sampling + direct), "
        f"computed: {a['computed_total_with_polyphase_ms']:.3f} ms "
        f"({100 * a['computed_gain_fraction_polyphase']:.1f} % less)"
    )


def print_ops(b: int, prof: dict, t60: float, total_wall: float) -> None:
    def top(key: str, n: int) -> str:
        return ", ".join(f"{k} {100 * v['share']:.1f}%" for k, v in list(prof[key].items())[:n])

    rest = 1.0 - (prof["share_in_convolution_and_matmul_ops"] or 0.0)
    print(
        f"\nop-level profile of the export, batch {b} ({prof['calls']} calls, "
        f"{prof['profiled_wall_ms_per_window']:.3f} ms per window while profiled; summed op time "
        f"{prof['summed_op_ms_per_window']:.3f} ms per window on "
        f"{len(prof['threads_running_ops'])} threads): shares of the summed op time"
    )
    print("  by part: " + top("by_part", 8))
    print("  by op type: " + top("by_op_type", 14))
    print("  by module and layer, four blocks together: " + top("by_module_layer_all_blocks", 16))
    print("  by block and module: " + top("by_block_module", 12))
    print(
        f"  convolution and matmul ops: {100 * (1 - rest):.1f} %; the other ops {100 * rest:.1f} % = about "
        f"{rest * total_wall:.3f} of the {total_wall:.3f} ms per window (at 60 % of matmul the whole takes {t60:.3f})"
    )


REFERENCES = ("an empty tf.function call", "the export (ExportedDetector.predict)")


# --------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="", help="export directory (default: the shipped model)")
    ap.add_argument("--batches", default="24,256", help="batch sizes, comma-separated (default 24,256)")
    ap.add_argument("--seconds", type=float, default=0.35, help="seconds per measurement and round (default 0.35)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds, alternating order (default 5)")
    ap.add_argument("--fft-sizes", default="2304,4096", help="FFT sizes for the 2048-sample bank (default 2304,4096)")
    ap.add_argument("--poly-fft-sizes", default="1152", help="FFT sizes for the polyphase bank (default 1152)")
    ap.add_argument("--fft-in-model", type=int, default=0, help="FFT size of the bank in the composed whole model")
    ap.add_argument("--ops", action=argparse.BooleanOptionalAction, default=True, help="op-level profile (default on)")
    ap.add_argument("--quick", action="store_true", help="a short run for checking the script (0.2 s, 2 rounds)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="directory for the JSON")
    ap.add_argument("--name", default="", help="result file name (default: layer-profile-<host>-<date>.json)")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds = 0.2, 2
    export = Path(args.model) if args.model else default_model_path()
    batches = [int(b) for b in args.batches.split(",") if b]
    fft_sizes = [int(s) for s in args.fft_sizes.split(",") if s]
    poly_sizes = [int(s) for s in args.poly_fft_sizes.split(",") if s]
    fft_model = args.fft_in_model or fft_sizes[0]
    if fft_model not in fft_sizes:
        fft_sizes.append(fft_model)

    import tensorflow as tf

    busy0, total0, cpu0 = *_busy_total_s(), _own_cpu_s()
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    result: dict = {
        "command": " ".join(["benchmarks/layer_profile.py", *(argv if argv is not None else sys.argv[1:])]),
        "created": created,
        "settings": {
            "batches": batches,
            "seconds_per_measurement_and_round": args.seconds,
            "rounds": args.rounds,
            "fft_sizes": fft_sizes,
            "poly_fft_sizes": poly_sizes,
            "fft_size_in_composed_model": fft_model,
            "target_fraction_of_matmul": TARGET,
            "rel_tol_same_output": REL_TOL,
            "timing": "benchmarks/inference.py time_per_window, per measurement and round: one call of exactly b "
            "windows per run, the input converted by tf.constant in each call, best wall and median CPU of the "
            "round's runs; wall_ms / cpu_ms = the median over the rounds (wall_ms_best: the best); a part's prefix "
            "time = the median over the rounds of the difference of consecutive prefixes timed in that round",
            "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (TensorFlow's default: on)"),
            "tf_threads": {
                "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                "note": "0 = TensorFlow's default (every core)",
            },
        },
        "host": host_info(),
    }
    mm0 = matmul_rate()
    print(f"float32 matmul 2048x2048: {mm0['gflops_wall']:.1f} GFLOP/s wall, {mm0['gflops_per_cpu_s']:.1f} per CPU s")

    # ---- the model, its parts and their multiply-adds
    model, card = rebuild(export)
    w = int(card["window_samples"])
    det = load_detector(export, backend="tensorflow", device="cpu")
    x_all = windows(max([*batches, 64]), w)
    p_export = det.predict(x_all[:64])
    rebuild_diff = float(
        np.max(np.abs(p_export - np.asarray(model(x_all[:64], training=False))[:, det.positive_index]))
    )
    macs_export = count_macs(export)
    macs = part_macs(model, w)
    check = {
        "filter_bank": (macs["filter_bank"], macs_export["filter_bank"]),
        "convolutions": (sum(macs[b]["total"] for b in BLOCKS), macs_export["convolutions"]),
        "dense": (macs["head"], macs_export["dense"]),
    }
    # count_macs counts nonzero weights: the polyphase bank's few structural zeros (0.4 % of its taps) are not counted
    if any(abs(a - b) > 0.01 * max(a, b) for a, b in check.values()):
        raise SystemExit(f"multiply-adds per part do not add up to count_macs of the export: {check}")
    macs["total"] = macs_export["total"]
    result["model"] = {
        "path": str(export),
        "card_version": card["model_version"],
        "rebuilt_vs_export_max_abs_p_diff": rebuild_diff,
        "macs_per_window_count_macs": macs_export,
        "macs_per_window_per_part": macs,
        "mflop_per_window": 2 * macs["total"] / 1e6,
    }
    print(
        f"model {card['model_version']}: rebuilt in Keras with the export's weights (p(seizure) within "
        f"{rebuild_diff:.1e} of the export on 64 windows); {2 * macs['total'] / 1e6:.1f} MFLOP per window"
    )
    parts = make_parts(model, w, fft_sizes, poly_sizes, fft_model)
    inp = inputs_of(parts, x_all)
    result["equality_checks"] = equality_checks(parts, inp, 64)

    # ---- timing
    ident = concrete(lambda x: x, (w,))
    plan: list[tuple[int, str, str, Callable, np.ndarray]] = []
    for b in batches:
        xb = {k: v[:b] for k, v in inp.items()}
        head = concrete(parts["head"], tuple(xb["z"].shape[1:]))
        plan += [
            (b, "reference", REFERENCES[0], ident, xb["x"]),
            (b, "reference", REFERENCES[1], exact_batch(det, b).predict, xb["x"]),
            *[(b, "prefix", k, fn, xb["x"]) for k, fn in parts["prefixes"].items()],
            *[(b, "alone", k, fn, xb["y"] if k in BLOCKS else xb["x1"]) for k, fn in parts["alone"].items()],
            (b, "alone", "head", head, xb["z"]),
            *[(b, "bank", k, fn, xb[kind]) for k, (kind, fn) in parts["alts"].items()],
            *[(b, "composed", k, fn, xb["x"]) for k, fn in parts["composed"].items()],
        ]
    for _, _, _, fn, xx in plan:
        fn(xx)
        fn(xx)  # traced and warm at this shape
    runs: dict = defaultdict(list)
    t_start = time.perf_counter()
    for rnd in range(args.rounds):
        for b, group, key, fn, xx in plan if rnd % 2 == 0 else plan[::-1]:
            runs[(b, group, key)].append(time_per_window(fn, xx, args.seconds, b))
        print(f"  round {rnd + 1} of {args.rounds} done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    mm1 = matmul_rate()
    mm = {k: max(mm0[k], mm1[k]) for k in ("gflops_wall", "gflops_per_cpu_s")}
    result["matmul"] = {"at_start": mm0, "at_end": mm1, "reference": mm}
    print(
        f"float32 matmul at the end: {mm1['gflops_wall']:.1f} GFLOP/s wall; the % below use the better of start "
        f"and end: {mm['gflops_wall']:.1f} GFLOP/s wall, {mm['gflops_per_cpu_s']:.1f} per CPU s"
    )

    def timing_at(b: int) -> Callable[[str, str], dict]:
        def timing(group: str, key: str) -> dict:
            rs = runs[(b, group, key)]
            return {
                "wall_ms": float(np.median([r["wall_ms"] for r in rs])),
                "wall_ms_best": min(r["wall_ms"] for r in rs),
                "cpu_ms": float(np.median([r["cpu_ms"] for r in rs])),
                "wall_ms_rounds": [r["wall_ms"] for r in rs],
                "cpu_ms_rounds": [r["cpu_ms"] for r in rs],
            }

        return timing

    result["per_batch"] = {}
    for b in batches:
        rec = summarise(b, timing_at(b), parts, macs, mm, fft_model)
        result["per_batch"][str(b)] = rec
        print_batch(b, rec)

    if args.ops:
        result["op_profile"] = {
            "how": "tf.profiler.experimental trace of the export's path (ExportedDetector.predict on exactly b "
            "windows); the op events of the host plane summed. Ops run concurrently on the inter-op threads, so "
            "the shares are of summed op time, not of wall time; estimated_ms = share x the whole model's wall ms "
            "per window measured above (assumes the overlap spreads evenly)",
        }
        for b in batches:
            prof = op_profile(exact_batch(det, b).predict, x_all[:b], max(2, -(-240 // b)))
            a = result["per_batch"][str(b)]["analysis"]
            prof["estimated_ms_outside_convolution_and_matmul_ops"] = (
                1.0 - (prof["share_in_convolution_and_matmul_ops"] or 0.0)
            ) * a["total_wall_ms"]
            for key in ("by_part", "by_op_type", "by_block_module", "by_module_layer_all_blocks"):
                for v in prof[key].values():
                    v["estimated_ms"] = v["share"] * a["total_wall_ms"]
            result["op_profile"][str(b)] = prof
            print_ops(b, prof, a["ms_per_window_at_60pct"], a["total_wall_ms"])
    name = args.name or f"layer-profile-{platform.node()}-{created[:10]}.json"
    return _finish(argparse.Namespace(out=args.out, name=name, batch_sizes=""), result, busy0, total0, cpu0)


if __name__ == "__main__":
    sys.exit(main())
