"""Evaluation of an exported detector: metrics, SzCORE event scoring, the recordings built for it,
decision tuning, the baseline and the peer, figures and the report (``train-detector evaluate``).

Uses :mod:`realtime` (the one pipeline) and :mod:`train`'s export; :mod:`realtime` never imports it.
"""
