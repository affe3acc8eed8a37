"""The fault soak's sample accounting (benchmarks/soak_check.py): what the outlet sent (its journal) against where
the daemon's windows fell (``status.window``), and whether a run is valid as a test of "no alarm lost"; then
``soak_faults.analyse`` on a whole synthetic run directory, as ``--analyse DIR`` reads it. No processes; < 2 s.

The synthetic daemon below receives the samples the outlet sent from its (re)connection on, less the ones a test
drops (liblsl's full inlet buffer), and scores a window every hop of samples *received*, as the pipeline does:
so a drop shows only as window ends further apart on the stream's clock.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.soak_check import (
    KEPT_UP_MIN,
    PlacedWindow,
    Segment,
    Seizure,
    account_samples,
    backlog_limit_s,
    backlog_warnings,
    judge_validity,
    outlet_segments,
    place_windows,
    pulled_per_life,
    seizures_in_stretches,
    where,
    window_span_holes,
)

FS, SPEED = 256.0, 20.0
RATE = FS * SPEED
T0 = 1000.0
LSL_MINUS_WALL = -5000.0
HOP = 256.0
NATIVE = 1070  # the shipped model: 1024 samples at 250 Hz need 1070 at 256 Hz
FIRST_POS, LAST_POS = 10.24, 1057.792  # Resampler(256, 250).window_positions(1024)
SPAN = LAST_POS - FIRST_POS
CYCLE = 20992  # 82 s
ONSET_IN_CYCLE = 51.132


def offset_at(jumps: list[tuple[float, float]], g: float) -> float:
    """The outlet's clock offset at sample ``g``: ``jumps`` are ``(first sample, offset)``, sorted."""
    off = 0.0
    for at, value in jumps:
        if g >= at:
            off = value
    return off


def daemon_windows(
    connections: list[tuple[int, int]],
    *,
    drops: list[tuple[int, int]] = (),
    jumps: list[tuple[float, float]] = (),
    lose_messages: set[int] = frozenset(),
    latency_s: float = 0.05,
) -> list[dict]:
    """``status.window`` messages of a daemon that got samples ``[r0, end)`` of each connection, less ``drops``
    (``[a, b)``), scoring a window every ``HOP`` received samples; message ``windows_total in lose_messages``
    never arrives."""
    out, total = [], 0
    for r0, end in connections:
        g = np.arange(r0, end, dtype=np.float64)
        for a, b in drops:
            g = g[(g < a) | (g >= b)]
        idx = np.arange(g.size, dtype=np.float64)
        k = 0
        while NATIVE + k * HOP <= g.size:
            gs, ge = np.interp([k * HOP + FIRST_POS, k * HOP + LAST_POS], idx, g)
            stamp_end = T0 + ge / RATE + offset_at(jumps, ge)  # both ends in the clock in force at the end
            total += 1
            k += 1
            if total in lose_messages:
                continue
            due_lsl = T0 + g[int(NATIVE + (k - 1) * HOP) - 1] / RATE + latency_s
            out.append(
                {
                    "type": "status.window",
                    "window_end": stamp_end,
                    "window_start": stamp_end - (ge - gs) / RATE,
                    "time": stamp_end,
                    "windows_total": total,
                    "wall_time": due_lsl - LSL_MINUS_WALL,
                    "run": "r1",
                }
            )
    return out


def placed(msgs, jumps=()):
    offsets = sorted({0.0, *(v for _, v in jumps)})
    ws, unplaced = place_windows(
        msgs, t0=T0, rate=RATE, offsets=offsets, lsl_minus_wall=LSL_MINUS_WALL, max_latency=10 * RATE, slack=RATE / 2
    )
    assert unplaced == 0
    return ws


def account(segments, msgs, jumps=()):
    return account_samples(
        segments, placed(msgs, jumps), hop=HOP, native=NATIVE, first_pos=FIRST_POS, last_pos=LAST_POS
    )


# ----------------------------------------------------------------------------- the outlet's journal


def _e(event, g, pid, **kw):
    return {"event": event, "g": g, "offset_s": 0.0, "lsl": 0.0, "pid": pid, **kw}


def test_segments_end_at_kills_hangs_the_outlet_s_own_skips_and_the_stop():
    entries = [
        _e("start", 0, 1),
        _e("sent", 30000, 1),
        _e("jump", 31000, 1),
        _e("sent", 40000, 1),  # then SIGKILL: what went after the last count is not known
        _e("start", 60000, 2),
        _e("sent", 80000, 2),
        _e("skip", 110000, 2, **{"from": 81234}),  # the hang: 81234 .. 109999 never sent
        _e("skip", 150000, 2, **{"from": 140000}),  # no hang done there: the outlet starved by itself
        _e("stop", 170000, 2),
    ]
    faults = [{"kind": "kill", "g": 40100.0}, {"kind": "hang", "g": 81300.0}, {"kind": "jump", "g": 31000.0}]
    segs = outlet_segments(entries, faults, g_end=171000)
    assert [(s.start, s.end, s.ended_by, s.end_from) for s in segs] == [
        (0, 40000, "kill", "journal"),
        (60000, 81234, "hang", "journal"),
        (110000, 140000, "outlet lag", "journal"),
        (150000, 170000, "end", "journal"),
    ]
    assert [s.pid for s in segs] == [1, 2, 2, 2]
    # an older journal (no counts): ends from the faults (the sample due then) and the run's end
    old = [_e("start", 0, 1), _e("start", 60000, 2), _e("skip", 110000, 2)]
    segs = outlet_segments(old, faults, g_end=171000)
    assert [(s.end, s.ended_by, s.end_from) for s in segs] == [
        (40100.0, "kill", "fault"),
        (81300.0, "hang", "fault"),
        (171000, "end", "run end"),
    ]


# ----------------------------------------------------------------------------- sent against received

# the outlet: life 1 from 0, killed at 40000; life 2 from 55360 (3 s later), hung at 120000, on again at
# 145600; stopped at 200000. The daemon connects 1000 samples (0.2 s) after each start; the clock jumps back
# an hour at 90000 and forward again at 170000.
JUMPS = [(90000.0, -3600.0), (170000.0, 0.0)]
SEGMENTS = [
    Segment(0, 1, 0, 40000, "kill", "journal"),
    Segment(1, 2, 55360, 120000, "hang", "journal"),
    Segment(2, 2, 145600, 200000, "end", "journal"),
]
CONNECTIONS = [(1000, 40000), (56360, 120000), (145600, 200000)]


def test_every_sample_received_is_a_valid_run():
    msgs = daemon_windows(CONNECTIONS, jumps=JUMPS)
    acc = account(SEGMENTS, msgs, JUMPS)
    assert acc["lost_outside_faults"] == 0 and acc["stretches"] == []
    assert acc["noise_max"] < 1e-3 and acc["steps_short"] == 0 and acc["windows_unassigned"] == 0
    rows = acc["segments"]
    assert [round(r["first_received"], 6) for r in rows] == [1000, 56360, 145600]
    assert [round(r["before_first"]) for r in rows] == [1000, 1000, 0]  # the reconnects
    assert [r["sent"] for r in rows] == [40000, 64640, 54400]
    # fewer than a hop is left after the last window (received, too few for another)
    assert all(0 <= r["after_last"] < HOP for r in rows)
    assert acc["windows_due"] == acc["windows_scored"] == len(msgs)
    v = judge_validity(acc, backlog_max_s=2.0, backlog_limit_s=7.0, windows_skipped=0, fs=FS)
    assert v == {"valid": True, "reasons": [], "kept_up": True, "windows_fraction": 1.0}


def test_samples_dropped_inside_a_connection_make_the_run_not_valid_and_are_placed():
    drops = [(97000, 97617)]  # liblsl's full buffer: 617 samples, after the jump back, before an onset
    msgs = daemon_windows(CONNECTIONS, drops=drops, jumps=JUMPS)
    acc = account(SEGMENTS, msgs, JUMPS)
    [st] = acc["stretches"]
    assert st["samples"] == pytest.approx(617, abs=0.01) and st["segment"] == 1 and st["kind"] == "between windows"
    assert st["from"] <= 97000 and st["to"] >= 97617 and st["to"] - st["from"] < HOP + 617 + 1
    assert acc["lost_outside_faults"] == pytest.approx(617, abs=0.01)
    assert acc["segments"][1]["windows_scored"] == acc["segments"][1]["windows_due"] - 2  # 617 samples: 2 windows
    v = judge_validity(acc, backlog_max_s=2.0, backlog_limit_s=7.0, windows_skipped=0, fs=FS)
    assert v["valid"] is False and v["kept_up"] is True
    assert v["reasons"] == [
        "617 samples (2.4 s of signal) sent but never received outside the injected faults, in 1 stretch(es)"
    ]
    # the seizure whose deciding span holds the stretch is named; the one before is not
    sz = [Seizure(k, k * CYCLE + 10752, (k + 1) * CYCLE, k * CYCLE + ONSET_IN_CYCLE * FS) for k in range(9)]
    named = seizures_in_stretches(sz, acc["stretches"], before=NATIVE, after=10 * FS)
    assert [h["cycle"] for h in named] == [4]  # cycle 4: 83968 .. 104960, expected onset at 97058
    assert where(st["from"], fs=FS, cycle=CYCLE)["cycle"] == 4


def test_a_window_message_lost_on_the_way_is_not_a_hole():
    msgs = daemon_windows(CONNECTIONS, jumps=JUMPS, lose_messages={5, 6, 100})
    acc = account(SEGMENTS, msgs, JUMPS)
    assert acc["stretches"] == [] and acc["windows_scored"] == acc["windows_due"]  # counted by windows_total


def test_a_hole_in_the_first_window_and_the_tail_of_a_hang_are_found():
    drops = [(56500, 56600), (119000, 120000)]  # 100 inside the first window; the last 1000 before the hang
    msgs = daemon_windows(CONNECTIONS, drops=drops, jumps=JUMPS)
    acc = account(SEGMENTS, msgs, JUMPS)
    kinds = {st["kind"]: round(st["samples"]) for st in acc["stretches"]}
    assert kinds["inside the first window"] == 100
    assert 1000 <= kinds["sent before the hang, never scored"] < 1000 + HOP
    assert judge_validity(acc, backlog_max_s=None, backlog_limit_s=7.0, windows_skipped=0, fs=FS)["valid"] is False


def test_a_hang_s_unscored_tail_is_the_hang_s_only_when_the_daemon_s_counter_shows_it_never_had_it():
    # the last 1000 samples sent before the hang never reached the daemon's windows
    msgs = daemon_windows([CONNECTIONS[0], (56360, 119000), CONNECTIONS[2]], jumps=JUMPS)
    tail = "sent before the hang, never scored"
    # the daemon pulled exactly what its windows used (and less than a hop more): frozen in the hung outlet
    got = 119000 - 56360
    acc = account_samples(
        SEGMENTS, placed(msgs, JUMPS), hop=HOP, native=NATIVE, first_pos=FIRST_POS, last_pos=LAST_POS, pulled={1: got}
    )
    assert acc["stretches"] == [] and acc["lost_outside_faults"] == 0
    assert acc["segments"][1]["undelivered_at_hang"] == pytest.approx(1000, abs=0.01)
    assert acc["undelivered_at_hangs"] == pytest.approx(1000, abs=0.01)
    assert acc["windows_due"] == acc["windows_scored"]  # no window is due past what was never delivered
    assert judge_validity(acc, backlog_max_s=1.0, backlog_limit_s=7.0, windows_skipped=0, fs=FS)["valid"] is True
    # the counter says the daemon pulled them all (and did not score them): a hole, the run is not valid
    acc = account_samples(
        SEGMENTS,
        placed(msgs, JUMPS),
        hop=HOP,
        native=NATIVE,
        first_pos=FIRST_POS,
        last_pos=LAST_POS,
        pulled={1: 120000 - 56360},
    )
    assert [st["kind"] for st in acc["stretches"]] == [tail] and acc["undelivered_at_hangs"] == 0
    # no count for that life (an older run, or the daemon did not take the hang for a lost stream): a hole
    acc = account(SEGMENTS, msgs, JUMPS)
    assert [st["kind"] for st in acc["stretches"]] == [tail]


def test_samples_pulled_per_life_come_from_scrapes_while_the_stream_is_down():
    def scrape(g, received, connected):
        return {"lsl": T0 + g / RATE, "samples_received": received, "stream_connected": connected}

    scrapes = [
        scrape(-100, 0.0, 0.0),  # before the outlet starts
        scrape(20000, 19000.0, 1.0),
        scrape(45000, 39000.0, 0.0),  # killed at 40000: the daemon got 39000 of life 0
        scrape(60000, 42000.0, 1.0),
        scrape(125000, 102000.0, 1.0),  # hung at 120000; the daemon has not yet taken the stream for lost
        scrape(140000, 102500.0, 0.0),  # lost: the count of life 1 is final
        scrape(150000, 104000.0, 1.0),
    ]
    assert pulled_per_life(SEGMENTS, scrapes, t0=T0, rate=RATE) == {1: 102500.0 - 39000.0}  # hangs only
    # the stream still connected at the last scrape before the next life: no count (the lives may mix)
    scrapes[5]["stream_connected"] = 1.0
    assert pulled_per_life(SEGMENTS, scrapes, t0=T0, rate=RATE) == {}


def test_what_a_kill_cuts_off_is_the_fault_s_and_an_unscored_end_is_falling_behind():
    # the daemon lost the last 3000 samples of the killed life: in the outage, not held against the run
    msgs = daemon_windows([(1000, 37000), *CONNECTIONS[1:]], jumps=JUMPS)
    acc = account(SEGMENTS, msgs, JUMPS)
    assert acc["stretches"] == [] and 3000 <= acc["at_kills"] < 3000 + HOP
    assert judge_validity(acc, backlog_max_s=1.0, backlog_limit_s=7.0, windows_skipped=0, fs=FS)["valid"] is True
    # a daemon stopped 25 s of signal behind the end: the windows it never scored are due (from what was sent)
    msgs = daemon_windows([*CONNECTIONS[:2], (145600, 200000 - 6400)], jumps=JUMPS)
    acc = account(SEGMENTS, msgs, JUMPS)
    assert acc["stretches"] == [] and acc["unscored_at_stop"] >= 6400
    assert acc["windows_due"] - acc["windows_scored"] == 25
    v = judge_validity(acc, backlog_max_s=1.0, backlog_limit_s=7.0, windows_skipped=0, fs=FS, kept_up_min=0.99)
    assert v["valid"] is False and v["kept_up"] is False and v["windows_fraction"] < KEPT_UP_MIN
    assert "windows scored / due from the samples sent" in v["reasons"][0]


def test_the_backlog_limit_is_half_of_what_the_gauge_can_show_before_liblsl_drops():
    # after a pull of up to 16 s (4096 samples at 256 Hz) at most 30 - 16 s wait, once the 30 s buffer was full
    assert backlog_limit_s(30, 4096 / 256) == 7.0
    assert backlog_limit_s(30) == backlog_limit_s(30, 30) == 15.0  # older runs: the daemon's half of the buffer
    assert backlog_limit_s(None, 16) is None


def test_validity_needs_the_backlog_under_its_limit_no_skipped_window_and_a_measurement():
    acc = account(SEGMENTS, daemon_windows(CONNECTIONS, jumps=JUMPS), JUMPS)
    kw = {"backlog_limit_s": 7.0, "fs": FS}
    assert judge_validity(acc, backlog_max_s=7.0, windows_skipped=0, **kw)["valid"] is True  # at the limit
    v = judge_validity(acc, backlog_max_s=14.0, windows_skipped=0, **kw)
    assert v["valid"] is False and "backlog reached 14.0 s of signal, over the 7 s limit" in v["reasons"][0]
    assert judge_validity(acc, backlog_max_s=None, windows_skipped=2, **kw)["valid"] is False
    # not measured (an older run): not established, unless a deciding window shows a hole
    v = judge_validity(None, backlog_max_s=None, windows_skipped=0, **kw)
    assert v["valid"] is None and v["kept_up"] is None and "not measured" in v["reasons"][0]
    holes = window_span_holes([PlacedWindow(0, SPAN), PlacedWindow(5000, 5000 + SPAN + 290)], span=SPAN)
    assert [round(h["samples"]) for h in holes] == [290]
    assert judge_validity(None, backlog_max_s=None, windows_skipped=0, span_holes=holes, **kw)["valid"] is False


def test_outlet_lag_ends_a_segment_without_a_hole_but_invalidates_the_run():
    # the outlet, starved, skipped 5120 samples (20 s of signal, 1 s of wall time at 20x) by itself: never sent.
    # The daemon's connection goes on (it sees the timestamps run ahead, not a reconnect)
    segs = [Segment(0, 1, 0, 60000, "outlet lag", "journal"), Segment(1, 1, 65120, 120000, "end", "journal")]
    acc = account(segs, daemon_windows([(1000, 120000)], drops=[(60000, 65120)]))
    assert acc["outlet_lags"] == 1 and acc["lost_outside_faults"] == 0
    v = judge_validity(acc, backlog_max_s=0.0, backlog_limit_s=7.0, windows_skipped=0, fs=FS)
    assert v["valid"] is False and "the outlet fell behind its own schedule 1 time(s)" in v["reasons"][0]


def test_backlog_warnings_are_read_from_the_daemon_s_log():
    lines = [
        "2026-12-01 17:24:26,634 INFO realtime.daemon: status: connected",
        "2026-12-01 17:24:30,001 WARNING realtime.bed: soak-1: 16.2 s of signal waiting in the inlet (buffer 30 s): "
        "the detector is behind; liblsl drops the oldest samples when the buffer is full",
        "2026-12-01 17:24:40,001 WARNING realtime.bed: soak-1: 29.9 s of signal waiting in the inlet (buffer 30 s): "
        "the detector is behind; liblsl drops the oldest samples when the buffer is full (7 more like it suppressed)",
    ]
    assert backlog_warnings(lines) == {"lines": 2, "suppressed": 7, "max_s": 29.9, "buffer_s": 30.0}
    assert backlog_warnings(lines[:1]) == {"lines": 0, "suppressed": 0, "max_s": None, "buffer_s": None}


def test_windows_are_placed_with_the_clock_offset_of_their_time():
    msgs = daemon_windows([(0, 200000)], jumps=JUMPS)
    ws = placed(msgs, JUMPS)
    ends = np.array([w.end for w in ws])
    assert np.allclose(np.diff(ends), HOP) and ends[0] == pytest.approx(LAST_POS)
    assert all(w.end - w.start == pytest.approx(SPAN) for w in ws)
    # without the offset the outlet used an hour back, the windows then cannot be placed
    _, unplaced = place_windows(
        msgs, t0=T0, rate=RATE, offsets=[0.0], lsl_minus_wall=LSL_MINUS_WALL, max_latency=10 * RATE, slack=RATE / 2
    )
    assert unplaced == sum(90000 <= w.end < 170000 for w in ws) > 0


# ----------------------------------------------------------------------------- soak_faults.analyse on a run's files


def write_run(
    work,
    *,
    drops=(),
    missed_cycles=(),
    backlog_s=1.0,
    old=False,
    unexpected=False,
    steal=None,
):
    """A whole synthetic run directory: 6 cycles (492 s of signal) at 20x, one kill in cycle 2 (restarted 3 s of wall
    time later), the clock back an hour from 100000 on, an onset for every seizure not in ``missed_cycles`` and
    not in the kill's outage (cycle 2), and the daemon's windows less ``drops``. ``old``: as runs before the
    accounting were written (no status.window, no counts in the journal, no window positions). ``steal``: the
    scrapes carry the machine's CPU times (2 CPUs, that share of them stolen every second) and the daemon's."""
    g_end = 6 * CYCLE
    kill_g, restart_g = 50000, 50000 + 3 * RATE
    jumps = [(100000.0, -3600.0)]
    r0s = [(1000, kill_g), (int(restart_g) + 2000, g_end)]
    lsl = lambda g: T0 + g / RATE  # noqa: E731
    wall = lambda g: lsl(g) + 0.05 - LSL_MINUS_WALL  # noqa: E731
    journal = [
        {"event": "start", "g": 0, "offset_s": 0.0, "lsl": lsl(0), "pid": 11},
        {"event": "sent", "g": kill_g - 100, "offset_s": 0.0, "lsl": lsl(kill_g - 100), "pid": 11},
        {"event": "start", "g": int(restart_g), "offset_s": 0.0, "lsl": lsl(restart_g), "pid": 12},
        {"event": "jump", "g": 100000, "offset_s": -3600.0, "lsl": lsl(100000), "pid": 12},
        {"event": "stop", "g": g_end, "offset_s": -3600.0, "lsl": lsl(g_end), "pid": 12},
    ]
    if old:
        journal = [e for e in journal if e["event"] not in ("sent", "stop")]
    seq = iter(range(1, 10_000))
    logged = []

    def msg(kind, g, **kw):
        m = {"type": kind, "seq": next(seq), "run": "r1", "time": lsl(g), "wall_time": wall(g), **kw}
        logged.append(m)

    msg("status.signal", 1000, state="connected", detail="")
    msg("status.signal", kill_g + 3 * RATE // 2, state="lost", detail="")
    msg("status.signal", r0s[1][0], state="restored", detail="")
    event = 0
    for k in range(6):
        on = k * CYCLE + ONSET_IN_CYCLE * FS
        if k == 2 or k in missed_cycles:
            continue
        event += 1
        end = lsl(on) + offset_at(jumps, on)
        msg("seizure.onset", on, event_id=event, window_end=end, window_start=end - SPAN / RATE)
        off = on + 24 * FS
        end = lsl(off) + offset_at(jumps, off)
        msg("seizure.offset", off, event_id=event, window_end=end, window_start=end - SPAN / RATE)
    if unexpected:  # an onset 15 s into cycle 1: no seizure there (cycle 0's ended 15 s before)
        end = lsl(CYCLE + 15 * FS)
        msg("seizure.onset", CYCLE + 15 * FS, event_id=99, window_end=end, window_start=end - SPAN / RATE)
    windows = [] if old else daemon_windows(r0s, drops=list(drops), jumps=jumps)
    received_n = sum(b - a for a, b in r0s) - sum(b - a for a, b in drops)
    run = {
        "command": "synthetic",
        "args": {"signal_hours": 6 * 82 / 3600, "speed": SPEED, "fault_every_s": 10.0, "kill_gap_s": 3.0}
        | {"hang_s": 5.0, "jump_s": 3600.0, "chunk_s": 0.5, "heartbeat_s": 0.1},
        "host": "test",
        "cpus": 2,
        "load_average_at_end": [0, 0, 0],
        "python": "3.11",
        "date": "2026-12-02T00:00:00+00:00",
        "model_version": "m",
        "backend": "tensorflow",
        "device": "CPU",
        "heartbeat_s": 0.1,
        "reannounce_s": 3.0,
        "settle_s": 6.0,
        "min_duration_s": 2.0,
        "hop_s": 1.0,
        "fill_s": NATIVE / FS,
        "fs": FS,
        "n_cycle": CYCLE,
        "reference_wall_s": 1.0,
        "reference_onsets_s": [ONSET_IN_CYCLE + 82 * k for k in range(3)],
        "reference_offsets_s": [],
        "reference_onset_in_cycle_s": ONSET_IN_CYCLE,
        "t0": T0,
        "lsl_minus_wall": LSL_MINUS_WALL,
        "run_wall_s": g_end / RATE,
        "faults_done": [
            {"kind": "jump", "g": 100000.0, "lsl": lsl(100000), "direction": -1},
            {"kind": "kill", "g": float(kill_g), "lsl": lsl(kill_g)},
        ],
        "rss": [[float(i), 800 * 2**20] for i in range(30)],
        "metrics": {
            "realtime_detect_samples_received_total": float(received_n),
            "realtime_detect_windows_processed_total": float(len(windows) or 450),
            "realtime_detect_windows_skipped_total": 0.0,
            "realtime_detect_inlet_backlog_seconds": 0.0,
            "realtime_detect_clock_jumps_total": 1.0,
        },
        "subscriber_warnings": [],
        "never_reader_got": len(logged) + len(windows),
        "send_queues_at_end": [0],
        "daemon_exit_code_after_sigterm": 0,
        "behind_lines": [],
    }
    scraped = range(0, g_end, int(RATE))
    if not old:
        run |= {
            "native_window_samples": NATIVE,
            "window_positions": [FIRST_POS, LAST_POS],
            "inlet_buffer_s": 30,
            "max_chunk_samples": 4096,
            # the backlog grows to backlog_s at the last scrape
            "scrapes": [{"lsl": lsl(g), "inlet_backlog_s": backlog_s * g / scraped[-1]} for g in scraped],
        }
        if steal is not None:
            for i, scraped in enumerate(run["scrapes"]):
                machine = {"busy": (2 - 2 * steal) * i / 2, "idle": (2 - 2 * steal) * i / 2, "steal": 2 * steal * i}
                scraped |= {"machine_cpu_s": machine | {"total": 2.0 * i}, "daemon_cpu_s": 1.2 * i}
    work.mkdir(exist_ok=True)
    (work / "run.json").write_text(json.dumps(run))
    (work / "outlet.jsonl").write_text("".join(json.dumps(e) + "\n" for e in journal))
    (work / "alerts.jsonl").write_text("".join(json.dumps(m) + "\n" for m in logged))
    (work / "received.jsonl").write_text("".join(json.dumps(m) + "\n" for m in logged + windows))
    (work / "daemon.log").write_text("2026-12-02 00:00:00,000 INFO realtime.daemon: ready\n")
    return work


@pytest.fixture(scope="module")
def soak_faults():
    from benchmarks import soak_faults

    return soak_faults


def test_analyse_a_valid_run_gives_the_verdict_and_exit_0(tmp_path, soak_faults):
    res, rows = soak_faults.analyse(write_run(tmp_path / "run"))
    assert res["valid"] is True and res["no_alarm_lost"] is True
    assert res["validity"]["reasons"] == [] and res["ok"]["alarms"] is True
    assert res["seizures_checked"] == 5 and res["seizures_exempt"] == 1  # cycle 2: the kill
    assert res["samples"]["lost_outside_faults"] == 0 and res["lost_stretches"] == []
    assert res["windows_due"] == res["windows_scored_in_messages"] and res["windows_scored_fraction"] == 1.0
    assert res["inlet_backlog"]["max_s"] == 1.0 and res["inlet_backlog"]["limit_s"] == 7.0
    assert [life["ended_by"] for life in res["outlet_lives"]] == ["kill", "end"]
    received = (tmp_path / "run" / "received.jsonl").read_text().splitlines()
    assert res["messages"]["unsequenced_received"] == sum(json.loads(m)["type"] == "status.window" for m in received)
    assert dict(rows)["VALID for 'no alarm lost'"] == "yes"
    assert soak_faults.exit_code(res["ok"], res["valid"]) == 0
    # the same run missing one alarm: a lost alarm, exit 1
    res, rows = soak_faults.analyse(write_run(tmp_path / "missed", missed_cycles=(3,)))
    assert res["valid"] is True and res["no_alarm_lost"] is False and res["seizures_missed_cycles"] == [3]
    assert soak_faults.exit_code(res["ok"], res["valid"]) == soak_faults.EXIT_FAILED == 1
    # ... or an onset where there is no seizure
    res, _ = soak_faults.analyse(write_run(tmp_path / "false", unexpected=True))
    assert res["valid"] is True and res["ok"]["no_unexpected_onsets"] is False and res["unexpected_onsets_s"] == [97.0]
    assert soak_faults.exit_code(res["ok"], res["valid"]) == 1


def test_analyse_a_run_that_lost_samples_is_not_valid_names_the_seizure_and_exits_3(tmp_path, soak_faults):
    valid = "VALID for 'no alarm lost'"
    work = write_run(tmp_path / "run", drops=[(95968, 96585)], missed_cycles=(4,))  # in cycle 4, before its onset
    res, rows = soak_faults.analyse(work)
    assert res["valid"] is False and res["no_alarm_lost"] is None and res["ok"]["alarms"] is None
    assert res["seizures_missed_cycles"] == [4]  # reported, but not judged
    assert res["samples"]["lost_outside_faults"] == pytest.approx(617, abs=0.01)
    [st] = res["lost_stretches"]
    assert st["cycle"] == 4 and st["samples"] == pytest.approx(617, abs=0.1) and st["kind"] == "between windows"
    assert res["seizures_in_lost_stretches"] == [
        {"cycle": 4, "alarmed": False, "exempt": [], "stretches_s": [st["between_s"]]}
    ]
    table = dict(rows)
    assert table["VALID for 'no alarm lost'"].startswith("NO: 617 samples (2.4 s of signal) sent but never received")
    assert table["seizures in lost stretches"] == "cycle 4 (NOT alarmed)"
    assert table["seizures alarmed / checked"].startswith("NOT JUDGED (run not valid)")
    assert soak_faults.exit_code(res["ok"], res["valid"]) == soak_faults.EXIT_NOT_VALID == 3
    # an onset outside every seizure is not judged either (a daemon behind sends alerts too late to place)
    res, _ = soak_faults.analyse(write_run(tmp_path / "false", drops=[(95968, 96585)], unexpected=True))
    assert res["valid"] is False and res["ok"]["no_unexpected_onsets"] is None and res["unexpected_onsets_s"]
    assert soak_faults.exit_code(res["ok"], res["valid"]) == 3
    # the daemon far behind, nothing lost yet: not valid either
    res, rows = soak_faults.analyse(write_run(tmp_path / "behind", backlog_s=14.0))
    assert (
        res["valid"] is False
        and "backlog reached 14.0 s of signal, over the 7 s limit" in res["validity"]["reasons"][0]
    )
    assert soak_faults.exit_code(res["ok"], res["valid"]) == 3
    assert res["cpu"] == {"run": None, "before_largest_backlog": None}  # not recorded: said so, not guessed
    assert dict(rows)["CPU, whole run"] == "n/a (not recorded)" and "hypervisor" not in dict(rows)[valid]
    # ... on a host that took a fifth of the machine's CPU time: the verdict stands, and names the host
    res, rows = soak_faults.analyse(write_run(tmp_path / "stolen", backlog_s=14.0, steal=0.2))
    assert res["valid"] is False and res["cpu"]["run"]["steal"] == pytest.approx(0.2)
    assert res["cpu"]["run"]["daemon_cores"] == pytest.approx(1.2)
    assert dict(rows)[valid].endswith("the hypervisor took 20 % of the machine's CPU time: a slow host)")
    assert "20.0 % stolen by the host" in dict(rows)["CPU, 30 s before the largest backlog"]
    # ... and a valid run says nothing of it
    _, rows = soak_faults.analyse(write_run(tmp_path / "valid-stolen", steal=0.2))
    assert dict(rows)[valid] == "yes"


def test_analyse_still_reads_a_run_made_before_the_accounting(tmp_path, soak_faults):
    res, rows = soak_faults.analyse(write_run(tmp_path / "old", old=True))
    assert res["valid"] is None and res["samples"] is None and res["windows_due"] is None
    assert res["seizures_checked"] == 5 and res["seizures_alarmed"] == 5 and res["ok"]["alarms"] is None
    assert dict(rows)["VALID for 'no alarm lost'"].startswith("NOT ESTABLISHED")
    assert soak_faults.exit_code(res["ok"], res["valid"]) == 3
    journal = [json.loads(x) for x in (tmp_path / "old" / "outlet.jsonl").read_text().splitlines()]
    segs = outlet_segments(journal, [{"kind": "kill", "g": 50000.0}], g_end=6 * CYCLE)
    assert [(s.end, s.end_from) for s in segs] == [(50000.0, "fault"), (6 * CYCLE, "run end")]


def test_a_connection_that_goes_on_across_a_hang_counts_only_what_was_sent():
    # a daemon busy with its backlog did not take the 5 s hang for a lost stream: one connection across it.
    # It took the break for a clock jump (the window across it reported with its start extrapolated back over it)
    segs = [Segment(0, 1, 0, 60000, "hang", "journal"), Segment(1, 1, 65120, 120000, "end", "journal")]
    msgs = daemon_windows([(1000, 120000)], drops=[(60000, 65120)])
    for m in msgs:
        m["window_start"] = m["window_end"] - SPAN / RATE
    acc = account(segs, msgs)
    assert acc["stretches"] == [] and acc["segments"][1]["before_first"] == 0
    assert acc["windows_scored"] == acc["windows_due"]
    assert judge_validity(acc, backlog_max_s=0.0, backlog_limit_s=7.0, windows_skipped=0, fs=FS)["valid"] is True
    # ... or for a gap (the window across it spans the samples never sent too), and 100 more were lost in it
    acc = account(segs, daemon_windows([(1000, 120000)], drops=[(60000, 65120), (65121, 65221)]))
    [st] = acc["stretches"]
    assert st["kind"] == "inside the first window" and st["samples"] == pytest.approx(100, abs=0.01)


def test_channels_flag_scores_the_recordings_first_channels_and_refuses_a_count_out_of_range(tmp_path, soak_faults):
    from realtime.config import load_config

    assert soak_faults.soak_stream_toml(None) == ""
    path = tmp_path / "soak.toml"
    path.write_text(soak_faults.soak_stream_toml(3))
    assert load_config(path).stream.channels == ("FP1-F7", "F7-T7", "T7-P7")  # CHB-MIT's first three, in order
    for bad in (0, 24):
        with pytest.raises(ValueError, match=f"--channels must be 1 to 23, got {bad}"):
            soak_faults.soak_stream_toml(bad)


def test_the_fault_free_onset_is_the_first_of_each_cycle_and_a_split_seizures_second_onset_is_not_a_place(
    soak_faults,
):
    cycle = soak_faults.CYCLE_S
    # all 23 channels: one onset per cycle (the first cycle's unsettled start is not a place)
    assert soak_faults.first_onsets_in_cycle([52.1, 52.1 + cycle, 52.2 + 2 * cycle], cycles=3) == pytest.approx(
        [52.1, 52.2]
    )
    # 12 channels (measured 2026-12-02): the event splits, a second onset 19 s later in every cycle
    split = [52.132, 71.132, 134.132, 153.132, 216.132, 235.132]
    assert soak_faults.first_onsets_in_cycle(split, cycles=3) == pytest.approx([52.132, 52.132])
    assert soak_faults.first_onsets_in_cycle([52.1, 52.1 + cycle], cycles=3) is None  # the last cycle raised none
    assert soak_faults.first_onsets_in_cycle([52.1, 50.0 + cycle, 55.0 + 2 * cycle], cycles=3) is None  # 5 s apart
    assert soak_faults.first_onsets_in_cycle([], cycles=3) is None


def test_the_soak_buffer_keeps_three_wall_seconds(soak_faults):
    """At 20x the default 30 s buffer is 1.5 s of wall time: the soak's daemon gets 3 s of wall time or 30 s of
    signal, whichever is longer, unless --buffer-s says otherwise."""
    from argparse import Namespace

    assert soak_faults.soak_buffer_s(Namespace(buffer_s=None, speed=20.0)) == 60.0
    assert soak_faults.soak_buffer_s(Namespace(buffer_s=None, speed=10.0)) == 30.0
    assert soak_faults.soak_buffer_s(Namespace(buffer_s=None, speed=2.0)) == 30.0
    assert soak_faults.soak_buffer_s(Namespace(buffer_s=None, speed=33.3)) == 100.0
    assert soak_faults.soak_buffer_s(Namespace(buffer_s=45.0, speed=20.0)) == 45.0
