"""benchmarks/compare_exports.py end to end on the shipped model: one export at HEAD (git archive) and
the working copy's, LiteRT, one round of one call."""

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import compare_exports  # noqa: E402


def test_two_exports_of_one_model_agree_and_are_timed(tmp_path, capsys):
    rc = compare_exports.main(
        [
            *("git:HEAD", "realtime/models/default"),
            *("--backends", "litert", "--batch", "3", "--rounds", "2", "--calls", "1"),
            *("--out", str(tmp_path), "--name", "ab.json"),
        ]
    )
    assert rc == 0
    result = json.loads((tmp_path / "ab.json").read_text())
    rows = list(result["exports"].values())
    assert [r["export"] for r in rows] == ["git:HEAD", "realtime/models/default"]
    for r in rows:
        assert len(r["rounds_cpu_ms"]) == len(r["rounds_wall_ms"]) == 2
        assert r["wall_ms_median"] > 0 and r["max_abs_p_difference_to_first"] < 1e-5
    assert rows[0]["cpu_ratio_to_first"] == 1.0
    assert "git:HEAD | litert" in capsys.readouterr().out


def test_an_unknown_revision_is_refused_by_name(tmp_path):
    with pytest.raises(SystemExit, match="no-such-rev"):
        compare_exports.resolve("git:no-such-rev", tmp_path)


def test_each_thread_count_is_its_own_row_compared_with_the_first_exports_row_of_that_count(tmp_path, capsys):
    rc = compare_exports.main(
        [
            "realtime/models/default",
            *("--backends", "litert", "--threads", "1,2", "--batch", "2", "--rounds", "2", "--calls", "1"),
            *("--out", str(tmp_path), "--name", "threads.json"),
        ]
    )
    assert rc == 0
    rows = json.loads((tmp_path / "threads.json").read_text())["exports"]
    assert list(rows) == [
        "realtime/models/default | litert | 1 threads",
        "realtime/models/default | litert | 2 threads",
    ]
    assert [r["threads"] for r in rows.values()] == [1, 2] and all(
        r["cpu_ratio_to_first"] == 1.0 for r in rows.values()
    )
    with pytest.raises(SystemExit):
        compare_exports.main(["realtime/models/default", "--threads", "-1"])
    assert "--threads must be comma-separated integers >= 0, got '-1'" in capsys.readouterr().err
