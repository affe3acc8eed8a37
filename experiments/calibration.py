"""A recording's calibration: does the bed alarm when every channel carries the same signal?

    python -m experiments.calibration [EXPORT] [--background ../shared/data/background] [--persons 6]
        [--kinds square sine biocal] [--montage as_recorded|bipolar|average] [--json OUT]

A clinical EEG machine calibrates its amplifiers by switching every input to one calibration signal (``square``: a
1 Hz square wave; ``sine``: a 10 Hz sine), and a biological calibration (``biocal``) shows one derivation of the
patient's EEG (here the recording's own Fp1) on every channel. Each replaces the EEG of every channel for
``CALIBRATION_S`` (plus ``NOISE_UV`` of white noise per channel) on REAL 19-channel background (the third eegmmidb
recording of ``--persons`` persons; needs ``../shared``), at each amplitude (µV, peak to peak; ``biocal``: as
recorded), at the recording's start or mid-recording (``TIMINGS``), scored as ``realtime-detect --file`` scores it
(the daemon's pipeline and decision, the export's card settings, the shipped config). Onsets are counted from the
calibration's start to ``SETTLE_AFTER_S`` after its end, and elsewhere.

A characterisation, not a tuning: nothing is chosen from it (docs/background.md "A recording's calibration").
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from evaluation.background import Edited
from experiments.clinical_patterns import electrode
from experiments.rhythmic import alarm_cell, study_args, study_setup, write_report
from realtime.recordings import RecordingInfo

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

KINDS = ("square", "sine", "biocal")
AMPLITUDES_UV = (50.0, 100.0)  # peak to peak
TIMINGS = {"start": 0.0, "mid": 60.0}  # the calibration's start, s
CALIBRATION_S, RECORDING_S, SETTLE_AFTER_S, NOISE_UV = 30.0, 120.0, 5.0, 1.0
SQUARE_HZ, SINE_HZ = 1.0, 10.0


def calibration(kind: str, amplitude_uv: float, t_s: np.ndarray) -> np.ndarray:
    """The calibrator's signal (µV, ``amplitude_uv`` peak to peak) at ``t_s [n]`` seconds from its start
    (``square``, ``sine``)."""
    if kind == "square":
        return np.where(t_s * SQUARE_HZ % 1.0 < 0.5, amplitude_uv / 2, -amplitude_uv / 2)
    if kind == "sine":
        return amplitude_uv / 2 * np.sin(2 * np.pi * SINE_HZ * t_s)
    raise ValueError(f"kind must be 'square' or 'sine', got {kind!r}")


def with_calibration(r: RecordingInfo, kind: str | None, amplitude_uv: float, timing: str, seed: int) -> Edited:
    """``r`` cut to ``RECORDING_S`` with every channel's EEG replaced by the calibration (``kind`` None: none) over
    the timing's ``CALIBRATION_S``."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    n = min(r.n_samples, int(RECORDING_S * r.sfreq))
    added, gain = np.zeros((len(r.ch_names), n)), np.ones(n)
    if kind is not None:
        a = int(TIMINGS[timing] * r.sfreq)
        b = min(n, a + int(CALIBRATION_S * r.sfreq))
        if kind == "biocal":
            names = [electrode(label) for label in r.ch_names]
            if "Fp1" not in names:
                raise ValueError(f"biocal needs an Fp1 channel, {r.path!r} has {list(r.ch_names)}")
            signal = r.read(a, b, [names.index("Fp1")])[0]
        else:
            signal = calibration(kind, amplitude_uv, np.arange(b - a) / r.sfreq)
        noise = np.random.default_rng(seed).normal(0.0, NOISE_UV, (len(r.ch_names), b - a))
        added[:, a:b] = signal[None, :] + noise
        gain[a:b] = 0.0
    return Edited(source=r, gain=gain, added=added, **r.metadata())


def count(times: list[float], timing: str) -> dict:
    """Onsets from the calibration's start to ``SETTLE_AFTER_S`` after its end, and elsewhere."""
    start = TIMINGS[timing]
    during = [t for t in times if start <= t < start + CALIBRATION_S + SETTLE_AFTER_S]
    return {"during": len(during), "elsewhere": len(times) - len(during)}


def study(files: list[Path], detector, config, *, kinds=KINDS, amplitudes=AMPLITUDES_UV) -> dict:
    """``{timing: {"clean": cell, kind: {amplitude: cell}}}`` (``biocal``: one amplitude, ``"recorded"``); a cell
    sums :func:`count` over ``files`` and adds ``recordings_alarmed`` (recordings with an onset during the
    calibration) and ``onset_times_s`` per recording."""
    from realtime.recordings import open_recording

    def run(kind, amp, timing) -> dict:
        edited = (
            with_calibration(open_recording(p, annotations=False), kind, amp, timing, seed=i)
            for i, p in enumerate(files)
        )
        return alarm_cell(edited, lambda times: count(times, timing), config, detector)

    out: dict = {"recordings": len(files)}
    for timing in TIMINGS:
        out[timing] = {"clean": run(None, 0.0, timing)}
        for kind in kinds:
            levels = {"recorded": 0.0} if kind == "biocal" else {f"{a:g}": a for a in amplitudes}
            out[timing][kind] = {name: run(kind, a, timing) for name, a in levels.items()}
    return out


def table(res: dict) -> str:
    n = res["recordings"]
    lines = [
        "| calibration | µV peak to peak | at the start: recordings alarmed (onsets; elsewhere) | mid-recording |",
        "|---|---|---|---|",
    ]

    def cell(c: dict) -> str:
        return f"{c['recordings_alarmed']}/{n} ({c['during']}; {c['elsewhere']})"

    lines.append(f"| none | | {cell(res['start']['clean'])} | {cell(res['mid']['clean'])} |")
    for kind in KINDS:
        for amp, c in res["start"].get(kind, {}).items():
            lines.append(f"| {kind} | {amp} | {cell(c)} | {cell(res['mid'][kind][amp])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = study_args(__doc__.splitlines()[0], KINDS, montage=True)
    args = ap.parse_args(argv)
    det, config, files, head = study_setup(args)
    res = {**head, "files": [str(f) for f in files], **study(files, det, config, kinds=args.kinds)}
    return write_report(res, table(res), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
