"""evaluation/report.py: every section renders from a small hand-made result, and render_report joins them."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest

from evaluation import report
from evaluation.baseline import BaselineParams
from evaluation.events import DetectedEvent, score_events
from evaluation.metrics import EVALUATION_CONTRASTS, contrast_metrics
from evaluation.recordings import EvalRecording
from evaluation.runs import WindowScores
from realtime.config import build_config


class R:
    def __init__(self, rid, source, subset, label):
        self.recording_id, self.source, self.subset, self.label = rid, source, subset, label


def _inputs(tmp_path, *, tuned: bool = True) -> dict:
    """The keyword arguments of render_report, in the shapes main() produces: 3 recordings x 3 detectors."""
    test_records = [
        R("bonn/S/S1", "bonn", "S", 1),
        R("bonn/N/N1", "bonn", "N", 0),
        R("bonn/Z/Z1", "bonn", "Z", 0),
        R("nscnd/ictal/i1", "nscnd", "ictal", 1),
        R("nscnd/interictal/n1", "nscnd", "interictal", 0),
    ]
    probs = {r.recording_id: np.array([0.9 if r.label else 0.1] * 3) for r in test_records}
    split_metrics = {
        det: contrast_metrics(test_records, probs, contrasts=EVALUATION_CONTRASTS) for det in ("network", "baseline")
    }
    recs = [
        EvalRecording("chbmit_seizure", tmp_path / "a.edf", [(1.0, 41.0)], "sz", 41.0, 23),
        EvalRecording("chbmit_nonseizure", tmp_path / "b.edf", [], "non", 41.0, 23, background_only=True),
        EvalRecording(
            "test_scalp_seizures",
            tmp_path / "c.npz",
            [(100.0, 105.0), (300.0, 305.0)],
            "st",
            400.0,
            1,
            meta={"junctions": 3, "n_pieces": 4, "taper_s": 0.25, "background_s": 390.0},
        ),
    ]
    t = np.arange(4.0, 41.0)
    results: dict = {}
    own: dict = {}
    for rec in recs:
        results[rec.name], own[rec.name] = {}, {}
        onset = rec.seizures[0][0] if rec.seizures else None
        for det, evs in (
            ("network", [DetectedEvent(onset + 2, onset + 20, onset + 3)] if rec.seizures else []),
            ("baseline", []),
            ("peer", [DetectedEvent(20.0, 25.0, 21.0)]),
        ):
            w = WindowScores(t, t - 4, np.full((t.size, 1), 0.5), np.zeros(t.size), evs)
            w.score = score_events(rec.seizures, evs, rec.duration_s)
            results[rec.name][det] = w
            if tuned:
                own[rec.name][det] = dataclasses.replace(w)
    chosen = {
        "on_threshold": 0.9,
        "off_threshold": 0.5,
        "smoothing_windows": 2,
        "min_duration_s": 1.0,
        "fp": 0,
        "tp": 3,
        "n_seizures": 3,
        "mean_latency_s": 2.0,
    }
    tuning = (
        {
            d: {
                "chosen": chosen,
                "grid_size": 150,
                "tuning_hours": 1.5,
                "n_zero_fp": 100,
                "fastest_mean_latency_s": 1.5,
                "latency_slack_s": 1.0,
                "recordings": [{"name": "val_x", "duration_s": 600.0, "seizures": 3}],
            }
            for d in ("network", "baseline")
        }
        if tuned
        else {}
    )
    net = type(
        "Net", (), {"model_version": "m1", "architecture": "inception", "window_samples": 1024, "sample_rate_hz": 250.0}
    )()
    params = BaselineParams(fit_info={"n_windows": 10, "n_seizure_windows": 5, "training_files": 3})
    return {
        "command": "train-detector evaluate --no-peer",
        "card": {"created": "now", "training": {}},
        "net": net,
        "args": argparse.Namespace(model="m", config="config/realtime-detect.toml"),
        "config": build_config({}),
        "split": {"train": set(), "validation": set(), "test": {"a"}},
        "split_note": "from the card",
        "test_records": test_records,
        "split_metrics": split_metrics,
        "recs": recs,
        "results": results,
        "own_settings": own,
        "tuning": tuning,
        "baseline_info": {"path": "p", "card": {}, "params": params},
        "peer_note": "peer 0.1.0",
        "eval_hop": 256,
        "wall_s": 60.0,
    }


@pytest.fixture
def inp(tmp_path):
    return report.ReportInputs(**_inputs(tmp_path))


def test_inputs_pool_the_test_recordings(inp):
    assert inp.dets == ["network", "baseline", "peer"]
    assert [r.name for r in inp.sz_recs] == ["chbmit_seizure", "test_scalp_seizures"]
    assert [r.name for r in inp.bg_recs] == ["chbmit_nonseizure"]
    sz, bg, every = inp.headline["network"]
    assert (sz.tp, sz.n_seizures, bg.duration_s, every.duration_s) == (2, 3, 41.0, 482.0)
    assert inp.net_sz is sz and inp.net_all is every


@pytest.mark.parametrize("section", report.SECTIONS, ids=lambda f: f.__name__)
def test_every_section_renders_lines_without_nan(inp, section):
    lines = section(inp)
    assert lines and all(isinstance(x, str) for x in lines)
    assert lines[0].startswith("#") and lines[-1] == ""
    assert "nan" not in "\n".join(lines).replace("non", "")


def test_preamble_names_the_model_and_the_settings_evaluated(inp):
    text = "\n".join(report.section_preamble(inp))
    assert text.startswith("# Evaluation\n") and "`m1` (inception)" in text
    assert "on 0.6, off 0.5, min duration 2.0 s" in text.replace("smoothing 1 windows, ", "")
    d = inp.config.decision
    rule = f"(k = {d.k_channels})" if d.aggregation != "binomial" else f"channel_false_rate {d.channel_false_rate:g}"
    assert f"aggregation `{d.aggregation}` " in text and rule in text


def test_headline_has_a_row_per_detector(inp):
    rows = [x for x in report.section_headline(inp) if x.startswith("| ") and "detector" not in x]
    assert [x.split(" | ")[0] for x in rows] == [
        "| network (shipped model)",
        "| baseline (line length + band power)",
        "| peer (brainmaze modelA, causal)",
    ]
    assert rows[0].startswith("| network (shipped model) | 2/3 ")


def test_targets_judge_each_target(inp):
    text = "\n".join(report.section_targets(inp))
    assert (
        "| CHB-MIT: alarm on the seizure excerpt, quiet on the non-seizure excerpt | seizure: alarm after 3.0 s" in text
    )
    assert "| Bonn test split, Bonn S vs Z, O, N, F: segment accuracy >= 99 % | 100.0 % | **met** |" in text
    assert "Better than the baseline" in text and "Better than the peer" in text
    assert "| Onset latency <= 10 s (every detected seizure) | max 3.0 s, median 3.0 s | **met** |" in text


def test_recordings_table_has_a_row_per_recording_and_detector(inp):
    lines = report.section_recordings(inp)
    rows = [x for x in lines if x.startswith("| ") and "[png]" in x]
    assert len(rows) == 9
    assert "| test_scalp_seizures | 400 s | 2 | network | 1/2 | 0 / 0 | +3.0, missed |" in "\n".join(rows)
    assert any("3 junctions" in x for x in lines)
    assert any("runs through the daemon's `realtime.pipeline.Pipeline`" in x for x in lines)


def test_own_settings_only_when_tuned(inp, tmp_path):
    assert report.section_own_settings(inp)[0] == "### Each detector with its own tuned settings"
    untuned = report.ReportInputs(**_inputs(tmp_path, tuned=False))
    assert report.section_own_settings(untuned) == []
    assert report.section_decision_settings(untuned)[2] == "Not run (--no-tune)."


def test_test_split_tables_per_contrast_and_detector(inp):
    rows = [x for x in report.section_test_split(inp) if x.startswith(("| Bonn", "| New Delhi"))]
    assert len(rows) == 2 * 4 * 2  # segment and window level, 4 contrasts, 2 detectors
    assert rows[0].endswith("| 1.0000 | [[2, 0], [0, 1]] |")


def test_decision_settings_say_whether_the_choice_is_what_was_evaluated(inp):
    text = "\n".join(report.section_decision_settings(inp))
    assert "Chosen for the network: on 0.9, off 0.5, smoothing 2, min duration 1.0 s" in text
    assert "**The evaluated configuration differs from this choice** (on 0.6" in text


def test_baseline_peer_reproduce_and_caveats(inp):
    assert "export `p`" in "\n".join(report.section_baseline_and_peer(inp))
    assert "train-detector evaluate --no-peer" in report.section_reproduce(inp)
    assert "0.7 min of non-seizure recordings" in "\n".join(report.section_caveats(inp))


def test_render_report_joins_the_sections_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "git_head", lambda: "abc1234")
    kwargs = _inputs(tmp_path)
    text = report.render_report(**kwargs)
    inp = report.ReportInputs(**kwargs)
    assert text == "\n".join(line for s in report.SECTIONS for line in s(inp)) + "\n"
    headings = [
        "# Evaluation",
        "## Headline",
        "## Targets (issue 5)",
        "## Continuous recordings",
        "### Each detector with its own",
        "## Test split",
        "## Decision settings",
        "## Baseline and peer",
        "## Reproduce",
        "## What these numbers",
    ]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions) and "(git abc1234," in text
