"""What the common average costs a widespread seizure: real seizure EEG over fields from one region to every electrode.

    python -m experiments.seizure_field [EXPORT] [--background ../shared/data/background] [--data-root ../shared/data]
        [--persons 20] [--kinds focal hemispheric generalised uniform] [--montages as_recorded ...] [--lag-ms 0]
        [--json OUT]

The test split's seizure segments (the stitched test recordings' 24: New Delhi ictal, scalp, 5.12 s; Bonn S,
intracranial, 23.6 s; never trained on) are each made zero-mean and tapered as :mod:`evaluation.stitch` makes them,
resampled to the background's rate and added at their own amplitude to REAL 19-channel background (seizure ``i`` on
the ``i mod n``-th of the first ``--persons`` eegmmidb persons' R03 recordings, ``n`` those who have one, from
``START_S`` in; needs ``../shared``), the same waveform on every electrode of a field (:func:`field_gains`; by
default no lag between electrodes, the worst case for the average; ``--lag-ms L``: each electrode of the field
delayed by its own lag, drawn uniformly from 0 to ``L`` ms per seizure, the earliest at 0, as a seizure spreads).
Each recording, and each background recording alone (the
control), is scored as ``realtime-detect --file`` scores it (the export's card settings, the shipped config) in each
montage of ``--montages`` (default :data:`experiments.rhythmic.MONTAGES`).

A characterisation, not a tuning (docs/background.md "What the common average costs a widespread seizure"); with
``--montages average_common``, gate 1 of that montage ("The common mode as one more channel").
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np

from evaluation.background import Edited
from experiments.clinical_patterns import LEFT, electrode
from experiments.rhythmic import MONTAGES, onset_events, study_args, study_setup, write_report
from realtime.config import MONTAGES as CONFIG_MONTAGES
from realtime.recordings import RecordingInfo

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

KINDS = ("focal", "hemispheric", "generalised", "uniform")
START_S, AFTER_S, WITHIN_S = 40.0, 5.0, 10.0
TAPER_S = 0.25  # evaluation.recordings.TAPER_S: the stitched recordings' taper
FOCAL = {"F7": 1.0, "T7": 1.0, "P7": 1.0, "Fp1": 0.5, "F3": 0.5, "C3": 0.5, "P3": 0.5, "O1": 0.5}  # left temporal
MIDLINE = {"Fz", "Cz", "Pz"}
ROW_GAIN = {"FP": 1.0, "F": 1.0, "T": 0.8, "C": 0.8, "P": 0.65, "O": 0.5}  # experiments.activation's HV weights


def mirror(name: str) -> str:
    """The electrode on the other side (``"F7"`` -> ``"F8"``, ``"Fp1"`` -> ``"Fp2"``); the midline stays."""
    m = re.fullmatch(r"([A-Za-z]+)(\d+)", name)
    if not m:
        return name
    n = int(m.group(2))
    return f"{m.group(1)}{n + 1 if n % 2 else n - 1}"


def field_gains(labels: list[str], kind: str, right: bool = False) -> np.ndarray:
    """Per channel ``[n]``: the seizure's weight there (0: not there); ``right``: the lateral fields' mirror."""
    names = [electrode(label) for label in labels]
    if right:
        names = [mirror(n) for n in names]  # the left field's weights read at the mirrored electrode
    if kind == "focal":
        return np.array([FOCAL.get(n, 0.0) for n in names])
    if kind == "hemispheric":
        return np.array([1.0 if n in LEFT else 0.5 if n in MIDLINE else 0.0 for n in names])
    if kind == "generalised":
        return np.array([ROW_GAIN.get(re.sub(r"[0-9Z]+$", "", n.upper()), 0.0) for n in names])
    if kind == "uniform":
        return np.array([1.0 if n else 0.0 for n in names])
    raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")


@dataclasses.dataclass(frozen=True)
class Seizure:
    """One seizure segment: ``signal_uv [n]`` at ``sfreq`` Hz, its recording id and source (``bonn``, ``nscnd``)."""

    signal_uv: np.ndarray
    sfreq: float
    recording_id: str
    source: str


def test_seizures(data_root: Path, card: dict) -> list[Seizure]:
    """The test split's seizure segments (by ``card``'s split), in the order of their ids: those of the stitched
    test recordings (``evaluation.recordings.build_stitched``)."""
    from train.datasets.records import load_sources

    records = load_sources(("bonn", "nscnd"), data_root, sample_rate_hz=float(card["sample_rate_hz"]))
    test = set(card["training"]["split"]["test"])
    kinds = {("bonn", "S"), ("nscnd", "ictal")}
    return [
        Seizure(np.asarray(r.signal_uv, dtype=np.float64), float(r.sample_rate_hz), r.recording_id, r.source)
        for r in sorted(records, key=lambda r: r.recording_id)
        if r.recording_id in test and (r.source, r.subset) in kinds
    ]


def with_seizure(
    r: RecordingInfo, seizure: Seizure | None, kind: str, right: bool, *, lag_s: float = 0.0, seed: int = 0
) -> tuple[RecordingInfo, tuple]:
    """``(recording, (onset_s, offset_s))``: ``r`` with ``seizure`` over ``kind``'s field from ``START_S``
    (``seizure`` None: ``r`` as it is, and the span a Bonn segment would have); ``lag_s`` > 0: each electrode of the
    field delayed by a lag drawn uniformly from [0, ``lag_s``] (generator ``seed``), the earliest electrode at 0."""
    from evaluation.stitch import resample, taper

    if seizure is None:
        return r, (START_S, START_S + 23.6)
    x = taper(resample(seizure.signal_uv, seizure.sfreq, r.sfreq), int(round(TAPER_S * r.sfreq)))
    gains = field_gains(list(r.ch_names), kind, right)
    lags = np.round(np.random.default_rng(seed).uniform(0.0, lag_s, gains.size) * r.sfreq).astype(int)
    lags = np.where(gains > 0, lags - (lags[gains > 0].min() if (gains > 0).any() else 0), 0)  # the field's only
    a = int(round(START_S * r.sfreq))
    if a + x.size + lags.max() > r.n_samples:
        raise ValueError(f"{seizure.recording_id!r} ({x.size / r.sfreq:g} s) does not fit {r.path!r} from {START_S} s")
    added = np.zeros((len(r.ch_names), r.n_samples))
    for j in np.flatnonzero(gains):
        added[j, a + lags[j] : a + lags[j] + x.size] = gains[j] * x
    return Edited(source=r, added=added, **r.metadata()), (START_S, START_S + (x.size + lags.max()) / r.sfreq)


def score(r: RecordingInfo, span: tuple[float, float], config, detector) -> dict:
    """``r`` scored as ``realtime-detect --file`` scores it: the onsets published within ``span`` (to ``AFTER_S``
    after its end) and elsewhere, the first one's latency from ``span[0]`` (its publish time) and its channels."""
    pipe, onsets = onset_events(r, config, detector)
    during = [e for e in onsets if span[0] <= e.publish_time <= span[1] + AFTER_S]
    names = list(pipe.unique_ch_names)
    first = min(during, key=lambda e: e.publish_time) if during else None
    return {
        "detected": first is not None,
        "latency_s": round(first.publish_time - span[0], 2) if first else None,
        "channels": [names[c] for c in first.channels] if first else [],
        "elsewhere": len(onsets) - len(during),
        "onset_times_s": [round(e.publish_time, 1) for e in onsets],
    }


def summary(cells: list[dict]) -> dict:
    lat = [c["latency_s"] for c in cells if c["detected"]]
    return {
        "seizures": len(cells),
        "detected": len(lat),
        "within_s": sum(x <= WITHIN_S for x in lat),
        "latency_median_s": round(float(np.median(lat)), 1) if lat else None,
        "latency_max_s": max(lat) if lat else None,
        "elsewhere": sum(c["elsewhere"] for c in cells),
    }


def study(
    files: list[Path], seizures: list[Seizure], detector, config, *, kinds=KINDS, montages=MONTAGES, lag_s=0.0
) -> dict:
    """``{"montages": [...], "lag_s", "control": {montage: summary}, kind: {montage: {"all", source: summary,
    "per_seizure": [...]}}}`` (``lag_s``: :func:`with_seizure`'s, seizure ``i``'s lags drawn with seed ``i``)."""
    from realtime.recordings import open_recording

    cfgs = {m: dataclasses.replace(config, signal=dataclasses.replace(config.signal, montage=m)) for m in montages}
    backgrounds = [open_recording(f, annotations=False) for f in files]
    out: dict = {"recordings": [str(f) for f in files], "seizures": [s.recording_id for s in seizures]}
    out["montages"], out["lag_s"], out["control"] = list(montages), lag_s, {}
    for m in montages:
        cells = [score(*with_seizure(b, None, "uniform", False), cfgs[m], detector) for b in backgrounds]
        out["control"][m] = {"recordings": len(cells), "onsets": sum(len(c["onset_times_s"]) for c in cells)}
    for kind in kinds:
        out[kind] = {}
        for m in montages:
            cells = []
            for i, s in enumerate(seizures):
                rec, span = with_seizure(
                    backgrounds[i % len(backgrounds)], s, kind, right=bool(i % 2), lag_s=lag_s, seed=i
                )
                cells.append({"seizure": s.recording_id, "source": s.source, **score(rec, span, cfgs[m], detector)})
            sources = sorted({c["source"] for c in cells})
            out[kind][m] = {
                "all": summary(cells),
                **{src: summary([c for c in cells if c["source"] == src]) for src in sources},
                "per_seizure": cells,
            }
    return out


def table(res: dict) -> str:
    montages = res["montages"]
    lines = ["| field | seizures | " + " | ".join(montages) + " |", "|---|---|" + "---|" * len(montages)]
    ctrl = res["control"]
    lines.append("| none (control) | | " + " | ".join(f"{ctrl[m]['onsets']} onsets" for m in montages) + " |")

    def cell(s: dict) -> str:
        lat = f"{s['latency_median_s']:g} s ({s['latency_max_s']:g})" if s["detected"] else "-"
        return f"{s['detected']}/{s['seizures']}, {s['within_s']} within {WITHIN_S:g} s, {lat}; {s['elsewhere']} else"

    for kind in KINDS:
        if kind not in res:
            continue
        for part in ("all", "nscnd", "bonn"):
            if part in res[kind][montages[0]]:
                lines.append(f"| {kind} | {part} | " + " | ".join(cell(res[kind][m][part]) for m in montages) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = study_args(__doc__.splitlines()[0], KINDS)
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--montages", nargs="+", default=list(MONTAGES), choices=CONFIG_MONTAGES)
    ap.add_argument("--lag-ms", type=float, default=0.0, help="each field electrode's lag, uniform in [0, this]")
    ap.set_defaults(persons=20)
    args = ap.parse_args(argv)
    det, config, files, head = study_setup(args)
    files = [f for f in files if f.exists()]  # not every person has R03 (S047 has only R01)
    seizures = test_seizures(Path(args.data_root), det.card)
    lag_s = args.lag_ms / 1000.0
    res = {
        **head,
        "start_s": START_S,
        **study(files, seizures, det, config, kinds=args.kinds, montages=args.montages, lag_s=lag_s),
    }
    return write_report(res, table(res), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
