"""A run's per-request figures as compact columns, and their exact order statistics in
memory that does not grow with the run.

A `Column` keeps its values in an `array` (8 bytes a value, no Python object each) and,
past `CHUNK` values, spills full chunks to one anonymous temporary file shared by the
columns of a load point (`Spill`). `ranked(column, ranks)` finds the values at given ranks
of the sorted column exactly, without sorting it in memory: a histogram pass over the
column narrows each rank to a bucket, and a bucket small enough is collected and sorted.
Every pass reads the column in chunks, so a million requests (or fifteen million
inter-token gaps) cost a few passes over a file, not a list of floats.
"""

from __future__ import annotations

import bisect
import math
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

CHUNK = 16_384  # values a column holds in memory before it spills them (128 KiB)
SORT_IN_MEMORY = 131_072  # a column up to this many values is sorted whole
COLLECT = 65_536  # a window of the sorted column this small is collected and sorted
BUCKETS = 4_096  # histogram buckets per narrowing pass


class Spill:
    """One anonymous temporary file that the columns of a load point write full chunks to;
    opened on the first spill, gone when closed (or when the process ends)."""

    __slots__ = ("_file",)

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None

    def write(self, data: array[int] | array[float]) -> int:
        if self._file is None:
            # lives as long as the load point's figures; close() or the process ends it
            self._file = tempfile.TemporaryFile(prefix="costcli-column-")  # noqa: SIM115
        self._file.seek(0, 2)
        offset = self._file.tell()
        data.tofile(self._file)
        return offset

    def read(self, typecode: str, offset: int, n: int) -> array[float]:
        assert self._file is not None
        self._file.seek(offset)
        out: array[float] = array(typecode)
        out.fromfile(self._file, n)
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Column:
    """Values of one figure in arrival order: `append`, then read back with `blocks()`."""

    __slots__ = ("_buf", "_chunks", "_spill", "count", "typecode")

    def __init__(self, spill: Spill, typecode: str = "d") -> None:
        self.typecode = typecode
        self.count = 0
        self._spill = spill
        self._buf: array[float] = array(typecode)
        self._chunks: list[tuple[int, int]] = []  # (offset, values) in the spill file

    def append(self, value: float) -> None:
        self._buf.append(value)
        self.count += 1
        if len(self._buf) >= CHUNK:
            self._chunks.append((self._spill.write(self._buf), len(self._buf)))
            self._buf = array(self.typecode)

    def extend(self, values: Iterable[float]) -> None:
        for v in values:
            self.append(v)

    def blocks(self) -> Iterator[array[float]]:
        """The values in arrival order, a chunk at a time."""
        for offset, n in self._chunks:
            yield self._spill.read(self.typecode, offset, n)
        if self._buf:
            yield self._buf

    def __iter__(self) -> Iterator[float]:
        for block in self.blocks():
            yield from block

    def __len__(self) -> int:
        return self.count


Window = tuple[float, float, int, int, list[int]]  # lo, hi, values below, inside, ranks


class Ranked(Sequence[float]):
    """The values of a column at some ranks of its sorted order, indexable like the sorted
    list itself at those ranks (what `metrics.percentile` reads)."""

    def __init__(self, n: int, values: dict[int, float]) -> None:
        self._n, self._values = n, values

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, rank: int) -> float:  # type: ignore[override]
        return self._values[rank]


def ranked(column: Column, ranks: Iterable[int]) -> Ranked:
    """The exact values at `ranks` (0-based) of the sorted column.

    Each open window is a closed value range [lo, hi] holding the ranks still to find, with
    the count of values below it. A pass bins every window's values into BUCKETS buckets
    (their counts, least and greatest); each rank moves to its bucket, whose bounds are
    actual values, so the windows shrink every pass until they hold one value or few
    enough to sort."""
    wanted = sorted(set(ranks))
    n = column.count
    if n <= SORT_IN_MEMORY:
        data = sorted(column)
        return Ranked(n, {r: data[r] for r in wanted})
    lo = min(min(b) for b in column.blocks())
    hi = max(max(b) for b in column.blocks())
    found: dict[int, float] = {}
    windows: list[Window] = [(lo, hi, 0, n, wanted)]
    while windows:
        for w_lo, w_hi, _, _, rs in windows:
            if w_lo == w_hi:  # one value fills the window: every rank in it is that value
                found.update((r, w_lo) for r in rs)
        rest = [w for w in windows if w[0] != w[1]]
        _collect(column, [w for w in rest if w[3] <= COLLECT], found)
        windows = _narrow(column, [w for w in rest if w[3] > COLLECT])
    return Ranked(n, {r: found[r] for r in wanted})


def _window_of(lows: list[float], windows: list[Window], v: float) -> int:
    """The index of the window holding v, or -1 (windows are disjoint, sorted by lo)."""
    i = bisect.bisect_right(lows, v) - 1
    return i if i >= 0 and v <= windows[i][1] else -1


def _collect(column: Column, windows: list[Window], found: dict[int, float]) -> None:
    """One pass: every window's values, sorted, give its ranks."""
    if not windows:
        return
    windows.sort(key=lambda w: w[0])
    lows = [w[0] for w in windows]
    bins: list[list[float]] = [[] for _ in windows]
    for block in column.blocks():
        for v in block:
            i = _window_of(lows, windows, v)
            if i >= 0:
                bins[i].append(v)
    for (_, _, below, _, rs), values in zip(windows, bins, strict=True):
        values.sort()
        for r in rs:
            found[r] = values[r - below]


def _narrow(column: Column, windows: list[Window]) -> list[Window]:
    """One histogram pass over the large windows: each rank's bucket becomes its window."""
    if not windows:
        return []
    windows.sort(key=lambda w: w[0])
    counts, mins, maxs = _histogram(column, windows)
    out: dict[tuple[int, int], Window] = {}
    for i, (w_lo, w_hi, below, inside, rs) in enumerate(windows):
        cum, b = below, 0
        for r in rs:  # ranks ascending: walk the buckets once
            while cum + counts[i][b] <= r:
                cum += counts[i][b]
                b += 1
            if (i, b) in out:
                out[i, b][4].append(r)
                continue
            count = counts[i][b]
            if (mins[i][b], maxs[i][b], count) == (w_lo, w_hi, inside):
                count = 0  # did not shrink (float rounding): collected next pass
            out[i, b] = (mins[i][b], maxs[i][b], cum, count, [r])
    return list(out.values())


def _histogram(
    column: Column, windows: list[Window]
) -> tuple[list[list[int]], list[list[float]], list[list[float]]]:
    """Per window and bucket: how many values, the least and the greatest."""
    lows = [w[0] for w in windows]
    edges = [[lo + (hi - lo) * b / BUCKETS for b in range(BUCKETS)] for lo, hi, *_ in windows]
    counts = [[0] * BUCKETS for _ in windows]
    mins = [[math.inf] * BUCKETS for _ in windows]
    maxs = [[-math.inf] * BUCKETS for _ in windows]
    for block in column.blocks():
        for v in block:
            i = _window_of(lows, windows, v)
            if i < 0:
                continue
            b = bisect.bisect_right(edges[i], v) - 1
            counts[i][b] += 1
            mins[i][b] = min(mins[i][b], v)
            maxs[i][b] = max(maxs[i][b], v)
    return counts, mins, maxs
