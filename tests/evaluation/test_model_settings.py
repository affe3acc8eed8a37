"""write_decision_defaults rewrites the shipped decision defaults in both files, and they stay loadable."""

import ast
import shutil
import tomllib
from pathlib import Path

import pytest

from realtime.config import DecisionConfig, load_config
from evaluation.decision_defaults import write_decision_defaults

REPO = Path(__file__).resolve().parents[2]


def _dataclass_defaults(py: Path) -> dict:
    tree = ast.parse(py.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DecisionConfig")
    return {n.target.id: ast.literal_eval(n.value) for n in cls.body if isinstance(n, ast.AnnAssign)}


def test_shipped_files_agree():
    toml = tomllib.loads((REPO / "config" / "realtime-detect.toml").read_text())["decision"]
    assert toml == _dataclass_defaults(REPO / "realtime" / "config.py")


def test_writes_both_files_keeping_comments(tmp_path):
    py, toml = tmp_path / "config.py", tmp_path / "realtime-detect.toml"
    shutil.copy(REPO / "realtime" / "config.py", py)
    shutil.copy(REPO / "config" / "realtime-detect.toml", toml)
    chosen = {"on_threshold": 0.8, "off_threshold": 0.5, "smoothing_windows": 3, "min_duration_s": 1.0,
              "detected": 20}  # extra keys of the tuning result are ignored
    assert write_decision_defaults(chosen, py, toml) == {"smoothing_windows": 3, "on_threshold": 0.8,
                                                         "off_threshold": 0.5, "min_duration_s": 1.0}
    got = _dataclass_defaults(py)
    assert (got["on_threshold"], got["smoothing_windows"], got["min_duration_s"]) == (0.8, 3, 1.0)
    assert "# smoothed probability at or above this arms an onset" in py.read_text()
    d = load_config(toml).decision
    assert (d.on_threshold, d.off_threshold, d.smoothing_windows, d.min_duration_s) == (0.8, 0.5, 3, 1.0)
    assert d.k_channels == DecisionConfig().k_channels  # untouched keys stay
    assert "# smoothed probability that arms an onset" in toml.read_text()
    assert tomllib.loads(toml.read_text())["decision"] == {**_dataclass_defaults(py)}


def test_refuses_incomplete_settings_or_unknown_files(tmp_path):
    py, toml = tmp_path / "config.py", tmp_path / "x.toml"
    shutil.copy(REPO / "realtime" / "config.py", py)
    toml.write_text("[decision]\non_threshold = 0.6\n")
    before = py.read_text()
    with pytest.raises(ValueError, match=r"lack 'min_duration_s'"):
        write_decision_defaults({"on_threshold": 0.7, "off_threshold": 0.5, "smoothing_windows": 1}, py, toml)
    with pytest.raises(ValueError, match=r"x.toml: expected one line setting 'smoothing_windows', found 0"):
        write_decision_defaults({"on_threshold": 0.7, "off_threshold": 0.5, "smoothing_windows": 1,
                                 "min_duration_s": 2.0}, py, toml)
    assert py.read_text() == before  # nothing written on error
