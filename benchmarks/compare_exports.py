"""A/B of model exports (not a test): the same windows through each export, per backend, in one run.

    .venv/bin/python benchmarks/compare_exports.py EXPORT_OR_REV [EXPORT_OR_REV ...] [--batch 24]
        [--rounds 10] [--calls 25] [--backends tensorflow,litert,openvino-bfloat16] [--threads 0] [--name NAME]

An argument is an export directory, or ``git:REV`` for the shipped model (realtime/models/default) at
git revision REV (extracted with ``git archive`` into a temporary directory), e.g.::

    .venv/bin/python benchmarks/compare_exports.py git:76b5836 realtime/models/default

Every export and backend is loaded in this one process (the daemon's ``realtime.model.load_detector``)
and timed through the daemon's path (``ExportedDetector.predict`` on exactly ``--batch`` windows: one
runtime call). ``--rounds`` rounds alternate the order (forward, then backward); in each round every
export x backend makes ``--calls`` calls. Reported per export x backend: milliseconds per window, CPU
(process time, steadier on a shared machine) and wall, median and best over the rounds, and the ratio
of each median to the first export's. The probabilities of every export are compared with the first's
on the same windows (max |difference| of p(seizure)): an A/B of two exports of one model must agree.
``--threads 1,2`` times every export and backend with each of those runtime threads (``model.threads``;
0, the default: the runtime's own choice), the ratio taken to the first export's row of the same backend and
threads; the rows then read ``export | backend | N threads``.
Written to benchmarks/results/<name>.json (default ``compare-exports-<host>-<date>.json``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.inference import _busy_total_s, _finish, _own_cpu_s, exact_batch, host_info, windows  # noqa: E402
from realtime.model import load_detector  # noqa: E402

SHIPPED = "realtime/models/default"


def resolve(arg: str, tmp: Path) -> Path:
    """An export directory, or ``git:REV`` -> the shipped model at REV, extracted under ``tmp``."""
    if not arg.startswith("git:"):
        return Path(arg)
    rev = arg[4:]
    dest = tmp / rev.replace("/", "_")
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, SHIPPED], capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"compare_exports: cannot extract {SHIPPED} at {rev!r}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / SHIPPED


def measure(runners: dict, x: np.ndarray, rounds: int, calls: int) -> dict:
    """``{name: {"cpu_ms": [...], "wall_ms": [...]}}`` per window, one value per round."""
    out: dict[str, dict[str, list[float]]] = {n: {"cpu_ms": [], "wall_ms": []} for n in runners}
    for r in range(rounds):
        for name in list(runners) if r % 2 == 0 else list(reversed(runners)):
            fn = runners[name]
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(calls):
                fn(x)
            per = 1e3 / (calls * len(x))
            out[name]["cpu_ms"].append((time.process_time() - c0) * per)
            out[name]["wall_ms"].append((time.perf_counter() - t0) * per)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("exports", nargs="+", help="export directories or git:REV (the shipped model at REV)")
    ap.add_argument("--batch", type=int, default=24, help="windows per call (default 24: a 23-channel bed's pass)")
    ap.add_argument("--rounds", type=int, default=10, help="rounds, alternating order (default 10)")
    ap.add_argument("--calls", type=int, default=25, help="calls per export x backend per round (default 25)")
    ap.add_argument(
        "--backends",
        default="tensorflow,litert",
        help="comma-separated (default tensorflow,litert); BACKEND-bfloat16 (e.g. openvino-bfloat16): model.precision",
    )
    ap.add_argument("--threads", default="0", help="runtime threads, comma-separated (default 0: the runtime's)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="directory for the JSON")
    ap.add_argument("--name", default="", help="result file name (default compare-exports-<host>-<date>.json)")
    args = ap.parse_args(argv)
    for flag in ("batch", "rounds", "calls"):
        if getattr(args, flag) < 1:
            ap.error(f"--{flag} must be >= 1, got {getattr(args, flag)!r}")
    backends = [b for b in args.backends.split(",") if b]
    try:
        threads = [int(t) for t in args.threads.split(",") if t]
    except ValueError:
        ap.error(f"--threads must be comma-separated integers >= 0, got {args.threads!r}")
    if not threads or min(threads) < 0:
        ap.error(f"--threads must be comma-separated integers >= 0, got {args.threads!r}")
    tag = (lambda n: f" | {n} threads") if threads != [0] else (lambda n: "")
    busy0, total0 = _busy_total_s()
    cpu0 = _own_cpu_s()
    with tempfile.TemporaryDirectory(prefix="compare-exports-") as tmp:
        paths = [resolve(a, Path(tmp)) for a in args.exports]
        result: dict = {
            "what": "A/B of model exports: ms per window through ExportedDetector.predict, rounds alternating",
            "command": "python benchmarks/compare_exports.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "host": host_info(),
            **{k: getattr(args, k) for k in ("batch", "rounds", "calls")},
            "exports": {},
        }
        x = windows(args.batch, 1)  # width fixed below from the first export's card
        runners, probs = {}, {}
        for arg, path in zip(args.exports, paths, strict=True):
            for backend in backends:
                for n in threads:
                    runtime, _, precision = backend.partition("-")  # "openvino-bfloat16": model.precision
                    det = exact_batch(
                        load_detector(path, backend=runtime, threads=n, precision=precision or "float32"), args.batch
                    )
                    if x.shape[1] != det.window_samples:
                        x = windows(args.batch, det.window_samples)
                    name = f"{arg} | {backend}{tag(n)}"
                    runners[name] = det.predict
                    probs[name] = np.asarray(det.predict(x))  # [batch] p(seizure)
                    result["exports"][name] = {
                        "export": arg,
                        "backend": backend,
                        "threads": n,
                        "model_version": det.card["model_version"],
                    }
        for fn in runners.values():
            fn(x)  # warm
        times = measure(runners, x, args.rounds, args.calls)
    first = {(b, n): f"{args.exports[0]} | {b}{tag(n)}" for b in backends for n in threads}
    print(
        f"{'export | backend':60s} {'cpu ms/window':>22s} {'wall ms/window':>22s} {'cpu vs 1st':>10s} {'max |dp|':>9s}"
    )
    for name, row in result["exports"].items():
        key = (row["backend"], row["threads"])
        t, ref = times[name], times[first[key]]
        row.update(
            cpu_ms_median=float(np.median(t["cpu_ms"])),
            cpu_ms_best=min(t["cpu_ms"]),
            wall_ms_median=float(np.median(t["wall_ms"])),
            wall_ms_best=min(t["wall_ms"]),
            cpu_ratio_to_first=float(np.median(t["cpu_ms"]) / np.median(ref["cpu_ms"])),
            max_abs_p_difference_to_first=float(np.max(np.abs(probs[name] - probs[first[key]]))),
            rounds_cpu_ms=t["cpu_ms"],
            rounds_wall_ms=t["wall_ms"],
        )
        print(
            f"{name:60s} {row['cpu_ms_median']:9.3f} (best {row['cpu_ms_best']:6.3f}) "
            f"{row['wall_ms_median']:9.3f} (best {row['wall_ms_best']:6.3f}) {row['cpu_ratio_to_first']:10.3f} "
            f"{row['max_abs_p_difference_to_first']:9.1e}"
        )
    return _finish(args, result, busy0, total0, cpu0, kind="compare-exports")


if __name__ == "__main__":
    sys.exit(main())
