"""The detector networks: a registry of architectures, one module each (``inception``, ``lstm``).

Every registered builder takes the :class:`~train.hparams.HParams` and returns
``(training_model, inference_model)`` sharing the same layers (and so the same weights), under one
contract that :func:`build_model` checks:

- input ``eeg_uv``: float32 ``[batch, hp.signal.window_samples]`` µV at ``hp.signal.sample_rate_hz``;
- inference model: -> float32 ``[batch, 2]`` softmax (``CLASSES``); output name ``probabilities``;
- training model: the same input -> ``{"probabilities": [batch, 2], "aux_0": [batch, 2], ...}``,
  at least one auxiliary softmax head (weighted by ``hp.fit.aux_loss_weight`` in the loss), which the
  inference model does not have.

Add an architecture: a module here with ``@register("name")`` on ``build(hp)``, imported below, and
its hyper-parameter section in train/hparams.py; tests/train/test_train_models.py then covers it.
"""

from __future__ import annotations

from collections.abc import Callable

from train.hparams import HParams
from train.models.common import CLASSES, custom_objects

_REGISTRY: dict[str, Callable] = {}


def register(name: str):
    """Decorator: register ``build(hp) -> (training_model, inference_model)`` as architecture ``name``."""

    def deco(fn):
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"architecture {name!r} is already registered (by {_REGISTRY[name].__module__})")
        _REGISTRY[name] = fn
        return fn

    return deco


def registered() -> tuple[str, ...]:
    """The names of the registered architectures, sorted."""
    return tuple(sorted(_REGISTRY))


def check_contract(hp: HParams, training, inference) -> None:
    """Raise ValueError (quoting what was found) unless the two models follow the contract above."""
    n = hp.signal.window_samples
    errs = []
    for m in (training, inference):
        if tuple(m.input_shape) != (None, n):
            errs.append(f"{m.name}: input shape must be (None, {n}), got {m.input_shape!r}")
    if tuple(inference.output_shape) != (None, 2):
        errs.append(f"{inference.name}: output shape must be (None, 2), got {inference.output_shape!r}")
    names = list(training.output_names)
    if "probabilities" not in names or not any(x.startswith("aux_") for x in names):
        errs.append(f"{training.name}: outputs must be 'probabilities' plus aux_* heads, got {names!r}")
    if any(layer.name.startswith("aux_") for layer in inference.layers):
        errs.append(f"{inference.name}: the inference model must not hold the aux_* heads")
    if errs:
        raise ValueError(f"architecture {hp.fit.architecture!r} breaks the model contract: " + "; ".join(errs))


def build_model(hp: HParams):
    """``hp.fit.architecture`` -> ``(training_model, inference_model)``, checked against the contract."""
    try:
        fn = _REGISTRY[hp.fit.architecture]
    except KeyError:
        raise ValueError(
            f"unknown architecture {hp.fit.architecture!r} (registered: {', '.join(registered())})"
        ) from None
    training, inference = fn(hp)
    check_contract(hp, training, inference)
    return training, inference


build = build_model  # the name the rest of train/ and the tests use

# Importing the architecture modules registers them.
from train.models.inception import build_inception  # noqa: E402
from train.models.lstm import build_lstm  # noqa: E402

__all__ = [
    "CLASSES",
    "build",
    "build_inception",
    "build_lstm",
    "build_model",
    "check_contract",
    "custom_objects",
    "register",
    "registered",
]
