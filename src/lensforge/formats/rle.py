"""COCO run-length masks, decoded without pycocotools or numpy.

COCO RLE is column-major (runs go down each column, then to the next column) and starts with a
background run. `counts` is either a list of ints (uncompressed) or a string (compressed with
the LEB128-like scheme of pycocotools' `rleToString`: 5 bits per character, offset 48, and from
the fourth count on each value is stored as the difference to the count two places back).

`rle_to_polygons` turns a mask into polygons: one outer outline per 4-connected component,
traced along pixel edges, so every vertex lies on a pixel corner. A polygon encloses exactly the
pixels of its component (its area equals the pixel count, its bounding box equals pycocotools'
`toBbox`); holes are not represented, since a COCO polygon cannot hold one. The mask is never
expanded to pixels: lookups go through the runs of each column.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass


class RLEError(ValueError):
    pass


def counts_from_string(text: str) -> list[int]:
    """Decode compressed COCO RLE counts (pycocotools `rleFrString`)."""
    counts: list[int] = []
    pos = 0
    n = len(text)
    while pos < n:
        value = 0
        shift = 0
        more = True
        while more:
            if pos >= n:
                raise RLEError("compressed counts end in the middle of a value")
            c = ord(text[pos]) - 48
            if not 0 <= c < 64:
                raise RLEError(f"invalid character {text[pos]!r} in compressed counts")
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            pos += 1
            shift += 5
            if not more and c & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def counts_to_string(counts: Sequence[int]) -> str:
    """Encode counts the way pycocotools' `rleToString` does."""
    out: list[str] = []
    for i, count in enumerate(counts):
        value = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = value & 0x1F
            value >>= 5
            more = value != -1 if c & 0x10 else value != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


@dataclass(frozen=True)
class Mask:
    """A decoded mask as foreground runs per column: `columns[x]` = (starts, ends) sorted."""

    height: int
    width: int
    columns: dict[int, tuple[list[int], list[int]]]
    area: int

    def contains(self, x: int, y: int) -> bool:
        col = self.columns.get(x)
        if col is None or not 0 <= y < self.height:
            return False
        starts, ends = col
        i = bisect.bisect_right(starts, y) - 1
        return i >= 0 and y < ends[i]

    def bbox(self) -> tuple[float, float, float, float]:
        if not self.columns:
            return (0.0, 0.0, 0.0, 0.0)
        xs = sorted(self.columns)
        y0 = min(starts[0] for starts, _ in self.columns.values())
        y1 = max(ends[-1] for _, ends in self.columns.values())
        return (float(xs[0]), float(y0), float(xs[-1] + 1 - xs[0]), float(y1 - y0))


def decode(counts: Sequence[int] | str, height: int, width: int) -> Mask:
    """Decode RLE counts of an `height` x `width` mask; raises `RLEError` if malformed."""
    runs = counts_from_string(counts) if isinstance(counts, str) else list(counts)
    if height <= 0 or width <= 0:
        raise RLEError(f"mask size {height}x{width} is empty")
    if any(not isinstance(c, int) or c < 0 for c in runs):
        raise RLEError("counts must be non-negative integers")
    total = sum(runs)
    if total != height * width:
        raise RLEError(
            f"counts cover {total} pixels, the {width}x{height} mask has {height * width}"
        )
    columns: dict[int, tuple[list[int], list[int]]] = {}
    pos = 0
    area = 0
    for i, run in enumerate(runs):
        if i % 2 and run:
            area += run
            start, end = pos, pos + run
            while start < end:
                x, y = divmod(start, height)
                stop = min(end, (x + 1) * height)
                starts, ends = columns.setdefault(x, ([], []))
                if ends and ends[-1] == y:  # runs split by a zero-length background run
                    ends[-1] = y + stop - start
                else:
                    starts.append(y)
                    ends.append(y + stop - start)
                start = stop
        pos += run
    return Mask(height=height, width=width, columns=columns, area=area)


def _component_starts(mask: Mask) -> list[tuple[int, int]]:
    """The top pixel of the leftmost column of every 4-connected component."""
    segments: list[tuple[int, int, int]] = []  # (x, start, end)
    index_of: dict[int, list[int]] = {}
    for x in sorted(mask.columns):
        starts, ends = mask.columns[x]
        index_of[x] = []
        for s, e in zip(starts, ends, strict=True):
            index_of[x].append(len(segments))
            segments.append((x, s, e))
    parent = list(range(len(segments)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for x, ids in index_of.items():
        prev = index_of.get(x - 1)
        if not prev:
            continue
        i = j = 0
        while i < len(ids) and j < len(prev):
            _, s1, e1 = segments[ids[i]]
            _, s2, e2 = segments[prev[j]]
            if s1 < e2 and s2 < e1:
                a, b = find(ids[i]), find(prev[j])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            if e1 <= e2:
                i += 1
            else:
                j += 1
    seen: set[int] = set()
    out: list[tuple[int, int]] = []
    for idx, (x, s, _) in enumerate(segments):
        root = find(idx)
        if root not in seen:
            seen.add(root)
            out.append((x, s))
    return out


def _trace(mask: Mask, x0: int, y0: int) -> list[float]:
    """Outer boundary of the component whose leftmost-topmost pixel is (x0, y0), walked along
    pixel edges with the component on the right-hand side; vertices where the walk turns."""
    start = (x0, y0 + 1)
    x, y = start
    dx, dy = 0, -1
    out: list[float] = []
    fg = mask.contains
    while True:
        x += dx
        y += dy
        # The two pixels ahead of vertex (x, y) when facing (dx, dy).
        right = fg(x if dx - dy > 0 else x - 1, y if dx + dy > 0 else y - 1)
        left = fg(x if dx + dy > 0 else x - 1, y if dy - dx > 0 else y - 1)
        if not right:
            ndx, ndy = -dy, dx
        elif not left:
            ndx, ndy = dx, dy
        else:
            ndx, ndy = dy, -dx
        if (ndx, ndy) != (dx, dy):
            out += [float(x), float(y)]
        dx, dy = ndx, ndy
        if (x, y) == start and (dx, dy) == (0, -1):
            return out


def rle_to_polygons(mask: Mask) -> list[list[float]]:
    """One outline per 4-connected component, in column-major order of their first pixel."""
    return [_trace(mask, x, y) for x, y in _component_starts(mask)]
