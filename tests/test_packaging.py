"""Packaging and habits: the plain install is the LiteRT runtime (no TensorFlow), the extras cover
what the code imports, warnings fail tests unless named, CI lints before it tests.

The runtime check runs the daemon's offline review in a real subprocess in which TensorFlow, keras,
tensorboard and matplotlib cannot be imported, as on a plain ``pip install .``.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata as md
import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])
SEIZURE_EDF = REPO / "realtime" / "data" / "chbmit" / "chb01_03_Seizure.edf"
TRAIN_ONLY = {"tensorflow", "keras", "tensorboard", "matplotlib"}
# Modules realtime/ imports only inside a function: the TensorFlow backend (the train extra), the OpenVINO backend (the
# openvino extra) and tflite_runtime, a second LiteRT runtime tried when ai_edge_litert is missing (installed by nobody
# here).
RUNTIME_OPTIONAL_MODULES = {"tensorflow", "openvino", "tflite_runtime"}

BLOCK_TRAIN_ONLY = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"tensorflow", "keras", "tensorboard", "matplotlib"}:
            raise ImportError(f"{name} is not installed (blocked: plain install)")
        return None
sys.meta_path.insert(0, _Block())
"""


def _imported_modules(paths: list[Path]) -> set[str]:
    """Top-level names of every module imported anywhere (also inside functions) in ``paths``."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _third_party_distributions(paths: list[Path], optional: set[str] = frozenset()) -> dict[str, set[str]]:
    """{distribution: {modules}} for the imports in ``paths`` that are neither stdlib nor this repository's."""
    local = {p.stem for p in REPO.glob("tests/**/*.py")} | {p.name for p in REPO.iterdir() if p.is_dir()}
    owners = md.packages_distributions()
    out: dict[str, set[str]] = {}
    for module in _imported_modules(paths) - set(sys.stdlib_module_names) - local - {"__future__"} - optional:
        dists = owners.get(module)
        assert dists, f"module {module!r} is imported but no installed distribution provides it"
        out.setdefault(canonicalize_name(dists[0]), set()).add(module)
    return out


def _closure(requirements: list[str]) -> set[str]:
    """Canonical names of ``requirements`` and, through installed metadata, of everything they require;
    this project's self-references (``realtime-seizure-detector[train]``) expand to its extras."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name == PROJECT:
            todo += [Requirement(r) for extra in req.extras for r in extras[extra]]
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if name in seen:
            continue
        seen.add(name)
        with contextlib.suppress(md.PackageNotFoundError):  # not installed: nothing more to follow
            todo += [Requirement(r) for r in md.requires(name) or []]
    return seen


def test_plain_dependencies_are_the_runtime_without_tensorflow():
    deps = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    assert "ai-edge-litert" in deps, deps
    assert not deps & TRAIN_ONLY, f"train-only packages in the plain install: {sorted(deps & TRAIN_ONLY)}"
    used = _third_party_distributions(sorted(REPO.glob("realtime/**/*.py")), RUNTIME_OPTIONAL_MODULES)
    missing = {d: m for d, m in used.items() if d not in deps}
    assert not missing, f"realtime/ imports these but pyproject's dependencies lack them: {missing}"


def test_the_test_extra_covers_every_import_of_the_code_and_tests():
    reqs = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]
    have = _closure(reqs)
    for name in ("ruff", "mypy", "pytest", "tensorflow", "timescoring"):
        assert name in have, f"{name} is not in the test extra's closure: {sorted(have)}"
    dirs = ("realtime", "train", "evaluation", "experiments", "tests", "benchmarks")
    paths = [p for d in dirs for p in sorted(REPO.glob(f"{d}/**/*.py"))]
    used = _third_party_distributions(paths, {"tflite_runtime"})
    missing = {d: m for d, m in used.items() if d not in have}
    assert not missing, f"imported but not installed by '.[test]': {missing}"


@pytest.mark.integration
def test_offline_review_runs_with_tensorflow_not_importable(tmp_path):
    """`realtime-detect --file` on LiteRT, in a process where TensorFlow cannot be imported."""
    code = BLOCK_TRAIN_ONLY + textwrap.dedent(f"""
        import runpy
        sys.argv = ["realtime", "detect", "--file", {str(SEIZURE_EDF)!r}, "--json", "--backend", "litert"]
        try:
            runpy.run_module("realtime", run_name="__main__", alter_sys=True)
        finally:
            loaded = sorted(m for m in sys.modules if m.split(".")[0] in {{"tensorflow", "keras", "matplotlib"}})
            print("LOADED", loaded, file=sys.stderr)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LOADED []" in proc.stderr, proc.stderr[-3000:]
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert any(m.get("type") == "seizure.onset" for m in messages), proc.stdout[-3000:]


def test_the_blocker_really_blocks_tensorflow():
    """The check above can fail: in the blocked process `import tensorflow` raises."""
    code = BLOCK_TRAIN_ONLY + "import tensorflow\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "blocked: plain install" in proc.stderr, proc.stderr[-2000:]


def _run_pytest_with_project_config(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    test = tmp_path / "test_warns.py"
    test.write_text("import warnings\n\n\ndef test_it():\n" + textwrap.indent(textwrap.dedent(body), "    "))
    args = ["-q", "-p", "no:cacheprovider", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path)]
    cmd = [sys.executable, "-m", "pytest", *args, str(test)]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("category", ["UserWarning", "DeprecationWarning", "ResourceWarning"])
def test_an_unnamed_warning_fails_the_test(tmp_path, category):
    proc = _run_pytest_with_project_config(tmp_path, f'warnings.warn("unexpected", {category})\n')
    assert proc.returncode == 1 and f"{category}: unexpected" in proc.stdout, proc.stdout[-2000:]


@pytest.mark.parametrize(
    ("message", "category"),
    [
        ("Your input ran out of data; interrupting training.", "UserWarning"),
        ("__array__ implementation doesn't accept a copy keyword, so passing copy=False failed.", "DeprecationWarning"),
    ],
)
def test_the_named_keras_warnings_pass_only_from_keras(tmp_path, message, category):
    explicit = f'warnings.warn_explicit({message!r}, {category}, "core.py", 1, module="{{module}}")\n'
    ok = _run_pytest_with_project_config(tmp_path, explicit.format(module="keras.src.trainers.epoch_iterator"))
    assert ok.returncode == 0, ok.stdout[-2000:]
    other = _run_pytest_with_project_config(tmp_path, explicit.format(module="train.fit"))
    assert other.returncode == 1 and category in other.stdout, other.stdout[-2000:]


def test_ci_lints_then_runs_the_readme_test_command_verbatim():
    readme = (REPO / "README.md").read_text()
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert block[0].startswith("python3 -m venv .venv && .venv/bin/pip install -q -e . &&"), block
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert block[1] in ci, f"README's test command {block[1]!r} is not a line of .ci/run"
    tests_at = ci.index(block[1])
    for check in (".venv/bin/ruff check .", ".venv/bin/ruff format --check .", ".venv/bin/mypy"):
        assert check in ci[:tests_at], f"{check!r} does not run before the tests in .ci/run"


def test_pre_commit_runs_the_pinned_ruff_and_mypy():
    hooks = {
        h["id"]: h
        for repo in yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"]
        for h in repo["hooks"]
    }
    assert {"ruff-check", "ruff-format", "mypy"} <= set(hooks), sorted(hooks)
    pin = next(
        Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"] if Requirement(r).name == "ruff"
    )
    for hook in ("ruff-check", "ruff-format"):
        versions = [Requirement(d).specifier for d in hooks[hook]["additional_dependencies"]]
        version = str(versions[0]).removeprefix("==")
        assert version in pin.specifier, f"pre-commit's ruff {version} is outside the test extra's {pin}"


def test_license_file_is_the_declared_licence():
    assert PYPROJECT["project"]["license"] == {"text": "BSD-3-Clause"}
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License\n"), text[:80]
    assert "Copyright (c) 2026, The realtime-seizure-detector authors" in text
    assert "3. Neither the name of the copyright holder" in text
