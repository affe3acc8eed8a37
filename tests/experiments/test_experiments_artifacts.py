"""experiments.artifacts: each artefact is what its docstring says, and the study pairs clean and added windows."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.artifacts import KINDS, RATE_HZ, artifact, study, table

N = 1024


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_artifact_has_its_amplitude_duration_and_band(kind):
    rng = np.random.default_rng(0)
    x = artifact(kind, 100.0, N, rng)
    assert x.shape == (N,) and np.isfinite(x).all()
    active = np.flatnonzero(np.abs(x) > 1e-9)
    seconds = (active[-1] - active[0] + 1) / RATE_HZ
    spectrum = np.abs(np.fft.rfft(x))
    peak_hz = np.fft.rfftfreq(N, 1 / RATE_HZ)[spectrum.argmax()]
    if kind == "pop":
        assert x.max() == pytest.approx(100.0) and x[active[0] + int(0.3 * RATE_HZ)] == pytest.approx(
            100 / np.e, rel=0.02
        )
    elif kind == "blink":
        assert x.max() == pytest.approx(100.0, rel=0.01) and seconds == pytest.approx(0.3, abs=0.01)
    elif kind in ("emg", "chewing"):
        assert 20.0 <= peak_hz <= 100.0 and seconds == pytest.approx(2.0 if kind == "emg" else 3.0, abs=0.35)
        if kind == "emg":
            assert x[active[0] : active[-1] + 1].std() == pytest.approx(100.0, rel=0.01)
    elif kind == "movement":
        assert peak_hz == pytest.approx(2.0, abs=0.3) and np.abs(x).max() <= 100.0
    elif kind == "ecg":  # 4.1 s at 72 beats per minute: 4 or 5 spikes of the amplitude
        peaks = np.flatnonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:]) & (x[1:-1] > 50.0))
        assert len(peaks) in (4, 5) and x.max() == pytest.approx(100.0, rel=0.01)
        assert np.diff(peaks) / RATE_HZ == pytest.approx(60 / 72, abs=0.01)
    else:
        assert peak_hz == pytest.approx(50.0, abs=0.3) and np.abs(x).max() == pytest.approx(100.0, rel=0.01)


def test_an_unknown_kind_is_refused_quoting_it():
    with pytest.raises(ValueError, match="got 'sneeze'"):
        artifact("sneeze", 1.0, N, np.random.default_rng(0))


class StdDetector:
    """p = 1 when a window's standard deviation is over 60 µV: an amplitude meter, for the bookkeeping."""

    def predict(self, w):
        return (np.asarray(w).std(axis=1) > 60.0).astype(np.float64)


def test_study_scores_the_same_windows_clean_and_with_each_artifact():
    windows = np.random.default_rng(1).normal(0, 20, (30, N)).astype(np.float32)
    res = study(StdDetector(), windows, kinds={"mains": (20.0, 200.0), "blink": (100.0,)})
    assert res["windows"] == 30 and res["clean"]["p_ge_0.6"] == 0.0
    assert res["mains"]["20"]["p_ge_0.6"] == 0.0 and res["mains"]["200"]["p_ge_0.6"] == 1.0  # 141 µV rms
    assert res["mains"]["200"]["mean_p_change"] == 1.0
    assert "| mains | 200 | 100.00 % |" in table(res)
