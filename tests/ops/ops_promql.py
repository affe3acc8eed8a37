"""PromQL helpers for the operations tests: metric names in an expression, the names the daemon
really exports, and Grafana template variables replaced so that Prometheus can run a panel query."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

DASHBOARD = Path(__file__).resolve().parents[2] / "config" / "grafana" / "dashboards" / "realtime-detect.json"
_METRIC = re.compile(r"\brealtime_detect_[a-zA-Z0-9_:]*")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names(expr: str) -> set[str]:
    """Every ``realtime_detect_*`` series name in a PromQL expression, plus ``up`` if used."""
    names = set(_METRIC.findall(expr))
    if re.search(r"(?<![\w:])up(?![\w:(])", expr):
        names.add("up")
    return names


def exported_sample_names() -> set[str]:
    """Sample names (``..._total``, ``..._bucket`` ...) of a real HTTP scrape of
    :class:`realtime.metrics.Metrics`, with every labelled series created once."""
    from realtime.metrics import Metrics

    m = Metrics()
    try:
        port = m.serve("127.0.0.1", 0)
        m.init_stream("bed1")
        m.set_model_info(model_version="v", architecture="toy", backend="tensorflow", device="CPU")
        m.end_to_end_latency.labels(stream="bed1")
        m.alerts_published.labels(topic="status.heartbeat")
        m.last_window_timestamp.labels(stream="bed1")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    finally:
        m.close()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def unknown_names(expr: str, exported: set[str]) -> set[str]:
    """Names in ``expr`` that the daemon does not export (``up`` is Prometheus's own)."""
    return {n for n in metric_names(expr) if n != "up" and n not in exported}


def grafana_to_promql(expr: str, *, stream: str, instance: str, host: str = ".*", rate_interval: str = "30s") -> str:
    """Replace the dashboard's template variables with values Prometheus understands (``host``: the
    host variable's value, ``.*`` for its "All")."""
    out = expr.replace("$__rate_interval", rate_interval).replace("${__rate_interval}", rate_interval)
    out = out.replace("$__interval", "5s")
    for name, value in (("stream", stream), ("instance", instance), ("host", host)):
        out = out.replace(f"${{{name}}}", value).replace(f"${name}", value)
    leftover = re.findall(r"\$\{?\w+", out)
    if leftover:
        raise ValueError(f"unknown template variable(s) {leftover} in {expr!r}")
    return out


def family(name: str) -> str:
    """``realtime_detect_x_total`` / ``_bucket`` / ``_sum`` / ``_count`` -> the metric as documented."""
    for suffix in _HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def contract_metrics(architecture_md: str) -> set[str]:
    """Metric names (as written, e.g. ``realtime_detect_samples_received_total``) in the
    "Contract: metrics" table of docs/architecture.md."""
    section = architecture_md.split("## Contract: metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\|\s*`(realtime_detect_[a-z0-9_]+)", section, flags=re.M))


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panel_exprs(dash: dict) -> list[tuple[str, str]]:
    """``(where, expr)`` for every panel target, nested row panels and annotation queries."""
    out = []

    def walk(panels):
        for p in panels:
            if p.get("type") == "row":
                walk(p.get("panels", []))
                continue
            targets = p.get("targets") or []
            assert targets, f"panel {p.get('title')!r} has no query"
            for t in targets:
                assert t.get("expr"), f"panel {p.get('title')!r} target {t.get('refId')} has no expr"
                out.append((f"panel {p['title']!r}", t["expr"]))

    walk(dash["panels"])
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            out.append((f"annotation {a['name']!r}", a["expr"]))
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            out.append((f"variable {v['name']!r}", q))
    return out
