"""benchmarks/litert_variants.py's pure helpers on small arrays (no TensorFlow, no conversion)."""

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import litert_variants as lv  # noqa: E402


def test_compare_counts_windows_on_the_other_side_of_each_threshold():
    ref = np.array([0.10, 0.49, 0.50, 0.59, 0.60, 0.95])
    p = np.array([0.10, 0.50, 0.49, 0.61, 0.60, 0.90])
    c = lv.compare(p, ref, [0.5, 0.6])
    assert c["windows"] == 6
    assert c["max_abs_dp"] == pytest.approx(0.05)
    assert c["mean_abs_dp"] == pytest.approx((0.01 + 0.01 + 0.02 + 0.05) / 6)
    # 0.5: 0.49 -> 0.50 reaches it (p >= t), 0.50 -> 0.49 leaves it
    assert c["crossings"]["0.5"] == {"total": 2, "up": 1, "down": 1, "reference_at_or_above": 4}
    # 0.6: only 0.59 -> 0.61; 0.60 stays at the threshold, 0.95 -> 0.90 stays above
    assert c["crossings"]["0.6"] == {"total": 1, "up": 1, "down": 0, "reference_at_or_above": 2}
    assert lv.compare(ref, ref, [0.5])["crossings"]["0.5"]["total"] == 0


def test_compare_refuses_different_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        lv.compare(np.zeros(3), np.zeros(4), [0.5])


def test_windows_and_padded_batches():
    data = np.arange(2 * 10, dtype=np.float64).reshape(2, 10)
    w = lv.sliding_windows(data, 4, 3)
    assert w.dtype == np.float32 and w.shape == (6, 4)  # starts 0, 3, 6 on each channel
    assert w[0].tolist() == [0, 1, 2, 3] and w[3].tolist() == [10, 11, 12, 13]
    assert lv.sliding_windows(data, 11, 1).shape == (0, 11)
    chunks = list(lv.batches(w, 4))
    assert [n for _, n in chunks] == [4, 2]
    assert all(c.shape == (4, 4) for c, _ in chunks)
    assert not chunks[1][0][2:].any()  # zero padding


def test_summary_and_table():
    t = lv.summarize_times([4.0, 3.0, 5.0], [4.2, 3.9, 4.1])
    assert t["wall_ms"] == 3.0 and t["cpu_ms"] == pytest.approx(4.1)
    comparison = lv.compare(np.array([0.2, 0.7]), np.array([0.2, 0.55]), [0.5, 0.6])
    rows = {
        "float32": {
            "timing": lv.summarize_times([4.0], [4.0]),
            "comparison": lv.compare(np.zeros(2), np.zeros(2), [0.5, 0.6]),
        },
        "int8": {"timing": lv.summarize_times([8.0], [8.0]), "comparison": comparison},
        "int16x8": {"error": "ConverterError: ['nope']"},
    }
    lines = lv.format_table(rows, [0.5, 0.6]).splitlines()
    assert "flips 0.5" in lines[0] and "flips 0.6" in lines[0]
    assert set(lines[1]) == {"-"}
    assert lines[2].split()[:4] == ["float32", "4.000", "4.000", "1.00"]
    int8 = lines[3].split()
    assert int8[:4] == ["int8", "8.000", "8.000", "0.50"] and int8[-2:] == ["0", "1"]
    assert lines[4].startswith("int16x8") and "conversion failed" in lines[4]


def test_op_counts_most_frequent_first():
    ops = [{"op_name": n} for n in ["CONV_2D", "RESHAPE", "RESHAPE", "DELEGATE"]]
    assert list(lv.op_counts(ops).items()) == [("RESHAPE", 2), ("CONV_2D", 1), ("DELEGATE", 1)]
