"""An export holding a file its card does not list is refused (issue 12, defect 8): the card's sha256
guard only the files it lists, and a backend may read others (a SavedModel's assets/, variables)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from realtime.model import ModelLoadError, default_model_path, load_detector, read_card, unlisted_files

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def shipped_copy(tmp_path) -> Path:
    dst = tmp_path / "export"
    shutil.copytree(default_model_path(), dst)
    return dst


def test_the_shipped_model_and_the_toy_export_hold_only_listed_files(toy_export):
    for export in (default_model_path(), toy_export):
        assert unlisted_files(export, read_card(export)["files"]) == []


def test_an_unlisted_file_anywhere_is_refused_by_name(shipped_copy):
    (shipped_copy / "saved_model" / "assets").mkdir(exist_ok=True)
    (shipped_copy / "saved_model" / "assets" / "vocab.txt").write_text("planted")
    (shipped_copy / "extra.tflite").write_bytes(b"\0")
    with pytest.raises(ModelLoadError) as info:
        read_card(shipped_copy)
    assert "holds 2 file(s) its card does not list: 'extra.tflite', 'saved_model/assets/vocab.txt'" in str(info.value)
    with pytest.raises(ModelLoadError, match=r"extra\.tflite"):  # before any backend loads a byte of it
        load_detector(shipped_copy, backend="litert")


def test_hidden_files_pycache_and_links_count_empty_directories_do_not(shipped_copy, tmp_path):
    (shipped_copy / "saved_model" / "assets").mkdir(exist_ok=True)  # empty: nothing a backend could read
    read_card(shipped_copy)
    (shipped_copy / "__pycache__").mkdir()
    (shipped_copy / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (shipped_copy / ".model.tflite.swp").write_bytes(b"\0")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "weights.bin").write_bytes(b"\0")
    os.symlink(outside, shipped_copy / "saved_model" / "linked")  # a link to a directory is not walked
    listed = json.loads((shipped_copy / "model_card.json").read_text())["files"]
    assert unlisted_files(shipped_copy, listed) == [
        ".model.tflite.swp",
        "__pycache__/x.cpython-311.pyc",
        "saved_model/linked",
    ]


@pytest.mark.integration
def test_the_daemon_refuses_it_with_exit_69_naming_the_file(shipped_copy, tmp_path):
    (shipped_copy / "saved_model" / "variables" / "variables.data-00001-of-00002").write_bytes(b"\0")
    out = subprocess.run(
        [
            *(sys.executable, "-m", "realtime", "detect", "--model", str(shipped_copy), "--duration-s", "5"),
            *("--stream", "absent-integrity", "--metrics-port", "0", "--endpoint", "tcp://127.0.0.1:*"),
            *("--replay-endpoint", "tcp://127.0.0.1:0", "--alert-log", str(tmp_path / "a.jsonl")),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        cwd=str(tmp_path),
    )
    assert out.returncode == 69, out.stderr[-3000:]
    assert "cannot load the model" in out.stderr
    assert "'saved_model/variables/variables.data-00001-of-00002'" in out.stderr
