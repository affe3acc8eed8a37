"""EDF/BDF read block by block (open_recording, LazyRecording) equal the whole reader, and offline
scoring holds one block of signal, not the recording."""

from __future__ import annotations

import io
import itertools
import json
import tracemalloc
from pathlib import Path

import edfio
import numpy as np
import pytest
from scipy.signal import resample_poly

import realtime.offline as offline
from realtime.config import build_config
from realtime.model import load_detector
from realtime.preprocess import resample_fraction, unit_scale_to_uv
from realtime.recordings import LazyRecording, Recording, open_recording, read_recording

RNG_SEED = 7


def noise(rng: np.random.Generator, rate: float, seconds: float, amp: float) -> np.ndarray:
    return rng.normal(size=round(rate * seconds)) * amp


def write_mixed_edf(path: Path, seconds: float = 37.0, *, bursts: bool = False) -> Path:
    """EEG at 256 Hz (µV, mV, no dimension), an ECG, an EEG signal at 512 Hz (resampled by the
    reader), a non-voltage SpO2 at 1 Hz (left out), EDF+ annotations; ``bursts``: a high-amplitude
    stretch from 30 to 50 s on the EEG (the toy model alarms on it)."""
    rng = np.random.default_rng(RNG_SEED)
    t = np.arange(round(256 * seconds)) / 256
    amp = np.where((t > 30) & (t < 50), 20.0, 1.0) if bursts else np.ones_like(t)
    t512 = np.arange(round(512 * seconds)) / 512
    amp512 = np.where((t512 > 30) & (t512 < 50), 20.0, 1.0) if bursts else np.ones_like(t512)
    sigs = [
        edfio.EdfSignal(noise(rng, 256, seconds, 15) * amp, 256, label=f"EEG {n}-REF", physical_dimension="uV")
        for n in ("C3", "C4", "F3")
    ]
    sigs += [
        edfio.EdfSignal(noise(rng, 256, seconds, 0.015) * amp, 256, label="EEG F4-REF", physical_dimension="mV"),
        edfio.EdfSignal(noise(rng, 256, seconds, 400), 256, label="ECG", physical_dimension="uV"),
        edfio.EdfSignal(noise(rng, 1, seconds, 2) + 95, 1, label="SpO2", physical_dimension="%"),
        edfio.EdfSignal(noise(rng, 512, seconds, 15) * amp512, 512, label="EEG Cz-REF", physical_dimension="uV"),
        edfio.EdfSignal(noise(rng, 256, seconds, 15) * amp, 256, label="EEG Pz-REF", physical_dimension=""),
    ]
    annotations = [edfio.EdfAnnotation(2.5, 3.0, "seizure"), edfio.EdfAnnotation(9.0, None, "note")]
    edfio.Edf(sigs, annotations=annotations).write(path)
    return path


def write_bdf(path: Path) -> Path:
    rng = np.random.default_rng(RNG_SEED)
    sigs = [edfio.BdfSignal(noise(rng, 512, 9, 1e-4), 512, label=f"O{i}", physical_dimension="V") for i in (1, 2)]
    sigs.append(edfio.BdfSignal(noise(rng, 1024, 9, 1e-4), 1024, label="EEG Oz", physical_dimension="V"))
    edfio.Bdf(sigs).write(path)
    return path


METADATA = ("sfreq", "ch_names", "channels", "left_out", "warnings", "annotations", "path", "n_samples")


@pytest.mark.parametrize("kind", ["edf", "bdf"])
def test_blocks_concatenate_to_the_whole_reader(tmp_path, kind):
    path = write_mixed_edf(tmp_path / "mixed.edf") if kind == "edf" else write_bdf(tmp_path / "b.bdf")
    lazy = open_recording(path)
    whole = read_recording(path)
    assert isinstance(lazy, LazyRecording) and isinstance(whole, Recording)
    for name in METADATA:
        assert getattr(lazy, name) == getattr(whole, name), name
    assert whole.data.dtype == np.float64 and whole.data.shape == (len(whole.ch_names), whole.n_samples)
    n = lazy.n_samples
    # arbitrary block boundaries, empty blocks included, and the edges of the file's data records
    rng = np.random.default_rng(0)
    cuts = np.sort(np.r_[0, rng.integers(0, n + 1, size=25), 256, 257, 511, 512, n // 2, n // 2, n])
    blocks = [lazy.read(int(a), int(b)) for a, b in itertools.pairwise(cuts)]
    assert all(b.dtype == np.float64 and b.shape[0] == len(lazy.ch_names) for b in blocks)
    assert np.array_equal(np.concatenate(blocks, axis=1), whole.data)
    assert lazy.read(n, n).shape == (len(lazy.ch_names), 0)

    # ... and equal what reading each signal whole gives (the reader before it read by blocks)
    edf = edfio.read_bdf(path) if kind == "bdf" else edfio.read_edf(path)
    by_label = {s.label: s for s in edf.signals}
    for row, info in zip(whole.data, whole.channels, strict=True):
        x = np.asarray(by_label[info.label].data, dtype=np.float64) * (
            unit_scale_to_uv(info.unit) if info.unit else 1.0
        )
        if info.rate_hz and info.rate_hz != whole.sfreq:
            x = resample_poly(x, *resample_fraction(info.rate_hz, whole.sfreq))
        assert np.array_equal(row, x[:n]), info.label


def test_edf_metadata_channels_and_warnings(tmp_path):
    rec = open_recording(write_mixed_edf(tmp_path / "mixed.edf"))
    assert rec.sfreq == 256.0 and rec.n_samples == 37 * 256 and rec.duration_s == 37.0
    assert rec.ch_names == ["EEG C3-REF", "EEG C4-REF", "EEG F3-REF", "EEG F4-REF", "ECG", "EEG Cz-REF", "EEG Pz-REF"]
    assert list(rec.left_out) == ["SpO2"]
    assert any("resampled to 256 Hz: 'EEG Cz-REF' (512 Hz)" in w for w in rec.warnings)
    assert rec.annotations == [(2.5, 5.5, "seizure"), (9.0, 9.0, "note")]  # (onset, onset + duration)


def test_read_refuses_out_of_range(tmp_path):
    path = write_mixed_edf(tmp_path / "mixed.edf", seconds=4)
    for rec in (open_recording(path), read_recording(path)):
        n = rec.n_samples
        for start, stop in ((-1, 10), (10, 5), (0, n + 1), (n + 1, n + 2)):
            with pytest.raises(ValueError, match=rf"cannot read samples {start} to {stop}: it has {n} \(0 <= start"):
                rec.read(start, stop)
        with pytest.raises(TypeError):
            rec.read(0.5, 10)  # type: ignore[arg-type]
        for bad in (7, -1):
            with pytest.raises(ValueError, match=rf"no channel row {bad} \(it has 7\)"):
                rec.read(0, 10, [0, bad])


def test_read_selected_rows_in_their_order(tmp_path):
    path = write_mixed_edf(tmp_path / "mixed.edf", seconds=4)
    whole = read_recording(path).data
    for rec in (open_recording(path), read_recording(path)):
        assert np.array_equal(rec.read(100, 900, [5, 0, 5]), whole[[5, 0, 5], 100:900])
        assert rec.read(0, 10, []).shape == (0, 10)


# --------------------------------------------------------------------------- offline scoring


def old_feed(pipe, rec, hop_s):
    """realtime.offline.feed before it read by blocks: the whole array, one hop at a time."""
    data = rec.load().data
    hop = max(1, round(hop_s * rec.sfreq))
    n = data.shape[1]
    times = np.arange(n, dtype=np.float64) / rec.sfreq
    for start in range(0, n, hop):
        stop = min(n, start + hop)
        pipe.push(data[:, start:stop].T, times[start:stop])
        yield from pipe.step()


def comparable(buf: io.StringIO) -> list[dict]:
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    for line in lines:  # the run's id and the clock differ from run to run
        line.pop("wall_time", None)
        line.pop("run", None)
    return lines


@pytest.fixture(scope="module")
def detector(toy_export):
    return load_detector(toy_export, backend="litert")


WITH_ECG = ["EEG C3-REF", "EEG F4-REF", "ECG", "EEG Cz-REF", "EEG Pz-REF"]


@pytest.mark.parametrize(("block_s", "hop_s", "channels"), [(60.0, 1.0, []), (7.3, 0.5, WITH_ECG), (0.1, 1.0, [])])
def test_run_offline_lines_equal_the_whole_array_fed_hop_by_hop(
    tmp_path, monkeypatch, detector, block_s, hop_s, channels
):
    # a 60 s block: 60 s + 37 s; 7.3 s: 7 s blocks of 0.5 s hops; 0.1 s: one hop per block
    path = write_mixed_edf(tmp_path / "mixed.edf", seconds=97.0, bursts=True)
    cfg = build_config({"window": {"hop_s": hop_s}, "stream": {"channels": channels}})
    with monkeypatch.context() as m:
        m.setattr(offline, "feed", old_feed)
        ref = io.StringIO()
        assert offline.run_offline([path], cfg, model=detector, windows=True, out=ref) == 0
    monkeypatch.setattr(offline, "FEED_BLOCK_S", block_s)
    got = io.StringIO()
    assert offline.run_offline([path], cfg, model=detector, windows=True, out=got) == 0
    expected = comparable(ref)
    assert comparable(got) == expected
    windows = [x for x in expected if x["type"] == "window"]
    assert len(windows) > 90 / hop_s
    assert ("ECG" in windows[0]["channel_probabilities"]) == ("ECG" in channels)
    assert [x["type"] for x in expected if x["type"].startswith("seizure.")] == ["seizure.onset", "seizure.offset"]


class _Sink:
    """A pipeline that keeps nothing: counts the samples pushed, never scores."""

    def __init__(self) -> None:
        self.samples = 0
        self.last_time = -1.0

    def push(self, chunk: np.ndarray, times: np.ndarray) -> None:
        assert chunk.shape[0] == times.size and times[0] > self.last_time
        self.samples += times.size
        self.last_time = float(times[-1])

    def step(self) -> list:
        return []


def test_feed_holds_a_block_not_the_recording(tmp_path):
    # 2 h x 4 channels at 256 Hz: 59 MB of float64 once read whole
    rate, seconds, n_ch = 256, 2 * 3600, 4
    path = tmp_path / "long.edf"
    rng = np.random.default_rng(RNG_SEED)
    sigs = [
        edfio.EdfSignal(rng.normal(size=rate * seconds) * 20, rate, label=f"EEG C{i}", physical_dimension="uV")
        for i in range(n_ch)
    ]
    edfio.Edf(sigs).write(path)
    del sigs
    whole_bytes = n_ch * rate * seconds * 8

    tracemalloc.start()
    try:
        rec = open_recording(path)
        sink = _Sink()
        assert list(offline.feed(sink, rec, 1.0)) == []  # type: ignore[arg-type]
        _, lazy_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        eager = read_recording(path)
        _, eager_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.samples == rate * seconds == eager.n_samples
    assert sink.last_time == (rate * seconds - 1) / rate
    assert lazy_peak < whole_bytes / 4, (lazy_peak, whole_bytes)
    assert eager_peak > whole_bytes, (eager_peak, whole_bytes)


def test_a_bdf_too_large_for_the_memory_available_is_refused_not_read(tmp_path, monkeypatch, detector):
    """A BDF is read whole (edfio) at about 8x its size: where that is more than the process may take, it is a
    RecordingError (an error line offline, the other files still scored), not a process killed halfway; an EDF,
    read block by block, is not held to it."""
    import realtime.recordings as rr

    bdf, edf = write_bdf(tmp_path / "big.bdf"), write_mixed_edf(tmp_path / "long.edf")
    need = rr.BDF_PEAK_PER_FILE_BYTE * bdf.stat().st_size
    monkeypatch.setattr(rr, "available_memory_bytes", lambda: int(need) - 1)
    with pytest.raises(rr.RecordingError, match=r"a BDF is read whole .*; split it, or convert it to EDF"):
        open_recording(bdf)
    assert open_recording(edf).n_samples > 0
    out = io.StringIO()
    assert offline.run_offline([bdf, edf], build_config({}), model=detector, out=out) == 1
    lines = [json.loads(s) for s in out.getvalue().splitlines()]
    assert lines[0]["type"] == "error" and lines[0]["file"] == str(bdf) and "GB available" in lines[0]["error"]
    assert lines[-1]["files"] == 1 and lines[-1]["failed"] == 1
    monkeypatch.setattr(rr, "available_memory_bytes", lambda: int(need))  # just enough: read
    assert open_recording(bdf).n_samples > 0


def test_an_npz_too_large_for_the_memory_available_is_refused_not_read(tmp_path, monkeypatch, detector):
    """An NPZ is read whole: its samples as stored plus their float64 copy, from the archive's .npy header (no
    sample read); more than the process may take is a RecordingError, an error line offline."""
    import realtime.recordings as rr

    path = rr.write_npz(tmp_path / "big.npz", np.zeros((4, 10_000), dtype=np.float32), 256.0, ["C3", "C4", "O1", "O2"])
    need = 4 * 10_000 * (4 + 8)
    assert rr._npz_peak_bytes(path) == need
    monkeypatch.setattr(rr, "available_memory_bytes", lambda: need - 1)
    with pytest.raises(rr.RecordingError, match=r"an NPZ is read whole: .* available; split it, or convert it"):
        open_recording(path)
    out = io.StringIO()
    assert offline.run_offline([path], build_config({}), model=detector, out=out) == 1
    assert json.loads(out.getvalue().splitlines()[0])["type"] == "error"
    monkeypatch.setattr(rr, "available_memory_bytes", lambda: need)  # just enough: read
    rec = open_recording(path).load()
    assert rec.data.dtype == np.float64 and rec.data.shape == (4, 10_000)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip archive: no header to read, the reader says why
    assert rr._npz_peak_bytes(broken) is None
    with pytest.raises(rr.RecordingError, match=r"lacks array\(s\)"):
        open_recording(broken)


def test_the_memory_available_is_read_from_the_machine():
    import realtime.recordings as rr

    got = rr.available_memory_bytes()
    assert got is not None and 0 < got < 1 << 50
