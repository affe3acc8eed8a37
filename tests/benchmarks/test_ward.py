"""benchmarks/ward.py's verdicts (a pure function) on the JSON its three scripts wrote in earlier real runs
(benchmarks/results/), and its commands; nothing is run."""

import copy
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import ward  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


@pytest.fixture(scope="module")
def inference() -> dict:
    return _load("inference-vm-2026-12-04.json")  # the idle machine: docs/benchmarks.md "Results, 2026-12-04"


@pytest.fixture(scope="module")
def capacity() -> dict:
    return _load("capacity-vm-2026-12-03-litert-30-40-50.json")  # 30 held, 40 and 50 not; model-free runs


@pytest.fixture(scope="module")
def train_input() -> dict:
    return _load("train-input-vm-2026-12-03-corpus.json")


def _by_target(rows: list[dict]) -> dict[str, dict]:
    return {r["target"]: r for r in rows}


def test_verdicts_on_real_results(inference, capacity, train_input):
    rows = ward.summarize(inference, capacity, train_input)
    by = _by_target(rows)
    # the multiply rate: TensorFlow's serve endpoint at batch 256 reached 26 % (README: missed, 2.3x)
    mm = by[ward.T_MATMUL]
    assert mm["met"] is False and mm["values"]["backend"] == "tensorflow-serve" and mm["values"]["batch"] == 256
    frac = inference["backends"]["tensorflow-serve"]["batched"]["256"]["fraction_of_matmul_wall"]
    assert mm["factor"] == pytest.approx(0.60 / frac) and mm["verdict"] == f"missed by {0.60 / frac:.2f}x"
    assert mm["factor"] == pytest.approx(2.32, abs=0.01)
    # LiteRT: 1.042 ms per window batched: 2x against 2.1 ms, not against 1.8 ms
    lite = by[ward.T_LITERT]
    assert lite["values"]["wall_ms"] == pytest.approx(1.042, abs=1e-3)
    assert lite["met"] is False and lite["factor"] == pytest.approx(2 * 1.0420430312478857 / 1.8)
    assert lite["verdict"].startswith("missed by 1.16x against 1.8 ms (met against 2.1 ms)")
    # per-window against batched, every backend timed; onnxruntime was skipped, and says why
    tf = by[f"{ward.T_PER_WINDOW}: tensorflow"]
    assert tf["met"] is None and tf["verdict"] == "no numeric target"
    assert tf["values"]["speedup"] == pytest.approx(
        inference["backends"]["tensorflow"]["batched_speedup_over_per_window"]
    )
    onnx = by[f"{ward.T_PER_WINDOW}: onnxruntime"]
    assert onnx["verdict"] == "not measured" and "tf2onnx is not installed" in onnx["measured"]
    # capacity: 30 beds of 50, missed by 50 / 30
    beds = by[ward.T_BEDS]
    assert beds["values"]["capacity_beds"] == 30 and beds["met"] is False
    assert beds["factor"] == pytest.approx(50 / 30) and beds["verdict"] == "missed by 1.67x"
    # at capacity (30 beds): p99 713 ms missed; the model-free run 5.9 % met; VmHWM 232 of 450 MiB met
    p99 = by[ward.T_P99]
    assert p99["values"]["beds"] == 30 and p99["met"] is False
    assert p99["factor"] == pytest.approx(capacity["targets_check"]["per_bed_count"]["30"]["p99_latency_s"] / 0.1)
    cpu = by[ward.T_CPU]
    assert cpu["met"] is True and cpu["verdict"] == "met"
    assert cpu["factor"] == pytest.approx(0.058882800831240326 / 0.15)
    rss = by[ward.T_RSS]
    assert (
        rss["met"] is True and rss["values"]["limit_mib"] == 450 and rss["factor"] == pytest.approx(232.03515625 / 450)
    )
    ready = by[ward.T_READY]
    assert ready["met"] is True and ready["values"]["ready_s"] == pytest.approx(0.8720034680009121)  # the slowest: 50
    # no separate run in this one (--separate-max 0): not measured, and why
    sep = by[ward.T_SEPARATE]
    assert sep["verdict"] == "not measured" and "--separate-max 0" in sep["measured"]
    # training: reported without a target; the largest stall is numpy's 0.32 %
    stall = by[ward.T_STALL]
    assert stall["met"] is None and stall["values"]["numpy"] == 0.0032 and "most 0.32 % (numpy)" in stall["measured"]
    assert by[ward.T_TRAIN]["values"]["stream"] == 140.2
    text = ward.table(rows)
    assert "missed by 1.67x" in text and text.endswith(
        "3 met, 4 missed, 9 without a verdict (no target or not measured)"
    )


def test_one_daemon_against_one_per_bed_and_no_count_in_real_time(inference):
    # 2026-12-01, LiteRT on a loaded machine: no count held real time, one daemon per bed at 10 beds did
    cap = _load("capacity-vm-2026-12-01-litert.json")
    by = _by_target(ward.summarize(inference, cap, None))
    beds = by[ward.T_BEDS]
    assert beds["values"]["capacity_beds"] == 0 and beds["met"] is False
    assert beds["verdict"] == "missed: no bed count tried held real time"
    assert by[ward.T_P99]["values"]["beds"] == 10 and "none held real time" in by[ward.T_P99]["measured"]
    sep = by[f"{ward.T_SEPARATE}: 10 beds"]
    v = sep["values"]
    single = next(r for r in cap["runs"] if r["mode"] == "single" and r["beds"] == 10)
    separate = next(r for r in cap["runs"] if r["mode"] == "separate" and r["beds"] == 10)
    assert v["memory_ratio_separate_to_single"] == pytest.approx(
        separate["rss_mib"]["vmhwm_at_end"] / single["rss_mib"]["vmhwm_at_end"]
    )
    assert v["cpu_ratio_separate_to_single"] == pytest.approx(
        separate["cpu_share_of_cores"] / single["cpu_share_of_cores"]
    )
    # lighter in both, but not in real time where the ten daemons were: missed
    assert v["memory_ratio_separate_to_single"] > 9 and v["cpu_ratio_separate_to_single"] > 1
    assert sep["met"] is False and sep["verdict"].endswith("not in real time where one per bed was")
    # the same runs with the one daemon in real time: met
    held = copy.deepcopy(cap)
    next(r for r in held["runs"] if r["mode"] == "single" and r["beds"] == 10)["real_time"] = True
    sep = _by_target(ward.summarize(inference, held, None))[f"{ward.T_SEPARATE}: 10 beds"]
    assert sep["met"] is True and sep["verdict"].startswith("met: one daemon 9.6x less memory, 1.19x less CPU")


def test_every_count_held_but_the_target_was_not_tried(inference):
    cap = _load("capacity-vm-2026-12-05-10beds.json")  # 10 beds only, in real time; --quick: no model-free run
    by = _by_target(ward.summarize(inference, cap, None))
    assert by[ward.T_BEDS]["met"] is None and by[ward.T_BEDS]["verdict"] == "not decided: 50 not tried, 10 held"
    cpu = by[ward.T_CPU]
    assert cpu["verdict"] == "not measured" and "--quick: no model-free run" in cpu["measured"]


def test_missing_results_are_not_measured_with_the_reason():
    rows = ward.summarize(None, None, None, {"capacity": "benchmarks/capacity.py exited 1; no JSON"})
    assert rows and all(r["met"] is None and r["verdict"] == "not measured" for r in rows)
    by = _by_target(rows)
    assert by[ward.T_BEDS]["measured"] == "not measured: benchmarks/capacity.py exited 1; no JSON"
    assert by[ward.T_STALL]["measured"] == "not measured: no train_input.py result"
    assert ward.table(rows).endswith(f"0 met, 0 missed, {len(rows)} without a verdict (no target or not measured)")


def test_commands_quick_and_full(tmp_path):
    quick = ward.commands(ward.parse_args(["--quick", "--capacity-args", "--chunk-s 0.05"]), tmp_path)
    assert quick["inference"] == [
        "benchmarks/inference.py",
        "--quick",
        "--out",
        str(tmp_path),
        "--name",
        "inference.json",
    ]
    assert quick["capacity"][:9] == [
        *("benchmarks/capacity.py", "--beds", "5,10", "--duration-s", "15", "--separate-max", "5"),
        *("--backend", "auto"),
    ]
    assert quick["capacity"][-2:] == ["--chunk-s", "0.05"] and "--warmup-s" in quick["capacity"]
    assert quick["train_input"][1:7] == ward.TRAIN_QUICK
    full = ward.commands(ward.parse_args(["--beds", "20,30", "--backend", "litert", "--skip", "train-input"]), tmp_path)
    assert full["capacity"][1:9] == [
        "--beds",
        "20,30",
        "--duration-s",
        "40",
        "--separate-max",
        "20",
        "--backend",
        "litert",
    ]
    assert "--warmup-s" not in full["capacity"] and full["train_input"][0] == "benchmarks/train_input.py"
    assert ward.parse_args(["--skip", "train-input"]).skip == {"train_input"}
    with pytest.raises(SystemExit):
        ward.parse_args(["--skip", "soak"])


def test_the_bfloat16_backend_is_held_to_its_own_multiply_rate(capacity, train_input):
    """2026-12-05 (inference-vm-2026-12-05-bfloat16.json): tensorflow-bfloat16 was the fastest backend per window,
    but its share is of the bfloat16 matmul (AMX, 4.4x float32's), so the row's best share stays a float32
    backend's and the detail names both rates."""
    inf = _load("inference-vm-2026-12-05-bfloat16.json")
    bf = inf["backends"]["tensorflow-bfloat16"]["batched"]["256"]
    assert bf["fraction_of_matmul_wall"] == pytest.approx(
        bf["gflops_wall"] / inf["matmul_bfloat16"]["gflops_wall"]
    ) and bf["fraction_of_float32_matmul_wall"] == pytest.approx(bf["gflops_wall"] / inf["matmul"]["gflops_wall"])
    fastest = min(
        ((name, b["batched"]["256"]["wall_ms"]) for name, b in inf["backends"].items() if b.get("batched")),
        key=lambda t: t[1],
    )
    assert fastest[0] == "tensorflow-bfloat16"
    mm = _by_target(ward.summarize(inf, capacity, train_input))[ward.T_MATMUL]
    assert mm["values"]["backend"] != "tensorflow-bfloat16" and mm["met"] is False
    assert "the bfloat16 matmul 1434" in mm["measured"] and "a bfloat16 backend's share is of it" in mm["measured"]


def test_the_bfloat16_ward_run():
    """2026-12-05 (ward-vm-2026-12-05-bfloat16/: capacity.py --precision bfloat16 --batch-windows 128 at 50, 60, 65
    beds): 65 beds held, and the arithmetic capacity beside it is the bfloat16 backend's, not float32's."""
    run = RESULTS / "ward-vm-2026-12-05-bfloat16"
    inf, cap = (json.loads((run / f"{n}.json").read_text()) for n in ("inference", "capacity"))
    assert cap["settings"]["precision"] == "bfloat16" and cap["settings"]["batch_windows"] == 128
    beds = _by_target(ward.summarize(inf, cap, None))[ward.T_BEDS]
    assert beds["met"] is True and beds["values"]["capacity_beds"] == 65
    a = inf["backends"]["tensorflow-bfloat16"]["capacity_beds_arithmetic"]
    assert f"(inference.py, tensorflow-bfloat16): {a:.0f}" in beds["measured"]


def test_the_openvino_ward_run():
    """2026-12-05 (ward-vm-2026-12-05-openvino/: capacity.py --backend openvino --precision bfloat16 --batch-windows 64
    at 50, 55, 60 beds): the beds, memory and ready held together, and the arithmetic capacity beside the beds is
    OpenVINO's bfloat16 backend's."""
    run = RESULTS / "ward-vm-2026-12-05-openvino"
    inf, cap = (json.loads((run / f"{n}.json").read_text()) for n in ("inference", "capacity"))
    assert cap["settings"]["precision"] == "bfloat16" and cap["settings"]["batch_windows"] == 64
    rows = _by_target(ward.summarize(inf, cap, None))
    beds = rows[ward.T_BEDS]
    assert beds["met"] is True and beds["values"]["capacity_beds"] == 60
    a = inf["backends"]["openvino-bfloat16"]["capacity_beds_arithmetic"]
    assert f"(inference.py, openvino-bfloat16): {a:.0f}" in beds["measured"]
    assert rows[ward.T_RSS]["met"] is True and rows[ward.T_READY]["met"] is True
    assert rows[ward.T_P99]["met"] is False
