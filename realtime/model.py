"""Loading a model export (card + sha256 checks) and batched prediction, TensorFlow or LiteRT.

:func:`load_detector` reads ``<export>/model_card.json``, checks every field the card must have and
the sha256 of every file it lists (:class:`ModelLoadError` names the file, field or value), then
loads the backend:

- ``"tensorflow"``: ``tf.saved_model.load(<export>/saved_model).serve``. It runs on ``GPU:0`` when
  ``tf.config.list_physical_devices("GPU")`` finds one and ``device`` is ``"auto"`` or ``"gpu"``,
  else on the CPU; ``Detector.device`` says which, and it is logged. ``device="gpu"`` without a GPU
  is an error.
- ``"litert"``: ``ai_edge_litert.interpreter.Interpreter(<export>/model.tflite)`` through its single
  signature runner (CPU), which resizes its input to the batch.

:meth:`Detector.predict` takes ``[n, window_samples]`` µV windows and returns ``[n]`` p(seizure)
(the ``positive_class`` column). It refuses NaN/inf inputs (the pipeline flags such channels
instead of passing them) and checks the output's shape. This module never imports ``train/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CARD_NAME = "model_card.json"
REQUIRED_CARD_FIELDS = ("format_version", "model_version", "architecture", "sample_rate_hz", "window_samples",
                        "input_unit", "input_scaling", "classes", "positive_class", "hyperparameters",
                        "training", "metrics", "files", "created")
BACKENDS = ("tensorflow", "litert")
DEVICES = ("auto", "cpu", "gpu")


class ModelLoadError(RuntimeError):
    """An export that cannot be used: missing file, bad card field, sha256 mismatch, backend failure."""


def default_model_path() -> Path:
    """The model shipped with the package: ``realtime/models/default``."""
    return Path(__file__).resolve().parent / "models" / "default"


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
    files = card["files"]
    if not isinstance(files, dict) or not files:
        raise bad("files", "a non-empty {relative path: sha256} object")
    for rel, digest in files.items():
        f = path / rel
        if not f.is_file():
            raise ModelLoadError(f"model export {str(path)!r}: file {rel!r} listed in the card is missing")
        actual = _sha256(f)
        if actual != digest:
            raise ModelLoadError(f"model export {str(path)!r}: file {rel!r} has sha256 {actual}, "
                                 f"the card says {digest!r}")
    return card


class Detector:
    """A loaded export. ``predict(windows_uv [n, window_samples]) -> [n]`` p(seizure), float64."""

    def __init__(self, path: Path, card: dict, backend: str, device: str, runner, input_name: str | None):
        self.path = path
        self.card = card
        self.model_version: str = card["model_version"]
        self.architecture: str = str(card["architecture"])
        self.sample_rate_hz = float(card["sample_rate_hz"])
        self.window_samples = int(card["window_samples"])
        self.classes: list[str] = list(card["classes"])
        self.positive_index = self.classes.index(card["positive_class"])
        self.backend = backend
        self.device = device
        self._runner = runner
        self._input_name = input_name

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self.backend == "tensorflow":
            import tensorflow as tf

            with tf.device("/GPU:0" if self.device == "GPU:0" else "/CPU:0"):
                return np.asarray(self._runner(tf.constant(x)))
        outputs = self._runner(**{self._input_name: x})
        if len(outputs) != 1:
            raise ModelLoadError(f"LiteRT signature returned {len(outputs)} outputs ({sorted(outputs)}), expected 1")
        return np.asarray(next(iter(outputs.values())))

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
            raise ValueError(f"windows contain NaN or inf (rows {rows[:10].tolist()}"
                             f"{'...' if rows.size > 10 else ''}); flag those channels instead of scoring them")
        out = self._run(np.ascontiguousarray(x, dtype=np.float32))
        if out.shape != (x.shape[0], len(self.classes)):
            raise RuntimeError(f"model {self.model_version!r} returned shape {out.shape}, expected "
                               f"({x.shape[0]}, {len(self.classes)}) for classes {self.classes}")
        return out[:, self.positive_index].astype(np.float64)

    def warmup(self, batch_sizes: tuple[int, ...] = (1,)) -> None:
        """Run the model once per batch size (tracing, allocation) so the first real window is not slow."""
        for n in batch_sizes:
            self.predict(np.zeros((n, self.window_samples), dtype=np.float32))

    def __repr__(self) -> str:
        return (f"Detector({self.model_version!r}, {self.architecture}, backend={self.backend}, "
                f"device={self.device}, {self.window_samples} samples at {self.sample_rate_hz:g} Hz)")


def load_detector(path: str | Path | None = None, backend: str = "tensorflow", device: str = "auto") -> Detector:
    """Load and check an export (``None``/``""`` = :func:`default_model_path`)."""
    if backend not in BACKENDS:
        raise ModelLoadError(f"model backend must be one of {BACKENDS}, got {backend!r}")
    if device not in DEVICES:
        raise ModelLoadError(f"model device must be one of {DEVICES}, got {device!r}")
    export = Path(path) if path else default_model_path()
    card = read_card(export)
    if backend == "tensorflow":
        runner, input_name, dev = _load_tensorflow(export, device)
    else:
        if device == "gpu":
            raise ModelLoadError("the LiteRT backend runs on the CPU only; use device 'auto' or 'cpu', "
                                 "or backend 'tensorflow' for a GPU")
        runner, input_name = _load_litert(export)
        dev = "CPU"
    det = Detector(export, card, backend, dev, runner, input_name)
    log.info("loaded model %s (%s) from %s: backend %s on %s", det.model_version, det.architecture, export,
             backend, dev)
    return det


def _load_tensorflow(export: Path, device: str):
    sm = export / "saved_model"
    if not sm.is_dir():
        raise ModelLoadError(f"model export {str(export)!r} has no saved_model/ directory")
    try:
        import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - tensorflow is a dependency
        raise ModelLoadError(f"the tensorflow backend needs TensorFlow: {exc}") from None
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise ModelLoadError("device 'gpu' was asked for, but TensorFlow sees no GPU")
    dev = "GPU:0" if gpus and device in ("auto", "gpu") else "CPU:0"
    try:
        with tf.device("/" + dev):
            loaded = tf.saved_model.load(str(sm))
    except Exception as exc:  # noqa: BLE001 - TensorFlow raises many kinds; report them all the same way
        raise ModelLoadError(f"cannot load SavedModel {str(sm)!r}: {exc}") from None
    serve = getattr(loaded, "serve", None)
    if serve is None:
        raise ModelLoadError(f"SavedModel {str(sm)!r} has no 'serve' endpoint")
    # Keep a reference to the loaded object: the concrete function needs its variables alive.
    runner = _KeepAlive(serve, loaded)
    return runner, None, ("GPU:0" if dev == "GPU:0" else "CPU")


class _KeepAlive:
    def __init__(self, fn, owner):
        self._fn, self._owner = fn, owner

    def __call__(self, x):
        return self._fn(x)


def _load_litert(export: Path):
    tfl = export / "model.tflite"
    if not tfl.is_file():
        raise ModelLoadError(f"model export {str(export)!r} has no model.tflite (needed by the litert backend)")
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ModelLoadError(f"the litert backend needs ai-edge-litert (pip install ai-edge-litert): {exc}") from None
    try:
        interp = Interpreter(model_path=str(tfl))
        sigs = interp.get_signature_list()
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"cannot load LiteRT model {str(tfl)!r}: {exc}") from None
    if len(sigs) != 1:
        raise ModelLoadError(f"LiteRT model {str(tfl)!r} has {len(sigs)} signatures ({sorted(sigs)}), expected 1")
    key = next(iter(sigs))
    inputs = sigs[key]["inputs"]
    if len(inputs) != 1:
        raise ModelLoadError(f"LiteRT signature {key!r} has inputs {inputs}, expected exactly one")
    runner = interp.get_signature_runner(key)
    runner._keepalive = interp  # the runner needs the interpreter alive
    return runner, inputs[0]
