"""Config values that used to pass validation and then crash, hang or wait for ever (issue 12, defect 5):
non-finite numbers, bounds, and the window settings against the model's window."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from realtime.config import (
    MAX_BUFFER_S,
    Config,
    ConfigError,
    WindowConfig,
    apply_model_settings,
    build_config,
    load_config,
    window_errors,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED_WINDOW_S = 1024 / 250.0


def errors_of(raw: dict, overrides: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        build_config(raw, overrides)
    return info.value.errors


def test_every_float_setting_refuses_nan_and_inf_by_name(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text(
        "[stream]\nstale_after_s = inf\nresolve_timeout_s = nan\n"
        "[window]\nhop_s = inf\nbuffer_s = -inf\n"
        "[signal]\namplitude_high_uv = nan\n"
        "[decision]\nmin_duration_s = inf\nbed_false_rate = nan\n"
        "[alerts]\nheartbeat_s = nan\nreannounce_s = inf\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    found = info.value.errors
    for key, value in (
        ("stream.stale_after_s", "inf"),
        ("stream.resolve_timeout_s", "nan"),
        ("window.hop_s", "inf"),
        ("window.buffer_s", "-inf"),
        ("signal.amplitude_high_uv", "nan"),
        ("decision.min_duration_s", "inf"),
        ("decision.bed_false_rate", "nan"),
        ("alerts.heartbeat_s", "nan"),
        ("alerts.reannounce_s", "inf"),
    ):
        assert f"{key}: expected a finite number, got {value}" in found, (key, found)
    assert len(found) == 9, found  # one error each: the rejected value is not checked again


def test_the_bed_rules_correlation_is_refused_out_of_range_quoting_it():
    assert errors_of({"decision": {"channel_correlation": 1.0}}) == [
        "decision.channel_correlation: must be in [0, 1), got 1.0"
    ]
    assert errors_of({}, {"decision.channel_correlation": -0.5}) == [
        "decision.channel_correlation: must be in [0, 1), got -0.5"
    ]


def test_a_flag_value_of_nan_is_refused():
    assert errors_of({}, {"window.hop_s": math.nan}) == ["window.hop_s: expected a finite number, got nan"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"window": {"hop_s": 1e-7}}, "window.hop_s: must be in [0.05, 600] s, got 1e-07"),
        ({"window": {"buffer_s": 1e12}}, "window.buffer_s: must be in [10, 600] s, got 1000000000000.0"),
        ({"window": {"buffer_s": 5}}, "window.buffer_s: must be in [10, 600] s, got 5.0"),
        ({"window": {"hop_s": 20.0, "buffer_s": 20.0}}, "window.hop_s: must be shorter than window.buffer_s=20.0"),
        ({"stream": {"resolve_timeout_s": 60}}, "stream.resolve_timeout_s: must be in (0, 10] s, got 60.0"),
        ({"stream": {"stale_after_s": 1e9}}, "stream.stale_after_s: must be in (0, 3600] s, got 1000000000.0"),
        ({"stream": {"stale_after_s": 0}}, "stream.stale_after_s: must be in (0, 3600] s, got 0.0"),
        ({"stream": {"max_chunk_samples": 2**40}}, "stream.max_chunk_samples: must be in [1, 1048576], got"),
        ({"signal": {"amplitude_span_s": 1e12}}, "signal.amplitude_span_s: must be in (0, 3600] s"),
        (
            {"signal": {"resample_filter": "fast"}},
            "signal.resample_filter: expected one of 'training', 'short', got 'fast'",
        ),
        ({"decision": {"merge_gap_s": 1e6}}, "decision.merge_gap_s: must be in [0, 3600] s, got 1000000.0"),
        ({"decision": {"settle_s": -1}}, "decision.settle_s: must be in [0, 3600] s, got -1.0"),
        ({"alerts": {"heartbeat_s": 0.001}}, "alerts.heartbeat_s: must be in [0.1, 3600] s, got 0.001"),
        ({"alerts": {"reannounce_s": 0.01}}, "alerts.reannounce_s: must be 0 (off) or in [1, 3600] s, got 0.01"),
        # TOML integers have no size: a float setting given one too large for a float, and integer settings that
        # passed and then broke the decision's buffers (a SIGHUP with them stopped the daemon)
        ({"window": {"hop_s": 10**400}}, "window.hop_s: expected a finite number, got 1000000000"),
        ({"decision": {"smoothing_windows": 10**23}}, "decision.smoothing_windows: must be in [1, 3600], got 1000"),
        ({"decision": {"k_channels": 10**23}}, "decision.k_channels: must be in [1, 4096], got 1000"),
    ],
)
def test_bounds_quote_the_value(raw, expected):
    found = errors_of(raw)
    assert any(e.startswith(expected) for e in found), (expected, found)


def test_the_defaults_the_shipped_file_and_the_edges_pass():
    assert load_config(REPO / "config" / "realtime-detect.toml") == build_config({})
    build_config(
        {
            "window": {"hop_s": 0.05, "buffer_s": MAX_BUFFER_S},
            "stream": {"resolve_timeout_s": 10, "stale_after_s": 3600},
            "alerts": {"heartbeat_s": 0.1, "reannounce_s": 0},
        }
    )


def test_a_config_built_in_code_with_inf_is_refused_where_the_model_settings_are_applied():
    cfg = Config(window=WindowConfig(hop_s=math.inf))
    with pytest.raises(ConfigError, match=r"window\.hop_s: expected a finite number, got inf"):
        apply_model_settings(cfg, {})


def test_window_settings_against_the_models_window():
    fits = build_config({"window": {"hop_s": 1.0, "buffer_s": 10.0}})
    assert window_errors(fits, SHIPPED_WINDOW_S) == []
    # valid without a model (hop < buffer), not with the shipped model's 4.096 s window
    long_hop = build_config({"window": {"hop_s": 6.0, "buffer_s": 10.0}})
    hop_error, buffer_error = window_errors(long_hop, SHIPPED_WINDOW_S)
    assert hop_error.startswith("window.hop_s: must be at most the model's 4.096 s window") and "got 6.0" in hop_error
    assert buffer_error == (
        "window.buffer_s: must hold the model's 4.096 s window + window.hop_s 6 s + 0.25 s for resampling "
        "= 10.346 s, got 10.0"
    )
    # a model with a 20.48 s window does not fit the default 30 s buffer with a 10 s hop
    with pytest.raises(ConfigError) as info:
        apply_model_settings(build_config({"window": {"hop_s": 10.0}}), {}, window_s=20.48)
    assert info.value.errors == [
        "window.buffer_s: must hold the model's 20.48 s window + window.hop_s 10 s + 0.25 s for resampling "
        "= 30.73 s, got 30.0"
    ]
    assert window_errors(fits, math.nan) == ["the model's window must last a finite positive time, got nan s"]
    # without window_s (a SIGHUP reload, which keeps window.* anyway) nothing is checked against the model
    apply_model_settings(long_hop, {})


def test_a_config_file_that_is_not_utf8_is_a_configuration_error(tmp_path):
    """A Latin-1 "café" in a comment: the file's error, not a UnicodeDecodeError (on SIGHUP it stopped the daemon)."""
    path = tmp_path / "latin1.toml"
    path.write_bytes("[decision]\non_threshold = 0.9  # caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(path)
