"""Fixtures for the operations tests (systemd units, Prometheus, Grafana).

The checks use real system tools from Debian's `prometheus` and `systemd` packages. Where a tool is
missing they skip on a developer machine, but fail under CI (CI=true), where .ci/run installs them:
a check that CI silently skipped would be a check nobody runs.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# Helper modules of these tests (ops_units, ops_seccomp_sandbox, ...), imported by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def require_tool(name: str) -> str:
    """Path of the executable ``name``; skip the test if it is absent, or fail when CI=true."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name!r} not found on PATH; install Debian's packages: apt-get install prometheus systemd"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{message} (CI=true: the CI runner must provide it)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_tool("promtool")


@pytest.fixture(scope="session")
def systemd_analyze() -> str:
    return require_tool("systemd-analyze")


@pytest.fixture(scope="session")
def prometheus_server() -> str:
    return require_tool("prometheus")
