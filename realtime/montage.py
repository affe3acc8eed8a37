"""Re-referencing the EEG channels: as recorded, the longitudinal bipolar "double banana", or common average.

Hospital EEG is mostly recorded referential (every electrode against one reference), and the
reference adds one signal, often large (ECG, movement, a poor ear contact), to every channel. The
network was trained on single channels and reads that common mode as EEG. A bipolar derivation
(``Fp1 - F7``) or the common average reference (``Fp1 - mean``) cancels it exactly.

Labels (:func:`parse_label`). The labels clinical archives and BCI2000 write are read into a 10-20 /
10-10 electrode in its modern name: ``EEG FP1-LE``, ``EEG T3-REF``, ``EEG FP1-AR``, ``POL Fp1``,
``Fp1``, ``FP1``, BCI2000 ``Fc5.``/``C3..``/``Fpz.`` (a type prefix ``EEG``/``POL``, the case and
BCI2000's padding dots do not matter). The old names T3, T4, T5, T6 are read as T7, T8, P7, P8 (the
same positions, renamed by the 10-10 system). A label naming two electrodes (``FP1-F7``,
``EEG Fpz-Cz``) is a bipolar derivation; an electrode followed by a reference (``REF``, ``LE``, ``AR``,
``AVG``, ``CAR``, or the ear/mastoid sites ``A1``, ``A2``, ``M1``, ``M2``) or by nothing is
referential. Anything else (``ECG``, ``ch0``, ``DC1-DC``, ``EEG EKG-LE``) is ``None``. The ear and
mastoid sites read as electrodes (``EEG A1-REF``) but are reference sites, not scalp: no derivation
uses them.

:class:`Montage` (``ch_names`` of the input, ``kind``) is a linear map from ``n_in`` input channels to
``n_out`` output channels, a matrix ``[n_out, n_in]`` (``matrix``; it commutes with resampling and
filtering, so it may be applied before or after them):

- ``as_recorded``: identity.
- ``bipolar``: the ACNS/TCP 18 derivations of the double banana (:data:`DOUBLE_BANANA`), output
  labels ``Fp1-F7``; a derivation whose electrodes are not both present, or whose two inputs have
  different references, is skipped (``skipped``, with why).
- ``average``: every scalp electrode minus the mean of the scalp electrodes, labels ``Fp1-AVG``.
- ``average_common``: the same, and one more output, the mean itself (the common mode, label :data:`COMMON`,
  ``AVG``): what the average takes from every electrode, a seizure common to them all among it.
- ``average_hemispheres``: the average's outputs, and two more, the mean of each hemisphere's scalp electrodes
  (``AVG-L``: the 10-10 positions numbered odd; ``AVG-R``: even; the midline, ``z``, in neither), a side's mean
  formed only where it has at least 2 electrodes (else ``skipped`` says so): what the average takes from a seizure
  over one side, which the whole mean holds only half of.

The means (:data:`WHOLE_BED`) are the last outputs, their indices ``common``; the bed's decision counts each as the
whole bed (:class:`realtime.decision.DecisionMachine` ``whole_bed``), not as one more channel of the k-of-n rule.

An electrode given twice (``T3`` and ``T7``) is taken from its first input. Inputs no output uses are
listed in ``unused``. A recording with a bipolar label (already bipolar: re-referencing a part of it
would mix montages), or with too few electrodes for the kind (no derivation formed; fewer than
:data:`MIN_AVERAGE_ELECTRODES` (8) scalp electrodes, or scalp electrodes against different references for the
average), stays as
recorded: ``applied`` is then ``"as_recorded"`` and ``reason`` says why (``describe()``).

Flagged inputs (``usable [n_in]`` False: flat, railed, non-finite, implausible, e.g. a broken
electrode at 3400 µV): :meth:`Montage.apply` NaN-fills every output that uses one (so the pipeline
leaves it out of the window; ``usable_out`` says which, ``reasons_out`` why), and the common average
is taken over the usable scalp electrodes only (one broken electrode does not contaminate every
channel). ``apply`` indexes and subtracts (about 50 µs for ``[19, 1200]``); ``matrix_for(usable)`` is
the same map as a matrix. Pure: numpy, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from realtime.config import MONTAGES

# The 10-10 scalp positions in their modern names (10-20 is a subset of them).
SCALP = (
    "Fp1", "Fpz", "Fp2", "AF9", "AF7", "AF5", "AF3", "AF1", "AFz", "AF2", "AF4", "AF6", "AF8", "AF10",
    "F9", "F7", "F5", "F3", "F1", "Fz", "F2", "F4", "F6", "F8", "F10",
    "FT9", "FT7", "FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "FT8", "FT10",
    "T9", "T7", "C5", "C3", "C1", "Cz", "C2", "C4", "C6", "T8", "T10",
    "TP9", "TP7", "CP5", "CP3", "CP1", "CPz", "CP2", "CP4", "CP6", "TP8", "TP10",
    "P9", "P7", "P5", "P3", "P1", "Pz", "P2", "P4", "P6", "P8", "P10",
    "PO9", "PO7", "PO5", "PO3", "PO1", "POz", "PO2", "PO4", "PO6", "PO8", "PO10",
    "O9", "O1", "Oz", "O2", "O10", "I1", "Iz", "I2",
)  # fmt: skip
REFERENCE_SITES = ("A1", "A2", "M1", "M2")  # ear lobes, mastoids
OLD_NAMES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
REFERENCES = ("REF", "LE", "AR", "AVG", "CAR")  # reference suffixes that are not an electrode
DOUBLE_BANANA = (
    ("Fp1", "F7"), ("F7", "T7"), ("T7", "P7"), ("P7", "O1"),
    ("Fp1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"),
    ("Fz", "Cz"), ("Cz", "Pz"),
    ("Fp2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2"),
    ("Fp2", "F8"), ("F8", "T8"), ("T8", "P8"), ("P8", "O2"),
)  # fmt: skip
# A common average of fewer scalp electrodes is not formed (the recording stays as recorded): each would be an eighth
# or more of the mean, and the outputs one signal many times over (two electrodes: x1 - mean = -(x2 - mean)), which
# the bed rule would count as that many channels
MIN_AVERAGE_ELECTRODES = 8
AVERAGES = ("average", "average_common", "average_hemispheres")  # the kinds that take the scalp electrodes' average
COMMON = "AVG"  # average_common's output that is the mean of the scalp electrodes (the common mode)
# The kinds with means that count as the whole bed: (label, the electrodes' side: 1 left, 0 right, None every one)
WHOLE_BED = {"average_common": ((COMMON, None),), "average_hemispheres": (("AVG-L", 1), ("AVG-R", 0))}
_CANONICAL = {n.upper(): n for n in (*SCALP, *REFERENCE_SITES)} | OLD_NAMES
_PREFIX = re.compile(r"^(?:EEG|POL)[\s:]+", re.IGNORECASE)


@dataclass(frozen=True)
class Lead:
    """One parsed label: ``electrode`` (modern name) against ``reference``: the second electrode of a
    bipolar derivation (``bipolar``), a reference as written in upper case (``"REF"``, ``"A1"``), or
    ``""`` when the label names none."""

    electrode: str
    reference: str
    bipolar: bool


def parse_label(label: str) -> Lead | None:
    """``"EEG T3-REF"`` -> ``Lead("T7", "REF", False)``; ``"FP1-F7"`` -> ``Lead("Fp1", "F7", True)``;
    ``"Fc5."`` -> ``Lead("FC5", "", False)``; ``"ECG"``, ``"DC1-DC"`` -> ``None``."""
    s = re.sub(r"\s*-\s*", "-", _PREFIX.sub("", label.strip())).rstrip(". ")
    parts = s.upper().split("-")
    if len(parts) > 2 or parts[0] not in _CANONICAL:
        return None
    electrode = _CANONICAL[parts[0]]
    if len(parts) == 1:
        return Lead(electrode, "", False)
    second = parts[1]
    if second in REFERENCES or second in REFERENCE_SITES:
        return Lead(electrode, second, False)
    if second in _CANONICAL:
        return Lead(electrode, _CANONICAL[second], True)
    return None


def _side(electrode: str) -> int | None:
    """1 for the left hemisphere (10-10 positions numbered odd: ``F7``), 0 for the right (even: ``AF10``), None for
    the midline (``Cz``)."""
    return int(electrode[-1]) % 2 if electrode[-1].isdigit() else None


class Montage:
    """From ``ch_names`` (``n_in`` input labels) to ``names`` (``n_out`` outputs) by ``kind``.

    ``applied`` is the kind in effect (``"as_recorded"`` when the labels do not allow the one asked,
    ``reason`` says why); ``skipped`` lists derivations not formed, ``unused`` the inputs no output
    uses."""

    def __init__(self, ch_names: Sequence[str], kind: str):
        if kind not in MONTAGES:
            raise ValueError(f"montage: expected one of {', '.join(map(repr, MONTAGES))}, got {kind!r}")
        self.ch_names = list(ch_names)
        self.kind = kind
        self.skipped: list[str] = []
        self.reason = ""
        self.already_bipolar = False  # labels that name two electrodes: the recording is bipolar as it comes
        leads = [parse_label(n) for n in self.ch_names]
        bipolar = [n for n, lead in zip(self.ch_names, leads, strict=True) if lead is not None and lead.bipolar]
        found: dict[str, tuple[int, str]] = {}  # electrode -> (input index, reference) of its first input
        for i, lead in enumerate(leads):
            if lead is not None and not lead.bipolar:
                found.setdefault(lead.electrode, (i, lead.reference))
        outputs: list[tuple[int, int, str]] = []  # (plus, minus or -1, name) per output
        scalp = [e for e in SCALP if e in found]
        if kind == "as_recorded":
            pass
        elif bipolar:
            shown = ", ".join(bipolar[:3]) + (", ..." if len(bipolar) > 3 else "")
            self.reason = f"already bipolar: {len(bipolar)} of {len(leads)} labels name two electrodes ({shown})"
            self.already_bipolar = True
        elif kind == "bipolar":
            for a, b in DOUBLE_BANANA:
                if missing := [e for e in (a, b) if e not in found]:
                    self.skipped.append(f"{a}-{b} (no {', '.join(missing)})")
                elif found[a][1] != found[b][1]:
                    self.skipped.append(f"{a}-{b} (references differ: {found[a][1]!r}, {found[b][1]!r})")
                else:
                    outputs.append((found[a][0], found[b][0], f"{a}-{b}"))
            if not outputs:
                self.reason = f"no derivation of the double banana has both electrodes (electrodes: {sorted(found)})"
        elif len(scalp) < MIN_AVERAGE_ELECTRODES:
            few = f"fewer than {MIN_AVERAGE_ELECTRODES} scalp electrodes"
            self.reason = f"{few} for a common average (electrodes: {sorted(found)})"
        elif len(refs := sorted({found[e][1] for e in scalp})) > 1:
            self.reason = f"the scalp electrodes have different references ({refs}): no common average"
        else:
            outputs = [(found[e][0], -1, f"{e}-AVG") for e in scalp]
        self.applied = kind if outputs else "as_recorded"
        # the means that count as the whole bed (WHOLE_BED): the last outputs, after the electrodes' (not in _plus)
        self._means: list[tuple[str, np.ndarray]] = []  # (label, its inputs [n_in] bool)
        for label, side in WHOLE_BED.get(self.applied, ()):
            members = [found[e][0] for e in scalp if side is None or _side(e) == side]
            if len(members) < 2:
                self.skipped.append(f"{label} (fewer than 2 electrodes: {[e for e in scalp if _side(e) == side]})")
                continue
            self._means.append((label, np.isin(np.arange(len(self.ch_names)), members)))
        self.common = tuple(range(len(outputs), len(outputs) + len(self._means)))
        if not outputs:
            self.skipped = []
            outputs = [(i, -1, n) for i, n in enumerate(self.ch_names)]
        self.names = [name for _, _, name in outputs] + [label for label, _ in self._means]
        self._plus = np.array([a for a, _, _ in outputs], dtype=np.intp)
        self._minus = np.array([b for _, b, _ in outputs], dtype=np.intp)
        used = set(self.used_inputs)
        self.unused = [n for i, n in enumerate(self.ch_names) if i not in used]
        self._averaged = np.zeros(self.n_in, dtype=bool)  # the inputs of the common average
        if self.applied in AVERAGES:
            self._averaged[self._plus] = True

    @property
    def used_inputs(self) -> list[int]:
        """The inputs some output uses, in order (every input when as recorded)."""
        return sorted({*self._plus.tolist(), *(b for b in self._minus.tolist() if b >= 0)})

    @property
    def n_in(self) -> int:
        return len(self.ch_names)

    @property
    def n_out(self) -> int:
        return len(self.names)

    @property
    def fell_back(self) -> bool:
        """The montage asked could not be formed and the channels stay as recorded (``reason`` says why), unless
        bipolar was asked of a recording that is bipolar already: its channels are then what was asked for."""
        return self.applied != self.kind and not (self.kind == "bipolar" and self.already_bipolar)

    @property
    def terms(self) -> list[tuple[int, tuple[int, ...]]]:
        """``[n_out]`` of ``(input, reference inputs)``: output ``j`` is ``x[input] - mean(x[reference
        inputs])`` when every input is usable (no reference inputs: the input as recorded; one: a bipolar
        derivation; every scalp electrode: the common average). For reading a recording's outputs one
        input at a time (training: ``train.datasets.edf``); ``ValueError`` for the kinds with means for the whole
        bed (``average_common``, ``average_hemispheres``), a rule of the bed, not a channel to train on."""
        if self.common:
            raise ValueError(f"montage: {self.applied}'s means for the whole bed have no terms: train on 'average'")
        if self.applied == "average":
            averaged = tuple(np.flatnonzero(self._averaged).tolist())
            return [(int(a), averaged) for a in self._plus]
        return [(int(a), (int(b),) if b >= 0 else ()) for a, b in zip(self._plus, self._minus, strict=True)]

    @property
    def matrix(self) -> np.ndarray:
        """``[n_out, n_in]``: ``y = matrix @ x`` when every input is usable."""
        return self.matrix_for(np.ones(self.n_in, dtype=bool))

    def matrix_for(self, usable: np.ndarray) -> np.ndarray:
        """``[n_out, n_in]`` for the usable inputs ``usable [n_in]`` (bool), for linear use (e.g. after
        resampling): ``matrix_for(usable) @ where(usable, x, 0)`` equals ``apply(x, usable)``. Unusable
        inputs have coefficient 0 (the average is over the usable scalp electrodes); the rows of
        outputs that are not usable (``usable_out``) are NaN."""
        usable = self._check_usable(usable)
        m = np.zeros((self.n_out, self.n_in))
        rows = np.arange(self._plus.size)
        m[rows, self._plus] = 1.0
        has_minus = self._minus >= 0
        m[rows[has_minus], self._minus[has_minus]] = -1.0
        if self.applied in AVERAGES:
            averaged = self._averaged & usable
            mean = 1.0 / max(int(np.count_nonzero(averaged)), 1)
            m[rows[:, None], averaged] -= mean
            for j, (_, members) in zip(self.common, self._means, strict=True):
                m[j, members & usable] = 1.0 / max(int(np.count_nonzero(members & usable)), 1)
        m[~self.usable_out(usable)] = np.nan
        return m

    def usable_out(self, usable: np.ndarray) -> np.ndarray:
        """``[n_out]`` bool from ``usable [n_in]``: every input an output uses is usable (and, for the
        average, at least two scalp electrodes are; for a mean, at least two of its electrodes)."""
        usable = self._check_usable(usable)
        ok = usable[self._plus] & np.where(self._minus >= 0, usable[self._minus], True)
        ok = np.append(ok, np.array([np.count_nonzero(members & usable) >= 2 for _, members in self._means], bool))
        if self.applied in AVERAGES and np.count_nonzero(self._averaged & usable) < 2:
            ok[:] = False
        return ok

    def reasons_out(self, reasons_in: Sequence[str | None]) -> list[str | None]:
        """Why each output is left out, from why each input is (``None``: usable; e.g. the pipeline's
        ``channel_quality`` reasons): ``"EEG F7-REF: railed"`` for a derivation using a flagged input."""
        if len(reasons_in) != self.n_in:
            raise ValueError(f"montage: expected {self.n_in} input reasons, got {len(reasons_in)}")
        ok = self.usable_out(np.array([r is None for r in reasons_in], dtype=bool))
        out: list[str | None] = []
        for j in range(self.n_out):
            terms = (self._plus[j], self._minus[j]) if j not in self.common else ()
            bad = [i for i in terms if i >= 0 and reasons_in[i] is not None]
            if ok[j]:
                out.append(None)
            elif bad:
                out.append("; ".join(f"{self.ch_names[i]}: {reasons_in[i]}" for i in bad))
            else:
                out.append(f"fewer than 2 usable electrodes for {'its mean' if j in self.common else 'the average'}")
        return out

    def apply(self, x: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """``x [n_in, n_samples]`` -> ``[n_out, n_samples]`` (float64). Inputs not ``usable [n_in]`` (or
        with a non-finite sample) are left out: the outputs using them are NaN."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] != self.n_in:
            raise ValueError(f"montage: x must have shape ({self.n_in}, n_samples), got {x.shape}")
        usable = self._check_usable(usable) & np.isfinite(x).all(axis=1)
        rows = np.append(self._plus, np.full(len(self.common), self._plus[0]))  # the means' rows: filled below
        y = x[rows]  # a copy; in place from here (a third 18 x 1200 temporary costs 10 times more)
        if self.applied == "bipolar":
            y -= x[self._minus]
        elif self.applied in AVERAGES:
            averaged = self._averaged & usable
            if averaged.any():
                y[: self._plus.size] -= x[averaged].mean(axis=0)
            for j, (_, members) in zip(self.common, self._means, strict=True):
                if (members & usable).any():
                    y[j] = x[members & usable].mean(axis=0)
        y[~self.usable_out(usable)] = np.nan
        return y

    def describe(self) -> str:
        """One line for the log and the status: what is applied, what is skipped or unused, and why."""
        if self.applied == "as_recorded":
            text = "as recorded" + (f" ({self.kind} asked: {self.reason})" if self.reason else "")
        elif self.applied == "bipolar":
            text = f"bipolar double banana: {self.n_out} of {len(DOUBLE_BANANA)} derivations"
        elif not self.common:
            text = f"common average of {self.n_out} scalp electrodes"
        elif self.applied == "average_common":
            text = f"common average of {self._plus.size} scalp electrodes and their mean ({COMMON}: the whole bed)"
        else:
            means = ", ".join(self.names[j] for j in self.common)
            text = f"common average of {self._plus.size} scalp electrodes and each hemisphere's mean ({means}: "
            text += "the whole bed)"
        if self.skipped:
            text += f"; skipped {', '.join(self.skipped)}"
        if self.unused:
            text += f"; inputs not used: {', '.join(self.unused)}"
        return text

    def _check_usable(self, usable: np.ndarray) -> np.ndarray:
        usable = np.asarray(usable)
        if usable.shape != (self.n_in,) or usable.dtype != bool:
            raise ValueError(f"montage: usable must be bool of shape ({self.n_in},), got {usable.dtype} {usable.shape}")
        return usable
