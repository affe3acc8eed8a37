"""A routine EEG's activation procedures: does the bed alarm on photic stimulation or hyperventilation?

    python -m experiments.activation [EXPORT] [--background ../shared/data/background] [--persons 6]
        [--kinds photic hyperventilation] [--montage as_recorded|bipolar|average] [--json OUT]

A routine clinical EEG provokes, in most patients, activity an expert does not call a seizure: intermittent photic
stimulation (``photic``: trains of flashes, the occipital EEG following the flash rate) and hyperventilation
(``hyperventilation``: 3 min of deep breathing and a build-up of large generalised rhythmic delta, resolving after
it). Each is imitated on REAL 19-channel background (three eegmmidb recordings of each of ``--persons`` persons, the
first three from R03 on, joined: 6 min; needs ``../shared``) from ``START_S`` in, at each of its amplitudes (µV,
peak, at gain 1), and scored as ``realtime-detect --file`` scores it (the daemon's pipeline and decision, the
export's card settings, the shipped config). Onsets are counted during the procedure (to ``SETTLE_AFTER_S`` after
its activity ends) and elsewhere; the joined recordings without a procedure (``none``) say whether the joins alarm.

A characterisation, not a tuning: nothing is chosen from it (docs/background.md "The activation procedures of a
routine EEG").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from evaluation.background import Edited
from experiments.clinical_patterns import bump, electrode
from experiments.rhythmic import alarm_cell, study_args, study_setup, write_report
from realtime.recordings import Recording, RecordingInfo

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

KINDS = ("photic", "hyperventilation")
AMPLITUDES_UV = {"photic": (50.0, 100.0), "hyperventilation": (100.0, 200.0)}  # peak, at gain 1
FIRST_RUN, RUNS = 3, 3  # a person's first three 2 min recordings from R03 on (not every person has R05), joined
START_S, SETTLE_AFTER_S = 60.0, 5.0
FLASH_HZ = (1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 25.0, 30.0)
TRAIN_S, TRAIN_GAP_S = 10.0, 7.0
# hyperventilation, in seconds from its start: breathing HV_S; the delta from HV_DELTA_FROM_S, full after HV_RISE_S
# more, held to the end of the breathing, gone HV_FADE_S after it; its frequency falling HV_HZ[0] -> HV_HZ[1] while
# it rises; waxing and waning with a period of HV_WAX_S
HV_S, HV_DELTA_FROM_S, HV_RISE_S, HV_FADE_S, HV_WAX_S = 180.0, 60.0, 90.0, 60.0, 8.0
HV_HZ = (3.5, 2.5)
OCCIPITAL, PARIETAL = {"O1", "O2"}, {"P7", "P3", "Pz", "P4", "P8"}  # realtime.montage's names (T5 -> P7)
HV_ROW_GAIN = {"FP": 1.0, "F": 1.0, "T": 0.8, "C": 0.8, "P": 0.65, "O": 0.5}


def flash_potential(s: np.ndarray) -> np.ndarray:
    """A flash evoked potential at ``s`` seconds after the flash (triphasic, about 0.15 s: negative at 75 ms,
    positive at 110 ms, negative at 160 ms; 0 before the flash; not scaled)."""
    x = -0.6 * bump(s - 0.075, 0.012) + bump(s - 0.11, 0.015) - 0.5 * bump(s - 0.16, 0.025)
    return np.where(s >= 0, x, 0.0)


def train_starts_s() -> list[float]:
    """Each photic train's start, seconds from the procedure's start."""
    return [i * (TRAIN_S + TRAIN_GAP_S) for i in range(len(FLASH_HZ))]


def activity_s(kind: str) -> float:
    """Seconds from the procedure's start to the end of its activity (the last train's end; the delta's end)."""
    if kind == "photic":
        return train_starts_s()[-1] + TRAIN_S
    if kind == "hyperventilation":
        return HV_S + HV_FADE_S
    raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")


def waveform(kind: str, amplitude_uv: float, t_s: np.ndarray) -> np.ndarray:
    """The procedure's added signal (µV, peak ``amplitude_uv``) at ``t_s [n]`` seconds from its start, sampled at a
    constant rate. ``photic``: each train scaled to that peak over the train and its last potential's tail; from
    16 flashes a second on, the overlapping potentials partly cancel, and the rhythm between the train's first and
    last second peaks lower (50 % of it at 30 Hz)."""
    x = np.zeros_like(t_s, dtype=np.float64)
    if kind == "photic":
        step_s = t_s[1] - t_s[0] if t_s.size > 1 else 1.0

        def train(rate: float, s: np.ndarray) -> np.ndarray:  # s: seconds from the train's start
            return sum((flash_potential(s - i / rate) for i in range(int(round(TRAIN_S * rate)))), np.zeros_like(s))

        for start, rate in zip(train_starts_s(), FLASH_HZ, strict=True):
            near = (t_s >= start) & (t_s < start + TRAIN_S + 0.3)  # the last potential's tail
            peak = np.abs(train(rate, np.arange(0.0, TRAIN_S + 0.3, step_s))).max()
            x[near] += train(rate, t_s[near] - start) / peak
    elif kind == "hyperventilation":
        if t_s.size < 2:
            return x
        rel = np.clip((t_s - HV_DELTA_FROM_S) / HV_RISE_S, 0.0, 1.0)
        hz = HV_HZ[0] + (HV_HZ[1] - HV_HZ[0]) * rel
        phase = 2 * np.pi * np.cumsum(hz) * (t_s[1] - t_s[0])
        fade = np.clip(1.0 - (t_s - HV_S) / HV_FADE_S, 0.0, 1.0)
        envelope = np.where(t_s < HV_DELTA_FROM_S, 0.0, np.minimum(rel, fade))
        x = np.sin(phase) * envelope * (0.55 + 0.45 * np.sin(2 * np.pi * t_s / HV_WAX_S))
        x /= np.abs(x).max()
    else:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    return amplitude_uv * x


def gains(labels: list[str], kind: str) -> np.ndarray:
    """Per channel ``[n]``: how large the procedure's activity is there (0: not there)."""
    names = [electrode(label) for label in labels]
    if kind == "photic":
        return np.array([1.0 if n in OCCIPITAL else 0.5 if n in PARIETAL else 0.0 for n in names])
    if kind == "hyperventilation":
        return np.array([HV_ROW_GAIN.get(re.sub(r"[0-9Z]+$", "", n.upper()), 0.8) for n in names])
    raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")


def joined(recordings: list[RecordingInfo]) -> Recording:
    """``recordings`` one after the other in memory, each channel's mean taken from each first (no step at a
    join); ``ValueError`` unless they have the same channels and rate."""
    first = recordings[0]
    for r in recordings[1:]:
        if r.ch_names != first.ch_names or r.sfreq != first.sfreq:
            raise ValueError(f"cannot join {r.path!r} to {first.path!r}: other channels or rate")
    parts = [(x := r.read(0, r.n_samples)) - x.mean(axis=1, keepdims=True) for r in recordings]
    return Recording(data=np.concatenate(parts, axis=1), **first.metadata())


def with_procedure(r: RecordingInfo, kind: str | None, amplitude_uv: float) -> Edited | RecordingInfo:
    """``r`` with the procedure (``kind`` None: none) from ``START_S``."""
    if kind is None:
        return r
    a = int(START_S * r.sfreq)
    t = np.arange(r.n_samples - a) / r.sfreq
    added = np.zeros((len(r.ch_names), r.n_samples))
    added[:, a:] = gains(list(r.ch_names), kind)[:, None] * waveform(kind, amplitude_uv, t)[None, :]
    return Edited(source=r, added=added, **r.metadata())


def count(times: list[float], kind: str | None) -> dict:
    """Onsets during the procedure (``START_S`` to ``SETTLE_AFTER_S`` after its activity; ``kind`` None: the
    longest procedure's span) and elsewhere; for ``photic``, each onset's flash rate (the train during or after
    which it came)."""
    end = START_S + activity_s(kind or "hyperventilation") + SETTLE_AFTER_S
    during = [t for t in times if START_S <= t < end]
    out: dict = {"during": len(during), "elsewhere": len(times) - len(during)}
    if kind == "photic":
        starts = np.asarray(train_starts_s()) + START_S
        out["flash_hz"] = [FLASH_HZ[int(np.searchsorted(starts, t, "right")) - 1] for t in during]
    return out


def person_files(background: Path, persons: int) -> list[list[Path]]:
    """Per person (the first ``persons`` of eegmmidb), the first ``RUNS`` recordings from ``FIRST_RUN`` on."""
    root = background / "eegmmidb"

    def run(path: Path) -> int:
        return int(path.stem.rsplit("R", 1)[1])

    people = [
        sorted((f for f in p.glob("*.edf") if run(f) >= FIRST_RUN), key=run)[:RUNS] for p in sorted(root.iterdir())
    ]
    return [files for files in people if len(files) == RUNS][:persons]


def study(people: list[list[Path]], detector, config, *, kinds=KINDS, amplitudes=AMPLITUDES_UV) -> dict:
    """``{"none": cell, kind: {amplitude: cell}}``; a cell sums :func:`count` over the persons and adds
    ``recordings_alarmed`` (recordings with an onset during the procedure) and ``onset_times_s`` per recording."""
    from realtime.recordings import open_recording

    records = [joined([open_recording(f, annotations=False) for f in files]) for files in people]

    def run(kind, amp) -> dict:
        edited = (with_procedure(r, kind, amp) for r in records)
        return alarm_cell(edited, lambda times: count(times, kind), config, detector)

    out: dict = {"recordings": len(records), "seconds": [r.duration_s for r in records], "none": run(None, 0.0)}
    for kind in kinds:
        out[kind] = {f"{a:g}": run(kind, a) for a in amplitudes[kind]}
    return out


def table(res: dict) -> str:
    n = res["recordings"]
    lines = [
        "| procedure | peak µV | recordings alarmed during it | onsets during it | elsewhere | flash rates (Hz) |",
        "|---|---|---|---|---|---|",
    ]
    none = res["none"]
    lines.append(f"| none | | {none['recordings_alarmed']}/{n} | {none['during']} | {none['elsewhere']} | |")
    for kind in KINDS:
        for amp, c in res.get(kind, {}).items():
            rates = ", ".join(f"{r:g}" for r in c.get("flash_hz", []))
            lines.append(
                f"| {kind} | {amp} | {c['recordings_alarmed']}/{n} | {c['during']} | {c['elsewhere']} | {rates} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = study_args(__doc__.splitlines()[0], KINDS, montage=True)
    args = ap.parse_args(argv)
    det, config, _, head = study_setup(args)
    people = person_files(Path(args.background), args.persons)
    res = {
        **head,
        "start_s": START_S,
        "files": [[str(f) for f in files] for files in people],
        **study(people, det, config, kinds=args.kinds),
    }
    return write_report(res, table(res), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
