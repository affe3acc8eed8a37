"""config/grafana: the dashboard's queries name metrics the daemon really exports; provisioning files
point at the dashboard and a Prometheus datasource."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ops_promql import (
    contract_metrics,
    dashboard,
    exported_sample_names,
    family,
    metric_names,
    panel_exprs,
    unknown_names,
)

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "config" / "grafana"

# What issue 4 asks the per-bed dashboard to show, as the metric each view needs.
REQUIRED = {
    "realtime_detect_seizure_probability",  # seizure probability over time
    "realtime_detect_alarm_active",  # alarms
    "realtime_detect_stream_connected",  # stream status
    "realtime_detect_samples_received_total",  # samples per second
    "realtime_detect_inference_duration_seconds",  # inference latency percentiles
    "realtime_detect_end_to_end_latency_seconds",  # end-to-end latency percentiles
    "realtime_detect_errors_total",  # errors
    "realtime_detect_alerts_published_total",  # alerts by topic
    "realtime_detect_model_info",  # model table
}


@pytest.mark.integration
def test_ops_dashboard_queries_name_exported_metrics():
    """Against a real scrape of realtime.metrics.Metrics, and the architecture contract."""
    exported = exported_sample_names()
    contract = contract_metrics((REPO / "docs" / "architecture.md").read_text())
    used: set[str] = set()
    for where, expr in panel_exprs(dashboard()):
        assert unknown_names(expr, exported) == set(), f"{where}: {expr}"
        names = metric_names(expr) - {"up"}
        assert names or "up{" in expr, f"{where} reads no realtime_detect metric: {expr}"
        for name in names:
            assert family(name) in contract, f"{where}: {name} is not in docs/architecture.md"
        used |= {family(n) for n in names}
    assert REQUIRED - used == set(), "dashboard misses views"


def test_ops_dashboard_variables_are_defined_and_per_bed():
    dash = dashboard()
    variables = {v["name"]: v for v in dash["templating"]["list"]}

    def query(name: str) -> str:
        q = variables[name]["query"]
        return q["query"] if isinstance(q, dict) else q

    # Beds across hosts: host (from Prometheus's file SD labels; "All" = any, also no label), then the
    # beds of that host, then the daemon serving that bed (two hosts may each have a bed of one name).
    names = [v["name"] for v in dash["templating"]["list"]]
    assert names.index("host") < names.index("stream") < names.index("instance")
    assert query("host") == "label_values(realtime_detect_stream_connected, host)"
    assert variables["host"]["includeAll"] is True and variables["host"]["allValue"] == ".*"
    assert query("stream") == 'label_values(realtime_detect_stream_connected{host=~"$host"}, stream)'
    assert query("instance") == (
        'label_values(realtime_detect_stream_connected{host=~"$host", stream="$stream"}, instance)'
    )
    builtin = {"__rate_interval", "__interval", "__range"}
    for where, expr in panel_exprs(dash):
        for var in re.findall(r"\$\{?(\w+)", expr):
            assert var in variables or var in builtin, f"{where}: ${var} is not defined"
    # Every per-stream metric is filtered to the selected bed; the others to its daemon.
    for where, expr in panel_exprs(dash):
        if where.startswith("variable"):
            continue
        assert 'instance="$instance"' in expr, f"{where}: not one daemon's: {expr}"
        if "stream" in expr:  # a bed's series: that bed of that daemon, never a bed of one name on another host
            assert '{stream="$stream", instance="$instance"}' in expr, f"{where}: not per bed: {expr}"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    uids = {t["datasource"]["uid"] for p in dash["panels"] for t in p.get("targets", [])}
    assert uids == {"${datasource}"}


def test_ops_grafana_provisioning_points_at_dashboard_and_prometheus():
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["url"].startswith("http")
    prom = yaml.safe_load((REPO / "config" / "prometheus" / "prometheus.yml").read_text())
    assert source["jsonData"]["timeInterval"] == prom["global"]["scrape_interval"]
    dashboards = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "realtime-detect.yml").read_text())
    (provider,) = dashboards["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
    assert dashboard()["uid"] == "realtime-detect"
