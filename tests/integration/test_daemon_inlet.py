"""realtime.inlet against real LSL outlets in subprocesses (LSL confined to loopback by conftest)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pylsl
import pytest
from rt_helpers import start_outlet, stop, unique

from realtime.inlet import Inlet, StreamSpec, build_predicate

pytestmark = pytest.mark.integration


def _connect(inlet: Inlet, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        step = inlet.step(0.1)
        if step.event:
            return step
    raise AssertionError(f"no stream found for {inlet.spec.describe()}")


def _pull(inlet: Inlet, n_samples: int, timeout_s: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    chunks, stamps = [], []
    deadline = time.monotonic() + timeout_s
    while sum(len(t) for t in stamps) < n_samples and time.monotonic() < deadline:
        step = inlet.step(0.1)
        assert step.event is None, (step.event, step.detail)
        if step.n_samples:
            chunks.append(step.samples.copy())
            stamps.append(step.timestamps.copy())
    assert stamps, "no samples arrived"
    return np.concatenate(chunks), np.concatenate(stamps)


def test_resolve_by_name_type_in_other_case_and_source_id_reads_mne_lsl_style_units():
    name, sid = unique("inlet"), unique("sid")
    # mne-lsl's PlayerLSL style: type "eeg", float64 volts, unit written as a power of ten ("0").
    proc = start_outlet(
        "--name",
        name,
        "--type",
        "eeg",
        "--source-id",
        sid,
        "--format",
        "double64",
        "--unit",
        "0",
        "--amplitude",
        "5e-5",
        "--channels",
        "3",
        "--rate",
        "512",
    )
    try:
        for spec in (StreamSpec(name=name), StreamSpec(name=name, type="EEG"), StreamSpec(source_id=sid)):
            inlet = Inlet(spec, resolve_timeout_s=2.0, stale_after_s=3.0, max_chunk_samples=64)
            try:
                step = _connect(inlet)
                assert step.event == "connected", step
                meta = inlet.meta
                assert (meta.name, meta.type, meta.source_id) == (name, "eeg", sid)
                assert meta.sfreq == 512.0 and meta.channel_format == "double64"
                assert meta.ch_names == ("C0", "C1", "C2")
                assert meta.units == ("0", "0", "0")
                data, ts = _pull(inlet, 200)
                assert data.dtype == np.float64 and data.shape[1] == 3
                assert len(data) <= 64 * 50  # chunks never exceed max_chunk_samples
                assert np.all(np.abs(data) <= 5e-5 * 1.0001) and np.max(np.abs(data)) > 1e-5
                # clock-synchronised, not dejittered (realtime.clock checks them): about one sample period apart
                assert np.all(np.abs(np.diff(ts) - 1 / 512) < 0.1)
            finally:
                inlet.close()
    finally:
        stop(proc)


def test_type_mismatch_and_other_names_are_not_resolved():
    name = unique("inlet")
    proc = start_outlet("--name", name, "--type", "EEG")
    try:
        inlet = Inlet(StreamSpec(name=name, type="ECG"), resolve_timeout_s=1.0)
        assert inlet.step().event is None and inlet.state == "waiting"
        inlet = Inlet(StreamSpec(name=name + "-other"), resolve_timeout_s=1.0)
        assert inlet.step().event is None and not inlet.is_open
    finally:
        stop(proc)


def test_predicate_quotes_and_lowercases_type():
    assert build_predicate(StreamSpec(name="a'b")) == 'name="a\'b"'
    pred = build_predicate(StreamSpec(name="X", type="EEG", source_id="s"))
    assert "name='X'" in pred and "source_id='s'" in pred and "='eeg'" in pred
    assert build_predicate(StreamSpec(name="a'b\"c")) is None  # falls back to filtering in Python


@pytest.mark.parametrize("rate, why", [("0", "irregular"), ("50", "50.0 Hz")])
def test_unusable_rates_are_rejected_with_the_value(rate, why):
    name = unique("inlet")
    proc = start_outlet("--name", name, "--rate", rate)
    try:
        inlet = Inlet(StreamSpec(name=name), resolve_timeout_s=2.0)
        step = _connect(inlet)
        assert step.event == "rejected" and why in step.detail, step.detail
        assert not inlet.is_open and inlet.state == "waiting"
        # Rejected once: the same stream is not reported again on the next attempts.
        inlet.resolve_timeout_s = 0.3
        assert inlet.step().event is None
    finally:
        stop(proc)


def test_killed_outlet_is_reported_lost_then_restored_when_it_comes_back():
    name, sid = unique("inlet"), unique("sid")
    args = ("--name", name, "--source-id", sid, "--rate", "256")
    proc = start_outlet(*args)
    inlet = Inlet(StreamSpec(name=name), resolve_timeout_s=0.5, stale_after_s=1.0)
    try:
        assert _connect(inlet).event == "connected"
        _pull(inlet, 100)
        stop(proc)  # the yanked cable: SIGKILL, no goodbye
        t0 = time.monotonic()
        events = []
        while time.monotonic() - t0 < 15 and "lost" not in events:
            events.append(inlet.step(0.1).event)
        assert "lost" in events and inlet.state == "lost" and not inlet.is_open
        for _ in range(3):  # stepping while nothing is there: resolve attempts, no crash, no event
            assert inlet.step(0.1).event is None
        proc = start_outlet(*args)
        t0 = time.monotonic()
        step = inlet.step(0.1)
        while step.event != "restored" and time.monotonic() - t0 < 20:
            assert step.event is None, step
            step = inlet.step(0.1)
        assert step.event == "restored" and step.n_samples > 0
        assert inlet.state == "connected" and inlet.reconnects == 1
        assert inlet.meta.source_id == sid
    finally:
        inlet.close()
        stop(proc)


def test_inlets_opened_together_get_their_first_samples_together():
    """Under proc_clocksync liblsl's first pull of an inlet waits for its first clock offset (a cycle of
    probes, about 0.64 s here). The inlet starts those probes when it opens, so beds opened together are
    not served one probe cycle after another: before, 6 beds' first pulls took 6 x 0.64 s in series
    (40 beds in a capacity run: the last scored 26 s after it connected)."""
    n = 6
    names = [unique("clocksync") for _ in range(n)]
    outlets = [pylsl.StreamOutlet(pylsl.StreamInfo(nm, "EEG", 2, 256.0, "float32", nm)) for nm in names]
    inlets = [Inlet(StreamSpec(name=nm)) for nm in names]
    try:
        for inlet in inlets:
            assert _connect(inlet).event == "connected"
        time.sleep(1.5)  # more than one probe cycle: the probes started at open are done
        for outlet in outlets:
            outlet.push_chunk(np.zeros((64, 2), np.float32))
        t0 = time.monotonic()
        for inlet in inlets:
            samples, _ = _pull(inlet, 64)
            assert samples.shape == (64, 2)
        # one probe cycle in series per bed would take n x 0.64 = 3.8 s; waiting for none takes milliseconds
        assert time.monotonic() - t0 < 1.5
    finally:
        for inlet in inlets:
            inlet.close()


def test_a_step_asked_to_wait_pulls_once_the_samples_are_there_or_max_defer_s_after_its_last_pull():
    """``pull_when_samples`` (a daemon of several beds: what its next window needs): no pull while fewer wait
    in liblsl's buffer, unless ``MAX_DEFER_S`` passed since the last pull (a loss or a stale stream is still
    noticed); the default pulls whatever is there."""
    from realtime.inlet import MAX_DEFER_S

    name = unique("defer")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", 2, 256.0, "float32", name))
    frozen: list[float | None] = [None]  # the inlet's clock: LSL's until frozen by the test

    def clock() -> float:
        return pylsl.local_clock() if frozen[0] is None else frozen[0]

    inlet = Inlet(StreamSpec(name=name), clock=clock)
    rows = np.arange(400, dtype=np.float32).reshape(200, 2)

    def wait_until_waiting(n: int) -> None:
        deadline = time.monotonic() + 5.0
        while inlet._available() < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert inlet._available() == n

    try:
        assert _connect(inlet).event == "connected"
        outlet.push_chunk(rows[:10])
        _pull(inlet, 10)
        frozen[0] = clock()  # just pulled
        outlet.push_chunk(rows[10:110])
        wait_until_waiting(100)
        for _ in range(3):
            step = inlet.step(0.0, pull_when_samples=101)
            assert step.deferred and step.n_samples == 0 and step.event is None
            assert step.ready_in_s == pytest.approx(1 / 256)  # one sample missing at 256 Hz
        step = inlet.step(0.0, pull_when_samples=100)  # enough wait: all of it is pulled at once
        assert not step.deferred and step.n_samples == 100
        np.testing.assert_array_equal(step.samples, rows[10:110])
        outlet.push_chunk(rows[110:140])
        wait_until_waiting(30)
        frozen[0] += MAX_DEFER_S * 0.9
        step = inlet.step(0.0, pull_when_samples=1000)
        # 970 samples missing (3.8 s at 256 Hz), but MAX_DEFER_S after the last pull comes first
        assert step.deferred and step.ready_in_s == pytest.approx(MAX_DEFER_S * 0.1)
        frozen[0] += MAX_DEFER_S * 0.2  # MAX_DEFER_S after the last pull: pulled whatever is there
        step = inlet.step(0.0, pull_when_samples=1000)
        assert not step.deferred and step.n_samples == 30
        outlet.push_chunk(rows[140:141])
        wait_until_waiting(1)
        step = inlet.step(0.0)  # the default: no waiting for more
        assert step.n_samples == 1
    finally:
        inlet.close()


def test_a_pull_that_waits_returns_once_the_samples_asked_for_have_come():
    """A daemon of one bed waits in its pull: asked for the samples its next window needs, the pull returns
    when they are there (not at the first chunk, not at its timeout), or at its timeout with what came."""
    import threading

    name = unique("wait-for")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", 2, 256.0, "float32", name))
    inlet = Inlet(StreamSpec(name=name))
    rows = np.arange(600, dtype=np.float32).reshape(300, 2)

    def later(delays_rows):
        for delay_s, part in delays_rows:
            time.sleep(delay_s)
            outlet.push_chunk(part)

    try:
        assert _connect(inlet).event == "connected"
        outlet.push_chunk(rows[:10])
        _pull(inlet, 10)  # the first pull waits for liblsl's clock offset: done
        pusher = threading.Thread(target=later, args=([(0.2, rows[10:60]), (0.3, rows[60:110])],))
        t0 = time.monotonic()
        pusher.start()
        step = inlet.step(3.0, pull_when_samples=100)
        waited = time.monotonic() - t0
        pusher.join()
        assert step.n_samples == 100 and 0.4 < waited < 2.0, (step.n_samples, waited)
        np.testing.assert_array_equal(step.samples, rows[10:110])
        outlet.push_chunk(rows[110:130])
        t0 = time.monotonic()
        step = inlet.step(0.5, pull_when_samples=100)  # fewer come: at its timeout, with what came
        assert step.n_samples == 20 and time.monotonic() - t0 >= 0.45
    finally:
        inlet.close()


def test_channel_metadata_for_another_channel_count_is_not_used_and_said(caplog):
    """A stream of 8 channels whose desc/channels describes 3 (a driver that wrote a subset): before, its labels,
    units and types were dropped without a word; now the log says which and why (the units, for one, fall back to
    the microvolts assumption the pipeline then warns about)."""
    from realtime.inlet import describe_info

    info = pylsl.StreamInfo("partial", "EEG", 8, 256.0, pylsl.cf_float32, "partial-src")
    channels = info.desc().append_child("channels")
    for label in ("Fp1", "Fp2", "Cz"):
        ch = channels.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", "uV")
        ch.append_child_value("type", "EEG")
    with caplog.at_level(logging.WARNING, logger="realtime.inlet"):
        meta = describe_info(info)
    assert meta.ch_names == tuple(f"ch{i}" for i in range(8)) and meta.units is None and meta.types is None
    assert (
        "stream 'partial' has 8 channels, but its channel metadata (desc/channels) gives labels (3), units (3), "
        "types (3): not used" in caplog.text
    )
