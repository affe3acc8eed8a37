"""realtime.replay.Blocks: the recording by position on a repeating timeline, read a block at a time."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.recordings import Recording
from realtime.replay import Blocks


class CountingRecording(Recording):
    """A recording that counts its reads (what the player would ask of a file)."""

    reads: list[tuple[int, int]]

    def _read(self, start: int, stop: int, rows) -> np.ndarray:
        self.reads.append((start, stop))
        return super()._read(start, stop, rows)


@pytest.mark.parametrize("block", [1, 4, 7, 25, 100])
def test_rows_follow_the_repeated_recording_across_blocks_and_the_wrap(block):
    data = np.arange(3 * 25, dtype=np.float64).reshape(3, 25) * 0.5
    rec = CountingRecording(data=data, sfreq=100.0, ch_names=["a", "b", "c"])
    rec.reads = []
    timeline = np.tile(data, 4).T.astype(np.float32)  # [4 x 25, 3]
    blocks = Blocks(rec, block)
    for first, stop in [(0, 3), (3, 10), (10, 24), (24, 26), (26, 50), (50, 51), (51, 99)]:
        got = blocks.rows(first, stop)
        assert got.dtype == np.float32 and got.shape == (stop - first, 3)
        np.testing.assert_array_equal(got, timeline[first:stop])
    assert max(b - a for a, b in rec.reads) <= block  # never more than a block from the recording at once
    assert len(rec.reads) <= 99 // min(block, 25) + 4 * 2  # blocks are reused, not re-read per chunk
