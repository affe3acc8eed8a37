"""The classic baseline: logistic regression on log line-length and log band powers, exported like the network.

Features of one window ``x [window_samples]`` in µV at ``sample_rate_hz`` (mean removed first):

- ``log(mean |x[t+1] - x[t]| + eps)``: line length (Esteller et al. 2001), the classic seizure feature;
- ``log(mean(y_b ** 2) + eps)`` for each band ``b``: power after a linear-phase FIR band-pass
  (``scipy.signal.firwin``, Hamming window, ``taps`` long, ``'valid'`` convolution).

The features are standardised with the training mean/std and fed to a logistic regression with L2
penalty and class-balanced weights, fitted with ``scipy.optimize.minimize`` (L-BFGS) in numpy on the
SAME training files as the network (the model card's split). :func:`export_baseline` writes the
fitted detector in the project's export format (a small Keras model computing the same features and
the logistic layer, SavedModel endpoint ``serve``, LiteRT flatbuffer, ``model_card.json`` with
sha256, architecture ``"linelength"``), so it runs through exactly the same pipeline and decision
code as the network (``load_detector(path)`` given to :func:`evaluation.runs.pipeline_window_scores` or to
``realtime.offline.run_offline``). Its card sets ``settings.signal.resample_filter = "training"``: the
features read the band above 40 Hz, which the daemon's short resampling filter attenuates (through it the
synthetic seizure of the tests is alarmed 7 s later).
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import optimize, signal

ARCHITECTURE = "linelength"
DEFAULT_BANDS_HZ = ((0.5, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 70.0))
RESAMPLE_NOTE = (
    "evaluation.baseline.export_baseline: line length and band power up to 70 Hz read the signal above 40 Hz, "
    "where signal.resample_filter 'short' is not flat"
)


@dataclass(frozen=True)
class BaselineParams:
    """Everything the exported baseline needs (features + fitted logistic regression)."""

    sample_rate_hz: float = 250.0
    window_samples: int = 1024
    bands_hz: tuple = DEFAULT_BANDS_HZ
    taps: int = 251  # FIR length in samples (1 s at 250 Hz)
    eps: float = 1e-3  # added before every log (µV, µV²)
    l2: float = 1e-2  # L2 penalty on the standardised coefficients (per example loss)
    feature_mean: tuple = ()  # [n_features] training mean of the raw log features
    feature_std: tuple = ()  # [n_features] training std
    coef: tuple = ()  # [n_features] logistic coefficients on standardised features
    intercept: float = 0.0
    fit_info: dict = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return ["log_line_length"] + [f"log_power_{lo:g}_{hi:g}hz" for lo, hi in self.bands_hz]


def band_filters(sample_rate_hz: float, bands_hz: Sequence[Sequence[float]], taps: int) -> np.ndarray:
    """FIR band-pass kernels ``[taps, n_bands]`` (symmetric: convolution = correlation)."""
    if taps < 3 or taps % 2 == 0:
        raise ValueError(f"taps must be an odd number >= 3, got {taps!r}")
    nyq = sample_rate_hz / 2
    kernels = []
    for lo, hi in bands_hz:
        if not 0 < lo < hi < nyq:
            raise ValueError(f"band ({lo!r}, {hi!r}) Hz must satisfy 0 < low < high < {nyq:g} Hz")
        kernels.append(signal.firwin(taps, [lo, hi], pass_zero=False, fs=sample_rate_hz, window="hamming"))
    return np.stack(kernels, axis=1)


def features(windows_uv: np.ndarray, params: BaselineParams) -> np.ndarray:
    """``windows_uv [n, window_samples]`` µV -> raw log features ``[n, 1 + n_bands]`` (float64)."""
    x = np.asarray(windows_uv, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != params.window_samples:
        raise ValueError(f"windows must have shape [n, {params.window_samples}], got {x.shape}")
    x = x - x.mean(axis=1, keepdims=True)
    ll = np.mean(np.abs(np.diff(x, axis=1)), axis=1)
    h = band_filters(params.sample_rate_hz, params.bands_hz, params.taps)
    cols = [np.log(ll + params.eps)]
    for b in range(h.shape[1]):
        y = signal.fftconvolve(x, h[None, :, b], mode="valid", axes=1)
        cols.append(np.log(np.mean(y * y, axis=1) + params.eps))
    return np.stack(cols, axis=1)


def _loss_grad(theta: np.ndarray, z: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float):
    coef, b = theta[:-1], theta[-1]
    logit = z @ coef + b
    # weighted log-loss, numerically stable: log(1 + exp(-s*logit)) with s = +-1
    s = 2 * y - 1
    m = -s * logit
    loss_i = np.logaddexp(0.0, m)
    loss = float(np.sum(w * loss_i) / np.sum(w) + 0.5 * l2 * coef @ coef)
    sig = 1.0 / (1.0 + np.exp(-m))  # d loss_i / d m
    g_logit = w * sig * (-s) / np.sum(w)
    grad = np.r_[z.T @ g_logit + l2 * coef, g_logit.sum()]
    return loss, grad


def fit_baseline(
    windows_uv: np.ndarray, labels: Sequence[int], params: BaselineParams | None = None, info: dict | None = None
) -> BaselineParams:
    """Fit the logistic regression on ``windows_uv [n, window_samples]`` µV with ``labels [n]`` (0/1).

    Class-balanced: each class carries half of the total weight. Raises ``ValueError`` if a class is absent.
    """
    params = params or BaselineParams()
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if y.size != len(windows_uv):
        raise ValueError(f"got {len(windows_uv)} windows and {y.size} labels")
    bad = np.setdiff1d(np.unique(y), [0, 1])
    if bad.size:
        raise ValueError(f"labels must be 0 or 1, got {bad[:5].tolist()}")
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"both classes are needed to fit, got {n_pos} seizure and {n_neg} non-seizure windows")
    f = features(windows_uv, params)
    mean, std = f.mean(axis=0), f.std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    z = (f - mean) / std
    w = np.where(y == 1, 0.5 / n_pos, 0.5 / n_neg)
    res = optimize.minimize(
        _loss_grad,
        np.zeros(z.shape[1] + 1),
        args=(z, y, w, params.l2),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000},
    )
    if not np.all(np.isfinite(res.x)):
        raise RuntimeError(f"logistic regression diverged: {res.message}")
    prob = 1 / (1 + np.exp(-(z @ res.x[:-1] + res.x[-1])))
    fit_info = {
        "n_windows": int(y.size),
        "n_seizure_windows": n_pos,
        "n_non_seizure_windows": n_neg,
        "optimizer": "scipy L-BFGS-B",
        "converged": bool(res.success),
        "final_loss": float(res.fun),
        "train_window_accuracy": float(np.mean((prob >= 0.5) == (y == 1))),
        **(info or {}),
    }
    return BaselineParams(
        **{
            **asdict(params),
            "bands_hz": tuple(tuple(b) for b in params.bands_hz),
            "feature_mean": tuple(float(v) for v in mean),
            "feature_std": tuple(float(v) for v in std),
            "coef": tuple(float(v) for v in res.x[:-1]),
            "intercept": float(res.x[-1]),
            "fit_info": fit_info,
        }
    )


def predict(windows_uv: np.ndarray, params: BaselineParams) -> np.ndarray:
    """numpy reference of the exported model: ``[n, window_samples]`` µV -> ``[n]`` p(seizure)."""
    z = (features(windows_uv, params) - np.asarray(params.feature_mean)) / np.asarray(params.feature_std)
    return 1 / (1 + np.exp(-(z @ np.asarray(params.coef) + params.intercept)))


# --------------------------------------------------------------------------- Keras model
def _keras_layers():
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="baseline")
    class LineLengthBandPower(keras.layers.Layer):
        """``[batch, window_samples]`` µV -> ``[batch, 1 + n_bands]`` log line length, log band powers."""

        def __init__(self, sample_rate_hz: float, bands_hz, taps: int, eps: float, **kwargs):
            super().__init__(**kwargs)
            self.sample_rate_hz = float(sample_rate_hz)
            self.bands_hz = [[float(lo), float(hi)] for lo, hi in bands_hz]
            self.taps = int(taps)
            self.eps = float(eps)

        def build(self, input_shape):
            h = band_filters(self.sample_rate_hz, self.bands_hz, self.taps).astype(np.float32)
            self.kernel = self.add_weight(
                name="fir",
                shape=(self.taps, 1, len(self.bands_hz)),
                trainable=False,
                initializer=keras.initializers.Constant(h[:, None, :]),
            )

        def call(self, x):
            x = x - ops.mean(x, axis=-1, keepdims=True)
            ll = ops.mean(ops.abs(x[:, 1:] - x[:, :-1]), axis=-1, keepdims=True)
            y = ops.conv(ops.expand_dims(x, -1), self.kernel, strides=1, padding="valid")
            power = ops.mean(y * y, axis=1)
            return ops.log(ops.concatenate([ll, power], axis=-1) + self.eps)

        def get_config(self):
            return {
                **super().get_config(),
                "sample_rate_hz": self.sample_rate_hz,
                "bands_hz": self.bands_hz,
                "taps": self.taps,
                "eps": self.eps,
            }

    @keras.saving.register_keras_serializable(package="baseline")
    class StandardisedLogistic(keras.layers.Layer):
        """``[batch, n_features]`` -> ``[batch, 2]`` (p(non_seizure), p(seizure)) with fixed parameters."""

        def __init__(self, mean, std, coef, intercept: float, **kwargs):
            super().__init__(**kwargs)
            self.mean = [float(v) for v in mean]
            self.std = [float(v) for v in std]
            self.coef = [float(v) for v in coef]
            self.intercept = float(intercept)

        def call(self, f):
            z = (f - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
            logit = ops.sum(z * np.asarray(self.coef, np.float32), axis=-1, keepdims=True) + self.intercept
            p = ops.sigmoid(logit)
            return ops.concatenate([1.0 - p, p], axis=-1)

        def get_config(self):
            return {
                **super().get_config(),
                "mean": self.mean,
                "std": self.std,
                "coef": self.coef,
                "intercept": self.intercept,
            }

    return LineLengthBandPower, StandardisedLogistic


def build_keras_model(params: BaselineParams):
    """The fitted baseline as a Keras model ``[batch, window_samples]`` µV -> ``[batch, 2]``."""
    import keras

    if not params.coef:
        raise ValueError("the baseline is not fitted (no coefficients)")
    Features, Logistic = _keras_layers()
    inputs = keras.Input(shape=(params.window_samples,), name="eeg_uv", dtype="float32")
    f = Features(params.sample_rate_hz, params.bands_hz, params.taps, params.eps, name="features")(inputs)
    out = Logistic(params.feature_mean, params.feature_std, params.coef, params.intercept, name="logistic")(f)
    return keras.Model(inputs, out, name="linelength_baseline")


def export_baseline(
    params: BaselineParams,
    out_dir: str | Path,
    *,
    training: dict | None = None,
    metrics: dict | None = None,
    tflite: bool = True,
    overwrite: bool = True,
) -> Path:
    """Write ``out_dir/{saved_model/, model.tflite, model_card.json}`` (the project's export format)."""
    import tensorflow as tf

    from train.export import save_serving, sha256_files, training_filter_settings

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f"export directory {str(out_dir)!r} is not empty")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = build_keras_model(params)
    save_serving(model, out_dir / "saved_model", params.window_samples)
    if tflite:
        conv = tf.lite.TFLiteConverter.from_saved_model(str(out_dir / "saved_model"))
        (out_dir / "model.tflite").write_bytes(conv.convert())
    now = _dt.datetime.now(_dt.UTC)
    hp = {k: v for k, v in asdict(params).items() if k != "fit_info"}
    hp["feature_names"] = params.feature_names
    card = {
        "format_version": 1,
        "model_version": f"{ARCHITECTURE}-{now:%Y.%m.%d}",
        "architecture": ARCHITECTURE,
        "sample_rate_hz": float(params.sample_rate_hz),
        "window_samples": int(params.window_samples),
        "input_unit": "uV",
        "input_scaling": {"method": "none", "note": "mean removed; log features standardised inside the model"},
        "classes": ["non_seizure", "seizure"],
        "positive_class": "seizure",
        "hyperparameters": hp,
        "training": {**(training or {}), "fit": params.fit_info},
        "metrics": metrics or {},
        "settings": training_filter_settings(RESAMPLE_NOTE),
        "files": sha256_files(out_dir),
        "created": now.isoformat(timespec="seconds"),
    }
    (out_dir / "model_card.json").write_text(json.dumps(card, indent=2))
    return out_dir


def params_from_card(card: dict) -> BaselineParams:
    """Rebuild :class:`BaselineParams` from an exported baseline's model card."""
    hp = dict(card["hyperparameters"])
    hp.pop("feature_names", None)
    hp["bands_hz"] = tuple(tuple(b) for b in hp["bands_hz"])
    for k in ("feature_mean", "feature_std", "coef"):
        hp[k] = tuple(hp[k])
    return BaselineParams(**hp, fit_info=card.get("training", {}).get("fit", {}))
