"""An in-process daemon (LiteRT toy model) and its background scaler: a large background scaled down and reported;
the levels kept across a reconnect and a restart, or forgotten (the same device within the span, the bed's patient
within a day, never another patient's); a new patient by SIGHUP forgets them and is never logged."""

from __future__ import annotations

import time

import pytest
from rt_helpers import SCALING_SIGNAL, first_quality_message, logged, quality_daemon, unique

from realtime.daemon import Daemon

pytestmark = pytest.mark.integration


def test_a_large_background_is_scaled_down_reported_and_quiet(toy_export, tmp_path):
    """A 71 µV background on every channel (the toy amplitude model alarms above 60 µV), a limit of 20 µV:
    once the scaler has 3 s of history the channels are scaled down, status.signal and the gauge say so, and
    no onset is raised (settling holds the first 6 s, by when they are scaled)."""
    from rt_helpers import start_outlet, stop

    name, log_path = unique("largebg"), tmp_path / "alerts.jsonl"
    d = quality_daemon(name, log_path, model_path=toy_export, signal=SCALING_SIGNAL)
    outlet = start_outlet("--name", name, "--amplitude", "100")
    try:
        d.start()
        msg = first_quality_message(d, log_path)
        assert "every channel usable (4 of 4 scored)" in msg["detail"]
        assert "background above 20 uV (1.5-40 Hz, over minutes), scaled down to it: C0 (x0.28)" in msg["detail"]
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and d.windows_total < 10:
            d.iterate()
        gauge = d.metrics.registry.get_sample_value
        assert gauge("realtime_detect_channels_scaled", {"stream": name}) == 4
        assert d.windows_total >= 10 and not d.pipeline.alarm_active
    finally:
        d.shutdown()
        stop(outlet)
    assert not logged(log_path, "seizure.onset")


def test_a_channel_scaled_by_under_a_tenth_is_not_reported_until_it_is_scaled_more(toy_export, tmp_path):
    """The live bed's reports use the hysteresis (messages.scaled_to_report): a background just above the limit
    (20.5 µV against 20: x0.98) is scaled, as the gauge says, but not reported, so a background hovering at the
    limit makes no report every few windows; once it doubles (x0.5) it is reported."""
    from rt_helpers import start_outlet, stop

    name, log_path = unique("hovering"), tmp_path / "alerts.jsonl"
    d = quality_daemon(name, log_path, model_path=toy_export, signal=SCALING_SIGNAL)
    # sines of amplitude 29 µV (20.5 µV standard deviation), from 14 s of signal on 57 µV (40 µV)
    outlet = start_outlet("--name", name, "--amplitude", "29", "--seizure-after-s", "14", "--seizure-amplitude", "57")
    try:
        d.start()
        gauge = d.metrics.registry.get_sample_value
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and d.windows_total < 8:
            d.iterate()
        assert d.windows_total >= 8 and gauge("realtime_detect_channels_scaled", {"stream": name}) == 4
        assert all(0.9 < f < 1.0 for f in d.pipeline.scaler.factors())
        assert not [m for m in logged(log_path, "status.signal") if m["state"] == "quality"]
        msg = first_quality_message(d, log_path)
        assert "background above 20 uV (1.5-40 Hz, over minutes), scaled down to it: C0 (x0." in msg["detail"]
        assert min(d.pipeline.scaler.factors()) < 0.9
    finally:
        d.shutdown()
        stop(outlet)


PATIENT = "adm-0001"  # a bed's patient as a ward would give it (stream.patient): a token of the admission


@pytest.mark.parametrize(
    ("away_s", "patient", "other_device", "readmitted", "kept"),
    [
        (0.0, "", False, False, True),
        (7.0, "", False, False, False),  # away longer than the span: who knows who is on the device now
        (7.0, PATIENT, False, False, True),  # the bed's patient given: the patient's levels for up to a day
        (0.0, "", True, False, False),  # another amplifier: another patient, perhaps
        (0.0, PATIENT, True, False, True),  # the bed's patient moved to another amplifier with the same channels
        (7.0, PATIENT, False, True, False),  # another patient given while the stream was lost (a SIGHUP)
    ],
)
def test_a_reconnect_keeps_the_scaling_of_the_same_device_or_of_the_beds_patient(
    toy_export, tmp_path, away_s, patient, other_device, readmitted, kept
):
    """A yanked cable (SIGKILL of the outlet) and the stream back: the scaler's levels are a prior, so the channels
    are scaled from the first window after the reconnect, when the same device is back within amplitude_span_s
    (6 s here), or when the bed's patient is given, within a day, from the same device or another one with the same
    channels; else it starts over (factors 1 until its history is ready again), also when the same device is back
    but the bed has another patient now (and nothing says the old patient's levels were kept)."""
    from rt_helpers import start_outlet, stop

    name, log_path = unique("reconnect"), tmp_path / "alerts.jsonl"
    d = quality_daemon(
        name,
        log_path,
        model_path=toy_export,
        stream={
            "name": name,
            "resolve_timeout_s": 0.2,
            "stale_after_s": 1.0,
            "patient": patient,
            "lock_source": not other_device,
        },
        signal=SCALING_SIGNAL,
    )
    args = ("--name", name, "--source-id", unique("amp"), "--amplitude", "100")

    def iterate_until(state: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and state not in [m["state"] for m in logged(log_path, "status.signal")]:
            d.iterate()

    outlet = start_outlet(*args)
    try:
        d.start()
        first_quality_message(d, log_path)  # scaled: x0.28
        assert (d.pipeline.scaler.factors() < 0.5).all()
        stop(outlet)  # the yanked cable
        iterate_until("lost")
        if readmitted:
            assert d.beds[""].set_patient("adm-0002")  # what a SIGHUP with another patient calls
        time.sleep(away_s)
        outlet = start_outlet(*args[:3], unique("amp") if other_device else args[3], *args[4:])
        iterate_until("restored")
        (restored,) = [m for m in logged(log_path, "status.signal") if m["state"] == "restored"]
        said = "the background levels of the bed's patient scale its channels until they have their own history"
        assert (said in restored["detail"]) == (kept and bool(patient)), restored["detail"]  # beyond the device rule
        windows = d.windows_total
        factors = d.pipeline.scaler.factors()
        assert (factors < 0.5).all() if kept else (factors == 1).all(), factors
        if patient or other_device or readmitted:
            return  # what follows is the same for every case
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and d.windows_total < windows + 5:
            d.iterate()
        assert (d.pipeline.scaler.factors() < 0.5).all()  # then scaled by its own new history either way
    finally:
        d.shutdown()
        stop(outlet)


@pytest.fixture(scope="module")
def levels_before_a_restart(toy_export, tmp_path_factory):
    """A daemon that scaled a loud stream (x0.28) and stopped: ``(its levels file as JSON, stream name, source id)``."""
    import json

    from rt_helpers import start_outlet, stop

    name, source = unique("restart"), unique("amp")
    log_path = tmp_path_factory.mktemp("before") / "alerts.jsonl"
    outlet = start_outlet("--name", name, "--source-id", source, "--amplitude", "100")
    d = quality_daemon(name, log_path, model_path=toy_export, signal=SCALING_SIGNAL)
    try:
        d.start()
        first_quality_message(d, log_path)
        assert (d.pipeline.scaler.factors() < 0.5).all()
    finally:
        d.shutdown()  # writes the levels
        stop(outlet)
    return json.loads(log_path.with_suffix(".levels.json").read_text()), name, source


@pytest.mark.parametrize(
    ("case", "age_s", "recorded_for", "patient", "said"),
    [
        ("back at once", 1.0, "", "", ""),
        ("levels too old", 7.0, "", "", "s old, more than the 6 s they are kept"),
        ("another device", 1.0, "", "", None),  # nothing kept for this device: nothing to say
        ("another device, the same patient", 1.0, PATIENT, PATIENT, ""),  # the amplifier swapped meanwhile
        ("the same patient, older than the span", 7.0, PATIENT, PATIENT, ""),
        ("another patient, at once", 1.0, PATIENT, "adm-0002", "recorded for another patient"),
        ("the bed names no patient now", 1.0, PATIENT, "", "recorded for a patient; the bed names none"),
        # an upgrade that scores other channels (as recorded -> the common average: C0 -> C0-AVG)
        ("other channels", 1.0, "", "", "measured on other channels (4 channels: C0-AVG, C1-AVG, C2-AVG, ...; now"),
    ],
)
def test_a_restart_of_the_daemon_keeps_the_scaling_of_the_same_device_or_patient(
    toy_export, tmp_path, caplog, levels_before_a_restart, case, age_s, recorded_for, patient, said
):
    """The daemon stopped and started again (an upgrade, a crash): the levels it wrote beside its alert log scale the
    same device's channels from the first window after the restart; levels older than amplitude_span_s (6 s here),
    or another device (source id), start without them (factors 1 until the history is ready). Levels recorded for a
    bed's patient are the patient's for up to a day, and never another patient's or a bed's that names none. Levels
    found for the bed and not used are logged with the reason (after an upgrade that scores other channels, say)."""
    import json
    import logging

    from rt_helpers import start_outlet, stop

    from realtime.levels import patient_digest

    doc, name, source = levels_before_a_restart
    (bed,) = doc["beds"]
    assert (bed["name"], bed["source_id"], bed["channels"]) == (name, source, ["C0", "C1", "C2", "C3"])
    assert all(level > 50 for level in bed["levels_uv"])  # a 100 µV sine's level, above the limit of 20
    assert bed["patient_sha256"] is None  # no patient given
    log_path = tmp_path / "alerts.jsonl"  # the same state directory as before the restart, its time set by the test
    bed = {**bed, "wall_time": time.time() - age_s, "patient_sha256": patient_digest(recorded_for)}
    if case == "other channels":
        bed["channels"] = [f"{c}-AVG" for c in bed["channels"]]
    kept = said == ""
    log_path.with_suffix(".levels.json").write_text(json.dumps({**doc, "beds": [bed]}))
    outlet = start_outlet(
        "--name",
        name,
        "--source-id",
        unique("amp") if case.startswith("another device") else source,
        "--amplitude",
        "100",
    )
    d = quality_daemon(
        name, log_path, model_path=toy_export, signal=SCALING_SIGNAL, stream={"name": name, "patient": patient}
    )
    try:
        d.start()
        deadline = time.monotonic() + 30.0
        with caplog.at_level(logging.INFO, logger="realtime.daemon"):
            while time.monotonic() < deadline and d.pipeline is None:
                d.iterate()
        assert d.windows_total == 0
        factors = d.pipeline.scaler.factors()
        assert (factors < 0.5).all() if kept else (factors == 1).all(), factors
        refused = [r.getMessage() for r in caplog.records if "from before the restart are not used" in r.getMessage()]
        assert [said in m for m in refused] == ([] if not said else [True]), refused
    finally:
        d.shutdown()
        stop(outlet)


def test_a_new_patient_given_by_sighup_forgets_the_beds_levels_and_is_neverlogged(toy_export, tmp_path, caplog):
    """SIGHUP with another patient for the bed (a discharge and an admission on the same amplifier): applied in
    place, no restart; the scaler forgets its levels (factors 1) and learns the new patient's; the levels file no
    longer keeps the old patient's for a restart; no log line, message or levels file shows either patient."""
    import json
    import logging

    from rt_helpers import start_outlet, stop

    from realtime.config import load_config
    from realtime.levels import patient_digest

    name, log_path, path = unique("admission"), tmp_path / "alerts.jsonl", tmp_path / "detect.toml"
    sections = (
        f'[model]\npath = "{toy_export}"\nbackend = "litert"\n[metrics]\nenabled = false\n'
        f'[alerts]\nendpoint = "tcp://127.0.0.1:*"\nreplay_endpoint = ""\nlog_path = "{log_path}"\n[signal]\n'
        + "".join(f"{k} = {json.dumps(v)}\n" for k, v in SCALING_SIGNAL.items())
    )
    path.write_text(f'[stream]\nname = "{name}"\nresolve_timeout_s = 0.2\npatient = "{PATIENT}"\n{sections}')
    d = Daemon(load_config(path), config_path=path, env={})
    outlet = start_outlet("--name", name, "--source-id", unique("amp"), "--amplitude", "100")
    try:
        with caplog.at_level(logging.DEBUG):
            d.start()
            first_quality_message(d, log_path)
            assert (d.pipeline.scaler.factors() < 0.5).all()
            d._save_levels()
            (bed,) = json.loads(log_path.with_suffix(".levels.json").read_text())["beds"]
            assert bed["patient_sha256"] == patient_digest(PATIENT)
            path.write_text(f'[stream]\nname = "{name}"\nresolve_timeout_s = 0.2\npatient = "adm-0002"\n{sections}')
            assert d.reload() is True
            assert d.config.stream.patient == "adm-0002" and d.beds[""].config.patient == "adm-0002"
            assert (d.pipeline.scaler.factors() == 1).all()  # forgotten at once
            d._save_levels()  # nothing of the new patient measured yet, the old patient's entry gone
            assert json.loads(log_path.with_suffix(".levels.json").read_text())["beds"] == []
            windows = d.windows_total
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline and d.windows_total < windows + 5:
                d.iterate()
            assert (d.pipeline.scaler.factors() < 0.5).all()  # the new patient's own levels
    finally:
        d.shutdown()
        stop(outlet)
    said = caplog.text + log_path.read_text() + log_path.with_suffix(".levels.json").read_text()
    assert "patient changed" in caplog.text and "needs restart" not in caplog.text
    assert PATIENT not in said and "adm-0002" not in said


def test_levels_that_cannot_be_written_are_a_warning_once_and_the_daemon_goes_on(toy_export, tmp_path, caplog):
    import logging

    log_path = tmp_path / "alerts.jsonl"
    blocker = tmp_path / "alerts.levels.json.tmp"
    blocker.mkdir()  # the temporary file cannot be opened: every write fails
    d = quality_daemon(unique("absent"), log_path, model_path=toy_export, signal=SCALING_SIGNAL)
    try:
        d.start()
        with caplog.at_level(logging.INFO, logger="realtime.daemon"):
            for _ in range(3):
                d._save_levels()
            d.iterate()  # and the loop goes on
            blocker.rmdir()
            d._save_levels()
        said = [r.getMessage() for r in caplog.records if "background levels" in r.getMessage()]
        assert len(said) == 2
        assert said[0].startswith(f"cannot write the background levels {tmp_path / 'alerts.levels.json'}: [Errno 21]")
        assert said[1] == f"background levels written to {tmp_path / 'alerts.levels.json'} again"
        assert (tmp_path / "alerts.levels.json").exists()
    finally:
        d.shutdown()


def test_a_discovered_beds_patient_comes_from_discover_patients_and_a_sighup_changes_it(toy_export, tmp_path, caplog):
    """``[discover.patients]`` maps an amplifier's source id to who is on it: the bed discovered on that amplifier
    has that patient, and a SIGHUP with another one applies it in place (its levels forgotten), said without either
    patient and without a ``discover:`` change."""
    import logging

    from rt_helpers import start_outlet, stop, toy_sections, write_config

    from realtime.config import load_config

    kind, sid, log_path, path = unique("EEGP"), unique("amp"), tmp_path / "alerts.jsonl", tmp_path / "detect.toml"
    sections = toy_sections(toy_export, log_path, metrics={"enabled": False}, discover={"type": kind})
    write_config(path, sections, {"discover.patients": {sid: PATIENT}})
    d = Daemon(load_config(path), config_path=path, env={})
    outlet = start_outlet("--name", unique("disc"), "--type", kind, "--source-id", sid)
    try:
        with caplog.at_level(logging.INFO):
            d.start()
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline and sid not in d.beds:
                d.iterate()
            assert d.beds[sid].config.patient == PATIENT
            write_config(path, sections, {"discover.patients": {sid: "adm-0002"}})
            assert d.reload() is True
            assert d.beds[sid].config.patient == "adm-0002"
    finally:
        d.shutdown()
        stop(outlet)
    assert f"bed {sid}: patient changed, its background levels forgotten" in caplog.text
    assert "discover:" not in caplog.text and PATIENT not in caplog.text and "adm-0002" not in caplog.text
