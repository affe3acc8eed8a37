"""Clinical EEG patterns that are not seizures: does the bed alarm on them?

    python -m experiments.clinical_patterns [EXPORT] [--background ../shared/data/background] [--persons 6]
        [--kinds gpd lpd firda burst_suppression] [--amplitudes 100 200] [--json OUT]

The EEG of patients in intensive care often carries patterns that an expert does not call seizures and that no
healthy volunteer of the background corpus has: generalised periodic discharges (``gpd``: triphasic waves at 1.5 Hz
over the whole head, largest at the front), lateralised periodic discharges (``lpd``: a sharp wave a second over one
hemisphere), frontal intermittent rhythmic delta (``firda``: 4 s bursts of 2.5 Hz every 15 s) and burst-suppression
(``burst_suppression``: the record at a tenth but for 1.5 s bursts every 6 s, each with a 2 Hz slow wave). Each is
imitated on REAL 19-channel background (the third eegmmidb recording of ``--persons`` persons; needs ``../shared``),
at each amplitude (µV, peak, at the channel of largest gain), in two timings, and scored as ``realtime-detect
--file`` scores it (the daemon's pipeline and decision, the export's card settings, the shipped config):

- ``episode``: the pattern over ``[EPISODE_START_S, EPISODE_START_S + EPISODE_S)`` of an ``EPISODE_RECORDING_S``
  recording; onsets counted from its start to ``SETTLE_AFTER_S`` after its end, and elsewhere;
- ``from_start``: the pattern over the whole ``FROM_START_RECORDING_S`` recording (a connection during it); onsets
  counted in the first ``FIRST_S`` (before the background scaler has a level: docs/background.md "The first seconds
  of a connection") and after.

A characterisation, not a tuning: nothing is chosen from it (docs/background.md "Clinical patterns that are not
seizures").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from evaluation.background import Edited
from experiments.rhythmic import alarm_cell, study_args, study_setup, write_report
from realtime.montage import parse_label
from realtime.recordings import RecordingInfo

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

KINDS = ("gpd", "lpd", "firda", "burst_suppression")
TIMINGS = ("episode", "from_start")
AMPLITUDES_UV = (100.0, 200.0)  # peak
EPISODE_START_S, EPISODE_S, EPISODE_RECORDING_S, SETTLE_AFTER_S = 30.0, 40.0, 90.0, 5.0
FROM_START_RECORDING_S, FIRST_S = 120.0, 24.0
GPD_HZ, LPD_HZ, FIRDA_HZ, FIRDA_EVERY_S, FIRDA_BURST_S = 1.5, 1.0, 2.5, 15.0, 4.0
BURST_EVERY_S, BURST_S, BURST_WAVE_HZ, SUPPRESSED = 6.0, 1.5, 2.0, 0.1
LEFT = {"Fp1", "F7", "F3", "T7", "C3", "P7", "P3", "O1"}  # realtime.montage's modern names (T3 -> T7, T5 -> P7)
FRONTAL = {"Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8"}
# gpd's gain by the electrode's row, front to back (the largest at the front, as triphasic waves are)
GPD_ROW_GAIN = {"FP": 1.0, "F": 1.0, "T": 0.8, "C": 0.8, "P": 0.7, "O": 0.6}


def electrode(label: str) -> str:
    """A channel's 10-20 electrode as :func:`realtime.montage.parse_label` names it (``"Fp1.."``, ``"EEG T3-REF"``
    -> ``"Fp1"``, ``"T7"``); ``""`` for a label that names none."""
    lead = parse_label(label)
    return lead.electrode if lead is not None else ""


def bump(x: np.ndarray, width_s: float) -> np.ndarray:
    return np.exp(-0.5 * (x / width_s) ** 2)


def _periodic(shape, rate_hz: float, t_s: np.ndarray) -> np.ndarray:
    """``shape`` (a function of seconds from the discharge's peak) repeated ``rate_hz`` times a second, each
    discharge's peak 0.2 s into its period, scaled to a peak of 1."""
    tau = t_s % (1.0 / rate_hz) - 0.2
    one = shape(np.linspace(-0.2, 1.0 / rate_hz - 0.2, 2048))
    return shape(tau) / np.abs(one).max()


def _bursts(t_s: np.ndarray, every_s: float, burst_s: float, ramp_s: float) -> np.ndarray:
    """1 within bursts of ``burst_s`` every ``every_s`` (the first at 0), ramped over ``ramp_s``, else 0."""
    c = t_s % every_s
    return np.clip(np.minimum(c, burst_s - c) / ramp_s, 0.0, 1.0)


def waveform(kind: str, amplitude_uv: float, t_s: np.ndarray) -> np.ndarray:
    """The pattern's added signal (µV, peak ``amplitude_uv``) at ``t_s [n]`` seconds from the pattern's start."""
    if kind == "gpd":  # triphasic: a small negative, a large positive, a slower negative phase
        x = _periodic(
            lambda s: -0.25 * bump(s + 0.08, 0.025) + bump(s, 0.04) - 0.45 * bump(s - 0.12, 0.06), GPD_HZ, t_s
        )
    elif kind == "lpd":  # a sharp wave and its slow after-going wave
        x = _periodic(lambda s: bump(s, 0.02) - 0.4 * bump(s - 0.1, 0.05), LPD_HZ, t_s)
    elif kind == "firda":
        x = np.sin(2 * np.pi * FIRDA_HZ * t_s) * _bursts(t_s, FIRDA_EVERY_S, FIRDA_BURST_S, 0.5)
    elif kind == "burst_suppression":  # the bursts' slow wave, a Hann window over each burst, scaled to a peak of 1
        one = np.linspace(0.0, BURST_S, 2048)
        peak = np.abs(np.sin(2 * np.pi * BURST_WAVE_HZ * one) * np.sin(np.pi * one / BURST_S) ** 2).max()
        c = t_s % BURST_EVERY_S  # every burst starts at the same phase of the wave (BURST_EVERY_S x BURST_WAVE_HZ: 12)
        x = np.where(c < BURST_S, np.sin(2 * np.pi * BURST_WAVE_HZ * c) * np.sin(np.pi * c / BURST_S) ** 2, 0.0) / peak
    else:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    return amplitude_uv * x


def record_gain(kind: str, t_s: np.ndarray) -> np.ndarray:
    """The gain on the recording itself at ``t_s [n]`` (every channel): burst-suppression attenuates it to
    ``SUPPRESSED`` between its bursts; every other pattern leaves it whole (1)."""
    if kind != "burst_suppression":
        return np.ones_like(t_s)
    return np.where(t_s % BURST_EVERY_S < BURST_S, 1.0, SUPPRESSED)


def gains(labels: list[str], kind: str, rng: np.random.Generator) -> np.ndarray:
    """Per channel ``[n]``: where the pattern is and how large (0: not there)."""
    names = [electrode(label) for label in labels]
    if kind == "gpd":
        return np.array([GPD_ROW_GAIN.get(re.sub(r"[0-9Z]+$", "", n.upper()), 0.8) for n in names])
    if kind == "lpd":
        return np.array([rng.uniform(0.5, 1.0) if n in LEFT else 0.0 for n in names])
    if kind == "firda":
        return np.array([rng.uniform(0.7, 1.0) if n in FRONTAL else 0.0 for n in names])
    if kind == "burst_suppression":
        return np.ones(len(names))
    raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")


def span(timing: str) -> tuple[float, float, float]:
    """``(recording_s, pattern_start_s, pattern_end_s)`` of a timing."""
    if timing == "episode":
        return EPISODE_RECORDING_S, EPISODE_START_S, EPISODE_START_S + EPISODE_S
    if timing == "from_start":
        return FROM_START_RECORDING_S, 0.0, FROM_START_RECORDING_S
    raise ValueError(f"timing must be one of {list(TIMINGS)}, got {timing!r}")


def with_pattern(r: RecordingInfo, kind: str | None, amplitude_uv: float, timing: str, seed: int) -> Edited:
    """``r`` cut to the timing's length with the pattern (``kind`` None: none) over the timing's span."""
    seconds, start_s, end_s = span(timing)
    n = min(r.n_samples, int(seconds * r.sfreq))
    added = np.zeros((len(r.ch_names), n))
    gain = np.ones(n)
    if kind is not None:
        a, b = int(start_s * r.sfreq), min(n, int(end_s * r.sfreq))
        t = np.arange(b - a) / r.sfreq
        g = gains(list(r.ch_names), kind, np.random.default_rng(seed))
        added[:, a:b] = g[:, None] * waveform(kind, amplitude_uv, t)[None, :]
        gain[a:b] = record_gain(kind, t)
    return Edited(source=r, gain=gain, added=added, **r.metadata())


def count(times: list[float], timing: str) -> dict:
    """``episode``: onsets during the pattern (to ``SETTLE_AFTER_S`` after it) and elsewhere; ``from_start``: in the
    first ``FIRST_S`` and after."""
    if timing == "episode":
        during = [t for t in times if EPISODE_START_S <= t < EPISODE_START_S + EPISODE_S + SETTLE_AFTER_S]
        return {"during": len(during), "elsewhere": len(times) - len(during)}
    first = [t for t in times if t < FIRST_S]
    return {"during": len(times), "first_s": len(first), "after_first_s": len(times) - len(first)}


def study(files: list[Path], detector, config, *, kinds=KINDS, amplitudes=AMPLITUDES_UV) -> dict:
    """``{timing: {"clean": cell, kind: {amplitude: cell}}}``; a cell sums :func:`count` over ``files`` and adds
    ``recordings_alarmed`` (recordings with an onset during the pattern) and ``onset_times_s`` per recording."""
    from realtime.recordings import open_recording

    def run(kind, amp, timing) -> dict:
        edited = (
            with_pattern(open_recording(p, annotations=False), kind, amp, timing, seed=i) for i, p in enumerate(files)
        )
        return alarm_cell(edited, lambda times: count(times, timing), config, detector)

    out: dict = {"recordings": len(files)}
    for timing in TIMINGS:
        out[timing] = {"clean": run(None, 0.0, timing)}
        for kind in kinds:
            out[timing][kind] = {f"{a:g}": run(kind, a, timing) for a in amplitudes}
    return out


def table(res: dict) -> str:
    n = res["recordings"]
    lines = [
        "| pattern | peak µV | episode: recordings alarmed (onsets) | from the start: recordings alarmed (onsets) |",
        "|---|---|---|---|",
    ]

    def cell(timing: str, c: dict) -> str:
        first = f"; {c['first_s']} in the first {FIRST_S:g} s" if timing == "from_start" else ""
        return f"{c['recordings_alarmed']}/{n} ({c['during']}{first})"

    rows = [("none", "", res["episode"]["clean"], res["from_start"]["clean"])]
    for kind in KINDS:
        for amp, c in res["episode"].get(kind, {}).items():
            rows.append((kind, amp, c, res["from_start"][kind][amp]))
    for kind, amp, episode, from_start in rows:
        lines.append(f"| {kind} | {amp} | {cell('episode', episode)} | {cell('from_start', from_start)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = study_args(__doc__.splitlines()[0], KINDS, montage=True)
    ap.add_argument("--amplitudes", nargs="+", type=float, default=list(AMPLITUDES_UV))
    args = ap.parse_args(argv)
    det, config, files, head = study_setup(args)
    res = {
        **head,
        "files": [str(f) for f in files],
        **study(files, det, config, kinds=args.kinds, amplitudes=args.amplitudes),
    }
    return write_report(res, table(res), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
