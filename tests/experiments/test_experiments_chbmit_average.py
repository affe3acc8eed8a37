"""experiments.chbmit_average: bipolar derivations that connect their electrodes give back the electrodes' common
average exactly (the midline chain, joined to nothing, left out), and the study scores the shipped CHB-MIT excerpts
in each form through the daemon's own pipeline (the toy amplitude export on LiteRT)."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.chbmit_average import FILES, FORMS, rebuild_average, study, table
from realtime.recordings import Recording, open_recording

CHBMIT_LABELS = ["FP1-F7", "F7-T7", "T7-P7", "P7-O1", "FP1-F3", "F3-C3", "C3-P3", "P3-O1", "FP2-F4", "F4-C4"]
CHBMIT_LABELS += ["C4-P4", "P4-O2", "FP2-F8", "F8-T8", "T8-P8", "P8-O2", "FZ-CZ", "CZ-PZ", "P7-T7", "T7-FT9"]
CHBMIT_LABELS += ["FT9-FT10", "FT10-T8", "T8-P8"]


def test_the_common_average_of_the_connected_electrodes_comes_back_from_the_derivations():
    electrodes = sorted({e for label in CHBMIT_LABELS for e in label.split("-")})
    potentials = dict(zip(electrodes, np.random.default_rng(0).normal(0, 50, (len(electrodes), 500)), strict=True))
    bipolar = np.array([potentials[a] - potentials[b] for a, b in (label.split("-") for label in CHBMIT_LABELS)])
    r = Recording(data=bipolar, sfreq=256.0, ch_names=list(CHBMIT_LABELS))
    rebuilt, residual = rebuild_average(r)
    connected = [e for e in electrodes if e not in ("FZ", "CZ", "PZ")]  # the midline chain joins none of the others
    assert len(rebuilt.ch_names) == len(connected) == 18 and residual < 1e-9
    mean = np.mean([potentials[e] for e in connected], axis=0)
    for label, x in zip(rebuilt.ch_names, rebuilt.data, strict=True):
        upper = label.removesuffix("-AVG").upper()
        np.testing.assert_allclose(x, potentials[upper] - mean, atol=1e-9)
    assert rebuilt.ch_names[:3] == ["Fp1-AVG", "F7-AVG", "T7-AVG"] and rebuilt.sfreq == 256.0
    with pytest.raises(ValueError, match="no bipolar derivation"):
        rebuild_average(Recording(data=np.zeros((2, 10)), sfreq=256.0, ch_names=["Fp1", "Cz"]))


def test_the_shipped_excerpts_rebuild_within_their_quantisation():
    rebuilt, residual = rebuild_average(open_recording(FILES["seizure"], annotations=False).load())
    assert len(rebuilt.ch_names) == 18 and residual < 1.0  # µV: each derivation was quantised on its own


def test_the_study_scores_each_excerpt_in_each_form(toy_export):
    from realtime.config import build_config
    from realtime.model import load_detector

    det = load_detector(toy_export, backend="litert")  # p(seizure) rises with a window's amplitude (60 µV: 0.5)
    res = study(det, build_config({"decision": {"on_threshold": 0.8, "min_duration_s": 2.0}}))
    assert set(FORMS) <= set(res) and set(res["residual_uv"]) == {"seizure", "non_seizure"}
    assert [res[f]["seizure"]["channels"] for f in FORMS] == [23, 18, 16, 19, 20]  # AVG; AVG-L and AVG-R
    assert res["average"]["seizure"]["montage"] == "as recorded"
    assert res["average_to_bipolar"]["seizure"]["montage"].startswith("bipolar double banana: 16 of 18")
    for form in FORMS:  # the toy reads the seizure's size: an onset in each form, none on the non-seizure excerpt
        assert res[form]["latency_s"] == pytest.approx(res[form]["seizure"]["onsets"][0]["published_s"] - 1.0)
        assert res[form]["latency_s"] > 0 and res[form]["non_seizure"]["onsets"] == []
    assert table(res).count("\n") == 1 + len(FORMS)
