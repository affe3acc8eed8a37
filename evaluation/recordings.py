"""The continuous recordings the evaluation scores: CHB-MIT excerpts, recordings stitched from a split, the user's.

- :func:`chbmit_recordings`: the two shipped CHB-MIT excerpts (seizure, non-seizure) and the two
  stitched together (junction annotated);
- :func:`build_stitched`: from the segments of one split, the scalp background (Bonn Z, O and New
  Delhi interictal, preictal, back to back), New Delhi ictal segments each after >= 95 s of scalp
  background, Bonn S segments each after >= 95 s of Bonn N/F background (intracranial); written as
  NPZ + CSV sidecars by :mod:`evaluation.stitch`;
- :func:`user_recordings`: ``--edf FILE`` with its annotations (any format of
  :mod:`realtime.annotations`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger("evaluation.recordings")

REPO = Path(__file__).resolve().parents[1]
CHBMIT_DIR = REPO / "realtime" / "data" / "chbmit"
CHBMIT_SEIZURE = CHBMIT_DIR / "chb01_03_Seizure.edf"
CHBMIT_NONSEIZURE = CHBMIT_DIR / "chb01_03_NonSeizure.edf"
CHBMIT_SEIZURE_SPAN = (1.0, 41.0)  # record time 2996-3036 s in an excerpt starting at 2995 s
SCALP_BACKGROUND = (("bonn", "Z"), ("bonn", "O"), ("nscnd", "interictal"), ("nscnd", "preictal"))
INTRACRANIAL_BACKGROUND = (("bonn", "N"), ("bonn", "F"))
GAP_BEFORE_SEIZURE_S = 95.0  # > 90 s: SzCORE merges annotated events closer than 90 s
STITCH_RATE_HZ = 250.0
TAPER_S = 0.25


@dataclass
class EvalRecording:
    """A continuous recording to score: a file the pipeline reads, and its annotated seizures."""

    name: str
    path: Path
    seizures: list[tuple[float, float]]
    description: str
    duration_s: float = 0.0
    n_channels: int = 1
    role: str = "test"  # "test" | "tuning" | "user"
    background_only: bool = False  # counts towards the false-alarm headline
    meta: dict = field(default_factory=dict)


def _pieces(records, label: str):
    from evaluation.stitch import Piece

    return [
        Piece(np.asarray(r.signal_uv, dtype=np.float64), float(r.sample_rate_hz), label, r.recording_id)
        for r in records
    ]


def _select(records, ids: set[str], kinds) -> list:
    return sorted(
        (r for r in records if r.recording_id in ids and (r.source, r.subset) in kinds), key=lambda r: r.recording_id
    )


STITCHED_KINDS = ("scalp_background", "scalp_seizures", "intracranial_seizures")
# long seizures (status epilepticus: docs/background.md "A seizure that goes on"), not in the evaluation's set: every
# seizure segment of the split back to back as one seizure (scalp: repeated to at least LONG_SEIZURE_S)
LONG_KINDS = ("scalp_long_seizure", "intracranial_long_seizure")
LONG_SEIZURE_S = 300.0


def build_stitched(
    records, ids: set[str], out_dir: Path, prefix: str, role: str, which: Sequence[str] = STITCHED_KINDS
) -> list[EvalRecording]:
    """The stitched recordings of one split (``ids``): scalp background, New Delhi seizures after
    scalp background, Bonn S after Bonn N/F background (``which`` of them). Written under ``out_dir``."""
    from evaluation.stitch import BACKGROUND, SEIZURE, interleave, stitch, write_stitched

    out: list[EvalRecording] = []
    scalp_bg = _pieces(_select(records, ids, SCALP_BACKGROUND), BACKGROUND)
    icr_bg = _pieces(_select(records, ids, INTRACRANIAL_BACKGROUND), BACKGROUND)
    nd_ictal = _pieces(_select(records, ids, {("nscnd", "ictal")}), SEIZURE)
    bonn_s = _pieces(_select(records, ids, {("bonn", "S")}), SEIZURE)
    specs = []
    if scalp_bg:
        specs.append(
            (
                "scalp_background",
                scalp_bg,
                True,
                "scalp non-seizure segments (Bonn Z, O; New Delhi interictal, preictal) back to back",
            )
        )
    if scalp_bg and nd_ictal:
        specs.append(
            (
                "scalp_seizures",
                interleave(scalp_bg, [[p] for p in nd_ictal], GAP_BEFORE_SEIZURE_S),
                False,
                f"each New Delhi ictal segment (scalp, 5.12 s) after >= {GAP_BEFORE_SEIZURE_S:g} s of scalp background",
            )
        )
    if icr_bg and bonn_s:
        specs.append(
            (
                "intracranial_seizures",
                interleave(icr_bg, [[p] for p in bonn_s], GAP_BEFORE_SEIZURE_S),
                False,
                f"each Bonn S segment (intracranial, 23.6 s) after >= {GAP_BEFORE_SEIZURE_S:g} s of Bonn N/F "
                f"background",
            )
        )
    if scalp_bg and nd_ictal:
        seconds = sum(p.signal_uv.shape[-1] / p.sfreq for p in nd_ictal)
        block = [nd_ictal[i % len(nd_ictal)] for i in range(len(nd_ictal) * math.ceil(LONG_SEIZURE_S / seconds))]
        specs.append(
            (
                "scalp_long_seizure",
                interleave(scalp_bg, [block], GAP_BEFORE_SEIZURE_S),
                False,
                f"the New Delhi ictal segments back to back, repeated to >= {LONG_SEIZURE_S:g} s, as one seizure "
                f"after >= {GAP_BEFORE_SEIZURE_S:g} s of scalp background",
            )
        )
    if icr_bg and bonn_s:
        specs.append(
            (
                "intracranial_long_seizure",
                interleave(icr_bg, [bonn_s], GAP_BEFORE_SEIZURE_S),
                False,
                f"the Bonn S segments back to back as one seizure after >= {GAP_BEFORE_SEIZURE_S:g} s of Bonn N/F "
                f"background",
            )
        )
    for name, pieces, bg_only, desc in specs:
        if name not in which:
            continue
        st = stitch(pieces, sfreq=STITCH_RATE_HZ, taper_s=TAPER_S, ch_names=["EEG"])
        path = write_stitched(st, out_dir / f"{prefix}{name}.npz")
        out.append(
            EvalRecording(
                name=f"{prefix}{name}",
                path=path,
                seizures=list(st.seizures),
                description=desc,
                duration_s=st.duration_s,
                role=role,
                background_only=bg_only,
                meta={
                    "n_pieces": len(st.pieces),
                    "background_s": st.background_s,
                    "junctions": len(st.pieces) - 1,
                    "taper_s": TAPER_S,
                },
            )
        )
    return out


def chbmit_recordings(out_dir: Path) -> list[EvalRecording]:
    """The two shipped CHB-MIT excerpts and the two stitched (non-seizure, then seizure)."""
    from evaluation.stitch import BACKGROUND, Piece, stitch, write_stitched
    from realtime.recordings import read_recording

    sz, non = read_recording(CHBMIT_SEIZURE), read_recording(CHBMIT_NONSEIZURE)
    recs = [
        EvalRecording(
            "chbmit_seizure",
            CHBMIT_SEIZURE,
            [CHBMIT_SEIZURE_SPAN],
            "CHB-MIT chb01_03, 2995-3036 s: seizure from 1 s to the end",
            sz.duration_s,
            sz.data.shape[0],
        ),
        EvalRecording(
            "chbmit_nonseizure",
            CHBMIT_NONSEIZURE,
            [],
            "CHB-MIT chb01_03, 0-41 s: no seizure",
            non.duration_s,
            non.data.shape[0],
            background_only=True,
        ),
    ]
    if sz.ch_names != non.ch_names or sz.sfreq != non.sfreq:
        log.warning("CHB-MIT excerpts differ in channels or rate: not stitched")
        return recs
    # The pre-ictal first second of the seizure excerpt stays a background piece, the rest is seizure.
    one = int(round(CHBMIT_SEIZURE_SPAN[0] * sz.sfreq))
    st = stitch(
        [
            Piece(non.data, non.sfreq, BACKGROUND, CHBMIT_NONSEIZURE.name),
            Piece(sz.data, sz.sfreq, BACKGROUND, CHBMIT_SEIZURE.name),
        ],
        sfreq=sz.sfreq,
        taper_s=TAPER_S,
        ch_names=sz.ch_names,
    )
    onset = st.pieces[1]["start_s"] + one / sz.sfreq
    st.seizures = [(onset, st.duration_s)]
    path = write_stitched(st, out_dir / "chbmit_stitched.npz")
    recs.append(
        EvalRecording(
            "chbmit_stitched",
            path,
            list(st.seizures),
            f"CHB-MIT non-seizure excerpt then seizure excerpt (junction at "
            f"{st.pieces[1]['start_s']:.1f} s, tapered {TAPER_S:g} s)",
            st.duration_s,
            st.data.shape[0],
            meta={"junction_s": st.pieces[1]["start_s"]},
        )
    )
    return recs


def chbmit_long_seizure(
    out_dir: Path, repeats: int = 16, ictal_s: tuple[float, float] = (5.0, 30.0), gap_s: float = 0.0
) -> EvalRecording:
    """A long scalp seizure from the shipped excerpts (TEST data: measured, never tuned on): the first 30 s of the
    non-seizure excerpt, the seizure excerpt's ``ictal_s`` seconds ``repeats`` times (16: a 400 s seizure, each
    repeat tapered), the non-seizure excerpt's last 31 s. ``gap_s > 0``: a cluster instead, ``gap_s`` of the
    non-seizure excerpt after each repeat (from a different second each time), ``repeats`` seizures."""
    from evaluation.stitch import BACKGROUND, SEIZURE, Piece, stitch, write_stitched
    from realtime.recordings import read_recording

    sz, non = read_recording(CHBMIT_SEIZURE), read_recording(CHBMIT_NONSEIZURE)
    ictal = sz.data[:, int(round(ictal_s[0] * sz.sfreq)) : int(round(ictal_s[1] * sz.sfreq))]
    cut = int(round(30.0 * non.sfreq))
    pieces = [Piece(non.data[:, :cut], non.sfreq, BACKGROUND, CHBMIT_NONSEIZURE.name)]
    for i in range(repeats):
        pieces.append(Piece(ictal, sz.sfreq, SEIZURE, CHBMIT_SEIZURE.name))
        if gap_s > 0:
            start = int(round((3 * i) % 30 * non.sfreq))
            gap = non.data[:, start : start + int(round(gap_s * non.sfreq))]
            pieces.append(Piece(gap, non.sfreq, BACKGROUND, CHBMIT_NONSEIZURE.name))
    after = non.data[:, cut - int(round(20.0 * non.sfreq)) :]
    pieces.append(Piece(after, non.sfreq, BACKGROUND, CHBMIT_NONSEIZURE.name))
    st = stitch(pieces, sfreq=sz.sfreq, taper_s=TAPER_S, ch_names=sz.ch_names)
    name = "chbmit_long_seizure" if gap_s <= 0 else f"chbmit_cluster_{gap_s:g}s"
    path = write_stitched(st, out_dir / f"{name}.npz")
    return EvalRecording(
        name,
        path,
        list(st.seizures),
        f"CHB-MIT chb01_03: 30 s of the non-seizure excerpt, the seizure's {ictal_s[0]:g}-{ictal_s[1]:g} s "
        f"{repeats} times"
        + (f", each followed by {gap_s:g} s of the non-seizure excerpt" if gap_s > 0 else "")
        + ", 31 s of the non-seizure excerpt",
        st.duration_s,
        st.data.shape[0],
    )


def user_recordings(edfs: Sequence[str], annotations: Sequence[str]) -> list[EvalRecording]:
    """``--edf FILE`` (with an ``--annotations FILE`` in the same position, ``-`` for the recording's own:
    EDF+ annotations and sidecars). Any format of :mod:`realtime.annotations`."""
    from realtime.annotations import is_seizure_label, read_annotations
    from realtime.recordings import open_recording

    out = []
    for i, edf in enumerate(edfs):
        ann = annotations[i] if i < len(annotations) else "-"
        rec = open_recording(edf)  # the header and annotations: the samples are read when scored
        rows = read_annotations(ann, recording=edf) if ann and ann != "-" else rec.annotations
        seizures = [(a, b) for a, b, label in rows if is_seizure_label(label)]
        # the timeline the events, annotations and scores share: from the start to the last sample, an
        # EDF+D's gaps included (its samples alone would end early and cut off what comes after a gap)
        span_s = 0.0 if rec.last_sample_s is None else rec.last_sample_s + 1.0 / rec.sfreq
        if rec.gaps:
            log.warning(
                "%s: %d gap(s), %.1f s in all, are inside the evaluated timeline: false alarms per hour count "
                "them as monitored time",
                edf,
                len(rec.gaps),
                sum(end - start for start, end in rec.gaps),
            )
        out.append(
            EvalRecording(
                f"user_{Path(edf).stem}",
                Path(edf),
                seizures,
                f"user recording {edf}",
                span_s,
                len(rec.ch_names),
                role="user",
                background_only=not seizures,
            )
        )
    return out
