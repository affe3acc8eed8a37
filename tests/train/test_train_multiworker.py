"""A real two-worker MultiWorkerMirroredStrategy run on loopback: two processes, TF_CONFIG, tiny model,
one shared run directory that only the chief writes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(280)
def test_two_workers_train_in_sync(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    try:
        for i in range(2):
            env = dict(
                os.environ,
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
                TF_CPP_MIN_LOG_LEVEL="2",
                PYTHONPATH=str(REPO),
                CUDA_VISIBLE_DEVICES="",
            )
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(HERE / "train_mw_worker.py"),
                        str(tmp_path / "run"),
                        str(REPO / "config" / "train" / "tiny.toml"),
                    ],
                    cwd=REPO,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        results = []
        for p in procs:
            out, err = p.communicate(timeout=240)
            assert p.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    assert [r["strategy"] for r in results] == ["multi_worker", "multi_worker"]
    # all-reduced gradients: both workers end with the same weights and the same loss
    assert results[0]["checksum"] == pytest.approx(results[1]["checksum"], rel=1e-5)
    assert results[0]["loss"] == pytest.approx(results[1]["loss"], rel=1e-5)
    # only the chief (worker 0) writes the run directory; worker 1 wrote into a temporary one, now removed
    run = tmp_path / "run"
    assert [r["chief"] for r in results] == [True, False]
    assert results[0]["work_dir"] == str(run)
    assert results[1]["work_dir"] != str(run) and not Path(results[1]["work_dir"]).exists()
    for name in ("hparams.json", "split.json", "history.csv", "best.weights.h5", "last.weights.h5", "run.json"):
        assert (run / name).exists(), name
    assert json.loads((run / "run.json").read_text())["chief"] is True
    assert not (run / "backup").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
