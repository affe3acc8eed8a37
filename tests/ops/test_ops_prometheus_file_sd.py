"""Many daemons, many hosts: a real Prometheus finds every daemon through file-based service discovery
(config/prometheus/prometheus.yml's file_sd_configs, targets/<host>.json files with host and bed labels),
and the Grafana dashboard's host/stream/daemon variables select one bed across hosts, even where two
hosts each have a bed of the same name.

The three "daemons" are the daemon's real metrics (realtime.metrics.Metrics served over HTTP), without
LSL or a model: what is tested is discovery and labelling, which the full daemon run in
test_ops_prometheus_server.py does not repeat."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from ops_promql import dashboard, grafana_to_promql, panel_exprs

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "config" / "prometheus"
TARGETS = PROM_DIR / "targets"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read().decode())


def wait_for(predicate, what: str, proc: subprocess.Popen, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"prometheus exited with {proc.returncode} while waiting for {what}"
        try:
            last = predicate()
        except (OSError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")


def test_ops_target_files_label_host_and_bed(tmp_path, promtool):
    """Every shipped target file (and the .example of another host) names host and bed for each target;
    promtool accepts the example too when it is installed as a .json."""
    files = sorted(TARGETS.glob("*.json")) + sorted(TARGETS.glob("*.json.example"))
    assert len(files) >= 2
    for path in files:
        for group in json.loads(path.read_text()):
            assert group["targets"] and {"host", "bed"} <= set(group["labels"]), (path.name, group)
    shutil.copytree(PROM_DIR, tmp_path / "prometheus")
    for example in (tmp_path / "prometheus" / "targets").glob("*.json.example"):
        example.rename(example.with_suffix(""))
    proc = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (job,) = [
        j
        for j in yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())["scrape_configs"]
        if j["job_name"] == "realtime-detect"
    ]
    assert job["file_sd_configs"][0]["files"] == ["targets/*.json"] and "static_configs" not in job


def _label_values(prom_url: str, query: str, values: dict[str, str]) -> list[str]:
    """A Grafana ``label_values(SELECTOR, LABEL)`` variable query, run on Prometheus's label API."""
    m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
    assert m, query
    selector = m.group(1)
    for name, value in values.items():
        selector = selector.replace(f"${name}", value)
    url = f"{prom_url}/api/v1/label/{m.group(2)}/values?" + urllib.parse.urlencode({"match[]": selector})
    return get_json(url)["data"]


@pytest.mark.integration
def test_ops_prometheus_file_sd_finds_every_daemon_and_dashboard_selects_one_bed(tmp_path, prometheus_server):
    from realtime.metrics import Metrics

    daemons = {("host-a", "bed1"): 0.1, ("host-a", "bed2"): 0.2, ("host-b", "bed1"): 0.9}  # bed1 on both hosts
    metrics = {}
    prom = None
    prom_log = (tmp_path / "prometheus.log").open("w")
    try:
        for (host, bed), p in daemons.items():
            m = Metrics()
            m.serve("127.0.0.1", 0)
            m.init_stream(bed)
            m.stream_connected.labels(stream=bed).set(1)
            m.seizure_probability.labels(stream=bed).set(p)
            metrics[host, bed] = m
        target = {key: f"127.0.0.1:{m.port}" for key, m in metrics.items()}

        def write_targets(host: str) -> None:
            groups = [{"targets": [target[h, b]], "labels": {"host": h, "bed": b}} for h, b in daemons if h == host]
            tmp = tmp_path / "prometheus" / "targets" / f".{host}.tmp"
            tmp.write_text(json.dumps(groups))
            tmp.rename(tmp.with_name(f"{host}.json"))  # atomic, as a deployment tool would

        cfg = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
        cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        cfg.pop("alerting", None)
        cfg.pop("rule_files", None)
        cfg["scrape_configs"] = [j for j in cfg["scrape_configs"] if j["job_name"] == "realtime-detect"]
        (tmp_path / "prometheus" / "targets").mkdir(parents=True)
        (tmp_path / "prometheus" / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        write_targets("host-a")
        write_targets("host-b")
        prom_port = free_port()
        prom_url = f"http://127.0.0.1:{prom_port}"
        prom = subprocess.Popen(
            [
                prometheus_server,
                f"--config.file={tmp_path / 'prometheus' / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
            cwd=tmp_path,
            stdout=prom_log,
            stderr=subprocess.STDOUT,
        )

        def query(expr: str) -> list[dict]:
            answer = get_json(f"{prom_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
            assert answer["status"] == "success", (expr, answer)
            return answer["data"]["result"]

        def up_labels() -> set[tuple[str, str, str]]:
            return {
                (r["metric"]["host"], r["metric"]["bed"], r["metric"]["instance"])
                for r in query('up{job="realtime-detect"} == 1')
            }

        # (A file added later is found too, without a restart: Prometheus's own behaviour, left untested
        # here since its scrape manager applies new targets only every 5 s.)
        want = {(h, b, target[h, b]) for h, b in daemons}
        wait_for(lambda: up_labels() == want, "every host's daemons up with host and bed labels", prom)
        wait_for(lambda: len(query("realtime_detect_stream_connected")) == 3, "every daemon's series", prom)

        # The dashboard's variables, as Grafana would run them: host, then its beds, then the daemon.
        variables = {v["name"]: v for v in dashboard()["templating"]["list"]}

        def var_query(name: str) -> str:
            q = variables[name]["query"]
            return q["query"] if isinstance(q, dict) else q

        assert _label_values(prom_url, var_query("host"), {}) == ["host-a", "host-b"]
        assert _label_values(prom_url, var_query("stream"), {"host": ".*"}) == ["bed1", "bed2"]
        assert _label_values(prom_url, var_query("stream"), {"host": "host-b"}) == ["bed1"]
        (instance,) = _label_values(prom_url, var_query("instance"), {"host": "host-b", "stream": "bed1"})
        assert instance == target["host-b", "bed1"]

        # Every panel for host-b's bed1 shows that daemon's series only, never host-a's bed1.
        for where, expr in panel_exprs(dashboard()):
            if where.startswith("variable"):
                continue
            for r in query(grafana_to_promql(expr, stream="bed1", instance=instance, host="host-b")):
                assert r["metric"].get("instance", instance) == instance, (where, r["metric"])
        (prob,) = query(
            grafana_to_promql(
                'realtime_detect_seizure_probability{stream="$stream", instance="$instance"}',
                stream="bed1",
                instance=instance,
            )
        )
        assert float(prob["value"][1]) == pytest.approx(0.9)
    except BaseException:
        log = tmp_path / "prometheus.log"
        if log.exists():
            print("--- prometheus log ---\n" + log.read_text()[-3000:])
        raise
    finally:
        if prom is not None and prom.poll() is None:
            prom.kill()
            prom.wait(timeout=20)
        prom_log.close()
        for m in metrics.values():
            m.close()
