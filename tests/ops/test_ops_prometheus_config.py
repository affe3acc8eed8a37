"""config/prometheus: promtool check config / check rules / test rules, and the rules' metric names
against what the daemon and the fan-in really export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml
from ops_promql import contract_metrics, exported_sample_names, family, metric_names, unknown_names
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "config" / "prometheus"
CONFIG = PROM_DIR / "prometheus.yml"
RULES = PROM_DIR / "rules" / "realtime-detect.rules.yml"
FANIN_RULES = PROM_DIR / "rules" / "realtime-fanin.rules.yml"
RULE_FILES = sorted((PROM_DIR / "rules").glob("*.rules.yml"))
RULE_TESTS = sorted((PROM_DIR / "tests").glob("*.yml"))
FANIN_METRIC = re.compile(r"\brealtime_fanin_[a-zA-Z0-9_:]*")

REQUIRED_ALERTS = {
    "RealtimeDetectDown",
    "StreamDisconnected",
    "NoWindowsProcessed",
    "InferenceLatencyHigh",
    "SeizureAlarmActive",
    "SeizureProlonged",
}


def _promtool(promtool: str, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=REPO)


def _alerts(*paths: Path) -> list[dict]:
    """The alerting rules of ``paths`` (default: every rules file)."""
    return [
        rule
        for path in paths or RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_ops_promtool_check_config(promtool):
    proc = _promtool(promtool, "check", "config", CONFIG)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 rule files found" in proc.stdout + proc.stderr  # the rules/ glob resolves: daemon and fan-in
    assert "WARNING" not in proc.stdout + proc.stderr  # every file_sd glob matches a shipped file


def test_ops_promtool_check_rules(promtool):
    assert RULE_FILES == [RULES, FANIN_RULES]
    proc = _promtool(promtool, "check", "rules", *RULE_FILES)
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
    assert names >= REQUIRED_ALERTS | {"FaninUpstreamDisconnected", "RealtimeFaninDown"}
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
    for rule in _alerts(RULES):
        assert unknown_names(rule["expr"], exported) == set(), rule["alert"]
        for name in metric_names(rule["expr"]) - {"up"}:
            assert family(name) in contract, (rule["alert"], name)


def _fanin_exported_sample_names() -> set[str]:
    """Sample names of a real HTTP scrape of :class:`realtime.metrics.FaninMetrics`, every series created."""
    from realtime.metrics import FaninMetrics

    m = FaninMetrics(["bed1", "bed2"])
    try:
        port = m.serve("127.0.0.1", 0)
        m.messages_forwarded.inc()
        m.replay_answered("ok", 0.01)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    finally:
        m.close()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


@pytest.mark.integration
def test_ops_fanin_rules_use_only_exported_and_documented_metrics():
    """The fan-in's rules read series a real scrape of its metrics serves, every one of which is in the
    fan-in's metrics table in docs/operations.md, and watch the fan-in's own job."""
    exported = _fanin_exported_sample_names()
    documented = set(
        re.findall(r"^\|\s*`(realtime_fanin_[a-z0-9_]+)", (REPO / "docs" / "operations.md").read_text(), re.M)
    )
    assert {family(n) for n in exported if not n.endswith("_created")} == documented
    for rule in _alerts(FANIN_RULES):
        names = set(FANIN_METRIC.findall(rule["expr"]))
        assert names <= exported, (rule["alert"], names - exported)
        assert names or 'up{job="realtime-fanin"}' in rule["expr"], rule["alert"]
        assert not metric_names(rule["expr"]) - {"up"}, rule["alert"]  # no daemon series in a fan-in rule


def test_ops_fanin_job_finds_its_targets_in_its_own_files(tmp_path, promtool):
    """The job realtime-fanin reads targets/fanin/*.json (none shipped but an empty list); the example
    names host and fanin and passes promtool when installed as a .json."""
    jobs = {j["job_name"]: j for j in yaml.safe_load(CONFIG.read_text())["scrape_configs"]}
    assert jobs["realtime-fanin"]["file_sd_configs"][0]["files"] == ["targets/fanin/*.json"]
    assert "static_configs" not in jobs["realtime-fanin"]
    fanin_dir = PROM_DIR / "targets" / "fanin"
    assert [json.loads(p.read_text()) for p in sorted(fanin_dir.glob("*.json"))] == [[]]
    (example,) = sorted(fanin_dir.glob("*.json.example"))
    for group in json.loads(example.read_text()):
        assert group["targets"] and {"host", "fanin"} <= set(group["labels"]), group
    shutil.copytree(PROM_DIR, tmp_path / "prometheus")
    installed = tmp_path / "prometheus" / "targets" / "fanin" / example.name
    installed.rename(installed.with_suffix(""))
    proc = _promtool(promtool, "check", "config", tmp_path / "prometheus" / "prometheus.yml")
    assert proc.returncode == 0 and "WARNING" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
