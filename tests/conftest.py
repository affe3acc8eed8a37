"""Shared fixtures. LSL is confined to this machine for every test (config/lsl_api.cfg)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Must be set before liblsl is loaded, in this process and in every subprocess the tests start.
os.environ["LSLAPICFG"] = str(REPO / "config" / "lsl_api.cfg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The tests run the model on the CPU wherever they run (model.backend "auto" picks LiteRT without a GPU,
# TensorFlow with one): the same backend on a GPU host as in CI. The GPU path: benchmarks/gpu_check.sh.
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHBMIT_DIR = REPO / "realtime" / "data" / "chbmit"
SEIZURE_EDF = CHBMIT_DIR / "chb01_03_Seizure.edf"
NONSEIZURE_EDF = CHBMIT_DIR / "chb01_03_NonSeizure.edf"


@pytest.fixture(autouse=True)
def logging_as_found():
    """Every test starts with the logging it found: the daemon's in-process runs set the root level
    (``logging.level``, also on SIGHUP) and a library's ``logging.config`` disables loggers that exist.
    With two workers, tests meet in orders a single process never had, so a later test's ``caplog``
    saw nothing of a ``realtime`` warning."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("realtime") and isinstance(logger, logging.Logger):
            logger.disabled, logger.propagate = False, True
            logger.setLevel(logging.NOTSET)


@pytest.fixture(scope="session")
def toy_export(tmp_path_factory) -> Path:
    """A real SavedModel + LiteRT export of a hand-set amplitude model (see tests/toy_export.py)."""
    from toy_export import make_toy_export

    return make_toy_export(tmp_path_factory.mktemp("toy_export"))
