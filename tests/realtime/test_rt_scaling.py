"""Background scaling (realtime.scaling): the band-limited level, the scaler, and the pipeline through the toy
export (an amplitude detector: it alarms on any large EEG, as the shipped network does at 4x)."""

from __future__ import annotations

import io
import itertools
import json
import logging

import numpy as np
import pytest
import scipy.signal

from realtime.config import Config, ConfigError, DecisionConfig, SignalConfig, WindowConfig, build_config
from realtime.messages import Envelope, event_messages
from realtime.model import load_detector
from realtime.pipeline import Pipeline
from realtime.scaling import BackgroundScaler, band_std_uv

RATE = 250.0


def test_band_std_is_the_band_limited_standard_deviation():
    t = np.arange(1024) / RATE
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 30, 20_000)
    sos = scipy.signal.butter(8, [1.5, 40.0], "bandpass", fs=RATE, output="sos")
    reference = scipy.signal.sosfiltfilt(sos, noise)[5000:6024].std()  # white noise filtered to the band
    x = np.stack(
        [
            20 * np.sin(2 * np.pi * 10 * t),  # in the band: its std, 20 / sqrt(2)
            20 * np.sin(2 * np.pi * 10 * t) + 200 * np.sin(2 * np.pi * 0.5 * t + 1) + 3 * np.arange(1024),  # + slow
            20 * np.sin(2 * np.pi * 60 * t),  # mains: above the band
            noise[5000:6024],
        ]
    )
    level = band_std_uv(x, RATE)
    assert level[0] == pytest.approx(20 / np.sqrt(2), rel=0.01)
    assert level[1] == pytest.approx(20 / np.sqrt(2), rel=0.05)  # a 200 µV delta wave and a drift do not leak in
    assert level[2] < 0.5
    assert level[3] == pytest.approx(reference, rel=0.15)
    with pytest.raises(ValueError, match=r"shape \[n_channels, n_samples >= 2\], got \(5,\)"):
        band_std_uv(np.zeros(5), RATE)
    with pytest.raises(ValueError, match=r"0 <= low < high, got \(40.0, 1.5\)"):
        band_std_uv(x, RATE, (40.0, 1.5))


def test_scaler_waits_for_its_history_then_scales_only_what_is_above_the_limit():
    s = BackgroundScaler(3, limit_uv=100.0, quantile=0.25, span_windows=20, min_windows=10)
    for _ in range(9):
        s.update(np.array([50.0, 300.0, np.nan]))
        assert (s.factors() == 1).all()  # no judgement before min_windows
    s.update(np.array([50.0, 300.0, np.nan]))
    np.testing.assert_allclose(s.factors(), [1.0, 1 / 3, 1.0])  # the left-out channel has no history: untouched
    np.testing.assert_allclose(s.level_uv, [50.0, 300.0, np.nan])
    f = s.factors()
    f[:] = 0  # a copy: the caller cannot change the scaler
    assert s.factors()[0] == 1.0
    s.reset()
    assert (s.factors() == 1).all() and np.isnan(s.level_uv).all()


def test_after_a_loss_the_last_level_is_a_prior_until_the_history_is_ready_again():
    s = BackgroundScaler(3, limit_uv=100.0, quantile=0.25, span_windows=20, min_windows=4)
    for _ in range(6):
        s.update(np.array([50.0, 300.0, np.nan]))
    s.reset(keep_prior=True)  # the same device comes back
    np.testing.assert_allclose(s.factors(), [1.0, 1 / 3, 1.0])  # scaled from the first window after the loss
    for _ in range(3):  # the new history (a background now 200 uV) is not ready: the prior scales
        s.update(np.array([50.0, 200.0, 400.0]))
        np.testing.assert_allclose(s.factors(), [1.0, 1 / 3, 1.0])  # the channel without a level stays unscaled
    s.update(np.array([50.0, 200.0, 400.0]))  # ready: its own level from now on
    np.testing.assert_allclose(s.factors(), [1.0, 0.5, 0.25])
    s.reset(keep_prior=True)
    s.reset(keep_prior=True)  # lost again before any window: the prior stays
    np.testing.assert_allclose(s.factors(), [1.0, 0.5, 0.25])
    s.reset()  # another device, or too long away: no prior
    assert (s.factors() == 1).all() and np.isnan(s.level_uv).all()
    s.update(np.array([50.0, 200.0, 400.0]))
    assert (s.factors() == 1).all()


def test_a_prior_from_another_recording_scales_until_the_history_is_ready():
    """``set_prior``: the levels at the end of the file this one continues (realtime.offline)."""
    s = BackgroundScaler(3, limit_uv=100.0, quantile=0.25, span_windows=20, min_windows=4)
    s.set_prior(np.array([50.0, 300.0, np.nan]))
    np.testing.assert_allclose(s.factors(), [1.0, 1 / 3, 1.0])  # from the first window
    for _ in range(3):
        s.update(np.array([50.0, 200.0, 400.0]))
        np.testing.assert_allclose(s.factors(), [1.0, 1 / 3, 1.0])
    s.update(np.array([50.0, 200.0, 400.0]))  # its own history from now on
    np.testing.assert_allclose(s.factors(), [1.0, 0.5, 0.25])
    with pytest.raises(ValueError, match=r"level_uv must have shape \(3,\), got \(2,\)"):
        s.set_prior(np.array([1.0, 2.0]))


def test_a_seizure_shorter_than_three_quarters_of_the_span_does_not_move_the_background():
    s = BackgroundScaler(1, limit_uv=100.0, quantile=0.25, span_windows=40, min_windows=10)
    for _ in range(40):
        s.update(np.array([200.0]))
    for _ in range(29):  # a seizure at 5x the background over 29 of 40 windows
        s.update(np.array([1000.0]))
        assert s.factors()[0] == pytest.approx(0.5)
    s.update(np.array([1000.0]))  # the 30th: its lower quartile is now the seizure
    assert s.factors()[0] < 0.5
    # the quantile is numpy's over the last span_windows, left-out windows not counted
    rng = np.random.default_rng(1)
    s = BackgroundScaler(2, limit_uv=1.0, quantile=0.25, span_windows=15, min_windows=5)
    history = []
    for _ in range(40):
        v = rng.uniform(2, 50, 2)
        v[rng.random(2) < 0.3] = np.nan
        history.append(v)
        s.update(v)
    np.testing.assert_allclose(s.level_uv, np.nanquantile(np.array(history[-15:]), 0.25, axis=0))


def test_during_a_seizure_the_level_is_held_for_at_most_its_bound():
    """A seizure that goes on (status epilepticus) is scaled by the background before it, not by its own level:
    while the bed is in a seizure no channel's level rises above its level before it, for at most
    ``hold_max_windows`` windows of one seizure (docs/background.md "A seizure that goes on")."""
    s = BackgroundScaler(1, limit_uv=100.0, quantile=0.25, span_windows=40, min_windows=10, hold_max_windows=50)
    for _ in range(40):
        s.update(np.array([200.0]))
    for _ in range(50):  # longer than the span: held, the background's level scales it throughout
        s.update(np.array([1000.0]), in_seizure=True)
        assert s.factors()[0] == pytest.approx(0.5)
    assert s.held_windows == 50
    s.update(np.array([1000.0]), in_seizure=True)  # past the bound: the level follows its history (all seizure) at once
    assert s.factors()[0] == pytest.approx(0.1)
    s.update(np.array([200.0]))  # over: the next seizure is held again, at the level before it
    assert s.held_windows == 0
    s.update(np.array([5000.0]), in_seizure=True)
    assert s.held_windows == 1 and s.factors()[0] == pytest.approx(0.1)
    # without the hold (0, the scaler's default) the seizure fills the history as any window does
    s = BackgroundScaler(1, limit_uv=100.0, quantile=0.25, span_windows=40, min_windows=10)
    for _ in range(40):
        s.update(np.array([200.0]))
    for _ in range(31):
        s.update(np.array([1000.0]), in_seizure=True)
    assert s.factors()[0] == pytest.approx(0.1)


def test_the_held_windows_are_recorded_and_the_level_may_fall():
    """Holding keeps the level from rising, not the windows out of the history: after the seizure the level is what
    it is without the hold (keeping the seizure-like windows out would bias the background low), and a level that
    falls during the seizure falls."""
    rng = np.random.default_rng(2)
    windows = rng.uniform(150, 400, (120, 2))
    seizure = np.zeros(120, dtype=bool)
    seizure[50:80] = True
    windows[50:80] *= 3
    held = BackgroundScaler(2, limit_uv=100.0, quantile=0.25, span_windows=40, min_windows=10, hold_max_windows=600)
    free = BackgroundScaler(2, limit_uv=100.0, quantile=0.25, span_windows=40, min_windows=10)
    for i, (w, in_seizure) in enumerate(zip(windows, seizure, strict=True)):
        if i == 50:
            before = held.level_uv.copy()
        held.update(w, in_seizure=bool(in_seizure))
        free.update(w)
        if in_seizure:
            assert (held.level_uv <= before).all()
        else:  # before and after the seizure: the same level as without the hold
            np.testing.assert_array_equal(held.level_uv, free.level_uv)
        if i == 80:  # just after it: the seizure's windows, recorded, raised the level (the hold kept it down)
            assert (held.level_uv > before).all()
    s = BackgroundScaler(1, limit_uv=10.0, quantile=0.25, span_windows=40, min_windows=10, hold_max_windows=600)
    for _ in range(40):
        s.update(np.array([200.0]))
    for _ in range(31):  # a quieter stretch within the event: the level falls with it
        s.update(np.array([50.0]), in_seizure=True)
    assert s.level_uv[0] == pytest.approx(50.0)


def test_without_a_level_before_the_seizure_its_first_level_is_held_and_a_prior_is_one():
    # a connection whose first seconds already alarm (a large background, unscaled): the first level within the
    # event is held, so a seizure that follows inside the same event is scaled by that background, not by itself
    s = BackgroundScaler(2, limit_uv=100.0, quantile=0.25, span_windows=40, min_windows=4, hold_max_windows=100)
    for _ in range(4):
        s.update(np.array([300.0, 50.0]), in_seizure=True)
    np.testing.assert_allclose(s.factors(), [1 / 3, 1.0])
    for _ in range(16):
        s.update(np.array([900.0, 50.0]), in_seizure=True)
    np.testing.assert_allclose(s.factors(), [1 / 3, 1.0])
    s.update(np.array([900.0, 50.0]))  # the event over: the level is its history's, as without the hold
    np.testing.assert_allclose(s.factors(), [1 / 9, 1.0])
    # after a loss of the same device the prior is the level before: a seizure under way at the reconnect is held
    s.reset(keep_prior=True)
    assert s.held_windows == 0
    for _ in range(10):
        s.update(np.array([2700.0, 50.0]), in_seizure=True)
    np.testing.assert_allclose(s.factors(), [1 / 9, 1.0])
    with pytest.raises(ValueError, match=r"level_uv must have shape \(2,\), got \(3,\)"):
        s.update(np.ones(3), in_seizure=True)


def test_scaler_errors_quote_the_values():
    for kwargs, match in (
        ({"limit_uv": 0.0}, "limit_uv must be a finite number > 0, got 0.0"),
        ({"limit_uv": float("nan")}, "got nan"),
        ({"quantile": 1.0}, r"quantile must lie in \(0, 1\), got 1.0"),
        ({"min_windows": 30}, "need 1 <= min_windows <= span_windows, got 30, 20"),
        ({"hold_max_windows": -1}, "hold_max_windows must be an integer >= 0, got -1"),
        ({"hold_max_windows": 2.5}, "hold_max_windows must be an integer >= 0, got 2.5"),
    ):
        args = {"limit_uv": 100.0, "quantile": 0.25, "span_windows": 20, "min_windows": 10, **kwargs}
        with pytest.raises(ValueError, match=match):
            BackgroundScaler(2, **args)
    s = BackgroundScaler(2, limit_uv=100.0, quantile=0.25, span_windows=20, min_windows=10)
    with pytest.raises(ValueError, match=r"shape \(2,\), got \(3,\)"):
        s.update(np.ones(3))


def test_config_checks_the_limit_and_the_quantile():
    for signal, match in (
        ({"background_limit_uv": -1.0}, r"signal.background_limit_uv: must be >= 0 \(0 = off\), got -1.0"),
        ({"background_limit_uv": float("inf")}, "background_limit_uv.*got inf"),
        ({"background_quantile": 0.0}, r"signal.background_quantile: must lie in \(0, 1\), got 0.0"),
        (
            {"background_min_s": 400.0},
            r"signal.background_min_s / amplitude_span_s: need 0 < min <= span, got 400.0 / 300.0",
        ),
        ({"background_min_s": 0.0}, r"background_min_s / amplitude_span_s: need 0 < min <= span, got 0.0 / 300.0"),
        ({"background_hold_max_s": -1.0}, r"signal.background_hold_max_s: must be in \[0, 3600\] s, got -1.0"),
        ({"background_hold_max_s": 7200.0}, r"signal.background_hold_max_s: must be in \[0, 3600\] s, got 7200.0"),
    ):
        with pytest.raises(ConfigError, match=match):
            build_config({"stream": {"name": "EEG"}, "signal": signal})
    assert (
        build_config({"stream": {"name": "EEG"}, "signal": {"background_limit_uv": 0}}).signal.background_limit_uv == 0
    )


# --------------------------------------------------------------------------- the pipeline, the toy export
NAMES = ["C3", "C4", "Cz", "Pz"]
SIGNAL = {
    "amplitude_span_s": 60.0,
    "amplitude_min_s": 50.0,  # the amplitude monitor's judgement: not the scaler's
    "background_min_s": 20.0,
    "background_limit_uv": 15.0,
    "montage": "as_recorded",
}
ENVELOPE = Envelope.of({"name": "bed", "type": "EEG", "source_id": "amp"}, "host", "toy")
DECISION = DecisionConfig(aggregation="k_of_n", k_channels=2, on_threshold=0.8, off_threshold=0.5, settle_s=0.0)


@pytest.fixture(scope="module")
def detector(toy_export):
    return load_detector(toy_export, backend="litert")


def patient(seconds: float, burst=(100.0, 110.0)) -> np.ndarray:
    """[n, 4] µV: a large background (std 200 µV: the toy alarms on it) on C3, C4, Cz, a small one (20 µV) on
    Pz, and on every channel a burst at 4x its background between burst[0] and burst[1] s."""
    rng = np.random.default_rng(3)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    x = rng.normal(size=(n, 4)) * np.array([200.0, 200.0, 200.0, 20.0])
    x[(t >= burst[0]) & (t < burst[1])] *= 4.0
    return x


def pipeline(detector, limit_uv: float, **signal) -> Pipeline:
    return Pipeline(
        detector,
        sfreq=RATE,
        ch_names=NAMES,
        units=None,
        window=WindowConfig(hop_s=1.0),
        decision=DECISION,
        signal=SignalConfig(**{**SIGNAL, "background_limit_uv": limit_uv, **signal}),
    )


def run(detector, limit_uv: float, x: np.ndarray, **signal):
    pipe = pipeline(detector, limit_uv, **signal)
    results = []
    for i in range(0, x.shape[0], 250):
        pipe.push(x[i : i + 250], np.arange(i, min(i + 250, x.shape[0])) / RATE)
        results += pipe.step()
    return pipe, results, [e for r in results for e in r.events] + pipe.flush()


def test_a_large_background_is_scaled_down_and_a_burst_on_it_still_alarms(detector):
    x = patient(130.0)
    _, off, off_events = run(detector, 0.0, x)
    assert all(r.scaled_channels == {} for r in off)
    onsets = [e.time for e in off_events if e.kind == "onset"]
    assert onsets and onsets[0] < 10  # unscaled, the amplitude detector alarms on the background at once
    pipe, on, events = run(detector, 15.0, x)
    # no scaling before background_min_s (20 windows), then the three large channels are scaled, Pz is not
    assert all(r.scaled_channels == {} for r in on[:19])
    assert sorted(on[30].scaled_channels) == ["C3", "C4", "Cz"]
    # the level of the first 20 windows (held while the unscaled start's event lasts), then of a fuller history
    scaled = on[60].scaled_channels
    level = 200.0 * np.sqrt(2 * (40.0 - 1.5) / RATE)  # white noise's share in 1.5-40 Hz
    for name in scaled:
        assert scaled[name] == pytest.approx(15.0 / level, rel=0.1)
    assert np.nanmax(on[40].channel_probabilities) < 0.5  # the background, scaled: quiet
    kinds = [(e.kind, round(e.time)) for e in events]
    # the first event is the unscaled start (before the scaler has its history), ended once scaling begins;
    # the second is the burst at 4x the background, 100-110 s, which scaling keeps
    assert [k for k, _ in kinds] == ["onset", "offset", "onset", "offset"]
    assert kinds[0][1] < 10 and kinds[1][1] < 30
    assert 100 <= kinds[2][1] <= 106
    # the first event's "over" is the scaler's: the three channels' level was first learned while it was open (a
    # seizure under way at connection would have been scaled by itself); the burst's level was known before it
    assert [e.background_learned for e in events if e.kind == "offset"] == [(0, 1, 2), ()]
    first_offset = next(
        m for m in event_messages(events, ENVELOPE, pipe.unique_ch_names) if m["type"] == "seizure.offset"
    )
    assert first_offset["background_learned"] == ["C3", "C4", "Cz"]
    assert all(not e.background_learned for e in off_events)  # without scaling, nothing is learned
    # the first onset came before any level was known, on channels above the limit: said; the burst's was not
    onsets = [e for e in events if e.kind == "onset"]
    assert [sorted(e.background_unknown) for e in onsets] == [[0, 1, 2], []]
    assert set(onsets[0].background_unknown) <= set(onsets[0].channels)
    first_onset = event_messages(onsets[:1], ENVELOPE, pipe.unique_ch_names)[0]
    assert sorted(first_onset["background_unknown"]) == ["C3", "C4", "Cz"]
    assert all(not e.background_unknown for e in off_events)  # without scaling, there is no level to know
    # a limit above these channels' level (about 110 uV): the same unscaled start is not said to be large
    _, _, under = run(detector, 150.0, x)
    assert under[0].kind == "onset" and under[0].time < 10 and under[0].background_unknown == ()
    assert "background scaling: above 15 uV; " in pipe.channels_detail()  # the connected message, the offline log
    # the status detail names them
    detail = pipe.quality_detail({}, {}, on[-1].scaled_channels)
    assert "background above 15 uV (1.5-40 Hz, over minutes), scaled down to it: C3 (x0." in detail


def test_a_seizure_that_goes_on_stays_one_event_while_the_level_is_held(detector):
    """A burst at 4x the background for 150 s, more than the span (60 s): with the hold (the default 600 s) one
    event from its start to its end; without it (0) the burst fills the history, is scaled by its own level and the
    toy (an amplitude detector) closes the event while the burst goes on; with a bound of 60 s, once it is past."""
    x = patient(300.0, burst=(100.0, 250.0))

    def events(hold_s):
        *_, events = run(detector, 15.0, x, background_hold_max_s=hold_s)
        return [(e.kind, round(e.time)) for e in events if e.time > 40]  # after the unscaled start's event

    held = events(600.0)
    assert [k for k, _ in held] == ["onset", "offset"]
    assert 100 <= held[0][1] <= 106 and 250 <= held[1][1] <= 256
    unheld = events(0.0)
    assert unheld[0][0] == "onset" and 100 <= unheld[0][1] <= 106
    assert unheld[1][0] == "offset" and unheld[1][1] < 200  # "seizure over" inside the burst
    bounded = events(60.0)  # the level follows the history (all burst by then) once the event is 60 s old
    assert bounded[1][0] == "offset" and held[0][1] + 60 <= bounded[1][1] < held[0][1] + 70


def test_the_hold_starts_with_the_published_onset_not_with_the_crossing(detector):
    """The level is held while the bed's alarm is published (onset to offset), not from the first window above
    on_threshold (``pending``): the hold keeps an event open, it never confirms one (docs/background.md "The hold from
    the published onset")."""
    x = patient(300.0, burst=(100.0, 250.0))
    pipe = pipeline(detector, 15.0)
    states = []
    for i in range(0, x.shape[0], 250):
        pipe.push(x[i : i + 250], np.arange(i, min(i + 250, x.shape[0])) / RATE)
        for _ in pipe.step():
            states.append((pipe.decision.state, pipe.scaler.held_windows))
    assert ("pending", 0) in states  # the crossings before each onset: not held
    assert all((held > 0) == (state in ("active", "ending")) for state, held in states)
    assert max(held for _, held in states) > 100  # the burst's event: held throughout


def test_a_loss_of_the_same_device_inside_a_seizure_keeps_the_level_before_it(detector):
    """The stream is lost 50 s into a 150 s burst and the same device is back at once (``reset(keep_background=True)``,
    as the bed does): the published event stays open and the prior, the level before the burst, keeps scaling it,
    so the event still ends with the burst."""
    x = patient(300.0, burst=(100.0, 250.0))
    pipe = pipeline(detector, 15.0)
    events, factors = [], {}
    for i in range(0, x.shape[0], 250):
        if i == 150 * 250:
            before = pipe.scaler.factors()
            pipe.reset(keep_background=True)
        pipe.push(x[i : i + 250], np.arange(i, min(i + 250, x.shape[0])) / RATE)
        for r in pipe.step():
            events += [(e.kind, round(e.time)) for e in r.events if e.time > 40]
            factors[round(r.window_end)] = pipe.scaler.factors()
    assert [k for k, _ in events] == ["onset", "offset"] and 250 <= events[1][1] <= 256
    np.testing.assert_allclose(factors[200], before)  # the level before the burst, not the burst's own
    np.testing.assert_allclose(factors[240], before)


def test_scaling_changes_nothing_below_the_limit(detector):
    x = patient(80.0, burst=(50.0, 60.0)) * 0.05  # background 10 µV (1 µV on Pz): under the limit of 15
    pipe, off, off_events = run(detector, 0.0, x)
    assert "background scaling: off; " in pipe.channels_detail()
    _, on, on_events = run(detector, 15.0, x)
    np.testing.assert_array_equal(
        np.array([r.channel_probabilities for r in on]), np.array([r.channel_probabilities for r in off])
    )
    assert on_events == off_events and all(r.scaled_channels == {} for r in on)


def test_offline_windows_lines_carry_the_factors(detector, toy_export, tmp_path):
    from realtime.config import ModelConfig
    from realtime.offline import run_offline
    from realtime.recordings import write_npz

    path = write_npz(tmp_path / "patient.npz", patient(40.0, burst=(0.0, 0.0)).T, RATE, NAMES)
    cfg = Config(
        signal=SignalConfig(**{**SIGNAL, "background_min_s": 10.0}),
        decision=DECISION,
        model=ModelConfig(path=str(toy_export), backend="litert"),
    )
    out = tmp_path / "out.jsonl"
    with out.open("w") as fh:
        assert run_offline([str(path)], cfg, model=detector, windows=True, out=fh) == 0
    windows = [json.loads(line) for line in out.read_text().splitlines() if '"type":"window"' in line]
    assert windows[0]["scaled_channels"] == {}
    assert sorted(windows[-1]["scaled_channels"]) == ["C3", "C4", "Cz"]
    assert all(0 < f < 0.2 for f in windows[-1]["scaled_channels"].values())


def last_offline_window(argv, capsys) -> dict:
    """``realtime-detect ARGV`` (a ``--file ... --json --windows`` run, exit 0): its last ``window`` line."""
    from realtime.cli import detect_main

    assert detect_main(argv) == 0
    lines = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
    return [x for x in lines if x["type"] == "window"][-1]


def test_the_command_line_sets_or_turns_off_the_limit(toy_export, tmp_path, capsys):
    """``realtime-detect --file --background-limit-uv``: 0 scores the large background as it comes, a limit scales
    it (once 20 s of history are seen), a negative one is a config error (exit 78) quoting the value."""
    from realtime.cli import detect_main
    from realtime.recordings import write_npz

    path = write_npz(tmp_path / "patient.npz", patient(75.0, burst=(0.0, 0.0)).T, RATE, NAMES)
    argv = ["--file", str(path), "--json", "--windows", "--model", str(toy_export), "--backend", "litert"]

    assert last_offline_window([*argv, "--background-limit-uv", "0"], capsys)["scaled_channels"] == {}
    assert sorted(last_offline_window([*argv, "--background-limit-uv", "15"], capsys)["scaled_channels"]) == [
        "C3",
        "C4",
        "Cz",
    ]
    assert detect_main([*argv, "--background-limit-uv", "-5"]) == 78
    assert "signal.background_limit_uv: must be >= 0 (0 = off), got -5.0" in capsys.readouterr().err


def test_a_background_hovering_at_the_limit_does_not_make_a_report_every_few_windows():
    from realtime.messages import quality_key, scaled_to_report

    # factors window by window: C3 hovers just under the limit, then is scaled by 15 %, then hovers again, then is
    # not scaled; Pz is scaled by 40 % throughout
    windows = [{}, {"C3": 0.99}, {}, {"C3": 0.97}, {"C3": 0.85}, {"C3": 0.95}, {}, {"C3": 0.95}, {"C3": 0.99}]
    reported, sets, keys = frozenset(), [], []
    for scaled in windows:
        reported = scaled_to_report(reported, {**scaled, "Pz": 0.6})
        sets.append(sorted(reported))
        keys.append(quality_key({}, {}, reported))
    assert sets == [["Pz"]] * 4 + [["C3", "Pz"]] * 2 + [["Pz"]] * 3
    assert sum(a != b for a, b in itertools.pairwise(keys)) == 2  # C3 enters, C3 leaves
    # without hysteresis the set of scaled channels changes at 5 of the 8 steps
    raw = [sorted({**scaled, "Pz": 0.6}) for scaled in windows]
    assert sum(a != b for a, b in itertools.pairwise(raw)) == 5


def test_offline_logs_no_new_quality_line_for_a_background_at_the_limit(
    detector, toy_export, tmp_path, caplog, monkeypatch
):
    """White noise whose 1.5-40 Hz level is just above the limit: its lower quartile crosses the limit back and
    forth, so its factors flicker between 1 and just under 1; the log says nothing of it (hysteresis), where
    reporting every change of the scaled set (``SCALED_REPORT_BELOW = 1``) writes a line at each crossing."""
    import realtime.messages
    from realtime.config import ModelConfig
    from realtime.offline import run_offline
    from realtime.recordings import write_npz

    x = np.random.default_rng(5).normal(size=(4, int(150 * RATE))) * 20.0
    path = write_npz(tmp_path / "hover.npz", x, RATE, NAMES)
    cfg = Config(
        signal=SignalConfig(**{**SIGNAL, "background_limit_uv": 0.98 * 20.0 * np.sqrt(2 * (40.0 - 1.5) / RATE)}),
        decision=DECISION,
        model=ModelConfig(path=str(toy_export), backend="litert"),
    )

    def quality_lines(windows=False):
        caplog.clear()
        out = io.StringIO()
        with caplog.at_level(logging.INFO, logger="realtime"):
            assert run_offline([str(path)], cfg, model=detector, windows=windows, out=out) == 0
        lines = [r.getMessage() for r in caplog.records if "signal quality at" in r.getMessage()]
        return lines, [json.loads(s) for s in out.getvalue().splitlines() if '"type":"window"' in s]

    lines, windows = quality_lines(windows=True)
    factors = [f for w in windows for f in w["scaled_channels"].values()]
    assert factors and all(0.95 < f < 1 for f in factors)  # scaled, just
    assert sum(not w["scaled_channels"] for w in windows[30:]) > 5  # and not, between
    assert lines == []
    monkeypatch.setattr(realtime.messages, "SCALED_REPORT_BELOW", 1.0)
    assert len(quality_lines()[0]) >= 5


@pytest.mark.parametrize(("pause_s", "scaled_at_once"), [(5.0, True), (61.0, False)])
def test_a_recording_resumed_after_a_short_pause_keeps_its_scaling(detector, pause_s, scaled_at_once):
    """An EDF+D-like recording paused and resumed (offline.feed, as the daemon on a loss of the same device): after
    a pause of at most amplitude_span_s (60 s here) the channels are scaled from the first window of the next
    stretch; after a longer one the scaler waits for its history again (20 windows here)."""
    from realtime.offline import feed
    from realtime.recordings import Recording

    x = patient(80.0, burst=(0.0, 0.0)).T
    first = int(40 * RATE)
    rec = Recording(data=x, sfreq=RATE, ch_names=NAMES, segments=((0, 0.0), (first, 40.0 + pause_s)))
    pipe = pipeline(detector, 15.0)
    results = list(feed(pipe, rec, 1.0))
    after = [r for r in results if r.window_start >= 40.0 + pause_s]
    assert after and sorted(results[-1].scaled_channels) == ["C3", "C4", "Cz"]
    assert all(sorted(r.scaled_channels) == ["C3", "C4", "Cz"] for r in after) is scaled_at_once
    assert (after[0].scaled_channels == {}) is not scaled_at_once


# --------------------------------------------------------------------------- the delta limit
def slow_patient(seconds: float, delta_uv: float = 60.0, alpha_uv: float = 10.0) -> np.ndarray:
    """[n, 4] µV: C3, C4, Cz a background whose power is mostly delta (a 2.5 Hz rhythm of std ``delta_uv`` and
    a 10 Hz one of std ``alpha_uv``), Pz a healthy spectrum of the same broad size (10 Hz, delta 0.3 of it)."""
    t = np.arange(int(seconds * RATE)) / RATE
    slow = delta_uv * np.sqrt(2) * np.sin(2 * np.pi * 2.5 * t) + alpha_uv * np.sqrt(2) * np.sin(2 * np.pi * 10 * t)
    broad = float(np.hypot(delta_uv, alpha_uv))
    healthy = broad * np.sqrt(2) * (0.3 * np.sin(2 * np.pi * 2.5 * t) + np.sqrt(0.91) * np.sin(2 * np.pi * 10.3 * t))
    return np.stack([slow, slow, slow, healthy], axis=1)


def test_the_delta_band_is_measured_from_the_same_spectrum():
    from realtime.scaling import BAND_HZ, DELTA_HZ, band_stds_uv

    x = slow_patient(4.096)[:1024].T
    both = band_stds_uv(x, RATE, (BAND_HZ, DELTA_HZ))
    np.testing.assert_array_equal(both[0], band_std_uv(x, RATE))
    np.testing.assert_array_equal(both[1], band_std_uv(x, RATE, DELTA_HZ))
    np.testing.assert_allclose(both[:, 0], [np.hypot(60.0, 10.0), 60.0], rtol=0.02)  # 2.5 Hz in both, 10 Hz in one
    with pytest.raises(ValueError, match=r"0 <= low < high, got \(4.0, 1.5\)"):
        band_stds_uv(x, RATE, (BAND_HZ, (4.0, 1.5)))


def test_a_window_level_weighs_its_delta_against_the_delta_limit():
    x = slow_patient(4.096)[:1024].T
    broad = band_std_uv(x, RATE)
    args = {"quantile": 0.25, "span_windows": 20, "min_windows": 4}
    off = BackgroundScaler(4, limit_uv=80.0, **args)
    np.testing.assert_array_equal(off.window_level_uv(x, RATE), broad)  # without a delta limit: the broad level
    on = BackgroundScaler(4, limit_uv=80.0, delta_limit_uv=30.0, **args)
    level = on.window_level_uv(x, RATE)
    # the slow channels: 60 uV of delta, at 80/30 times: above their broad 61 uV; the healthy one: its broad level
    np.testing.assert_allclose(level[:3], 60.0 * 80.0 / 30.0, rtol=0.02)
    assert level[3] == broad[3]
    for _ in range(4):
        on.update(level)
        off.update(broad)
    # under the broad limit of 80 uV, the slow channels are scaled until their delta is at 30 uV; Pz is not
    np.testing.assert_allclose(on.factors(), [0.5, 0.5, 0.5, 1.0], rtol=0.02)
    np.testing.assert_array_equal(off.factors(), np.ones(4))
    with pytest.raises(ValueError, match=r"delta_limit_uv must be a finite number >= 0 \(0: off\), got -1.0"):
        BackgroundScaler(4, limit_uv=80.0, delta_limit_uv=-1.0, **args)


def test_a_slow_background_under_the_broad_limit_is_scaled_by_its_delta(detector, toy_export, tmp_path, capsys):
    """The pipeline and ``realtime-detect --file --background-delta-limit-uv``: the slow channels' windows reach the
    model scaled (the factors in each ``--windows`` line), the healthy one is not, and the status detail and the
    connected message say which limit; without the delta limit nothing under the broad limit is scaled."""
    from realtime.cli import detect_main
    from realtime.recordings import write_npz

    x = slow_patient(40.0)
    pipe, on, _ = run(detector, 80.0, x, background_delta_limit_uv=30.0)
    assert sorted(on[-1].scaled_channels) == ["C3", "C4", "Cz"]
    assert all(f == pytest.approx(0.5, rel=0.03) for f in on[-1].scaled_channels.values())
    assert "background scaling: above 80 uV, delta above 30 uV; no resampling" in pipe.channels_detail()
    detail = pipe.quality_detail({}, {}, on[-1].scaled_channels)
    assert "background above 80 uV (1.5-40 Hz, over minutes) or 30 uV (1.5-4 Hz), scaled down to it: C3 (x0.5" in detail
    _, plain, _ = run(detector, 80.0, x)
    assert all(r.scaled_channels == {} for r in plain)

    path = write_npz(tmp_path / "slow.npz", x.T, RATE, NAMES)
    argv = ["--file", str(path), "--json", "--windows", "--model", str(toy_export), "--backend", "litert"]
    argv += ["--background-limit-uv", "80"]

    assert last_offline_window([*argv, "--background-delta-limit-uv", "0"], capsys)["scaled_channels"] == {}
    assert sorted(last_offline_window([*argv, "--background-delta-limit-uv", "30"], capsys)["scaled_channels"]) == [
        "C3",
        "C4",
        "Cz",
    ]
    assert detect_main([*argv, "--background-delta-limit-uv", "-5"]) == 78
    assert "signal.background_delta_limit_uv: must be >= 0 (0 = off), got -5.0" in capsys.readouterr().err
