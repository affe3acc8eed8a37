"""The inlet's backlog: signal waiting in liblsl's buffer when a pull begins, exported as
``realtime_detect_inlet_backlog_seconds`` and warned about past half of the buffer (liblsl drops the oldest
samples without a word once it is full)."""

from __future__ import annotations

import logging
import time
import urllib.request

import numpy as np
import pylsl
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rt_helpers import in_process_outlet, unique

from realtime.config import build_config
from realtime.daemon import Daemon
from realtime.inlet import inlet_backlog

RATE = 256.0


@pytest.mark.parametrize(
    ("available", "sfreq", "buffer_s", "expected"),
    [
        (0, 256.0, 30, (0.0, False)),
        (256, 256.0, 30, (1.0, False)),
        (15 * 256, 256.0, 30, (15.0, False)),  # exactly half: not yet
        (15 * 256 + 1, 256.0, 30, (15 + 1 / 256, True)),
        (5000, 500.0, 30, (10.0, False)),
        (20 * 500, 500.0, 30, (20.0, True)),
        (100, 0.0, 30, (0.0, False)),  # no rate (no stream): nothing to say
        (-1, 256.0, 30, (0.0, False)),
    ],
)
def test_inlet_backlog_is_seconds_of_signal_and_behind_past_half_the_buffer(available, sfreq, buffer_s, expected):
    seconds, behind = inlet_backlog(available, sfreq, buffer_s)
    assert seconds == pytest.approx(expected[0]) and behind is expected[1]


def _signal(n: int, start: int = 0) -> np.ndarray:
    t = (start + np.arange(n)) / RATE
    return (50 * np.sin(2 * np.pi * 10 * t)[:, None] * np.ones(4)).astype(np.float32)


def _scraped_backlog(port: int, stream: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for fam in text_string_to_metric_families(text):
        if fam.name == "realtime_detect_inlet_backlog_seconds":
            return next(s.value for s in fam.samples if s.labels["stream"] == stream)
    raise AssertionError("realtime_detect_inlet_backlog_seconds not served")


@pytest.mark.integration
@pytest.mark.parametrize("max_chunk", [64, 4096])
def test_a_burst_the_daemon_cannot_take_at_once_shows_as_backlog_and_a_warning(toy_export, tmp_path, caplog, max_chunk):
    """A real outlet pushes 20 s of signal at once into a daemon that pulls ``max_chunk`` samples a step: the
    scrape says 20 s waited (over half the 30 s buffer: one WARNING), and a pull's worth once the daemon has
    caught up. With the default 4096 (16 s at 256 Hz) only 4 s are left after the pull: counted after it, as
    first built, the gauge could never pass 14 s of a full buffer and the warning never fired."""
    name = unique("backlog")
    d = Daemon(
        build_config(
            {
                "stream": {"name": name, "resolve_timeout_s": 0.2, "max_chunk_samples": max_chunk},
                "model": {"path": str(toy_export), "backend": "litert"},
                "alerts": {
                    "endpoint": "tcp://127.0.0.1:*",
                    "replay_endpoint": "",
                    "log_path": str(tmp_path / "alerts.jsonl"),
                },
                "metrics": {"enabled": True, "host": "127.0.0.1", "port": 0},
                "signal": {"montage": "as_recorded"},
            }
        ),
        env={},
    )
    outlet = in_process_outlet(name, RATE)
    try:
        d.start()
        port = d.metrics.port
        received = d.metrics.registry.get_sample_value
        sent = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not received("realtime_detect_samples_received_total", {"stream": name}):
            outlet.push_chunk(_signal(16, sent))
            sent += 16
            d.iterate()
        assert received("realtime_detect_samples_received_total", {"stream": name})
        for _ in range(50):  # take what was sent while connecting: then a pull finds at most a chunk of 16
            d.iterate()
            if _scraped_backlog(port, name) <= 64 / RATE:
                break
        assert _scraped_backlog(port, name) <= 64 / RATE
        burst = int(20 * RATE)
        outlet.push_chunk(_signal(burst, sent))
        time.sleep(0.5)  # on its way through loopback into the inlet's buffer
        with caplog.at_level(logging.WARNING, logger="realtime.daemon"):
            d.iterate()
        backlog = _scraped_backlog(port, name)  # what waited when the pull began: the whole burst
        assert burst / RATE - 0.5 <= backlog <= burst / RATE + 64 / RATE, backlog
        assert received("realtime_detect_samples_received_total", {"stream": name}) >= sent + min(max_chunk, burst) - 64
        warned = [r.getMessage() for r in caplog.records if "waiting in the inlet" in r.getMessage()]
        assert len(warned) == 1, warned
        assert f"{name}: " in warned[0] and "(buffer 30 s): the detector is behind" in warned[0], warned[0]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _scraped_backlog(port, name) > 64 / RATE:
            d.iterate()
        assert _scraped_backlog(port, name) <= 64 / RATE
    finally:
        d.shutdown()
        del outlet


def test_liblsl_discards_what_an_inlet_received_but_did_not_hand_over_when_the_outlet_is_killed():
    """What a killed outlet costs: liblsl raises LostError at the next pull and the samples already in the
    inlet's buffer are gone (not handed over first). So a daemon behind by d seconds of signal loses those d
    seconds to a yanked connection; benchmarks/soak_check.py's ``kill_outage_start`` counts them as the
    kill's. Should liblsl start handing them over, this fails, and the soak checker can be made stricter."""
    from pylsl.util import LostError
    from rt_helpers import start_outlet, stop

    name = unique("killed")
    proc = start_outlet("--name", name, "--source-id", f"{name}-src")
    try:
        (info,) = pylsl.resolve_byprop("name", name, timeout=10)
        inlet = pylsl.StreamInlet(info, max_buflen=30, recover=False)
        inlet.open_stream(timeout=10)
        deadline = time.monotonic() + 15
        while inlet.samples_available() < 256 and time.monotonic() < deadline:  # a second of signal waits
            time.sleep(0.1)
        waiting = inlet.samples_available()
        assert waiting >= 256
        stop(proc)
        time.sleep(1.0)  # liblsl notices the broken connection
        handed_over, lost = 0, False
        for _ in range(20):
            try:
                handed_over += len(inlet.pull_chunk(timeout=0.2, max_samples=4096)[1])
            except LostError:
                lost = True
                break
        assert lost and handed_over == 0, f"LostError {lost}, {handed_over} of the {waiting} samples handed over"
    finally:
        stop(proc)
