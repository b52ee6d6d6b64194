"""
Tiny valid media files, the magic-byte sniffing the upload endpoint relies on, and a
small PNG codec for result pictures.

Everything is generated, never read from disk: a solid-colour PNG of any size, a
grey baseline JPEG of any size and a minimal MP4.  They decode (the PNG and JPEG in any
viewer) yet stay a few hundred bytes, so a test can upload, generate and download
thousands of them.

:func:`decode_png` reads the pixels of any non-interlaced PNG in pure Python (zlib and
the five row filters), shrunk while it reads; :func:`encode_png` writes RGB pixels.
"""

from __future__ import annotations

import functools
import io
import math
import operator
import struct
import zlib
from collections.abc import Callable
from typing import Final, Literal

import attrs
import imagesize

ImageKind = Literal["png", "jpeg", "gif", "webp", "bmp", "tiff", "heif"]

PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC: Final = b"\xff\xd8\xff"

_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif", b"avis"})


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(
    width: int = 64, height: int = 64, rgb: tuple[int, int, int] = (88, 130, 200)
) -> bytes:
    """
    Encode a solid-colour 8-bit RGB PNG.

    Args:
        width: Pixels across, at least 1.
        height: Pixels down, at least 1.
        rgb: The colour, each channel 0-255.

    Returns:
        The PNG file; a 64x64 image is under 100 bytes because every row compresses away.

    Raises:
        ValueError: If a dimension is below 1.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image dimensions must be positive, got {width}x{height}")
    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    compressor = zlib.compressobj(9)
    # Compress row by row so a 4096x4096 image never exists uncompressed in memory.
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_MAGIC
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def jpeg_bytes(width: int = 64, height: int = 64) -> bytes:
    """
    Encode a mid-grey baseline greyscale JPEG.

    Every 8x8 block is flat grey, so its DCT has only a zero DC difference and an
    end-of-block: with one-symbol Huffman tables that is two bits per block.

    Args:
        width: Pixels across, 1-65535.
        height: Pixels down, 1-65535.

    Returns:
        A JFIF file any decoder reads as a grey image of that size.

    Raises:
        ValueError: If a dimension is outside 1-65535.
    """
    if not (0 < width < 65536 and 0 < height < 65536):
        raise ValueError(f"JPEG dimensions must be 1-65535, got {width}x{height}")
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    bits = 2 * blocks
    # All-zero code bits, then the last partial byte padded with ones as the standard asks.
    scan = bytearray(bits // 8)
    if bits % 8:
        scan.append(0xFF >> (bits % 8))
    one_code_table = bytes([1] + [0] * 15) + b"\x00"  # one code of length 1, symbol 0
    return b"".join(
        (
            b"\xff\xd8",
            _jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            _jpeg_segment(0xDB, b"\x00" + b"\x01" * 64),
            _jpeg_segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"),
            _jpeg_segment(0xC4, b"\x00" + one_code_table),
            _jpeg_segment(0xC4, b"\x10" + one_code_table),
            _jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            bytes(scan),
            b"\xff\xd9",
        )
    )


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload) + 8) + kind + payload


def mp4_bytes(seconds: int = 5) -> bytes:
    """
    Build a minimal ISO-BMFF (MP4) file: ``ftyp``, a ``moov`` with its ``mvhd``, ``mdat``.

    Args:
        seconds: The duration the movie header announces.

    Returns:
        Bytes a sniffer recognises as MP4 (``ftyp`` box with the ``isom`` brand).
    """
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41")
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd = _box(
        b"mvhd",
        struct.pack(">IIIII", 0, 0, 0, 1000, seconds * 1000)
        + struct.pack(">IH", 0x10000, 0x100)
        + bytes(10)
        + matrix
        + bytes(24)
        + struct.pack(">I", 2),
    )
    return ftyp + _box(b"moov", mvhd) + _box(b"mdat", bytes(64))


def sniff(data: bytes) -> ImageKind | None:
    """
    Name the image format the leading bytes announce.

    Args:
        data: The start of a file (16 bytes are enough).

    Returns:
        The format, or None when the bytes are not a known image format at all.
    """
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"BM") and len(data) >= 26:
        return "bmp"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heif"
    return None


def dimensions(data: bytes) -> tuple[int, int] | None:
    """
    Read the pixel size from a PNG or JPEG header, refusing anything damaged.

    Args:
        data: A whole file already sniffed as PNG or JPEG.

    Returns:
        ``(width, height)``, or None when the header is truncated, corrupt (a PNG's IHDR
        CRC does not match) or announces an empty image.
    """
    if data.startswith(PNG_MAGIC):
        # The IHDR chunk must come first: length 13, type, 13 bytes, CRC.
        if len(data) < 33 or data[8:16] != b"\x00\x00\x00\x0dIHDR":
            return None
        (crc,) = struct.unpack(">I", data[29:33])
        if crc != zlib.crc32(data[12:29]):
            return None
        width, height = struct.unpack(">II", data[16:24])
    else:
        # imagesize walks JPEG markers to the frame header; a BytesIO keeps it from
        # treating the bytes as a path (or a str as a URL to download).
        width, height = imagesize.get(io.BytesIO(data))
    if width <= 0 or height <= 0:
        return None
    return int(width), int(height)


# -- pixels --------------------------------------------------------------------------------


@attrs.frozen
class Pixels:
    """
    An 8-bit RGB picture: ``rows`` holds ``height`` rows of ``3 * width`` bytes.
    """

    width: int
    height: int
    rows: tuple[bytes, ...] = attrs.field(repr=False)


def encode_png(pixels: Pixels, level: int = 6) -> bytes:
    """
    Encode RGB pixels as an 8-bit PNG (filter type 0 on every row).

    Args:
        pixels: The picture.
        level: zlib compression level.

    Returns:
        The PNG file.
    """
    compressor = zlib.compressobj(level)
    idat = b"".join(compressor.compress(b"\x00" + row) for row in pixels.rows)
    idat += compressor.flush()
    header = struct.pack(">IIBBBBB", pixels.width, pixels.height, 8, 2, 0, 0, 0)
    return (
        PNG_MAGIC
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


# Samples per pixel of each PNG colour type: grey, RGB, palette, grey+alpha, RGBA.
_CHANNELS: Final = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_DEPTHS: Final = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}


def _add_bytes(a: bytes, b: bytes) -> bytes:
    """
    ``(a[i] + b[i]) % 256`` for every i, in big-integer arithmetic: even and odd bytes
    are added apart so that no carry crosses into a neighbour.
    """
    n = len(a)
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    even, odd, whole = _lanes(n)
    total = (((x & even) + (y & even)) & even) | (((x & odd) + (y & odd)) & odd)
    return (total & whole).to_bytes(n, "big")


@functools.lru_cache(maxsize=8)
def _lanes(n: int) -> tuple[int, int, int]:
    """
    Masks over *n* bytes: every other byte from the last, the bytes between, and all.
    """
    even = int.from_bytes((b"\x00\xff" * n)[-n:], "big")
    return even, even << 8, (1 << (8 * n)) - 1


def _unfilter(kind: int, raw: bytes, prev: bytes, bpp: int) -> bytes:
    """
    Undo one row's PNG filter (None, Sub, Up, Average, Paeth).

    Raises:
        ValueError: For an unknown filter type.
    """
    if kind == 0:
        return raw
    if kind == 2:
        return _add_bytes(raw, prev)
    out = bytearray(raw)
    n = len(out)
    if kind == 1:
        for i in range(bpp, n):
            out[i] = (out[i] + out[i - bpp]) & 0xFF
    elif kind == 3:
        for i in range(n):
            left = out[i - bpp] if i >= bpp else 0
            out[i] = (out[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(n):
            if i >= bpp:
                a, c = out[i - bpp], prev[i - bpp]
            else:
                a = c = 0
            b = prev[i]
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            if pa <= pb and pa <= pc:
                predicted = a
            elif pb <= pc:
                predicted = b
            else:
                predicted = c
            out[i] = (out[i] + predicted) & 0xFF
    else:
        raise ValueError(f"unknown PNG filter type {kind}")
    return bytes(out)


def _chunks(data: bytes) -> dict[bytes, bytes]:
    """
    IHDR, PLTE and the joined IDAT data of a PNG (CRCs are not checked).

    Raises:
        ValueError: When the file is cut short or lacks IHDR or IDAT.
    """
    found: dict[bytes, bytes] = {}
    idat: list[bytes] = []
    at = len(PNG_MAGIC)
    while at + 8 <= len(data):
        (length,), kind = struct.unpack(">I", data[at : at + 4]), data[at + 4 : at + 8]
        body = data[at + 8 : at + 8 + length]
        if len(body) < length:
            raise ValueError("truncated PNG chunk")
        if kind == b"IDAT":
            idat.append(body)
        elif kind in (b"IHDR", b"PLTE"):
            found.setdefault(kind, body)
        elif kind == b"IEND":
            break
        at += 12 + length
    if b"IHDR" not in found or not idat:
        raise ValueError("PNG without IHDR or IDAT")
    found[b"IDAT"] = b"".join(idat)
    return found


DECODE_BUDGET: Final = 8 * 1024 * 1024
"""The most unfiltered pixel data :func:`decode_png` reads (about 2.8 megapixels of RGB)."""


def decode_png(data: bytes, max_side: int = 512, budget: int = DECODE_BUDGET) -> Pixels | None:
    """
    Read a PNG's pixels as 8-bit RGB, shrunk (nearest pixel) to at most *max_side*.

    Every colour type and bit depth is read; alpha is dropped, 16-bit samples keep their
    high byte, grey and palette become RGB.  Every row must be unfiltered, as each may
    depend on the one above: in pure Python that costs up to about 0.1 s per megabyte of
    pixel data, hence the *budget*.

    Args:
        data: A PNG file.
        max_side: The longest side of the returned picture.
        budget: Larger pictures (in bytes of pixel data) are not read.

    Returns:
        The pixels, or None for an interlaced, damaged or unreadable file, or one over
        the budget.
    """
    try:
        return _decode_png(data, max_side, budget)
    except (ValueError, IndexError, KeyError, struct.error, zlib.error):
        return None


def _decode_png(data: bytes, max_side: int, budget: int) -> Pixels | None:
    if not data.startswith(PNG_MAGIC):
        return None
    chunks = _chunks(data)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    if interlace or colour not in _CHANNELS or depth not in _DEPTHS[colour]:
        return None
    if width < 1 or height < 1:
        return None
    channels = _CHANNELS[colour]
    bits = channels * depth
    stride = (width * bits + 7) // 8
    bpp = max(1, bits // 8)
    expected = height * (stride + 1)
    if expected > budget:
        return None
    inflater = zlib.decompressobj()
    raw = inflater.decompress(chunks[b"IDAT"], expected)
    if len(raw) < expected:
        return None
    step = max(1, math.ceil(max(width, height) / max_side))
    keep_columns = range(0, width, step)
    to_rgb = _row_converter(colour, depth, width, chunks.get(b"PLTE"), keep_columns)
    rows: list[bytes] = []
    prev = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = _unfilter(raw[start], raw[start + 1 : start + 1 + stride], prev, bpp)
        if y % step == 0:
            rows.append(to_rgb(line))
        prev = line
    return Pixels(len(keep_columns), len(rows), tuple(rows))


def _row_converter(
    colour: int, depth: int, width: int, palette: bytes | None, columns: range
) -> Callable[[bytes], bytes]:
    """
    A function from one unfiltered row to the RGB bytes of the kept *columns*.
    """
    channels = _CHANNELS[colour]
    if depth < 8:
        per_byte = 8 // depth
        mask = (1 << depth) - 1
        spread = [
            bytes((byte >> (8 - depth * (k + 1))) & mask for k in range(per_byte))
            for byte in range(256)
        ]
        scale = bytes(min(255, v * 255 // mask) for v in range(256)) if colour == 0 else None

        def samples(line: bytes) -> bytes:
            values = b"".join(map(spread.__getitem__, line))[:width]
            return values.translate(scale) if scale is not None else values

    else:
        size = depth // 8  # 16-bit samples: keep the high byte

        def samples(line: bytes) -> bytes:
            return line[::size] if size > 1 else line

    if colour == 3:
        table = palette or b""
        lookup = [table[3 * i : 3 * i + 3].ljust(3, b"\x00") for i in range(256)]

        def from_palette(line: bytes) -> bytes:
            indices = samples(line)
            return b"".join(lookup[indices[x]] for x in columns)

        return from_palette
    used = 3 if channels >= 3 else 1  # RGB of RGB(A), the grey of grey(+alpha)
    pick = [channels * x + c for x in columns for c in range(used)]
    getter = operator.itemgetter(*pick) if len(pick) > 1 else None

    def convert(line: bytes) -> bytes:
        values = samples(line)
        chosen = bytes(getter(values)) if getter is not None else bytes([values[pick[0]]])
        if channels >= 3:
            return chosen
        rgb = bytearray(3 * len(chosen))
        rgb[0::3] = rgb[1::3] = rgb[2::3] = chosen
        return bytes(rgb)

    return convert
