"""Several beds per daemon in the configuration: ``[[beds]]``, ``[discover]``, and the command line's
``--stream`` repeated and ``--type`` without a name (pure: no stream, no model)."""

from __future__ import annotations

import pytest

from realtime.cli import build_detect_parser, overrides_from
from realtime.config import IMPLICIT_BED, BedConfig, ConfigError, StreamConfig, build_config, static_beds


def test_beds_are_listed_labelled_and_take_the_stream_sections_channel_choice_unless_they_set_their_own():
    cfg = build_config(
        {
            "stream": {"exclude": ["DC*"], "stale_after_s": 2.0},
            "beds": [{"bed": "bed-1", "name": "amp-1"}, {"name": "amp-2", "include": ["C*"], "exclude": []}],
        }
    )
    one, two = static_beds(cfg)
    assert (one.bed, one.name, two.bed) == ("bed-1", "amp-1", "amp-2")  # a bed without a label: its stream's name
    assert one.channel_choice(cfg.stream).exclude == ("DC*",) and one.channel_choice(cfg.stream).stale_after_s == 2.0
    assert two.channel_choice(cfg.stream).include == ("C*",) and two.channel_choice(cfg.stream).exclude == ()


def test_a_stream_section_alone_is_one_unlabelled_bed_as_before():
    cfg = build_config({"stream": {"name": "bed1", "include": ["EEG *"]}})
    (bed,) = static_beds(cfg)
    assert bed.bed == IMPLICIT_BED and bed.name == "bed1" and bed.include == ("EEG *",)


def test_bad_bed_lists_are_refused_with_every_error_quoting_the_value():
    with pytest.raises(ConfigError) as err:
        build_config(
            {
                "beds": [{"bed": "x"}, {"name": "a", "colour": "red"}, {"name": "a"}, {"name": 3}, "bed"],
                "discover": {"type": "EEG", "beds": {"amp-1": ""}},
            }
        )
    text = str(err.value)
    for part in (
        "beds[0]: give at least one of name, type, source_id, got {'bed': 'x'}",
        "unknown key beds[1].colour",
        "beds: every bed needs its own label, got ['a'] more than once",
        "beds[3].name: expected a string, got 3",
        "beds[4]: expected a table, got 'bed'",
        "discover.beds.amp-1: expected a bed label, got ''",
        "a daemon either lists its beds or discovers them",
    ):
        assert part in text, (part, text)


def test_discovery_maps_source_ids_to_labels_and_names_no_static_bed():
    cfg = build_config({"discover": {"type": "EEG", "beds": {"amp-0042": "ward3-bed7"}}})
    assert static_beds(cfg) == ()
    assert cfg.discover.label("amp-0042") == "ward3-bed7" and cfg.discover.label("amp-9") == "amp-9"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--stream", "bed1"], {"stream.name": "bed1"}),  # as before
        (
            ["--type", "EEG", "--stream", "n", "--source-id", "s"],
            {"stream.name": "n", "stream.type": "EEG", "stream.source_id": "s"},
        ),
        (["--type", "EEG", "--source-id", "s"], {"stream.type": "EEG", "stream.source_id": "s"}),
        (["--type", "EEG"], {"discover.type": "EEG"}),  # no name: every stream of the type is a bed
        (["--stream", "b", "--montage", "bipolar"], {"stream.name": "b", "signal.montage": "bipolar"}),
        (["--stream", "b", "--background-limit-uv", "0"], {"stream.name": "b", "signal.background_limit_uv": 0.0}),
        (
            ["--stream", "a", "--stream", "b", "--type", "eeg"],
            {"beds": [{"bed": "a", "name": "a", "type": "eeg"}, {"bed": "b", "name": "b", "type": "eeg"}]},
        ),
    ],
)
def test_the_command_line_names_one_bed_several_or_discovery(argv, expected):
    overrides = overrides_from(build_detect_parser().parse_args(argv))
    assert overrides == expected
    cfg = build_config({}, overrides)
    if "beds" in expected:
        assert [b.bed for b in static_beds(cfg)] == ["a", "b"] and cfg.sources["beds"] == "command line"


def test_stream_given_twice_with_one_source_id_is_a_usage_error(capsys):
    from realtime.cli import detect_main

    with pytest.raises(SystemExit) as exc:
        detect_main(["--stream", "a", "--stream", "b", "--source-id", "x"])
    assert exc.value.code == 2 and "--source-id names one stream" in capsys.readouterr().err


def test_a_bed_takes_only_its_own_identity_from_the_bed():
    s = StreamConfig(name="EEG", type="eeg", source_id="x", lock_source=False)
    got = BedConfig(bed="b", source_id="amp").channel_choice(s)
    assert (got.name, got.type, got.source_id, got.lock_source) == ("", "", "amp", False)


def test_the_beds_of_a_daemon_are_spread_over_the_hop():
    """Each bed's windows come due at its own phase of the hop (Daemon.next_phase: multiples of the golden ratio's
    fraction), so that a daemon's beds are not all scored in one call; the first bed, and a bed alone, at 0."""
    from realtime.daemon import Daemon

    beds = [{"bed": f"bed-{i}", "name": f"amp-{i}"} for i in range(4)]
    d = Daemon(build_config({"beds": beds}), env={})
    assert [round(b.phase, 3) for b in d.beds.values()] == [0.0, 0.618, 0.236, 0.854]
    assert d.next_phase() == pytest.approx(0.472, abs=1e-3)  # a bed added later (discovery, reload) takes the next
    alone = Daemon(build_config({"stream": {"name": "EEG"}}), env={})
    assert [b.phase for b in alone.beds.values()] == [0.0]


def test_a_beds_patient_is_checked_and_never_shown():
    """``patient`` (``[stream]`` for the one bed, each ``[[beds]]``' own, ``--patient``): validated, kept, and shown
    by the configuration's logs and errors as given-or-not only."""
    from realtime.config import PATIENT_SHOWN, config_to_dict

    cfg = build_config({"beds": [{"name": "a", "patient": "MRN-0001"}, {"name": "b"}]})
    assert [b.patient for b in static_beds(cfg)] == ["MRN-0001", ""]
    assert "MRN-0001" not in repr(cfg) and "MRN-0001" not in str(config_to_dict(cfg))
    assert [b.get("patient") for b in config_to_dict(cfg)["beds"]] == [PATIENT_SHOWN, None]
    (one,) = static_beds(build_config({}, {"stream.name": "bed1", "stream.patient": "MRN-0002"}))
    assert one.patient == "MRN-0002"
    with pytest.raises(ConfigError) as err:
        build_config(
            {
                "stream": {"patient": "MRN-0003"},
                "beds": [{"name": "a", "patient": " MRN-0004"}, {"patient": 1234567}, {"name": "c", "patient": 99}],
            }
        )
    text = str(err.value)
    for part in (
        "stream.patient: names the patient of the one stream; with [[beds]] give each bed its own patient",
        "beds[a].patient: expected printable text without surrounding spaces, got 9 characters",
        "beds[1]: give at least one of name, type, source_id, got {'patient': '(given)'}",
        "beds[2].patient: expected a string, got int (a patient is not shown)",
    ):
        assert part in text, (part, text)
    assert not any(secret in text for secret in ("MRN-0003", "MRN-0004", "1234567", "99"))


def test_patient_on_the_command_line_names_the_one_bed_only(capsys):
    from realtime.cli import detect_main

    assert overrides_from(build_detect_parser().parse_args(["--stream", "b", "--patient", "MRN-0001"])) == {
        "stream.name": "b",
        "stream.patient": "MRN-0001",
    }
    for argv, said in (
        (["--stream", "a", "--stream", "b", "--patient", "P"], "--patient names one bed's patient"),
        (["--file", "x.edf", "--patient", "P"], "--patient is for live runs"),
    ):
        with pytest.raises(SystemExit) as exc:
            detect_main(argv)
        assert exc.value.code == 2 and said in capsys.readouterr().err


def test_discovered_beds_take_their_patient_from_discover_patients_never_shown():
    from realtime.config import PATIENT_SHOWN, config_to_dict

    cfg = build_config({"discover": {"type": "EEG", "patients": {"amp-1": "adm-0001"}}})
    assert cfg.discover.patient("amp-1") == "adm-0001" and cfg.discover.patient("amp-2") == ""
    assert config_to_dict(cfg)["discover"]["patients"] == {"amp-1": PATIENT_SHOWN}
    assert "adm-0001" not in repr(cfg)
    with pytest.raises(ConfigError) as err:
        build_config({"discover": {"type": "EEG", "patients": {"amp-1": 1234567, "amp-2": "adm-0002 "}}})
    text = str(err.value)
    assert "discover.patients.amp-1: expected a string, got int (a patient is not shown)" in text
    assert "discover.patients.amp-2: expected printable text without surrounding spaces, got 9 characters" in text
    assert "1234567" not in text and "adm-0002" not in text
    with pytest.raises(ConfigError, match=r"discover\.patients: expected a table of source id = patient, got list"):
        build_config({"discover": {"type": "EEG", "patients": ["adm-0001"]}})


def test_a_single_stream_flag_beside_the_files_beds_is_said_not_to_be_used():
    """--stream / --source-id given once with [[beds]] in the file: the file's beds run, and the start-up log says
    the flags select nothing (they were silently ignored); --stream given more than once replaces the beds."""
    from realtime.config import unused_stream_flags

    ward = {"beds": [{"name": "amp-a"}, {"name": "amp-b"}]}
    said = unused_stream_flags(build_config(ward, {"stream.name": "mybed", "stream.source_id": "SID"}))
    assert said == (
        "--stream 'mybed' and --source-id 'SID' from the command line not used: the config file's [[beds]] (2) are "
        "this daemon's beds (give --stream once per bed to replace them)"
    )
    assert unused_stream_flags(build_config(ward, {})) is None
    assert unused_stream_flags(build_config({}, {"stream.name": "mybed"})) is None
    replaced = build_config(ward, {"beds": [{"bed": n, "name": n} for n in ("x", "y")]})
    assert unused_stream_flags(replaced) is None and [b.name for b in replaced.beds] == ["x", "y"]


@pytest.mark.parametrize("timeout", ["inf", "nan", "1e7", "0"])
def test_realtime_alerts_refuses_a_timeout_zeromq_cannot_take(timeout, capsys):
    """--timeout-s inf or 1e7 s: a usage error quoting it (exit 2), where ZeroMQ's millisecond timeout overflowed."""
    from realtime.cli import alerts_main

    with pytest.raises(SystemExit) as info:
        alerts_main(["--ack", "1", "--timeout-s", timeout, "--replay-endpoint", "tcp://127.0.0.1:1"])
    assert info.value.code == 2 and "--timeout-s must be in (0, 86400] s, got" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "said"),
    [(["--speed", "inf"], "--speed must be"), (["--file", "/nonexistent.edf"], "is not a recording file")],
)
def test_realtime_demo_refuses_what_its_replay_would_refuse_before_starting_anything(args, said, capsys):
    """An infinite speed or a missing recording: exit 2 at once, saying why (the detector waited 12 s for a replay
    that had exited, then summed up "no seizure onset")."""
    from realtime.demo import main

    assert main(args) == 2 and said in capsys.readouterr().err
