"""The record type shared by all loaders, the split by recording, and window cutting."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from scipy import signal

LABELS = {0: "non_seizure", 1: "seizure"}


@dataclass(frozen=True)
class Record:
    """One single-channel recording at the model rate.

    recording_id: unique name (e.g. ``bonn/S/S001.txt`` or ``edf/chb01_03.edf#FP1-F7``).
    group_id: recordings sharing a group always land in the same split (same file, same content).
    signal_uv: float32 ``[n_samples]`` in µV at ``sample_rate_hz``.
    labels: int8 ``[n_samples]`` (0 non-seizure, 1 seizure) per sample.
    source: ``bonn`` | ``nscnd`` | ``edf``; subset: e.g. Bonn set letter ``S`` or ``ictal``.
    rail_samples: int64 ``[k]`` or None: the samples (sorted positions) that were clipped as recorded
    (:func:`rail_mask`), for the daemon's window rule (:func:`example_quality`); a handful where nothing clipped.
    """

    recording_id: str
    group_id: str
    signal_uv: np.ndarray
    labels: np.ndarray
    source: str
    subset: str
    sample_rate_hz: float = 250.0
    meta: dict = field(default_factory=dict)
    # int64 [k]: the samples clipped before resampling (np.flatnonzero(rail_mask(...))); None: judged on signal_uv
    rail_samples: np.ndarray | None = None

    def __post_init__(self):
        if np.ndim(self.signal_uv) != 1 or np.shape(self.labels) != np.shape(self.signal_uv):
            raise ValueError(
                f"record {self.recording_id!r}: signal_uv [n] and labels [n] must match, got "
                f"{np.shape(self.signal_uv)!r} and {np.shape(self.labels)!r}"
            )
        rails = self.rail_samples
        if rails is not None and (
            np.ndim(rails) != 1
            or (len(rails) and not (rails[0] >= 0 and rails[-1] < len(self.signal_uv) and np.all(np.diff(rails) > 0)))
        ):
            raise ValueError(
                f"record {self.recording_id!r}: rail_samples must be sorted positions in [0, {len(self.signal_uv)}), "
                f"got {np.asarray(rails)[:5]!r}"
            )
        bad = np.setdiff1d(np.unique(self.labels), [0, 1])
        if bad.size:
            raise ValueError(
                f"record {self.recording_id!r}: unknown label {bad[0].item()!r} (expected 0 non_seizure or 1 seizure)"
            )

    @property
    def label(self) -> int:
        """Per-recording label: 1 if any sample is seizure."""
        return int(self.labels.max()) if self.labels.size else 0


def check_label(value) -> int:
    v = int(value)
    if v not in LABELS or v != value:
        raise ValueError(f"unknown label {value!r}: expected 0 (non_seizure) or 1 (seizure)")
    return v


def _ratio(fs_in_hz: float, fs_out_hz: float, max_denominator: int) -> Fraction:
    if fs_in_hz <= 0 or fs_out_hz <= 0:
        raise ValueError(f"sample rates must be > 0, got {fs_in_hz!r} -> {fs_out_hz!r}")
    return Fraction(fs_out_hz / fs_in_hz).limit_denominator(max_denominator)


def resampled_length(n_samples: int, fs_in_hz: float, fs_out_hz: float, max_denominator: int = 1000) -> int:
    """``len(resample_to(x, fs_in_hz, fs_out_hz))`` for ``len(x) == n_samples``, without the samples."""
    ratio = _ratio(fs_in_hz, fs_out_hz, max_denominator)
    return -(-n_samples * ratio.numerator // ratio.denominator)


def resample_to(x: np.ndarray, fs_in_hz: float, fs_out_hz: float, max_denominator: int = 1000) -> np.ndarray:
    """Polyphase resampling (scipy.signal.resample_poly) with a rational approximation of the ratio.

    ``x`` ``[n]`` -> ``[ceil(n * up / down)]`` float64 (:func:`resampled_length`).
    """
    ratio = _ratio(fs_in_hz, fs_out_hz, max_denominator)
    if ratio == 1:
        return np.asarray(x, dtype=np.float64)
    return signal.resample_poly(np.asarray(x, dtype=np.float64), ratio.numerator, ratio.denominator)


def content_hash(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]


def split_records(
    records: list[Record], fractions=(0.6, 0.2, 0.2), seed: int = 0, *, n_folds: int = 0, fold: int = 0
) -> dict[str, list[str]]:
    """Split by group, stratified by (source, subset, label).

    Returns ``{"train": [recording ids], "validation": [...], "test": [...]}``. All recordings of one
    group share a split; the group's stratum is that of its first recording (sorted by id).
    ``n_folds >= 3``: k-fold instead of ``fractions``: each stratum's shuffled groups are dealt into
    ``n_folds`` folds; fold ``fold`` is the test split, fold ``fold + 1`` (mod ``n_folds``) the
    validation split, the others train. Over ``fold = 0 .. n_folds - 1`` every group is tested once.
    """
    if n_folds:
        if n_folds < 3 or not 0 <= fold < n_folds:
            raise ValueError(
                f"k-fold needs n_folds >= 3 and 0 <= fold < n_folds, got n_folds={n_folds!r}, fold={fold!r}"
            )
    elif len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions!r}")
    groups: dict[str, list[Record]] = {}
    for r in sorted(records, key=lambda r: r.recording_id):
        groups.setdefault(r.group_id, []).append(r)
    strata: dict[tuple, list[str]] = {}
    for gid, rs in groups.items():
        first = rs[0]
        strata.setdefault((first.source, first.subset, max(r.label for r in rs)), []).append(gid)
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
    dealt = 0  # k-fold: deal on across strata, so small strata do not all land in fold 0
    for key in sorted(strata):
        gids = sorted(strata[key])
        rng.shuffle(gids)
        n = len(gids)
        if n_folds:
            role = {fold: "test", (fold + 1) % n_folds: "validation"}
            for i, gid in enumerate(gids):
                out[role.get((dealt + i) % n_folds, "train")].extend(r.recording_id for r in groups[gid])
            dealt += n
            continue
        n_test = int(round(fractions[2] * n))
        n_val = int(round(fractions[1] * n))
        if n >= 3:
            n_test = max(n_test, 1) if fractions[2] > 0 else 0
            n_val = max(n_val, 1) if fractions[1] > 0 else 0
        n_test = min(n_test, n)
        n_val = min(n_val, n - n_test)
        parts = {"test": gids[:n_test], "validation": gids[n_test : n_test + n_val], "train": gids[n_test + n_val :]}
        for name, part in parts.items():
            for gid in part:
                out[name].extend(r.recording_id for r in groups[gid])
    for v in out.values():
        v.sort()
    return out


def windows(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """``[n]`` -> ``[n_windows, length]`` (a copy), windows starting at 0, hop, 2*hop, ...

    A signal shorter than ``length`` gives zero windows.
    """
    if length < 1 or hop < 1:
        raise ValueError(f"length and hop must be >= 1, got {length!r}, {hop!r}")
    n = (len(x) - length) // hop + 1 if len(x) >= length else 0
    if n <= 0:
        return np.zeros((0, length), dtype=np.float32)
    idx = np.arange(length)[None, :] + hop * np.arange(n)[:, None]
    return np.asarray(x, dtype=np.float32)[idx]


def example_starts(n_samples: int, example_samples: int, hop: int) -> np.ndarray:
    """First samples (int64 ``[n_examples]``) of the training examples of an ``n_samples`` record:
    0, hop, 2*hop, ..., plus one aligned to the record's end when the hop leaves at least half a hop
    uncovered. A record shorter than ``example_samples`` has none."""
    if n_samples < example_samples:
        return np.zeros(0, np.int64)
    starts = np.arange(0, n_samples - example_samples + 1, hop, dtype=np.int64)
    last = n_samples - example_samples
    if starts[-1] != last and last - starts[-1] >= hop // 2:
        starts = np.append(starts, last)
    return starts


def example_labels(labels: np.ndarray, starts: np.ndarray, example_samples: int) -> np.ndarray:
    """int ``[n_examples]``: the majority of each example's per-sample ``labels`` (``[n]`` 0/1; a tie is 1)."""
    cum = np.concatenate([[0], np.cumsum(labels, dtype=np.int64)])
    seizure = cum[starts + example_samples] - cum[starts]
    return (2 * seizure >= example_samples).astype(np.int64)


def rail_mask(x: np.ndarray, fs_in_hz: float, fs_out_hz: float, n_out: int) -> np.ndarray:
    """bool ``[n_out]``: the samples at ``fs_out_hz`` whose nearest sample of ``x [n]`` (at ``fs_in_hz``, as
    recorded) sits at ``x``'s minimum or maximum. A recording clips at its converter's rails, which are then its
    extremes; the daemon finds a clipped window by the samples at the window's own extremes, which resampling
    blurs (a clipped stretch rings), so the clipping is marked before it (:func:`example_quality`)."""
    x = np.asarray(x)
    if not x.size or not n_out:
        return np.zeros(n_out, dtype=bool)
    with np.errstate(invalid="ignore"):
        at = (x == x.min()) | (x == x.max())
    idx = np.minimum(np.rint(np.arange(n_out) * (fs_in_hz / fs_out_hz)).astype(np.int64), x.size - 1)
    return at[idx]


def example_quality(signal_uv: np.ndarray, rail_samples: np.ndarray | None, starts, example_samples: int) -> list:
    """Per example of ``signal_uv [n]`` (µV at the model rate) at ``starts``: None when the daemon would score its
    window, else why it would leave it out (``"non-finite"``, ``"flat"``, ``"railed"``, ``"implausible"``: the
    daemon's own rule, :func:`realtime.quality.channel_quality`), clipping counted on ``rail_samples [k]`` (sorted
    positions, marked before resampling, :func:`rail_mask`; None: on the samples themselves)."""
    from realtime.quality import channel_quality

    starts = np.asarray(starts, dtype=np.int64)
    rails = None
    if rail_samples is not None:
        rails = np.searchsorted(rail_samples, starts + example_samples) - np.searchsorted(rail_samples, starts)
    out: list = []
    for i in range(0, len(starts), 256):  # 256 examples at a time: bounded memory
        chunk = starts[i : i + 256]
        x = np.asarray(signal_uv)[chunk[:, None] + np.arange(example_samples)].astype(np.float64)
        out += channel_quality(x, at_rails=None if rails is None else rails[i : i + 256])[0]
    return out


def record_examples(rec: Record, example_samples: int, hop: int) -> tuple[np.ndarray, np.ndarray, list]:
    """``(starts [n_examples], labels [n_examples], reasons [n_examples])`` of a record: :func:`example_starts`,
    :func:`example_labels` and :func:`example_quality` (None: the example is trained on)."""
    starts = example_starts(len(rec.signal_uv), example_samples, hop)
    labels = example_labels(rec.labels, starts, example_samples)
    return starts, labels, example_quality(rec.signal_uv, rec.rail_samples, starts, example_samples)


def training_examples(rec: Record, example_samples: int, hop: int):
    """Cut ``example_samples``-long examples (window + crop margin) from a record.

    Yields ``(offset, signal [example_samples] float32, label)`` at :func:`example_starts`; the label
    is the majority of the example's per-sample labels (:func:`example_labels`). Records shorter
    than ``example_samples`` give no example. An example whose window the daemon would leave out (flat,
    clipped, implausible, non-finite: :func:`example_quality`) is not trained on: the network would never
    be shown it.
    """
    for s, label, why in zip(*record_examples(rec, example_samples, hop), strict=True):
        if why is None:
            yield int(s), rec.signal_uv[s : s + example_samples].astype(np.float32), int(label)


def loaded(records) -> Iterator[Record]:
    """The records with their samples, in order, one lazy record in memory at a time.

    A :class:`Record` is passed on as it is; a lazy record (one with a ``load_group`` method, e.g.
    :class:`train.datasets.edf.EdfChannel`) is read when it is reached, with the lazy records right
    after it that share its ``path`` (the file opened once for all its channels, read one by one).
    """
    batch: list = []
    for r in records:
        if batch and not (hasattr(r, "load_group") and r.path == batch[0].path):
            yield from batch[0].load_group(batch)
            batch = []
        if hasattr(r, "load_group"):
            batch.append(r)
        else:
            yield r
    if batch:
        yield from batch[0].load_group(batch)


def run_records(hp, data_root, *, lazy: bool = False) -> list:
    """The records a run with hyper-parameters ``hp`` trains and is scored on (``hp.data``);
    ``lazy``: the ``edf`` source's without their samples (:func:`load_sources`)."""
    return load_sources(
        hp.data.sources,
        data_root,
        sample_rate_hz=hp.signal.sample_rate_hz,
        edf_paths=hp.data.edf_paths,
        edf_channels=hp.data.edf_channels,
        edf_group_by=hp.data.edf_group_by,
        montage=hp.data.montage,
        lazy=lazy,
    )


def load_sources(
    sources,
    data_root,
    *,
    sample_rate_hz: float = 250.0,
    edf_paths=(),
    edf_channels=(),
    edf_group_by: str = "file",
    montage: str = "as_recorded",
    lazy: bool = False,
) -> list:
    """Load every named source (``bonn``, ``nscnd``, ``edf``) under ``data_root``.

    ``lazy``: the ``edf`` source gives :class:`train.datasets.edf.EdfChannel` records (headers and
    annotations read, samples read one channel at a time when written or scored: :func:`loaded`), so
    that a corpus larger than memory can be trained on; the small Bonn and New Delhi sets are
    always :class:`Record` s in memory. ``montage`` re-references the ``edf`` source's recordings
    (:func:`train.datasets.edf.training_terms`); Bonn and New Delhi are single channels, as recorded."""
    from pathlib import Path

    recs: list = []
    for s in sources:
        if s == "bonn":
            from train.datasets.bonn import load_bonn

            recs += load_bonn(Path(data_root) / "bonn", sample_rate_hz=sample_rate_hz)
        elif s == "nscnd":
            from train.datasets.nscnd import load_nscnd

            recs += load_nscnd(Path(data_root) / "nscnd", sample_rate_hz=sample_rate_hz)
        elif s == "edf":
            from train.datasets.edf import load_edf_paths

            recs += load_edf_paths(
                edf_paths,
                sample_rate_hz=sample_rate_hz,
                channels=edf_channels,
                group_by=edf_group_by,
                montage=montage,
                lazy=lazy,
            )
        else:
            raise ValueError(f"unknown data source {s!r} (expected bonn, nscnd or edf)")
    return recs
