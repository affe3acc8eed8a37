"""Evaluation of an exported detector (``train-detector evaluate``), one module per job:

- :mod:`evaluation.metrics`: the project's one set of detection metrics (intervals, binary and
  per-level metrics, ROC, the test-split contrasts; training's test metrics use it too);
- :mod:`evaluation.events`: SzCORE event scoring of continuous recordings (``timescoring``);
- :mod:`evaluation.stitch` and :mod:`evaluation.recordings`: the recordings scored (CHB-MIT
  excerpts, recordings stitched from a split, the user's);
- :mod:`evaluation.runs`: per-window scores of a detector through the daemon's pipeline, of the
  peer, and decision replays; :mod:`evaluation.tuning`: the decision-setting search;
- :mod:`evaluation.baseline` and :mod:`evaluation.peer`: the two detectors compared with the network;
- :mod:`evaluation.figures` and :mod:`evaluation.report`: the PNG figures and the Markdown report;
- :mod:`evaluation.model_settings`: writes settings derived for a model into its card;
- :mod:`evaluation.evaluate`: the command (arguments, the run, the JSON scratch files).

Uses :mod:`realtime` (the one pipeline) and :mod:`train`'s export; :mod:`realtime` never imports it.
"""
