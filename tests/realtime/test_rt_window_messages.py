"""One path from a scored window to its messages (window_messages) and one signal-quality report
(quality_detail), shared by the daemon and offline review."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.decision import DecisionEvent
from realtime.messages import Envelope, MessageError, Sequencer, encode, event_messages, quality_detail, window_messages
from realtime.pipeline import StreamIdentity, WindowResult

ENV = Envelope.of(StreamIdentity("EEG-bed3", "EEG", "amp-42"), "ward-pc", "inception-2026.11.24")
NAMES = ["Fp1", "Fp2", "T3", "T3#2"]
ONSET = DecisionEvent("onset", 7, 100.5, 0.93, (3, 0), None, None, 96.4, 100.5, 102.5)
OFFSET = DecisionEvent("offset", 6, 90.0, 0.2, (), 60.0, 30.0, 95.9, 100.0, 100.0)


def result(events) -> WindowResult:
    return WindowResult(
        window_start=96.4,
        window_end=100.5,
        newest_sample_time=100.5,
        probability=0.93,
        channel_probabilities=np.array([0.9, 0.1, 0.2, 0.95]),
        events=list(events),
    )


def test_a_window_without_events_has_no_messages():
    assert window_messages(result([]), ENV, NAMES) == []


def test_events_become_onset_and_offset_messages_in_order():
    msgs = window_messages(result([OFFSET, ONSET]), ENV, NAMES)
    assert [m["type"] for m in msgs] == ["seizure.offset", "seizure.onset"]
    off, on = msgs
    assert on["channels"] == ["T3#2", "Fp1"] and on["event_id"] == 7 and on["time"] == 100.5
    assert (on["window_start"], on["window_end"], on["publish_time"], on["probability"]) == (96.4, 100.5, 102.5, 0.93)
    assert (off["onset_time"], off["duration_s"], off["event_id"]) == (60.0, 30.0, 6)
    for m in msgs:
        assert m["stream"] == {"name": "EEG-bed3", "type": "EEG", "source_id": "amp-42"}
        assert m["host"] == "ward-pc" and m["model_version"] == "inception-2026.11.24"
        assert "seq" not in m and "wall_time" not in m  # stamped by the publisher / offline sequencer
        encode(Sequencer().stamp(m))  # valid against the schema once stamped
    assert event_messages([OFFSET, ONSET], ENV, NAMES) == msgs


def test_an_unknown_event_kind_is_refused_quoting_it():
    odd = DecisionEvent("pause", 1, 0.0, 0.5, (), None, None, 0.0, 1.0, 1.0)
    with pytest.raises(MessageError, match="'pause'"):
        window_messages(result([odd]), ENV, NAMES)


REPORT = {
    "n_channels": 4,
    "median_uv": {"Fp1": 3.21, "Fp2": 40.0, "T3": 612.04, "T3#2": 50.0},
    "low_uv": 8.7,
    "high_uv": 465.0,
    "max_std_uv": 5000.0,
}


def test_quality_detail_all_usable():
    assert quality_detail({}, {}, **REPORT) == "every channel usable (4 of 4 scored)"


def test_quality_detail_lists_channels_left_out_with_reasons_and_atypical_amplitude():
    text = quality_detail(
        {"T3#2": "flat", "Fp2": "implausible"}, {"T3": "amplitude_high", "Fp1": "amplitude_low"}, **REPORT
    )
    assert text.startswith("channels left out: Fp2 (implausible), T3#2 (flat) (2 of 4 scored)")
    assert "varies by more than 5000 uV: check the stream's units and gain" in text
    assert (
        "amplitude outside the model's training range (median window std over minutes, expected 8.7-465 uV): "
        "Fp1 (3.2 uV, low), T3 (612.0 uV, high): still scored"
    ) in text


def test_quality_detail_without_implausible_channels_says_nothing_about_units():
    text = quality_detail({"Fp1": "railed"}, {}, **REPORT)
    assert text == "channels left out: Fp1 (railed) (3 of 4 scored)"
