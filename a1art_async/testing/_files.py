"""
Tiny valid media files, and the magic-byte sniffing the upload endpoint relies on.

Everything is generated, never read from disk: a solid-colour PNG of any size, a
grey baseline JPEG of any size and a minimal MP4.  They decode (the PNG and JPEG in any
viewer) yet stay a few hundred bytes, so a test can upload, generate and download
thousands of them.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Final, Literal

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
