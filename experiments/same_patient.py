"""The CHB-MIT excerpts as one patient's two files: the seizure excerpt with the non-seizure excerpt's levels.

docs/background.md "The same patient's earlier file", gate 3. Offline, a file whose header names the same patient
as the file scored before it (:func:`realtime.offline.names_patient`) starts its background scaler from that file's
last levels. The two shipped excerpts are one patient's (record chb01_03, 49 min apart in their headers), but their
patient field is CHB-MIT's surrogate, which names no one; here copies of them are given an EDF+ patient code
(``chb01 X X X``) and scored in file order, the non-seizure excerpt then the seizure excerpt, at each gain (a
patient's larger EEG, both files alike), with the shipped model and card; and the seizure excerpt alone at the same
gain. Per gain: whether the seizure excerpt took the levels, its onsets, the first alarm's latency (its publish
time, after ``decision.min_duration_s``) from the annotated onset (1 s into the file), when its event is first
reported over inside the seizure (None: not before the file ends), the channels scaled in its first window, and the
non-seizure excerpt's onsets.

Needs only the shipped files (test data: a gate, never tuned on)::

    python -m experiments.same_patient [--gains 1 2 3 4] [--json benchmarks/results/NAME.json]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from evaluation.recordings import CHBMIT_NONSEIZURE, CHBMIT_SEIZURE, CHBMIT_SEIZURE_SPAN
from experiments.scaling import alarm_cover, run_pipeline

log = logging.getLogger("experiments.same_patient")
PATIENT = "chb01 X X X"  # an EDF+ patient field with a code: names a patient (the shipped files' does not)
LATENCY_LIMIT_S = 10.0


def seizure_excerpt(config, detector, gain: float, previous=None) -> dict:
    """The seizure excerpt at ``gain`` (given the EDF+ patient code), after ``previous`` (a ``FileEnd``) or alone."""
    from evaluation.background import Edited
    from evaluation.events import events_from_decisions
    from realtime.recordings import open_recording

    r = open_recording(CHBMIT_SEIZURE, annotations=False)
    run = run_pipeline(
        Edited(source=r, gain=gain, **{**r.metadata(), "patient": PATIENT}), config, detector, previous=previous
    )
    onsets = [e for e in run.events if e.kind == "onset"]
    onset_s = CHBMIT_SEIZURE_SPAN[0]
    after = [e.publish_time for e in onsets if e.publish_time >= onset_s]  # as experiments.scaling: when published
    cover = alarm_cover([CHBMIT_SEIZURE_SPAN], events_from_decisions(run.events, r.duration_s))
    return {
        "took_levels": run.continued,
        "onset_times_s": [round(e.time, 1) for e in onsets],
        "published_s": [round(e.publish_time, 1) for e in onsets],
        "latency_s": round(after[0] - onset_s, 1) if after else None,
        "first_offset_s": cover["first_offset_s"],
        "alarm_share": cover["alarm_share"],
        "scaled_first_window": sorted(run.results[0].scaled_channels) if run.results else [],
    }


def measure(config, detector, gain: float) -> dict:
    """One gain: the pair in file order and the seizure excerpt alone, with the gate's verdict."""
    from evaluation.background import Edited
    from realtime.recordings import open_recording

    non = open_recording(CHBMIT_NONSEIZURE, annotations=False)
    first = run_pipeline(Edited(source=non, gain=gain, **{**non.metadata(), "patient": PATIENT}), config, detector)
    pair, alone = seizure_excerpt(config, detector, gain, first.end), seizure_excerpt(config, detector, gain)
    over_pair, over_alone = pair["first_offset_s"], alone["first_offset_s"]
    holds = (
        pair["took_levels"]
        and len(pair["onset_times_s"]) == 1
        and pair["latency_s"] is not None
        and pair["latency_s"] <= LATENCY_LIMIT_S
        and (over_pair is None or (over_alone is not None and over_pair >= over_alone))
    )
    return {
        "non_seizure_onsets_s": [round(e.time, 1) for e in first.events if e.kind == "onset"],
        "pair": pair,
        "alone": alone,
        "gate_holds": bool(holds),
    }


def main(argv: list[str] | None = None) -> int:
    from realtime.config import apply_model_settings, load_config
    from realtime.model import load_detector

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", default="realtime/models/default")
    ap.add_argument("--backend", default="litert")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--gains", type=float, nargs="+", default=[1.0, 2.0, 3.0, 4.0])
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("realtime", "evaluation", "absl"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    det = load_detector(args.export, backend=args.backend, threads=args.threads)
    config = apply_model_settings(load_config(None), getattr(det, "settings", None))[0]
    res: dict = {"export": args.export, "model_version": det.model_version, "patient": PATIENT, "gains": {}}
    for gain in args.gains:
        res["gains"][f"{gain:g}"] = row = measure(config, det, gain)
        log.info("gain %g: %s", gain, row)
    res["gate_holds"] = all(row["gate_holds"] for row in res["gains"].values())
    print(f"{'gain':>4}  {'took':<5} {'onsets (pair / alone)':<26} {'latency':<12} {'over at (pair / alone)':<22} gate")
    for gain, row in res["gains"].items():
        p, a = row["pair"], row["alone"]
        print(
            f"{gain:>4}  {p['took_levels']!s:<5} {str(p['onset_times_s']) + ' / ' + str(a['onset_times_s']):<26} "
            f"{str(p['latency_s']) + ' / ' + str(a['latency_s']):<12} "
            f"{str(p['first_offset_s']) + ' / ' + str(a['first_offset_s']):<22} {row['gate_holds']}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0 if res["gate_holds"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
