"""
Result pictures worth opening: the uploaded picture a task used, cropped to the size it
asked for and recoloured by its style, with a pattern drawn from its prompt; or, with no
picture to start from, a gradient in the style's colours under the prompt's pattern.

Everything is deterministic (the same inputs give the same bytes) and cheap: rows are
built with byte-string operations (``bytes.translate`` per colour channel,
``operator.itemgetter`` to crop and scale), never pixel by pixel in Python, so a 256x256
picture takes a few milliseconds.

* A **look** (from the style) maps each colour channel through a table: between a dark
  and a light colour of the style's hue, on a curve of its own, the channels sometimes
  swapped.  Two styles give two clearly different pictures of the same upload.
* A **pattern** (from the prompt) lightens or darkens stripes, rings, checks, waves or
  dots; the n-th result of a task shifts it, so the results of one task differ too.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Final

import attrs

from ._files import Pixels, encode_png

Segments = list[tuple[int, int]]
"""Runs ``[start, stop)`` of pixels in one row that a pattern covers."""

_PERMUTATIONS: Final = ((0, 1, 2), (0, 1, 2), (0, 1, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))

# Brightness tables from the top of a picture (x1.12) to its bottom (x0.78).
_LIGHT: Final = tuple(
    bytes(min(255, round(v * (1.12 - 0.34 * step / 31))) for v in range(256)) for step in range(32)
)


def _digest(seed: str) -> bytes:
    return hashlib.sha256(seed.encode()).digest()


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


@attrs.frozen
class Look:
    """
    A style's colouring: one 256-byte table per output channel, fed by ``order``, and
    whether a picture made from an upload is lit from above.
    """

    tables: tuple[bytes, bytes, bytes] = attrs.field(repr=False)
    order: tuple[int, int, int]
    light: bool = True

    @classmethod
    def from_seed(cls, seed: str) -> Look:
        """
        Draw a look from *seed* (a style id): its hues, tone curve and channel order.
        """
        d = _digest(seed)
        hue = d[0] / 256
        dark = _rgb(hue, 0.55 + d[1] / 1024, 0.12 + d[2] / 1024)
        light = _rgb(hue + 0.08 + d[3] / 1536, 0.15 + d[4] / 1024, 0.97)
        gamma = 0.65 + d[5] / 320  # 0.65-1.45
        levels = (0, 0, 5, 7)[d[6] % 4]  # posterized now and then

        def curve(v: int) -> float:
            t = math.pow(v / 255, gamma)
            return round(t * (levels - 1)) / (levels - 1) if levels else t

        tables = tuple(
            bytes(round(lo + (hi - lo) * curve(v)) for v in range(256))
            for lo, hi in zip(dark, light, strict=True)
        )
        return cls((tables[0], tables[1], tables[2]), _PERMUTATIONS[d[7] % 6])

    @classmethod
    def neutral(cls) -> Look:
        """
        A gentle contrast curve and no tint: what an enhance does to a picture.
        """
        table = bytes(round(255 * (0.5 - 0.5 * math.cos(math.pi * v / 255))) for v in range(256))
        curve = bytes(round(0.6 * v + 0.4 * c) for v, c in zip(range(256), table, strict=True))
        return cls((curve, curve, curve), (0, 1, 2), light=False)

    def apply(self, row: bytes) -> bytearray:
        """
        Recolour one RGB row.
        """
        out = bytearray(len(row))
        for channel, (source, table) in enumerate(zip(self.order, self.tables, strict=True)):
            out[channel::3] = row[source::3].translate(table)
        return out

    def gradient(self, width: int, height: int) -> Iterator[bytearray]:
        """
        Rows from the look's light colour at the top to its dark colour at the bottom.
        """
        for y in range(height):
            v = round(255 * (1 - y / max(1, height - 1)))
            yield bytearray(bytes(table[v] for table in self.tables) * width)


@attrs.frozen
class Pattern:
    """
    A prompt's pattern: which runs of each row it covers, and how it shades them.
    """

    kind: str
    period: float
    phase: float
    centre: tuple[float, float]
    shade: bytes = attrs.field(repr=False)

    @classmethod
    def from_seed(
        cls, seed: str, width: int, height: int, variant: int, strength: float
    ) -> Pattern:
        """
        Draw a pattern from *seed* (a prompt) for a picture of this size.

        Args:
            seed: The prompt.
            width: Pixels across.
            height: Pixels down.
            variant: Which result of the task; shifts the pattern.
            strength: How far covered pixels move towards white or black (0-1).
        """
        d = _digest(seed)
        side = max(width, height)
        kind = ("stripes", "rings", "checks", "waves", "dots")[d[0] % 5]
        period = side / (5 + d[1] % 7)
        phase = (d[2] / 256 + 0.37 * variant) * 2 * period
        centre = (width * (0.2 + 0.6 * d[3] / 255), height * (0.2 + 0.6 * d[4] / 255))
        if d[5] % 2:
            shade = bytes(round(v + (255 - v) * strength) for v in range(256))
        else:
            shade = bytes(round(v * (1 - strength)) for v in range(256))
        return cls(kind, period, phase, centre, shade)

    def segments(self, y: int, width: int) -> Segments:
        """
        The runs of row *y* the pattern covers, clipped to ``[0, width)``.
        """
        p = self.period
        if self.kind in ("stripes", "waves"):
            if self.kind == "stripes":
                offset = y + self.phase
            else:
                offset = self.phase + 0.3 * p * math.sin(2 * math.pi * y / (2.5 * p))
            return _periodic(offset, p, width)
        if self.kind == "checks":
            return _periodic(self.phase + p * (int(y // p) % 2), p, width)
        cx, cy = self.centre
        if self.kind == "rings":
            runs: list[tuple[float, float]] = []
            dy = abs(y - cy)
            start = self.phase % (2 * p) - 2 * p
            reach = math.hypot(max(cx, width - cx), dy) + 2 * p
            inner = start
            while inner < reach:
                outer = inner + p
                if outer > dy:
                    far = math.sqrt(outer * outer - dy * dy)
                    near = math.sqrt(inner * inner - dy * dy) if max(0, inner) > dy else 0.0
                    runs += [(cx - far, cx - near), (cx + near, cx + far)]
                inner += 2 * p
            return _clip(runs, width)
        # dots: a grid of discs, every other row of them shifted by half a step
        radius, step = 0.3 * p, p
        row = round((y - cy) / step)
        dy = abs(y - (cy + row * step))
        if dy >= radius:
            return []
        half = math.sqrt(radius * radius - dy * dy)
        first = (cx + (step / 2 if row % 2 else 0) + self.phase) % step - step
        return _clip([(x - half, x + half) for x in _frange(first, width + step, step)], width)


def _frange(start: float, stop: float, step: float) -> Iterator[float]:
    while start < stop:
        yield start
        start += step


def _periodic(offset: float, period: float, width: int) -> Segments:
    """
    Runs of length *period* every ``2 * period``, shifted by *offset*.
    """
    first = -(offset % (2 * period))
    return _clip([(x, x + period) for x in _frange(first, width, 2 * period)], width)


def _clip(runs: Sequence[tuple[float, float]], width: int) -> Segments:
    clipped = ((max(0, round(a)), min(width, round(b))) for a, b in runs)
    return [(a, b) for a, b in clipped if a < b]


def fit(source: Pixels, width: int, height: int) -> list[bytes]:
    """
    Crop *source* around its centre to the aspect of ``width x height`` and scale it to
    that size (nearest pixel).

    Returns:
        ``height`` RGB rows of ``3 * width`` bytes.
    """
    sw, sh = source.width, source.height
    if sw * height > sh * width:  # wider than wanted: keep the middle columns
        cw, ch = sh * width / height, float(sh)
    else:
        cw, ch = float(sw), sw * height / width
    x0, y0 = (sw - cw) / 2, (sh - ch) / 2
    columns = [min(sw - 1, int(x0 + (x + 0.5) * cw / width)) for x in range(width)]
    pick: Callable[[bytes], tuple[int, ...]] = operator.itemgetter(
        *(3 * sx + c for sx in columns for c in range(3))
    )
    scaled: dict[int, bytes] = {}
    rows: list[bytes] = []
    for y in range(height):
        sy = min(sh - 1, int(y0 + (y + 0.5) * ch / height))
        if sy not in scaled:
            scaled[sy] = bytes(pick(source.rows[sy]))
        rows.append(scaled[sy])
    return rows


def render(
    width: int,
    height: int,
    *,
    sources: Sequence[Pixels] = (),
    look: Look,
    pattern: str | None,
    variant: int = 0,
) -> bytes:
    """
    Draw one result picture as a PNG.

    Args:
        width: Pixels across.
        height: Pixels down.
        sources: Pictures to start from, side by side (a group photo has two); none for
            a gradient in the look's colours.
        look: How to colour it.
        pattern: The seed of the pattern laid over it (a prompt), or None for none.
        variant: Which result of its task this is; shifts the pattern.

    Returns:
        An 8-bit RGB PNG of ``width x height``.
    """
    if sources:
        widths = [width // len(sources)] * len(sources)
        widths[-1] += width - sum(widths)
        parts = [fit(source, w, height) for source, w in zip(sources, widths, strict=True)]
        rows = [look.apply(b"".join(pieces)) for pieces in zip(*parts, strict=True)]
        if look.light:
            # Light from above, so a flat upload still gets some depth.
            for y, row in enumerate(rows):
                row[:] = row.translate(_LIGHT[y * len(_LIGHT) // height])
    else:
        rows = list(look.gradient(width, height))
    if pattern is not None:
        strength = 0.22 if sources else 0.38
        drawn = Pattern.from_seed(pattern, width, height, variant, strength)
        for y, row in enumerate(rows):
            for a, b in drawn.segments(y, width):
                row[3 * a : 3 * b] = row[3 * a : 3 * b].translate(drawn.shade)
    return encode_png(Pixels(width, height, tuple(bytes(row) for row in rows)))
