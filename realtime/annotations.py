"""Seizure annotations in the formats EEG archives ship them in -> ``[(onset_s, offset_s, label)]``.

Formats (chosen by the file, never guessed from its numbers):

- **Simple CSV/TSV** (this project's): header ``onset_s,offset_s[,label]``; label defaults to
  ``seizure``.
- **BIDS / SzCORE events TSV** (``*_events.tsv``, as written by the SzCORE conversion of public
  seizure datasets): columns ``onset`` and ``duration`` in seconds, the event in ``eventType``
  (SzCORE: ``sz``, ``sz_foc_...``, ``bckg``), else ``trial_type``, else ``value``.
- **CHB-MIT summary** (``chbNN-summary.txt``): blocks ``File Name: chb01_03.edf`` ...
  ``Seizure [k ]Start Time: 2996 seconds`` / ``Seizure [k ]End Time: 3036 seconds``; the rows of one
  recording are picked by its file name. A listed file with no seizure gives ``[]``.
- **TUH EEG Seizure Corpus (TUSZ)**: ``.csv_bi`` / ``.csv`` (v2: ``#`` comment lines such as ``# version =
  csv_v1.0.0``, then ``channel,start_time,stop_time,label,confidence``; ``.csv_bi`` has one ``TERM`` row per
  event, ``.csv`` one row per channel and event, which are merged into events over all channels: where any
  channel has a seizure) and ``.tse_bi`` / ``.tse`` (v1: ``version = tse_v1.0.0``, then ``start stop label
  confidence``). Seizure labels are TUSZ's types (``seiz``, ``fnsz``, ``gnsz``, ``cpsz``, ``absz``, ``tcsz``
  ...); ``bckg`` is background.

:func:`sidecar_annotations` finds them beside a recording: ``<stem>.csv``, ``<stem>.tsv``, the BIDS
events file of ``<name>_eeg.edf`` (``<name>_events.tsv``), the CHB-MIT summary of its folder
(``chb01/chb01-summary.txt`` for ``chb01/chb01_03.edf``, used only when it lists that file), and TUSZ's
``<stem>.csv_bi`` / ``<stem>.tse_bi`` / ``<stem>.tse``; of one recording's TUSZ files only one is read (the
first of ``.csv_bi``, ``.csv``, ``.tse_bi``, ``.tse``: they describe the same seizures).

:func:`is_seizure_label` is the one rule for which labels mean seizure. Errors
(:class:`AnnotationError`, a ``ValueError``) name the file and line and quote the bad value.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

Annotation = tuple[float, float, str]


class AnnotationError(ValueError):
    """An annotation file that cannot be read; the message names the file (and line)."""


# TUSZ's seizure types (its ``seiz`` is caught by "seiz"); ``bckg`` and the artefact classes are not seizures
TUSZ_SEIZURE_TYPES = frozenset({"fnsz", "gnsz", "spsz", "cpsz", "absz", "tnsz", "cnsz", "tcsz", "atsz", "mysz"})


def is_seizure_label(label: str) -> bool:
    """``seizure``, ``Seizure 1``, ``sz``, ``sz_foc_a`` (SzCORE / HED-SCORE), ``ictal``, TUSZ's ``seiz``,
    ``fnsz``, ``gnsz`` ... (:data:`TUSZ_SEIZURE_TYPES`): yes; ``bckg``, ``preictal``, ``interictal``,
    ``artifact``: no."""
    t = str(label).strip().lower()
    return "seiz" in t or t == "sz" or t.startswith("sz_") or t == "ictal" or t in TUSZ_SEIZURE_TYPES


def _number(text: str, what: str, where: str) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: {what} must be a number of seconds, got {text!r}") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise AnnotationError(f"{where}: {what} must be finite, got {text!r}")
    return v


def _rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        first = f.readline()
        f.seek(0)
        reader = csv.DictReader(f, delimiter="\t" if "\t" in first else ",")
        fields = [(c or "").strip() for c in (reader.fieldnames or [])]
        rows = [
            (n, {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None})
            for n, row in enumerate(reader, start=2)
        ]
    return fields, rows


def read_table(path: str | Path) -> list[Annotation]:
    """A simple (``onset_s``, ``offset_s``) or BIDS/SzCORE (``onset``, ``duration``) CSV/TSV."""
    path = Path(path)
    fields, rows = _rows(path)
    out: list[Annotation] = []
    if "onset_s" in fields and "offset_s" in fields:
        for n, row in rows:
            where = f"annotations {str(path)!r} line {n}"
            onset, offset = _number(row["onset_s"], "onset_s", where), _number(row["offset_s"], "offset_s", where)
            if offset < onset:
                raise AnnotationError(f"{where}: offset_s {offset!r} is before onset_s {onset!r}")
            out.append((onset, offset, row.get("label") or "seizure"))
        return out
    if "onset" in fields and "duration" in fields:
        key = next((k for k in ("eventType", "trial_type", "value") if k in fields), None)
        if key is None:
            raise AnnotationError(
                f"annotations {str(path)!r}: a BIDS events table needs an eventType, trial_type "
                f"or value column to say which events are seizures, got {fields!r}"
            )
        for n, row in rows:
            where = f"annotations {str(path)!r} line {n}"
            label = row.get(key, "")
            if not is_seizure_label(label):
                continue  # background and other events: not needed, and their duration may be 'n/a'
            onset, duration = _number(row["onset"], "onset", where), _number(row["duration"], "duration", where)
            if duration < 0:
                raise AnnotationError(f"{where}: duration must be >= 0, got {row['duration']!r}")
            out.append((onset, onset + duration, label))
        return out
    raise AnnotationError(
        f"annotations {str(path)!r}: header must have onset_s and offset_s (this project's "
        f"format) or onset and duration (BIDS / SzCORE events), got {fields!r}"
    )


def is_tusz_csv(path: str | Path) -> bool:
    """A TUSZ v2 ``.csv`` / ``.csv_bi``: its first line is a ``# version = csv_v...`` comment."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        return f.readline().replace(" ", "").lower().startswith("#version=csv_v")


def read_tusz(path: str | Path) -> list[Annotation]:
    """A TUSZ annotation file: ``.csv_bi`` / ``.csv`` (v2) or ``.tse_bi`` / ``.tse`` (v1): ``(start, stop,
    label)`` per event; a per-channel ``.csv``'s seizure rows merged over the channels (where any channel
    has one; the merged event's label is its rows' when they agree, else ``seiz (fnsz+gnsz)``), its other
    rows (``bckg``) left out."""
    path = Path(path)
    rows: list[tuple[int, str, str, str, str]] = []  # line, channel, start, stop, label
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        lines = list(enumerate(f, start=1))
    csv_format = path.suffix.lower() in (".csv", ".csv_bi")
    header_seen = False
    for n, line in lines:
        text = line.strip()
        if not text or text.startswith("#") or text.lower().startswith("version"):
            continue
        if csv_format:
            cells = [c.strip() for c in text.split(",")]
            if not header_seen:
                if cells[:4] != ["channel", "start_time", "stop_time", "label"]:
                    raise AnnotationError(
                        f"TUSZ annotations {str(path)!r} line {n}: expected the header "
                        f"'channel,start_time,stop_time,label,confidence', got {text!r}"
                    )
                header_seen = True
                continue
            if len(cells) < 4:
                raise AnnotationError(f"TUSZ annotations {str(path)!r} line {n}: expected 5 columns, got {text!r}")
            rows.append((n, cells[0], cells[1], cells[2], cells[3]))
        else:
            cells = text.split()
            if len(cells) < 3:
                raise AnnotationError(
                    f"TUSZ annotations {str(path)!r} line {n}: expected 'start stop label [confidence]', got {text!r}"
                )
            rows.append((n, "TERM", cells[0], cells[1], cells[2]))
    if csv_format and not header_seen:
        raise AnnotationError(f"TUSZ annotations {str(path)!r}: no 'channel,start_time,...' header")
    events: list[Annotation] = []
    for n, _channel, start_text, stop_text, label in rows:
        where = f"TUSZ annotations {str(path)!r} line {n}"
        start, stop = _number(start_text, "start_time", where), _number(stop_text, "stop_time", where)
        if stop < start:
            raise AnnotationError(f"{where}: stop_time {stop!r} is before start_time {start!r}")
        events.append((start, stop, label))
    per_channel = any(channel != "TERM" for _, channel, *_ in rows)
    if not per_channel:
        return events
    merged: list[list] = []  # [start, stop, labels]: seizures of any channel, overlapping ones joined
    for start, stop, label in sorted(e for e in events if is_seizure_label(e[2])):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
            merged[-1][2].add(label)
        else:
            merged.append([start, stop, {label}])
    return [(start, stop, _merged_label(labels)) for start, stop, labels in merged]


def _merged_label(labels: set[str]) -> str:
    """One seizure label for the rows of several channels: theirs when they agree, else ``seiz (a+b)``."""
    return next(iter(labels)) if len(labels) == 1 else f"seiz ({'+'.join(sorted(labels))})"


_TUSZ_SIDECARS = (".csv_bi", ".csv", ".tse_bi", ".tse")  # one recording's TUSZ files, the one read first


_FILE = re.compile(r"^\s*File Name:\s*(\S+)\s*$", re.I)
_TIME = re.compile(r"^\s*Seizure\s*(\d*)\s*(Start|End)\s*Time:\s*(\S+)\s*(?:seconds|secs?|s)?\s*$", re.I)


def _summary_files(path: Path) -> dict[str, list[tuple[int, str, str]]]:
    """``{file name: [(line, 'start' | 'end', time text)]}`` of a CHB-MIT summary."""
    files: dict[str, list[tuple[int, str, str]]] = {}
    current = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            m = _FILE.match(line)
            if m:
                current = files.setdefault(m.group(1), [])
                continue
            m = _TIME.match(line)
            if m and current is not None:
                current.append((n, m.group(2).lower(), m.group(3)))
    return files


def _summary_seizures(path: Path, name: str, times: list[tuple[int, str, str]]) -> list[Annotation]:
    out: list[Annotation] = []
    start = None
    for n, kind, text in times:
        where = f"CHB-MIT summary {str(path)!r} line {n}"
        t = _number(text, f"seizure {kind} time", where)
        if kind == "start" and start is None:
            start = t
        elif kind == "end" and start is not None:
            if t < start:
                raise AnnotationError(f"{where}: seizure end {t!r} s is before its start {start!r} s")
            out.append((start, t, "seizure"))
            start = None
        else:
            raise AnnotationError(
                f"{where}: seizure {kind} time {text!r} without a matching {'end' if kind == 'start' else 'start'}"
            )
    if start is not None:
        raise AnnotationError(f"CHB-MIT summary {str(path)!r}: {name!r} has a seizure start {start!r} s without an end")
    return out


def read_chbmit_summary(path: str | Path, recording: str | Path) -> list[Annotation]:
    """The seizures a CHB-MIT ``chbNN-summary.txt`` lists for ``recording`` (matched by file name).

    Raises :class:`AnnotationError` when the summary does not list the recording, or a start has no
    matching end.
    """
    path, name = Path(path), Path(recording).name
    files = _summary_files(path)
    if name not in files:
        raise AnnotationError(
            f"CHB-MIT summary {str(path)!r} does not list {name!r} "
            f"(it lists {len(files)} files, e.g. {sorted(files)[:3]!r})"
        )
    return _summary_seizures(path, name, files[name])


def read_annotations(path: str | Path, recording: str | Path | None = None) -> list[Annotation]:
    """Any supported annotation file; a CHB-MIT summary (``.txt``) needs the ``recording`` it is for."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"annotations {str(path)!r} do not exist")
    if path.suffix.lower() == ".txt":
        if recording is None:
            raise AnnotationError(f"annotations {str(path)!r}: a CHB-MIT summary needs the recording's file name")
        return read_chbmit_summary(path, recording)
    if path.suffix.lower() in (".csv_bi", ".tse", ".tse_bi") or (path.suffix.lower() == ".csv" and is_tusz_csv(path)):
        return read_tusz(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        return read_table(path)
    raise AnnotationError(
        f"annotations {str(path)!r}: unsupported extension {path.suffix!r} "
        f"(expected .csv, .tsv, a CHB-MIT summary .txt, or TUSZ's .csv_bi, .tse_bi, .tse)"
    )


def sidecar_paths(recording: str | Path) -> list[Path]:
    """Annotation files that belong to ``recording`` by name, in the order they are read."""
    rec = Path(recording)
    csv = rec.with_suffix(".csv")
    tusz_csv = csv.is_file() and is_tusz_csv(csv)  # TUSZ's per-channel file, not this project's CSV
    out = [csv, rec.with_suffix(".tsv")] if not tusz_csv else [rec.with_suffix(".tsv")]
    if rec.stem.endswith("_eeg"):
        out.append(rec.with_name(rec.stem[:-4] + "_events.tsv"))
    patient = re.match(r"^(chb\d+)", rec.stem, re.I)
    if patient:
        out.append(rec.with_name(f"{patient.group(1)}-summary.txt"))
    tusz = [p for p in (rec.with_suffix(x) for x in _TUSZ_SIDECARS) if p.is_file() and (p != csv or tusz_csv)]
    return [p for p in out if p.is_file()] + tusz[:1]  # one TUSZ file: they describe the same seizures


def sidecar_annotations(recording: str | Path) -> list[Annotation]:
    """The rows of every sidecar of ``recording`` (a CHB-MIT summary only if it lists the file)."""
    out: list[Annotation] = []
    name = Path(recording).name
    for p in sidecar_paths(recording):
        if p.suffix == ".txt":
            files = _summary_files(p)
            if name in files:
                out += _summary_seizures(p, name, files[name])
        else:
            out += read_annotations(p)
    return out
