"""The common average on the one multichannel seizure here: the CHB-MIT excerpts rebuilt from their bipolar chains.

    python -m experiments.chbmit_average [EXPORT] [--config config/realtime-detect.toml] [--backend auto] [--json OUT]

A bipolar derivation is the difference of two electrodes' potentials, so derivations that connect a set of electrodes
determine those potentials less their mean (the common average reference) exactly: the one solution of the
differences whose sum is zero (:func:`rebuild_average`). The shipped CHB-MIT excerpts' 23 derivations connect 18
electrodes (the four chains of the double banana, joined through T7-FT9-FT10-T8); the midline Fz-Cz-Pz, joined to
none of them, is left out. Each excerpt is scored as ``realtime-detect --file`` scores it (the daemon's pipeline and
decision, the export's card settings, the config) in three forms: as shipped (bipolar, as recorded), rebuilt in
common average reference (``Fp1-AVG`` ..., as recorded: what ``signal.montage = "average"`` makes of any referential
recording of those electrodes), the rebuild through ``signal.montage = "bipolar"`` (a check against the first), and
through the montages that add means for the whole bed, ``"average_common"`` (the average's channels and their mean,
here flat: a bipolar recording has no common mode) and ``"average_hemispheres"`` (each side's mean: what the
derivations tell of a side less the whole mean).
The shipped files only; TEST data: scored, never tuned on (docs/background.md "The common average on the one
multichannel seizure here").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from pathlib import Path

import numpy as np

from realtime.montage import WHOLE_BED, parse_label
from realtime.recordings import Recording, RecordingInfo

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
CHBMIT = REPO / "realtime" / "data" / "chbmit"
FILES = {"seizure": CHBMIT / "chb01_03_Seizure.edf", "non_seizure": CHBMIT / "chb01_03_NonSeizure.edf"}
SEIZURE_ONSET_S = 1.0  # realtime/data/chbmit/ATTRIBUTION.md: the excerpt starts at 2995 s, the seizure at 2996 s
FORMS = ("as_shipped", "average", "average_to_bipolar", *WHOLE_BED)


def rebuild_average(r: RecordingInfo) -> tuple[Recording, float]:
    """``r``'s bipolar derivations (``"FP1-F7"`` ...) as the common average reference of the largest set of electrodes
    they connect: ``(recording [n_electrodes, n_samples] with labels "<electrode>-AVG", the largest |residual| of
    the derivations, µV)``. ``ValueError`` when ``r`` has no bipolar derivation."""
    leads = [(i, parse_label(name)) for i, name in enumerate(r.ch_names)]
    edges = [(i, lead.electrode, lead.reference) for i, lead in leads if lead is not None and lead.bipolar]
    if not edges:
        raise ValueError(f"{r.path or 'the recording'!r} has no bipolar derivation: {list(r.ch_names)}")
    component = _largest_component([(a, b) for _, a, b in edges])
    used = [(i, a, b) for i, a, b in edges if a in component]
    names = list(dict.fromkeys(e for _, a, b in used for e in (a, b)))  # in the order the derivations name them
    col = {e: k for k, e in enumerate(names)}
    incidence = np.zeros((len(used) + 1, len(names)))  # one row per derivation, then "the potentials sum to zero"
    for row, (_, a, b) in enumerate(used):
        incidence[row, col[a]], incidence[row, col[b]] = 1.0, -1.0
    incidence[-1] = 1.0
    d = r.read(0, r.n_samples, [i for i, _, _ in used])
    x = np.linalg.pinv(incidence) @ np.vstack([d, np.zeros((1, d.shape[1]))])
    residual = float(np.abs(incidence[:-1] @ x - d).max())
    meta = {**r.metadata(), "ch_names": [f"{e}-AVG" for e in names], "channels": []}
    return Recording(data=x, **meta), residual


def _largest_component(pairs: list[tuple[str, str]]) -> set[str]:
    """The largest set of electrodes the ``(a, b)`` derivations connect (scipy's connected components)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    names = list(dict.fromkeys(e for pair in pairs for e in pair))
    index = {e: k for k, e in enumerate(names)}
    rows, cols = [index[a] for a, _ in pairs], [index[b] for _, b in pairs]
    graph = coo_matrix((np.ones(len(pairs)), (rows, cols)), shape=(len(names), len(names)))
    _, component = connected_components(graph, directed=False)
    largest = np.bincount(component).argmax()
    return {e for e, c in zip(names, component, strict=True) if c == largest}


def score(r: RecordingInfo, config, detector) -> dict:
    """``r`` scored as ``realtime-detect --file`` scores it: its onsets (time, publication, channels), the montage
    the pipeline applied and the channels it scored."""
    from experiments.rhythmic import onset_events

    pipe, events = onset_events(r, config, detector)
    names = list(pipe.unique_ch_names)
    onsets = [
        {
            "time_s": round(e.time, 2),
            "published_s": round(e.publish_time, 2),
            "channels": [names[i] for i in e.channels],
        }
        for e in events
    ]
    return {"montage": pipe.montage.describe(), "channels": len(names), "onsets": onsets}


def study(detector, config) -> dict:
    """``{form: {excerpt: score}}`` for :data:`FORMS`, the seizure's first published onset and latency per form, and
    the rebuild's largest residual per excerpt."""
    from realtime.recordings import open_recording

    def with_montage(montage: str):
        return dataclasses.replace(config, signal=dataclasses.replace(config.signal, montage=montage))

    out: dict = {"seizure_onset_s": SEIZURE_ONSET_S, "residual_uv": {}, **{form: {} for form in FORMS}}
    for excerpt, path in FILES.items():
        shipped = open_recording(path, annotations=False).load()
        rebuilt, out["residual_uv"][excerpt] = rebuild_average(shipped)
        out["as_shipped"][excerpt] = score(shipped, with_montage("as_recorded"), detector)
        out["average"][excerpt] = score(rebuilt, with_montage("as_recorded"), detector)
        out["average_to_bipolar"][excerpt] = score(rebuilt, with_montage("bipolar"), detector)
        # the rebuild through the montages with means for the whole bed: its channels less their mean (zero: the
        # same) and the means (AVG: flat, as a bipolar recording has no common mode; a side's: that side less AVG)
        for montage in WHOLE_BED:
            out[montage][excerpt] = score(rebuilt, with_montage(montage), detector)
    for form in FORMS:
        after = [o for o in out[form]["seizure"]["onsets"] if o["published_s"] >= SEIZURE_ONSET_S]
        first = after[0]["published_s"] if after else None
        out[form]["latency_s"] = None if first is None else round(first - SEIZURE_ONSET_S, 2)
    return out


def table(res: dict) -> str:
    lines = [
        "| form | channels | seizure: onsets, first published after the onset (latency) | non-seizure: onsets |",
        "|---|---|---|---|",
    ]
    for form in FORMS:
        s, n = res[form]["seizure"], res[form]["non_seizure"]
        lat = res[form]["latency_s"]
        first = "none" if lat is None else f"{lat + res['seizure_onset_s']:g} s ({lat:g} s)"
        lines.append(f"| {form} | {s['channels']} | {len(s['onsets'])}, {first} | {len(n['onsets'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from realtime.config import apply_model_settings, load_config
    from realtime.model import default_model_path, load_detector

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export", nargs="?", default=str(default_model_path()))
    ap.add_argument("--config", default=str(REPO / "config" / "realtime-detect.toml"))
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    for noisy in ("realtime.offline", "realtime.model", "realtime.recordings", "realtime.pipeline", "absl"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    det = load_detector(args.export, backend=args.backend)
    config = apply_model_settings(load_config(args.config), getattr(det, "settings", None))[0]
    res = {"export": args.export, "model_version": det.model_version, "backend": det.backend, **study(det, config)}
    print(table(res))
    print(f"largest residual of the rebuild: {max(res['residual_uv'].values()):.2e} µV")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
