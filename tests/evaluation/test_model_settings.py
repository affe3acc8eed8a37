"""evaluation.model_settings: the model's decision and signal settings written into its card, on real exports."""

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest

from evaluation.model_settings import (
    SettingsError,
    decision_settings,
    derived_by,
    signal_settings,
    write_card_settings,
    write_optional_setting,
)
from realtime.model import read_card

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "realtime" / "models" / "default"
CHOSEN = {
    "on_threshold": 0.8,
    "off_threshold": 0.5,
    "smoothing_windows": 3,
    "min_duration_s": 1.0,
    "detected": 20,
    "false_alarms": 0,
}  # a tuning result: extra keys are ignored


@pytest.fixture
def export(tmp_path):
    out = tmp_path / "export"
    shutil.copytree(SHIPPED, out)
    os.chmod(out / "model_card.json", 0o644)
    return out


def test_shipped_card_has_the_settings_it_runs_with():
    s = read_card(SHIPPED)["settings"]
    assert {k: v for k, v in s["decision"].items() if k != "derived_by"} == {
        "on_threshold": 0.6,
        "off_threshold": 0.5,
        "smoothing_windows": 1,
        "min_duration_s": 2.0,
        "channel_false_rate": 0.00137,
        "channel_correlation": 0.149,  # docs/background.md "A bed rule for channels that err together"
        "bed_false_rate": 0.0033,
    }
    assert "train-detector evaluate --tune-only" in s["decision"]["derived_by"]
    assert "; channel_false_rate: python -m evaluation.background --gain 3" in s["decision"]["derived_by"]
    assert "; channel_correlation: python -m experiments.bed_rule" in s["decision"]["derived_by"]
    assert (s["signal"]["amplitude_low_uv"], s["signal"]["amplitude_high_uv"]) == (8.7, 465.0)
    assert s["signal"]["background_limit_uv"] == 50.0  # docs/background.md "The limit corrected"
    assert "python -m experiments.amplitude" in s["signal"]["derived_by"]
    assert "; background_limit_uv: python -m experiments.scaling --limit-gains 2.5 2 1.5" in s["signal"]["derived_by"]
    assert s["signal"]["background_delta_limit_uv"] == 35.0  # docs/background.md "A limit for delta"
    assert "; background_delta_limit_uv: python -m experiments.scaling --delta-levels 70" in s["signal"]["derived_by"]
    # what the card says is what each section's checker accepts
    assert decision_settings(s["decision"], s["decision"]["derived_by"]) == s["decision"]
    assert signal_settings(8.7, 465.0, s["signal"]["derived_by"], 50.0, 35.0) == s["signal"]


def test_writes_decision_then_signal_keeping_every_other_key(export):
    before = json.loads((export / "model_card.json").read_text())
    stamp = derived_by(
        "train-detector evaluate --tune-only --write-card", dt.datetime(2026, 12, 1, 9, 5, tzinfo=dt.UTC)
    )
    assert stamp == "train-detector evaluate --tune-only --write-card (2026-12-01 09:05 UTC)"
    got = write_card_settings(export, "decision", decision_settings(CHOSEN, stamp))
    kept = before["settings"]["decision"]["channel_false_rate"]  # measured by another command: kept, with its note
    assert got == {
        "on_threshold": 0.8,
        "off_threshold": 0.5,
        "smoothing_windows": 3,
        "min_duration_s": 1.0,
        "channel_false_rate": kept,
        "channel_correlation": before["settings"]["decision"]["channel_correlation"],  # the bed rule's: kept too
        "bed_false_rate": before["settings"]["decision"]["bed_false_rate"],
        "derived_by": got["derived_by"],
    }
    assert got["derived_by"].startswith(f"{stamp}; channel_false_rate: python -m evaluation.background")
    sig = signal_settings(10, 400.5, "python -m experiments.amplitude runs/x (2026-12-01 09:06 UTC)")
    write_card_settings(export, "signal", sig)
    card = read_card(export)  # still a valid export: the sha256 list covers the model files, not the card
    limit = before["settings"]["signal"]["background_limit_uv"]  # measured by other commands: kept, with their notes
    assert card["settings"]["decision"] == got
    assert card["settings"]["signal"] == {
        "amplitude_low_uv": 10.0,
        "amplitude_high_uv": 400.5,
        "background_limit_uv": limit,
        "background_delta_limit_uv": before["settings"]["signal"]["background_delta_limit_uv"],
        "derived_by": f"{sig['derived_by']}; background_limit_uv: python -m experiments.scaling "
        "--limit-gains 2.5 2 1.5 (2026-12-03 16:49 UTC); background_delta_limit_uv: python -m experiments.scaling "
        "--delta-levels 70 (2026-12-04 14:39 UTC)",
    }
    assert {k: v for k, v in card.items() if k != "settings"} == {k: v for k, v in before.items() if k != "settings"}
    assert list(card)[: len(before)] == list(before)  # key order kept, settings appended
    # rewriting one section leaves the other alone
    write_card_settings(export, "decision", decision_settings({**CHOSEN, "on_threshold": 0.9}, stamp))
    card2 = read_card(export)
    assert card2["settings"]["signal"] == card["settings"]["signal"]
    assert card2["settings"]["decision"]["on_threshold"] == 0.9
    assert sorted(p.name for p in export.iterdir()) == [
        "model.tflite",
        "model_card.json",
        "saved_model",
        "saved_model_bfloat16",
    ]
    assert (export / "model_card.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    "change, message",
    [
        ({"on_threshold": 1.5}, r"decision.on_threshold must be in \(0, 1\], got 1.5"),
        ({"on_threshold": "0.6"}, r"decision.on_threshold must be a finite number, got '0.6'"),
        ({"off_threshold": 0.9}, r"decision.off_threshold must be in \[0, on_threshold=0.8\], got 0.9"),
        ({"smoothing_windows": 0}, r"decision.smoothing_windows must be >= 1, got 0"),
        ({"smoothing_windows": 2.5}, r"decision.smoothing_windows must be an integer, got 2.5"),
        ({"min_duration_s": float("nan")}, r"decision.min_duration_s must be a finite number, got nan"),
        ({"min_duration_s": -1}, r"decision.min_duration_s must be >= 0, got -1"),
        ({"min_duration_s": None}, r"decision.min_duration_s must be a finite number, got None"),
    ],
)
def test_bad_decision_values_are_refused_quoting_them(change, message):
    with pytest.raises(SettingsError, match=message):
        decision_settings({**CHOSEN, **change}, "x")


def test_bad_values_or_sections_write_nothing(export):
    card_bytes = (export / "model_card.json").read_bytes()
    with pytest.raises(SettingsError, match=r"decision settings lack 'min_duration_s': got keys"):
        decision_settings({"on_threshold": 0.7, "off_threshold": 0.5, "smoothing_windows": 1}, "x")
    with pytest.raises(SettingsError, match=r"need 0 < low < high, got 500.0 / 465.0"):
        signal_settings(500.0, 465.0, "x")
    with pytest.raises(SettingsError, match=r"signal.amplitude_high_uv must be a finite number, got inf"):
        signal_settings(8.7, float("inf"), "x")
    with pytest.raises(SettingsError, match=r"derived_by must name the command .*got ''"):
        signal_settings(8.7, 465.0, "")
    with pytest.raises(SettingsError, match=r"section must be one of \['decision', 'signal'\], got 'window'"):
        write_card_settings(export, "window", {"hop_s": 1.0})
    with pytest.raises(SettingsError, match=r"unknown key\(s\) \['k_channels'\]"):
        write_card_settings(export, "decision", {**decision_settings(CHOSEN, "x"), "k_channels": 2})
    with pytest.raises(SettingsError, match=r"decision.on_threshold must be in \(0, 1\], got 2"):
        write_card_settings(export, "decision", {**decision_settings(CHOSEN, "x"), "on_threshold": 2})
    with pytest.raises(SettingsError, match=r"signal settings lack 'derived_by'"):
        write_card_settings(export, "signal", {"amplitude_low_uv": 1.0, "amplitude_high_uv": 2.0})
    assert (export / "model_card.json").read_bytes() == card_bytes
    assert sorted(p.name for p in export.iterdir()) == [
        "model.tflite",
        "model_card.json",
        "saved_model",
        "saved_model_bfloat16",
    ]


def test_refuses_a_folder_that_is_not_a_valid_export(export, tmp_path):
    (export / "model.tflite").write_bytes(b"changed")
    card_bytes = (export / "model_card.json").read_bytes()
    with pytest.raises(SettingsError, match=r"cannot write settings into .*'model.tflite' has sha256"):
        write_card_settings(export, "signal", signal_settings(8.7, 465.0, "x"))
    assert (export / "model_card.json").read_bytes() == card_bytes
    with pytest.raises(SettingsError, match=r"cannot write settings into .*has no model_card.json"):
        write_card_settings(tmp_path, "signal", signal_settings(8.7, 465.0, "x"))


def test_evaluate_writes_the_card_only_with_the_search():
    from evaluation.evaluate import parse_args

    assert parse_args(["--tune-only", "--write-card"]).write_card
    with pytest.raises(SystemExit):
        parse_args(["--no-tune", "--write-card"])
    with pytest.raises(SystemExit):  # the flag that rewrote realtime/config.py and the TOML is gone
        parse_args(["--tune-only", "--write-defaults"])


def test_a_limit_measured_on_its_own_is_added_to_the_signal_section_keeping_the_rest(export):
    stamp = derived_by("python -m experiments.scaling --limit-gains 2", dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC))
    got = write_optional_setting(export, "signal", "background_limit_uv", 60.0, stamp)
    assert (got["amplitude_low_uv"], got["amplitude_high_uv"], got["background_limit_uv"]) == (8.7, 465.0, 60.0)
    # the amplitude bounds' and the delta limit's notes stay, the limit's old note is replaced by the new one
    assert got["derived_by"] == (
        "python -m experiments.amplitude runs/inception-scalp (2026-11-24 09:51 UTC); "
        "background_delta_limit_uv: python -m experiments.scaling --delta-levels 70 (2026-12-04 14:39 UTC); "
        "background_limit_uv: python -m experiments.scaling --limit-gains 2 (2026-12-04 08:00 UTC)"
    )
    assert got["background_delta_limit_uv"] == 35.0
    assert read_card(export)["settings"]["signal"] == got
    # the delta limit beside it: both kept, each with its note
    got = write_optional_setting(export, "signal", "background_delta_limit_uv", 30.0, stamp)
    assert (got["background_limit_uv"], got["background_delta_limit_uv"]) == (60.0, 30.0)
    assert got["derived_by"].endswith(
        "; background_delta_limit_uv: python -m experiments.scaling --limit-gains 2 (2026-12-04 08:00 UTC)"
    )
    assert "; background_limit_uv: python -m" in got["derived_by"]
    card_bytes = (export / "model_card.json").read_bytes()
    with pytest.raises(SettingsError, match=r"signal.background_delta_limit_uv must be >= 0 \(0: off\), got -2"):
        write_optional_setting(export, "signal", "background_delta_limit_uv", -2, stamp)
    with pytest.raises(SettingsError, match=r"signal.background_limit_uv must be >= 0 \(0: off\), got -1"):
        write_optional_setting(export, "signal", "background_limit_uv", -1, stamp)
    with pytest.raises(SettingsError, match=r"signal.amplitude_low_uv is not a setting written on its own"):
        write_optional_setting(export, "signal", "amplitude_low_uv", 1.0, stamp)
    card = json.loads(card_bytes)
    del card["settings"]["signal"]
    (export / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(SettingsError, match=r"has no signal settings to add background_limit_uv to: .*experiments.amp"):
        write_optional_setting(export, "signal", "background_limit_uv", 60.0, stamp)


def test_a_note_that_holds_a_semicolon_survives_rewriting_the_section(export):
    """A rate's note may quote a command whose own text holds "; " (written by hand from a measurement, as the
    slow-background fit's was): re-tuning the thresholds keeps the whole note, not its part before the "; "."""
    at = dt.datetime(2026, 12, 4, 20, 9, tzinfo=dt.UTC)
    rate_by = derived_by("python -m evaluation.background --gain 3 4 (0 of 100 windows; written: the 95 % bound)", at)
    write_optional_setting(export, "decision", "channel_false_rate", 3e-2, rate_by)
    stamp = derived_by("train-detector evaluate --tune-only --write-card", at)
    got = write_card_settings(export, "decision", decision_settings(CHOSEN, stamp))
    assert got["channel_false_rate"] == 3e-2
    assert got["derived_by"].startswith(f"{stamp}; ")
    assert (
        "; channel_false_rate: python -m evaluation.background --gain 3 4 (0 of 100 windows; written: the 95 % bound)"
        in (got["derived_by"])
    )


def test_a_pinned_resampling_filter_survives_a_new_signal_section(export):
    """The baseline's export (and a network's whose filter bank reaches above 40 Hz) writes a signal section with
    only ``resample_filter``: writing the amplitude bounds later keeps it and its note; a bad value is refused."""
    card = json.loads((export / "model_card.json").read_text())
    note = "resample_filter: evaluation.baseline.export_baseline: line length reads above 40 Hz"
    card["settings"]["signal"] = {"resample_filter": "training", "derived_by": note}
    (export / "model_card.json").write_text(json.dumps(card))
    got = write_card_settings(export, "signal", signal_settings(8.7, 465.0, "python -m experiments.amplitude run"))
    assert got["resample_filter"] == "training" and got["derived_by"].endswith(f"; {note}")
    assert read_card(export)["settings"]["signal"]["resample_filter"] == "training"
    with pytest.raises(SettingsError, match=r"signal.resample_filter must be one of 'training', 'short', got 'fast'"):
        signal_settings(8.7, 465.0, "x", resample_filter="fast")


def test_the_bed_rules_correlation_and_rate_survive_re_tuning_and_are_checked(export):
    """``channel_correlation`` and ``bed_false_rate`` (python -m experiments.bed_rule --write-card) are kept with their
    note when the thresholds are tuned again; a correlation of 1 or a rate of 0 is refused, quoting it."""
    at = dt.datetime(2026, 12, 5, 5, 0, tzinfo=dt.UTC)
    rule_by = derived_by("python -m experiments.bed_rule SCORES", at)
    write_optional_setting(export, "decision", "channel_correlation", 0.03, rule_by)
    write_optional_setting(export, "decision", "bed_false_rate", 1.1e-3, rule_by)
    got = write_card_settings(export, "decision", decision_settings(CHOSEN, derived_by("tune", at)))
    assert got["channel_correlation"] == 0.03 and got["bed_false_rate"] == 1.1e-3
    assert "; channel_correlation: python -m experiments.bed_rule" in got["derived_by"]
    assert "; bed_false_rate: python -m experiments.bed_rule" in got["derived_by"]
    with pytest.raises(SettingsError, match=r"decision.channel_correlation must be in \[0, 1\), got 1.0"):
        decision_settings({**CHOSEN, "channel_correlation": 1.0}, "x")
    with pytest.raises(SettingsError, match=r"decision.bed_false_rate must be in \(0, 1\), got 0"):
        decision_settings({**CHOSEN, "bed_false_rate": 0}, "x")
    assert decision_settings({**CHOSEN, "channel_correlation": 0}, "x")["channel_correlation"] == 0
