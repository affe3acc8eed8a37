"""Every hyper-parameter of training, in one frozen dataclass tree.

Each field carries its unit and meaning in ``metadata`` (``describe()`` lists them). Values come
from TOML (``config/train/default.toml``; ``config/train/tiny.toml`` for tests), may be overridden
with dotted keys (``"fit.epochs=3"``), and serialise to a plain dict that each run records
(``<run>/hparams.json``) and the model card embeds.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

from realtime.montage import MONTAGES, WHOLE_BED


def _default(f: dataclasses.Field) -> Any:
    """A dataclass field's default value, from its default or its default factory."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


class HParamsError(ValueError):
    """An invalid hyper-parameter file or override; the message quotes the value received."""


def _f(default: Any, unit: str, meaning: str):
    if isinstance(default, (list, dict)):
        return field(default_factory=partial(copy.copy, default), metadata={"unit": unit, "meaning": meaning})
    return field(default=default, metadata={"unit": unit, "meaning": meaning})


@dataclass(frozen=True)
class SignalHP:
    sample_rate_hz: float = _f(250.0, "Hz", "rate every recording is resampled to; the model's input rate")
    window_samples: int = _f(1024, "samples", "model input length (1024 samples = 4.096 s at 250 Hz)")
    train_hop_samples: int = _f(512, "samples", "hop between training examples cut from a long recording")
    eval_hop_samples: int = _f(256, "samples", "hop between windows when scoring a test segment")
    crop_margin_samples: int = _f(
        256,
        "samples",
        "extra samples stored per training example; a random crop of window_samples "
        "is drawn from window_samples + margin (the random-shift augmentation)",
    )


@dataclass(frozen=True)
class ScalingHP:
    method: str = _f(
        "fixed_uv",
        "-",
        "input scaling inside the model: 'window_minmax' (per-window zero mean scaled into [-1, 1]; "
        "flat window -> 0), 'fixed_uv' ((x - mean) / scale_uv), 'asinh_uv' (asinh((x - mean) / scale_uv): "
        "linear below scale_uv, logarithmic above, so a gain error is a small shift); default fixed_uv, "
        "chosen on the scalp-transfer proxy (docs/training.md)",
    )
    scale_uv: float = _f(100.0, "uV", "amplitude scale for 'fixed_uv' and 'asinh_uv'")


@dataclass(frozen=True)
class FilterBankHP:
    band_edges_hz: list = _f(
        [1.5, 3.0, 6.0, 12.0, 24.0, 40.0],
        "Hz",
        "edges of consecutive band-pass bands (n_bands = len - 1), from 1.5 Hz upward",
    )
    taps: int = _f(511, "samples at the up-sampled rate", "FIR length (odd: linear phase, 'same' alignment)")
    window: str = _f("hamming", "-", "scipy.signal.firwin window")
    float64: bool = _f(
        False,
        "-",
        "compute the convolution in float64 (the layers before the bank stay float32 "
        "under mixed precision), then cast back to float32; LiteRT cannot convert it",
    )


@dataclass(frozen=True)
class InceptionHP:
    upsample_factor: int = _f(
        2,
        "-",
        "zero-order-hold up-sampling before the filter bank (in its layer; the bank is the interpolation filter)",
    )
    filters: int = _f(8, "channels", "filters per branch of an inception module")
    kernel_sizes: list = _f([9, 25], "samples", "kernel sizes of the parallel convolution branches")
    dilation_rate: int = _f(8, "-", "dilation of the two 'global' blocks (the two 'local' blocks use 1)")
    modules_per_block: int = _f(3, "-", "inception modules per block, each followed by pooling")
    pool_size: int = _f(4, "samples", "down-sampling pool after each module (and the pooling branch uses 3, stride 1)")
    dense_units: list = _f([64, 32], "units", "the two dense layers after concatenation")
    dropout: float = _f(0.3, "-", "dropout before each dense layer and each auxiliary head")


@dataclass(frozen=True)
class LstmHP:
    upsample_factor: int = _f(
        1, "-", "zero-order-hold up-sampling factor before the filter bank (in the FilterBank layer)"
    )
    frontend_filters: int = _f(16, "channels", "strided convolution front-end filters")
    frontend_stride: int = _f(8, "samples", "front-end stride (sequence length = window * upsample / stride)")
    units: int = _f(32, "units", "LSTM units")
    dense_units: int = _f(32, "units", "dense layer after the LSTM")
    dropout: float = _f(0.3, "-", "dropout before the dense layers")


@dataclass(frozen=True)
class AugmentHP:
    enabled: bool = _f(True, "-", "apply augmentation to training examples")
    polarity_flip_prob: float = _f(0.5, "probability", "multiply the window by -1")
    amplitude_min: float = _f(
        0.8,
        "x",
        "amplitude scale, log-uniform between min and max (0.8-1.25: calibrated devices, amplitude stays "
        "a cue; chosen on the scalp-transfer proxy)",
    )
    amplitude_max: float = _f(1.25, "x", "amplitude scale, log-uniform between min and max")
    noise_std_uv: float = _f(3.0, "uV", "maximum std of additive white noise (std drawn uniform in [0, max])")
    mixup_alpha: float = _f(
        0.0,
        "-",
        "mixup: each training example mixed with another of its batch, weight "
        "l ~ Beta(alpha, alpha), labels mixed alike; 0 = off",
    )
    negative_amplitude_min: float = _f(
        0.0,
        "x",
        "amplitude scale of non-seizure examples, log-uniform between negative_amplitude_min and max; "
        "0 and 0 = off (non-seizure examples get amplitude_min..max like seizures). A wider range on "
        "negatives than on seizures (e.g. 0.5-4x) means high amplitude alone is no seizure cue (issue #11)",
    )
    negative_amplitude_max: float = _f(0.0, "x", "see negative_amplitude_min; 0 = off")


@dataclass(frozen=True)
class DataHP:
    sources: list = _f(["bonn", "nscnd"], "-", "datasets to train on: bonn, nscnd, edf")
    edf_paths: list = _f([], "-", "EDF/BDF files (or folders) for the 'edf' source")
    edf_channels: list = _f([], "-", "channels to use from EDF files ([] = the EEG channels, by the daemon's rule)")
    edf_group_by: str = _f(
        "file",
        "-",
        "what the split keeps together for EDF recordings: 'file', or 'folder' "
        "(one folder per patient, as CHB-MIT ships: no patient on both sides)",
    )
    montage: str = _f(
        "as_recorded",
        "-",
        "re-referencing of the multichannel recordings (edf source, background), as the daemon's "
        "signal.montage: 'as_recorded', 'bipolar' (double banana) or 'average'; written into the export's "
        'card ("montage"), from which the daemon takes its default, so that it scores what the network saw',
    )
    split_fractions: list = _f([0.6, 0.2, 0.2], "-", "train / validation / test fractions, by recording")
    split_seed: int = _f(
        -1,
        "-",
        "seed of the split by recording; -1 = fit.seed (ensemble members keep one "
        "split and differ only in fit.seed: weights, shuffling, augmentation)",
    )
    cv_folds: int = _f(
        0,
        "-",
        "0 = one split by split_fractions; k >= 3 = k-fold by recording group (train-detector cv): "
        "fold cv_fold is the test split, the next fold validation, the rest training",
    )
    cv_fold: int = _f(0, "-", "which fold is the test split when cv_folds >= 3 (0 .. cv_folds - 1)")
    balance_classes: bool = _f(True, "-", "repeat training examples so both classes weigh equally within a source")
    source_share: dict = _f(
        {"bonn": 0.7, "nscnd": 0.3},
        "-",
        "target share of training examples per source (reached by repeating the smaller ones)",
    )
    max_repeat: int = _f(40, "-", "cap on how often one training example is repeated per epoch by balancing")
    shard_examples: int = _f(2048, "examples", "examples per TFRecord shard (the background's too, per person)")
    in_memory_examples_max: int = _f(
        131072,
        "examples",
        "a split of at most this many examples per epoch (and no background) is cached in memory and "
        "shuffled over a whole epoch; a larger one streams from its shards (order reshuffled every epoch, "
        "a shuffle buffer of this many, ~5 kB each), so that a corpus larger than memory trains",
    )
    background: bool = _f(
        False,
        "-",
        "add real seizure-free background EEG (data.background_dir: every EEG channel of every file, "
        "label 0) as training and validation negatives, split by person, streamed from TFRecord shards "
        "written once per corpus and settings (train/datasets/background.py)",
    )
    background_dir: str = _f(
        "background", "-", "folder of the background corpus (eegmmidb/, sleep-edf/), relative to --data-root"
    )
    background_share: float = _f(
        0.25,
        "-",
        "share of training examples drawn from the background (tf.data sample_from_datasets); "
        "validation adds every k-th background example of its persons to reach the same share",
    )
    background_hop_samples: int = _f(
        1024, "samples", "hop between background examples cut from each channel, at the model rate"
    )
    background_shuffle_examples: int = _f(
        8192,
        "examples",
        "shuffle buffer of the streamed background (memory: buffer x example size, ~5 kB each)",
    )
    background_slow_uv: list = _f(
        [],
        "uV",
        "each background file also with its own 0.5-4 Hz activity made dominant, to each of these median 0.5-40 Hz "
        "standard deviations: a patient's large slow background from real EEG (docs/background.md 'A slow "
        "background'); [] = the corpus as it comes",
    )


@dataclass(frozen=True)
class FitHP:
    architecture: str = _f("inception", "-", "a registered architecture (train/models/): 'inception' or 'lstm'")
    batch_size: int = _f(64, "examples", "global training batch")
    val_batch_size: int = _f(256, "examples", "validation batch")
    epochs: int = _f(20, "-", "training epochs")
    learning_rate: float = _f(2e-3, "-", "Adam initial learning rate")
    plateau_factor: float = _f(0.5, "-", "ReduceLROnPlateau factor")
    plateau_patience: int = _f(2, "epochs", "ReduceLROnPlateau patience")
    min_learning_rate: float = _f(5e-5, "-", "ReduceLROnPlateau floor")
    aux_loss_weight: float = _f(0.3, "-", "loss weight of each auxiliary head (main head weighs 1)")
    positive_loss_weight: float = _f(
        1.0,
        "-",
        "training-loss weight of a seizure example (soft labels: in proportion); validation is unweighted. "
        "(1 + s) / (1 - s) keeps the 50/50 class prior that data.background_share s shifts",
    )
    monitor: str = _f("val_loss", "-", "validation metric for the best checkpoint and the plateau")
    precision: str = _f(
        "auto",
        "-",
        "'auto' (mixed_float16 on GPU, mixed_bfloat16 on TPU, float32 on CPU), 'float32', "
        "'mixed_float16', 'mixed_bfloat16'",
    )
    strategy: str = _f("auto", "-", "'auto', 'cpu', 'mirrored', 'multi_worker', 'tpu'")
    tpu: str = _f("", "-", "TPU name or grpc address for the 'tpu' strategy ('' = local / from the environment)")
    intra_op_threads: int = _f(0, "threads", "TensorFlow intra-op threads (0 = TensorFlow's default)")
    inter_op_threads: int = _f(0, "threads", "TensorFlow inter-op threads (0 = TensorFlow's default)")
    steps_per_epoch: int = _f(0, "steps", "0 = one pass over the training data")
    run_eagerly: bool = _f(
        False,
        "-",
        "Keras runs each training and validation step eagerly, tracing no graph: cheaper for a run of a "
        "few steps (the tests' tiny.toml), far slower for a real one; speed only, the same model",
    )
    seed: int = _f(20261124, "-", "seed for the split, shuffling, augmentation and weights")
    init_from: str = _f(
        "",
        "-",
        "a model export (realtime/models/default) whose weights start the training instead of random ones: "
        "fine-tuning; its card's network hyper-parameters must equal this run's ('' = random weights)",
    )


@dataclass(frozen=True)
class HParams:
    signal: SignalHP = field(default_factory=SignalHP)
    scaling: ScalingHP = field(default_factory=ScalingHP)
    filterbank: FilterBankHP = field(default_factory=FilterBankHP)
    inception: InceptionHP = field(default_factory=InceptionHP)
    lstm: LstmHP = field(default_factory=LstmHP)
    augment: AugmentHP = field(default_factory=AugmentHP)
    data: DataHP = field(default_factory=DataHP)
    fit: FitHP = field(default_factory=FitHP)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **dotted: Any) -> HParams:
        """``hp.replace(**{"fit.epochs": 3})`` -> a new HParams."""
        return from_dict(_merge(self.to_dict(), dict(dotted.items())))

    @property
    def split_seed(self) -> int:
        """The seed of the split by recording: ``data.split_seed``, or ``fit.seed`` when that is -1."""
        return self.fit.seed if self.data.split_seed == -1 else self.data.split_seed

    def validate(self) -> HParams:
        errs = []
        if self.data.split_seed < -1:
            errs.append(f"data.split_seed must be >= 0, or -1 for fit.seed, got {self.data.split_seed!r}")
        if self.scaling.method not in ("window_minmax", "fixed_uv", "asinh_uv"):
            errs.append(f"scaling.method must be window_minmax, fixed_uv or asinh_uv, got {self.scaling.method!r}")
        if self.scaling.scale_uv <= 0:
            errs.append(f"scaling.scale_uv must be > 0, got {self.scaling.scale_uv!r}")
        from train.models import registered  # the registry imports Keras: only when validating

        if self.fit.architecture not in registered():
            errs.append(
                f"fit.architecture must be one of {list(registered())!r} (train/models/), got {self.fit.architecture!r}"
            )
        edges = list(self.filterbank.band_edges_hz)
        if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)) or edges[0] <= 0:
            errs.append(f"filterbank.band_edges_hz must be increasing positive, got {edges!r}")
        if self.filterbank.taps % 2 == 0:
            errs.append(f"filterbank.taps must be odd, got {self.filterbank.taps!r}")
        if self.data.cv_folds and not (self.data.cv_folds >= 3 and 0 <= self.data.cv_fold < self.data.cv_folds):
            errs.append(
                f"data.cv_folds must be 0 or >= 3 and data.cv_fold in 0 .. cv_folds - 1, got cv_folds="
                f"{self.data.cv_folds!r}, cv_fold={self.data.cv_fold!r}"
            )
        fr = list(self.data.split_fractions)
        if len(fr) != 3 or any(x < 0 for x in fr) or abs(sum(fr) - 1) > 1e-6:
            errs.append(f"data.split_fractions must be three non-negative numbers summing to 1, got {fr!r}")
        if not 0 < self.augment.amplitude_min <= self.augment.amplitude_max:
            errs.append(
                f"augment amplitude range must satisfy 0 < min <= max, got "
                f"{self.augment.amplitude_min!r}..{self.augment.amplitude_max!r}"
            )
        neg = (self.augment.negative_amplitude_min, self.augment.negative_amplitude_max)
        if neg != (0.0, 0.0) and not 0 < neg[0] <= neg[1]:
            errs.append(
                f"augment negative amplitude range must be 0 and 0 (off) or 0 < min <= max, got {neg[0]!r}..{neg[1]!r}"
            )
        if self.data.background:
            if not 0 < self.data.background_share < 1:
                errs.append(f"data.background_share must be in (0, 1), got {self.data.background_share!r}")
            if not self.data.sources:
                errs.append("data.background needs at least one seizure source in data.sources, got []")
        if self.data.background_hop_samples < 1 or self.data.background_shuffle_examples < 1:
            errs.append(
                f"data.background_hop_samples and data.background_shuffle_examples must be >= 1, got "
                f"{self.data.background_hop_samples!r} and {self.data.background_shuffle_examples!r}"
            )
        slow = self.data.background_slow_uv
        if not isinstance(slow, list | tuple) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in slow
        ):
            errs.append(f"data.background_slow_uv must be a list of positive µV values, got {slow!r}")
        if self.data.shard_examples < 1 or self.data.in_memory_examples_max < 1:
            errs.append(
                f"data.shard_examples and data.in_memory_examples_max must be >= 1, got "
                f"{self.data.shard_examples!r} and {self.data.in_memory_examples_max!r}"
            )
        if not (math.isfinite(self.fit.positive_loss_weight) and self.fit.positive_loss_weight > 0):
            errs.append(f"fit.positive_loss_weight must be finite and > 0, got {self.fit.positive_loss_weight!r}")
        f = self.fit
        if f.epochs < 1 or f.batch_size < 1 or f.val_batch_size < 1:
            errs.append(
                f"fit.epochs, fit.batch_size and fit.val_batch_size must be >= 1, got {f.epochs!r}, "
                f"{f.batch_size!r} and {f.val_batch_size!r}"
            )
        if not all(math.isfinite(r) and r > 0 for r in (f.learning_rate, f.min_learning_rate)):
            errs.append(
                f"fit.learning_rate and fit.min_learning_rate must be finite and > 0, got {f.learning_rate!r} and "
                f"{f.min_learning_rate!r}"
            )
        if self.augment.mixup_alpha < 0:
            errs.append(f"augment.mixup_alpha must be >= 0 (0 = off), got {self.augment.mixup_alpha!r}")
        if self.fit.precision not in ("auto", "float32", "mixed_float16", "mixed_bfloat16"):
            errs.append(f"fit.precision not understood: {self.fit.precision!r}")
        if self.fit.strategy not in ("auto", "cpu", "mirrored", "multi_worker", "tpu"):
            errs.append(f"fit.strategy not understood: {self.fit.strategy!r}")
        trainable = [m for m in MONTAGES if m not in WHOLE_BED]  # their means for the whole bed: a rule of the bed
        if self.data.montage not in trainable:
            errs.append(f"data.montage must be one of {', '.join(map(repr, trainable))}, got {self.data.montage!r}")
        if self.data.edf_group_by not in ("file", "folder"):
            errs.append(f"data.edf_group_by must be 'file' or 'folder', got {self.data.edf_group_by!r}")
        for s in self.data.sources:
            if s not in ("bonn", "nscnd", "edf"):
                errs.append(f"data.sources entries must be bonn, nscnd or edf, got {s!r}")
        if errs:
            raise HParamsError("invalid hyper-parameters:\n  - " + "\n  - ".join(errs))
        return self


_SECTIONS = {f.name: f.type for f in fields(HParams)}
_CLASSES = {
    "signal": SignalHP,
    "scaling": ScalingHP,
    "filterbank": FilterBankHP,
    "inception": InceptionHP,
    "lstm": LstmHP,
    "augment": AugmentHP,
    "data": DataHP,
    "fit": FitHP,
}


def _merge(base: dict, overrides: Mapping[str, Any]) -> dict:
    out = json.loads(json.dumps(base))
    for key, value in overrides.items():
        parts = key.split(".")
        if len(parts) != 2 or parts[0] not in out or parts[1] not in out[parts[0]]:
            raise HParamsError(f"unknown hyper-parameter {key!r}")
        out[parts[0]][parts[1]] = value
    return out


def from_dict(d: Mapping[str, Any]) -> HParams:
    kwargs = {}
    for section, values in d.items():
        if section not in _CLASSES:
            raise HParamsError(f"unknown hyper-parameter section {section!r}")
        cls = _CLASSES[section]
        names = {f.name: f for f in fields(cls)}
        for k in values:
            if k not in names:
                raise HParamsError(f"unknown hyper-parameter {section}.{k!r}")
        conv = {}
        for k, v in values.items():
            default = _default(names[k])
            if isinstance(default, bool):
                if not isinstance(v, bool):
                    raise HParamsError(f"{section}.{k} must be true/false, got {v!r}")
            elif isinstance(default, int) and not isinstance(v, bool):
                if isinstance(v, float) and v.is_integer():
                    v = int(v)
                if not isinstance(v, int):
                    raise HParamsError(f"{section}.{k} must be an integer, got {v!r}")
            elif isinstance(default, float):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise HParamsError(f"{section}.{k} must be a number, got {v!r}")
                try:
                    v = float(v)
                except OverflowError:  # TOML integers have no size limit
                    raise HParamsError(f"{section}.{k} must be a finite number, got {str(v)[:20]}...") from None
            elif isinstance(default, list):  # "abc" is no list of three letters; ["a"] no list of frequencies
                kind = type(default[0]) if default else None  # an empty default: validate() knows its elements
                wrong = not all(_of_kind(x, kind) for x in v) if isinstance(v, list) and kind else None
                if isinstance(v, str) or (kind and not isinstance(v, list)) or wrong:
                    raise HParamsError(f"{section}.{k} must be a list like {default!r}, got {v!r}")
            elif isinstance(default, dict) and not isinstance(v, dict):
                raise HParamsError(f"{section}.{k} must be a table like {default!r}, got {v!r}")
            conv[k] = v
        kwargs[section] = cls(**conv)
    return HParams(**kwargs).validate()


def _of_kind(x: Any, kind: type) -> bool:
    """``x`` may stand in a list whose defaults are of ``kind``: a number for floats (not a bool), else that type."""
    if isinstance(x, bool):
        return kind is bool
    return isinstance(x, (int, float)) if kind is float else isinstance(x, kind)


def parse_override(text: str) -> tuple[str, Any]:
    """``"fit.epochs=3"`` -> ``("fit.epochs", 3)`` (the value is parsed as TOML, else kept as a string)."""
    if "=" not in text:
        raise HParamsError(f"override must look like section.name=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def load(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> HParams:
    """TOML file (or the defaults when ``path`` is None) + dotted overrides -> validated HParams."""
    base = HParams().to_dict()
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise HParamsError(f"cannot read hyper-parameter file {str(path)!r}: {e}") from e
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise HParamsError(f"{str(path)!r} is not valid TOML: {e}") from e
        flat = {f"{s}.{k}": v for s, sec in data.items() if isinstance(sec, dict) for k, v in sec.items()}
        stray = [s for s, sec in data.items() if not isinstance(sec, dict)]
        if stray:
            raise HParamsError(f"top-level keys must be sections, got {stray!r} in {str(path)!r}")
        base = _merge(base, flat)
    if overrides:
        base = _merge(base, overrides)
    return from_dict(base)


def describe() -> list[dict]:
    """[{name, default, unit, meaning}] for every hyper-parameter (used in docs/training.md)."""
    rows = []
    for section, cls in _CLASSES.items():
        for f in fields(cls):
            d = _default(f)
            rows.append({"name": f"{section}.{f.name}", "default": d, **f.metadata})
    return rows


# thread counts and eager steps change speed, not the model: runs that differ only in them are the same design
SPEED_KEYS = frozenset({("fit", "intra_op_threads"), ("fit", "inter_op_threads"), ("fit", "run_eagerly")})


def differences(a: Mapping[str, Any], b: Mapping[str, Any], ignore=frozenset()) -> list[tuple[str, Any, Any]]:
    """``(section.key, value in a, value in b)`` for every hyper-parameter (of ``a``'s keys, as in
    ``to_dict()``) whose value differs, except the ``(section, key)`` pairs in ``ignore``."""
    return [
        (f"{section}.{key}", value, b.get(section, {}).get(key))
        for section, values in a.items()
        for key, value in values.items()
        if (section, key) not in ignore and b.get(section, {}).get(key) != value
    ]
