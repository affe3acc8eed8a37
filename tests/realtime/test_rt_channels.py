"""realtime.channels: which channels are scored, and the reason for every one left out (pure rules)."""

from __future__ import annotations

import re

import pytest

from realtime.channels import (
    AUXILIARY_INPUTS,
    AXIS_LABEL,
    LABEL_CONVENTIONS,
    NUMBERED_INPUTS,
    ChannelInfo,
    describe_left_out,
    eeg_rate_hz,
    label_reason,
    rate_reason,
    select_channels,
)
from realtime.montage import OLD_NAMES, REFERENCE_SITES, SCALP

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
        ("E1-M2", "an EOG (eye) lead"),  # the AASM sleep montage (polysomnography, long-term monitoring)
        ("EEG E2-A1", "an EOG (eye) lead"),
        ("LEOG", "an EOG (eye) lead"),
        ("EEG LUC-REF", "an EOG (eye) lead"),  # TUH: left upper and right lower canthus
        ("EEG RLC-REF", "an EOG (eye) lead"),
        ("IO1", "an EOG (eye) lead"),  # BioSemi/EEGLAB: infra-orbital, supra-orbital, outer canthus
        ("SO2", "an EOG (eye) lead"),
        ("LO1", "an EOG (eye) lead"),
        ("Eye L", "an EOG (eye) lead"),
        ("DC1-DC", "a DC-coupled auxiliary input"),
        ("POL DC03", "a DC-coupled auxiliary input"),
        ("PHOTIC-LE", "a photic stimulator"),
        ("Resp oro-nasal", "a respiration signal"),
        ("RESP1-REF", "a respiration signal"),
        ("Therm", "a respiration signal"),  # the oro-nasal airflow thermistor of a sleep recording
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
    # trend signals in µV (a monitor's aEEG at 1 Hz, labels no convention names) or signals of no samples are no
    # EEG rate, however many of them there are; alone, they are still the recording's rate (and refused for it)
    trends = [ChannelInfo(f"aEEG C{i} {m}", unit="uV", rate_hz=1.0) for i in (3, 4) for m in ("max", "min")]
    empty = [ChannelInfo(f"EEG F{i}-REF", unit="uV", rate_hz=0.0) for i in range(1, 9)]
    three = [ChannelInfo(f"EEG {n}", unit="uV", rate_hz=256.0) for n in ("C3-P3", "C4-P4", "P3-P4")]
    assert eeg_rate_hz(trends + three) == eeg_rate_hz(empty + three) == 256.0
    assert eeg_rate_hz(trends) == 1.0
    assert rate_reason(trends[0], 256.0) == "sampled at 1 Hz (the EEG at 256 Hz)"
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


# Every electrode name realtime.montage knows, as archives and apps write it: none may match a label
# convention, a numbered input, an auxiliary input or the axis rule (a new convention that did would
# silently drop a real electrode from every stream that has it).
_MONTAGE_NAMES = (*SCALP, *REFERENCE_SITES, *OLD_NAMES)


def _written(name: str) -> list[str]:
    return [name, name.upper(), name.lower(), f"EEG {name}-REF", f"EEG {name.upper()}-LE", f"POL {name}", f"{name}."]


@pytest.mark.parametrize("name", _MONTAGE_NAMES)
def test_no_electrode_name_matches_any_convention(name):
    patterns = [p for p, _ in (*LABEL_CONVENTIONS, *NUMBERED_INPUTS, *AUXILIARY_INPUTS, AXIS_LABEL)]
    for written in _written(name):
        assert label_reason(written) is None, written
        assert not any(re.fullmatch(p, written, re.IGNORECASE) for p in patterns), written
        tokens = re.findall(r"[0-9A-Za-z]+", written)
        assert not [(p, t) for p in patterns for t in tokens if re.fullmatch(p, t, re.IGNORECASE)], written
    # and a stream of them, with numbered and auxiliary inputs beside it, scores every one
    labels = [name, *(e for e in TUH_ELECTRODES.split(" ") if e != name.upper())]
    sel = select_channels([ChannelInfo(x, unit="uV", type="EEG") for x in [*labels, "EEG 26-REF", "AUX1", "X"]])
    assert set(labels) <= {sel.keys[i] for i in sel.scored}


@pytest.mark.parametrize(
    "label, names",
    [
        ("Counter", "a sample or packet counter"),  # EmotivPRO, Unicorn
        ("COUNTER", "a sample or packet counter"),  # Emotiv Cortex API
        ("SampleCounter", "a sample or packet counter"),  # LiveAmp Connector
        ("PacketCounter", "a sample or packet counter"),  # CGX
        ("Packet Counter", "a sample or packet counter"),
        ("Sample Index", "a sample or packet counter"),  # BrainFlow/OpenBCI CSV
        ("Timestamp", "a timestamp"),  # EmotivPRO
        ("TimeStamp", "a timestamp"),  # Mind Monitor
        ("Battery Level", "a battery level"),  # Unicorn
        ("BatteryPercent", "a battery level"),  # EmotivPRO contact-quality stream
        ("battery", "a battery level"),  # unicorn2lsl
        ("ACC_X", "a motion sensor (accelerometer, gyroscope, magnetometer)"),  # LiveAmp
        ("ACCY", "a motion sensor (accelerometer, gyroscope, magnetometer)"),  # EmotivPRO motion stream
        ("AccZ", "a motion sensor (accelerometer, gyroscope, magnetometer)"),
        ("Acc X", "a motion sensor (accelerometer, gyroscope, magnetometer)"),
        ("accelX", "a motion sensor (accelerometer, gyroscope, magnetometer)"),  # unicorn2lsl
        ("Accelerometer_Y", "a motion sensor (accelerometer, gyroscope, magnetometer)"),  # Mind Monitor
        ("Gyroscope Z", "a motion sensor (accelerometer, gyroscope, magnetometer)"),  # Unicorn
        ("Gyro_Z", "a motion sensor (accelerometer, gyroscope, magnetometer)"),
        ("GYROX", "a motion sensor (accelerometer, gyroscope, magnetometer)"),  # EmotivPRO motion stream
        ("MAGX", "a motion sensor (accelerometer, gyroscope, magnetometer)"),
        ("Mag Y", "a motion sensor (accelerometer, gyroscope, magnetometer)"),
        ("x_dir", "a motion sensor (accelerometer, gyroscope, magnetometer)"),  # BrainVision Recorder
        ("RAW_CQ", "a contact quality or impedance reading"),  # Emotiv Cortex API
        ("CQ_AF3", "a contact quality or impedance reading"),
        ("AF3_CQ", "a contact quality or impedance reading"),
        ("EEG.RawCq", "a contact quality or impedance reading"),  # EmotivPRO CSV export
        ("Impedance", "a contact quality or impedance reading"),
        ("HSI_TP9", "a contact quality or impedance reading"),  # Mind Monitor (horseshoe indicator)
        ("Interpolate", "a sample validity flag (interpolated or dropped samples)"),  # EmotivPRO
        ("INTERPOLATED", "a sample validity flag (interpolated or dropped samples)"),  # Emotiv Cortex API
        ("Validation Indicator", "a sample validity flag (interpolated or dropped samples)"),  # Unicorn
        ("GSR", "an electrodermal (GSR/EDA) signal"),
        ("EDA", "an electrodermal (GSR/EDA) signal"),
        ("PPG_IR", "a pulse signal"),  # Muse PPG
        ("HardwareMarker", "an event, marker or trigger channel"),  # EmotivPRO
        ("MARKER_HARDWARE", "an event, marker or trigger channel"),  # Emotiv Cortex API
        ("DeviceTrigger", "an event, marker or trigger channel"),  # LiveAmp Connector
        ("STETriggerIn", "an event, marker or trigger channel"),
        ("STESync", "an event, marker or trigger channel"),
        ("Trig1", "an event, marker or trigger channel"),  # BioSemi LSL app
    ],
)
def test_label_conventions_of_amplifier_apps(label, names):
    assert label_reason(label) == f"label {label!r} names {names}"
    sel = select_channels([ChannelInfo("Cz", type="EEG"), ChannelInfo(label, unit="uV", type="EEG")])
    assert sel.scored == (0,) and sel.left_out == {label: f"label {label!r} names {names}"}


def _aux(label: str, others: int, what: str = "an auxiliary or external input") -> str:
    return f"label {label!r} names {what}, not a scalp electrode ({others} other channels are scored)"  # others > 1


def _axis(label: str, others: int) -> str:
    return _aux(label, others, "a motion axis or an extra input")


def test_auxiliary_inputs_and_bare_axes_are_left_out_beside_other_channels():
    labels = ["1", "2", "AUX1", "AUX_2", "Aux 3", "Right AUX", "ExG 1", "EX8", "AIB1", "X", "Y", "EEG Z", "X1", "ACC"]
    sel = select_channels([ChannelInfo(label, unit="uV", type="EEG") for label in labels])
    # X1 (an extra input: the numbered-input rule, too few named electrodes here) and ACC (ambiguous) stay
    assert [labels[i] for i in sel.scored] == ["1", "2", "X1", "ACC"]
    aux = ["AUX1", "AUX_2", "Aux 3", "Right AUX", "ExG 1", "EX8", "AIB1"]
    assert sel.left_out == {**{a: _aux(a, 4) for a in aux}, **{a: _axis(a, 4) for a in ("X", "Y", "EEG Z")}}
    # a stream of auxiliary inputs only keeps them: nothing else carries the EEG
    sel = select_channels([ChannelInfo(label) for label in ("AUX1", "AUX2", "X")])
    assert sel.scored == (0, 1, 2) and sel.left_out == {}
    # what other rules leave out does not count as "other channels"
    sel = select_channels([ChannelInfo("AUX1"), ChannelInfo("ECG"), ChannelInfo("Counter")])
    assert sel.scored == (0,)
    sel = select_channels([ChannelInfo("Cz"), ChannelInfo("ECG"), ChannelInfo("AUX1")])
    assert (
        sel.left_out["AUX1"]
        == "label 'AUX1' names an auxiliary or external input, not a scalp electrode (1 other channel is scored)"
    )


def test_numbered_accelerometer_inputs_need_named_electrodes():
    # CGX numbers its accelerometer after the EEG: ACC20 ... beside 19 named electrodes
    labels = [*TUH_ELECTRODES.split(" ")[:19], "ACC20", "ACC21", "ACC22"]
    sel = select_channels([ChannelInfo(label) for label in labels])
    assert len(sel.scored) == 19
    assert sel.left_out["ACC20"] == (
        "label 'ACC20' names a numbered accelerometer input, not a scalp electrode (the recording has 19 named ones)"
    )
    # intracranial contacts in the anterior cingulate (ACC1 ...) with no scalp electrodes: scored
    seeg = [*(f"ACC{i}" for i in range(1, 9)), *(f"HIP{i}" for i in range(1, 9))]
    sel = select_channels([ChannelInfo(label, unit="uV", type="SEEG") for label in seeg])
    assert len(sel.scored) == len(seeg) and sel.left_out == {}


_MOTION = "a motion sensor (accelerometer, gyroscope, magnetometer)"
_EPOC = ["AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4"]
_CGX_Q20 = [
    *("F7", "Fp1", "Fp2", "F8", "F3", "Fz", "F4", "C3", "Cz", "P8"),
    *("P7", "Pz", "P4", "T3", "P3", "O1", "O2", "C4", "T4", "A2"),
]
_TEN = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2"]


def _named(label: str, what: str) -> str:
    return f"label {label!r} names {what}"


# The EEG stream of each LSL app as it publishes it: (labels, units, types) -> (scored, left out with why).
# A unit None or a type "" is what the app leaves out of its metadata.
APP_LAYOUTS = [
    pytest.param(
        # EmotivPRO LSL outlet, EPOC X: Emotiv/labstreaminglayer README.md "Data Output format" and
        # emotiv.gitbook.io/emotivpro-v3/lab-streaming-layer-lsl/lsl-outlet: {"Timestamp", "Counter",
        # "Interpolate", <EEG sensors>, "HardwareMarker", "Markers"}, 128/256 Hz; channel labels only.
        [ChannelInfo(x) for x in ["Timestamp", "Counter", "Interpolate", *_EPOC, "HardwareMarker", "Markers"]],
        _EPOC,
        {
            "Timestamp": _named("Timestamp", "a timestamp"),
            "Counter": _named("Counter", "a sample or packet counter"),
            "Interpolate": _named("Interpolate", "a sample validity flag (interpolated or dropped samples)"),
            "HardwareMarker": _named("HardwareMarker", "an event, marker or trigger channel"),
            "Markers": _named("Markers", "an event, marker or trigger channel"),
        },
        id="emotivpro-epoc",
    ),
    pytest.param(
        # Emotiv Cortex API "eeg" stream columns (emotiv.gitbook.io/cortex-api/data-subscription/
        # data-sample-object), as a Cortex-to-LSL bridge publishes them, every channel typed EEG in µV;
        # Insight sensors AF3 T7 Pz T8 AF4
        [
            ChannelInfo(x, unit="microvolts", type="EEG")
            for x in ["COUNTER", "INTERPOLATED", "AF3", "T7", "Pz", "T8", "AF4", "RAW_CQ", "MARKER_HARDWARE"]
        ],
        ["AF3", "T7", "Pz", "T8", "AF4"],
        {
            "COUNTER": _named("COUNTER", "a sample or packet counter"),
            "INTERPOLATED": _named("INTERPOLATED", "a sample validity flag (interpolated or dropped samples)"),
            "RAW_CQ": _named("RAW_CQ", "a contact quality or impedance reading"),
            "MARKER_HARDWARE": _named("MARKER_HARDWARE", "an event, marker or trigger channel"),
        },
        id="emotiv-cortex-insight",
    ),
    pytest.param(
        # muselsl: alexandrebarachant/muse-lsl muselsl/stream.py, every channel typed EEG in microvolts,
        # 256 Hz (BlueMuse publishes the same labels); Right AUX is the micro-USB auxiliary input
        [ChannelInfo(x, unit="microvolts", type="EEG") for x in ["TP9", "AF7", "AF8", "TP10", "Right AUX"]],
        ["TP9", "AF7", "AF8", "TP10"],
        {"Right AUX": _aux("Right AUX", 4)},
        id="muselsl",
    ),
    pytest.param(
        # Muse S through neurodevs/node-lsl (README.md example): channelNames TP9 AF7 AF8 TP10 AUX, "microvolt"
        [ChannelInfo(x, unit="microvolt", type="EEG") for x in ["TP9", "AF7", "AF8", "TP10", "AUX"]],
        ["TP9", "AF7", "AF8", "TP10"],
        {"AUX": _aux("AUX", 4)},
        id="node-lsl-muse",
    ),
    pytest.param(
        # g.tec Unicorn Hybrid Black, the channel names of its API (UNICORN_GetChannelIndex; the Unicorn
        # Recorder's CSV header), as a bridge that types every channel EEG and gives no units publishes them:
        # unicorn-bi/Unicorn-Hybrid-Black-Windows-APIs c-api/unicorn-c-api-reference.md (counter, battery,
        # validation indicator, 3-axis accelerometer and gyroscope), robertoostenveld/unicorn2xx README.md
        [
            ChannelInfo(x, type="EEG")
            for x in [
                *(f"EEG {i}" for i in range(1, 9)),
                *("Accelerometer X", "Accelerometer Y", "Accelerometer Z"),
                *("Gyroscope X", "Gyroscope Y", "Gyroscope Z"),
                *("Battery Level", "Counter", "Validation Indicator"),
            ]
        ],
        [f"EEG {i}" for i in range(1, 9)],
        {
            **{f"Accelerometer {a}": _named(f"Accelerometer {a}", _MOTION) for a in "XYZ"},
            **{f"Gyroscope {a}": _named(f"Gyroscope {a}", _MOTION) for a in "XYZ"},
            "Battery Level": _named("Battery Level", "a battery level"),
            "Counter": _named("Counter", "a sample or packet counter"),
            "Validation Indicator": _named(
                "Validation Indicator", "a sample validity flag (interpolated or dropped samples)"
            ),
        },
        id="unicorn-api-names",
    ),
    pytest.param(
        # robertoostenveld/unicorn2xx unicorn2lsl.c: labels, units and types of all 16 channels
        [
            *(ChannelInfo(f"eeg{i}", unit="uV", type="EEG") for i in range(1, 9)),
            *(ChannelInfo(f"accel{a}", unit="g", type="ACCEL") for a in "XYZ"),
            *(ChannelInfo(f"gyro{a}", unit="deg/s", type="GYRO") for a in "XYZ"),
            ChannelInfo("battery", unit="percent", type="BATTERY"),
            ChannelInfo("counter", unit="integer", type="COUNTER"),
        ],
        [f"eeg{i}" for i in range(1, 9)],
        {
            **{f"accel{a}": "unit 'g' is not a voltage" for a in "XYZ"},
            **{f"gyro{a}": "unit 'deg/s' is not a voltage" for a in "XYZ"},
            "battery": "unit 'percent' is not a voltage",
            "counter": "unit 'integer' is not a voltage",
        },
        id="unicorn2lsl",
    ),
    pytest.param(
        # Brain Products LiveAmp Connector: brain-products/LSL-LiveAmp mainwindow.cpp ReadThread (EEG typed
        # EEG, AUX_n typed AUX, all in microvolts; ACC_X/Y/Z typed ACC in milliGs; SampleCounter typed
        # SampleCounter with unit ""; DeviceTrigger, STETriggerIn typed Trigger in "integer"; STESync typed SyncPulse)
        [
            *(ChannelInfo(x, unit="microvolts", type="EEG") for x in _TEN),
            ChannelInfo("AUX_1", unit="microvolts", type="AUX"),
            *(ChannelInfo(f"ACC_{a}", unit="milliGs", type="ACC") for a in "XYZ"),
            ChannelInfo("SampleCounter", unit="", type="SampleCounter"),
            ChannelInfo("DeviceTrigger", unit="integer", type="Trigger"),
            ChannelInfo("STETriggerIn", unit="integer", type="Trigger"),
            ChannelInfo("STESync", unit="integer", type="SyncPulse"),
        ],
        _TEN,
        {
            "AUX_1": "type 'AUX' in the stream metadata",
            **{f"ACC_{a}": "unit 'milliGs' is not a voltage" for a in "XYZ"},
            "SampleCounter": "type 'SampleCounter' in the stream metadata",
            "DeviceTrigger": "unit 'integer' is not a voltage",
            "STETriggerIn": "unit 'integer' is not a voltage",
            "STESync": "unit 'integer' is not a voltage",
        },
        id="liveamp-connector",
    ),
    pytest.param(
        # BrainVision Recorder names a LiveAmp's/actiCHamp's accelerometer x_dir, y_dir, z_dir (a Recorder
        # .vhdr: "Ch33=x_dir,,1,mg"); the RDA protocol the BrainVision LSL connectors read carries names and
        # resolutions, not units, so every channel may come through typed EEG in microvolts
        [ChannelInfo(x, unit="microvolts", type="EEG") for x in [*_TEN, "x_dir", "y_dir", "z_dir"]],
        _TEN,
        {f"{a}_dir": _named(f"{a}_dir", _MOTION) for a in "xyz"},
        id="brainvision-recorder-acc",
    ),
    pytest.param(
        # CGX/Cognionics Quick-20 through the acquisition software's built-in outlet: labels as recorded
        # to XDF (suhas-platy/artifact_removal load_file.m: ... 'A2', 'ACC20', 'ACC21', 'ACC22',
        # 'PacketCounter', 'Trigger'); labstreaminglayer/App-Cognionics README.txt: "channel order ...
        # including the accelerometer, auxiliary box, packet counter and trigger"
        [ChannelInfo(x) for x in [*_CGX_Q20, "ACC20", "ACC21", "ACC22", "PacketCounter", "Trigger"]],
        _CGX_Q20,
        {
            **{
                f"ACC{n}": f"label 'ACC{n}' names a numbered accelerometer input, not a scalp electrode "
                "(the recording has 20 named ones)"
                for n in (20, 21, 22)
            },
            "PacketCounter": _named("PacketCounter", "a sample or packet counter"),
            "Trigger": _named("Trigger", "an event, marker or trigger channel"),
        },
        id="cgx-quick20",
    ),
    pytest.param(
        # BioSemi ActiveTwo LSL app: labstreaminglayer/App-BioSemi biosemi_io.cpp (Trig1 typed Trigger, A1 ...
        # typed EEG, EX1-EX8 typed EXG, AUX1-AUX16 typed AUX) and mainwindow.cpp (every channel "microvolts")
        [
            ChannelInfo("Trig1", unit="microvolts", type="Trigger"),
            *(ChannelInfo(f"A{i}", unit="microvolts", type="EEG") for i in range(1, 33)),
            *(ChannelInfo(f"EX{i}", unit="microvolts", type="EXG") for i in range(1, 9)),
            *(ChannelInfo(f"AUX{i}", unit="microvolts", type="AUX") for i in range(1, 3)),
        ],
        [f"A{i}" for i in range(1, 33)],
        {
            "Trig1": "type 'Trigger' in the stream metadata",
            **{f"EX{i}": "type 'EXG' in the stream metadata" for i in range(1, 9)},
            **{f"AUX{i}": "type 'AUX' in the stream metadata" for i in range(1, 3)},
        },
        id="biosemi",
    ),
    pytest.param(
        # the same BioSemi stream relayed without its types (labels and units kept)
        [ChannelInfo(x, unit="microvolts") for x in ["Trig1", "A1", "A2", "A3", "EX1", "EX2", "AUX1"]],
        ["A1", "A2", "A3"],
        {
            "Trig1": _named("Trig1", "an event, marker or trigger channel"),
            **{x: _aux(x, 3) for x in ("EX1", "EX2", "AUX1")},
        },
        id="biosemi-untyped",
    ),
    pytest.param(
        # mne-lsl's PlayerLSL: mne-tools/mne-lsl src/mne_lsl/player/player_lsl.py, set_channel_info(raw.info):
        # MNE's names and types, units as powers of ten (MNE's sample recording: EEG 001 ..., EOG 061, STI 014)
        [
            *(ChannelInfo(f"EEG {i:03d}", unit="0", type="eeg") for i in range(1, 5)),
            ChannelInfo("EOG 061", unit="0", type="eog"),
            ChannelInfo("STI 014", unit="0", type="stim"),
        ],
        [f"EEG {i:03d}" for i in range(1, 5)],
        {"EOG 061": "type 'eog' in the stream metadata", "STI 014": "type 'stim' in the stream metadata"},
        id="mne-lsl-player",
    ),
    pytest.param(
        # pylsl's SendDataAdvanced example / sccn lsl_archived HandleMetadata.py: C3 C4 Cz FPz POz CPz O1 O2,
        # microvolts, EEG
        [ChannelInfo(x, unit="microvolts", type="EEG") for x in ["C3", "C4", "Cz", "FPz", "POz", "CPz", "O1", "O2"]],
        ["C3", "C4", "Cz", "FPz", "POz", "CPz", "O1", "O2"],
        {},
        id="pylsl-example",
    ),
    pytest.param(
        # OpenBCI GUI Networking widget, LSL, TimeSeriesRaw (obci_eeg1, type EEG): no channel metadata, so
        # the inlet names the channels ch0 ... (accelerometer/aux is a stream of its own)
        [ChannelInfo(f"ch{i}") for i in range(8)],
        [f"ch{i}" for i in range(8)],
        {},
        id="openbci-gui",
    ),
]


@pytest.mark.parametrize("infos, scored, left_out", APP_LAYOUTS)
def test_eeg_streams_of_amplifier_apps(infos, scored, left_out):
    sel = select_channels(infos)
    assert [sel.keys[i] for i in sel.scored] == scored
    assert sel.left_out == left_out


def test_a_geodesic_nets_e1_and_e2_are_eeg_the_aasm_eye_leads_are_not():
    """E1 and E2 name the eye leads only against a mastoid or ear (AASM: E1-M2, E2-M1); an EGI net's E1 ... E128
    are scalp electrodes."""
    net = [f"E{i}" for i in range(1, 129)]
    sel = select_channels([ChannelInfo(x, unit="uV", type="EEG") for x in net])
    assert len(sel.scored) == 128 and sel.left_out == {}
    psg = ["F4-M1", "C4-M1", "O2-M1", "E1-M2", "E2-M1", "Chin1-Chin2", "Therm"]
    sel = select_channels([ChannelInfo(x, unit="uV") for x in psg])
    assert [sel.keys[i] for i in sel.scored] == ["F4-M1", "C4-M1", "O2-M1"]
    assert set(sel.left_out) == {"E1-M2", "E2-M1", "Chin1-Chin2", "Therm"}
