"""config/prometheus: promtool check config / check rules / test rules, and the rules' metric names
against what the daemon really exports."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from ops_promql import contract_metrics, exported_sample_names, family, metric_names, unknown_names

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "config" / "prometheus"
CONFIG = PROM_DIR / "prometheus.yml"
RULES = PROM_DIR / "rules" / "realtime-detect.rules.yml"
RULE_TESTS = sorted((PROM_DIR / "tests").glob("*.yml"))

REQUIRED_ALERTS = {
    "RealtimeDetectDown",
    "StreamDisconnected",
    "NoWindowsProcessed",
    "InferenceLatencyHigh",
    "SeizureAlarmActive",
}


def _promtool(promtool: str, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=REPO)


def _alerts() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"] if "alert" in rule]


def test_ops_promtool_check_config(promtool):
    proc = _promtool(promtool, "check", "config", CONFIG)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 rule files found" in proc.stdout + proc.stderr  # the rules/ glob resolves


def test_ops_promtool_check_rules(promtool):
    proc = _promtool(promtool, "check", "rules", RULES)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ops_promtool_test_rules(promtool):
    assert RULE_TESTS, "no rule unit tests in config/prometheus/tests/"
    proc = _promtool(promtool, "test", "rules", *RULE_TESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_ops_every_alert_is_unit_tested_firing_and_quiet():
    """Each alert has a rule test where it fires and one where it is expected silent."""
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in _alerts()}
    assert names >= REQUIRED_ALERTS
    assert names - fired == set(), "alerts never seen firing in a rule test"
    assert names - quiet == set(), "alerts never checked to stay quiet in a rule test"


def test_ops_alerts_name_the_bed_and_have_severity():
    for rule in _alerts():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        text = rule["annotations"]["summary"] + rule["annotations"]["description"]
        assert "{{ $labels.stream }}" in text or "{{ $labels.instance }}" in text, rule["alert"]


@pytest.mark.integration
def test_ops_rules_use_only_exported_metrics():
    """Every series a rule reads exists in a real scrape of the daemon's Metrics (and in the
    architecture contract), so no alert silently watches a misspelt name."""
    exported = exported_sample_names()
    contract = contract_metrics((REPO / "docs" / "architecture.md").read_text())
    for rule in _alerts():
        assert unknown_names(rule["expr"], exported) == set(), rule["alert"]
        for name in metric_names(rule["expr"]) - {"up"}:
            assert family(name) in contract, (rule["alert"], name)
