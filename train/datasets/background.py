"""Real seizure-free background EEG as training negatives, one person on one side of every split.

Corpus (``../shared/data/background``, its README): ``eegmmidb/S001/S001R01.edf`` ... (20 healthy
adults, 19 referential 10-20 channels labelled as BCI2000 writes them, ``Fp1.``, ``T7..``; 160 Hz)
and ``sleep-edf/SC4012E0_*-PSG.edf`` (one night of Sleep-EDF subject SC401: ``EEG Fpz-Cz``,
``EEG Pz-Oz`` at 100 Hz beside EOG, EMG, respiration, temperature and 1 Hz signals; the
``*-Hypnogram.edf`` files hold annotations only and are skipped). Every file is seizure-free.

Contract:

- :func:`list_files` ``(root) -> [BackgroundFile]``: every recording, sorted, with its source
  (``eegmmidb`` / ``sleep-edf``: the first folder under ``root``) and person (``S001``: the eegmmidb
  subject folder; ``SC401``: Sleep-EDF's ``SC4ssN`` names, ss the subject, N the night), the same
  person ids as ``evaluation.background.discover``, so a split names the persons it scores.
- :func:`read_eeg` ``(path, sample_rate_hz) -> (names, data_uv [n_eeg, n] float32, at_rail)``: the EEG channels
  only (the daemon's channel rule), read by ``realtime.recordings.read_recording`` and resampled to
  the model rate with ``scipy.signal.resample_poly`` (``records.resample_to``, as Bonn and New Delhi).
  (eegmmidb 160 Hz and Sleep-EDF 100 Hz -> 250 Hz: up 25 down 16, up 5 down 2.)
- :func:`file_examples` ``(BackgroundFile, ...) -> (examples [n, example_samples] float32, ids, offsets,
  left_out)``: examples cut from every EEG channel at ``hop_samples``, all label 0, but for those whose window
  the daemon would leave out (flat, clipped, implausible: counted by reason in ``left_out``). ``example_samples`` is the
  model window plus the crop margin, as for every training example (the random shift).
- :func:`split_persons`: train / validation / test by person, or fold ``fold`` of ``n_folds``
  person-wise folds (over the folds every person is tested once), by ``records.split_records``.

Nothing here holds more than one file in memory: the shards (``train.tfrecords.write_background_shards``)
are written one file at a time.
"""

from __future__ import annotations

import collections
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.datasets.records import Record, example_quality, rail_mask, resample_to, split_records

SOURCES = ("eegmmidb", "sleep-edf")
EXTENSIONS = (".edf", ".bdf")


@dataclass(frozen=True)
class BackgroundFile:
    path: Path
    relative: str  # path under the corpus root, with "/" separators
    source: str  # eegmmidb | sleep-edf
    person: str  # e.g. S001 (eegmmidb), SC401 (sleep-edf): the split's group


def person_of(relative: str) -> tuple[str, str]:
    """``"eegmmidb/S001/S001R01.edf"`` -> ``("eegmmidb", "S001")``;
    ``"sleep-edf/SC4012E0_crop0621_10e-PSG.edf"`` -> ``("sleep-edf", "SC401")``."""
    parts = relative.split("/")
    if len(parts) < 2 or parts[0] not in SOURCES:
        raise ValueError(f"background file {relative!r} is not under one of {list(SOURCES)!r}")
    source = parts[0]
    if source == "sleep-edf":
        m = re.match(r"(S[CT]\d\d\d)\d", parts[-1])  # SC4ssN / ST7ssN: subject ss, night N
        if not m:
            raise ValueError(f"Sleep-EDF file name {parts[-1]!r} does not start with SC4ssN or ST7ssN")
        return source, m.group(1)
    if len(parts) < 3:
        raise ValueError(f"eegmmidb file {relative!r} is not in a subject folder (eegmmidb/S001/...)")
    return source, parts[1]


def list_files(root: Path | str) -> list[BackgroundFile]:
    """Every EDF/BDF recording of the corpus under ``root`` (annotation-only hypnograms skipped), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"background corpus folder not found: {str(root)!r}")
    out = []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in EXTENSIONS or p.stem.endswith("-Hypnogram"):
            continue
        rel = p.relative_to(root).as_posix()
        source, person = person_of(rel)
        out.append(BackgroundFile(p, rel, source, person))
    if not out:
        raise FileNotFoundError(f"no EDF/BDF files under {str(root)!r} (expected {list(SOURCES)!r} folders)")
    return out


def read_eeg(
    path: Path | str, sample_rate_hz: float, montage: str = "as_recorded"
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One recording -> ``(EEG channel names, data_uv float32 [n_eeg, n_samples] at sample_rate_hz, at_rail bool
    [n_eeg, n_samples])``.

    Read by ``realtime.recordings.read_recording`` (µV from each signal's physical dimension, every
    kept signal at the EEG rate), EEG channels by :func:`train.datasets.edf.training_rows` (the daemon's
    own rule, so training and serving agree, as for the user's EDF source), resampled with
    ``records.resample_to``; re-referenced by ``montage`` first (:func:`train.datasets.edf.training_terms`,
    as the EDF source: eegmmidb's referential channels become the double banana's derivations ``Fp1-F7``
    or ``Fp1-AVG``). ``at_rail``: the samples clipped as recorded (``records.rail_mask``: the channel's input,
    and a bipolar derivation's other input). A recording whose rate is below ``edf.MIN_RATE_HZ`` is refused
    (``ValueError``): a reader that brought the EEG down to the rate of 1 Hz trend signals (as the
    one before issue #11 did with Sleep-EDF) must not feed the corpus. No EEG channel ->
    ``([], data [0, 0], at_rail [0, 0])``.
    """
    from realtime.recordings import read_recording
    from train.datasets.edf import training_terms

    rec = read_recording(path)
    terms = training_terms(rec, source=str(path), montage=montage)
    if not terms:
        return [], np.zeros((0, 0), np.float32), np.zeros((0, 0), bool)

    def derived(row: int, reference: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        x = rec.data[row] - rec.data[list(reference)].mean(axis=0) if reference else rec.data[row]
        y = resample_to(x, rec.sfreq, sample_rate_hz).astype(np.float32)
        clipped = [row, *reference] if len(reference) == 1 else [row]  # as the EDF source (edf.EdfChannel)
        return y, np.any([rail_mask(rec.data[i], rec.sfreq, sample_rate_hz, len(y)) for i in clipped], axis=0)

    out = [derived(row, reference) for _, row, reference in terms]
    names = [name if reference else rec.ch_names[row] for name, row, reference in terms]
    return names, np.stack([y for y, _ in out]), np.stack([m for _, m in out])


def file_examples(
    f: BackgroundFile,
    *,
    sample_rate_hz: float,
    example_samples: int,
    hop_samples: int,
    montage: str = "as_recorded",
    slow_uv: Sequence[float] = (),
) -> tuple[np.ndarray, list[str], np.ndarray, dict[str, int]]:
    """Examples of every EEG channel of one file, in a shuffled order fixed by the file's name.

    Returns ``(x float32 [n, example_samples] µV, recording ids [n] "<relative>#<channel>",
    offsets int64 [n] (first sample at the model rate), left_out {reason: examples})``; every example is
    label 0 (non-seizure). An example whose window the daemon would leave out (``records.example_quality``:
    flat, clipped, implausible) is not among them, only counted in ``left_out``. The order is shuffled so
    that a shard does not hold one channel's consecutive windows in a row.

    ``slow_uv``: for each value, the file once more with its own delta made dominant (:func:`delta_boost` to that
    median 0.5-40 Hz standard deviation, µV): a patient's large slow background, ids
    ``"<relative>@slow<uv>#<channel>"``.
    """
    names, data, at_rail = read_eeg(f.path, sample_rate_hz, montage)
    versions, refused = [("", data)], 0
    for uv in slow_uv if len(names) else ():
        try:
            versions.append((f"@slow{uv:g}", data + delta_boost(data, sample_rate_hz, uv)[0]))
        except ValueError:  # no delta to make larger (a flat recording): the file as it comes only
            refused += 1
    xs, rids, offs = [], [], []
    left_out: collections.Counter[str] = collections.Counter()
    for tag, version in versions:
        for name, x, rails in zip(names, version.astype(np.float32, copy=False), at_rail, strict=True):
            n = (len(x) - example_samples) // hop_samples + 1 if len(x) >= example_samples else 0
            starts = np.arange(n, dtype=np.int64) * hop_samples
            reasons = example_quality(x, np.flatnonzero(rails), starts, example_samples)
            left_out.update(filter(None, reasons))
            keep = starts[np.array([why is None for why in reasons], dtype=bool)]
            xs.append(x[keep[:, None] + np.arange(example_samples)])
            rids += [f"{f.relative}{tag}#{name}"] * len(keep)
            offs.append(keep)
    plain = sum(len(o) for o in offs[: len(names)])
    if refused and plain:  # as many examples as the file gives as it comes, per slow copy not made
        left_out["slow copy: no 0.5-4 Hz activity to make dominant"] += refused * plain
    if not xs or not sum(len(w) for w in xs):
        return np.zeros((0, example_samples), np.float32), [], np.zeros(0, np.int64), dict(left_out)
    x_all, off_all = np.concatenate(xs), np.concatenate(offs)
    order = np.random.default_rng(zlib.crc32(f.relative.encode())).permutation(len(x_all))
    return x_all[order], [rids[i] for i in order], off_all[order], dict(left_out)


DELTA_HZ, BROAD_HZ = (0.5, 4.0), (0.5, 40.0)  # a slow background: the band made larger, the band its size is read in
MAX_DELTA_FACTOR = 1024.0  # beyond this a recording has no delta to speak of: refused, not made up


def delta_boost(data_uv: np.ndarray, sfreq: float, target_uv: float) -> tuple[np.ndarray, float]:
    """``(added [n_channels, n], factor)``: ``data_uv [n_channels, n]``'s own ``DELTA_HZ`` activity (zero-phase
    Butterworth) times ``factor - 1``, with ``factor`` >= 1 (bisection) such that the median channel's ``BROAD_HZ``
    standard deviation of ``data + added`` is ``target_uv`` (1: already that large). The whole file at once: the
    recording is edited, not scored (``experiments.scaling --slow-background``; training's ``data.background_slow_uv``:
    a patient's large slow background imitated from real EEG, docs/background.md "A slow background")."""
    import scipy.signal

    delta = scipy.signal.sosfiltfilt(scipy.signal.butter(4, DELTA_HZ, "bandpass", fs=sfreq, output="sos"), data_uv)
    broad = scipy.signal.butter(4, BROAD_HZ, "bandpass", fs=sfreq, output="sos")
    x_b, d_b = (scipy.signal.sosfiltfilt(broad, a) for a in (data_uv, delta))

    def size(factor: float) -> float:
        return float(np.median((x_b + (factor - 1.0) * d_b).std(axis=1)))

    if size(1.0) >= target_uv:
        return np.zeros_like(data_uv), 1.0
    lo, hi = 1.0, 2.0
    while size(hi) < target_uv:
        if hi >= MAX_DELTA_FACTOR:  # (nearly) no delta to make larger: a flat or high-passed recording
            raise ValueError(
                f"its 0.5-4 Hz activity would have to grow more than {MAX_DELTA_FACTOR:g}x to reach {target_uv!r} uV"
            )
        lo, hi = hi, 2.0 * hi
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if size(mid) < target_uv else (lo, mid)
    return (hi - 1.0) * delta, hi


def split_persons(
    persons: dict[str, str], fractions=(0.6, 0.2, 0.2), seed: int = 0, *, n_folds: int = 0, fold: int = 0
) -> dict[str, list[str]]:
    """``{person: source}`` -> ``{"train": [persons], "validation": [...], "test": [...]}``.

    The split of :func:`train.datasets.records.split_records` with one group per person (stratified
    by source): ``fractions`` of each source's persons, or with ``n_folds >= 3`` fold ``fold`` as the
    test split and fold ``fold + 1`` as validation. A person is never on two sides.
    """
    empty_f, empty_i = np.zeros(0, np.float32), np.zeros(0, np.int8)
    recs = [Record(p, p, empty_f, empty_i, src, "background") for p, src in sorted(persons.items())]
    return split_records(recs, fractions, seed, n_folds=n_folds, fold=fold)
