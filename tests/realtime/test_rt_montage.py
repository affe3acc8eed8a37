"""realtime.montage: labels of real archives read into electrodes; bipolar and average re-referencing
cancel the common mode exactly and leave a broken electrode out without contaminating the rest."""

from __future__ import annotations

from pathlib import Path

import edfio
import numpy as np
import pytest

from realtime.montage import DOUBLE_BANANA, MIN_AVERAGE_ELECTRODES, Lead, Montage, parse_label
from realtime.recordings import read_recording

CHBMIT_SEIZURE_EDF = Path(__file__).resolve().parents[2] / "realtime" / "data" / "chbmit" / "chb01_03_Seizure.edf"

# 19 electrodes of the 10-20 system in TUH's channel order, modern names
MODERN19 = [
    "Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8", "T7", "T8", "P7", "P8", "Fz", "Cz", "Pz",
]  # fmt: skip
# TUH's 19 referential EEG channels, in TUH's order and old naming (T3 T4 T5 T6 for T7 T8 P7 P8)
TUH19 = [f"EEG {e.upper()}-REF" for e in MODERN19]
for new, old in (("T7", "T3"), ("T8", "T4"), ("P7", "T5"), ("P8", "T6")):
    TUH19[MODERN19.index(new)] = f"EEG {old}-REF"
BANANA_NAMES = [f"{a}-{b}" for a, b in DOUBLE_BANANA]
N_SAMPLES = 1250  # 5 s at 250 Hz (an EDF holds whole 1-s records)
ALL = np.ones(19, dtype=bool)


def brain(seed: int = 0) -> dict[str, np.ndarray]:
    """A known signal per electrode (µV): noise plus an electrode's own offset, so a swapped sign shows."""
    rng = np.random.default_rng(seed)
    return {e: 30.0 * rng.standard_normal(N_SAMPLES) + 7.0 * i for i, e in enumerate(MODERN19)}


def stack(signals: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([signals[e] for e in MODERN19])  # [19, N_SAMPLES] in TUH19 order


def common_mode() -> np.ndarray:
    t = np.arange(N_SAMPLES) / 250.0
    return 800.0 * np.sin(2 * np.pi * 1.3 * t) + 40.0 * t + 300.0  # slow, large, identical on every electrode


@pytest.mark.parametrize(
    "label, lead",
    [
        ("EEG FP1-LE", Lead("Fp1", "LE", False)),  # TUH, linked ears
        ("EEG T3-REF", Lead("T7", "REF", False)),  # old name T3 -> T7
        ("EEG T4-REF", Lead("T8", "REF", False)),
        ("EEG T5-AR", Lead("P7", "AR", False)),  # TUH averaged reference; T5 -> P7
        ("EEG T6-LE", Lead("P8", "LE", False)),
        ("EEG FP1-AR", Lead("Fp1", "AR", False)),
        ("EEG Fp1-Ref", Lead("Fp1", "REF", False)),
        ("EEG A1-REF", Lead("A1", "REF", False)),  # an ear electrode (a reference site)
        ("POL Fp1", Lead("Fp1", "", False)),  # Nihon Kohden
        ("Fp1", Lead("Fp1", "", False)),
        ("FP1", Lead("Fp1", "", False)),
        (" FZ  ", Lead("Fz", "", False)),  # EDF pads labels with spaces
        ("Fc5.", Lead("FC5", "", False)),  # BCI2000 pads to four characters with dots
        ("C3..", Lead("C3", "", False)),
        ("Fpz.", Lead("Fpz", "", False)),
        ("Tp10", Lead("TP10", "", False)),
        ("Iz..", Lead("Iz", "", False)),
        ("Fp1-A1", Lead("Fp1", "A1", False)),  # ear and mastoid references
        ("C4-M1", Lead("C4", "M1", False)),
        ("O2-AVG", Lead("O2", "AVG", False)),
        ("EEG Fp1 - Ref", Lead("Fp1", "REF", False)),
        ("FP1-F7", Lead("Fp1", "F7", True)),  # bipolar: two electrodes
        ("T8-P8", Lead("T8", "P8", True)),
        ("EEG Fpz-Cz", Lead("Fpz", "Cz", True)),  # Sleep-EDF
        ("FZ-CZ", Lead("Fz", "Cz", True)),
        ("T3-T5", Lead("T7", "P7", True)),
        ("ECG", None),
        ("EEG EKG-LE", None),  # an ECG lead labelled EEG
        ("ECG ECG", None),
        ("ch0", None),
        ("DC1-DC", None),
        ("EEG", None),
        ("", None),
        ("-", None),
        ("PHOTIC-REF", None),
        ("EEG T1-REF", None),  # anterior temporal, not 10-10
        ("Fp1-XX", None),
        ("T8-P8-0", None),
    ],
)
def test_parse_label(label, lead):
    assert parse_label(label) == lead


def test_output_labels_are_modern_and_read_back_as_what_they_are():
    avg = Montage(TUH19, "average")  # outputs in 10-10 order, front to back
    order = "Fp1 Fp2 F7 F3 Fz F4 F8 T7 C3 Cz C4 T8 P7 P3 Pz P4 P8 O1 O2"
    assert (avg.applied, " ".join(avg.names)) == ("average", order.replace(" ", "-AVG ") + "-AVG")
    for kind, bipolar in (("bipolar", True), ("average", False)):
        leads = [parse_label(n) for n in Montage(TUH19, kind).names]
        assert all(lead is not None and lead.bipolar is bipolar for lead in leads)


def test_bipolar_double_banana_from_tuh_labels_exact_with_signs():
    sig = brain()
    labels = [*TUH19, "EEG A1-REF", "EEG EKG-REF"]
    x = np.concatenate([stack(sig), 50.0 * np.ones((2, N_SAMPLES))])
    m = Montage(labels, "bipolar")
    assert (m.applied, m.reason, m.skipped) == ("bipolar", "", [])
    assert m.names == BANANA_NAMES and m.n_out == 18 and m.n_in == 21
    assert m.unused == ["EEG A1-REF", "EEG EKG-REF"]
    y = m.apply(x, np.ones(21, dtype=bool))
    for name, row in zip(m.names, y, strict=True):
        a, b = name.split("-")
        np.testing.assert_array_equal(row, sig[a] - sig[b])  # exactly, and Fp1-F7 is Fp1 - F7, not F7 - Fp1
    np.testing.assert_array_equal(m.matrix.sum(axis=1), 0.0)
    assert m.matrix[0, labels.index("EEG FP1-REF")] == 1.0 and m.matrix[0, labels.index("EEG F7-REF")] == -1.0
    np.testing.assert_allclose(m.matrix @ x, y, atol=1e-12)
    assert "18 of 18" in m.describe() and "EEG EKG-REF" in m.describe()


def test_common_mode_vanishes_from_bipolar_and_average_not_from_as_recorded():
    clean = stack(brain())
    x = clean + common_mode()  # the same large signal on every referential channel
    cm_rms = np.sqrt(np.mean(common_mode() ** 2))
    for kind in ("bipolar", "average"):
        m = Montage(TUH19, kind)
        residual = m.apply(x, ALL) - m.apply(clean, ALL)
        assert np.sqrt(np.mean(residual**2)) < 1e-12 * cm_rms, kind
    residual = Montage(TUH19, "as_recorded").apply(x, ALL) - clean
    np.testing.assert_allclose(np.sqrt(np.mean(residual**2)), cm_rms)  # as recorded, every channel carries it
    np.testing.assert_allclose(Montage(TUH19, "average").apply(x, ALL).sum(axis=0), 0.0, atol=1e-9)


def test_average_common_adds_the_mean_that_the_average_takes_away():
    """``average_common``: the average's 19 channels and, last, AVG, the mean of the scalp electrodes as recorded:
    a signal common to every electrode, gone from the others, is all there; the matrix gives the same; a flagged
    electrode is left out of the mean and of its own channel; the common mode has no training terms."""
    clean = stack(brain())
    x = clean + common_mode()
    ac = Montage([*TUH19, "EEG EKG-REF"], "average_common")
    assert ac.applied == "average_common" and ac.common == (19,) and ac.names[-1] == "AVG" and ac.n_out == 20
    assert ac.names[:19] == Montage(TUH19, "average").names and ac.unused == ["EEG EKG-REF"]
    assert ac.describe().startswith("common average of 19 scalp electrodes and their mean (AVG: the whole bed)")
    usable = np.ones(20, dtype=bool)
    y = ac.apply(np.vstack([x, np.zeros(N_SAMPLES)]), usable)
    np.testing.assert_allclose(y[:19], Montage(TUH19, "average").apply(x, ALL), atol=1e-12)
    np.testing.assert_allclose(y[19], x.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(y[19] - clean.mean(axis=0), common_mode(), atol=1e-9)  # the common signal, whole
    np.testing.assert_allclose(ac.matrix @ np.vstack([x, np.zeros(N_SAMPLES)]), y, atol=1e-9)
    f7 = MODERN19.index("F7")
    usable[f7] = False
    y = ac.apply(np.vstack([x, np.zeros(N_SAMPLES)]), usable)
    out = ac.names.index("F7-AVG")
    assert np.isnan(y[out]).all() and np.isfinite(np.delete(y, out, axis=0)).all()
    np.testing.assert_allclose(y[19], np.delete(x, f7, axis=0).mean(axis=0), atol=1e-12)
    assert ac.reasons_out([None if u else "railed" for u in usable])[18:] == [None, None]
    one = np.zeros(20, dtype=bool)
    one[3] = True  # one electrode: no average, no mean
    assert not ac.usable_out(one).any()
    reasons = ac.reasons_out([None if u else "flat" for u in one])
    assert [reasons[ac.names.index("F4-AVG")], reasons[19]] == [  # F4: input 3, the one usable
        "fewer than 2 usable electrodes for the average",
        "fewer than 2 usable electrodes for its mean",
    ]
    with pytest.raises(ValueError, match="average_common's means for the whole bed have no terms"):
        _ = ac.terms
    assert Montage(TUH19[:7], "average_common").applied == "as_recorded"  # 7 electrodes: as the average
    assert Montage(TUH19, "average").common == () and Montage(TUH19, "bipolar").common == ()


def test_average_hemispheres_adds_each_sides_mean():
    """``average_hemispheres``: the average's 19 channels and, last, AVG-L and AVG-R, the means as recorded of the 8
    electrodes numbered odd and even (the midline in neither): a field over the left side, which the average halves,
    is whole in AVG-L and absent from AVG-R; the matrix gives the same; a flagged electrode leaves its side's mean;
    a side of fewer than 2 electrodes has no mean (skipped, said); no training terms."""
    clean = stack(brain())
    left = [e for e in MODERN19 if e[-1] in "13579"]
    assert len(left) == 8 and {"Fp1", "F7", "T7", "P7", "O1"} <= set(left)
    field = np.array([1.0 if e in left else 0.0 for e in MODERN19])[:, None] * common_mode()
    x = clean + field
    ah = Montage([*TUH19, "EEG EKG-REF"], "average_hemispheres")
    assert ah.applied == "average_hemispheres" and ah.common == (19, 20) and ah.names[19:] == ["AVG-L", "AVG-R"]
    assert ah.names[:19] == Montage(TUH19, "average").names and ah.unused == ["EEG EKG-REF"]
    assert ah.describe().startswith(
        "common average of 19 scalp electrodes and each hemisphere's mean (AVG-L, AVG-R: the whole bed)"
    )
    xin = np.vstack([x, np.zeros(N_SAMPLES)])
    usable = np.ones(20, dtype=bool)
    y = ah.apply(xin, usable)
    np.testing.assert_allclose(y[:19], Montage(TUH19, "average").apply(x, ALL), atol=1e-12)
    is_left = np.array([e in left for e in MODERN19])
    is_right = np.array([e[-1] in "02468" for e in MODERN19])
    np.testing.assert_allclose(y[19] - clean[is_left].mean(axis=0), common_mode(), atol=1e-9)  # the field, whole
    np.testing.assert_allclose(y[20], clean[is_right].mean(axis=0), atol=1e-9)  # none of it on the right
    np.testing.assert_allclose(ah.matrix @ xin, y, atol=1e-9)
    f7 = MODERN19.index("F7")
    usable[f7] = False
    y = ah.apply(xin, usable)
    np.testing.assert_allclose(y[19], x[is_left & (np.arange(19) != f7)].mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(ah.matrix_for(usable) @ np.where(usable[:, None], xin, 0.0), y, atol=1e-9)
    only_one_left = usable & ~np.append(is_left, False)
    only_one_left[MODERN19.index("O1")] = True
    assert ah.usable_out(only_one_left)[19:].tolist() == [False, True]
    reasons = ah.reasons_out([None if u else "flat" for u in only_one_left])
    assert reasons[19:] == ["fewer than 2 usable electrodes for its mean", None]
    with pytest.raises(ValueError, match="average_hemispheres's means for the whole bed have no terms"):
        _ = ah.terms
    # the left side reduced to Fp1: 9 scalp electrodes, an average, and only the right side's mean
    few_left = [n for n, e in zip(TUH19, MODERN19, strict=True) if e not in left or e == "Fp1"]
    lopsided = Montage(few_left, "average_hemispheres")
    assert lopsided.applied == "average_hemispheres" and lopsided.names[-1] == "AVG-R" and len(lopsided.common) == 1
    assert "skipped AVG-L (fewer than 2 electrodes: ['Fp1'])" in lopsided.describe()
    # 64 BCI2000 electrodes: each side's mean over all of its positions
    bci = Montage(["Fc5.", "Fc3.", "Fc1.", "Fcz.", "Fc2.", "C6..", "Cz..", "Af10"], "average_hemispheres")
    np.testing.assert_allclose(
        bci.matrix[-2:] * 3,
        [[1, 1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 0, 1]],  # Fcz, Cz: the midline
    )


def test_one_broken_electrode_is_left_out_and_contaminates_nothing():
    sig = brain()
    x = stack(sig)
    f7 = MODERN19.index("F7")
    x[f7] = 3400.0 * np.sign(np.sin(np.arange(N_SAMPLES)))  # broken, railed at 3400 µV
    usable = ALL.copy()
    usable[f7] = False  # flagged by the pipeline's channel_quality

    bip = Montage(TUH19, "bipolar")
    y = bip.apply(x, usable)
    broken = [n for n in bip.names if "F7" in n.split("-")]
    assert broken == ["Fp1-F7", "F7-T7"]
    np.testing.assert_array_equal(bip.usable_out(usable), [n not in broken for n in bip.names])
    reasons_in = [None if u else "railed" for u in usable]
    assert bip.reasons_out(reasons_in) == [("EEG F7-REF: railed" if n in broken else None) for n in bip.names]
    for name, row in zip(bip.names, y, strict=True):
        a, b = name.split("-")
        if name in broken:
            assert np.isnan(row).all()
        else:
            np.testing.assert_array_equal(row, sig[a] - sig[b])

    avg = Montage(TUH19, "average")
    y = avg.apply(x, usable)
    assert np.isnan(y[avg.names.index("F7-AVG")]).all()
    assert avg.usable_out(usable).tolist() == [n != "F7-AVG" for n in avg.names]
    others = [e for e in MODERN19 if e != "F7"]
    mean = np.mean([sig[e] for e in others], axis=0)  # the average over the 18 good electrodes
    for e in others:
        np.testing.assert_allclose(y[avg.names.index(f"{e}-AVG")], sig[e] - mean, atol=1e-9)
    # the same as a recording without F7 at all
    without = Montage([n for n in TUH19 if n != "EEG F7-REF"], "average")
    np.testing.assert_allclose(y[avg.usable_out(usable)], without.apply(np.delete(x, f7, 0), ALL[:18]), atol=1e-9)
    # the matrix for linear use gives the same
    m = avg.matrix_for(usable)
    assert np.isnan(m[avg.names.index("F7-AVG")]).all() and (m[:, f7][avg.usable_out(usable)] == 0).all()
    np.testing.assert_allclose(m @ np.where(usable[:, None], x, 0.0), y, atol=1e-9)


def test_non_finite_samples_count_as_unusable_and_one_electrode_is_no_average():
    x = stack(brain())
    x[0, 5] = np.nan  # Fp1, although marked usable
    y = Montage(TUH19, "bipolar").apply(x, ALL)
    nan_rows = [n for n, row in zip(BANANA_NAMES, y, strict=True) if np.isnan(row).all()]
    assert nan_rows == ["Fp1-F7", "Fp1-F3"] and np.isfinite(np.delete(y, [0, 4], axis=0)).all()
    avg = Montage(TUH19, "average")
    one = np.zeros(19, dtype=bool)
    one[3] = True
    assert not avg.usable_out(one).any() and np.isnan(avg.apply(stack(brain()), one)).all()
    reasons = avg.reasons_out([None if u else "flat" for u in one])
    assert reasons[avg.names.index("F4-AVG")] == "fewer than 2 usable electrodes for the average"
    assert reasons[avg.names.index("Fp1-AVG")] == "EEG FP1-REF: flat"


def test_already_bipolar_chbmit_stays_as_recorded_with_the_reason():
    rec = read_recording(CHBMIT_SEIZURE_EDF)  # the shipped CHB-MIT excerpt: 23 bipolar, T8-P8 twice
    assert rec.ch_names.count("T8-P8") == 2
    for kind in ("bipolar", "average"):
        m = Montage(rec.ch_names, kind)
        assert m.applied == "as_recorded" and m.names == rec.ch_names and m.unused == []
        assert m.reason.startswith("already bipolar: 23 of 23 labels") and "FP1-F7" in m.reason
        assert m.describe().startswith(f"as recorded ({kind} asked: already bipolar")
        assert m.fell_back == (kind == "average")  # bipolar asked of a bipolar recording: what was asked
        np.testing.assert_array_equal(m.matrix, np.eye(23))
        np.testing.assert_array_equal(m.apply(rec.data, np.ones(23, dtype=bool)), rec.data)
    sleep = Montage(["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal"], "average")
    assert sleep.applied == "as_recorded" and "2 of 3" in sleep.reason


@pytest.mark.parametrize(
    "labels, kind, reason",
    [
        (["EEG FP1-REF", "EEG EKG-REF", "DC1-DC"], "bipolar", "no derivation of the double banana has both"),
        (["Fp1", "O2", "ECG"], "bipolar", "no derivation of the double banana has both electrodes (electrodes: "),
        (["EEG CZ-REF", "EEG A1-REF", "ECG"], "average", "fewer than 8 scalp electrodes"),
        (["ch0", "ch1", "ch2"], "average", "fewer than 8 scalp electrodes"),
        (["Fp1", "C3", "O1"], "average", "fewer than 8 scalp electrodes"),  # two of them would be one signal twice
    ],
)
def test_too_few_electrodes_stays_as_recorded_with_the_reason(labels, kind, reason):
    m = Montage(labels, kind)
    assert m.applied == "as_recorded" and m.names == labels and reason in m.reason
    assert m.skipped == [] and m.unused == [] and reason in m.describe() and m.fell_back
    x = np.arange(3 * 10, dtype=float).reshape(3, 10)
    usable = np.array([True, False, True])
    y = m.apply(x, usable)
    np.testing.assert_array_equal(y[usable], x[usable])
    assert np.isnan(y[1]).all()


def test_missing_electrodes_are_skipped_and_listed_unused_inputs_named():
    labels = [n for n in TUH19 if n not in ("EEG FZ-REF", "EEG CZ-REF")] + ["ECG"]
    m = Montage(labels, "bipolar")
    assert m.applied == "bipolar" and m.n_out == 16
    assert m.skipped == ["Fz-Cz (no Fz, Cz)", "Cz-Pz (no Cz)"]
    assert m.unused == ["EEG PZ-REF", "ECG"]  # Pz is in no derivation left
    assert "16 of 18" in m.describe() and "Fz-Cz (no Fz, Cz)" in m.describe()
    two = Montage(["Fp1", "F7", "ECG"], "bipolar")
    assert two.names == ["Fp1-F7"] and len(two.skipped) == 17 and two.unused == ["ECG"]


def test_a_common_average_needs_8_scalp_electrodes():
    seven = ["EEG FP1-REF", "EEG FP2-REF", "EEG C3-REF", "EEG C4-REF", "EEG O1-REF", "EEG O2-REF", "EEG CZ-REF"]
    assert Montage(seven, "average").applied == "as_recorded"
    assert Montage([*seven, "EEG A1-REF", "EEG EKG-REF"], "average").applied == "as_recorded"  # an ear is not scalp
    eight = Montage([*seven, "EEG PZ-REF"], "average")
    assert eight.applied == "average" and len(eight.names) == 8 and MIN_AVERAGE_ELECTRODES == 8


def test_different_references_are_not_mixed():
    labels = ["Fp1-A1", "F7-A1", "T3-A1", "Fp2-A2", "F8-A2", "Fz-A1", "Cz-A2", "O1-A1", "O2-A2"]
    m = Montage(labels, "bipolar")
    assert m.names == ["Fp1-F7", "F7-T7", "Fp2-F8"]
    assert "Fz-Cz (references differ: 'A1', 'A2')" in m.skipped
    avg = Montage(labels, "average")
    assert avg.applied == "as_recorded" and "different references (['A1', 'A2'])" in avg.reason


def test_bipolar_on_a_real_edf_in_tuh_layout(tmp_path):
    """The labels as edfio writes and read_recording reads them (padded, TUH `-LE`, an ECG lead)."""
    sig = brain(1)
    x = stack(sig) + common_mode()
    labels = [n.replace("-REF", "-LE") for n in TUH19]
    signals = [edfio.EdfSignal(row, 250, label=n, physical_dimension="uV") for n, row in zip(labels, x, strict=True)]
    ecg = 500.0 * np.sin(np.arange(N_SAMPLES) / 9.0)
    signals.append(edfio.EdfSignal(ecg, 250, label="EEG EKG-LE", physical_dimension="uV"))
    path = tmp_path / "tuh.edf"
    edfio.Edf(signals).write(path)
    rec = read_recording(path)
    m = Montage(rec.ch_names, "bipolar")
    assert m.names == BANANA_NAMES and m.unused == ["EEG EKG-LE"]
    y = m.apply(rec.data[:, :N_SAMPLES], np.ones(20, dtype=bool))
    for name, row in zip(m.names, y, strict=True):
        a, b = name.split("-")
        np.testing.assert_allclose(row, sig[a] - sig[b], atol=0.1)  # EDF's 16-bit quantisation, 800 µV gone


def test_a_referential_file_is_scored_with_the_sides_means_by_default_and_as_recorded_when_asked(tmp_path, toy_export):
    """The built-in default (no config, no flag) on a TUH-style file: the 19 scalp electrodes less their mean and each
    hemisphere's mean, the ECG lead left out (docs/background.md "Each hemisphere's mean as a channel for the whole
    bed"); asked as recorded: the 19 as they come; a bipolar file (CHB-MIT) stays as recorded either way."""
    import dataclasses

    from realtime.config import apply_model_settings, build_config
    from realtime.model import load_detector
    from realtime.offline import recording_pipeline

    sig = brain(2)
    signals = [
        edfio.EdfSignal(r, 250, label=n, physical_dimension="uV") for n, r in zip(TUH19, stack(sig), strict=True)
    ]
    signals.append(edfio.EdfSignal(np.zeros(N_SAMPLES), 250, label="EEG EKG-REF", physical_dimension="uV"))
    edfio.Edf(signals).write(tmp_path / "tuh.edf")
    det = load_detector(toy_export, backend="litert")
    config, src = apply_model_settings(build_config({}), det.settings)
    assert (config.signal.montage, src["signal.montage"]) == ("average_hemispheres", "default")
    pipe = recording_pipeline(read_recording(tmp_path / "tuh.edf"), config, det)
    assert pipe.montage.applied == "average_hemispheres" and pipe.unique_ch_names[-2:] == ["AVG-L", "AVG-R"]
    assert sorted(pipe.unique_ch_names[:-2]) == sorted(f"{e}-AVG" for e in MODERN19)
    recorded = dataclasses.replace(config, signal=dataclasses.replace(config.signal, montage="as_recorded"))
    pipe = recording_pipeline(read_recording(tmp_path / "tuh.edf"), recorded, det)
    assert pipe.montage.applied == "as_recorded" and pipe.unique_ch_names == TUH19
    for cfg in (config, recorded):
        chbmit = recording_pipeline(read_recording(CHBMIT_SEIZURE_EDF), cfg, det)
        assert chbmit.montage.applied == "as_recorded" and chbmit.montage.already_bipolar == (cfg is config)


def test_errors_quote_the_value():
    with pytest.raises(ValueError, match=r"'average_common', 'average_hemispheres', got 'banana'"):
        Montage(TUH19, "banana")
    m = Montage(TUH19, "bipolar")
    with pytest.raises(ValueError, match=r"shape \(19, n_samples\), got \(18, 10\)"):
        m.apply(np.zeros((18, 10)), ALL)
    with pytest.raises(ValueError, match=r"got \(19,\)"):
        m.apply(np.zeros(19), ALL)
    with pytest.raises(ValueError, match=r"bool of shape \(19,\), got bool \(18,\)"):
        m.usable_out(ALL[:18])
    with pytest.raises(ValueError, match="expected 19 input reasons, got 2"):
        m.reasons_out([None, None])
    with pytest.raises(ValueError, match=r"got int64 \(19,\)"):
        m.apply(np.zeros((19, 10)), np.ones(19, dtype=np.int64))


@pytest.mark.parametrize("kind", ["as_recorded", "bipolar", "average"])
def test_terms_describe_the_same_map_as_apply(kind):
    """Training reads a recording's outputs one input at a time from ``terms``: input minus the mean of
    its reference inputs gives what ``apply`` gives with every input usable (here with an ECG lead, which
    no derivation uses, and T3/T5 in their old names)."""
    labels = [*TUH19[:5], "EEG EKG-LE", *TUH19[5:]]
    x = np.random.default_rng(3).normal(0, 30, (len(labels), 500))
    m = Montage(labels, kind)
    by_terms = np.stack([x[i] - (x[list(ref)].mean(axis=0) if ref else 0.0) for i, ref in m.terms])
    np.testing.assert_allclose(by_terms, m.apply(x, np.ones(len(labels), dtype=bool)), atol=1e-12)
    ekg_used = any(labels.index("EEG EKG-LE") in (i, *ref) for i, ref in m.terms)
    assert len(m.terms) == m.n_out and ekg_used == (kind == "as_recorded")  # as recorded: every input
    expected = {"as_recorded": 0, "bipolar": 1, "average": 19}[kind]
    assert {len(ref) for _, ref in m.terms} == {expected}


def test_a_montage_that_cannot_be_formed_is_a_warning_at_the_pipelines_start(caplog):
    """The network then sees channels unlike those it was set for (or trained on): WARNING, not INFO; bipolar asked
    of a bipolar recording, or a montage formed, stays INFO."""
    import logging

    from realtime.config import build_config
    from realtime.pipeline import Pipeline

    class Flat:
        sample_rate_hz, window_samples, model_version, architecture = 250.0, 1024, "x", "x"
        backend, device, settings = "x", "cpu", {}

        def predict(self, w):
            return np.full(len(w), 0.01)

    def levels(names, kind):
        cfg = build_config({"signal": {"montage": kind}})
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="realtime.pipeline"):
            Pipeline(Flat(), sfreq=250.0, ch_names=names, units=["uV"] * len(names), window=cfg.window,
                     decision=cfg.decision, signal=cfg.signal)  # fmt: skip
        return {r.levelname for r in caplog.records if r.getMessage().startswith("montage: ")}

    assert levels(["EEG FP1-REF", "EEG F7-REF", "EEG C3-LE"], "average") == {"WARNING"}  # references differ
    assert levels(["Fp1", "Cz"], "bipolar") == {"WARNING"}  # no derivation of the double banana
    assert levels(["FP1-F7", "F7-T7", "T7-P7"], "bipolar") == {"INFO"}  # already bipolar: what was asked
    assert levels(TUH19, "bipolar") == {"INFO"}


def test_the_built_in_default_falling_back_is_said_at_info_and_a_montage_asked_for_at_warning(toy_export, caplog):
    """The built-in average_hemispheres on a bipolar recording (CHB-MIT) stays as recorded, which is what that default
    does with it: INFO; the same montage asked for by a config file, or a card's montage, falling back: WARNING."""
    import logging

    from realtime.config import build_config, montage_asked
    from realtime.model import load_detector
    from realtime.offline import recording_pipeline

    det = load_detector(toy_export, backend="litert")
    asked = build_config({"signal": {"montage": "average_hemispheres"}})
    assert not montage_asked(build_config({}), det.settings) and montage_asked(asked, det.settings)
    assert montage_asked(build_config({}), {"signal": {"montage": "bipolar"}})  # the card's
    for cfg, level in ((build_config({}), "INFO"), (asked, "WARNING")):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="realtime.pipeline"):
            pipe = recording_pipeline(read_recording(CHBMIT_SEIZURE_EDF), cfg, det)
        assert pipe.montage.applied == "as_recorded" and pipe.montage.fell_back
        said = [r for r in caplog.records if r.getMessage().startswith("montage: as recorded")]
        assert [r.levelname for r in said] == [level]


def test_a_seizure_common_to_every_electrode_alarms_as_recorded_and_with_the_means_not_in_the_average(
    tmp_path, toy_export
):
    """A referential file through the offline pipeline (the toy amplitude model: p(seizure) rises with a window's
    size): 60 s of small EEG, then 30 s of a large 4 Hz rhythm alike on every electrode. As recorded it alarms on
    the electrodes; the average takes it away entirely; average_common alarms on AVG alone (the whole bed), and
    says so in its channels line; average_hemispheres on its two sides' means."""
    import dataclasses

    from realtime.config import apply_model_settings, build_config
    from realtime.model import load_detector
    from realtime.offline import feed, recording_pipeline

    rng = np.random.default_rng(3)
    n, a = 90 * 250, 60 * 250
    common = np.zeros(n)
    common[a:] = 300.0 * np.sin(2 * np.pi * 4.0 * np.arange(n - a) / 250.0)
    signals = [
        edfio.EdfSignal(10.0 * rng.standard_normal(n) + common, 250, label=name, physical_dimension="uV")
        for name in TUH19
    ]
    edfio.Edf(signals).write(tmp_path / "tuh.edf")
    det = load_detector(toy_export, backend="litert")
    config = apply_model_settings(build_config({"signal": {"background_limit_uv": 0}}), det.settings)[0]

    def onsets(montage: str):
        cfg = dataclasses.replace(config, signal=dataclasses.replace(config.signal, montage=montage))
        rec = read_recording(tmp_path / "tuh.edf")
        pipe = recording_pipeline(rec, cfg, det)
        events = [e for w in feed(pipe, rec, cfg.window.hop_s) for e in w.events] + list(pipe.flush())
        return pipe, [(e.publish_time, [pipe.ch_names[c] for c in e.channels]) for e in events if e.kind == "onset"]

    _, recorded = onsets("as_recorded")
    assert len(recorded) == 1 and 60 < recorded[0][0] < 70 and len(recorded[0][1]) == 19
    assert onsets("average")[1] == []
    pipe, common_mode_onsets = onsets("average_common")
    assert len(common_mode_onsets) == 1 and 60 < common_mode_onsets[0][0] < 70
    assert common_mode_onsets[0][1] == ["AVG"]  # the average's 19 channels carry nothing of it
    assert "bed rule (binomial): 3 of 19 channels, or AVG alone" in pipe.channels_detail()
    pipe, sides_onsets = onsets("average_hemispheres")  # each side's mean holds all of it
    assert len(sides_onsets) == 1 and 60 < sides_onsets[0][0] < 70 and set(sides_onsets[0][1]) == {"AVG-L", "AVG-R"}
    assert "bed rule (binomial): 3 of 19 channels, or AVG-L or AVG-R alone" in pipe.channels_detail()
