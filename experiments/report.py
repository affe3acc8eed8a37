"""Markdown tables of a run's test-split metrics (for docs/training.md).

python -m experiments.report RUN_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

NAMES = {
    "bonn_S_vs_all": "Bonn S vs Z/O/N/F",
    "bonn_S_vs_NF": "Bonn S vs N/F",
    "bonn_S_vs_ZO": "Bonn S vs Z/O",
    "nscnd_ictal_vs_rest": "New Delhi ictal vs interictal+preictal",
    "edf_seizure_vs_rest": "EDF seizure vs rest",
    "all": "all test segments",
}


def _f(v, pct=True):
    if v is None:
        return "n/a"
    return f"{100 * v:.1f}%" if pct else f"{v:.4f}"


def tables(metrics: dict) -> str:
    lines = [
        "| contrast | level | n (pos/neg) | accuracy | sensitivity | specificity | AUROC "
        "| confusion [[TN, FP], [FN, TP]] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, label in NAMES.items():
        if key not in metrics:
            continue
        for level in ("segment", "window"):
            m = metrics[key][level]
            lines.append(
                f"| {label} | {level} | {m['n']} ({m['n_positive']}/{m['n_negative']}) | {_f(m['accuracy'])} | "
                f"{_f(m['sensitivity'])} | {_f(m['specificity'])} | {_f(m['auroc'], False)} | "
                f"{m['confusion_matrix']} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m experiments.report RUN_DIR", file=sys.stderr)
        return 2
    print(tables(json.loads((Path(argv[0]) / "test_metrics.json").read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
