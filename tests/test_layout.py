"""The package arrows of docs/architecture.md, read from the source (every import, also inside functions).

realtime uses none of train, evaluation, experiments; train uses evaluation's pure metrics module only
(its CLI dispatches `train-detector evaluate` to evaluation and writes copied card settings with its writer),
realtime's recording readers, montage, window quality rule, the short resampling filter's flat band and card check;
evaluation uses realtime and train, never experiments; nothing installed imports experiments.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("realtime", "train", "evaluation", "experiments")


def project_imports(package: str, root: Path = REPO) -> set[tuple[str, str]]:
    """``{(file relative to root, imported project module)}`` for every .py file of ``root/package``."""
    found = set()
    for path in sorted((root / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found |= {(str(path.relative_to(root)), n) for n in names if n.split(".")[0] in PACKAGES}
    return found


# (package, imported package) -> the modules that may be imported across that arrow (None: any)
ALLOWED = {
    # (evaluation.model_settings: the export's --settings-from writes a card's settings with the one checked writer)
    ("train", "evaluation"): {"evaluation.metrics", "evaluation.evaluate", "evaluation.model_settings"},
    # training reads EDF recordings and their annotations with the daemon's own readers (one reader), and
    # re-references them with the daemon's own montage (data.montage = signal.montage) and leaves out the windows
    # the daemon leaves out (realtime.quality); the export compares its filter bank with the band the daemon's short
    # resampling filter keeps flat (realtime.preprocess); fine-tuning reads an export through the daemon's card check
    # (realtime.model.read_card: every file's sha256)
    ("train", "realtime"): {
        "realtime.model",
        "realtime.recordings",
        "realtime.annotations",
        "realtime.montage",
        "realtime.quality",
        "realtime.preprocess",
    },
    ("evaluation", "realtime"): None,
    ("evaluation", "train"): None,
}


@pytest.mark.parametrize("package", PACKAGES[:3])
def test_package_arrows(package):
    bad = []
    for path, module in project_imports(package):
        target = module.split(".")[0]
        if target == package:
            continue
        allowed = ALLOWED.get((package, target), set())
        if allowed is not None and module not in allowed:
            bad.append(f"{path} imports {module}")
    assert not bad, bad


def test_train_reaches_evaluate_and_the_settings_writer_only_from_its_cli():
    users = {p for p, m in project_imports("train") if m in ("evaluation.evaluate", "evaluation.model_settings")}
    assert users <= {"train/cli.py"}, users


def test_the_arrow_check_sees_imports_inside_functions(tmp_path):
    """The check itself: a function-level import of train in realtime would be found."""
    (tmp_path / "realtime").mkdir()
    (tmp_path / "realtime" / "x.py").write_text("def f():\n    from train.fit import run_fit\n    import numpy\n")
    assert project_imports("realtime", tmp_path) == {("realtime/x.py", "train.fit")}
