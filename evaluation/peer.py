"""The peer detector: ``brainmaze-eeg-models`` (Mayo Clinic, BSD-3), run causally, through our decision code.

What the peer is (read from its source, brainmaze_eeg_models/seizure/_seizure_detect.py, v0.1.0):

- a spectrogram CNN + bidirectional LSTM trained on intracranial EEG, shipped as ONNX
  (``modelA``: the published model; ``modelB``: extended training set), run by onnxruntime on the
  CPU here (no torch, no download at run time: the ONNX files are inside the wheel);
- input contract: one channel at a whole, even rate >= 200 Hz; each window is z-scored (so units
  and gain do not matter), turned into a spectrogram of 1 s segments every 0.5 s (0-99 Hz, 1 Hz
  bins), and every frequency bin is z-scored over the window's time axis; designed for 300 s
  windows;
- output: per 0.5 s column, p(seizure) of the 1 s segment centred on it.

Its own ``predict_channel_seizure_probability`` is **not causal**: it scores 300 s windows every
20 s, drops 10 s at both window edges, and takes the maximum over overlapping windows, so the value
at time t uses up to ~290 s of signal after t. A bedside detector cannot do that. Here the peer is
run causally (:class:`PeerScorer`): at every hop ``k`` (the same hop as our pipeline, 1 s), the
window is the newest ``min(window_s, elapsed)`` seconds of signal ending at the hop (only data up to
"now"), and the probability used is that of the **last** spectrogram column (the 1 s segment ending
at "now"). The BiLSTM's forward direction sees the whole window; its backward direction sees almost
nothing after that column: this is the causal price, and the report says so.

The per-window, per-channel probabilities then go through :class:`realtime.decision.DecisionMachine`
(channel aggregation, smoothing, thresholds, minimum duration, merge gap) with the same settings as
our network, so the comparison differs only in the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from realtime.config import DecisionConfig
from realtime.decision import DecisionEvent, DecisionMachine

PEER_PACKAGE = "brainmaze-eeg-models"


def peer_available() -> tuple[bool, str]:
    """``(True, version)`` when brainmaze-eeg-models and onnxruntime import, else ``(False, why)``."""
    try:
        import brainmaze_eeg_models
        import onnxruntime  # noqa: F401
        from brainmaze_eeg_models.seizure import infer_seizure_probability, preprocess_input  # noqa: F401
    except Exception as exc:  # any import failure means "not usable here"
        return False, f"{type(exc).__name__}: {exc}"
    return True, brainmaze_eeg_models.__version__


def causal_window_bounds(
    n_samples: int, sfreq: float, hop_s: float, window_s: float, min_window_s: float
) -> list[tuple[int, int]]:
    """Causal windows over a recording of ``n_samples``: ``[(start, end)]`` sample indices, ``end`` exclusive.

    Window ``k`` ends at ``end_k = round(first_end + k * hop)`` samples, where ``first_end`` is the first
    multiple of the hop holding at least ``min_window_s`` of signal; it starts ``min(window_s, end_k)``
    seconds earlier (never before sample 0). Every window therefore uses only samples before its end:
    the "now" of window ``k`` is sample ``end_k - 1``.
    """
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples!r}")
    if not (sfreq > 0 and hop_s > 0 and window_s > 0 and min_window_s > 0):
        raise ValueError(
            f"sfreq, hop_s, window_s and min_window_s must be > 0, got {sfreq!r}, {hop_s!r}, "
            f"{window_s!r}, {min_window_s!r}"
        )
    if min_window_s > window_s:
        raise ValueError(f"min_window_s ({min_window_s!r}) must not exceed window_s ({window_s!r})")
    hop = hop_s * sfreq
    win = int(round(window_s * sfreq))
    k0 = math.ceil(min_window_s * sfreq / hop - 1e-9)
    out = []
    k = k0
    while True:
        end = int(round(k * hop))
        if end > n_samples:
            break
        out.append((max(0, end - win), end))
        k += 1
    return out


def _valid_rate(sfreq: float) -> int:
    """The peer's rate rule: a whole, even number of Hz >= 200."""
    r = float(sfreq)
    return int(r) if r.is_integer() and int(r) % 2 == 0 and r >= 200 else 0


@dataclass
class PeerResult:
    """Causal peer scores of one recording."""

    times: np.ndarray  # [n_windows] "now" of each window (seconds from the start; its last sample)
    window_starts: np.ndarray  # [n_windows] first sample time of each window
    channel_probabilities: np.ndarray  # [n_windows, n_channels] p(seizure) of the newest 1 s per channel
    sfreq: float  # rate the peer ran at


class PeerScorer:
    """Run the brainmaze seizure model causally (see the module docstring)."""

    def __init__(
        self,
        model: str = "modelA",
        *,
        window_s: float = 300.0,
        min_window_s: float = 4.0,
        hop_s: float = 1.0,
        batch: int = 64,
        threads: int | None = None,
    ):
        ok, why = peer_available()
        if not ok:
            raise RuntimeError(
                f"the peer needs {PEER_PACKAGE} and onnxruntime (pip install {PEER_PACKAGE} onnxruntime): {why}"
            )
        from brainmaze_eeg_models.seizure._models import load_trained_model

        self.model_name = model
        self.model = load_trained_model(model, device="cpu", threads=threads)
        self.window_s, self.min_window_s, self.hop_s, self.batch = (
            float(window_s),
            float(min_window_s),
            float(hop_s),
            int(batch),
        )

    def score(self, data_uv: np.ndarray, sfreq: float) -> PeerResult:
        """``data_uv [n_channels, n_samples]`` at ``sfreq`` -> causal per-window, per-channel probabilities.

        A rate the peer does not accept (not a whole even number >= 200 Hz) is resampled to 256 Hz
        first (``scipy.signal.resample_poly``); the window times stay in seconds from the start.
        """
        from brainmaze_eeg_models.seizure import infer_seizure_probability, preprocess_input

        from evaluation.stitch import resample

        x = np.asarray(data_uv, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"data must be [n_channels, n_samples], got shape {x.shape}")
        fs = _valid_rate(sfreq)
        if not fs:
            fs = 256
            x = np.vstack([resample(row, sfreq, fs) for row in x])
        bounds = causal_window_bounds(x.shape[1], fs, self.hop_s, self.window_s, self.min_window_s)
        n_ch = x.shape[0]
        probs = np.full((len(bounds), n_ch), np.nan)
        # Batch windows of equal length (all of them once the window is full).
        by_len: dict[int, list[int]] = {}
        for i, (s, e) in enumerate(bounds):
            by_len.setdefault(e - s, []).append(i)
        for _, idx in sorted(by_len.items()):
            for b in range(0, len(idx), max(1, self.batch // max(1, n_ch))):
                chunk = idx[b : b + max(1, self.batch // max(1, n_ch))]
                rows = np.concatenate([x[:, bounds[i][0] : bounds[i][1]] for i in chunk], axis=0)
                finite = np.isfinite(rows).all(axis=1)
                rows_clean = np.where(np.isfinite(rows), rows, 0.0)
                p = infer_seizure_probability(preprocess_input(rows_clean, fs), self.model)[:, -1]
                p = np.where(finite, p, np.nan).reshape(len(chunk), n_ch)
                probs[chunk] = p
        ends = np.array([e for _, e in bounds], dtype=np.float64)
        starts = np.array([s for s, _ in bounds], dtype=np.float64)
        return PeerResult(
            times=(ends - 1) / fs, window_starts=starts / fs, channel_probabilities=probs, sfreq=float(fs)
        )


def run_decision(
    times: Sequence[float] | np.ndarray,
    window_starts: Sequence[float] | np.ndarray,
    channel_probabilities: np.ndarray,
    config: DecisionConfig,
    hop_s: float,
    whole_bed: Sequence[int] = (),
) -> tuple[np.ndarray, list[DecisionEvent]]:
    """Feed per-window channel probabilities ``[n_windows, n_channels]`` through our decision machine
    (``whole_bed``: the channels that count as the whole bed).

    Returns ``(smoothed bed probability [n_windows], events)`` including the flush at the end, exactly
    as :class:`realtime.pipeline.Pipeline` does for our own model.
    """
    machine = DecisionMachine(config, hop_s, whole_bed=whole_bed)
    probs = np.asarray(channel_probabilities, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != len(times):
        raise ValueError(f"channel_probabilities must be [n_windows={len(times)}, n_channels], got {probs.shape}")
    smoothed = np.full(len(times), np.nan)
    events: list[DecisionEvent] = []
    for i, t in enumerate(times):
        events.extend(machine.step(float(t), float(window_starts[i]), float(t), probs[i]))
        smoothed[i] = machine.last_probability
    events.extend(machine.flush(float(times[-1]) if len(times) else None))
    return smoothed, events
