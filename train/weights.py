"""A model export's weights copied into a Keras model built from hyper-parameters.

Two users: ``experiments.reexport`` (an export rebuilt with the current export code) and
``fit.init_from`` (training that starts from an export's weights: fine-tuning). Variables are matched by
name (``block_local_max/m0_k9/kernel:0`` in the SavedModel's ``serving_default`` signature <-> the Keras
variable path) and checked for shape and dtype; any weight missing, left over, mismatched or stored twice
with different values is refused before anything is assigned.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

# What defines the network's function: an export whose card differs here cannot initialise the model.
NETWORK_SECTIONS = ("scaling", "filterbank", "inception", "lstm")
NETWORK_SIGNAL_KEYS = ("sample_rate_hz", "window_samples")


class WeightsError(RuntimeError):
    """The weights do not fit the model; nothing was assigned."""


def _key(name: str) -> str:
    """``"dense_0/kernel:0"`` -> ``"dense_0/kernel"``."""
    return name[:-2] if name.endswith(":0") else name


def saved_weights(saved_model_dir: Path | str) -> dict[str, np.ndarray]:
    """``{variable name: value}`` of the variables the SavedModel's ``serving_default`` signature captures."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved_model_dir))
    if "serving_default" not in loaded.signatures:
        raise WeightsError(
            f"{str(saved_model_dir)!r} has no serving_default signature: got {sorted(loaded.signatures)!r}"
        )
    out: dict[str, np.ndarray] = {}
    for v in loaded.signatures["serving_default"].variables:
        k, value = _key(v.name), v.numpy()
        if k in out and not (out[k].shape == value.shape and np.array_equal(out[k], value)):
            raise WeightsError(f"variable {k!r} is stored twice with different values")
        out[k] = value
    return out


def _is_rng_state(path: str) -> bool:
    """Keras' dropout random-generator state (``seed_generator_4/seed_generator_state``): not a weight, unused
    in inference, so a serving signature does not capture it."""
    return path.rsplit("/", 1)[-1] == "seed_generator_state"


def copy_weights(model, weights: Mapping[str, np.ndarray]) -> int:
    """Assign ``weights`` to ``model.variables`` by path; refuses any missing, unused or mismatched one
    (dropout random-generator states, which inference never reads, keep their initial value).

    Returns the number of variables set.
    """
    problems, seen = [], set()
    targets = [v for v in model.variables if not (_is_rng_state(v.path) and _key(v.path) not in weights)]
    for v in targets:
        k = _key(v.path)
        seen.add(k)
        if k not in weights:
            problems.append(f"{k!r} {tuple(v.shape)}: not in the old export")
            continue
        w = weights[k]
        if tuple(w.shape) != tuple(v.shape) or np.dtype(w.dtype) != np.dtype(v.dtype):
            problems.append(f"{k!r}: the model has {tuple(v.shape)} {v.dtype}, the old export {w.shape} {w.dtype}")
    problems += [
        f"{k!r} {weights[k].shape}: in the old export, not in the rebuilt model" for k in sorted(set(weights) - seen)
    ]
    if problems:
        raise WeightsError(
            "the rebuilt model and the old export's weights do not match:\n  - " + "\n  - ".join(problems)
        )
    for v in targets:
        v.assign(weights[_key(v.path)])
    return len(targets)


def network_differences(card_hp: Mapping, hp: Mapping) -> list[str]:
    """``["inception.filters: the export 8, this run 16", ...]``: the network-defining hyper-parameters
    (``NETWORK_SECTIONS``, the signal's rate and window, ``fit.architecture``) where an export's card and a
    run differ. Keys the card lacks (an older export) count as differences."""
    pairs = [(s, k) for s in NETWORK_SECTIONS for k in hp.get(s, {})]
    pairs += [("signal", k) for k in NETWORK_SIGNAL_KEYS] + [("fit", "architecture")]
    missing = object()
    out = []
    for s, k in pairs:
        theirs, ours = card_hp.get(s, {}).get(k, missing), hp[s][k]
        if theirs is missing or theirs != ours:
            shown = "(not in its card)" if theirs is missing else repr(theirs)
            out.append(f"{s}.{k}: the export {shown}, this run {ours!r}")
    return out


def init_from_export(infer_model, hp, export_dir: Path | str) -> dict:
    """Start ``infer_model`` (built from ``hp``; a training model sharing its layers starts with it) from the
    weights of the export in ``export_dir``: fine-tuning. The export's card (checked by
    ``realtime.model.read_card``) must have the same network hyper-parameters as ``hp``
    (:func:`network_differences`). Heads the export does not have (the auxiliary outputs of training) keep
    their fresh initial weights. Returns ``{"export", "model_version", "card_sha256", "variables"}`` for the
    run's record."""
    import hashlib

    from realtime.model import read_card

    export_dir = Path(export_dir)
    card = read_card(export_dir)
    diffs = network_differences(card.get("hyperparameters", {}), hp.to_dict())
    if diffs:
        raise WeightsError(
            f"fit.init_from {str(export_dir)!r} is another network than this run's hyper-parameters:\n  - "
            + "\n  - ".join(diffs)
        )
    n = copy_weights(infer_model, saved_weights(export_dir / "saved_model"))
    return {
        "export": str(export_dir),
        "model_version": card.get("model_version"),
        "card_sha256": hashlib.sha256((export_dir / "model_card.json").read_bytes()).hexdigest(),
        "variables": n,
    }
