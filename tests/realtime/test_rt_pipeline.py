"""Pipeline on synthetic multi-channel EEG through the toy export (a real SavedModel/LiteRT)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from realtime.config import DecisionConfig, SignalConfig, WindowConfig
from realtime.model import load_detector
from realtime.pipeline import Pipeline
from realtime.quality import channel_quality

FS = 256.0
NAMES = ["Fp1", "Fp2", "C3", "C4", "O1", "O2"]
DECISION = DecisionConfig(
    aggregation="k_of_n",
    k_channels=3,
    smoothing_windows=3,
    on_threshold=0.8,
    off_threshold=0.5,
    min_duration_s=2.0,
    merge_gap_s=5.0,
)


@pytest.fixture(scope="module")
def detector(toy_export):
    return load_detector(toy_export, backend="litert")


def synthetic(seconds: float = 70.0, high=(25.0, 45.0), seed: int = 0) -> np.ndarray:
    """[n_samples, 6] µV: ~20 µV background, ~300 µV (std) between high[0] and high[1] s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    t = np.arange(n) / FS
    amp = np.where((t >= high[0]) & (t < high[1]), 300.0, 20.0)
    x = rng.normal(size=(n, len(NAMES))) * amp[:, None]
    x += 5 * np.sin(2 * np.pi * 10 * t)[:, None]  # a little alpha
    return x


def feed(pipe: Pipeline, x: np.ndarray, chunk: int, t0: float = 0.0):
    results = []
    for i in range(0, x.shape[0], chunk):
        block = x[i : i + chunk]
        pipe.push(block, t0 + np.arange(i, i + block.shape[0]) / FS)
        results += pipe.step()
    return results


def make(detector, **kw) -> Pipeline:
    args = {
        "sfreq": FS,
        "ch_names": NAMES,
        "units": None,
        "window": WindowConfig(hop_s=1.0, buffer_s=30.0),
        "decision": DECISION,
        "signal": SignalConfig(montage="as_recorded"),  # the montage has its own tests below
    }
    args.update(kw)
    return Pipeline(detector, **args)


def test_onset_after_the_rise_and_offset_after_the_fall(detector):
    pipe = make(detector)
    results = feed(pipe, synthetic(), chunk=64, t0=1000.0)
    events = [e for r in results for e in r.events] + pipe.flush()
    assert [e.kind for e in events] == ["onset", "offset"]
    onset, offset = events
    assert 1025.0 < onset.time < 1030.0  # first window that reaches into the high-amplitude part, smoothed
    assert onset.publish_time == pytest.approx(onset.time + 2.0, abs=1.01)
    assert len(onset.channels) >= 3 and onset.probability >= 0.8
    assert 1045.0 < offset.time < 1052.0 and offset.event_id == onset.event_id
    assert offset.publish_time >= offset.time + 5.0  # held back for the merge gap
    # windows: one per hop, 4.1 s long, timestamps from the stream
    assert len(results) == pipe.windows_total == int((70 - 4.18) // 1) + 1
    r = results[0]
    assert r.window_end - r.window_start == pytest.approx(1023 / 250, abs=1e-3)
    assert r.newest_sample_time == r.window_end and 1004.0 < r.window_end <= 1004.18
    assert np.diff([r.window_end for r in results]) == pytest.approx(1.0)
    quiet = [r.probability for r in results if r.window_end < 1024]
    assert max(quiet) < 0.1 and r.channel_probabilities.shape == (6,)
    assert not pipe.alarm_active


def test_chunking_does_not_change_offline_results(detector):
    x = synthetic(30.0, high=(12.0, 20.0), seed=1)
    a = feed(make(detector), x, chunk=256)
    b = feed(make(detector), x, chunk=37)
    c = feed(make(detector), x, chunk=5000)  # bigger than a hop: offline still scores every hop
    assert len(a) == len(b) == len(c)
    for ra, rb, rc in zip(a, b, c, strict=False):
        np.testing.assert_allclose(ra.channel_probabilities, rb.channel_probabilities, rtol=1e-6)
        np.testing.assert_allclose(ra.channel_probabilities, rc.channel_probabilities, rtol=1e-6)
        assert ra.window_end == rb.window_end == rc.window_end


def test_a_backlog_is_scored_in_one_call_and_only_overwritten_windows_are_skipped(detector):
    """A burst of 10 s (a slow tick, a bursty device): every due window is scored, oldest first, in one
    model call (scoring only the newest dropped armed onsets: benchmarks/soak_skipping.py); only windows
    whose samples left the 30 s buffer are skipped."""
    calls = []

    class Counting:
        def __getattr__(self, name):
            return getattr(detector, name)

        def predict(self, x):
            calls.append(len(x))
            return detector.predict(x)

    pipe = make(Counting())
    x = synthetic(60.0)
    pipe.push(x[: int(10 * FS)], np.arange(int(10 * FS)) / FS)
    rs = pipe.step()
    assert len(rs) == 6 and len(calls) == 1 and pipe.skipped_windows_total == 0  # windows ending 4.2 ... 9.2 s
    assert [r.window_end for r in rs] == sorted(r.window_end for r in rs)
    # window k reads native samples [256 k, 256 k + 1055): the last one's newest sample (9.117 s) less the short
    # filter's 12 ms, on the 250 Hz grid of the model's samples
    assert rs[-1].window_end == pytest.approx(9.104, abs=1e-9)
    pipe.push(x[int(10 * FS) : int(50 * FS)], np.arange(int(10 * FS), int(50 * FS)) / FS)  # 40 s > the buffer
    rs = pipe.step()
    assert rs[0].skipped_before == pipe.skipped_windows_total > 0 and len(calls) == 2
    assert len(rs) + pipe.skipped_windows_total == 40


def test_units_are_converted_to_microvolts(detector):
    x = synthetic(12.0)
    ref = feed(make(detector), x, chunk=256)
    volts = feed(make(detector, units=["V"] * 3 + ["-6"] * 3), np.hstack([x[:, :3] * 1e-6, x[:, 3:]]), chunk=256)
    for a, b in zip(ref, volts, strict=False):
        np.testing.assert_allclose(a.channel_probabilities, b.channel_probabilities, rtol=1e-5, atol=1e-7)
    ints = make(detector, units=["uV"] * 6)
    res = feed(ints, np.round(x).astype(np.int16), chunk=256)
    np.testing.assert_allclose(res[-1].channel_probabilities, ref[-1].channel_probabilities, atol=0.02)
    assumed = make(detector, units=[""] + ["uV"] * 5)
    assert assumed.assumed_uv_channels == ["Fp1"]
    # without a channel selection, a non-voltage channel (a trigger, SpO2) is left out, not fatal
    mixed = make(detector, units=["uV", "uV", "%", "uV", "uV", "uV"])
    assert mixed.ch_names == ["Fp1", "Fp2", "C4", "O1", "O2"]
    assert mixed.left_out_channels == {"C3": "unit '%' is not a voltage"}
    res = feed(mixed, x, chunk=256)
    np.testing.assert_allclose(res[-1].channel_probabilities, ref[-1].channel_probabilities[[0, 1, 3, 4, 5]], rtol=1e-6)


def test_bad_channels_are_flagged_not_scored(detector):
    x = synthetic(10.0)
    x[int(5 * FS), 0] = np.nan  # one NaN sample in Fp1
    x[:, 1] = 12.5  # Fp2 flat
    x[:, 2] = np.clip(x[:, 2] * 40, -800, 800)  # C3 clipped at the rails
    pipe = make(detector)
    results = feed(pipe, x, chunk=128)
    # window k reads native samples [256 k, 256 k + 1055) (window plus the short filter's margin): k = 1..5 hold
    # the NaN
    assert pipe.native_window_samples == 1055
    for k, r in enumerate(results):
        has_nan = 256 * k <= int(5 * FS) < 256 * k + 1055
        assert (r.flagged_channels.get("Fp1") == "non-finite") == has_nan
        assert math.isnan(r.channel_probabilities[0]) == has_nan
    for r in results:
        assert r.flagged_channels["Fp2"] == "flat" and r.flagged_channels["C3"] == "railed"
        assert np.isnan(r.channel_probabilities[1:3]).all() and np.isfinite(r.channel_probabilities[3:]).all()
        assert math.isfinite(r.probability)


def test_all_channels_bad_gives_no_probability(detector):
    pipe = make(detector)
    results = feed(pipe, np.zeros((int(8 * FS), 6)), chunk=256)
    assert results and all(math.isnan(r.probability) and len(r.flagged_channels) == 6 for r in results)
    assert all(r.events == [] for r in results)


def test_channel_selection_reset_and_reconfigure(detector):
    pipe = make(detector, channels=("O2", "C3"))
    assert pipe.ch_names == ["O2", "C3"]
    x = synthetic(40.0, high=(0.0, 40.0))
    results = feed(pipe, x[: int(10 * FS)], chunk=256)
    assert results[-1].channel_probabilities.shape == (2,) and pipe.alarm_active
    assert pipe.buffer_fill_ratio == pytest.approx(10 / 30, abs=0.01)
    pipe.reset()
    assert pipe.buffer_fill_ratio == 0.0 and pipe.alarm_active  # no invented offset
    assert pipe.step() == []
    pipe.reconfigure(DecisionConfig(aggregation="max", on_threshold=0.99, off_threshold=0.995 - 0.5))
    assert pipe.decision.config.on_threshold == 0.99
    assert pipe.samples_total == int(10 * FS)


def test_constructor_and_push_errors(detector):
    with pytest.raises(ValueError, match=r"channel\(s\) \['Cz'\] not in the stream"):
        make(detector, channels=("Cz",))
    with pytest.raises(ValueError, match=r"no channel left to score: Fp1 \(unit 'furlongs' is not a voltage\)"):
        make(detector, units=["furlongs"] * 6)
    with pytest.raises(ValueError, match=r"channel 'Fp2': unit 'bpm' is not a voltage; the stream has \['Fp1'"):
        make(detector, units=["uV", "bpm"] + ["uV"] * 4, channels=("Fp1", "Fp2"))
    with pytest.raises(ValueError, match="got 5 types for 6 channels"):
        make(detector, types=["EEG"] * 5)
    with pytest.raises(ValueError, match=r"sampling rate 64.0 Hz is below"):
        make(detector, sfreq=64.0)
    pipe = make(detector)
    with pytest.raises(ValueError, match=r"\[n, 6\], got \(10, 5\)"):
        pipe.push(np.zeros((10, 5)), np.zeros(10))
    with pytest.raises(ValueError, match="integers or floats, got dtype <U1"):
        pipe.push(np.full((2, 6), "a"), np.zeros(2))


def test_a_phase_delays_every_window_by_its_fraction_of_the_hop(detector):
    """Pipeline(phase=...): a bed of a daemon with several (docs/daemon.md "Several beds") scores the same windows
    shifted by that fraction of the hop; offline (phase 0) nothing changes."""
    x = synthetic(20.0)
    plain = [r.window_end for r in feed(make(detector), x, 64)]
    shifted = [r.window_end for r in feed(make(detector, phase=0.25), x, 64)]
    assert shifted == pytest.approx([t + 0.25 for t in plain[: len(shifted)]], abs=1.5 / FS)
    assert len(shifted) in (len(plain), len(plain) - 1)
    with pytest.raises(ValueError, match=r"phase must be a fraction of the hop in \[0, 1\), got 1.0"):
        make(detector, phase=1.0)


def test_channel_quality_rules():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 500)) * 30
    x[1] = 0.01 * rng.normal(size=500)
    x[2, ::3] = x[2].max()
    x[3, 7] = np.inf
    assert channel_quality(x)[0] == [None, "flat", "railed", "non-finite"]
    y = rng.normal(size=(2, 500)) * np.array([[1500.0], [3400.0]])  # 1500 µV: extreme but usable; 3400: broken
    reasons, std = channel_quality(y)
    assert reasons == [None, "implausible"] and std[1] == pytest.approx(y[1].std())
    assert channel_quality(y, max_std_uv=8000.0)[0] == [None, None]


def test_nanovolts_without_a_unit_are_flagged_implausible_not_scored(detector):
    """A stream that sends nV but no unit metadata is read as µV (1000x too large): left out, no alarm."""
    x = synthetic(40.0)
    unlabelled = make(detector, units=[""] * 6)
    results = feed(unlabelled, x * 1000.0, chunk=256)
    assert results and all(set(r.flagged_channels.values()) == {"implausible"} for r in results)
    assert all(math.isnan(r.probability) and not r.events for r in results)
    labelled = feed(make(detector, units=["nV"] * 6), x * 1000.0, chunk=256)
    ref = feed(make(detector), x, chunk=256)
    assert any(r.events for r in ref)  # the same signal in the right unit does alarm
    for a, b in zip(ref, labelled, strict=False):
        np.testing.assert_allclose(a.channel_probabilities, b.channel_probabilities, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("rate", [100.0, 173.61, 512.0, 2048.0])
def test_other_native_rates(detector, rate):
    """Windows every hop (no drift with a fractional hop), ending within 0.1 s of the newest sample."""
    rng = np.random.default_rng(4)
    n = int(20 * rate)
    x = rng.normal(size=(n, 2)) * 20
    x[int(10 * rate) :] *= 15  # the amplitude rises at 10 s
    pipe = Pipeline(
        detector,
        sfreq=rate,
        ch_names=["A", "B"],
        units=["uV", "uV"],
        window=WindowConfig(),
        decision=DECISION,
    )
    results = []
    for i in range(0, n, 100):
        block = x[i : i + 100]
        pipe.push(block, np.arange(i, i + block.shape[0]) / rate)
        results += pipe.step()
    ends = np.array([r.window_end for r in results])
    assert np.diff(ends) == pytest.approx(1.0, abs=1 / rate)
    assert 4.1 <= ends[0] <= 4.1 + 0.1 + 1 / rate
    assert results[0].window_end - results[0].window_start == pytest.approx(1023 / 250, rel=1e-4)
    quiet = [r.probability for r in results if r.window_end < 10]
    loud = [r.raw_probability for r in results if r.window_start > 10.1]
    assert max(quiet) < 0.1 and min(loud) > 0.9


TUH = [f"EEG {e}-REF" for e in ("FP1", "F7", "T3", "T5", "O1", "F3", "C3", "P3", "FZ", "CZ", "PZ")] + [
    f"EEG {e}-REF" for e in ("FP2", "F8", "T4", "T6", "O2", "F4", "C4", "P4", "A1")
]


def referential(seconds: float, common_uv: float, seed: int = 1) -> np.ndarray:
    """[n_samples, 20] µV: ~15 µV per electrode plus one large slow signal common to all (the reference)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    t = np.arange(n) / FS
    common = common_uv * np.sin(2 * np.pi * 1.5 * t)
    return rng.normal(size=(n, len(TUH))) * 15.0 + common[:, None]


@pytest.mark.parametrize(("montage", "alarms"), [("as_recorded", True), ("bipolar", False), ("average", False)])
def test_a_montage_cancels_a_large_reference_signal(detector, montage, alarms):
    from realtime.config import SignalConfig

    pipe = make(detector, ch_names=TUH, signal=SignalConfig(montage=montage))
    results = feed(pipe, referential(30.0, common_uv=400.0), chunk=256)
    events = [e for r in results for e in r.events] + pipe.flush()
    assert bool(events) is alarms  # the toy model is an amplitude meter: the common mode alone alarms
    if montage == "bipolar":
        assert len(pipe.ch_names) == 18 and pipe.ch_names[0] == "Fp1-F7" and pipe.input_names == TUH
        assert pipe.left_out_channels == {"EEG A1-REF": "not used by the bipolar montage"}
    if montage == "average":
        assert pipe.ch_names[0] == "Fp1-AVG" and len(pipe.ch_names) == 19
    assert f"montage: {pipe.montage.describe()}" in pipe.channels_detail()


def test_every_input_a_montage_does_not_use_is_named_once_under_its_unique_name(detector):
    """A label given twice is two inputs: the electrode's second copy and both copies of a site no montage uses
    (sphenoidal SP1) are each named, none under the name of an input that is scored."""
    from realtime.config import SignalConfig

    pipe = make(
        detector, ch_names=[*TUH, "EEG FP1-REF", "EEG SP1-REF", "EEG SP1-REF"], signal=SignalConfig(montage="average")
    )
    why = "not used by the average montage"
    assert pipe.left_out_channels == dict.fromkeys(("EEG A1-REF", "EEG FP1-REF#2", "EEG SP1-REF", "EEG SP1-REF#2"), why)


def test_a_broken_electrode_leaves_out_only_its_derivations(detector):
    from realtime.config import SignalConfig

    pipe = make(detector, ch_names=TUH, signal=SignalConfig(montage="bipolar"))
    x = referential(10.0, common_uv=0.0)
    x[:, TUH.index("EEG F7-REF")] = 0.0  # a flat (disconnected) electrode
    results = feed(pipe, x, chunk=256)
    assert results and all(
        r.flagged_channels == {"Fp1-F7": "EEG F7-REF: flat", "F7-T7": "EEG F7-REF: flat"} for r in results
    )
    assert np.isfinite(results[-1].channel_probabilities).sum() == 16


def test_a_gap_in_the_timestamps_settles_the_decision_again(detector):
    import dataclasses

    pipe = make(detector, decision=dataclasses.replace(DECISION, settle_s=10.0))
    x = synthetic(40.0, high=(0.0, 0.0))
    feed(pipe, x[: int(20 * FS)], chunk=64)
    assert not pipe.decision.settling and pipe.decision.gaps_total == 0
    feed(pipe, x[int(20 * FS) : int(25 * FS)], chunk=64, t0=22.0)  # resumes at 22 s, not 20: 2 s missing
    assert pipe.decision.settling and pipe.decision.gaps_total > 0


def test_a_reconnect_settles_the_decision_again(detector):
    """The stream lost and back (``reset``): a seizure-sized signal from the reconnect's first sample raises no onset
    before ``settle_s`` of it has come, as at a first connection; without the reset it would at once."""
    import dataclasses

    decision = dataclasses.replace(DECISION, settle_s=10.0, smoothing_windows=1, min_duration_s=0.0)
    quiet, loud = synthetic(20.0, high=(0.0, 0.0)), synthetic(30.0, high=(0.0, 30.0), seed=1)
    for reconnect in (True, False):
        pipe = make(detector, decision=decision)
        feed(pipe, quiet, chunk=64)
        assert not pipe.decision.settling
        if reconnect:
            pipe.reset()
        t0 = 25.0 if reconnect else 20.0  # back 5 s later; or the same stream going on
        results = feed(pipe, loud, chunk=64, t0=t0)
        onset = next(r for r in results if any(e.kind == "onset" for e in r.events))
        if reconnect:
            assert onset.window_end - t0 >= 10.0 - 1 / FS, onset.window_end
        else:
            assert onset.window_end - t0 < 5.0, onset.window_end
