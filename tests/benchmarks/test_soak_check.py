"""The fault-injection soak's pure checks (benchmarks/soak_check.py): schedule, placing alerts on the
timeline, which seizures alarmed, memory growth, log against received. No processes; < 1 s."""

from __future__ import annotations

import math

import pytest

from benchmarks.soak_check import (
    PATTERN,
    Outage,
    Seizure,
    backlog_spell,
    check_messages,
    classify,
    cpu_over,
    fault_schedule,
    kill_outage_start,
    next_position,
    rss_growth,
    seizures_in,
    stamp_to_sample,
)


def test_schedule_follows_the_pattern_aims_jumps_in_turn_and_keeps_the_end_free():
    faults = fault_schedule(100.0, 10.0, end_margin_s=15.0, jump_targets_s=[44.0, 50.0, 20.0])
    assert [f.at_s for f in faults] == [10.0 * i for i in range(1, 9)]  # 90 > 100 - 15
    assert [(f.kind, f.direction) for f in faults] == list(PATTERN)
    assert [f.target_s for f in faults if f.kind == "jump"] == [44.0, 50.0, 20.0, 44.0]
    offsets, off = [], 0
    for f in faults:
        off += f.direction
        offsets.append(off)
    assert set(offsets) == {-1, 0, 1} and offsets[-1] == 0  # the clock goes to -J, 0, +J, 0
    with pytest.raises(ValueError, match="every_s must be a finite number > 0, got 0"):
        fault_schedule(100.0, 0, end_margin_s=1.0, jump_targets_s=[1.0])


def test_next_position_is_the_next_time_the_cycle_reaches_it():
    assert next_position(0, 100, 30) == 30
    assert next_position(30, 100, 30) == 30
    assert next_position(31, 100, 30) == 130
    assert next_position(250, 100, 30) == 330


def test_a_stamp_is_placed_with_the_clock_offset_that_fits_the_time_it_was_sent():
    t0, rate = 1000.0, 5120.0
    g = 50_000.0
    stamp = t0 + g / rate - 3600.0  # sent while the outlet's clock was an hour back
    due = g + 0.2 * rate  # the message was made 0.2 s later
    kw = {"t0": t0, "rate": rate, "due": due, "max_latency": 10 * rate, "slack": 0.5 * rate}
    assert stamp_to_sample(stamp, offsets=[-3600.0, 0.0, 3600.0], **kw) == (pytest.approx(g), "stamp")
    # without the offset it was stamped with, nothing fits: the wall time stands in (late by the latency)
    assert stamp_to_sample(stamp, offsets=[0.0, 3600.0], **kw) == (due, "wall")


def test_classify_alarmed_by_onset_or_open_event_missed_exempt_and_unexpected():
    cycle = 1000
    sz = seizures_in(cycle, 400, 800, 480, upto=4500)
    assert [s.cycle for s in sz] == [0, 1, 2, 3, 4] and sz[1] == Seizure(1, 1400, 1800, 1480)
    # 2 is before seizure 1; 3 and 4 in seizure 3; 5 in seizure 4, whose onset was not due yet
    onsets = [(1, 490.0), (2, 1300.0), (3, 3495.0), (4, 3600.0), (5, 4470.0)]
    offsets = [(1, 700.0), (2, 1900.0), (3, 3800.0)]
    outages = [Outage(2100.0, 2500.0, "kill")]
    res = classify(sz, onsets, offsets, outages, before=50, after=100, due_before=4500)
    assert [r["due"] for r in res["seizures"]] == [True, True, True, True, False]
    rows = {r["cycle"]: r for r in res["seizures"]}
    assert rows[0]["alarmed"] and rows[0]["by"] == "onset" and rows[0]["delay"] == 10.0
    assert rows[1]["alarmed"] and rows[1]["by"] == "open event"  # event 2 opened at 1300 is open at 1400
    assert rows[2]["exempt"] == ["kill"] and not rows[2]["alarmed"]  # the outage covers its onset
    assert rows[3]["alarmed"] and rows[3]["onsets"] == 2
    assert res["checked"] == 3 and res["alarmed"] == 3 and res["missed"] == [] and res["exempt"] == 1
    assert res["unexpected_onsets"] == [1300.0]
    # the same run without the open event's onset: seizure 1 is missed
    res = classify(sz, [o for o in onsets if o[0] != 2], offsets, outages, before=50, after=100, due_before=4500)
    assert res["missed"] == [1] and res["unexpected_onsets"] == []
    # an outage that ended long before the seizure's window exempts nothing
    res = classify(sz, onsets, offsets, [Outage(-math.inf, 340.0, "start")], before=50, after=100, due_before=4500)
    assert res["exempt"] == 0
    # without seizure 4 in the list, its onset is unexpected
    assert classify(sz[:4], onsets, offsets, [], before=50, after=100)["unexpected_onsets"] == [1300.0, 4470.0]


def test_rss_growth_compares_the_first_and_last_tenth():
    rss = [100.0] * 10 + [150.0] * 80 + [104.0] * 10
    g = rss_growth(rss)
    assert g["first"] == 100.0 and g["last"] == 104.0 and g["growth"] == pytest.approx(0.04) and g["peak"] == 150
    with pytest.raises(ValueError, match="need at least 2 memory samples, got 1"):
        rss_growth([1.0])


def _m(seq, run="a", **kw):
    return {"seq": seq, "run": run, "type": "status.heartbeat", **kw}


def test_check_messages_finds_duplicates_going_back_gaps_and_differences():
    logged = [_m(1), _m(2), _m(2), _m(1), _m(5), _m(6, run="b")]
    received = [_m(1), _m(2, x=1), _m(9), _m(5)]
    c = check_messages(logged, received)
    assert (c["duplicates"], c["seq_back"], c["seq_gaps"], c["runs"]) == (2, 2, 3, 2)  # 1 -> 5 skips 3
    assert (c["received_not_logged"], c["received_differs"], c["logged_not_received"]) == (1, 1, 1)
    assert c["received_back"] == 1  # 9 then 5
    assert c["examples"]["received_not_logged"] == [("a", 9)]
    clean = check_messages([_m(1), _m(2), _m(3)], [_m(1), _m(2), _m(3)])
    assert not any(v for k, v in clean.items() if k not in ("logged", "received", "runs", "examples"))


def test_check_messages_leaves_out_the_unlogged_status_window():
    window = {"type": "status.window", "run": "a", "windows_total": 7, "window_end": 1.0}
    c = check_messages([_m(1), _m(2)], [_m(1), window, _m(2), window])
    assert c["unsequenced_received"] == 2
    assert (c["received"], c["received_not_logged"], c["received_back"], c["logged_not_received"]) == (2, 0, 0, 0)


def test_a_kill_outage_begins_where_the_daemon_stopped_scoring_that_life():
    lives = [
        {"end": 10_000.0, "ended_by": "kill", "scored_to": 5_000.0},  # behind by 5000 samples at the kill
        {"end": 20_000.0, "ended_by": "hang", "scored_to": 19_000.0},
        {"end": 30_000.0, "ended_by": "kill", "scored_to": None},  # nothing scored in that life
        {"end": 40_000.0, "ended_by": "kill", "scored_to": 39_990.0},
    ]
    assert kill_outage_start(10_050.0, lives, tol=100.0) == 5_000.0
    assert kill_outage_start(10_500.0, lives, tol=100.0) == 10_500.0  # no life ended there
    assert kill_outage_start(20_000.0, lives, tol=100.0) == 20_000.0  # a hang is not a kill
    assert kill_outage_start(30_000.0, lives, tol=100.0) == 30_000.0
    assert kill_outage_start(40_000.0, lives, tol=100.0) == 39_990.0


def _cpu_scrapes(steal_per_s: list[float], *, cpus: float = 2.0) -> list[dict]:
    """One scrape a second: the machine's CPU seconds (half of what is not stolen busy), a daemon using 0.8 of
    a core, an outlet killed and restarted at second 3 (its counter starts from 0), 20 windows a second, and the
    backlog largest at the last scrape."""
    rows, m, daemon, outlet = [], {"busy": 0.0, "idle": 0.0, "steal": 0.0, "total": 0.0}, 0.0, 0.0
    for i, steal in enumerate([0.0, *steal_per_s]):
        m = {
            "busy": m["busy"] + (cpus - steal) / 2,
            "idle": m["idle"] + (cpus - steal) / 2,
            "steal": m["steal"] + steal,
            "total": m["total"] + cpus,
        }
        daemon += 0.8 if i else 0.0
        outlet = 0.1 if i == 3 else outlet + (0.2 if i else 0.0)
        rows.append(
            {"lsl": 100.0 + i, "machine_cpu_s": dict(m), "daemon_cpu_s": daemon, "outlet_cpu_s": outlet}
            | {"windows_processed": 20.0 * i, "inlet_backlog_s": float(i)}
        )
    return rows


def test_cpu_over_gives_shares_of_the_machine_and_each_process_in_cores():
    rows = _cpu_scrapes([0.0, 0.0, 1.0, 1.0])
    whole = cpu_over(rows)
    assert whole is not None
    assert whole["wall_s"] == pytest.approx(4.0) and whole["cpus"] == pytest.approx(2.0)
    assert whole["steal"] == pytest.approx(2.0 / 8.0) and whole["busy"] == pytest.approx(3.0 / 8.0)
    assert whole["busy"] + whole["idle"] + whole["steal"] == pytest.approx(1.0)
    assert whole["daemon_cores"] == pytest.approx(0.8) and whole["windows_per_s"] == pytest.approx(20.0)
    # the outlet: 0.2 + 0.2, then a new one at 0.1 (its own count from 0), then 0.2: 0.7 in 4 s
    assert whole["outlet_cores"] == pytest.approx(0.7 / 4.0)
    late = cpu_over(rows, start=102.0)
    assert late is not None and late["steal"] == pytest.approx(0.5)
    assert cpu_over(rows, start=104.0) is None  # one scrape is no interval
    assert cpu_over([{k: v for k, v in r.items() if k != "machine_cpu_s"} for r in rows]) is None  # older runs


def test_backlog_spell_looks_at_the_time_before_the_largest_backlog():
    rows = _cpu_scrapes([0.0, 0.0, 0.0, 1.5, 1.5])
    spell = backlog_spell(rows, before_s=2.0)
    assert spell is not None and spell["backlog_s"] == 5.0 and spell["at_lsl"] == 105.0
    assert spell["wall_s"] == pytest.approx(2.0) and spell["steal"] == pytest.approx(0.75)
    assert backlog_spell([{k: v for k, v in r.items() if k != "inlet_backlog_s"} for r in rows]) is None
