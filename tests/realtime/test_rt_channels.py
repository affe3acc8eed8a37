"""realtime.channels: which channels are scored, and the reason for every one left out (pure rules)."""

from __future__ import annotations

import pytest

from realtime.channels import (
    ChannelInfo,
    describe_left_out,
    eeg_rate_hz,
    label_reason,
    rate_reason,
    select_channels,
)

# The 10-20/10-10 electrodes as archives write them: no convention may claim one of them.
_1010 = (
    "Fp1 Fpz Fp2 AF7 AF3 AFz AF4 AF8 F9 F7 F5 F3 F1 Fz F2 F4 F6 F8 F10 FT9 FT7 FC5 FC3 FC1 FCz FC2 FC4 FC6 FT8 "
    "FT10 T9 T7 C5 C3 C1 Cz C2 C4 C6 T8 T10 TP9 TP7 CP5 CP3 CP1 CPz CP2 CP4 CP6 TP8 TP10 P9 P7 P5 P3 P1 Pz P2 P4 "
    "P6 P8 P10 PO9 PO7 PO3 POz PO4 PO8 PO10 O9 O1 Oz O2 O10 Iz Nz A1 A2 M1 M2 T1 T2 T3 T4 T5 T6 Sp1 Sp2"
)
ELECTRODES_1010 = tuple(_1010.split())
EEG_LABELS = [
    *ELECTRODES_1010,
    *(e.upper() for e in ELECTRODES_1010),
    "EEG FP1-LE",  # TUH, linked ears
    "EEG T3-REF",
    "EEG FP1-AR",
    "POL Fp1",  # Nihon Kohden
    "Fc5.",  # BCI2000 (eegmmidb)
    "C3..",
    "FP1-F7",  # CHB-MIT bipolar
    "T8-P8",
    "EEG Fpz-Cz",  # Sleep-EDF
    "EEG",  # a single channel named after its type
    "ch0",
]


@pytest.mark.parametrize("label", EEG_LABELS)
def test_electrodes_are_eeg(label):
    assert label_reason(label) is None
    assert select_channels([ChannelInfo(label, unit="uV", type="EEG")]).scored == (0,)


@pytest.mark.parametrize(
    "label, names",
    [
        ("EEG EKG-LE", "an ECG lead"),
        ("EEG EKG1-REF", "an ECG lead"),
        ("ECG", "an ECG lead"),
        ("ECG ECG", "an ECG lead"),
        ("ECG V1", "an ECG lead"),  # EDF+ "type sensor": the type prefix names the signal
        ("EMG EMG", "an EMG lead (muscle, chin, leg)"),
        ("EMG-REF", "an EMG lead (muscle, chin, leg)"),
        ("EMG submental", "an EMG lead (muscle, chin, leg)"),
        ("Chin1-Chin2", "an EMG lead (muscle, chin, leg)"),
        ("LLEG1-LLEG2", "an EMG lead (muscle, chin, leg)"),
        ("EOG horizontal", "an EOG (eye) lead"),
        ("EEG LOC-REF", "an EOG (eye) lead"),
        ("ROC-A1", "an EOG (eye) lead"),
        ("DC1-DC", "a DC-coupled auxiliary input"),
        ("POL DC03", "a DC-coupled auxiliary input"),
        ("PHOTIC-LE", "a photic stimulator"),
        ("Resp oro-nasal", "a respiration signal"),
        ("RESP1-REF", "a respiration signal"),
        ("SpO2", "an oxygen saturation signal"),
        ("SaO2", "an oxygen saturation signal"),
        ("Pulse", "a pulse signal"),
        ("PLETH", "a pulse signal"),
        ("HR", "a heart rate"),
        ("EEG PR", "a pulse rate"),  # Nihon Kohden
        ("Pos", "a body position sensor"),  # Natus (sleep)
        ("Body position", "a body position sensor"),
        ("IBI", "a trend signal computed by the recorder"),
        ("BURSTS", "a trend signal computed by the recorder"),
        ("SUPPR", "a trend signal computed by the recorder"),
        ("Temp rectal", "a temperature"),
        ("EDF Annotations", "EDF+ annotations"),
        ("Event marker", "an event, marker or trigger channel"),
        ("STI 014", "an event, marker or trigger channel"),
        ("Status", "an event, marker or trigger channel"),
        ("TRIGGER", "an event, marker or trigger channel"),
        ("EEG Mark1", "an event, marker or trigger channel"),  # Nihon Kohden
        ("EEG Events/Markers", "an event, marker or trigger channel"),
        ("VNS", "a vagus nerve stimulator"),
    ],
)
def test_label_conventions_say_what_a_label_names(label, names):
    assert label_reason(label) == f"label {label!r} names {names}"
    # even where the source types every channel EEG
    sel = select_channels([ChannelInfo("Cz", type="EEG"), ChannelInfo(label, unit="uV", type="EEG")])
    assert sel.scored == (0,) and sel.left_out == {label: f"label {label!r} names {names}"}


@pytest.mark.parametrize("label", ["--", "-", "", " "])
def test_placeholder_labels_are_left_out(label):
    sel = select_channels([ChannelInfo("Cz"), ChannelInfo(label)])
    assert sel.left_out == {label: f"label {label!r} names no channel (a placeholder)"}


@pytest.mark.parametrize("kind", ["EEG", "eeg", "SEEG", "ECoG", "", " "])
def test_eeg_like_or_unknown_types_are_candidates(kind):
    assert select_channels([ChannelInfo("C3", type=kind)]).scored == (0,)


@pytest.mark.parametrize("kind", ["ECG", "EMG", "EOG", "MISC", "STIM", "RESP", "bio"])
def test_other_types_are_left_out(kind):
    sel = select_channels([ChannelInfo("C3", type=kind), ChannelInfo("C4", type="EEG")])
    assert sel.scored == (1,) and sel.left_out == {"C3": f"type {kind!r} in the stream metadata"}


def test_units_transducers_and_assumed_microvolts():
    infos = [
        ChannelInfo("Fp1", unit="uV"),
        ChannelInfo("Fp2", unit="mV"),
        ChannelInfo("C3", unit=""),  # no unit: assumed µV, scored
        ChannelInfo("C4", unit=None),
        ChannelInfo("Cz", unit="%"),
        ChannelInfo("Pz", unit="bpm"),
        ChannelInfo("O1", unit="uV", transducer="Ag-AgCl electrodes"),
        ChannelInfo("Nasal", unit="", transducer="Oral-nasal thermistors"),
        ChannelInfo("X1", unit="", transducer="Marker button"),
    ]
    sel = select_channels(infos)
    assert sel.scored == (0, 1, 2, 3, 6)
    assert sel.left_out == {
        "Cz": "unit '%' is not a voltage",
        "Pz": "unit 'bpm' is not a voltage",
        "Nasal": "label 'Nasal' names a respiration signal",
        "X1": "transducer 'Marker button' names a marker button, not an EEG electrode",
    }


def test_rates_inside_one_recording():
    infos = [
        *(ChannelInfo(f"DC{i}-DC", unit="mV", rate_hz=500.0) for i in range(1, 4)),
        *(ChannelInfo(n, unit="uV", rate_hz=250.0) for n in ("EEG C3-REF", "EEG C4-REF")),
        ChannelInfo("EEG Cz-REF", unit="uV", rate_hz=500.0),
        ChannelInfo("SUPPR", unit="%", rate_hz=1.0),
        ChannelInfo("Pz", unit="uV", rate_hz=1.0),
        ChannelInfo("ECG", unit="mV", rate_hz=1000.0),
    ]
    # the DC inputs are the most common rate, but not EEG: the EEG rate comes from the EEG channels
    assert eeg_rate_hz(infos) == 250.0
    assert eeg_rate_hz([ChannelInfo("A", rate_hz=256.0), ChannelInfo("B", rate_hz=512.0)]) == 512.0  # tie: highest
    assert eeg_rate_hz([ChannelInfo("ECG", rate_hz=128.0)]) == 128.0  # no EEG at all: the voltage signals' rate
    assert eeg_rate_hz([ChannelInfo("A")]) is None
    assert rate_reason(infos[7], 250.0) == "sampled at 1 Hz (the EEG at 250 Hz)"
    assert rate_reason(infos[5], 250.0) is None  # EEG at >= 100 Hz: resampled, not left out
    assert rate_reason(infos[8], 250.0) == "label 'ECG' names an ECG lead"
    sel = select_channels(infos, eeg_rate_hz=250.0)
    assert [infos[i].label for i in sel.scored] == ["EEG C3-REF", "EEG C4-REF", "EEG Cz-REF"]
    assert sel.left_out["SUPPR"] == "unit '%' is not a voltage"
    assert sel.left_out["Pz"] == "sampled at 1 Hz (the EEG at 250 Hz)"


def test_include_and_exclude_patterns():
    infos = [ChannelInfo(n) for n in ("EEG FP1-LE", "EEG T3-LE", "EEG 26-LE", "X1", "eeg c3-le")]
    sel = select_channels(infos, include=["EEG *"], exclude=["*26*", "EEG T?-*"])
    assert [infos[i].label for i in sel.scored] == ["EEG FP1-LE", "eeg c3-le"]  # fnmatch, any case
    assert sel.left_out == {
        "EEG T3-LE": "excluded by pattern 'EEG T?-*'",
        "EEG 26-LE": "excluded by pattern '*26*'",
        "X1": "not matched by stream.include ['EEG *']",
    }
    # the conventions still apply to what include lets through
    sel = select_channels([ChannelInfo("EEG EKG-LE"), ChannelInfo("EEG C3-LE")], include=["EEG*"])
    assert sel.scored == (1,) and sel.left_out == {"EEG EKG-LE": "label 'EEG EKG-LE' names an ECG lead"}


def test_exact_channels_are_scored_as_asked_even_when_conventions_say_not_eeg():
    infos = [
        ChannelInfo("T8-P8"),
        ChannelInfo("ECG", unit="mV", type="ECG"),
        ChannelInfo("C3"),
        ChannelInfo("T8-P8"),
        ChannelInfo("SpO2", unit="%"),
    ]
    sel = select_channels(infos, channels=["ECG", "T8-P8#2", "C3"], exclude=["C*"], include=["nothing"])
    assert sel.scored == (1, 3, 2) and sel.keys == ("T8-P8", "ECG", "C3", "T8-P8#2", "SpO2")
    assert sel.left_out == {"T8-P8": "not in stream.channels", "SpO2": "not in stream.channels"}
    with pytest.raises(ValueError, match=r"channel\(s\) \['Cz', 'Pz'\] not in the stream; it has \['T8-P8', 'ECG'"):
        select_channels(infos, channels=["C3", "Cz", "Pz"])
    with pytest.raises(ValueError, match=r"channel 'SpO2': unit '%' is not a voltage; the stream has \['T8-P8'"):
        select_channels(infos, channels=["C3", "SpO2"])


def test_repeated_labels_get_distinct_keys_scored_or_not():
    sel = select_channels([ChannelInfo(n) for n in ("FP1-F7", "T8-P8", "--", "T8-P8", "--", "ECG")])
    assert sel.scored == (0, 1, 3) and [sel.keys[i] for i in sel.scored] == ["FP1-F7", "T8-P8", "T8-P8#2"]
    assert list(sel.left_out) == ["--", "--#2", "ECG"]


def test_nothing_left_to_score_names_every_channel_and_why():
    infos = [ChannelInfo("EEG EKG-LE"), ChannelInfo("IBI", unit="s", rate_hz=1.0), ChannelInfo("DC1-DC", type="MISC")]
    with pytest.raises(ValueError, match="no channel left to score") as err:
        select_channels(infos, exclude=["IBI"])
    assert str(err.value) == (
        "no channel left to score: EEG EKG-LE (label 'EEG EKG-LE' names an ECG lead); "
        "IBI (excluded by pattern 'IBI'); DC1-DC (type 'MISC' in the stream metadata)"
    )
    assert describe_left_out({}) == "none"


TUH_ELECTRODES = "FP1 FP2 F3 F4 C3 C4 P3 P4 O1 O2 F7 F8 T3 T4 T5 T6 A1 A2 FZ CZ PZ"
TUH_NAMED = [f"EEG {e}-REF" for e in TUH_ELECTRODES.split(" ")]


def test_numbered_and_extra_inputs_are_left_out_beside_named_electrodes():
    spare = ["EEG 26-REF", "EEG 27-REF", "EEG 32-REF", "EEG X1-REF", "POL 30", "EEG 28-LE", "29"]
    labels = [*TUH_NAMED, *spare, "EEG T1-REF", "EEG SP1-REF"]
    sel = select_channels([ChannelInfo(label, unit="uV") for label in labels])
    assert [labels[i] for i in sel.scored] == [*TUH_NAMED, "EEG T1-REF", "EEG SP1-REF"]
    assert list(sel.left_out) == spare
    assert sel.left_out["EEG 26-REF"] == (
        "label 'EEG 26-REF' names a numbered or extra amplifier input, not a scalp electrode "
        "(the recording has 21 named ones)"  # T1 and SP1 are not 10-10 positions: kept, not counted
    )


@pytest.mark.parametrize(
    "labels",
    [
        [str(i) for i in range(1, 65)],  # a cap of numbered electrodes only
        [*(f"E{i}" for i in range(1, 129)), "Cz"],  # a high-density net's own names and its reference
        [*TUH_NAMED[:7], "EEG 26-REF"],  # too few named electrodes to say what the montage is
    ],
)
def test_numbered_inputs_are_scored_where_they_are_the_montage(labels):
    sel = select_channels([ChannelInfo(label, unit="uV") for label in labels])
    assert len(sel.scored) == len(labels) and sel.left_out == {}


def test_exact_channels_still_score_a_numbered_input():
    labels = [*TUH_NAMED, "EEG 26-REF"]
    sel = select_channels([ChannelInfo(label, unit="uV") for label in labels], channels=["EEG 26-REF", "EEG CZ-REF"])
    assert [labels[i] for i in sel.scored] == ["EEG 26-REF", "EEG CZ-REF"]
