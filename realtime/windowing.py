"""When a window is due, and which samples it covers. Pure arithmetic on sample counts; no I/O.

Counts are native-rate samples received since the stream (re)started. Window ``k`` (k = 0, 1, ...)
ends just after sample ``window_samples + offset_samples + round(k * hop_samples)`` (an exclusive end count) and
covers ``[end - window_samples, end)``; ``offset_samples`` (0 by default, under a hop) is the bed's phase: a daemon
of several beds spreads their windows over the hop, so that they do not all come due at once (docs/daemon.md
"Several beds"). The hop may be fractional (e.g. 1 s at 173.61 Hz): ends are
rounded from the exact multiple, so they never drift.

When the consumer falls behind by several hops, every due window is handed out, oldest first (the
pipeline scores them in one batched call), so results do not depend on how fast the machine is or how
the samples were chunked; a window whose samples are no longer in the ring buffer
(``oldest_available``) is skipped and counted, never scored on overwritten data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DueWindows:
    ends: tuple[int, ...]  # exclusive end counts of the windows to score now, oldest first
    skipped: int  # due windows that will never be scored (their samples were overwritten)


class WindowScheduler:
    """Yields the window ends due as samples arrive. ``hop_samples`` may be fractional."""

    def __init__(self, window_samples: int, hop_samples: float, offset_samples: int = 0):
        if int(window_samples) != window_samples or window_samples < 1:
            raise ValueError(f"window_samples must be an integer >= 1, got {window_samples!r}")
        if not hop_samples > 0:
            raise ValueError(f"hop_samples must be > 0, got {hop_samples!r}")
        if int(offset_samples) != offset_samples or not 0 <= offset_samples < hop_samples:
            raise ValueError(f"offset_samples must be an integer in [0, hop_samples), got {offset_samples!r}")
        self.window_samples = int(window_samples)
        self.hop_samples = float(hop_samples)
        self.offset_samples = int(offset_samples)  # the first window waits this much longer: the bed's phase
        self._next_k = 0  # index of the next window not yet handed out or skipped

    def end_of(self, k: int) -> int:
        """Exclusive end count of window ``k``."""
        return self.window_samples + self.offset_samples + round(k * self.hop_samples)

    @property
    def next_end(self) -> int:
        """Exclusive end count of the next window not yet handed out: it is due once that many samples came."""
        return self.end_of(self._next_k)

    def due(self, total_samples: int, *, oldest_available: int = 0) -> DueWindows:
        """Windows due now that ``total_samples`` samples have arrived; advances the schedule.

        ``oldest_available`` is the count index of the oldest sample still buffered: a window
        starting before it is skipped. Each window is returned or skipped exactly once.
        """
        if total_samples < 0:
            raise ValueError(f"total_samples must be >= 0, got {total_samples!r}")
        ends: list[int] = []
        k = self._next_k
        while self.end_of(k) <= total_samples:
            ends.append(self.end_of(k))
            k += 1
        self._next_k = k
        readable = [e for e in ends if e - self.window_samples >= oldest_available]
        return DueWindows(ends=tuple(readable), skipped=len(ends) - len(readable))

    def reset(self) -> None:
        """Start counting again from zero samples (stream restarted)."""
        self._next_k = 0
