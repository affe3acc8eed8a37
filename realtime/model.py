"""Loading a model export (card + sha256 checks) and batched prediction, TensorFlow, LiteRT or OpenVINO.

:func:`load_detector` reads ``<export>/model_card.json``, checks every field the card must have and
the sha256 of every file it lists (:class:`ModelLoadError` names the file, field or value), then
loads the backend:

- ``"tensorflow"``: ``tf.saved_model.load(<export>/saved_model).serve``, called through one concrete
  function traced once for ``[None, window_samples]`` float32 (no retracing per batch size, less Python
  dispatch per call). XLA (``jit_compile``) is not used: on the CPU it cost 1.0-2x the CPU time per
  window of the plain graph at batch 7 to 256, in three runs (docs/benchmarks.md). It runs on ``GPU:0`` when
  ``tf.config.list_physical_devices("GPU")`` finds one and ``device`` is ``"auto"`` or ``"gpu"``,
  else on the CPU; ``Detector.device`` says which, and it is logged. ``device="gpu"`` without a GPU
  is an error. On a GPU, TensorFloat-32 is turned off (process-wide) so that the probabilities are the
  CPU's within float32 rounding. The GPU path is untested on a GPU (benchmarks/gpu_check.sh is ready).
- ``"litert"``: ``ai_edge_litert.interpreter.Interpreter(<export>/model.tflite, num_threads=...)`` (or
  ``tflite_runtime.interpreter``) through its single signature runner (CPU), which resizes its input
  to the batch.
- ``"openvino"`` (``pip install openvino``: not in the plain install): OpenVINO's CPU plugin on the same
  ``<export>/model.tflite``, converted in memory at load (about 0.3 s), one compiled model and infer request per
  batch size of :func:`batch_sizes`, each compiled when first run (the warm-up). Its arithmetic is asked for by
  name (with no hint it runs bfloat16 on a CPU with AMX): ``precision`` "float32" (within float32 rounding of
  LiteRT) or "bfloat16" (its own conversion of the float32 graph: no export file of its own); the precision in
  force is read back from the compiled model and is the one reported (docs/benchmarks.md "OpenVINO").

``threads`` (``model.threads``): the runtime's CPU threads; 0 (the default) = every core this process
may use (:func:`resolve_threads`). LiteRT otherwise picks its own number (one thread for XNNPACK);
TensorFlow's intra-op pool is set only when ``threads`` > 0 and TensorFlow has not started yet (it
cannot change afterwards: a warning says so). ``ExportedDetector.threads`` is the number in force.
- ``"auto"`` (the default, :func:`resolve_backend`): TensorFlow where a GPU may be used (``device``
  ``"gpu"``, or ``"auto"`` with an NVIDIA device node present: :func:`gpu_present`), LiteRT otherwise;
  each falls back to the other when it cannot be imported (or the export has no ``model.tflite``), an
  error naming both when neither can. Why LiteRT on the CPU (docs/benchmarks.md "Capacity"): the
  hardened systemd unit refuses the writable+executable memory TensorFlow's oneDNN kernels need, and
  without them TensorFlow spends 1.7x LiteRT's time in the model; LiteRT is ready in about 1 s instead
  of about 5 and holds a quarter of the memory. (With oneDNN, outside that unit, TensorFlow's model
  time is 0.8x LiteRT's.) TensorFlow is imported only by the tensorflow backend, so a daemon on LiteRT
  runs without it.

:class:`Detector` is the protocol the pipeline, the daemon and offline scoring need; the loaded
:class:`ExportedDetector`, the daemon's ``TimedDetector`` and any export (the evaluation baseline
included) satisfy it. The card's optional ``"settings"`` (decision thresholds and amplitude bounds
derived for this model, :func:`validate_settings`) are checked at load and exposed as
``Detector.settings``; :func:`realtime.config.apply_model_settings` ranks them between the built-in
defaults and the config file. An export holding a file its card does not list is refused too
(:func:`unlisted_files`): the card's sha256 guard only what it lists. The card is a checksum against
accidents (a torn copy, a stray file), not a signature: whoever can write the directory can rewrite
the card.

:meth:`ExportedDetector.predict` takes ``[n, window_samples]`` µV windows and returns ``[n]`` p(seizure)
(the ``positive_class`` column). It refuses NaN/inf inputs (the pipeline flags such channels
instead of passing them) and checks the output's shape. This module never imports ``train/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from realtime.config import (
    MAX_SMOOTHING_WINDOWS,
    MODEL_BACKENDS,
    MODEL_DEVICES,
    MODEL_PRECISIONS,
    MODEL_SETTING_KEYS,
    MONTAGES,
    RESAMPLE_FILTERS,
)

log = logging.getLogger(__name__)

CARD_NAME = "model_card.json"
REQUIRED_CARD_FIELDS = (
    "format_version",
    "model_version",
    "architecture",
    "sample_rate_hz",
    "window_samples",
    "input_unit",
    "input_scaling",
    "classes",
    "positive_class",
    "hyperparameters",
    "training",
    "metrics",
    "files",
    "created",
)
BACKENDS = MODEL_BACKENDS
# The card's optional "settings": section -> the keys a model may carry (each optional): the configuration's model
# settings but the montage, which a card gives as its own field ("montage").
SETTINGS_KEYS = {section: tuple(k for k in keys if k != "montage") for section, keys in MODEL_SETTING_KEYS.items()}
DEVICES = MODEL_DEVICES
# The arithmetic the network runs in: "float32" (every backend), or "bfloat16": TensorFlow from the export's
# saved_model_bfloat16/ (written by `train-detector export --bfloat16`), 1.9-2.3x faster per window than float32 on a
# CPU with AMX, p(seizure) within about 0.007 (docs/benchmarks.md "bfloat16 on a CPU that has it"); or OpenVINO from
# the export's model.tflite, which it converts itself (docs/benchmarks.md "OpenVINO").
PRECISIONS = MODEL_PRECISIONS
# backend "auto" with precision "bfloat16": the first of these that can run it
AUTO_BFLOAT16_ORDER = ("tensorflow", "openvino")
BFLOAT16_DIR = "saved_model_bfloat16"  # the export's bfloat16 SavedModel (train-detector export --bfloat16)
CPU_BFLOAT16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of a CPU that multiplies bfloat16 itself
MAX_THREADS = 1024  # realtime.config.MAX_MODEL_THREADS
# The model runs on batches of these sizes only: a batch is split into chunks of batch_windows windows and
# the last chunk is padded with zero windows to the next size of batch_sizes(batch_windows), whose outputs
# are dropped. Every new input shape costs the runtime memory that it keeps (TensorFlow: 703 -> 1800 MB RSS
# after batches of 1-480 windows, against 785 MB for one shape; a daemon that falls behind sees every size)
# and time (shape-specialised kernels re-planned), so every size is run once at start-up (warmup()).
# Measured (docs/benchmarks.md "Batch sizes"): TensorFlow's time per window is flat from 16 to 256 windows
# a call (within +-10 % run to run), so larger chunks gain 0-7 % on a large backlog, while each size of the
# set costs memory (batch_windows 64: +65-80 MB RSS, 256: +380-510 MB) and start-up time (64: +0.4 s, 256:
# +3.5 s); what costs is padding: one 23-channel bed's 23 windows padded to 32 took 1.36x the time of 23
# padded to 24.
BATCH_WINDOWS = 32
MAX_BATCH_WINDOWS = 4096  # realtime.config checks model.batch_windows against this
BATCH_GRAIN = 8  # the sizes above BATCH_GRAIN are multiples of it
STEPS_PER_OCTAVE = 4  # ... and at most this many per doubling


def batch_sizes(batch_windows: int, steps_per_octave: int = STEPS_PER_OCTAVE) -> tuple[int, ...]:
    """The batch sizes the model runs at, rising to ``batch_windows``: 1, 2, 4, 8, then multiples of 8,
    each doubling split into at most ``steps_per_octave`` equal steps (4: 16, 24, 32, 40 ... 64, 80 ... 128,
    160 ... 256 ...), the last size ``batch_windows`` itself. Padding up to the next size then adds at most
    a quarter above 32 windows, and a 23-channel bed's 23 windows run as 24. ``steps_per_octave=1``:
    powers of two (the set before, which padded 23 windows to 32)."""
    if steps_per_octave < 1:
        raise ValueError(f"steps_per_octave must be >= 1, got {steps_per_octave!r}")
    sizes = [1]
    while sizes[-1] < batch_windows:
        last = sizes[-1]
        octave = 1 << (last.bit_length() - 1)  # the power of two at or below last
        step = last if last < BATCH_GRAIN else max(BATCH_GRAIN, octave // steps_per_octave)
        sizes.append(min(last + step, batch_windows))
    return tuple(sizes)


class ModelLoadError(RuntimeError):
    """An export that cannot be used: missing file, bad card field, sha256 mismatch, backend failure."""


@runtime_checkable
class Detector(Protocol):
    """What the pipeline, the daemon and offline scoring need from a model.

    ``predict(windows_uv [n, window_samples] float32 µV) -> [n]`` p(seizure) (float64);
    ``settings``: the card's validated ``{"decision": {...}, "signal": {...}}`` (``{}`` when none).
    """

    model_version: str
    architecture: str
    sample_rate_hz: float
    window_samples: int
    backend: str
    device: str
    settings: Mapping[str, Mapping[str, Any]]

    def predict(self, windows_uv: np.ndarray) -> np.ndarray: ...

    def warmup(self, batch_sizes: tuple[int, ...] | None = None) -> None: ...


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_settings(settings: Any, where: str = "settings") -> dict[str, dict[str, Any]]:
    """Check a card's ``"settings"`` object; returns ``{section: {key: value}}`` (``derived_by`` kept).

    Each section and key is optional. Raises :class:`ModelLoadError` quoting the bad value: unknown
    section or key, wrong type, out of range (thresholds in [0, 1], on > 0, off <= on,
    smoothing_windows >= 1, min_duration_s >= 0, 0 < channel_false_rate < 1, 0 <= channel_correlation < 1,
    0 < bed_false_rate < 1, 0 < amplitude_low_uv < amplitude_high_uv,
    background_limit_uv and background_delta_limit_uv >= 0, resample_filter one of
    :data:`realtime.config.RESAMPLE_FILTERS`).
    """
    if not isinstance(settings, Mapping):
        raise ModelLoadError(f"{where}: expected an object with sections {sorted(SETTINGS_KEYS)}, got {settings!r}")
    out: dict[str, dict[str, Any]] = {}
    for section, values in settings.items():
        if section not in SETTINGS_KEYS:
            raise ModelLoadError(f"{where}: unknown section {section!r} (known: {', '.join(SETTINGS_KEYS)})")
        if not isinstance(values, Mapping):
            raise ModelLoadError(f"{where}.{section}: expected an object, got {values!r}")
        known = SETTINGS_KEYS[section] + ("derived_by",)
        for key in values:
            if key not in known:
                raise ModelLoadError(f"{where}.{section}: unknown key {key!r} (known: {', '.join(known)})")
        out[section] = dict(values)

    def bad(section: str, key: str, expected: str) -> ModelLoadError:
        return ModelLoadError(f"{where}.{section}.{key} must be {expected}, got {out[section][key]!r}")

    for section, values in out.items():
        if "derived_by" in values and not isinstance(values["derived_by"], str):
            raise bad(section, "derived_by", "a string (the command that wrote the section)")
    d = out.get("decision", {})
    for key in ("on_threshold", "off_threshold"):
        if key in d and not (_number(d[key]) and 0 <= d[key] <= 1):
            raise bad("decision", key, "a number in [0, 1]")
    if "on_threshold" in d and d["on_threshold"] == 0:
        raise bad("decision", "on_threshold", "a number in (0, 1]")
    if "on_threshold" in d and "off_threshold" in d and d["off_threshold"] > d["on_threshold"]:
        raise ModelLoadError(
            f"{where}.decision: off_threshold must be <= on_threshold, got off_threshold "
            f"{d['off_threshold']!r} > on_threshold {d['on_threshold']!r}"
        )
    sw = d.get("smoothing_windows", 1)
    if isinstance(sw, bool) or not isinstance(sw, int) or not 1 <= sw <= MAX_SMOOTHING_WINDOWS:
        raise bad("decision", "smoothing_windows", f"an integer in [1, {MAX_SMOOTHING_WINDOWS}]")
    if "min_duration_s" in d and not (_number(d["min_duration_s"]) and d["min_duration_s"] >= 0):
        raise bad("decision", "min_duration_s", "a number >= 0")
    for key in ("channel_false_rate", "bed_false_rate"):
        if key in d and not (_number(d[key]) and 0 < d[key] < 1):
            raise bad("decision", key, "a number in (0, 1)")
    if "channel_correlation" in d and not (_number(d["channel_correlation"]) and 0 <= d["channel_correlation"] < 1):
        raise bad("decision", "channel_correlation", "a number in [0, 1)")
    sg = out.get("signal", {})
    for key in ("amplitude_low_uv", "amplitude_high_uv"):
        if key in sg and not (_number(sg[key]) and sg[key] > 0):
            raise bad("signal", key, "a number > 0")
    if "amplitude_low_uv" in sg and "amplitude_high_uv" in sg and sg["amplitude_low_uv"] >= sg["amplitude_high_uv"]:
        raise ModelLoadError(
            f"{where}.signal: amplitude_low_uv must be < amplitude_high_uv, got "
            f"{sg['amplitude_low_uv']!r} >= {sg['amplitude_high_uv']!r}"
        )
    for key in ("background_limit_uv", "background_delta_limit_uv"):
        if key in sg and not (_number(sg[key]) and sg[key] >= 0):
            raise bad("signal", key, "a number >= 0 (0: off)")
    if "resample_filter" in sg and sg["resample_filter"] not in RESAMPLE_FILTERS:
        raise bad("signal", "resample_filter", f"one of {', '.join(map(repr, RESAMPLE_FILTERS))}")
    return out


def default_model_path() -> Path:
    """The model shipped with the package: ``realtime/models/default``."""
    return Path(__file__).resolve().parent / "models" / "default"


def shipped_model_version() -> str | None:
    """The shipped model's ``model_version`` from its card, read without any check (for ``--version``:
    no backend, no checksum); None when the card is missing or unreadable."""
    try:
        version = json.loads((default_model_path() / CARD_NAME).read_text(encoding="utf-8")).get("model_version")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return None
    return version if isinstance(version, str) and version else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_card(path: Path) -> dict:
    """Read and validate ``path/model_card.json`` and the sha256 of every listed file."""
    card_path = path / CARD_NAME
    if not path.is_dir():
        raise ModelLoadError(f"model export {str(path)!r} is not a directory")
    if not card_path.is_file():
        raise ModelLoadError(f"model export {str(path)!r} has no {CARD_NAME}")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {str(card_path)!r}: {exc}") from None
    if not isinstance(card, dict):
        raise ModelLoadError(f"{str(card_path)!r}: expected a JSON object, got {type(card).__name__}")
    missing = [k for k in REQUIRED_CARD_FIELDS if k not in card]
    if missing:
        raise ModelLoadError(f"{str(card_path)!r} lacks required field(s): {', '.join(missing)}")

    def bad(field: str, expected: str) -> ModelLoadError:
        return ModelLoadError(f"{str(card_path)!r}: field {field!r} must be {expected}, got {card[field]!r}")

    if card["format_version"] != 1:
        raise bad("format_version", "1")
    if not isinstance(card["model_version"], str) or not card["model_version"]:
        raise bad("model_version", "a non-empty string")
    rate = card["sample_rate_hz"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
        raise bad("sample_rate_hz", "a positive number")
    w = card["window_samples"]
    if isinstance(w, bool) or not isinstance(w, int) or w < 1:
        raise bad("window_samples", "a positive integer")
    if card["input_unit"] != "uV":
        raise bad("input_unit", "'uV'")
    classes = card["classes"]
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise bad("classes", "a list of at least two class names")
    if card["positive_class"] not in classes:
        raise bad("positive_class", f"one of {classes}")
    if "settings" in card:
        card["settings"] = validate_settings(card["settings"], f"{str(card_path)!r}: field 'settings'")
    if "montage" in card and card["montage"] not in MONTAGES:
        raise bad("montage", f"one of {', '.join(map(repr, MONTAGES))}")
    files = card["files"]
    if not isinstance(files, dict) or not files:
        raise bad("files", "a non-empty {relative path: sha256} object")
    for rel, digest in files.items():
        f = path / rel
        if not f.is_file():
            raise ModelLoadError(f"model export {str(path)!r}: file {rel!r} listed in the card is missing")
        actual = _sha256(f)
        if actual != digest:
            raise ModelLoadError(
                f"model export {str(path)!r}: file {rel!r} has sha256 {actual}, the card says {digest!r}"
            )
    unlisted = unlisted_files(path, files)
    if unlisted:
        shown = ", ".join(map(repr, unlisted[:10])) + (f" and {len(unlisted) - 10} more" if len(unlisted) > 10 else "")
        raise ModelLoadError(
            f"model export {str(path)!r} holds {len(unlisted)} file(s) its card does not list: {shown}; a backend "
            "could load them unchecked: remove them, or export the model again"
        )
    return card


def card_settings(card: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The model-specific settings a card carries: its ``"settings"`` and, as ``signal.montage``, the
    montage the network was trained on (the card's ``"montage"``, written by the export); ``{}`` when none.
    :func:`realtime.config.apply_model_settings` ranks them between the defaults and the config file."""
    out = {section: dict(values) for section, values in (card.get("settings") or {}).items()}
    if "montage" in card:
        out.setdefault("signal", {})["montage"] = card["montage"]
    return out


def unlisted_files(path: Path, listed: Mapping[str, Any]) -> list[str]:
    """Relative POSIX paths of everything under the export ``path`` that is neither the card nor a file
    the card lists (sorted). Empty directories count for nothing; any other entry counts, hidden files,
    ``__pycache__``, editor backups and symbolic links (not followed) included: the export format has no
    harmless extra file, and a backend may read any file of its directory (a SavedModel's ``assets/``)."""
    allowed = {CARD_NAME, *listed}
    out = []
    for root, dirs, names in os.walk(path, followlinks=False):
        here = Path(root)
        # a symbolic link to a directory is listed in dirs and not walked: report it as an entry
        entries = names + [d for d in dirs if (here / d).is_symlink()]
        for name in entries:
            rel = (here / name).relative_to(path).as_posix()
            if rel not in allowed or not (here / name).is_file():
                out.append(rel)
    return sorted(out)


class ExportedDetector:
    """A loaded export (a :class:`Detector`). ``predict(windows_uv [n, window_samples]) -> [n]`` p(seizure), float64."""

    def __init__(
        self,
        path: Path,
        card: dict,
        backend: str,
        device: str,
        runner: Callable[[np.ndarray], np.ndarray],
        threads: int = 0,
        batch_windows: int = BATCH_WINDOWS,
        precision: str = "float32",
    ):
        self.path: Path = path
        self.card: dict = card
        self.model_version: str = card["model_version"]
        self.architecture: str = str(card["architecture"])
        self.sample_rate_hz: float = float(card["sample_rate_hz"])
        self.window_samples: int = int(card["window_samples"])
        self.classes: list[str] = list(card["classes"])
        self.positive_index: int = self.classes.index(card["positive_class"])
        self.settings: Mapping[str, Mapping[str, Any]] = card_settings(card)
        self.backend: str = backend
        self.device: str = device
        self.precision: str = precision  # the network's arithmetic (PRECISIONS)
        self.threads: int = threads  # CPU threads of the runtime (0: the runtime's own choice)
        self.batch_windows: int = batch_windows  # the largest batch the runtime sees
        self.batch_sizes: tuple[int, ...] = batch_sizes(batch_windows)  # the only batch sizes it sees
        self._runner = runner  # [size, window_samples] float32 -> [size, len(classes)]

    def _run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._runner(x))

    def predict(self, windows_uv: np.ndarray) -> np.ndarray:
        """``windows_uv [n, window_samples]`` µV -> ``[n]`` p(positive_class) as float64."""
        x = np.asarray(windows_uv)
        if x.ndim != 2 or x.shape[1] != self.window_samples:
            raise ValueError(f"windows must have shape [n, {self.window_samples}], got {x.shape}")
        if x.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
            raise ValueError(f"windows must be real numbers, got dtype {x.dtype}")
        finite = np.isfinite(x)
        if not finite.all():
            rows = np.flatnonzero(~finite.all(axis=1))
            raise ValueError(
                f"windows contain NaN or inf (rows {rows[:10].tolist()}"
                f"{'...' if rows.size > 10 else ''}); flag those channels instead of scoring them"
            )
        x = np.ascontiguousarray(x, dtype=np.float32)
        probabilities = np.empty(x.shape[0], dtype=np.float64)
        for start in range(0, x.shape[0], self.batch_windows):
            chunk = x[start : start + self.batch_windows]
            n = chunk.shape[0]
            size = next(b for b in self.batch_sizes if b >= n)
            if size > n:  # zero windows up to a size the runtime has seen; their outputs are dropped
                chunk = np.concatenate([chunk, np.zeros((size - n, self.window_samples), dtype=np.float32)])
            out = self._run(chunk)
            if out.shape != (size, len(self.classes)):
                raise RuntimeError(
                    f"model {self.model_version!r} returned shape {out.shape}, expected "
                    f"({size}, {len(self.classes)}) for classes {self.classes}"
                )
            probabilities[start : start + n] = out[:n, self.positive_index]
        return probabilities

    def warmup(self, batch_sizes: tuple[int, ...] | None = None) -> None:
        """Run the model once per batch size (tracing, allocation) so the first real window is not slow;
        ``None``: every size it will run at (:attr:`batch_sizes`), after which its memory stays flat."""
        for n in self.batch_sizes if batch_sizes is None else batch_sizes:
            self.predict(np.zeros((n, self.window_samples), dtype=np.float32))

    def __repr__(self) -> str:
        return (
            f"ExportedDetector({self.model_version!r}, {self.architecture}, backend={self.backend}, "
            f"device={self.device}, precision={self.precision}, threads={self.threads}, "
            f"{self.window_samples} samples at {self.sample_rate_hz:g} Hz)"
        )


def gpu_present(dev_dir: str | Path = "/dev") -> bool:
    """Whether this process may have a GPU for TensorFlow, looked up without importing it: an NVIDIA
    device node (``nvidia0``, ``nvidia1`` ...) in ``dev_dir``, and ``CUDA_VISIBLE_DEVICES`` not hiding
    every device (``""`` or ``"-1"``). The hardened systemd unit's private ``/dev`` has none unless its
    GPU drop-in (systemd/gpu.conf) opens them. Never raises."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "0").strip() in ("", "-1"):
        return False
    try:
        return any(p.name[len("nvidia") :].isdigit() for p in Path(dev_dir).glob("nvidia*"))
    except OSError:
        return False


def cpu_bfloat16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (a flag of :data:`CPU_BFLOAT16_FLAGS` in ``cpuinfo``);
    False where that cannot be read. Never raises."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.partition(":")[2].split()}
    return any(f in flags for f in CPU_BFLOAT16_FLAGS)


def resolve_backend(
    backend: str = "auto", device: str = "auto", export: str | Path | None = None, precision: str = "float32"
) -> str:
    """The backend to load: a named one unchanged; ``"auto"`` in float32 -> TensorFlow first where a GPU may be
    used (``device`` ``"gpu"``, or ``"auto"`` and :func:`gpu_present`), else LiteRT first (on the CPU: faster than
    TensorFlow without oneDNN, a quarter of its memory, no TensorFlow import); the other when the first cannot be
    imported, or for LiteRT when ``export`` has no ``model.tflite``; in bfloat16 -> the first of
    :data:`AUTO_BFLOAT16_ORDER` that imports and whose file the export has. An error naming each when none can."""
    if backend != "auto":
        return backend
    errors: dict[str, str] = {}

    def usable(name: str) -> bool:
        try:
            if name == "tensorflow":
                import tensorflow  # noqa: F401

                if precision == "bfloat16" and export is not None and not (Path(export) / BFLOAT16_DIR).is_dir():
                    errors[name] = f"the export has no {BFLOAT16_DIR}/"
                    return False
            else:
                if name == "openvino":
                    import openvino  # noqa: F401
                else:
                    _litert_interpreter()
                if export is not None and not (Path(export) / "model.tflite").is_file():
                    errors[name] = "the export has no model.tflite"
                    return False
        except ImportError as exc:
            errors[name] = str(exc)
            return False
        return True

    gpu = device == "gpu" or (device == "auto" and gpu_present())
    if precision == "bfloat16":
        order = AUTO_BFLOAT16_ORDER
    else:
        order = ("tensorflow", "litert") if gpu else ("litert", "tensorflow")
    for name in order:
        if usable(name):
            return name
    if precision != "float32":
        raise ModelLoadError(
            f"model precision {precision!r} needs "
            + " or ".join(f"{name} ({errors.get(name)})" for name in order)
            + ": pip install openvino, or tensorflow with an export that has "
            + BFLOAT16_DIR
        )
    raise ModelLoadError(
        f"model backend 'auto' found neither TensorFlow ({errors.get('tensorflow')}) nor a usable LiteRT "
        f"runtime ({errors.get('litert')}): pip install tensorflow, or ai-edge-litert"
    )


def _litert_interpreter():
    """The LiteRT ``Interpreter`` class: ai_edge_litert, else tflite_runtime; ImportError when neither."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as first:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise ImportError(f"neither ai_edge_litert nor tflite_runtime can be imported ({first})") from None
    return Interpreter


def resolve_threads(threads: int = 0) -> int:
    """``threads`` > 0 unchanged; 0 -> the number of cores this process may run on (its CPU affinity,
    else ``os.cpu_count()``, at least 1)."""
    if threads > 0:
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def load_detector(
    path: str | Path | None = None,
    backend: str = "auto",
    device: str = "auto",
    threads: int = 0,
    batch_windows: int = BATCH_WINDOWS,
    precision: str = "float32",
) -> ExportedDetector:
    """Load and check an export (``None``/``""`` = :func:`default_model_path`); ``backend`` "auto" picks
    LiteRT on the CPU and TensorFlow where a GPU may be used (:func:`resolve_backend`); ``threads``: the runtime's
    CPU threads, 0 = every core (:func:`resolve_threads`); ``batch_windows``: the largest batch the
    runtime is given (see :data:`BATCH_WINDOWS`); ``precision``: :data:`PRECISIONS` ("bfloat16": TensorFlow and
    the export's :data:`BFLOAT16_DIR`; a WARNING where the CPU does not multiply bfloat16 itself, which is slower)."""
    if backend not in BACKENDS:
        raise ModelLoadError(f"model backend must be one of {BACKENDS}, got {backend!r}")
    if precision not in PRECISIONS:
        raise ModelLoadError(f"model precision must be one of {PRECISIONS}, got {precision!r}")
    if device not in DEVICES:
        raise ModelLoadError(f"model device must be one of {DEVICES}, got {device!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= MAX_THREADS:
        raise ModelLoadError(
            f"model threads must be an integer in [0, {MAX_THREADS}] (0 = every core), got {threads!r}"
        )
    if (
        isinstance(batch_windows, bool)
        or not isinstance(batch_windows, int)
        or not 1 <= batch_windows <= MAX_BATCH_WINDOWS
    ):
        raise ModelLoadError(
            f"model batch_windows must be an integer in [1, {MAX_BATCH_WINDOWS}], got {batch_windows!r}"
        )
    export = Path(path) if path else default_model_path()
    card = read_card(export)
    asked = backend
    if precision == "bfloat16" and backend == "litert":
        raise ModelLoadError(
            "model precision 'bfloat16' runs on the TensorFlow or OpenVINO backend (LiteRT computes in float32); "
            "use backend 'auto', 'tensorflow' or 'openvino', or precision 'float32'"
        )
    backend = resolve_backend(backend, device, export, precision)
    if asked == "auto":
        why = f"device {device!r}" if device != "auto" else "GPU device present" if gpu_present() else "no GPU device"
        why += ", precision bfloat16" if precision == "bfloat16" else ""
        log.info("model backend 'auto': %s (%s)", backend, why)
    if backend != "tensorflow" and device == "gpu":
        raise ModelLoadError(
            f"the {backend} backend runs on the CPU here; use device 'auto' or 'cpu', or backend 'tensorflow' for a GPU"
        )
    if backend == "tensorflow":
        if precision == "bfloat16" and not (export / BFLOAT16_DIR).is_dir():
            raise ModelLoadError(
                f"model precision 'bfloat16' on TensorFlow needs the export's {BFLOAT16_DIR}/, which {str(export)!r} "
                "has not: export with `train-detector export --bfloat16` (or `python -m experiments.reexport EXPORT "
                "--bfloat16`), or use backend 'openvino'"
            )
        runner, dev, n_threads = _load_tensorflow(
            export, device, int(card["window_samples"]), threads, BFLOAT16_DIR if precision == "bfloat16" else None
        )
        if precision == "bfloat16" and dev == "CPU" and not cpu_bfloat16():
            log.warning(
                "model precision 'bfloat16' on a CPU without %s: TensorFlow emulates it, slower than float32 "
                "(precision 'float32' is faster here)",
                " or ".join(CPU_BFLOAT16_FLAGS),
            )
        elif precision == "bfloat16" and dev == "CPU" and os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip() == "0":
            log.warning(
                "model precision 'bfloat16' with TF_ENABLE_ONEDNN_OPTS=0: TensorFlow's Eigen kernels emulate it, "
                "slower than float32 (the hardened unit sets it: systemd/onednn.conf turns oneDNN on)"
            )
    elif backend == "openvino":
        n_threads = resolve_threads(threads)
        runner, precision = _load_openvino(export, n_threads, precision)
        dev = "CPU"
    else:
        n_threads = resolve_threads(threads)
        runner = _load_litert(export, n_threads)
        dev = "CPU"
    det = ExportedDetector(export, card, backend, dev, runner, n_threads, batch_windows, precision)
    log.info(
        "loaded model %s (%s) from %s: backend %s on %s in %s, %s CPU thread(s)",
        det.model_version,
        det.architecture,
        export,
        backend,
        dev,
        precision,
        n_threads,
    )
    return det


def _tensorflow_threads(tf, threads: int) -> int:
    """Set TensorFlow's intra-op pool to ``threads`` (> 0) if it has not started; returns the size in force
    (``resolve_threads(0)`` when TensorFlow keeps its default, which is one thread per core)."""
    if threads > 0 and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:
            log.warning(
                "model.threads %d not applied: TensorFlow has already started in this process with %s "
                "intra-op thread(s) (0 = one per core)",
                threads,
                tf.config.threading.get_intra_op_parallelism_threads(),
            )
    return tf.config.threading.get_intra_op_parallelism_threads() or resolve_threads(0)


def _load_tensorflow(export: Path, device: str, window_samples: int, threads: int = 0, saved_model: str | None = None):
    sm = export / (saved_model or "saved_model")
    if not sm.is_dir():
        raise ModelLoadError(f"model export {str(export)!r} has no saved_model/ directory")
    try:
        import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - tensorflow is a dependency
        raise ModelLoadError(f"the tensorflow backend needs TensorFlow: {exc}") from None
    n_threads = _tensorflow_threads(tf, threads)
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise ModelLoadError("device 'gpu' was asked for, but TensorFlow sees no GPU")
    dev = "GPU:0" if gpus and device in ("auto", "gpu") else "CPU:0"
    if dev == "GPU:0":
        # TensorFloat-32 (on by default on Ampere and later) rounds convolution inputs to 10-bit mantissas:
        # probabilities would differ from the CPU's by ~1e-3. The model is small: float32 costs little.
        tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        with tf.device("/" + dev):
            loaded = tf.saved_model.load(str(sm))
    except Exception as exc:
        raise ModelLoadError(f"cannot load SavedModel {str(sm)!r}: {exc}") from None
    serve = getattr(loaded, "serve", None)
    if serve is None:
        raise ModelLoadError(f"SavedModel {str(sm)!r} has no 'serve' endpoint")
    # One concrete function for every batch size: traced once here, called without tf.function's
    # per-call signature matching (and never retraced for a new batch size).
    spec = tf.TensorSpec([None, window_samples], tf.float32, name="eeg_uv")
    try:
        with tf.device("/" + dev):
            compiled = tf.function(lambda eeg_uv: serve(eeg_uv), input_signature=[spec]).get_concrete_function()
    except Exception as exc:
        raise ModelLoadError(
            f"SavedModel {str(sm)!r}: its 'serve' endpoint does not take [None, {window_samples}] float32: {exc}"
        ) from None

    def run(x: np.ndarray, _keep=loaded) -> np.ndarray:  # _keep: the concrete function needs its variables alive
        with tf.device("/" + dev):
            return compiled(tf.constant(x)).numpy()

    return run, ("GPU:0" if dev == "GPU:0" else "CPU"), n_threads


def _load_litert(export: Path, threads: int):
    tfl = export / "model.tflite"
    if not tfl.is_file():
        raise ModelLoadError(f"model export {str(export)!r} has no model.tflite (needed by the litert backend)")
    try:
        Interpreter = _litert_interpreter()
    except ImportError as exc:
        raise ModelLoadError(f"the litert backend needs ai-edge-litert (pip install ai-edge-litert): {exc}") from None
    try:
        interp = Interpreter(model_path=str(tfl), num_threads=threads)
        sigs = interp.get_signature_list()
    except Exception as exc:
        raise ModelLoadError(f"cannot load LiteRT model {str(tfl)!r}: {exc}") from None
    if len(sigs) != 1:
        raise ModelLoadError(f"LiteRT model {str(tfl)!r} has {len(sigs)} signatures ({sorted(sigs)}), expected 1")
    key = next(iter(sigs))
    inputs = sigs[key]["inputs"]
    if len(inputs) != 1:
        raise ModelLoadError(f"LiteRT signature {key!r} has inputs {inputs}, expected exactly one")
    signature = interp.get_signature_runner(key)
    name = inputs[0]

    def run(x: np.ndarray, _keep=interp) -> np.ndarray:  # _keep: the runner needs the interpreter alive
        outputs = signature(**{name: x})
        if len(outputs) != 1:
            raise ModelLoadError(f"LiteRT signature returned {len(outputs)} outputs ({sorted(outputs)}), expected 1")
        return next(iter(outputs.values()))

    return run


NO_WRITABLE_CODE = (
    "this process may not map writable+executable memory, where OpenVINO generates its kernels (systemd's "
    "MemoryDenyWriteExecute=yes: the hardened unit; systemd/onednn.conf lifts it)"
)


def writable_code_allowed() -> bool:
    """Whether this process may map writable+executable memory (systemd's ``MemoryDenyWriteExecute=yes`` refuses it:
    the just-in-time kernels of oneDNN and OpenVINO need it)."""
    import mmap

    try:
        mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC).close()
    except (PermissionError, OSError):
        return False
    return True


# OpenVINO's names of the two arithmetics (its CPU plugin's INFERENCE_PRECISION_HINT); with no hint it picks bfloat16
# on a CPU with AMX, so float32 is always asked for by name.
OPENVINO_PRECISIONS = {"float32": "f32", "bfloat16": "bf16"}


def _load_openvino(export: Path, threads: int, precision: str) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """OpenVINO's CPU plugin on the export's ``model.tflite`` (converted at load, nothing written): ``(run, the
    precision in force)``; the plugin runs bfloat16 only where the CPU has it, else float32 (a WARNING says so).
    One compiled model per batch size, compiled when the size is first run (``warmup`` runs every size of
    :func:`batch_sizes`): a static shape ran 1.2-1.3x faster per window than one model with a dynamic batch
    (docs/benchmarks.md "OpenVINO"); one of size 1 is compiled here, so that a plugin that cannot run is an error at
    load."""
    tfl = export / "model.tflite"
    if not tfl.is_file():
        raise ModelLoadError(f"model export {str(export)!r} has no model.tflite (needed by the openvino backend)")
    try:
        import openvino
    except ImportError as exc:
        raise ModelLoadError(f"the openvino backend needs OpenVINO (pip install openvino): {exc}") from None
    config = {
        "INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[precision],
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",  # one stream: a call uses every thread
    }
    core = openvino.Core()
    requests: dict[int, tuple[Any, Any]] = {}

    def compiled(n: int) -> tuple[Any, Any]:
        """The infer request and output of the model compiled for batches of ``n`` windows."""
        if n not in requests:
            shaped = model.clone()
            shaped.reshape([n, *shaped.inputs[0].get_partial_shape()[1:]])
            c = core.compile_model(shaped, "CPU", config)
            requests[n] = (c.create_infer_request(), c.output(0))
        return requests[n]

    try:
        model = core.read_model(str(tfl))
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(f"it has {len(model.inputs)} inputs and {len(model.outputs)} outputs, expected 1 and 1")
        in_force = compiled(1)[0].get_compiled_model().get_property("INFERENCE_PRECISION_HINT").get_type_name()
    except Exception as exc:
        hint = "" if writable_code_allowed() else f"; {NO_WRITABLE_CODE}"
        raise ModelLoadError(f"OpenVINO cannot compile {str(tfl)!r} for the CPU with {config}: {exc}{hint}") from None
    ran = next((name for name, hint in OPENVINO_PRECISIONS.items() if hint == in_force), None)
    if ran is None:
        raise ModelLoadError(f"OpenVINO compiled {str(tfl)!r} in {in_force!r}, not one of {PRECISIONS}")
    if ran != precision:
        log.warning("model precision %r asked of OpenVINO, which runs %r on this CPU", precision, ran)

    def run(x: np.ndarray) -> np.ndarray:
        request, output = compiled(x.shape[0])
        return np.array(request.infer({0: x})[output])  # a copy: the request reuses its output buffer

    return run, ran
