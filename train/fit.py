"""One training run: data -> split -> TFRecords -> tf.data -> model -> fit -> test metrics.

Run directory layout (``runs/NAME``, git-ignored; it holds data derived from the datasets):

    hparams.json        every hyper-parameter used
    split.json          recording ids per split (train / validation / test) and the seed; with
                        data.background, also the background persons per split ("background")
    data/               GZIP TFRecord shards + per-split summaries; data/background/ the background
                        shards (train/tfrecords.py write_background_shards) unless a shared cache is given
    best.weights.h5     weights of the best epoch by ``fit.monitor``
    last.weights.h5     weights after the last epoch
    backup/             BackupAndRestore state (resume after interruption; removed when done)
    history.csv         every logged value per epoch (history_csv_callback)
    tensorboard/        TensorBoard logs
    curves.png          loss / accuracy per epoch
    test_metrics.json   segment- and window-level metrics on the test split (train/scoring.py)
    run.json            command, wall time, data sources, sizes
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from train.hparams import HParams


def _log(msg: str) -> None:
    print(f"[train] {msg}", file=sys.stderr, flush=True)


def compile_model(model, hp: HParams):
    import keras

    names = list(model.output_names) if hasattr(model, "output_names") else ["probabilities"]
    # labels are one-hot (soft under mixup): train/tfrecords.py make_dataset
    losses = {n: keras.losses.CategoricalCrossentropy(name=f"{n}_xent") for n in names}
    weights = {n: (1.0 if n == "probabilities" else hp.fit.aux_loss_weight) for n in names}
    model.compile(
        optimizer=keras.optimizers.Adam(hp.fit.learning_rate),
        loss=losses,
        loss_weights=weights,
        metrics={"probabilities": [keras.metrics.CategoricalAccuracy(name="accuracy")]},
        run_eagerly=hp.fit.run_eagerly,
    )
    return names


def _build_from_local_batch(model, strategy, dataset) -> None:
    """Work around Keras 3 under MultiWorkerMirroredStrategy: ``fit`` builds the model, losses and
    metrics from a first batch that it averages with ``strategy.reduce`` over the nested (x, {y})
    structure, which CollectiveAllReduceStrategy rejects ("Attempt to convert a value (PerReplica...)").
    Build them here from one local, undistributed batch, and make fit's pre-build use it."""
    x, y = next(iter(dataset.take(1)))
    batch = (x, y)

    def build(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=batch)

    build()
    model._maybe_symbolic_build = build


def _write_text(path: str, text: str) -> None:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


def _makedirs(path: str) -> None:
    import tensorflow as tf

    tf.io.gfile.makedirs(path)


def _read_text(path: str) -> str:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "r") as f:
        return f.read()


def prepare_background(hp: HParams, data_root: Path | str, cache_root: str) -> dict:
    """The background corpus (``data_root / hp.data.background_dir``) as shards in ``cache_root``
    (written once per corpus and settings), split by person like the records (``hp.split_seed``,
    ``data.split_fractions`` or fold ``data.cv_fold`` of ``data.cv_folds``).

    Returns ``{"index", "split": {part: [persons]}, "files": {part: [shard paths]}, "examples": {part: n}}``.
    """
    from train.datasets.background import split_persons
    from train.tfrecords import background_files, write_background_shards

    index = write_background_shards(
        Path(data_root) / hp.data.background_dir,
        cache_root,
        sample_rate_hz=hp.signal.sample_rate_hz,
        example_samples=hp.signal.window_samples + hp.signal.crop_margin_samples,
        hop_samples=hp.data.background_hop_samples,
        shard_examples=hp.data.shard_examples,
        montage=hp.data.montage,
        slow_uv=hp.data.background_slow_uv,
    )
    persons = {p: e["source"] for p, e in index["persons"].items()}
    split = split_persons(
        persons, hp.data.split_fractions, hp.split_seed, n_folds=hp.data.cv_folds, fold=hp.data.cv_fold
    )
    _log(
        f"background: {len(persons)} persons, {sum(e['examples'] for e in index['persons'].values())} examples "
        f"in {index['dir']}; skipped {len(index['skipped'])} files"
    )
    return {
        "index": index,
        "split": split,
        "files": {k: background_files(index, v) for k, v in split.items()},
        "examples": {k: sum(index["persons"][p]["examples"] for p in v) for k, v in split.items()},
    }


def prepare_data(
    hp: HParams,
    data_root: Path | str,
    run_dir: Path | str,
    records=None,
    *,
    background_cache: str | None = None,
    shard_cache: str | None = None,
) -> dict:
    """Load sources (or use ``records``), split by recording, write ``split.json`` and the shards into
    ``run_dir`` (a local path or a ``tf.io.gfile`` URL); returns the data summary, with the shard ``"files"``
    of the training and validation splits and their ``"select"`` (None, or a corpus selection).

    With ``shard_cache`` the examples of every recording are written once into that folder
    (:func:`train.tfrecords.write_corpus`; reused by every run and fold of the same recordings and settings)
    and each split is a selection of them (:func:`train.tfrecords.corpus_split`): ``run_dir/data`` then holds
    only the splits' summaries. With ``hp.data.background`` the background corpus is split by person too
    (:func:`prepare_background`); its shards go to ``background_cache`` (None = ``run_dir/data/background``;
    a shared folder lets runs and folds reuse them) and the summary gains ``"background"``."""
    from train.datasets.records import run_records, split_records
    from train.tfrecords import corpus_split, join, shard_files, write_corpus, write_split

    if records is None:
        records = run_records(hp, data_root, lazy=True)  # the edf source's samples: one channel at a time
    split = split_records(
        records, hp.data.split_fractions, hp.split_seed, n_folds=hp.data.cv_folds, fold=hp.data.cv_fold
    )
    by_id = {r.recording_id: r for r in records}
    kfold = {"cv_folds": hp.data.cv_folds, "cv_fold": hp.data.cv_fold} if hp.data.cv_folds else {}
    background = None
    if hp.data.background:
        background = prepare_background(hp, data_root, background_cache or join(run_dir, "data", "background"))
    extra = {"background": {"by": "person, stratified by source", **background["split"]}} if background else {}
    _write_text(
        join(run_dir, "split.json"),
        json.dumps(
            {
                "seed": hp.split_seed,
                "by": "recording group, stratified by source/subset/label",
                **kfold,
                **split,
                **extra,
            },
            indent=2,
        ),
    )
    ex = hp.signal.window_samples + hp.signal.crop_margin_samples
    hop = hp.signal.train_hop_samples
    balancing: dict[str, Any] = {
        "balance_classes": hp.data.balance_classes,
        "source_share": hp.data.source_share,
        "max_repeat": hp.data.max_repeat,
    }
    summaries, files, select = {}, {}, {}
    corpus = None
    if shard_cache:
        corpus = write_corpus(
            records, shard_cache, example_samples=ex, hop_samples=hop, shard_examples=hp.data.shard_examples
        )
        _makedirs(join(run_dir, "data"))
    for name in ("train", "validation"):
        recs = [by_id[i] for i in split[name]]
        if corpus is not None:
            summaries[name] = corpus_split(recs, corpus, name, balance=name == "train", **balancing)
            _write_text(join(run_dir, "data", f"{name}.json"), json.dumps(summaries[name], indent=2))
            files[name], select[name] = summaries[name]["shards"], summaries[name]["select"]
        else:
            summaries[name] = write_split(
                recs,
                join(run_dir, "data"),
                name,
                example_samples=ex,
                hop_samples=hop,
                shard_examples=hp.data.shard_examples,
                balance=name == "train",
                **balancing,
            )
            files[name], select[name] = shard_files(join(run_dir, "data"), name), None
    out = {"records": records, "split": split, "summaries": summaries, "files": files, "select": select}
    if background is not None:
        out["background"] = background
    return out


def plot_curves(history_csv: Path | str, out_png: Path | str, title: str) -> bool:
    """Loss and accuracy per epoch from ``history_csv`` -> ``out_png``; returns whether a PNG was written.

    matplotlib is optional (the ``plots`` extra): without it the PNG is skipped with a logged warning.
    """
    import csv

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        _log(f"matplotlib is not installed ({e}): no {str(out_png)!r} (pip install matplotlib)")
        return False

    import io

    rows = list(csv.DictReader(io.StringIO(_read_text(str(history_csv)))))
    if not rows:
        return False
    ep = [int(r["epoch"]) + 1 for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for key, lab in (("probabilities_loss", "train (main head)"), ("val_probabilities_loss", "validation (main head)")):
        if key in rows[0]:
            ax[0].plot(ep, [float(r[key]) for r in rows], marker="o", label=lab)
    ax[0].set(xlabel="epoch", ylabel="cross-entropy", title="loss", yscale="log")
    for key, lab in (("probabilities_accuracy", "train"), ("val_probabilities_accuracy", "validation")):
        if key in rows[0]:
            ax[1].plot(ep, [float(r[key]) for r in rows], marker="o", label=lab)
    ax[1].set(xlabel="epoch", ylabel="window accuracy", title="accuracy")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend()
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    import tensorflow as tf

    with tf.io.gfile.GFile(str(out_png), "wb") as f:
        f.write(buf.getvalue())
    return True


def best_state_callback(path: str, checkpoint, plateau):
    """A Keras callback that persists ``checkpoint.best`` (ModelCheckpoint) and ``plateau``'s ``best`` /
    ``wait`` / ``cooldown_counter`` (ReduceLROnPlateau), with the optimizer's learning rate, in ``path``
    (JSON beside the BackupAndRestore state) after every epoch, and sets them back at the start of a
    resumed run.

    BackupAndRestore restores the weights and the epoch, not these: without them the first epoch after a
    resume saves its weights as the best even when it is worse than the best before the interruption.
    Place it after the checkpoint and the plateau callbacks (their ``on_train_begin`` resets ``best``) and
    before BackupAndRestore (an epoch's backup is written only after its best values are).
    """
    import keras
    import tensorflow as tf

    class BestState(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            if not tf.io.gfile.exists(path):
                return
            st = json.loads(_read_text(path))
            checkpoint.best = st["checkpoint_best"]
            plateau.best = st["plateau_best"]
            plateau.wait = st["plateau_wait"]
            plateau.cooldown_counter = st["plateau_cooldown_counter"]
            self.model.optimizer.learning_rate = st["learning_rate"]
            _log(
                f"resumed: best {checkpoint.monitor} so far {st['checkpoint_best']!r}, "
                f"learning rate {st['learning_rate']!r}"
            )

        def on_epoch_end(self, epoch, logs=None):
            st = {
                "checkpoint_best": float(checkpoint.best),
                "plateau_best": float(plateau.best),
                "plateau_wait": int(plateau.wait),
                "plateau_cooldown_counter": int(plateau.cooldown_counter),
                "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            }
            tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
            _write_text(path + ".tmp", json.dumps(st))
            tf.io.gfile.rename(path + ".tmp", path, overwrite=True)

    return BestState()


def history_csv_callback(path: str):
    """A Keras callback that writes ``epoch`` + every log value per epoch to ``path`` (CSV), continuing the
    rows already there (a resumed run), through ``tf.io.gfile``. It rewrites the file each epoch: unlike
    keras.callbacks.CSVLogger it needs no append mode (which gs:// lacks) and closes remote files cleanly."""
    import csv
    import io

    import keras
    import tensorflow as tf

    class HistoryCsv(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.rows = list(csv.DictReader(io.StringIO(_read_text(path)))) if tf.io.gfile.exists(path) else []

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch}
            for k, v in sorted((logs or {}).items()):
                row[k] = float(keras.ops.convert_to_numpy(v))
            self.rows.append(row)
            keys = list(dict.fromkeys(k for r in self.rows for k in r))
            buf = io.StringIO()
            w = csv.DictWriter(buf, keys, lineterminator="\n")
            w.writeheader()
            w.writerows(self.rows)
            _write_text(path + ".tmp", buf.getvalue())
            tf.io.gfile.rename(path + ".tmp", path, overwrite=True)

    return HistoryCsv()


def run_fit(
    hp: HParams,
    run_dir: Path | str,
    *,
    data_root: Path | str = "../shared/data",
    command: str = "",
    records=None,
    verbose: int = 2,
    score_test: bool = True,
    extra_callbacks=(),
    background_cache: str | None = None,
    shard_cache: str | None = None,
) -> dict:
    """Train per ``hp`` into ``run_dir``; returns the run summary (also written to run.json).

    ``run_dir`` is a local path or any URL ``tf.io.gfile`` writes (``gs://bucket/run``): it stays a string
    and every file goes through ``tf.io.gfile`` or Keras' own remote-aware file handling. Under the
    multi-worker strategy only the chief writes into ``run_dir``; every other worker writes into a local
    temporary directory, removed at the end (the usual Keras pattern: all workers save, only one keeps).
    ``background_cache``: where the background shards are written once and reused; ``shard_cache``: where
    the examples of every recording are, as one corpus each split selects from (``prepare_data``).
    """
    import tempfile

    import keras
    import tensorflow as tf

    from train import strategy as strat
    from train.models import build
    from train.tfrecords import background_every, background_steps_per_epoch, join, make_dataset

    run_dir = str(run_dir)
    t0 = time.time()
    strat.configure_threads(hp.fit.intra_op_threads, hp.fit.inter_op_threads)
    keras.utils.set_random_seed(hp.fit.seed)
    p = strat.plan(hp.fit.strategy, hp.fit.precision, global_batch=hp.fit.batch_size)
    strategy = strat.make_strategy(p, hp.fit.tpu)
    chief = p.kind != "multi_worker" or strat.is_chief(os.environ.get("TF_CONFIG"))
    work_dir = run_dir if chief else tempfile.mkdtemp(prefix="train-worker-")
    _log(
        f"strategy {p.kind}, precision {p.precision}, replicas {strategy.num_replicas_in_sync}"
        + ("" if chief else f"; not the chief: writing to the temporary {work_dir!r}")
    )
    try:
        tf.io.gfile.makedirs(work_dir)
        _write_text(join(work_dir, "hparams.json"), json.dumps(hp.to_dict(), indent=2))

        data = prepare_data(
            hp, data_root, work_dir, records, background_cache=background_cache, shard_cache=shard_cache
        )
        files = data["files"]
        bg = data.get("background")
        bg_files = bg["files"] if bg else {"train": [], "validation": []}
        if p.kind == "tpu":
            strat.check_tpu_paths(files["train"] + bg_files["train"])
        _log(f"examples: {json.dumps({k: v['examples_per_epoch'] for k, v in data['summaries'].items()})}")
        n_val = data["summaries"]["validation"]["examples"]
        val_every = 1
        if bg:
            share = hp.data.background_share
            if bg["examples"]["validation"]:
                val_every = background_every(bg["examples"]["validation"], n_val, share)
            _log(
                f"background: {share:.0%} of training examples (about "
                f"{round(data['summaries']['train']['examples_per_epoch'] * share / (1 - share))} per epoch, "
                f"streamed from {len(bg_files['train'])} shards, endless: an epoch is a number of steps); "
                f"validation adds every {val_every}-th of {bg['examples']['validation']}"
            )

        in_memory = {
            k: bg is None and v["examples_per_epoch"] <= hp.data.in_memory_examples_max
            for k, v in data["summaries"].items()
        }
        if not in_memory["train"]:
            _log(
                f"training split: {data['summaries']['train']['examples_per_epoch']} examples per epoch, streamed "
                f"from its shards (shuffle buffer {hp.data.in_memory_examples_max}), not cached"
            )
        with strategy.scope():
            train_model, infer_model = build(hp)
            names = compile_model(train_model, hp)
            init = None
            if hp.fit.init_from:
                from train.weights import init_from_export

                init = init_from_export(infer_model, hp, hp.fit.init_from)
                _log(
                    f"weights from {init['export']!r} ({init['model_version']}, {init['variables']} variables; "
                    "the auxiliary heads start fresh): fine-tuning"
                )
        ex = hp.signal.window_samples + hp.signal.crop_margin_samples
        train_ds = make_dataset(
            files["train"],
            example_samples=ex,
            window_samples=hp.signal.window_samples,
            batch_size=hp.fit.batch_size,
            training=True,
            output_names=names,
            augment_hp=hp.augment,
            seed=hp.fit.seed,
            drop_remainder=p.drop_remainder,
            shuffle_buffer=min(
                max(1000, data["summaries"]["train"]["examples_per_epoch"]), hp.data.in_memory_examples_max
            ),
            cache=in_memory["train"],  # with the background, nothing is cached: every source streams from disk
            background_files=bg_files["train"],
            background_share=hp.data.background_share,
            background_shuffle_buffer=hp.data.background_shuffle_examples,
            positive_weight=hp.fit.positive_loss_weight,
            select=data["select"]["train"],
        )
        val_ds = None
        if n_val:
            val_ds = make_dataset(
                files["validation"],
                example_samples=ex,
                window_samples=hp.signal.window_samples,
                batch_size=hp.fit.val_batch_size,
                training=False,
                output_names=names,
                drop_remainder=p.drop_remainder,
                cache=in_memory["validation"],
                background_files=bg_files["validation"],
                background_every=val_every,
                select=data["select"]["validation"],
            )
        monitor = hp.fit.monitor if val_ds is not None else hp.fit.monitor.removeprefix("val_")
        mode = "max" if "acc" in monitor or "auc" in monitor else "min"
        best_path = join(work_dir, "best.weights.h5")
        checkpoint = keras.callbacks.ModelCheckpoint(
            best_path, monitor=monitor, mode=mode, save_best_only=True, save_weights_only=True
        )
        plateau = keras.callbacks.ReduceLROnPlateau(
            monitor=monitor,
            mode=mode,
            factor=hp.fit.plateau_factor,
            patience=hp.fit.plateau_patience,
            min_lr=hp.fit.min_learning_rate,
        )
        backup_dir = join(work_dir, "backup")
        callbacks = [
            checkpoint,
            plateau,
            best_state_callback(join(backup_dir, "best_state.json"), checkpoint, plateau),
            keras.callbacks.BackupAndRestore(backup_dir),
            history_csv_callback(join(work_dir, "history.csv")),
        ]
        callbacks += list(extra_callbacks)
        try:
            import tensorboard  # noqa: F401

            callbacks.append(
                keras.callbacks.TensorBoard(join(work_dir, "tensorboard"), write_graph=False, profile_batch=0)
            )
        except ImportError:
            _log("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
        if p.kind == "multi_worker":
            _build_from_local_batch(train_model, strategy, train_ds)
        steps = hp.fit.steps_per_epoch or None
        if bg:  # the mixed stream is endless: an epoch is one pass of the split on average, plus its share
            steps = steps or background_steps_per_epoch(
                data["summaries"]["train"]["examples_per_epoch"], hp.data.background_share, hp.fit.batch_size
            )
        elif steps:
            train_ds = train_ds.repeat()
        t_fit = time.time()
        history = train_model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=hp.fit.epochs,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,
        )  # shuffled in make_dataset
        fit_s = time.time() - t_fit
        train_model.save_weights(join(work_dir, "last.weights.h5"))
        if tf.io.gfile.exists(best_path):
            train_model.load_weights(best_path)
        if tf.io.gfile.exists(backup_dir):
            tf.io.gfile.rmtree(backup_dir)
        if chief:
            plot_curves(join(run_dir, "history.csv"), join(run_dir, "curves.png"), f"{hp.fit.architecture} training")

        summary = {
            "command": command,
            "architecture": hp.fit.architecture,
            "strategy": p.kind,
            "precision": p.precision,
            "chief": chief,
            "data_sources": list(hp.data.sources) + (["background"] if bg else []),
            "data_root": str(data_root),
            "examples": data["summaries"],
            "cached_in_memory": in_memory,
            "split_counts": {k: len(v) for k, v in data["split"].items()},
            "fit_wall_time_s": round(fit_s, 1),
            "params": int(infer_model.count_params()),
            "final_logs": {k: float(v[-1]) for k, v in history.history.items() if v},
            "seed": hp.fit.seed,
            "host_cpus": os.cpu_count(),
        }
        if init:
            summary["init_from"] = init
        if bg:
            summary["background"] = {
                "shards_dir": bg["index"]["dir"],
                "persons": {k: len(v) for k, v in bg["split"].items()},
                "examples": bg["examples"],
                "validation_every": val_every,
                "steps_per_epoch": steps,
                "skipped_files": bg["index"]["skipped"],
            }
        if score_test and chief and data["split"]["test"]:
            from train.scoring import finite_lists, keras_predict, score, window_probabilities

            by_id = {r.recording_id: r for r in data["records"]}
            test = [by_id[i] for i in data["split"]["test"]]
            probs = window_probabilities(
                keras_predict(infer_model), test, hp.signal.window_samples, hp.signal.eval_hop_samples
            )
            metrics = score(test, probs, hp.signal.window_samples, hp.signal.eval_hop_samples)
            _write_text(join(run_dir, "test_metrics.json"), json.dumps(metrics, indent=2))
            _write_text(join(run_dir, "test_probabilities.json"), json.dumps(finite_lists(probs)))
            summary["test_metrics"] = metrics
        summary["wall_time_s"] = round(time.time() - t0, 1)
        if chief:
            _write_text(
                join(run_dir, "run.json"),
                json.dumps({k: v for k, v in summary.items() if k != "test_metrics"}, indent=2),
            )
    finally:
        if not chief:
            shutil.rmtree(work_dir, ignore_errors=True)
    summary["work_dir"] = work_dir
    _log(f"done in {summary['wall_time_s']} s")
    return summary


def load_run(run_dir: Path | str):
    """Rebuild the models of a finished run with its best weights: ``(hp, train_model, infer_model)``.

    ``run_dir``: a local path or a ``tf.io.gfile`` URL. An ensemble run directory (``members.json``,
    train/ensemble.py) gives ``(hp, None, ensemble_model)``."""
    import tensorflow as tf

    from train.hparams import from_dict
    from train.models import build
    from train.tfrecords import join

    if tf.io.gfile.exists(join(run_dir, "members.json")):  # an ensemble run (train/ensemble.py): no training model
        from train.ensemble import load_ensemble_run

        return load_ensemble_run(Path(run_dir))
    if not tf.io.gfile.exists(join(run_dir, "hparams.json")):
        raise FileNotFoundError(f"{str(run_dir)!r} is not a run directory (no hparams.json)")
    hp = from_dict(json.loads(_read_text(join(run_dir, "hparams.json"))))
    train_model, infer_model = build(hp)
    w = join(run_dir, "best.weights.h5")
    if not tf.io.gfile.exists(w):
        w = join(run_dir, "last.weights.h5")
    if not tf.io.gfile.exists(w):
        raise FileNotFoundError(f"no weights in {str(run_dir)!r} (best.weights.h5 / last.weights.h5)")
    train_model.load_weights(w)
    return hp, train_model, infer_model
