"""Training curves: matplotlib is optional; without it `fit` skips curves.png with a warning, no crash."""

import sys

import pytest

from train.fit import plot_curves

HISTORY = (
    "epoch,loss,probabilities_loss,val_probabilities_loss,probabilities_accuracy,val_probabilities_accuracy\n"
    "0,0.9,0.7,0.8,0.6,0.55\n1,0.5,0.4,0.45,0.8,0.75\n"
)


def test_curves_skipped_with_warning_when_matplotlib_is_missing(tmp_path, monkeypatch, capsys):
    (tmp_path / "history.csv").write_text(HISTORY)
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    assert plot_curves(tmp_path / "history.csv", tmp_path / "curves.png", "t") is False
    assert not (tmp_path / "curves.png").exists()
    assert "matplotlib is not installed" in capsys.readouterr().err


def test_curves_written_when_matplotlib_is_present(tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "history.csv").write_text(HISTORY)
    assert plot_curves(tmp_path / "history.csv", tmp_path / "curves.png", "t") is True
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
