"""A real Prometheus server scrapes the real daemon, running under the systemd unit's sandbox.

One run, several checks (starting TensorFlow, LSL and Prometheus once keeps the ops tests short):

- `realtime-replay` plays the shipped CHB-MIT non-seizure excerpt into LSL (loopback only);
- `realtime-detect` (the toy export) scores it, inside the unit's seccomp filters
  (SystemCallFilter=, MemoryDenyWriteExecute=) with the unit's Environment= and a
  $STATE_DIRECTORY, as systemd would start it;
- Debian's `prometheus` scrapes it every second with config/prometheus/prometheus.yml (targets and
  intervals replaced) and the alert rules loaded;
- a daemon metric is read back through Prometheus's HTTP query API; every dashboard and rule
  query runs on that server (and the dashboard's panels return data); every rule evaluates
  healthily; `promtool check metrics` passes on a real scrape of the daemon;
- SIGTERM stops the daemon with exit 0 (not restarted by Restart=on-failure), alert log written.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from ops_promql import dashboard, grafana_to_promql, panel_exprs
from ops_units import SANDBOX, TEMPLATE, environment, parse_unit, sandbox_args

REPO = Path(__file__).resolve().parents[2]
PROM_CONFIG = REPO / "config" / "prometheus" / "prometheus.yml"
RULES_DIR = REPO / "config" / "prometheus" / "rules"
RECORDING = REPO / "realtime" / "data" / "chbmit" / "chb01_03_NonSeizure.edf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(script: str, module_command: str) -> list[str]:
    """The installed console script beside this Python, else ``python -m realtime <command>``."""
    installed = Path(sys.executable).parent / script
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "realtime", module_command]


def get_json(url: str, timeout_s: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return json.loads(resp.read().decode())


def get_text(url: str, timeout_s: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return resp.read().decode()


def wait_for(predicate, timeout_s: float, what: str, procs=()):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        for name, proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode} while waiting for {what}")
        try:
            last = predicate()
        except (OSError, ValueError) as exc:  # not listening yet, or a half-written answer
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")


def prometheus_config(target: str, bed: str) -> dict:
    """The repository's scrape config, pointed at ``target``, scraping and evaluating every second."""
    cfg = yaml.safe_load(PROM_CONFIG.read_text())
    cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    cfg["rule_files"] = [str(RULES_DIR / Path(p).name) for p in cfg["rule_files"]]
    cfg.pop("alerting", None)
    (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "realtime-detect"]
    job["static_configs"] = [{"targets": [target], "labels": {"bed": bed}}]
    cfg["scrape_configs"] = [job]
    return cfg


def stop(proc: subprocess.Popen | None, sig=signal.SIGKILL) -> int | None:
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=10)
    return proc.returncode


@pytest.mark.integration
def test_ops_prometheus_scrapes_the_daemon(toy_export, tmp_path, prometheus_server, promtool):
    name = f"ops-{uuid.uuid4().hex[:10]}"
    metrics_port, prom_port = free_port(), free_port()
    target = f"127.0.0.1:{metrics_port}"
    prom_url = f"http://127.0.0.1:{prom_port}"
    state = tmp_path / "state"
    state.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), PYTHONUNBUFFERED="1")
    daemon_env = dict(env, **environment(parse_unit(TEMPLATE)), STATE_DIRECTORY=str(state))
    logs = {k: (tmp_path / f"{k}.log").open("w") for k in ("replay", "daemon", "prometheus")}
    replay = daemon = prom = None
    try:
        replay = subprocess.Popen(
            [*command("realtime-replay", "replay"), str(RECORDING), "--name", name, "--loop"],
            cwd=REPO,
            env=env,
            stdout=logs["replay"],
            stderr=subprocess.STDOUT,
        )
        daemon = subprocess.Popen(
            [
                sys.executable,
                str(SANDBOX),
                *sandbox_args(TEMPLATE),
                "--",
                *command("realtime-detect", "detect"),
                "--stream",
                name,
                "--model",
                str(toy_export),
                "--device",
                "cpu",
                "--metrics-port",
                str(metrics_port),
                "--endpoint",
                f"tcp://127.0.0.1:{free_port()}",
                "--replay-endpoint",
                f"tcp://127.0.0.1:{free_port()}",
                "--duration-s",
                "120",
            ],
            cwd=REPO,
            env=daemon_env,
            stdout=logs["daemon"],
            stderr=subprocess.STDOUT,
        )
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(prometheus_config(target, bed=name)))
        prom = subprocess.Popen(
            [
                prometheus_server,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
            cwd=tmp_path,
            stdout=logs["prometheus"],
            stderr=subprocess.STDOUT,
        )
        procs = [("realtime-replay", replay), ("realtime-detect", daemon), ("prometheus", prom)]

        def query(expr: str) -> list[dict]:
            answer = get_json(f"{prom_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
            assert answer["status"] == "success", (expr, answer)
            return answer["data"]["result"]

        wait_for(lambda: get_text(f"{prom_url}/-/ready"), 30, "Prometheus ready", procs)
        # The daemon's counter, read back through Prometheus.
        series = wait_for(
            lambda: [
                r
                for r in query(f'realtime_detect_windows_processed_total{{stream="{name}"}}')
                if float(r["value"][1]) > 0
            ],
            90,
            "windows_processed_total > 0 in Prometheus",
            procs,
        )
        assert series[0]["metric"]["job"] == "realtime-detect" and series[0]["metric"]["bed"] == name
        assert [float(r["value"][1]) for r in query(f'up{{job="realtime-detect",instance="{target}"}}')] == [1.0]

        # The dashboard's bed variable lists this stream.
        labels = get_json(
            f"{prom_url}/api/v1/label/stream/values?"
            + urllib.parse.urlencode({"match[]": "realtime_detect_stream_connected"})
        )
        assert name in labels["data"]

        # Every dashboard query runs on a real Prometheus; panels (not the alarm annotation, which
        # is empty without a seizure) return data for this bed.
        exprs = [
            (where, grafana_to_promql(e, stream=name, instance=target))
            for where, e in panel_exprs(dashboard())
            if not where.startswith("variable")
        ]

        def empty_panels():
            return [(w, e) for w, e in exprs if not w.startswith("annotation") and not query(e)]

        wait_for(lambda: not empty_panels(), 30, "every dashboard panel to return data", procs)
        for _where, expr in exprs:
            query(expr)  # success, even where empty

        # Every rule evaluates without error against the daemon's real series.
        def rules_evaluated():  # health is "unknown" until a rule's first evaluation
            rules = [r for g in get_json(f"{prom_url}/api/v1/rules")["data"]["groups"] for r in g["rules"]]
            return rules if rules and all(r["health"] == "ok" for r in rules) else None

        rules = wait_for(rules_evaluated, 20, "all rules healthy", procs)
        assert {r["name"] for r in rules} >= {
            "RealtimeDetectDown",
            "StreamDisconnected",
            "NoWindowsProcessed",
            "InferenceLatencyHigh",
            "SeizureAlarmActive",
        }
        # Nothing is alarming on a healthy non-seizure replay.
        assert query('ALERTS{alertstate="firing"}') == []

        # promtool's lint of the daemon's exposition, on a real scrape.
        scrape = get_text(f"http://{target}/metrics")
        lint = subprocess.run([promtool, "check", "metrics"], input=scrape, capture_output=True, text=True, timeout=30)
        assert lint.returncode == 0, lint.stdout + lint.stderr

        # systemctl stop: SIGTERM -> exit 0 (so Restart=on-failure leaves it stopped).
        assert stop(daemon, signal.SIGTERM) == 0
        assert (state / "alerts.jsonl").exists()
        # the background levels (realtime/levels.py: a temporary file, fsync, rename) are written under the sandbox
        levels = json.loads((state / "alerts.levels.json").read_text())
        assert levels["format"] == "realtime-detect/levels/1" and {b["name"] for b in levels["beds"]} <= {name}
        logs["daemon"].flush()
        assert "cannot write the background levels" not in (tmp_path / "daemon.log").read_text()
    except BaseException:
        for f in logs.values():
            f.flush()
        for k in logs:  # shown by pytest with the failure
            print(f"--- {k} log (tail) ---\n" + (tmp_path / f"{k}.log").read_text()[-3000:])
        raise
    finally:
        for proc in (daemon, replay, prom):
            stop(proc)
        for f in logs.values():
            f.close()
