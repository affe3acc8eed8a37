"""Sustained rhythmic artefacts at the bedside: does the bed alarm, and does the montage matter?

    python -m experiments.rhythmic [EXPORT] [--background ../shared/data/background] [--persons 6]
        [--seconds 90] [--montages as_recorded bipolar average] [--json OUT]

``experiments.artifacts`` adds short artefacts to single windows and counts channel-windows. Some bedside
artefacts are neither short nor on one electrode: a nurse patting a child (1-3 Hz), a rocking bed or chair
(about 1 Hz), head tremor or shivering (4-6 Hz: the theta band, where seizure rhythms live), the 10 Hz
oscillation of a high-frequency ventilator. They last tens of seconds and reach many electrodes at once, so
the bed rule's "k of n channels" does not stop them as it stops a single channel's burst. Each is a known
cause of false seizure alarms. This study adds one of them for ``ARTEFACT_S`` seconds to REAL seizure-free
multichannel EEG (the third eegmmidb recording of ``--persons`` persons, 19 referential channels, its first
``--seconds`` seconds; needs ``../shared``) and scores the recording as ``realtime-detect --file`` does (the
daemon's pipeline and decision, the export's card settings) with each montage, counting the onsets during
the artefact (from its start to ``SETTLE_AFTER_S`` after its end) and elsewhere.

Spatial patterns (``pattern``):

- ``common``: the same artefact on every electrode (a shared reference or the whole cap moving). Re-referencing
  removes it exactly (a bipolar pair or the common average subtracts what every electrode shares), so only
  the recording as recorded, and the montages that add means for the whole bed (``average_common``,
  ``average_hemispheres``: the means keep it), are scored with it (the other montages see the clean recording);
- ``posterior``: the electrodes a pillow or a hand touches (parietal, occipital: P7, P3, Pz, P4, P8, O1,
  O2), each with its own gain (0.4-1.0), the rest untouched: nothing cancels it.

A characterisation, not a tuning: nothing is chosen from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.background import Edited
from realtime.config import MONTAGES as CONFIG_MONTAGES
from realtime.config import Config
from realtime.recordings import RecordingInfo

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

KINDS = {  # rhythm of each artefact (Hz)
    "patting": 2.0,
    "rocking": 1.0,
    "tremor": 5.0,
    "ventilator": 10.0,
}
AMPLITUDES_UV = (50.0, 100.0, 200.0)  # peak
PATTERNS = ("common", "posterior")
MONTAGES = ("as_recorded", "bipolar", "average")
ARTEFACT_START_S, ARTEFACT_S, SETTLE_AFTER_S = 30.0, 40.0, 5.0
POSTERIOR = re.compile(r"^(P[0-9Z]|O[0-9Z]|T[56])$", re.IGNORECASE)  # P7 P3 Pz P4 P8 O1 O2 (T5/T6: old names)


def waveform(kind: str, amplitude_uv: float, t_s: np.ndarray) -> np.ndarray:
    """One artefact's waveform (µV, peak ``amplitude_uv``) at times ``t_s [n]``: a train of 0.12-s pats
    (``patting``) or a sinusoid at the kind's rhythm, faded in and out over 1 s."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    f = KINDS[kind]
    if kind == "patting":  # each pat a raised-cosine bump of 0.12 s, one every 1/f s
        phase = (t_s * f) % 1.0
        width = 0.12 * f  # of a period
        x = np.where(phase < width, 0.5 - 0.5 * np.cos(2 * np.pi * phase / width), 0.0)
    else:
        x = np.sin(2 * np.pi * f * t_s)
    fade = np.clip(np.minimum(t_s - t_s[0], t_s[-1] - t_s) / 1.0, 0.0, 1.0) if t_s.size else t_s
    return amplitude_uv * x * fade


def gains(labels: list[str], pattern: str, rng: np.random.Generator) -> np.ndarray:
    """Per channel ``[n]``: 1 everywhere (``common``), or 0.4-1.0 on the posterior electrodes and 0 elsewhere."""
    if pattern == "common":
        return np.ones(len(labels))
    if pattern != "posterior":
        raise ValueError(f"pattern must be one of {list(PATTERNS)}, got {pattern!r}")
    names = [re.sub(r"[^A-Za-z0-9]", "", label) for label in labels]  # BCI2000: "P3.." -> "P3"
    on = np.array([bool(POSTERIOR.match(n)) for n in names])
    return np.where(on, rng.uniform(0.4, 1.0, len(labels)), 0.0)


def with_artefact(r: RecordingInfo, seconds: float, kind: str | None, amplitude_uv: float, pattern: str, seed: int):
    """``r``'s first ``seconds`` with the artefact (``kind`` None: none) over ``[ARTEFACT_START_S,
    ARTEFACT_START_S + ARTEFACT_S)``."""
    n = min(r.n_samples, int(seconds * r.sfreq))
    added = np.zeros((len(r.ch_names), n))
    if kind is not None:
        a, b = int(ARTEFACT_START_S * r.sfreq), min(n, int((ARTEFACT_START_S + ARTEFACT_S) * r.sfreq))
        g = gains(list(r.ch_names), pattern, np.random.default_rng(seed))
        added[:, a:b] = g[:, None] * waveform(kind, amplitude_uv, np.arange(b - a) / r.sfreq)[None, :]
    return Edited(source=r, added=added, **r.metadata())


def onset_events(rec: RecordingInfo, config, detector) -> tuple[Any, list]:
    """``(pipeline, onsets)``: ``rec`` scored as ``realtime-detect --file`` scores it, and its onset
    ``realtime.decision.DecisionEvent`` s (the pipeline names their channels: ``unique_ch_names``)."""
    from realtime.offline import feed, recording_pipeline

    pipe = recording_pipeline(rec, config, detector)
    events = [e for w in feed(pipe, rec, config.window.hop_s) for e in w.events] + pipe.flush()
    return pipe, [e for e in events if e.kind == "onset"]


def onsets(rec: RecordingInfo, config, detector) -> list[float]:
    """The onset times (s) of ``rec`` scored as ``realtime-detect --file`` scores it."""
    return [e.time for e in onset_events(rec, config, detector)[1]]


def alarm_cell(recordings: Iterable[RecordingInfo], counted: Callable[[list[float]], dict], config, detector) -> dict:
    """Each of ``recordings`` scored (:func:`onsets`) and its onsets counted by ``counted`` (a dict with ``"during"``
    and other counts or lists); the counts summed (lists joined) over the recordings, with ``recordings_alarmed``
    (recordings with an onset during the pattern) and ``onset_times_s`` (each recording's onsets)."""
    cell: dict = {"recordings_alarmed": 0, "onset_times_s": []}
    for r in recordings:
        times = onsets(r, config, detector)
        c = counted(times)
        for key, value in c.items():
            cell[key] = cell.get(key, type(value)()) + value
        cell["recordings_alarmed"] += int(c["during"] > 0)
        cell["onset_times_s"].append([round(t, 1) for t in times])
    return cell


def count(times: list[float]) -> dict:
    end = ARTEFACT_START_S + ARTEFACT_S + SETTLE_AFTER_S
    during = [t for t in times if ARTEFACT_START_S <= t < end]
    return {"during": len(during), "elsewhere": len(times) - len(during)}


def study(
    files: list[Path], detector, config, seconds: float, *, kinds=KINDS, amplitudes=AMPLITUDES_UV, montages=MONTAGES
) -> dict:
    """``{"montages": [...], "clean": {montage: {"during", "elsewhere", "recordings_alarmed"}}, kind: {pattern:
    {amplitude: {montage: ...}}}}`` over ``files``; ``recordings_alarmed``: recordings with an onset during the
    artefact."""
    from realtime.recordings import open_recording

    cfgs = {m: dataclasses.replace(config, signal=dataclasses.replace(config.signal, montage=m)) for m in montages}

    def run(kind, amp, pattern, montages) -> dict:
        cells = {m: {"during": 0, "elsewhere": 0, "recordings_alarmed": 0} for m in montages}
        for i, path in enumerate(files):
            r = with_artefact(open_recording(path, annotations=False), seconds, kind, amp, pattern, seed=i)
            for m in montages:
                c = count(onsets(r, cfgs[m], detector))
                cells[m]["during"] += c["during"]
                cells[m]["elsewhere"] += c["elsewhere"]
                cells[m]["recordings_alarmed"] += int(c["during"] > 0)
        return cells

    out: dict = {"montages": list(montages), "recordings": len(files), "seconds": seconds}
    out["clean"] = run(None, 0.0, "common", montages)
    # a common artefact cancels exactly in the bipolar and average montages: the others see it
    sees_common = [m for m in montages if m not in ("bipolar", "average")]
    for kind in kinds:
        out[kind] = {}
        for pattern in PATTERNS:
            scored = sees_common if pattern == "common" else montages
            out[kind][pattern] = {f"{a:g}": run(kind, a, pattern, scored) for a in amplitudes}
    return out


def table(res: dict) -> str:
    n, montages = res["recordings"], res.get("montages", MONTAGES)
    head = "| artefact | pattern | amplitude µV | " + " | ".join(montages) + " |"
    lines = [head, "|---|---|---|" + "---|" * len(montages)]

    def cells(row: dict) -> str:
        return " | ".join(
            f"{row[m]['recordings_alarmed']}/{n} ({row[m]['during']})" if m in row else "= clean" for m in montages
        )

    lines.append(f"| none | | | {cells(res['clean'])} |")
    for kind in KINDS:
        for pattern, by_amp in res.get(kind, {}).items():
            for amp, row in by_amp.items():
                lines.append(f"| {kind} ({KINDS[kind]:g} Hz) | {pattern} | {amp} | {cells(row)} |")
    return "\n".join(lines)


def study_args(description: str, kinds, *, montage: bool = False) -> argparse.ArgumentParser:
    """The arguments of a study on real background (this one's, ``experiments.clinical_patterns``' and
    ``experiments.activation``'s): the export, the corpus, the config, how many persons, the backend, which
    ``kinds``, the JSON to write; with ``montage``, ``--montage`` (one montage instead of the config's)."""
    from realtime.model import default_model_path

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("export", nargs="?", default=str(default_model_path()))
    ap.add_argument("--background", default="../shared/data/background")
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "config" / "realtime-detect.toml"))
    ap.add_argument("--persons", type=int, default=6)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--kinds", nargs="+", default=list(kinds), choices=list(kinds))
    ap.add_argument("--json", default="")
    if montage:
        ap.add_argument(
            "--montage", choices=CONFIG_MONTAGES, help="re-reference so (signal.montage; default: the config's)"
        )
    return ap


def study_setup(args: argparse.Namespace) -> tuple[Any, Config, list[Path], dict]:
    """``(detector, config, files, report head)`` for :func:`study_args`' arguments: the export loaded, the config
    with its card's settings (as the daemon runs), the third eegmmidb recording of the first ``--persons``."""
    from realtime.config import apply_model_settings, load_config
    from realtime.model import load_detector

    for noisy in ("realtime.offline", "realtime.model", "realtime.recordings", "realtime.pipeline", "absl"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    det = load_detector(args.export, backend=args.backend)
    config = apply_model_settings(load_config(args.config), getattr(det, "settings", None))[0]
    if getattr(args, "montage", None):
        config = dataclasses.replace(config, signal=dataclasses.replace(config.signal, montage=args.montage))
    root = Path(args.background) / "eegmmidb"
    files = [p / f"{p.name}R03.edf" for p in sorted(root.iterdir())[: args.persons]]
    head = {
        "export": args.export,
        "model_version": det.model_version,
        "backend": det.backend,
        "montage": config.signal.montage,
    }
    return det, config, files, head


def write_report(res: dict, text: str, json_path: str) -> int:
    print(text)
    if json_path:
        Path(json_path).write_text(json.dumps(res, indent=2))
    return 0


def main(argv=None) -> int:
    ap = study_args(__doc__.splitlines()[0], KINDS)
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--montages", nargs="+", default=list(MONTAGES), choices=CONFIG_MONTAGES)
    args = ap.parse_args(argv)
    det, config, files, head = study_setup(args)
    res = {
        **head,
        "artefact": {"start_s": ARTEFACT_START_S, "seconds": ARTEFACT_S, "counted_until_s_after": SETTLE_AFTER_S},
        **study(files, det, config, args.seconds, kinds={k: KINDS[k] for k in args.kinds}, montages=args.montages),
    }
    return write_report(res, table(res), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
