"""The background scaler's levels kept across a restart of the daemon (docs/background.md "A restart of the daemon").

A restart (an upgrade, a crash and systemd's ``Restart=``, a reboot) empties every bed's scaler, so every bed would
open another unscaled start of ``signal.background_min_s``, as a new connection does, while a reconnect of the same
device keeps the levels as a prior (:meth:`realtime.pipeline.Pipeline.reset`). :class:`LevelStore` keeps them across
the restart: the daemon records each connected bed's levels (:meth:`LevelStore.record`) and writes them to a JSON
file beside its alert log (:meth:`LevelStore.save`, with :func:`realtime.alerts.replace_durably` as the sequence
mark is written: a crash leaves the old file or the new one) every :data:`SAVE_EVERY_S` and at shutdown; at start
it reads the file (:meth:`LevelStore.load`), and a bed whose stream connects from the same device (name, type,
source id) with the same channels and rate within ``keep_s`` (``signal.amplitude_span_s``) of the levels' time
takes them (:meth:`LevelStore.take`) as its scaler's prior.
A bed that lost its stream is not recorded again, so its levels age from the loss, as in the daemon.

A bed whose patient is given (``[[beds]] patient``, ``--patient``: docs/daemon.md "A bed's patient") records the
patient's digest (:func:`patient_digest`) with its levels: the same patient's levels are then taken up to
:data:`SAME_PATIENT_S` old (the offline rule for a patient's files, :mod:`realtime.offline`), also from another
device (an amplifier swapped during the restart); by a bed that names another patient or none, never, however
recent; an entry without a patient keeps the ``keep_s`` rule.

File (``<alert log without its suffix>.levels.json``)::

    {"format": "realtime-detect/levels/1",
     "beds": [{"name", "type", "source_id", "sfreq", "channels": [names scored], "wall_time": unix seconds,
               "levels_uv": [µV or null], "patient_sha256": hex or null (absent in files of before it)}]}

Times are the wall clock (``time.time()``): the only clock two processes share. Levels older than ``keep_s``, or
from the future (the clock was set back), are not used. A file that cannot be read is a warning (every bed then
waits for its own history), never a failed start.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from realtime.alerts import replace_durably

FORMAT = "realtime-detect/levels/1"
SAVE_EVERY_S = 10.0  # a crash loses at most this much of the levels' drift (they move over minutes)

# a bed's or a file's background levels are the same patient's this long after they were measured, when the patient
# is known (a day of one patient's monitoring: an MRI, a transport, a night's files; docs/background.md "The same
# patient's earlier file"): offline, a file naming the same patient; live, a bed whose patient is given
SAME_PATIENT_S = 24 * 3600.0

Device = tuple[str, str, str]  # (name, type, source_id)


def patient_digest(patient: str) -> str | None:
    """What the levels file keeps of a bed's patient (``""``: none given -> None): the SHA-256 of the identifier as
    given, in hex. Not a secret (a short record number can be found from it by trying them all): the file is as
    private as the configuration that names the patient; it only keeps the identifier out of the file's text."""
    text = patient.strip()
    return hashlib.sha256(f"realtime-detect patient:{text}".encode()).hexdigest() if text else None


def levels_path(alert_log_path: str | Path) -> Path:
    """Where the daemon keeps its levels: beside its alert log, ``alerts.jsonl`` -> ``alerts.levels.json``."""
    return Path(alert_log_path).with_suffix(".levels.json")


def _names(channels: Sequence[str], shown: int = 3) -> str:
    """``"3 channels: C3, C4, Cz"``, the first ``shown`` named."""
    more = ", ..." if len(channels) > shown else ""
    return f"{len(channels)} channels: {', '.join(channels[:shown])}{more}"


class LevelStore:
    def __init__(self, path: str | Path, keep_s: float):
        if not (math.isfinite(keep_s) and keep_s >= 0):
            raise ValueError(f"keep_s must be a finite number >= 0, got {keep_s!r}")
        self.path, self.keep_s = Path(path), float(keep_s)
        self._beds: dict[Device, dict[str, Any]] = {}
        self._written: str | None = None  # the text last written: an unchanged store is not written again
        # why the last take() found this device's (or its patient's) levels and did not give them ("": it gave them,
        # or none were kept): for the log, so that levels not used after an upgrade or a relabelling are explained
        self.refused = ""

    def load(self) -> str | None:
        """Read the file written before the restart. Returns None (no file: a first start, or nothing was scaled),
        or a warning saying why it cannot be used (then no level is kept)."""
        self._beds = {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            return f"cannot read the background levels {str(self.path)!r}: {exc}"
        beds = doc.get("beds") if isinstance(doc, dict) and doc.get("format") == FORMAT else None
        if not isinstance(beds, list):
            return f"{str(self.path)!r} is not a {FORMAT} file"
        for entry in beds:
            try:
                device = (str(entry["name"]), str(entry["type"]), str(entry["source_id"]))
                levels = [math.nan if v is None else float(v) for v in entry["levels_uv"]]
                if len(levels) != len(entry["channels"]):
                    raise ValueError(f"{len(levels)} levels for {len(entry['channels'])} channels")
                if not all(math.isfinite(float(entry[k])) for k in ("sfreq", "wall_time")):  # JSON's NaN, Infinity
                    raise ValueError(f"sfreq {entry['sfreq']!r} and wall_time {entry['wall_time']!r} must be finite")
                self._beds[device] = {
                    "sfreq": float(entry["sfreq"]),
                    "channels": [str(c) for c in entry["channels"]],
                    "wall_time": float(entry["wall_time"]),
                    "levels_uv": levels,
                    "patient_sha256": None if entry.get("patient_sha256") is None else str(entry["patient_sha256"]),
                }
            except (KeyError, TypeError, ValueError) as exc:
                self._beds = {}
                return f"{str(self.path)!r}: a bed's entry cannot be read ({type(exc).__name__}: {exc}): {entry!r}"
        return None

    def record(
        self,
        device: Device,
        sfreq: float,
        channels: Sequence[str],
        levels_uv: np.ndarray,
        wall_time: float,
        patient: str = "",
    ) -> None:
        """A connected bed's levels now (``[len(channels)]``, NaN: none) and its ``patient`` (``""``: not given):
        kept for the next :meth:`save`."""
        levels = [float(v) for v in np.asarray(levels_uv, dtype=np.float64)]
        if len(levels) != len(channels):
            raise ValueError(f"got {len(levels)} levels for {len(channels)} channels")
        if not any(math.isfinite(v) for v in levels):
            return  # nothing measured yet: an older entry of this device (if any) stays as it is
        self._beds[device] = {
            "sfreq": float(sfreq),
            "channels": list(channels),
            "wall_time": float(wall_time),
            "levels_uv": levels,
            "patient_sha256": patient_digest(patient),
        }

    def forget(self, device: Device) -> None:
        """``device``'s bed has another patient now: its levels are not kept (written at the next :meth:`save`)."""
        self._beds.pop(device, None)

    def forget_matching(self, matches: Callable[[str, str, str], bool]) -> None:
        """:meth:`forget` every device ``matches(name, type, source_id)`` takes: a bed whose patient changed before
        its stream connected, known only by its criteria (a name, a type)."""
        for device in [d for d in self._beds if matches(*d)]:
            self._beds.pop(device)

    def _max_age_s(self, entry: dict[str, Any], patient: str | None = None) -> float:
        """How old ``entry``'s levels may be for a bed of ``patient`` (None: kept for whichever bed comes): ``keep_s``
        for an entry without a patient; for a patient's, :data:`SAME_PATIENT_S` for that patient and -1 (never) for
        a bed that names another patient or none (its patient may have been discharged)."""
        recorded = entry.get("patient_sha256")
        if recorded is None:
            return self.keep_s
        return SAME_PATIENT_S if patient is None or patient_digest(patient) == recorded else -1.0

    def take(
        self, device: Device, sfreq: float, channels: Sequence[str], wall_time: float, patient: str = ""
    ) -> tuple[np.ndarray, float] | None:
        """``(levels_uv [len(channels)], age_s)`` for a bed of ``patient`` (``""``: not given) that connected from
        ``device`` (or, with a patient given, from another device: the one entry recorded for that patient) with
        ``channels`` at ``sfreq``, when the levels are at most ``keep_s`` old, or at most :data:`SAME_PATIENT_S` when
        recorded for the same patient; never when recorded for a patient and the bed names another or none; else
        None, and :attr:`refused` says why when levels were found. Taken once: removed from the store."""
        self.refused = ""
        entry = self._beds.pop(device, None)
        digest = patient_digest(patient)
        if entry is None and digest is not None:  # the patient's amplifier swapped during the restart
            theirs = [d for d, e in self._beds.items() if e["patient_sha256"] == digest]
            entry = self._beds.pop(theirs[0]) if len(theirs) == 1 else None
        if entry is None:
            return None
        age_s = wall_time - entry["wall_time"]
        if entry["sfreq"] != float(sfreq):
            self.refused = f"they were measured at {entry['sfreq']:g} Hz, the stream is at {float(sfreq):g} Hz"
        elif entry["channels"] != list(channels):
            self.refused = (
                f"they were measured on other channels ({_names(entry['channels'])}; now {_names(channels)}): "
                "another montage or channel selection"
            )
        elif age_s < 0.0:
            self.refused = f"they are dated {-age_s:.0f} s in the future: the clock was set back"
        elif age_s > (most := self._max_age_s(entry, patient)):
            if most >= 0:
                self.refused = f"they are {age_s:.0f} s old, more than the {most:.0f} s they are kept"
            else:
                whom = "another patient" if digest else "a patient; the bed names none"
                self.refused = f"they were recorded for {whom}"
        if self.refused:
            return None
        return np.array(entry["levels_uv"], dtype=np.float64), age_s

    def save(self, wall_time: float) -> None:
        """Write the levels at most ``keep_s`` old, or :data:`SAME_PATIENT_S` for a patient's (atomically), unless
        the file holds them already; ``OSError`` when it cannot be written."""
        self._beds = {d: e for d, e in self._beds.items() if 0.0 <= wall_time - e["wall_time"] <= self._max_age_s(e)}
        beds = [
            {
                "name": name,
                "type": type_,
                "source_id": source_id,
                "sfreq": e["sfreq"],
                "channels": e["channels"],
                "wall_time": e["wall_time"],
                "levels_uv": [round(v, 3) if math.isfinite(v) else None for v in e["levels_uv"]],
                "patient_sha256": e["patient_sha256"],
            }
            for (name, type_, source_id), e in sorted(self._beds.items())
        ]
        text = json.dumps({"format": FORMAT, "beds": beds}, allow_nan=False)
        if text == self._written:
            return
        replace_durably(self.path, text.encode("utf-8"))
        self._written = text
