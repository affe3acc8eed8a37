"""Which channels of a recording or stream are scored, and why every other one is left out. Pure.

The model scores scalp (or intracranial) EEG, one channel at a time. Clinical recordings carry much
more: ECG (often labelled as EEG: TUH's ``EEG EKG-LE``), EMG and EOG leads, DC-coupled auxiliary
inputs, photic stimulators, respiration, SpO2, pulse and pulse rate, body position, the recorder's own
trend signals (1 Hz ``IBI``, ``BURSTS``, ``SUPPR``), annotation, marker (Nihon Kohden's ``Mark1``) and
trigger channels. The LSL apps of research amplifiers add their own: sample counters (a sawtooth:
rhythmic, which is what the network calls seizure), timestamps, battery levels, accelerometer,
gyroscope and magnetometer axes, contact-quality readings, interpolation and validity flags, and
auxiliary inputs, often typed EEG like the rest and with a voltage unit or none. Scored as EEG, they
raise false alarms. :func:`select_channels` decides for a whole recording or stream, from one
:class:`ChannelInfo` per channel (label, unit, source type metadata, EDF transducer, rate).

Precedence (the first rule that applies gives the reason):

1. ``channels`` (``stream.channels``, exact labels, or a repeat's key such as ``T8-P8#2``): exactly
   those are scored, in that order, even where the rules below say "not EEG"; include/exclude do not
   apply. A label not in the stream, or one whose unit is not a voltage, is an error
   (``ValueError`` quoting it and the stream's labels). Every other channel: "not in stream.channels".
2. Otherwise, for each channel:

   - a label with no letter or digit (CHB-MIT's ``-``/``--`` dummies): a placeholder;
   - ``exclude`` (glob patterns, ``fnmatch``, case-insensitive): "excluded by pattern 'DC*'";
   - ``include`` (same patterns; empty = every channel): "not matched by stream.include [...]";
   - unit: one that :func:`realtime.preprocess.unit_scale_to_uv` refuses is not a voltage ("unit
     '%' is not a voltage"); an empty or missing unit is assumed µV (the pipeline lists those);
   - source type metadata (LSL ``desc/channels/channel/type``): EEG, SEEG, ECOG, iEEG (any case)
     are candidates; any other type (ECG, EMG, EOG, MISC, STIM, RESP...) is left out; "" = unknown;
   - label conventions (:data:`LABEL_CONVENTIONS`), checked even when the type says EEG: many LSL
     apps type every channel EEG, and TUH labels its ECG ``EEG EKG-LE``;
   - EDF transducer text naming a sensor that is not an electrode (:data:`TRANSDUCER_CONVENTIONS`:
     Sleep-EDF's ``Oral-nasal thermistors``, ``Marker button``);
   - rate (EDF signals carry their own): a signal at another rate than the EEG's is left out when
     it is below 100 Hz (1 Hz trends) or not EEG by the rules above; the reader resamples the rest.
   - numbered and extra inputs (:data:`NUMBERED_INPUTS`: ``EEG 26-REF`` ... ``EEG 32-REF``, ``EEG
     X1-REF``: the spare inputs of clinical amplifiers, often unconnected or wired to another sensor;
     CGX's accelerometer inputs ``ACC20`` ... ``ACC22``) in a recording whose other candidates include
     at least :data:`NAMED_ELECTRODES_MIN` named 10-20/10-10 electrodes
     (:func:`realtime.montage.parse_label`): the montage is the named electrodes. A recording of
     numbered electrodes only (``1`` ... ``64``) or of a net's own names (``E1`` ... ``E128``) keeps them
     (and an intracranial ``ACC1``, a contact in the anterior cingulate, is never taken for one).
   - auxiliary and external inputs (:data:`AUXILIARY_INPUTS`: Muse's ``Right AUX``, ``AUX_1``,
     BioSemi's ``EX1``/``AIB1``, CGX's ``ExG 1``) and a label that is only an axis letter
     (:data:`AXIS_LABEL`: ``X``, ``Y``, ``Z``), when any other channel is scored: they name no scalp
     position, and whatever they carry (an unconnected input's mains hum, an ECG, a movement axis) is
     not the montage. A stream of such inputs only keeps them (there is nothing else to score).

   If nothing is left: ``ValueError`` naming every channel and its reason.

Label conventions are matched on the label's tokens (split at anything not a letter or digit, any
case): ``EEG EKG-LE`` -> ``EEG``, ``EKG``, ``LE``. An axis letter is also read joined to its
neighbour (``ACC_X``, ``Acc X`` -> ``ACCX``; ``x_dir`` -> ``XDIR``). The EDF type prefix ``EEG``/``POL``
and reference suffixes ``REF``, ``LE``, ``AR`` name nothing; a prefix ``ECG``, ``EMG``, ``EOG``,
``Resp``, ``Temp``, ``Event`` names the signal (the EDF+ label convention "type sensor": ``ECG V1``,
``Resp oro-nasal``). No 10-20/10-10 electrode name (``Fp1``, ``AF7``, ``TP9``, ``T3``, ``A1``, ``Cz``,
``Fc5.`` ...) matches a convention, a numbered or an auxiliary input (tested for every name
:mod:`realtime.montage` knows).

What the LSL apps publish in their EEG stream (labels as published; the tests name each source):

- EmotivPRO (``EmotivDataStream-EEG``): ``Timestamp``, ``Counter``, ``Interpolate``, the sensors
  (EPOC ``AF3`` ... ``AF4``, Insight ``AF3 T7 Pz T8 AF4``), ``HardwareMarker``, ``Markers``; the
  Cortex API's ``eeg`` columns: ``COUNTER``, ``INTERPOLATED``, sensors, ``RAW_CQ``, ``MARKER_HARDWARE``.
- Brain Products LiveAmp Connector: the EEG typed ``EEG`` in ``microvolts``, ``AUX_1`` ... typed ``AUX``,
  ``ACC_X/Y/Z`` typed ``ACC`` in ``milliGs``, ``SampleCounter``, ``DeviceTrigger``/``STETriggerIn``
  typed ``Trigger`` (``integer``), ``STESync``: left out by type and unit already, and by label where a
  relay drops the metadata; BrainVision Recorder names its accelerometer ``x_dir``/``y_dir``/``z_dir``.
- g.tec Unicorn (API channel names): ``EEG 1`` ... ``EEG 8``, ``Accelerometer X/Y/Z``, ``Gyroscope
  X/Y/Z``, ``Battery Level``, ``Counter``, ``Validation Indicator``. g.tec's own UnicornLSL publishes
  them with no channel metadata at all (``ch0`` ... ``ch16``): only ``stream.channels`` helps there.
- muselsl / BlueMuse: ``TP9 AF7 AF8 TP10 Right AUX``, all typed ``EEG`` in ``microvolts``.
- CGX/Cognionics: the electrodes, ``ACC20``-``ACC22`` (numbered after them), ``PacketCounter``,
  ``Trigger``. BioSemi (LSL app): ``Trig1`` typed ``Trigger``, ``A1`` ..., ``EX1`` ... typed ``EXG``,
  ``AUX1`` ... typed ``AUX``, every channel in ``microvolts``.

Channels are keyed by :func:`unique_names` over the whole stream: a repeated label gets ``#2``,
``#3`` (CHB-MIT has ``T8-P8`` twice; both are scored).
"""

from __future__ import annotations

import collections
import fnmatch
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from realtime.montage import parse_label
from realtime.preprocess import MIN_NATIVE_RATE_HZ, UnitError, unit_scale_to_uv

EEG_TYPES = frozenset({"EEG", "SEEG", "ECOG", "IEEG"})

# (token pattern, what a label with such a token names). Full-token matches, case-insensitive.
LABEL_CONVENTIONS: tuple[tuple[str, str], ...] = (
    (r"(EKG|ECG)\d*[LR]?", "an ECG lead"),
    # E1M2: label_reason reads E1-M2 so; LUC/RLC (TUH) and the other canthi; infra-, supra-orbital, outer canthus
    (r"[HV]?EOG\w*|[LR]EOG|LOC|ROC|E[12][MA][12]|[LR][UL]C|[ISL]O[12]|EYES?", "an EOG (eye) lead"),
    (r"EMG\w*|CHIN\d*|SUBMENTAL|[LR]?LEG\d*|LEG[LR]\d*|[LR]AT\d*", "an EMG lead (muscle, chin, leg)"),
    (r"DC\d*", "a DC-coupled auxiliary input"),
    (r"PHOTIC\w*|LIGHT", "a photic stimulator"),
    (r"RESP\w*|AIRFLOW|FLOW|NASAL|THOR\w*|ABD\w*|CHEST|SNORE|CPAP|THERM\w*", "a respiration signal"),
    (r"S[AP]O2|OSAT", "an oxygen saturation signal"),
    (r"PULSE|PLETH\w*|PPG\w*|BVP", "a pulse signal"),
    (r"HR", "a heart rate"),
    (r"PR", "a pulse rate"),
    (r"POS|POSITION|BODYPOS\w*", "a body position sensor"),
    (r"IBI|BURSTS?|SUPPR", "a trend signal computed by the recorder"),
    (r"TEMP\w*", "a temperature"),
    (r"ANNOTATIONS?", "EDF+ annotations"),
    (r"EVENTS?|\w*MARKERS?\w*|MARK\d*|\w*TRIG\w*|STATUS|STIM?\d*|\w*SYNC\w*", "an event, marker or trigger channel"),
    (r"VNS", "a vagus nerve stimulator"),
    # what amplifier apps add to their EEG stream (LiveAmp SampleCounter, Emotiv Counter, Unicorn Counter ...)
    (r"\w*COUNTER\w*|COUNT|CNT|SAMPLE\w*|PACKET\w*|PACKAGE\w*|PKT\w*", "a sample or packet counter"),
    (r"TIME|\w*TIMESTAMPS?", "a timestamp"),
    (r"BAT|BATT\w*|\w*BATTERY\w*", "a battery level"),
    (
        r"ACC[XYZ]|ACCEL\w*|GYR[XYZ]?|GYRO\w*|MAG[XYZ]|MAGNET\w*|[XYZ]DIR|IMU\w*",
        "a motion sensor (accelerometer, gyroscope, magnetometer)",
    ),
    (r"\w*CQ|CQ\w*|IMP|\w*IMPEDANCES?|HSI|\w*QUALITY", "a contact quality or impedance reading"),
    (r"INTERP\w*|VALID\w*|INVALID\w*", "a sample validity flag (interpolated or dropped samples)"),
    (r"GSR\w*|EDA|EDR|SCL|SCR|GALVANIC\w*|ELECTRODERMAL\w*|SKIN\w*", "an electrodermal (GSR/EDA) signal"),
)
# EDF transducer words that name a sensor other than an electrode.
TRANSDUCER_CONVENTIONS: tuple[tuple[str, str], ...] = (
    (r"THERMISTORS?|THERMOCOUPLES?", "a thermistor"),
    (r"OXIMET\w*", "an oximeter"),
    (r"BELTS?|PIEZO\w*", "a respiration belt"),
    (r"MARKER|BUTTON", "a marker button"),
    (r"MICROPHONES?", "a microphone"),
    (r"ACCELEROMETERS?", "an accelerometer"),
)
# a recording with at least this many named scalp electrodes leaves its numbered and extra inputs out
NAMED_ELECTRODES_MIN = 8
# (whole-label pattern, what it names): numbered and extra inputs, left out beside NAMED_ELECTRODES_MIN named
# electrodes. A bare input number or an extra input (X1), with an optional EDF type prefix and reference
# suffix; CGX's accelerometer inputs, numbered after the EEG (ACC20, ACC32: "ACC1" may be an intracranial
# contact in the anterior cingulate, so never without named scalp electrodes).
NUMBERED_INPUTS: tuple[tuple[str, str], ...] = (
    (
        r"(?:(?:EEG|POL)[\s:]+)?(?:\d+|X\d+)(?:\s*-\s*(?:REF|LE|AR|AVG|CAR|A1|A2|M1|M2))?\.?",
        "a numbered or extra amplifier input",
    ),
    (r"ACC\d+", "a numbered accelerometer input"),
)
# (token pattern, what it names): inputs that name no scalp position (Muse "Right AUX", LiveAmp "AUX_1",
# BioSemi "EX1"/"AIB1", CGX "ExG 1"), left out when any other channel is scored; and a label that is only
# an axis letter (X, Y, Z: an accelerometer's, or an extra input), matched on the whole label.
AUXILIARY_INPUTS: tuple[tuple[str, str], ...] = ((r"\w*AUX\w*|EXG\d*|EX\d+|AIB\d*", "an auxiliary or external input"),)
AXIS_LABEL = (r"[XYZ]", "a motion axis or an extra input")
_NUMBERED_RES = [(re.compile(p, re.IGNORECASE), what) for p, what in NUMBERED_INPUTS]
_AUXILIARY_RES = [(re.compile(p, re.IGNORECASE), what) for p, what in AUXILIARY_INPUTS]
_AXIS = re.compile(AXIS_LABEL[0], re.IGNORECASE)
_EYE, _MASTOID = re.compile(r"E[12]", re.IGNORECASE), re.compile(r"[MA][12]", re.IGNORECASE)
_LABEL_RES = [(re.compile(p, re.IGNORECASE), what) for p, what in LABEL_CONVENTIONS]
_TRANSDUCER_RES = [(re.compile(p, re.IGNORECASE), what) for p, what in TRANSDUCER_CONVENTIONS]
_TOKEN = re.compile(r"[0-9A-Za-z]+")
_TYPE_PREFIXES = frozenset({"EEG", "POL"})


@dataclass(frozen=True)
class ChannelInfo:
    """One channel as its source describes it."""

    label: str
    unit: str | None = None  # raw unit string ("uV", "mV", "microvolts", "-6", "%" ...); None/"" = not given
    type: str = ""  # source type metadata (LSL desc/channels/channel/type); "" = unknown
    transducer: str = ""  # EDF transducer text ("Ag-AgCl electrodes", "Rectal thermistor"); "" = unknown
    rate_hz: float | None = None  # the channel's own rate (EDF); None = the stream's rate


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select_channels`."""

    scored: tuple[int, ...]  # indices into the channels given, in scoring order
    keys: tuple[str, ...]  # unique name of every channel given ("T8-P8", "T8-P8#2"), stream order
    left_out: dict[str, str] = field(default_factory=dict)  # unique name -> why, stream order


def unique_names(names: Sequence[str]) -> list[str]:
    """Names made unique by suffixing repeats: ``["A", "B", "A"] -> ["A", "B", "A#2"]``."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


def label_reason(label: str) -> str | None:
    """Why a label names no EEG channel (a placeholder, or a convention of :data:`LABEL_CONVENTIONS`), or None."""
    tokens = _TOKEN.findall(label)
    if not tokens:
        return f"label {label!r} names no channel (a placeholder)"
    # an axis letter is read with its neighbour: ACC_X, Acc X -> ACCX; x_dir -> XDIR; MAG X -> MAGX; and the
    # AASM sleep montage's eye leads with their mastoid, E1-M2 -> E1M2 (a geodesic net's E1 alone is EEG)
    tokens += [
        a + b
        for a, b in itertools.pairwise(tokens)
        if _AXIS.fullmatch(a) or _AXIS.fullmatch(b) or (_EYE.fullmatch(a) and _MASTOID.fullmatch(b))
    ]
    for pattern, what in _LABEL_RES:
        if any(pattern.fullmatch(t) for t in tokens):
            return f"label {label!r} names {what}"
    return None


def _numbered_input(label: str) -> str | None:
    """What a numbered or extra input names (:data:`NUMBERED_INPUTS`), or None."""
    return next((what for pattern, what in _NUMBERED_RES if pattern.fullmatch(label.strip())), None)


def _auxiliary_input(label: str) -> str | None:
    """What an auxiliary input or a bare axis label names (:data:`AUXILIARY_INPUTS`, :data:`AXIS_LABEL`), or None."""
    tokens = _TOKEN.findall(label)
    named = [t for t in tokens if t.upper() not in _TYPE_PREFIXES]
    if len(named) == 1 and _AXIS.fullmatch(named[0]):
        return AXIS_LABEL[1]
    return next((what for pattern, what in _AUXILIARY_RES if any(pattern.fullmatch(t) for t in tokens)), None)


def not_eeg_reason(info: ChannelInfo) -> str | None:
    """Why ``info`` is not EEG by its type metadata, label or transducer (not its unit or rate), or None."""
    kind = (info.type or "").strip()
    if kind and kind.upper() not in EEG_TYPES:
        return f"type {kind!r} in the stream metadata"
    reason = label_reason(info.label)
    if reason:
        return reason
    words = _TOKEN.findall(info.transducer or "")
    for pattern, what in _TRANSDUCER_RES:
        if any(pattern.fullmatch(w) for w in words):
            return f"transducer {info.transducer!r} names {what}, not an EEG electrode"
    return None


def unit_reason(info: ChannelInfo) -> str | None:
    """Why ``info``'s unit is not a voltage, or None (an empty or missing unit is taken as µV)."""
    if info.unit is None or not info.unit.strip():
        return None
    try:
        unit_scale_to_uv(info.unit)
    except UnitError:
        return f"unit {info.unit!r} is not a voltage"
    return None


def rate_reason(info: ChannelInfo, eeg_rate_hz: float | None) -> str | None:
    """Why a channel at another rate than the EEG's is left out (not EEG: that reason; else under
    100 Hz), or None: same rate, rate unknown, or EEG at >= 100 Hz (resampled)."""
    if info.rate_hz is None or eeg_rate_hz is None or info.rate_hz == eeg_rate_hz:
        return None
    if why := not_eeg_reason(info):
        return why
    if info.rate_hz < MIN_NATIVE_RATE_HZ:
        return f"sampled at {info.rate_hz:g} Hz (the EEG at {eeg_rate_hz:g} Hz)"
    return None


def eeg_rate_hz(infos: Sequence[ChannelInfo]) -> float | None:
    """The most common rate among channels with a voltage unit that are EEG by type, label and
    transducer (ties: the highest); among all voltage channels when none is; None when no rate is known. Rates under
    :data:`MIN_NATIVE_RATE_HZ` compete only when no channel has another: trend signals in µV (a monitor's aEEG at
    1 Hz) or signals of no samples must not outvote the EEG beside them."""
    voltage = [c for c in infos if c.rate_hz is not None and unit_reason(c) is None]
    voltage = [c for c in voltage if c.rate_hz is not None and c.rate_hz >= MIN_NATIVE_RATE_HZ] or voltage
    eeg = [c for c in voltage if not_eeg_reason(c) is None] or voltage
    rates = collections.Counter(c.rate_hz for c in eeg if c.rate_hz is not None)
    return max(rates, key=lambda r: (rates[r], r)) if rates else None


def describe_left_out(left_out: Mapping[str, str]) -> str:
    """``"DC1-DC (label 'DC1-DC' names a DC-coupled auxiliary input); IBI (...)"``, for logs and messages."""
    return "; ".join(f"{name} ({why})" for name, why in left_out.items()) or "none"


def _matches(label: str, patterns: Sequence[str]) -> str | None:
    return next((p for p in patterns if fnmatch.fnmatchcase(label.casefold(), p.casefold())), None)


def select_channels(
    infos: Sequence[ChannelInfo],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    channels: Sequence[str] = (),
    eeg_rate_hz: float | None = None,
) -> Selection:
    """Decide which of ``infos`` (one per channel, stream order) are scored; see the module docstring.

    ``eeg_rate_hz``: the rate the EEG is scored at, when channels carry their own (``rate_hz``).
    Raises ``ValueError`` for a ``channels`` label that is not there or not a voltage, and when
    nothing is left to score (naming every channel and its reason).
    """
    labels = [c.label for c in infos]
    keys = unique_names(labels)
    if channels:
        missing = [c for c in channels if c not in labels and c not in keys]
        if missing:
            raise ValueError(f"channel(s) {missing} not in the stream; it has {labels}")
        scored = []
        for want in channels:
            i = labels.index(want) if want in labels else keys.index(want)
            if (why := unit_reason(infos[i])) is not None:
                raise ValueError(f"channel {want!r}: {why}; the stream has {labels}")
            scored.append(i)
        left_out = {k: "not in stream.channels" for i, k in enumerate(keys) if i not in scored}
        return Selection(tuple(scored), tuple(keys), left_out)
    reasons: list[str | None] = []
    for info in infos:
        if not _TOKEN.search(info.label):
            why = label_reason(info.label)
        elif pattern := _matches(info.label, exclude):
            why = f"excluded by pattern {pattern!r}"
        elif include and not _matches(info.label, include):
            why = f"not matched by stream.include {list(include)}"
        else:
            why = unit_reason(info) or not_eeg_reason(info) or rate_reason(info, eeg_rate_hz)
        reasons.append(why)
    named = sum(why is None and parse_label(info.label) is not None for info, why in zip(infos, reasons, strict=True))
    if named >= NAMED_ELECTRODES_MIN:
        for i, info in enumerate(infos):
            if reasons[i] is None and (what := _numbered_input(info.label)):
                reasons[i] = (
                    f"label {info.label!r} names {what}, not a scalp electrode (the recording has {named} named ones)"
                )
    auxiliary = {
        i: what for i, info in enumerate(infos) if reasons[i] is None and (what := _auxiliary_input(info.label))
    }
    others = sum(why is None for why in reasons) - len(auxiliary)
    if others > 0:
        scored_others = f"{others} other channel{'s are' if others > 1 else ' is'} scored"
        for i, what in auxiliary.items():
            reasons[i] = f"label {infos[i].label!r} names {what}, not a scalp electrode ({scored_others})"
    scored = [i for i, why in enumerate(reasons) if why is None]
    left_out = {keys[i]: why for i, why in enumerate(reasons) if why is not None}
    if not scored:
        raise ValueError(f"no channel left to score: {describe_left_out(left_out)}")
    return Selection(tuple(scored), tuple(keys), left_out)
