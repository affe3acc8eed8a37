"""EDF+D (discontinuous) recordings: the data records' start times (the time-keeping TALs) become
``RecordingInfo.segments``, and offline scoring feeds the stretches apart: times include the gaps, no
window spans a gap, the pipeline is reset at each one (as the daemon after a reconnect).

The files are real: an EDF+C written by edfio, made EDF+D by patching its bytes (the header's reserved
field and the time-keeping TAL at the start of each data record's "EDF Annotations" signal)."""

from __future__ import annotations

import io
import itertools
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import edfio
import numpy as np
import pytest
from scipy.signal import resample_poly
from toy_export import SAMPLE_RATE_HZ, WINDOW_SAMPLES

import realtime.offline as offline
from realtime.config import build_config
from realtime.model import load_detector
from realtime.pipeline import Pipeline, WindowResult
from realtime.recordings import Recording, RecordingError, RecordingInfo, open_recording, read_recording

RATE = 256
LABELS = ("EEG C3-REF", "EEG C4-REF", "EEG F3-REF", "EEG F4-REF")


def write_edf_c(
    path: Path,
    seconds: int,
    *,
    step_at: float | None = None,
    burst: tuple[float, float] | None = None,
    odd_rate: bool = False,
    bdf: bool = False,
) -> Path:
    """An EDF+C (or BDF+C) of 1 s data records: four EEG signals at 256 Hz (noise, 10 µV), an annotation
    (so the file has a time-keeping signal); ``step_at``: +300 µV on every channel from that second on;
    ``burst``: 20x the amplitude in ``[start, stop)`` s; ``odd_rate``: an EEG signal at 512 Hz too."""
    rng = np.random.default_rng(11)
    t = np.arange(RATE * seconds) / RATE
    amp = np.where((t >= burst[0]) & (t < burst[1]), 20.0, 1.0) if burst else np.ones_like(t)
    signal_class = edfio.BdfSignal if bdf else edfio.EdfSignal
    sigs = []
    for label in LABELS:
        x = rng.normal(size=t.size) * 10.0 * amp
        if step_at is not None:
            x[t >= step_at] += 300.0
        sigs.append(signal_class(x, RATE, label=label, physical_dimension="uV"))
    if odd_rate:
        x = rng.normal(size=2 * RATE * seconds) * 10.0
        sigs.append(signal_class(x, 2 * RATE, label="EEG Cz-REF", physical_dimension="uV"))
    record = (edfio.Bdf if bdf else edfio.Edf)(sigs, annotations=[edfio.EdfAnnotation(0.5, None, "start")])
    record.write(path)
    return path


def make_discontinuous(src: Path, dst: Path, onset: Callable[[int], float | None]) -> Path:
    """``src`` (an EDF+C/BDF+C of 1 s records) as an EDF+D/BDF+D: the reserved field says so, and data record
    ``r``'s time-keeping TAL says ``onset(r)`` (``None``: left as written; ``nan``: the TAL wiped)."""
    b = bytearray(src.read_bytes())
    assert b[192:197] in (b"EDF+C", b"BDF+C")
    b[192:236] = (b[192:196] + b"D").ljust(44)
    width = 3 if b[0] == 0xFF else 2
    n_signals, header_bytes, n_records = int(b[252:256]), int(b[184:192]), int(b[236:244])
    assert header_bytes == 256 * (1 + n_signals)
    labels = [b[256 + 16 * i : 256 + 16 * (i + 1)].decode().strip() for i in range(n_signals)]
    at = 256 + 216 * n_signals
    per_record = [int(b[at + 8 * i : at + 8 * (i + 1)]) for i in range(n_signals)]
    k = labels.index("BDF Annotations" if width == 3 else "EDF Annotations")
    record_bytes, first, size = sum(per_record) * width, sum(per_record[:k]) * width, per_record[k] * width
    assert len(b) == header_bytes + n_records * record_bytes
    for r in range(n_records):
        new = onset(r)
        if new is None:
            continue
        a = header_bytes + r * record_bytes + first
        region = bytes(b[a : a + size])
        end = region.index(b"\x00") + 1  # the time-keeping TAL: "+<onset>\x14\x14\x00"
        assert region.startswith(f"+{r}\x14\x14\x00".encode()), region
        rest = region[end:].rstrip(b"\x00")  # the record's other TALs (the annotation, in record 0)
        tal = b"" if np.isnan(new) else f"+{new:g}".encode() + b"\x14\x14\x00"
        tal += rest + b"\x00" if rest else b""
        assert len(tal) <= size
        b[a : a + size] = tal.ljust(size, b"\x00")
    dst.write_bytes(bytes(b))
    return dst


def shifted(at: int, gap: float, at2: int | None = None, gap2: float = 0.0) -> Callable[[int], float | None]:
    """Records from ``at`` on start ``gap`` s later (and from ``at2`` on ``gap2`` s more)."""
    return lambda r: None if r < at else r + gap + (gap2 if at2 is not None and r >= at2 else 0.0)


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize("kind", ["edf", "bdf"])
def test_gaps_become_segments_and_a_warning(tmp_path, caplog, kind):
    src = write_edf_c(tmp_path / f"c.{kind}", 20, bdf=kind == "bdf")
    path = make_discontinuous(src, tmp_path / f"d.{kind}", shifted(8, 12.5))
    if kind == "edf":
        assert edfio.read_edf(path).is_continuous is False  # the patch is what edfio reads as a gap
    with caplog.at_level(logging.WARNING, logger="realtime.recordings"):
        rec = open_recording(path)
    prefix = "BDF+D" if kind == "bdf" else "EDF+D"
    warning = (
        f"{prefix}: 1 gap, 12.5 s in all, the longest 12.5 s at 8 s; scored stretch by stretch, times include the gaps"
    )
    assert rec.segments == ((0, 0.0), (8 * RATE, 20.5))
    assert rec.gaps == [(8.0, 20.5)]
    assert rec.last_sample_s == pytest.approx(20.5 + 12 - 1 / RATE)  # 20 s of signal, 12 after the gap
    assert warning in rec.warnings
    assert [r.getMessage() for r in caplog.records].count(f"{path}: {warning}") == 1  # logged once, at open
    # the samples are the file's, concatenated, and load() keeps the seams
    whole, plain = read_recording(path), read_recording(src)
    assert whole.segments == rec.segments and rec.metadata()["segments"] == rec.segments
    assert rec.load().segments == rec.segments
    assert np.array_equal(whole.data, plain.data) and rec.n_samples == 20 * RATE
    assert plain.segments == ((0, 0.0),) and plain.gaps == [] and not any("+D" in w for w in plain.warnings)
    assert plain.last_sample_s == pytest.approx(20 - 1 / RATE)


def test_two_gaps(tmp_path):
    src = write_edf_c(tmp_path / "c.edf", 20)
    rec = open_recording(make_discontinuous(src, tmp_path / "d.edf", shifted(5, 3.0, 12, 7.25)))
    assert rec.segments == ((0, 0.0), (5 * RATE, 8.0), (12 * RATE, 22.25))
    assert rec.gaps == [(5.0, 8.0), (15.0, 22.25)]
    assert (
        "EDF+D: 2 gaps, 10.25 s in all, the longest 7.25 s at 15 s; scored stretch by stretch, times include the gaps"
        in rec.warnings
    )


def test_a_signal_left_out_for_an_unreadable_field_keeps_the_gaps(tmp_path):
    """A signal whose calibration field cannot be read is left out by the header reader; the file's kind (EDF+D)
    read from the same header, and so its gaps, stay as written."""
    src = write_edf_c(tmp_path / "c.edf", 20)
    path = make_discontinuous(src, tmp_path / "d.edf", shifted(8, 12.5))
    b = bytearray(path.read_bytes())
    n = int(b[252:256])
    b[256 + 112 * n : 256 + 112 * n + 8] = b"1,5".ljust(8)  # the first signal's physical maximum
    path.write_bytes(bytes(b))
    rec = open_recording(path)
    assert rec.left_out == {
        LABELS[0]: "its physical maximum '1,5' is not a finite number: its values cannot be calibrated"
    }
    assert rec.ch_names == list(LABELS[1:])
    assert rec.segments == ((0, 0.0), (8 * RATE, 20.5)) and rec.gaps == [(8.0, 20.5)]


def test_contiguous_edf_d_is_one_segment(tmp_path, caplog):
    src = write_edf_c(tmp_path / "c.edf", 10)
    path = make_discontinuous(src, tmp_path / "d.edf", lambda r: None)  # EDF+D, records back to back
    assert edfio.read_edf(path).is_continuous is True
    with caplog.at_level(logging.WARNING, logger="realtime.recordings"):
        rec = open_recording(path)
    assert rec.segments == ((0, 0.0),) and rec.gaps == []
    assert rec.warnings == [] and caplog.records == []
    # the first record starts 3 s after the header's start time: times count from the first record
    late = open_recording(make_discontinuous(src, tmp_path / "late.edf", lambda r: r + 3.0))
    assert late.segments == ((0, 0.0),) and late.warnings == []


def test_records_that_go_back_or_lack_a_time_are_errors(tmp_path):
    src = write_edf_c(tmp_path / "c.edf", 10)
    back = make_discontinuous(src, tmp_path / "back.edf", lambda r: None if r < 6 else r - 1.5)
    with pytest.raises(RecordingError) as err:
        open_recording(back)
    msg = str(err.value)
    assert str(back) in msg and "data record 6" in msg and "starts at 4.5 s" in msg and "ends at 6 s" in msg
    wiped = make_discontinuous(src, tmp_path / "wiped.edf", lambda r: float("nan") if r == 3 else None)
    with pytest.raises(RecordingError, match=r"data record 3 .*does not start with a time-keeping annotation"):
        open_recording(wiped)


def test_a_resampled_signal_is_resampled_stretch_by_stretch(tmp_path):
    src = write_edf_c(tmp_path / "c.edf", 12, odd_rate=True)
    rec = read_recording(make_discontinuous(src, tmp_path / "d.edf", shifted(5, 2.0)))
    raw = np.asarray(edfio.read_edf(src).signals[4].data, dtype=np.float64)
    row = rec.data[rec.ch_names.index("EEG Cz-REF")]
    expected = np.concatenate([resample_poly(raw[: 5 * 512], 1, 2), resample_poly(raw[5 * 512 :], 1, 2)])
    assert np.array_equal(row, expected)
    assert not np.allclose(row, resample_poly(raw, 1, 2))  # not the whole signal resampled across the seam


def test_segments_are_checked_and_default_to_one():
    data = np.zeros((1, 100))
    assert Recording(data=data, sfreq=10.0, ch_names=["C3"]).segments == ((0, 0.0),)
    rec = Recording(data=data, sfreq=10.0, ch_names=["C3"], segments=[(0, 0), (np.int64(50), 7)])  # type: ignore[arg-type]
    assert rec.segments == ((0, 0.0), (50, 7.0)) and rec.gaps == [(5.0, 7.0)]
    for bad in ((), ((1, 0.0),), ((0, 0.0), (50, 4.0)), ((0, 0.0), (50, 6.0), (40, 9.0)), ((0, float("nan")),)):
        with pytest.raises(ValueError, match="segments must"):
            Recording(data=data, sfreq=10.0, ch_names=["C3"], segments=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- feeding


class _Sink:
    """Records what ``feed`` pushes: ``(first_sample, timestamps)`` per chunk, and where it resets (and whether it
    keeps the scaler's levels: a pause of at most ``background_keep_s``)."""

    background_keep_s = 2.0

    def __init__(self) -> None:
        self.chunks: list[tuple[int, np.ndarray]] = []
        self.resets: list[tuple[int, bool]] = []
        self.samples = 0

    def push(self, chunk: np.ndarray, times: np.ndarray) -> None:
        assert chunk.shape[0] == times.size > 0
        self.chunks.append((self.samples, times.copy()))
        self.samples += times.size

    def step(self) -> list:
        return []

    def reset(self, keep_background: bool = False) -> None:
        self.resets.append((self.samples, keep_background))


@pytest.mark.parametrize("block_s", [60.0, 0.35])
def test_feed_splits_at_the_seams_and_resets(monkeypatch, block_s):
    monkeypatch.setattr(offline, "FEED_BLOCK_S", block_s)
    rate = 10.0
    segments = ((0, 0.0), (23, 2.8), (41, 9.0))
    rec = Recording(data=np.arange(60.0)[None, :], sfreq=rate, ch_names=["C3"], segments=segments)
    sink = _Sink()
    assert list(offline.feed(sink, rec, 0.4)) == []  # type: ignore[arg-type]
    # paused 0.5 s (2.3 -> 2.8 s: levels kept) and 4.4 s (4.6 -> 9.0 s: longer than background_keep_s, forgotten)
    assert sink.samples == 60 and sink.resets == [(23, True), (41, False)]
    bounds = [0, 23, 41, 60]
    stretches = zip(itertools.pairwise(bounds), segments, strict=True)
    expected = np.concatenate([start + np.arange(b - a) / rate for (a, b), (_, start) in stretches])
    assert np.array_equal(np.concatenate([t for _, t in sink.chunks]), expected)
    for first, times in sink.chunks:  # no chunk spans a seam, each starts a hop after its stretch's start
        k = max(i for i, b in enumerate(bounds[:-1]) if b <= first)
        assert first + times.size <= bounds[k + 1]
        assert (first - bounds[k]) % 4 == 0


# --------------------------------------------------------------------------- offline scoring


@pytest.fixture(scope="module")
def detector(toy_export):
    return load_detector(toy_export, backend="litert")


def old_feed(pipe: Pipeline, rec: RecordingInfo, hop_s: float) -> Iterator[WindowResult]:
    """realtime.offline.feed before EDF+D: every recording one stretch, timestamps ``i / sfreq``."""
    hop = max(1, round(hop_s * rec.sfreq))
    block = hop * max(1, round(offline.FEED_BLOCK_S * rec.sfreq) // hop)
    n = rec.n_samples
    for first in range(0, n, block):
        last = min(n, first + block)
        data = rec.read(first, last)
        times = np.arange(first, last, dtype=np.float64) / rec.sfreq
        for start in range(0, last - first, hop):
            stop = min(last - first, start + hop)
            pipe.push(data[:, start:stop].T, times[start:stop])
            yield from pipe.step()


def score(path: Path, detector) -> list[dict]:
    out = io.StringIO()
    assert offline.run_offline([path], build_config({}), model=detector, windows=True, out=out) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    for line in lines:  # the run's id and the clock differ from run to run
        line.pop("wall_time", None)
        line.pop("run", None)
        line.pop("file", None)
        if "stream" in line:
            line["stream"].pop("name")
            line["stream"].pop("source_id")
    return lines


def windows_of(lines: list[dict]) -> list[dict]:
    return [x for x in lines if x["type"] == "window"]


def events_of(lines: list[dict]) -> list[dict]:
    return [x for x in lines if x["type"].startswith("seizure.")]


GAP_AT, GAP_S, SECONDS = 20, 10.0, 40  # the first stretch is 0-20 s, the second 30-50 s


def test_a_step_at_the_seam_is_not_a_seizure(tmp_path, detector):
    # +300 µV from 20 s on: read as one stretch, the windows across 20 s see a step (a false seizure)
    src = write_edf_c(tmp_path / "c.edf", SECONDS, step_at=GAP_AT)
    path = make_discontinuous(src, tmp_path / "d.edf", shifted(GAP_AT, GAP_S))
    lines, plain = score(path, detector), score(src, detector)
    assert [x["type"] for x in events_of(plain)] == ["seizure.onset", "seizure.offset"]  # the seam's false alarm
    assert events_of(lines) == []
    channels = lines[0]
    assert channels["type"] == "channels" and channels["gaps"] == [[20.0, 30.0]]
    assert plain[0]["gaps"] == []

    windows = windows_of(lines)
    stretches = [(0.0, float(GAP_AT)), (GAP_AT + GAP_S, SECONDS + GAP_S)]
    window_s = WINDOW_SAMPLES / SAMPLE_RATE_HZ  # the model's window: 4.096 s
    for w in windows:  # every window lies within one stretch (times include the gap)
        assert any(a <= w["window_start"] < w["window_end"] <= b for a, b in stretches), w
    after = [w for w in windows if w["window_end"] > GAP_AT + GAP_S]
    assert after and after[0]["window_end"] >= GAP_AT + GAP_S + window_s
    # the stretch after the gap: the windows of the plain file that lie after the seam, shifted by the gap
    plain_after = [w for w in windows_of(plain) if w["window_start"] >= GAP_AT]
    assert len(after) == len(plain_after)
    for got, ref in zip(after, plain_after, strict=True):
        assert got["window_start"] == pytest.approx(ref["window_start"] + GAP_S, abs=1e-9)
        assert got["window_end"] == pytest.approx(ref["window_end"] + GAP_S, abs=1e-9)
        assert got["channel_probabilities"] == ref["channel_probabilities"]
    # before the gap: the same lines as the plain file's
    before = [w for w in windows if w["window_end"] <= GAP_AT]
    assert before == [w for w in windows_of(plain) if w["window_end"] <= GAP_AT]
    assert len(before) + len(after) == len(windows)


def test_an_open_seizure_stays_open_across_the_gap(tmp_path, detector):
    # high amplitude from 10 s to the pause at 20 s: the event opens before the gap, ends after it
    src = write_edf_c(tmp_path / "c.edf", SECONDS, burst=(10.0, float(GAP_AT)))
    path = make_discontinuous(src, tmp_path / "d.edf", shifted(GAP_AT, GAP_S))
    lines, plain = score(path, detector), score(src, detector)
    onset, offset = events_of(lines)
    assert onset["type"] == "seizure.onset" and offset["type"] == "seizure.offset"
    assert onset["event_id"] == offset["event_id"]
    assert onset["time"] < GAP_AT and offset["time"] > GAP_AT + GAP_S
    assert offset["window_start"] >= GAP_AT + GAP_S  # ended by a window after the gap, its span counted
    assert onset == events_of(plain)[0]  # the onset is the plain file's
    before = [w for w in windows_of(lines) if w["window_end"] <= GAP_AT]
    assert before and before == [w for w in windows_of(plain) if w["window_end"] <= GAP_AT]


def test_one_segment_is_scored_as_before(tmp_path, monkeypatch, detector):
    src = write_edf_c(tmp_path / "c.edf", SECONDS, burst=(10.0, float(GAP_AT)))
    got = score(src, detector)
    monkeypatch.setattr(offline, "feed", old_feed)
    assert got == score(src, detector)
    assert len(windows_of(got)) > 30 and [x["type"] for x in events_of(got)] == ["seizure.onset", "seizure.offset"]


def test_an_evaluated_edf_d_spans_its_gaps_and_says_so(tmp_path, caplog):
    from evaluation.recordings import user_recordings

    src = write_edf_c(tmp_path / "c.edf", 20)
    path = make_discontinuous(src, tmp_path / "d.edf", shifted(5, 3.0, 12, 7.25))
    with caplog.at_level(logging.WARNING, logger="evaluation.recordings"):
        (rec,) = user_recordings([str(path)], [])
    assert rec.duration_s == pytest.approx(30.25)  # 20 s of signal and 10.25 s of gaps: the last sample's time
    assert f"{path}: 2 gap(s), 10.2 s in all" in caplog.text
    (plain,) = user_recordings([str(src)], [])
    assert plain.duration_s == pytest.approx(20.0)
