"""realtime.metrics: a real HTTP scrape, parsed with prometheus_client's parser."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from realtime.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]

CONTRACT = {  # docs/architecture.md, "Contract: metrics": family name -> (type, labels)
    "realtime_detect_samples_received": ("counter", {"stream"}),
    "realtime_detect_windows_processed": ("counter", {"stream"}),
    "realtime_detect_inference_duration_seconds": ("histogram", set()),
    "realtime_detect_end_to_end_latency_seconds": ("histogram", {"stream"}),
    "realtime_detect_alerts_published": ("counter", {"topic"}),
    "realtime_detect_stream_connected": ("gauge", {"stream"}),
    "realtime_detect_buffer_fill_ratio": ("gauge", {"stream"}),
    "realtime_detect_seizure_probability": ("gauge", {"stream"}),
    "realtime_detect_alarm_active": ("gauge", {"stream"}),
    "realtime_detect_alarm_acknowledged": ("gauge", {"stream"}),
    "realtime_detect_acks": ("counter", {"stream"}),
    "realtime_detect_seizure_onsets": ("counter", {"stream"}),
    "realtime_detect_reannouncements": ("counter", {"stream"}),
    "realtime_detect_channels_scored": ("gauge", {"stream"}),
    "realtime_detect_clock_jumps": ("counter", {"stream"}),
    "realtime_detect_windows_skipped": ("counter", {"stream"}),
    "realtime_detect_inlet_backlog_seconds": ("gauge", {"stream"}),
    "realtime_detect_channels_left_out": ("gauge", {"stream"}),
    "realtime_detect_channels_amplitude_atypical": ("gauge", {"stream"}),
    "realtime_detect_channels_scaled": ("gauge", {"stream"}),
    "realtime_detect_channels_excluded": ("gauge", {"stream"}),
    "realtime_detect_decision_settling": ("gauge", {"stream"}),
    "realtime_detect_model_info": ("gauge", {"model_version", "architecture", "backend", "device", "precision"}),
    "realtime_detect_errors": ("counter", {"kind"}),
    "realtime_detect_stream_reconnects": ("counter", {"stream"}),
    "realtime_detect_last_window_timestamp_seconds": ("gauge", {"stream"}),
}


def scrape(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


@pytest.mark.integration
def test_every_contract_metric_is_served_with_its_type_and_labels():
    m = Metrics()
    try:
        port = m.serve("127.0.0.1", 0)
        assert port > 0
        m.init_stream("bed1")
        m.set_model_info(model_version="toy-1", architecture="toy", backend="tensorflow", device="CPU")
        m.samples_received.labels(stream="bed1").inc(256)
        m.windows_processed.labels(stream="bed1").inc()
        m.inference_duration.observe(0.004)
        m.end_to_end_latency.labels(stream="bed1").observe(0.3)
        m.alerts_published.labels(topic="seizure.onset").inc()
        m.seizure_probability.labels(stream="bed1").set(0.93)
        m.last_window_timestamp.labels(stream="bed1").set(1.7e9)
        m.error("chunk")
        families = scrape(port)
        # both ways: a metric added to Metrics without the contract (and its docs) fails here too
        served = {n for n in families if n.startswith("realtime_detect_") and not n.endswith("_created")}
        assert served == set(CONTRACT), f"served, not in the contract: {served - set(CONTRACT)}"
        for name, (kind, labels) in CONTRACT.items():
            assert name in families, f"{name} missing"
            fam = families[name]
            assert fam.type == kind, (name, fam.type)
            assert fam.samples, f"{name} has no samples"
            for sample in fam.samples:
                assert labels <= set(sample.labels), (name, sample.labels)

        def value(family, sample_name, **labels):
            return next(
                s.value
                for s in families[family].samples
                if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
            )

        assert value("realtime_detect_samples_received", "realtime_detect_samples_received_total", stream="bed1") == 256
        assert (
            value("realtime_detect_inference_duration_seconds", "realtime_detect_inference_duration_seconds_count") == 1
        )
        assert value("realtime_detect_errors", "realtime_detect_errors_total", kind="chunk") == 1
        assert value("realtime_detect_errors", "realtime_detect_errors_total", kind="inference") == 0
        assert value("realtime_detect_model_info", "realtime_detect_model_info", backend="tensorflow") == 1
        # Model info is replaced, not accumulated.
        m.set_model_info(
            model_version="toy-2", architecture="toy", backend="tensorflow", device="CPU", precision="bfloat16"
        )
        info = scrape(port)["realtime_detect_model_info"].samples
        assert [(s.labels["model_version"], s.labels["precision"]) for s in info] == [("toy-2", "bfloat16")]
    finally:
        m.close()


def test_the_contract_is_the_documented_one():
    """Every metric of the contract is in docs/architecture.md's table, with its exposed name."""
    section = (REPO / "docs" / "architecture.md").read_text().split("## Contract: metrics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\|\s*`(realtime_detect_[a-z0-9_]+)", section, flags=re.M))
    exposed = {name + ("_total" if kind == "counter" else "") for name, (kind, _) in CONTRACT.items()}
    assert exposed == documented, (exposed - documented, documented - exposed)


def test_registries_are_private_so_two_instances_coexist():
    a, b = Metrics(), Metrics()
    a.windows_processed.labels(stream="x").inc()
    assert b.registry.get_sample_value("realtime_detect_windows_processed_total", {"stream": "x"}) is None
    assert a.registry.get_sample_value("realtime_detect_windows_processed_total", {"stream": "x"}) == 1
