"""Daemon configuration: TOML -> validated, frozen dataclasses.

Pure: no I/O beyond reading the TOML text handed in by :func:`load_config`. Every error in a file
is collected and reported at once (:class:`ConfigError`), quoting the value received: wrong types,
NaN and inf in any number, values outside their limits (``MIN_HOP_S`` ... ``MAX_DURATION_S``: a value
past them used to crash, hang or wait for ever at the first stream). What depends on the model (the
hop and the buffer against its window, :func:`window_errors`) is checked by :func:`apply_model_settings`
given ``window_s``.
CLI flags override file values through ``overrides`` (dotted keys, e.g. ``"stream.name"``).

Where a value came from: :func:`build_config` / :func:`load_config` record in ``Config.sources``
every dotted key the file set (``"config file"``) or a flag set (``"command line"``). The model-specific
keys (:data:`MODEL_SETTING_KEYS`) then rank, in :func:`apply_model_settings`: built-in default <
the model card's ``"settings"`` < the config file < the command line. A :class:`Config` built in code
(``sources`` is ``None``) is taken as it is: the card changes nothing.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """An invalid configuration; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(self.errors))


@dataclass(frozen=True)
class StreamConfig:
    name: str = "EEG"  # LSL stream name to resolve ("" = any name)
    type: str = ""  # LSL stream type, compared without case ("" = any type)
    source_id: str = ""  # LSL source id ("" = any)
    resolve_timeout_s: float = 2.0  # one resolve attempt before logging "waiting" again
    stale_after_s: float = 3.0  # no sample for this long: signal lost
    channels: tuple[str, ...] = ()  # exact channel labels to score (forced); empty = every EEG channel
    # Glob patterns (fnmatch, case-insensitive) on channel labels: include narrows the candidates (empty =
    # all), exclude removes; label conventions, types, units and rates still leave out what is not EEG
    # (realtime.channels). A label listed in `channels` is scored even where conventions say not EEG.
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_chunk_samples: int = 4096  # at most this many samples per pull
    # Once connected, keep reading the device with that source id: another stream with the same name
    # (a second amplifier, a replay) is not taken over when the first one dies. false = any stream that
    # matches name/type/source_id may replace it (the old behaviour).
    lock_source: bool = True
    # Who is in the bed ("" = not given): a token of this admission, better not the record number (the file is
    # readable by every user of the host). The bed's background levels are then kept for up to a day across a lost
    # stream, another amplifier with the same channels and a restart, and forgotten when it changes (SIGHUP applies
    # it). Never logged, published or exported (docs/daemon.md "A bed's patient"). The one stream's; with [[beds]],
    # each bed's own `patient`.
    patient: str = field(default="", repr=False)


@dataclass(frozen=True)
class WindowConfig:
    hop_s: float = 1.0  # a window is scored every hop_s seconds of signal
    buffer_s: float = 30.0  # ring buffer length per channel


@dataclass(frozen=True)
class SignalConfig:
    # A channel whose median window standard deviation over amplitude_span_s lies outside
    # [amplitude_low_uv, amplitude_high_uv] is reported (status.signal "quality", metric
    # channels_amplitude_atypical): its gain or unit is probably wrong. Defaults: half the 1st and twice
    # the 99th percentile of the shipped model's non-seizure training windows (python -m experiments.amplitude).
    amplitude_low_uv: float = 8.7
    amplitude_high_uv: float = 465.0
    amplitude_span_s: float = 300.0  # the median covers this much signal (a seizure is shorter)
    amplitude_min_s: float = 60.0  # no judgement before this much signal
    # Re-referencing of the scored EEG channels (realtime.montage): "as_recorded", "bipolar" (the
    # longitudinal double banana from 10-20 labels; a recording already bipolar is kept as it is),
    # "average" (common average over the usable scalp electrodes; a bipolar recording, or one of fewer than 8 scalp
    # electrodes, is kept as it is), "average_common" (and the electrodes' mean, AVG) or "average_hemispheres" (and
    # each hemisphere's mean, AVG-L and AVG-R), whose means count as the whole bed (realtime.decision whole_bed).
    # "average_hemispheres", chosen by its pre-registered gates (docs/background.md "Each hemisphere's mean as a
    # channel for the whole bed"): on an imitated patient's slow background 1 false alarm in 4.89 h (as recorded 7,
    # the average 0), none on the background corpus (as every montage); of 24 seizures over a focal, hemispheric,
    # generalised and uniform field 19, 23, 21, 23 found within 10 s (as recorded 19, 22, 22, 22; the average 18,
    # 14, 3, 0: it subtracts what electrodes share; average_common 18, 14, 21, 23: the whole mean holds half of a
    # one-sided seizure) (experiments.seizure_field). A model card that names the montage its network was trained on
    # ("montage") takes precedence over this default (MODEL_SETTING_KEYS).
    montage: str = "average_hemispheres"
    # A channel whose background (the background_quantile of its 1.5-40 Hz window standard deviation over
    # amplitude_span_s, once background_min_s of it is seen) exceeds background_limit_uv is scaled down to it
    # before the model (realtime.scaling): a patient's high-amplitude background is shown to the network at a
    # level it was seen quiet at, and a seizure keeps its size relative to that background. 0 = off. The
    # default is 1.5x the highest person's background level in the real background corpus, the largest gain at
    # which the whole corpus raised at most one alarm (docs/background.md "The limit corrected"). The limit is the
    # network's, so a model card's settings.signal.background_limit_uv takes precedence (MODEL_SETTING_KEYS).
    background_limit_uv: float = 50.0
    # With scaling on, a channel whose 1.5-4 Hz background is above this is scaled down to it too, even where its
    # 1.5-40 Hz background is under background_limit_uv: a patient's large slow background, on which the network
    # is not quiet (docs/background.md "A limit for delta"). 0 = off. The value is the network's (the shipped card
    # sets 35), so a model card's value takes precedence, and a card without one gets this built-in 0.
    background_delta_limit_uv: float = 0.0
    background_quantile: float = 0.25
    # the scaler's own history before it may scale (<= amplitude_span_s): twice the 10 s within which a seizure
    # must be alarmed, so that a seizure under way at connection has its alarm before it can be scaled
    background_min_s: float = 20.0
    # while the bed's alarm is open no channel's background level rises above its level before the onset (a status
    # epilepticus is scaled by the background before it, not by its own size), for at most this long; 0: no hold
    # (docs/background.md "A seizure that goes on")
    background_hold_max_s: float = 600.0
    # The resampler's anti-aliasing filter (realtime.preprocess): each window ends half its length before the
    # newest sample. "short": resample_poly's design, as short as keeps it as flat to 40 Hz, the top of the shipped
    # network's filter bank (12-15 ms at 200-2048 Hz, 23-90 ms at 100-174 Hz). "training": resample_poly's default,
    # with which the training's records were resampled (the inputs exactly, above 40 Hz too; 40 ms of every alarm's
    # latency at 256 Hz, 58-100 ms at 100-174 Hz). Model-specific: a model that reads above 40 Hz (the baseline, a
    # filter bank reaching higher) carries "training" in its card (docs/benchmarks.md "A shorter resampling filter").
    resample_filter: str = "short"


@dataclass(frozen=True)
class ModelConfig:
    path: str = ""  # export directory; "" = the model shipped in realtime/models/default
    backend: str = "auto"  # MODEL_BACKENDS: "auto" (LiteRT on the CPU, TensorFlow where a GPU is present), ...
    device: str = "auto"  # "auto" (GPU when TensorFlow runs and sees one), "cpu" or "gpu"
    threads: int = 0  # CPU threads of the model's runtime; 0 = every core this process may use
    # the largest batch the model's runtime is given: bigger batches are split, smaller ones padded to the next
    # size of realtime.model.batch_sizes (1, 2, 4, 8, 16, 24, 32), so that the runtime sees a handful of
    # shapes and its memory stays flat
    batch_windows: int = 32
    # the network's arithmetic: "float32", or "bfloat16" (TensorFlow and the export's saved_model_bfloat16/, or
    # OpenVINO: about 2x faster on a CPU with AMX, p(seizure) within about 0.007; docs/benchmarks.md "bfloat16 on a CPU
    # that has it")
    precision: str = "float32"


@dataclass(frozen=True)
class DecisionConfig:
    # on_threshold, off_threshold, smoothing_windows and min_duration_s were chosen by the grid search of
    # `train-detector evaluate` (evaluation/evaluate.py tune_decision) for the shipped model on TRAINING/VALIDATION
    # data only (recordings stitched from the validation split + the training split's scalp background; never
    # the test split or CHB-MIT): zero false alarms, every seizure detected, then within 1 s of the fastest mean
    # latency the most conservative setting. docs/evaluation.md "Decision settings" has the numbers.
    # aggregation, k_channels, bed_false_rate and merge_gap_s are not tuned. "binomial" keeps the bed's per-window
    # false rate whatever its channel count (docs/pipeline.md "Bed rule"); channel_false_rate is model-specific
    # (the shipped card carries 1.37e-3, written by python -m evaluation.background --gain 3 --write-card): the
    # model's per-channel rate of windows at or above on_threshold on the seizure-free background at 3x its
    # amplitude (healthy scalp EEG ~43 uV, the hospital background that alarmed ~100 uV; docs/background.md).
    # The built-in default is that value rounded, channels independent: 2 of up to 10, 3 of 19 or 23, 4 of 64
    # channels; the shipped card adds the correlation measured on real EEG: 3 of 19, 4 of 23, 9 of 64.
    aggregation: str = "binomial"  # "max", "k_of_n" or "binomial" (k grows with the channel count; decision.py)
    k_channels: int = 2  # k-of-n: the k-th highest channel probability is the bed's probability (binomial: least k)
    # binomial: k(n) is the least k >= k_channels with P[K >= k] <= bed_false_rate, K the count of channels at or
    # above on_threshold: Binomial(n, channel_false_rate), or, with channel_correlation > 0, BetaBinomial with that
    # mean and that correlation between channels (real channels err together), so that a bed of n usable channels
    # keeps one false rate per window whatever n is. channel_correlation and bed_false_rate are model-specific too
    # (a card may carry them: docs/background.md "A bed rule for channels that err together").
    channel_false_rate: float = 1.4e-3  # per window: a channel of non-seizure EEG at or above on_threshold
    bed_false_rate: float = 1e-4  # per window: the bed's target rate of k channels at or above on_threshold
    channel_correlation: float = 0.0  # binomial: correlation of two channels' exceedances in a window (0: independent)
    # No onset may arm for this much signal after the start, a reconnect or a gap (counted from the first
    # window's start). 6 s holds back the first two windows, which raised many of the false alarms on real
    # hospital files, and keeps a seizure present from the very start alarmed within 10 s (CHB-MIT excerpt).
    settle_s: float = 6.0
    smoothing_windows: int = 1  # moving average over this many aggregated probabilities
    on_threshold: float = 0.6  # smoothed probability at or above this arms an onset
    off_threshold: float = 0.5  # smoothed probability below this ends a seizure (hysteresis)
    min_duration_s: float = 2.0  # above on_threshold for this long before the onset is published
    merge_gap_s: float = 10.0  # a new onset within this long of an offset continues the event
    # an event open this long without a break publishes one seizure.prolonged (status epilepticus: 5 min, the
    # operational definition, ILAE 2015's t1 of a tonic-clonic seizure); 0: never
    prolonged_s: float = 300.0


@dataclass(frozen=True)
class AlertsConfig:
    endpoint: str = "tcp://127.0.0.1:5556"  # ZeroMQ PUB bind address
    replay_endpoint: str = "tcp://127.0.0.1:5557"  # ZeroMQ REP bind address ("" = off)
    heartbeat_s: float = 5.0  # status.heartbeat period
    log_path: str = ""  # append-only JSONL alert log; "" = $STATE_DIRECTORY/alerts.jsonl, else the user's state dir
    # CurveZMQ (docs/operations.md "Authenticated alerts"): the server's secret key file (zmq.auth format,
    # made by `realtime-keys`) and the directory of the client public keys allowed to connect. Both empty =
    # CURVE off (plaintext, loopback only unless allow_plaintext_remote).
    curve_secret_key: str = ""
    curve_clients_dir: str = ""
    # Binding PUB/replay to a non-loopback address without CURVE is refused unless this is true.
    allow_plaintext_remote: bool = False
    # An onset not acknowledged (seizure.ack) is re-announced (seizure.reannounce) every this many seconds
    # while its event is open; 0 = never.
    reannounce_s: float = 60.0
    # One status.window message per bed per scored window (probabilities, channels scored, alarm state), for
    # dashboards and latency measurement. Outside the alarm sequence: no seq, not in the alert log, not replayed.
    publish_windows: bool = False


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9108  # 0 = a free port (logged)


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"


@dataclass(frozen=True)
class BedConfig:
    """One bed of a daemon of several (``[[beds]]``, or ``--stream`` given more than once): its label and
    its LSL stream (empty criteria match anything; at least one is set). ``channels``/``include``/``exclude``
    ``None``: the ``[stream]`` section's. Every other stream setting (timeouts, ``lock_source``, ...) is the
    ``[stream]`` section's."""

    bed: str  # the bed's label: metrics' ``stream`` label, messages' ``bed`` field, logs
    name: str = ""
    type: str = ""
    source_id: str = ""
    channels: tuple[str, ...] | None = None
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    patient: str = field(default="", repr=False)  # who is in the bed (StreamConfig.patient); "" = not given

    def channel_choice(self, stream: StreamConfig) -> StreamConfig:
        """``stream`` with this bed's stream identity and channel choice (what a bed's inlet and pipeline use)."""
        return dataclasses.replace(
            stream,
            name=self.name,
            type=self.type,
            source_id=self.source_id,
            channels=stream.channels if self.channels is None else self.channels,
            include=stream.include if self.include is None else self.include,
            exclude=stream.exclude if self.exclude is None else self.exclude,
        )


@dataclass(frozen=True)
class DiscoverConfig:
    """``[discover]``: every LSL stream of ``type`` becomes a bed (``--type EEG`` without a name), keyed by its
    source id; ``beds`` maps source ids to bed labels (``[discover.beds]``; a source id not in it is its own label)."""

    type: str = ""  # "" = no discovery
    beds: tuple[tuple[str, str], ...] = ()  # (source id, bed label) pairs
    # (source id, patient) pairs ([discover.patients]): who is on each amplifier (StreamConfig.patient)
    patients: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def label(self, source_id: str) -> str:
        return dict(self.beds).get(source_id, source_id)

    def patient(self, source_id: str) -> str:
        """The patient of the bed discovered with ``source_id`` (``[discover.patients]``; ``""``: not given)."""
        return dict(self.patients).get(source_id, "")


@dataclass(frozen=True)
class Config:
    stream: StreamConfig = field(default_factory=StreamConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    signal: SignalConfig = field(default_factory=SignalConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    # Several beds per daemon (docs/daemon.md "Several beds"): a list, or discovery by stream type; neither:
    # one bed, the [stream] section's stream.
    beds: tuple[BedConfig, ...] = ()
    discover: DiscoverConfig = field(default_factory=DiscoverConfig)
    # dotted key -> "config file" | "command line" for every key explicitly set; None: built in code
    # (every value counts as explicit). Not a setting: not compared, not in config_to_dict.
    sources: Mapping[str, str] | None = field(default=None, compare=False, repr=False)


# model.backend, model.device, model.precision (realtime.model checks them again at load); LiteRT computes in float32
MODEL_BACKENDS = ("auto", "tensorflow", "litert", "openvino")
MODEL_DEVICES = ("auto", "cpu", "gpu")
MODEL_PRECISIONS = ("float32", "bfloat16")
# "average_common": the common average's channels and the common mode itself (AVG), which counts as the whole bed;
# "average_hemispheres": the average's channels and each hemisphere's mean (AVG-L, AVG-R), each counting as the bed
MONTAGES = ("as_recorded", "bipolar", "average", "average_common", "average_hemispheres")
RESAMPLE_FILTERS = ("training", "short")  # signal.resample_filter (realtime.preprocess.half_periods_for)
# realtime-detect --file --carry: which files start from an earlier file's background levels
# (realtime.offline.carry_from: one that continues its folder and patient field's last file or names the same patient,
# only one that continues it, or none)
CARRY_CHOICES = ("patient", "continuing", "none")
AGGREGATIONS = ("max", "k_of_n", "binomial")
BED_KEYS = tuple(f.name for f in fields(BedConfig))
# The sections of single settings (the bed list and discovery are read, compared and reloaded apart).
SECTION_NAMES = tuple(f.name for f in fields(Config) if f.name not in ("sources", "beds", "discover"))
_SECTIONS: dict[str, Any] = {f.name: f.default_factory for f in fields(Config) if f.name in SECTION_NAMES}
# The keys a model card may set: its "settings" (realtime.model.SETTINGS_KEYS: these but the montage) and the
# montage it was trained on (the card's "montage", which realtime.model.ExportedDetector puts in its settings).
MODEL_SETTING_KEYS = {
    "decision": (
        "on_threshold",
        "off_threshold",
        "smoothing_windows",
        "min_duration_s",
        "channel_false_rate",
        "channel_correlation",
        "bed_false_rate",
    ),
    "signal": (
        "amplitude_low_uv",
        "amplitude_high_uv",
        "montage",
        "background_limit_uv",
        "background_delta_limit_uv",
        "resample_filter",
    ),
}
# Bounds checked at load. Each value outside them used to pass validation and then crash (exit 70, a
# restart loop under systemd), hang or wait forever at the first stream (issue 12, defect 5).
MIN_HOP_S = 0.05  # every hop scores a window of every channel: at most 20 batches per second
MIN_BUFFER_S = 10.0  # a window (4.1 s for the shipped model) plus a hop plus margin
# Memory: the ring buffer holds two float64 copies per channel (16 bytes a sample) and liblsl's inlet
# buffer as many seconds again, so 600 s of a 64-channel stream at 1 kHz is about 0.6 GB + 0.15 GB; the
# pipeline needs only a window plus a hop, so a longer buffer only costs memory.
MAX_BUFFER_S = 600.0
# One resolve attempt blocks the loop: it must end well within the watchdog's ping period (WatchdogSec=30s,
# pinged at half) and the stop timeout (TimeoutStopSec=30s).
MAX_RESOLVE_TIMEOUT_S = 10.0
MIN_HEARTBEAT_S = 0.1  # heartbeats are logged and published: 10 per second at most
MIN_REANNOUNCE_S = 1.0  # re-announcements are logged and published: one per second at most
# Every other duration: finite and at most an hour (a longer one is a typo: the daemon would wait for ever).
MAX_DURATION_S = 3600.0
MAX_SMOOTHING_WINDOWS = 3600  # decision.smoothing_windows: an hour of windows at a hop of 1 s
MAX_CHANNELS = 4096  # decision.k_channels: more channels than any recording has
MAX_BATCH_WINDOWS = 4096  # model.batch_windows (realtime.model.MAX_BATCH_WINDOWS)
MAX_MODEL_THREADS = 1024  # model.threads: more is a typo (the runtimes make one OS thread each)
MAX_CHUNK_SAMPLES = 1 << 20  # the inlet preallocates [max_chunk_samples, n_channels] float64
# The resampling filter needs a few more native samples than the window (realtime.preprocess.Resampler:
# 20 / rate, at most 0.2 s at the lowest rate of 100 Hz).
RESAMPLE_MARGIN_S = 0.25

SOURCE_DEFAULT, SOURCE_CARD, SOURCE_FILE, SOURCE_FLAG, SOURCE_CODE = (
    "default",
    "model card",
    "config file",
    "command line",
    "set in code",
)


def _coerce(section: str, f: dataclasses.Field, value: Any, errors: list[str]) -> Any:
    key = f"{section}.{f.name}"
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind == "bool":
        if isinstance(value, bool):
            return value
        errors.append(f"{key}: expected true or false, got {value!r}")
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        errors.append(f"{key}: expected an integer, got {value!r}")
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # TOML integers have no size limit
                number = math.inf
            if math.isfinite(number):
                return number
            shown = repr(value) if isinstance(value, float) else f"{str(value)[:20]}... ({len(str(value))} digits)"
            errors.append(f"{key}: expected a finite number, got {shown}")
        else:
            errors.append(f"{key}: expected a number, got {value!r}")
    elif kind == "str":
        if isinstance(value, str):
            return value
        errors.append(f"{key}: expected a string, got {_shown_invalid(f.name, value)}")
    elif kind.startswith("tuple"):
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
        errors.append(f"{key}: expected a list of strings, got {value!r}")
    else:  # pragma: no cover - a field type this function does not know is a programming error
        raise TypeError(f"unsupported config field type {kind!r} for {key}")
    return None


def _validate(cfg: Config, errors: list[str], *, pairs: bool = True) -> None:
    """Append every problem of ``cfg`` to ``errors``. ``pairs=False`` skips the checks between two
    model-specific keys (off <= on, low < high) when only one of a pair was set: the model card may
    set the other (:func:`apply_model_settings` checks them)."""
    set_keys = cfg.sources or {}

    def pair_known(a: str, b: str) -> bool:
        return pairs or (a in set_keys) == (b in set_keys)

    def check(ok: bool, message: str) -> None:
        if not ok:
            errors.append(message)

    s, w, m, d, a, me = cfg.stream, cfg.window, cfg.model, cfg.decision, cfg.alerts, cfg.metrics
    # A Config built in code is not coerced: NaN and inf are refused here too (a file's, by _coerce).
    values = {
        f"{section}.{f.name}": getattr(getattr(cfg, section), f.name)
        for section in SECTION_NAMES
        for f in fields(getattr(cfg, section))
    }
    infinite = {k: v for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)}
    for key, value in infinite.items():
        errors.append(f"{key}: expected a finite number, got {value!r}")

    def within(key: str, value: float, low: float, high: float, low_open: bool = False) -> None:
        if key in infinite:
            return
        ok = (low < value if low_open else low <= value) and value <= high
        bracket = "(" if low_open else "["
        check(ok, f"{key}: must be in {bracket}{low:g}, {high:g}] s, got {value!r}")

    check(
        bool(s.name or s.type or s.source_id or cfg.beds or cfg.discover.type),
        "stream: give at least one of name, type, source_id",
    )
    check(
        not (cfg.beds and cfg.discover.type),
        f"discover.type: a daemon either lists its beds or discovers them, got {len(cfg.beds)} bed(s) and "
        f"discover.type={cfg.discover.type!r}",
    )
    check(
        not (s.patient.strip() and (cfg.beds or cfg.discover.type)),
        "stream.patient: names the patient of the one stream; with [[beds]] give each bed its own patient, with "
        "discovery [discover.patients]",
    )
    given = [("stream.patient", s.patient)] + [(f"beds[{b.bed}].patient", b.patient) for b in cfg.beds]
    given += [(f"discover.patients.{sid}", patient) for sid, patient in cfg.discover.patients]
    for where, patient in given:
        check(
            patient == patient.strip() and patient.isprintable(),
            f"{where}: expected printable text without surrounding spaces, got {len(patient)} characters",
        )
    within("stream.resolve_timeout_s", s.resolve_timeout_s, 0, MAX_RESOLVE_TIMEOUT_S, low_open=True)
    within("stream.stale_after_s", s.stale_after_s, 0, MAX_DURATION_S, low_open=True)
    for key, patterns in (("stream.include", s.include), ("stream.exclude", s.exclude)):
        check(all(p.strip() for p in patterns), f"{key}: patterns must not be empty, got {list(patterns)!r}")
    check(
        1 <= s.max_chunk_samples <= MAX_CHUNK_SAMPLES,
        f"stream.max_chunk_samples: must be in [1, {MAX_CHUNK_SAMPLES}], got {s.max_chunk_samples!r}",
    )
    within("window.hop_s", w.hop_s, MIN_HOP_S, MAX_BUFFER_S)
    within("window.buffer_s", w.buffer_s, MIN_BUFFER_S, MAX_BUFFER_S)
    check(
        not math.isfinite(w.hop_s + w.buffer_s) or w.hop_s < w.buffer_s,
        f"window.hop_s: must be shorter than window.buffer_s={w.buffer_s!r} (a window plus a hop must fit "
        f"in the buffer), got {w.hop_s!r}",
    )
    sg = cfg.signal
    check(
        sg.amplitude_low_uv > 0 and sg.amplitude_high_uv > 0,
        f"signal.amplitude_low_uv / amplitude_high_uv: "
        f"must be > 0, got {sg.amplitude_low_uv!r} / {sg.amplitude_high_uv!r}",
    )
    check(
        not pair_known("signal.amplitude_low_uv", "signal.amplitude_high_uv")
        or sg.amplitude_low_uv <= 0
        or sg.amplitude_low_uv < sg.amplitude_high_uv,
        f"signal.amplitude_low_uv / amplitude_high_uv: need "
        f"0 < low < high, got {sg.amplitude_low_uv!r} / {sg.amplitude_high_uv!r}",
    )
    within("signal.amplitude_span_s", sg.amplitude_span_s, 0, MAX_DURATION_S, low_open=True)
    check(
        0 < sg.amplitude_min_s <= sg.amplitude_span_s,
        f"signal.amplitude_min_s / amplitude_span_s: need "
        f"0 < min <= span, got {sg.amplitude_min_s!r} / {sg.amplitude_span_s!r}",
    )
    check(
        math.isfinite(sg.background_limit_uv) and sg.background_limit_uv >= 0,
        f"signal.background_limit_uv: must be >= 0 (0 = off), got {sg.background_limit_uv!r}",
    )
    check(
        math.isfinite(sg.background_delta_limit_uv) and sg.background_delta_limit_uv >= 0,
        f"signal.background_delta_limit_uv: must be >= 0 (0 = off), got {sg.background_delta_limit_uv!r}",
    )
    check(
        sg.resample_filter in RESAMPLE_FILTERS,
        f"signal.resample_filter: expected one of {', '.join(map(repr, RESAMPLE_FILTERS))}, got {sg.resample_filter!r}",
    )
    check(
        0 < sg.background_min_s <= sg.amplitude_span_s,
        f"signal.background_min_s / amplitude_span_s: need "
        f"0 < min <= span, got {sg.background_min_s!r} / {sg.amplitude_span_s!r}",
    )
    within("signal.background_hold_max_s", sg.background_hold_max_s, 0, MAX_DURATION_S)
    check(
        0 < sg.background_quantile < 1,
        f"signal.background_quantile: must lie in (0, 1), got {sg.background_quantile!r}",
    )
    check(
        sg.montage in MONTAGES, f"signal.montage: expected one of {', '.join(map(repr, MONTAGES))}, got {sg.montage!r}"
    )
    for key, names in (("backend", MODEL_BACKENDS), ("device", MODEL_DEVICES), ("precision", MODEL_PRECISIONS)):
        chosen = getattr(m, key)
        check(chosen in names, f"model.{key}: expected one of {', '.join(map(repr, names))}, got {chosen!r}")
    check(
        not (m.precision == "bfloat16" and m.backend == "litert"),
        "model.precision: 'bfloat16' runs on the TensorFlow or OpenVINO backend, but model.backend is 'litert'",
    )
    check(
        isinstance(m.threads, int) and not isinstance(m.threads, bool) and 0 <= m.threads <= MAX_MODEL_THREADS,
        f"model.threads: expected an integer in [0, {MAX_MODEL_THREADS}] (0 = every core), got {m.threads!r}",
    )
    check(
        isinstance(m.batch_windows, int)
        and not isinstance(m.batch_windows, bool)
        and 1 <= m.batch_windows <= MAX_BATCH_WINDOWS,
        f"model.batch_windows: expected an integer in [1, {MAX_BATCH_WINDOWS}], got {m.batch_windows!r}",
    )
    check(
        d.aggregation in AGGREGATIONS,
        f"decision.aggregation: expected one of {', '.join(map(repr, AGGREGATIONS))}, got {d.aggregation!r}",
    )
    check(0 < d.channel_false_rate < 1, f"decision.channel_false_rate: must be in (0, 1), got {d.channel_false_rate!r}")
    check(0 < d.bed_false_rate < 1, f"decision.bed_false_rate: must be in (0, 1), got {d.bed_false_rate!r}")
    check(
        0 <= d.channel_correlation < 1,
        f"decision.channel_correlation: must be in [0, 1), got {d.channel_correlation!r}",
    )
    within("decision.settle_s", d.settle_s, 0, MAX_DURATION_S)
    check(
        1 <= d.k_channels <= MAX_CHANNELS,
        f"decision.k_channels: must be in [1, {MAX_CHANNELS}], got {str(d.k_channels)[:40]}",
    )
    check(
        1 <= d.smoothing_windows <= MAX_SMOOTHING_WINDOWS,
        f"decision.smoothing_windows: must be in [1, {MAX_SMOOTHING_WINDOWS}], got {str(d.smoothing_windows)[:40]}",
    )
    check(0 < d.on_threshold <= 1, f"decision.on_threshold: must be in (0, 1], got {d.on_threshold!r}")
    check(0 <= d.off_threshold <= 1, f"decision.off_threshold: must be in [0, 1], got {d.off_threshold!r}")
    check(
        not pair_known("decision.on_threshold", "decision.off_threshold")
        or not 0 <= d.off_threshold <= 1
        or d.off_threshold <= d.on_threshold,
        f"decision.off_threshold: must be in [0, on_threshold={d.on_threshold!r}], got {d.off_threshold!r}",
    )
    within("decision.min_duration_s", d.min_duration_s, 0, MAX_DURATION_S)
    within("decision.merge_gap_s", d.merge_gap_s, 0, MAX_DURATION_S)
    within("decision.prolonged_s", d.prolonged_s, 0, MAX_DURATION_S)
    for key, endpoint in (("alerts.endpoint", a.endpoint), ("alerts.replay_endpoint", a.replay_endpoint)):
        if key == "alerts.replay_endpoint" and endpoint == "":
            continue
        check("://" in endpoint, f"{key}: expected a ZeroMQ endpoint like 'tcp://127.0.0.1:5556', got {endpoint!r}")
    wildcard = a.endpoint.endswith((":*", ":0"))  # ZeroMQ picks a free port for each
    check(
        wildcard or a.endpoint != a.replay_endpoint,
        f"alerts.replay_endpoint: must differ from alerts.endpoint, got {a.replay_endpoint!r}",
    )
    within("alerts.heartbeat_s", a.heartbeat_s, MIN_HEARTBEAT_S, MAX_DURATION_S)
    check(
        bool(a.curve_secret_key) == bool(a.curve_clients_dir),
        "alerts.curve_secret_key / curve_clients_dir: set both (CURVE on) or neither, "
        f"got {a.curve_secret_key!r} / {a.curve_clients_dir!r}",
    )
    check(
        "alerts.reannounce_s" in infinite
        or a.reannounce_s == 0
        or MIN_REANNOUNCE_S <= a.reannounce_s <= MAX_DURATION_S,
        f"alerts.reannounce_s: must be 0 (off) or in [{MIN_REANNOUNCE_S:g}, {MAX_DURATION_S:g}] s, "
        f"got {a.reannounce_s!r}",
    )
    check(0 <= me.port <= 65535, f"metrics.port: must be in 0..65535, got {me.port!r}")
    check(
        cfg.logging.level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"),
        f"logging.level: expected DEBUG, INFO, WARNING or ERROR, got {cfg.logging.level!r}",
    )


def _parse_beds(raw: Any, errors: list[str]) -> tuple[BedConfig, ...]:
    """``[[beds]]`` (a list of tables) -> bed configs; every problem is appended to ``errors``."""
    if not isinstance(raw, (list, tuple)):
        errors.append(f"beds: expected a list of tables ([[beds]]), got {raw!r}")
        return ()
    known = {f.name: f for f in fields(BedConfig)}
    out: list[BedConfig] = []
    for i, table in enumerate(raw):
        where = f"beds[{i}]"
        if not isinstance(table, Mapping):
            errors.append(f"{where}: expected a table, got {table!r}")
            continue
        kwargs: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                errors.append(f"unknown key {where}.{key} (known: {', '.join(known)})")
            elif key in ("channels", "include", "exclude"):
                if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v.strip() for v in value):
                    kwargs[key] = tuple(value)
                else:
                    errors.append(f"{where}.{key}: expected a list of non-empty strings, got {value!r}")
            elif isinstance(value, str):
                kwargs[key] = value
            else:
                errors.append(f"{where}.{key}: expected a string, got {_shown_invalid(key, value)}")
        shown = {k: shown_value(k, v) if k == "patient" else v for k, v in table.items()}
        if not any(kwargs.get(k) for k in ("name", "type", "source_id")):
            errors.append(f"{where}: give at least one of name, type, source_id, got {shown!r}")
            continue
        label = kwargs.pop("bed", "") or kwargs.get("name") or kwargs.get("source_id") or ""
        if not label.strip():
            errors.append(f"{where}.bed: expected a label (or a name or source_id to take it from), got {shown!r}")
            continue
        out.append(BedConfig(bed=label, **kwargs))
    labels = [b.bed for b in out]
    repeated = sorted({b for b in labels if labels.count(b) > 1})
    if repeated:
        errors.append(f"beds: every bed needs its own label, got {repeated!r} more than once")
    return tuple(out)


def _parse_discover(raw: Any, type_flag: Any, errors: list[str], sources: dict[str, str]) -> DiscoverConfig:
    """``[discover]`` (``type``, ``[discover.beds]`` source id -> label, ``[discover.patients]`` source id ->
    patient) and ``--type`` without a name."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        errors.append(f"[discover]: expected a table, got {raw!r}")
        raw = {}
    for key in raw:
        if key not in ("type", "beds", "patients"):
            errors.append(f"unknown key discover.{key} (known: type, beds, patients)")
        else:
            sources[f"discover.{key}"] = SOURCE_FILE
    type_ = raw.get("type", "")
    if type_flag is not None:
        type_, sources["discover.type"] = type_flag, SOURCE_FLAG
    if not isinstance(type_, str):
        errors.append(f"discover.type: expected a string, got {type_!r}")
        type_ = ""
    labels = raw.get("beds", {})
    pairs: list[tuple[str, str]] = []
    if not isinstance(labels, Mapping):
        errors.append(f"discover.beds: expected a table of source id = bed label, got {labels!r}")
    else:
        for sid, label in labels.items():
            if isinstance(label, str) and label.strip():
                pairs.append((str(sid), label))
            else:
                errors.append(f"discover.beds.{sid}: expected a bed label, got {label!r}")
    shown = [label for _, label in pairs]
    repeated = sorted({b for b in shown if shown.count(b) > 1})
    if repeated:
        errors.append(f"discover.beds: every bed needs its own label, got {repeated!r} more than once")
    given = raw.get("patients", {})
    patients: list[tuple[str, str]] = []
    if not isinstance(given, Mapping):
        errors.append(f"discover.patients: expected a table of source id = patient, got {type(given).__name__}")
    else:
        for sid, patient in given.items():
            if isinstance(patient, str):
                patients.append((str(sid), patient))
            else:
                errors.append(f"discover.patients.{sid}: expected a string, got {_shown_invalid('patient', patient)}")
    return DiscoverConfig(type=type_, beds=tuple(pairs), patients=tuple(patients))


def build_config(raw: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Config:
    """Build a validated :class:`Config` from a parsed TOML mapping plus dotted-key overrides.

    Overrides whose value is ``None`` are ignored (an unset CLI flag). Raises :class:`ConfigError`
    listing every problem. ``Config.sources`` records which keys ``raw`` ("config file") and
    ``overrides`` ("command line") set.
    """
    errors: list[str] = []
    merged: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    raw = dict(raw)
    overrides = dict(overrides or {})
    raw_beds = raw.pop("beds", None)
    raw_discover = raw.pop("discover", None)
    if overrides.get("beds") is not None:  # --stream given more than once: the command line's list wins
        raw_beds = overrides["beds"]
        sources["beds"] = SOURCE_FLAG
    elif raw_beds is not None:
        sources["beds"] = SOURCE_FILE
    overrides.pop("beds", None)
    beds = _parse_beds(raw_beds, errors) if raw_beds is not None else ()
    discover = _parse_discover(raw_discover, overrides.pop("discover.type", None), errors, sources)
    for section, values in raw.items():
        if section not in _SECTIONS:
            errors.append(f"unknown section [{section}] (known: {', '.join(_SECTIONS)}, [[beds]], discover)")
        elif not isinstance(values, Mapping):
            errors.append(f"[{section}]: expected a table, got {values!r}")
        else:
            merged[section] = dict(values)
            sources.update({f"{section}.{key}": SOURCE_FILE for key in values})
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        merged.setdefault(section, {})[key] = value
        sources[dotted] = SOURCE_FLAG

    sections: dict[str, Any] = {}
    for section, factory in _SECTIONS.items():
        default = factory()
        known = {f.name: f for f in fields(default)}
        kwargs: dict[str, Any] = {}
        for key, value in merged.get(section, {}).items():
            if key not in known:
                errors.append(f"unknown key {section}.{key} (known: {', '.join(known)})")
                continue
            coerced = _coerce(section, known[key], value, errors)
            if coerced is not None:
                kwargs[key] = coerced
        sections[section] = dataclasses.replace(default, **kwargs)
    cfg = Config(**sections, beds=beds, discover=discover, sources=sources)
    _validate(cfg, errors, pairs=False)
    if errors:
        raise ConfigError(errors)
    return cfg


def window_errors(cfg: Config, window_s: float) -> list[str]:
    """What of ``cfg.window`` does not fit a model whose window lasts ``window_s`` seconds
    (``window_samples / sample_rate_hz``); ``[]`` when it fits.

    A hop longer than the window leaves signal between windows unscored; the ring buffer must hold a
    window, a hop and the resampling filter's margin (:data:`RESAMPLE_MARGIN_S`). Checked where the model
    is loaded (:func:`apply_model_settings`), before the daemon says READY, so that a stream is never
    refused later for it.
    """
    w, errors = cfg.window, []
    if not (math.isfinite(window_s) and window_s > 0):
        return [f"the model's window must last a finite positive time, got {window_s!r} s"]
    if w.hop_s > window_s:
        errors.append(
            f"window.hop_s: must be at most the model's {window_s:g} s window (a longer hop leaves signal "
            f"unscored), got {w.hop_s!r}"
        )
    need = window_s + w.hop_s + RESAMPLE_MARGIN_S
    if w.buffer_s < need:
        errors.append(
            f"window.buffer_s: must hold the model's {window_s:g} s window + window.hop_s {w.hop_s:g} s + "
            f"{RESAMPLE_MARGIN_S:g} s for resampling = {need:g} s, got {w.buffer_s!r}"
        )
    return errors


def apply_model_settings(
    cfg: Config, settings: Mapping[str, Mapping[str, Any]] | None, *, window_s: float | None = None
) -> tuple[Config, dict[str, str]]:
    """The effective configuration for a model whose card carries ``settings`` (``{"decision": {...},
    "signal": {...}}``, validated by :func:`realtime.model.validate_settings`).

    For each of :data:`MODEL_SETTING_KEYS`: a key the config file or a flag set keeps its value; else
    the card's value, if it has one; else the built-in default. Returns ``(config, {dotted key:
    source})`` with source "default", "model card",
    "config file", "command line" or "set in code" (``cfg.sources`` is ``None``: nothing changes).
    Raises :class:`ConfigError` when the mix is invalid (e.g. a file's off_threshold above the card's
    on_threshold), quoting the values, and, given the model's ``window_s`` (seconds), when ``cfg.window``
    does not fit it (:func:`window_errors`).
    """
    settings = settings or {}
    explicit = cfg.sources
    used: dict[str, str] = {}
    sections: dict[str, Any] = {}
    for section, keys in MODEL_SETTING_KEYS.items():
        card_section = settings.get(section) or {}
        derived = card_section.get("derived_by")
        changes: dict[str, Any] = {}
        for key in keys:
            dotted = f"{section}.{key}"
            if explicit is None:
                used[dotted] = SOURCE_CODE
            elif dotted in explicit:
                used[dotted] = explicit[dotted]
            elif key in card_section:
                changes[key] = card_section[key]
                used[dotted] = SOURCE_CARD
                if derived:  # said once per section by describe_settings
                    used[f"{section}.derived_by"] = str(derived)
            else:
                used[dotted] = SOURCE_DEFAULT
        if changes:
            current = getattr(cfg, section)
            kinds = {f.name: f.type for f in fields(current)}
            changes = {k: float(v) if kinds[k] in ("float", float) else v for k, v in changes.items()}
            sections[section] = dataclasses.replace(current, **changes)
    out = dataclasses.replace(cfg, **sections) if sections else cfg
    errors: list[str] = []
    _validate(out, errors)
    errors = [
        f"{e} (settings from: "
        + ", ".join(f"{k} {used[k]}" for k in sorted(used) if k.split(".")[0] in e.split(".")[0])
        + ")"
        if any(k.split(".")[0] in e.split(".")[0] for k in used)
        else e
        for e in errors
    ]
    if window_s is not None:
        errors += window_errors(out, window_s)
    if errors:
        raise ConfigError(errors)
    return out, used


def load_config(path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read a TOML file (``None`` = defaults only) and apply overrides; raises :class:`ConfigError`."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError([f"cannot read config file {str(path)!r}: {exc.strerror or exc}"]) from exc
        except UnicodeDecodeError as exc:  # TOML is UTF-8: a Latin-1 "café" in a comment
            raise ConfigError([f"config file {str(path)!r} is not UTF-8 text: {exc}"]) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"config file {str(path)!r} is not valid TOML: {exc}"]) from exc
    return build_config(raw, overrides)


def unused_stream_flags(cfg: Config) -> str | None:
    """A warning when ``--stream`` or ``--source-id`` (given once) name a stream but the config file's ``[[beds]]``
    are the daemon's beds, else ``None``: the flags select nothing then. (Not an error: the systemd template passes
    ``--stream %I`` whatever its file holds; ``--stream`` given more than once replaces the file's beds.)"""
    sources = cfg.sources or {}
    if not cfg.beds or sources.get("beds") != SOURCE_FILE:
        return None
    flags = {"name": "--stream", "source_id": "--source-id"}
    given = [
        f"{flag} {getattr(cfg.stream, key)!r}"
        for key, flag in flags.items()
        if sources.get(f"stream.{key}") == SOURCE_FLAG
    ]
    if not given:
        return None
    return (
        f"{' and '.join(given)} from the command line not used: the config file's [[beds]] ({len(cfg.beds)}) are "
        "this daemon's beds (give --stream once per bed to replace them)"
    )


def montage_warning(cfg: Config, settings: Mapping[str, Mapping[str, Any]] | None) -> str | None:
    """A warning when ``cfg.signal.montage`` is not the montage the model was trained on (the card's
    ``"montage"``, in ``settings["signal"]["montage"]``), else ``None``: a network that learned bipolar
    derivations reads referential channels, with their common reference, as a different signal."""
    trained = ((settings or {}).get("signal") or {}).get("montage")
    if trained is None or trained == cfg.signal.montage:
        return None
    return (
        f"signal.montage is {cfg.signal.montage!r} but the model was trained on the {trained!r} montage (its "
        f"card): its channels are not what the network learned from; unset signal.montage to use {trained!r}"
    )


def montage_asked(cfg: Config, settings: Mapping[str, Mapping[str, Any]] | None) -> bool:
    """Whether ``cfg.signal.montage`` was asked for (a config file, a flag, code, or the model's card) rather than
    left at the built-in default. A montage that cannot be formed is then a warning (the network sees channels unlike
    those asked for); the built-in default's falling back on a recording it cannot re-reference (one channel, a
    bipolar recording) is what that default does with such a recording, said at INFO."""
    trained = ((settings or {}).get("signal") or {}).get("montage")
    return cfg.sources is None or "signal.montage" in cfg.sources or trained is not None


def describe_settings(cfg: Config, sources: Mapping[str, str]) -> str:
    """``decision.on_threshold=0.6 (model card), ...; the card's decision settings derived by ...``: the
    model-specific settings and their sources (from :func:`apply_model_settings`), for the start-up log."""
    parts = []
    for section, keys in MODEL_SETTING_KEYS.items():
        for key in keys:
            dotted = f"{section}.{key}"
            parts.append(f"{dotted}={getattr(getattr(cfg, section), key)!r} ({sources.get(dotted, SOURCE_DEFAULT)})")
    text = ", ".join(parts)
    for section in MODEL_SETTING_KEYS:
        if f"{section}.derived_by" in sources:
            text += f"; the card's {section} settings derived by {sources[section + '.derived_by']}"
    return text


def config_to_dict(cfg: Config) -> dict[str, dict[str, Any]]:
    """The configuration as plain TOML-able values (for logs and the model-info metric); a patient given is shown
    as :data:`PATIENT_SHOWN`, never as given."""
    out: dict[str, Any] = {
        name: {k: shown_value(k, v) for k, v in dataclasses.asdict(getattr(cfg, name)).items() if k != "patient" or v}
        for name in SECTION_NAMES
    }
    if cfg.beds:
        out["beds"] = [
            {k: shown_value(k, v) for k, v in dataclasses.asdict(b).items() if v is not None and (k != "patient" or v)}
            for b in cfg.beds
        ]
    if cfg.discover.type or cfg.discover.beds or cfg.discover.patients:
        out["discover"] = {"type": cfg.discover.type, "beds": dict(cfg.discover.beds)}
        if cfg.discover.patients:
            out["discover"]["patients"] = {sid: shown_value("patient", p) for sid, p in cfg.discover.patients}
    return out


# what logs, the model-info metric and reload messages show of a patient given (StreamConfig.patient)
PATIENT_SHOWN = "(given)"


def shown_value(key: str, value: Any) -> Any:
    """A setting's value as logs show it: tuples as lists, a patient as :data:`PATIENT_SHOWN`."""
    if key == "patient":
        return PATIENT_SHOWN if value else ""
    return list(value) if isinstance(value, tuple) else value


def _shown_invalid(key: str, value: Any) -> str:
    """An invalid value as an error message quotes it: a patient's by its type only (an unquoted record number)."""
    return f"{type(value).__name__} (a patient is not shown)" if key == "patient" else repr(value)


def static_beds(cfg: Config) -> tuple[BedConfig, ...]:
    """The beds a configuration names: ``[[beds]]``; none with discovery (``discover.type``: beds come as their
    streams appear); else the one bed of ``[stream]``, labelled as its stream (its name, else source id, else
    type) and ``implicit`` (see :func:`is_implicit`)."""
    if cfg.beds:
        return cfg.beds
    if cfg.discover.type:
        return ()
    s = cfg.stream
    return (
        BedConfig(
            bed=IMPLICIT_BED,
            name=s.name,
            type=s.type,
            source_id=s.source_id,
            channels=s.channels,
            include=s.include,
            exclude=s.exclude,
            patient=s.patient,
        ),
    )


# The label of the one bed of a [stream] section: it has none of its own (metrics and logs name its stream;
# its messages carry no "bed" field), as before there were several beds.
IMPLICIT_BED = ""
