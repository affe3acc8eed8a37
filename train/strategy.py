"""Distribution strategy and precision policy.

- ``cpu`` (default with no accelerator): the default strategy on CPU.
- ``mirrored``: MirroredStrategy over every local GPU (chosen by ``auto`` when >= 1 GPU is visible).
- ``multi_worker``: MultiWorkerMirroredStrategy from ``TF_CONFIG`` (chosen by ``auto`` when it is set).
- ``tpu``: TPUStrategy (only when asked): static global batch, a multiple of 1024, drop_remainder,
  and training data on a non-local filesystem (``gs://``: the TPU hosts read the shards themselves,
  so the run directory must be a URL); a clear :class:`StrategyError` when no TPU is reachable.

Under ``multi_worker`` only the chief (:func:`is_chief`) writes into the run directory.

Precision: ``auto`` = mixed_float16 on GPU, mixed_bfloat16 on TPU, float32 on CPU (mixed may be
asked for explicitly on CPU). Output layers are built with ``dtype="float32"`` in train/models.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import keras
import tensorflow as tf


class StrategyError(RuntimeError):
    """A strategy that cannot be used here, with the reason."""


TPU_BATCH_MULTIPLE = 1024


@dataclass(frozen=True)
class Plan:
    kind: str  # cpu | mirrored | multi_worker | tpu
    precision: str  # float32 | mixed_float16 | mixed_bfloat16
    drop_remainder: bool
    static_batch: bool


def choose_kind(requested: str, *, n_gpus: int, tf_config: str | None) -> str:
    """Pure decision: which strategy ``requested`` resolves to."""
    if requested not in ("auto", "cpu", "mirrored", "multi_worker", "tpu"):
        raise StrategyError(f"unknown strategy {requested!r} (auto, cpu, mirrored, multi_worker, tpu)")
    if requested != "auto":
        if requested == "multi_worker" and not tf_config:
            raise StrategyError("strategy 'multi_worker' needs TF_CONFIG (cluster and task) in the environment")
        if requested == "mirrored" and n_gpus < 1:
            raise StrategyError("strategy 'mirrored' needs at least one GPU; none is visible")
        return requested
    if tf_config:
        cfg = json.loads(tf_config)
        workers = cfg.get("cluster", {}).get("worker", [])
        if len(workers) > 1 or cfg.get("cluster", {}).get("chief"):
            return "multi_worker"
    if n_gpus >= 1:
        return "mirrored"
    return "cpu"


def choose_precision(requested: str, kind: str) -> str:
    if requested not in ("auto", "float32", "mixed_float16", "mixed_bfloat16"):
        raise StrategyError(f"unknown precision {requested!r}")
    if requested != "auto":
        return requested
    if kind == "tpu":
        return "mixed_bfloat16"
    if kind == "mirrored":
        return "mixed_float16"
    if kind == "multi_worker" and tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "float32"


def check_tpu_batch(global_batch: int) -> None:
    if global_batch <= 0 or global_batch % TPU_BATCH_MULTIPLE != 0:
        raise StrategyError(
            f"TPU needs a static global batch that is a multiple of {TPU_BATCH_MULTIPLE}, got {global_batch!r}"
        )


def is_local_path(path) -> bool:
    """True for a path on this machine's filesystem (no URL scheme, or ``file://``)."""
    text = str(path)
    return "://" not in text or text.startswith("file://")


def check_tpu_paths(paths) -> None:
    """TPU hosts read the training shards themselves: refuse local paths (a ``gs://`` run directory)."""
    paths = [str(p) for p in paths]
    if not paths:
        raise StrategyError("TPU training found no training shards, got []")
    bad = [p for p in paths if is_local_path(p)]
    if bad:
        raise StrategyError(
            f"TPU training reads data from a non-local filesystem (gs://...) only; local paths "
            f"cannot be read by the TPU hosts, got {bad[:3]!r}"
        )


def is_chief(tf_config: str | None) -> bool:
    """Pure: whether this process is the chief of a ``TF_CONFIG`` cluster (task type ``chief``, or worker 0
    of a cluster without a chief); True without ``TF_CONFIG``. Only the chief keeps what it writes."""
    if not tf_config:
        return True
    try:
        cfg = json.loads(tf_config)
    except json.JSONDecodeError as e:
        raise StrategyError(f"TF_CONFIG is not JSON: {tf_config!r}") from e
    task = cfg.get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind is None or kind == "chief":
        return True
    return kind == "worker" and not cfg.get("cluster", {}).get("chief") and index == 0


def plan(requested: str, precision: str, *, global_batch: int) -> Plan:
    kind = choose_kind(
        requested, n_gpus=len(tf.config.list_physical_devices("GPU")), tf_config=os.environ.get("TF_CONFIG")
    )
    if kind == "tpu":
        check_tpu_batch(global_batch)
    return Plan(
        kind,
        choose_precision(precision, kind),
        drop_remainder=kind in ("tpu", "multi_worker"),
        static_batch=kind == "tpu",
    )


def connect_tpu(tpu: str = ""):
    """Resolve and initialise a TPU; StrategyError when none is reachable."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except Exception as e:
        raise StrategyError(f"no TPU reachable (tpu={tpu!r}): {type(e).__name__}: {e}") from e
    return resolver


def make_strategy(p: Plan, tpu: str = ""):
    """Create the strategy of a plan and set the global Keras precision policy."""
    if p.kind == "tpu":
        strategy = tf.distribute.TPUStrategy(connect_tpu(tpu))
    elif p.kind == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        patch_keras_multi_worker()
    elif p.kind == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    keras.mixed_precision.set_global_policy(p.precision)
    return strategy


_PATCHED = False


def patch_keras_multi_worker() -> None:
    """Work around Keras 3 (3.15) under MultiWorkerMirroredStrategy: ``fit`` averages each step's
    scalar logs with ``strategy.reduce("MEAN", v, axis=0)``, which fails on a scalar ("Invalid
    reduction dimension 0 for input with 0 dimensions"). Reduce scalars with ``axis=None`` instead;
    everything else goes through Keras unchanged. Idempotent."""
    global _PATCHED
    if _PATCHED:
        return
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as kt

    original = kt.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("mean", "auto") and kt._collective_all_reduce_multi_worker(strategy):

            def one(v):
                if not kt._is_per_replica_instance(v):
                    return v
                if strategy.experimental_local_results(v)[0].shape.rank == 0:
                    return strategy.reduce("MEAN", v, axis=None)
                return original(v, strategy, reduction)

            return tree.map_structure(one, values)
        return original(values, strategy, reduction)

    kt.reduce_per_replica = reduce_per_replica
    _PATCHED = True


def configure_threads(intra: int, inter: int) -> None:
    """Limit TensorFlow's thread pools (0 = leave the default). Must run before TF executes anything."""
    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:
        pass  # already initialised: keep the running configuration
