"""Fixtures for train/ tests: synthetic EEG records and the tiny hyper-parameters (no /work/shared)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[2]
TINY_TOML = REPO / "config" / "train" / "tiny.toml"


def synth_eeg(n_samples: int, seizure: bool, rng: np.random.Generator, fs_hz: float = 250.0) -> np.ndarray:
    """float32 [n_samples] µV: 1/f-ish background ~20 µV, plus a 3-5 Hz rhythm of ~150 µV when seizure."""
    white = rng.normal(0, 1, n_samples)
    bg = np.cumsum(white) - np.convolve(np.cumsum(white), np.ones(50) / 50, mode="same")
    x = 20 * bg / (bg.std() + 1e-9)
    if seizure:
        t = np.arange(n_samples) / fs_hz
        f = rng.uniform(3, 5)
        x = x + 150 * np.sign(np.sin(2 * np.pi * f * t + rng.uniform(0, 6))) * np.abs(np.sin(2 * np.pi * f * t)) ** 3
    return x.astype(np.float32)


@pytest.fixture(scope="session")
def tiny_hp():
    from train.hparams import load

    return load(TINY_TOML)


@pytest.fixture(scope="session")
def synth_records():
    """24 synthetic single-channel recordings (half seizure), 8 s each at 250 Hz, two sources."""
    from train.datasets.records import Record

    rng = np.random.default_rng(7)
    recs = []
    for i in range(24):
        sz = i % 2 == 1
        x = synth_eeg(2000, sz, rng)
        src = "edf" if i < 16 else "nscnd"
        rid = f"{src}/rec{i:02d}"
        recs.append(Record(rid, rid, x, np.full(x.shape, int(sz), np.int8), src, "seizure" if sz else "background"))
    return recs


@pytest.fixture(scope="session")
def synth_windows():
    """(x float32 [32, 1024] µV, y int32 [32]) synthetic windows, half seizure."""
    rng = np.random.default_rng(3)
    y = np.arange(32) % 2
    x = np.stack([synth_eeg(1024, bool(v), rng) for v in y])
    return x, y.astype(np.int32)
